"""Debiasing logged feedback: inverse propensity scoring, position bias, popularity bias in retrieval.

- :func:`ips_mean`, :func:`per_item_ctr`: the inverse-propensity-scoring estimate (Horvitz & Thompson 1952) of a
  mean under a logging policy that observed each record with probability ``p``.
- :func:`make_position_log`: a position-based click model (Richardson et al. 2007; Joachims et al. 2017,
  "Unbiased Learning-to-Rank with Biased Feedback", WSDM): ``P(click) = relevance[item] · examination[position]``,
  logged by a policy that puts its favourite items on top, so the naive CTR is confounded with position.
- :class:`TwoTower`, :func:`make_interaction_log`, :func:`train_two_tower`: in-batch sampled-softmax retrieval
  with and without the logQ correction (Yi et al. 2019, RecSys).

The top-k metrics that score these experiments are in :mod:`.topk`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .._checks import _short, check_bool, check_finite, check_float, check_int, check_tensor
from .._metrics_checks import as_tensor
from .sampling import sampled_softmax_loss

__all__ = [
    "ips_mean",
    "per_item_ctr",
    "make_position_log",
    "TwoTower",
    "make_interaction_log",
    "train_two_tower",
]


def _propensity(propensity, n: int, name: str = "propensity") -> torch.Tensor:
    p = as_tensor(propensity, name, "real", (1,)).double()
    if p.numel() != n:
        raise ValueError(f"{name} must have one value per record ({n}), got {p.numel()}")
    if not bool(((p > 0) & (p <= 1)).all()):  # NaN fails too
        raise ValueError(f"{name} must be in (0, 1], got the value {p[~((p > 0) & (p <= 1))][0].item()!r}")
    return p


def _weights(p: torch.Tensor, clip) -> torch.Tensor:
    w = 1.0 / p
    if clip is not None:
        w = w.clamp(max=check_float(clip, "clip", 0.0, min_open=True))
    return w


def ips_mean(values, propensity, *, clip: float | None = None, self_normalized: bool = False) -> float:
    """Inverse-propensity-scored mean: ``(1/n) Σ_i w_i v_i`` with ``w_i = 1 / p_i`` (clipped at ``clip``).

    Horvitz-Thompson form: pass all n records, ``v_i = 0`` for the unobserved ones (a click needs an examination);
    unbiased for the mean of ``v`` when record i was observed with probability ``p_i``. ``self_normalized``:
    ``Σ w_i v_i / Σ w_i``, the Hájek form (as SNIPS, Swaminathan & Joachims 2015): pass the *observed* records only,
    ``Σ 1/p_i`` then estimates the population size (consistent, slightly biased, lower variance). Clipping (Bottou
    et al. 2013) trades bias for variance.

    values (Tensor/array[n] of finite reals, n >= 1); propensity (Tensor/array[n] in (0, 1]); clip (None or a float
    > 0: the largest weight); self_normalized (bool).
    Returns: float.
    """
    v = as_tensor(values, "values", "real", (1,)).double()
    if v.numel() == 0:
        raise ValueError("values must hold at least one record, got an empty tensor")
    check_finite(v, "values")
    w = _weights(_propensity(propensity, v.numel()), clip)
    self_normalized = check_bool(self_normalized, "self_normalized")
    total = (w * v).sum()
    return float(total / w.sum()) if self_normalized else float(total / v.numel())


def per_item_ctr(item, click, n_items: int, *, propensity=None) -> torch.Tensor:
    """Per-item click-through rate of a log: naive ``clicks_j / impressions_j``, or with ``propensity`` the IPS
    estimate ``(1/n_j) Σ_{i: item_i = j} click_i / p_i`` of the click-if-examined probability (:func:`ips_mean`
    per item, Horvitz-Thompson form: the examined impressions are not known, so there is no self-normalised form).

    item (integer Tensor/array[N] of ids in [0, n_items)); click (Tensor/array[N] of 0/1); n_items (int >= 1);
    propensity (None or Tensor/array[N] in (0, 1], e.g. ``examination[position]``).
    Returns: float64 Tensor[n_items] (NaN for an item never shown).
    """
    ids = as_tensor(item, "item", "int", (1,)).cpu().long()
    c = as_tensor(click, "click", "real", (1,)).cpu().double()
    n_items = check_int(n_items, "n_items", 1)
    if c.numel() != ids.numel():
        raise ValueError(f"item and click must have the same length, got {ids.numel()} and {c.numel()}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= n_items):
        raise ValueError(
            f"item must be in [0, {n_items}) (n_items={n_items}), got values in [{int(ids.min())}, {int(ids.max())}]"
        )
    if not bool(((c == 0) | (c == 1)).all()):
        raise ValueError(f"click must hold 0/1 values, got {_short(c)} with the value {c[(c != 0) & (c != 1)][0]!r}")
    w = torch.ones_like(c) if propensity is None else 1.0 / _propensity(propensity, c.numel()).cpu()
    shown = torch.bincount(ids, minlength=n_items).double()
    return torch.bincount(ids, w * c, minlength=n_items) / shown  # 0/0 = NaN for items never shown


def make_position_log(
    n_items: int = 50, n_positions: int = 10, n_sessions: int = 20000, examination=None, seed: int = 0
) -> dict:
    """A click log under the position-based model with a confounded logging policy.

    relevance_j ~ U(0.05, 0.6) (click-if-examined probability); examination_k = 1/(1+k) for position k = 0..K-1 by
    default. The logging policy has its own score per item, ``logging_score = 0.5·z(relevance) + N(0, 0.75)`` (a
    popularity-like prior, correlated 0.5 with relevance): each session shows ``n_positions`` distinct items drawn
    uniformly, ordered by ``logging_score + Gumbel noise`` (Plackett-Luce), so favoured items sit on top.
    ``click ~ Bernoulli(relevance[item] · examination[position])``. The naive CTR of item j is
    ``relevance_j · E[examination | j]``: deflated for all and inflated for the favoured; IPS with weights
    ``1 / examination[position]`` is unbiased (:func:`per_item_ctr`).

    n_items (int >= 1); n_positions (int in [1, n_items]); n_sessions (int >= 1); examination (None or a
    Tensor/array[n_positions] in (0, 1]); seed (int >= 0).
    Returns: dict of tensors: "session", "item", "position" (int64 [n_sessions·n_positions]), "click" (float64 0/1),
    "relevance" (float64 [n_items]), "examination" (float64 [n_positions]), "logging_score" (float64 [n_items]).
    """
    n_items = check_int(n_items, "n_items", 1)
    n_positions = check_int(n_positions, "n_positions", 1, n_items)
    n_sessions = check_int(n_sessions, "n_sessions", 1)
    if examination is None:
        exam = 1.0 / (1.0 + np.arange(n_positions))
    else:
        exam = _propensity(examination, n_positions, "examination").cpu().numpy().copy()
    seed = check_int(seed, "seed", 0)
    rng = np.random.default_rng(seed)
    relevance = rng.uniform(0.05, 0.6, n_items)
    z = (relevance - relevance.mean()) / max(relevance.std(), 1e-12)
    logging_score = 0.5 * z + math.sqrt(0.75) * rng.standard_normal(n_items)
    shown = np.argsort(rng.random((n_sessions, n_items)), axis=1)[:, :n_positions]  # [S, K] distinct items
    key = logging_score[shown] + rng.gumbel(size=shown.shape)
    items = np.take_along_axis(shown, np.argsort(-key, axis=1), axis=1)  # position k = column k
    positions = np.broadcast_to(np.arange(n_positions), items.shape)
    click = (rng.random(items.shape) < relevance[items] * exam[positions]).astype(np.float64)
    t = torch.from_numpy
    return {
        "session": t(np.repeat(np.arange(n_sessions), n_positions)),
        "item": t(items.reshape(-1).astype(np.int64)),
        "position": t(positions.reshape(-1).astype(np.int64)),
        "click": t(click.reshape(-1)),
        "relevance": t(relevance),
        "examination": t(np.asarray(exam, dtype=np.float64)),
        "logging_score": t(logging_score),
    }


class TwoTower(nn.Module):
    """The simplest two-tower retrieval model: one embedding table per side, score = ``<u, v>``.

    n_users, n_items (int >= 1); dim (int >= 1); seed (None: torch's global generator, or an int >= 0) draws the
    initial embeddings from N(0, 0.1²). ``forward(users, items)`` → ``(u [B, dim], v [B, dim])``; ``scores()`` →
    Tensor[n_users, n_items] of all dot products (no grad).
    """

    def __init__(self, n_users: int, n_items: int, dim: int = 16, *, seed: int | None = None) -> None:
        super().__init__()
        self.n_users = check_int(n_users, "n_users", 1)
        self.n_items = check_int(n_items, "n_items", 1)
        self.dim = check_int(dim, "dim", 1)
        g = None if seed is None else torch.Generator().manual_seed(check_int(seed, "seed", 0))
        self.user = nn.Embedding(self.n_users, self.dim)
        self.item = nn.Embedding(self.n_items, self.dim)
        with torch.no_grad():
            for table in (self.user, self.item):
                table.weight.copy_(0.1 * torch.randn(table.weight.shape, generator=g))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _ids(users, "users", self.n_users)
        _ids(items, "items", self.n_items)
        return self.user(users), self.item(items)

    def scores(self) -> torch.Tensor:
        with torch.no_grad():
            return self.user.weight @ self.item.weight.T


def _ids(x, name: str, n: int) -> torch.Tensor:
    check_tensor(x, name, (1,), kind="int")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= n):
        raise ValueError(f"{name} must be ids in [0, {n}), got values in [{int(x.min())}, {int(x.max())}]")
    return x


def make_interaction_log(
    n_users: int = 200, n_items: int = 300, n_events: int = 20000, dim: int = 8, popularity: float = 1.0, seed: int = 0
) -> dict:
    """Implicit feedback whose item frequency mixes popularity and taste.

    Factors U [n_users, dim], V [n_items, dim] with i.i.d. N(0, dim^{-1/2}) entries, so that the taste term
    ``affinity = U Vᵀ`` has standard deviation 1; Zipf popularity ``π_j ∝ (j + 1)^{-popularity}`` (item 0 the
    most popular). The true relevance is the probability of the next interaction,
    ``relevance[u, j] = P(j | u) = softmax_j(affinity[u, j] + log π_j)``; events: u uniform, j ~ P(· | u). An
    in-batch softmax without logQ learns about ``log P(j | u) - log P(j)`` (popularity removed: the head
    over-penalised); with logQ it learns ``log P(j | u)`` + a constant per user.

    n_users, n_items, n_events, dim (int >= 1); popularity (finite float >= 0: the Zipf exponent); seed (int >= 0).
    Returns: dict: "users", "items" (int64 [n_events]), "item_counts" (int64 [n_items]), "relevance"
    (float64 [n_users, n_items], rows sum to 1), "affinity" (float64 [n_users, n_items]), "item_popularity"
    (float64 [n_items], sums to 1), "user_factors", "item_factors" (float64).
    """
    n_users = check_int(n_users, "n_users", 1)
    n_items = check_int(n_items, "n_items", 1)
    n_events = check_int(n_events, "n_events", 1)
    dim = check_int(dim, "dim", 1)
    popularity = check_float(popularity, "popularity", 0.0, allow_inf=False)
    seed = check_int(seed, "seed", 0)
    rng = np.random.default_rng(seed)
    scale = dim**-0.25  # var(<u, v>) = dim · scale⁴ = 1
    user_f = scale * rng.standard_normal((n_users, dim))
    item_f = scale * rng.standard_normal((n_items, dim))
    affinity = user_f @ item_f.T
    pop = (1.0 + np.arange(n_items)) ** -popularity
    pop /= pop.sum()
    logits = affinity + np.log(pop)
    rel = np.exp(logits - logits.max(axis=1, keepdims=True))
    rel /= rel.sum(axis=1, keepdims=True)
    users = rng.integers(0, n_users, n_events)
    cdf = np.cumsum(rel, axis=1)
    items = np.minimum((cdf[users] < rng.random(n_events)[:, None]).sum(axis=1), n_items - 1)  # inverse CDF
    t = torch.from_numpy
    return {
        "users": t(users.astype(np.int64)),
        "items": t(items.astype(np.int64)),
        "item_counts": t(np.bincount(items, minlength=n_items).astype(np.int64)),
        "relevance": t(rel),
        "affinity": t(affinity),
        "item_popularity": t(pop),
        "user_factors": t(user_f),
        "item_factors": t(item_f),
    }


def train_two_tower(
    model: TwoTower,
    users: torch.Tensor,
    items: torch.Tensor,
    *,
    log_q: torch.Tensor | None = None,
    epochs: int = 5,
    lr: float = 0.05,
    batch_size: int = 256,
    temperature: float = 1.0,
    seed: int = 0,
) -> TwoTower:
    """Train a :class:`TwoTower` in place with the in-batch :func:`sampled_softmax_loss` (Adam).

    Each epoch shuffles the (user, item) events with ``torch.Generator().manual_seed(seed)`` and cuts batches of
    ``batch_size`` (the last may be smaller); the batch's other items are the negatives. ``log_q`` (Tensor[n_items]
    of log item frequencies, e.g. ``estimate_item_frequency(items, n_items).log()``) is indexed by the batch items
    and subtracted from the logits (Yi et al. 2019); at serving, ``model.scores()`` is used without it.

    model (TwoTower); users, items (int64 Tensor[N] of ids, N >= 1); log_q (None or a float Tensor[n_items],
    finite at every item of ``items``); epochs (int >= 1); lr (finite float > 0); batch_size (int >= 2);
    temperature (finite float > 0); seed (int >= 0).
    Returns: the model, in eval mode, with ``model.loss_history`` (list of per-epoch mean losses).
    """
    if not isinstance(model, TwoTower):
        raise TypeError(f"model must be a TwoTower, got {type(model).__name__}")
    _ids(users, "users", model.n_users)
    _ids(items, "items", model.n_items)
    if users.numel() != items.numel() or users.numel() == 0:
        raise ValueError(f"users and items must have the same non-zero length, got {users.numel()} and {items.numel()}")
    if log_q is not None:
        check_tensor(log_q, "log_q", (1,), kind="float")
        if log_q.numel() != model.n_items:
            raise ValueError(f"log_q must have shape ({model.n_items},) (one per item), got {tuple(log_q.shape)}")
        check_finite(log_q[items], "log_q")
    epochs = check_int(epochs, "epochs", 1)
    lr = check_float(lr, "lr", 0.0, min_open=True, allow_inf=False)
    batch_size = check_int(batch_size, "batch_size", 2)
    temperature = check_float(temperature, "temperature", 0.0, min_open=True, allow_inf=False)
    seed = check_int(seed, "seed", 0)
    dtype = model.user.weight.dtype
    lq = None if log_q is None else log_q.to(dtype)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    model.train()
    model.loss_history = []
    for _ in range(epochs):
        order = torch.randperm(users.numel(), generator=g)
        total = 0.0
        for idx in order.split(batch_size):
            u, v = model(users[idx], items[idx])
            loss = sampled_softmax_loss(u, v, log_q=None if lq is None else lq[items[idx]], temperature=temperature)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * idx.numel()
        model.loss_history.append(total / users.numel())
    return model.eval()

