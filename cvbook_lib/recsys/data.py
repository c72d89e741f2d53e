"""Synthetic recommendation data with a known ground truth, and a small seeded trainer.

- :func:`make_ctr_data`: categorical impressions whose click logit holds planted pairwise interactions that
  main effects cannot explain (logistic regression fails, FM/DeepFM recover them);
- :func:`make_multitask_data`: the two-task regression generator of Ma et al. 2018 (KDD, sec. 3.2) with a
  controlled task correlation ρ;
- :func:`make_esmm_data`: impressions → clicks → conversions where the often-clicked user–item pairs convert
  less, so a CVR model fitted on the clicked impressions alone is biased on the entire space (Ma et al. 2018,
  SIGIR);
- :func:`fit`: Adam on shuffled minibatches from a seeded generator, for any ``loss_fn(model, *batch)``.

Everything is drawn from ``numpy.random.default_rng(seed)``; tensors are float32 / int64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .._checks import check_float, check_int, check_tensor
from .models import _check_field_dims

__all__ = ["make_ctr_data", "make_multitask_data", "make_esmm_data", "fit"]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _check_pairs(interactions, n_fields: int) -> tuple[tuple[int, int], ...]:
    what = f"a sequence of pairs (i, j) of distinct field indices in [0, {n_fields})"
    if not isinstance(interactions, Sequence) or isinstance(interactions, (str, bytes)):
        raise TypeError(f"interactions must be {what}, got {type(interactions).__name__} {interactions!r}")
    out = []
    for k, pair in enumerate(interactions):
        if not isinstance(pair, Sequence) or isinstance(pair, (str, bytes)) or len(pair) != 2:
            raise TypeError(f"interactions[{k}] must be a pair (i, j) ({what}), got {pair!r}")
        i, j = (check_int(f, f"interactions[{k}]", 0, n_fields - 1) for f in pair)
        if i == j:
            raise ValueError(f"interactions[{k}] must pair two different fields ({what}), got {pair!r}")
        out.append((i, j))
    return tuple(out)


def _centred_signs(rng: np.random.Generator, m: int) -> np.ndarray:
    """m balanced random signs (±1, as many of each as m allows), minus their mean: sums to exactly 0."""
    s = np.where(rng.permutation(m) < m // 2, 1.0, -1.0)
    return s - s.mean()


def make_ctr_data(
    n: int,
    field_dims: Sequence[int] = (10, 10, 10, 10),
    interactions: Sequence[tuple[int, int]] = ((0, 1), (2, 3)),
    strength: float = 2.0,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Impressions with planted field interactions, for LR vs FM vs DeepFM.

    Each field's category is uniform; ``logit = −1 + Σ_f m_f[x_f] + strength · Σ_{(i,j)} T_ij[x_i, x_j]`` with
    small main effects ``m_f ~ N(0, 0.3²)`` (centred) and, for each listed pair, a rank-one ±1 table
    ``T_ij[a, b] = s_a t_b`` of balanced random signs, centred so that every row and column of ``T_ij`` sums to
    zero: averaged over either field alone it vanishes, so no main effect can explain it (the pair's
    categories must be seen together) — while FM's ``<v_a, v_b>`` represents it exactly with k >= 1.

    n (int >= 1); field_dims (ints >= 2); interactions (pairs of distinct field indices); strength (finite
    float); seed (int >= 0). Returns: x LongTensor[n, F], y float Tensor[n] of 0/1 (``y ~ Bernoulli(p)``),
    p float Tensor[n] the true click probability.
    """
    n = check_int(n, "n", 1)
    field_dims = _check_field_dims(field_dims)
    for f, m in enumerate(field_dims):
        check_int(m, f"field_dims[{f}]", 2)
    pairs = _check_pairs(interactions, len(field_dims))
    strength = check_float(strength, "strength", allow_inf=False)
    seed = check_int(seed, "seed", 0)
    rng = np.random.default_rng(seed)
    x = np.stack([rng.integers(0, m, size=n) for m in field_dims], axis=1)  # [n, F]
    logit = np.full(n, -1.0)
    for f, m in enumerate(field_dims):
        main = rng.normal(0.0, 0.3, size=m)
        logit += (main - main.mean())[x[:, f]]
    for i, j in pairs:
        table = np.outer(_centred_signs(rng, field_dims[i]), _centred_signs(rng, field_dims[j]))
        logit += strength * table[x[:, i], x[:, j]]
    p = _sigmoid(logit)
    y = (rng.random(n) < p).astype(np.float32)
    return torch.from_numpy(x).long(), torch.from_numpy(y), torch.from_numpy(p.astype(np.float32))


def make_multitask_data(
    n: int, d: int = 16, correlation: float = 0.5, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two regression tasks of controlled relatedness (Ma et al. 2018, KDD, sec. 3.2).

    Orthogonal unit vectors u1, u2 (Gram–Schmidt of Gaussian draws); ``w1 = c u1``,
    ``w2 = c (ρ u1 + sqrt(1 − ρ²) u2)`` with c = 1; ``x ~ N(0, I_d)``;
    ``y_i = w_iᵀx + Σ_{j=1..m} sin(α_j w_iᵀx + β_j) + ε_i``, m = 10, ``α_j, β_j ~ N(0, 1)`` shared by both tasks,
    ``ε_i ~ N(0, 0.01)`` (std 0.1). The linear parts ``w1ᵀx, w2ᵀx`` have Pearson correlation ρ (``w1ᵀw2 = ρ``).

    n (int >= 1); d (int >= 2); correlation ρ (float in [−1, 1]); seed (int >= 0).
    Returns: x float Tensor[n, d], y float Tensor[n, 2].
    """
    n, d = check_int(n, "n", 1), check_int(d, "d", 2)
    rho = check_float(correlation, "correlation", -1.0, 1.0)
    seed = check_int(seed, "seed", 0)
    rng = np.random.default_rng(seed)
    u1, u2 = np.linalg.qr(rng.standard_normal((d, 2)))[0].T  # orthonormal columns
    w = np.stack([u1, rho * u1 + np.sqrt(1.0 - rho**2) * u2])  # [2, d], c = 1
    alpha, beta = rng.standard_normal(10), rng.standard_normal(10)
    x = rng.standard_normal((n, d))
    lin = x @ w.T  # [n, 2]
    y = lin + np.sin(alpha * lin[..., None] + beta).sum(-1) + rng.normal(0.0, 0.1, size=(n, 2))
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))


def make_esmm_data(n: int, field_dims: Sequence[int] = (20, 20, 20), seed: int = 0) -> dict[str, torch.Tensor]:
    """Impressions → clicks → conversions with sample selection bias (for ESMM, Ma et al. 2018, SIGIR).

    Field 0 is the user, field 1 the item; each has a hidden ±1 type (balanced random signs ``a_u``, ``b_i``) and
    ``s = a_u b_i`` says whether the pair matches. Matching pairs are clicked a lot and convert little, the others
    are rarely clicked but convert when they are (a negative correlation through the user–item field pair):
    ``logit pCTR = −2 + 2 s + Σ_{f>=2} a_f[x_f]``, ``logit pCVR = −2 s + Σ_{f>=2} c_f[x_f]``, other fields'
    effects ``a_f, c_f ~ N(0, 0.5²)``; ``click ~ Bernoulli(pCTR)``, ``conversion = click · Bernoulli(pCVR)``.
    The clicked impressions are ~95 % matching pairs (mean pCVR ≈ 0.16), the entire space half and half (mean
    pCVR ≈ 0.5): a CVR model fitted on the clicked impressions alone barely sees the mismatched pairs (about one
    click per user–item cell at n = 20 000) and underestimates their conversion rate.

    n (int >= 1); field_dims (ints >= 1, at least two fields, the first two >= 2); seed (int >= 0).
    Returns: {"x": LongTensor[n, F], "click", "conversion": float 0/1 Tensor[n] (conversion <= click),
    "p_ctr", "p_cvr": the true probabilities Tensor[n] of every impression}.
    """
    n = check_int(n, "n", 1)
    field_dims = _check_field_dims(field_dims)
    if len(field_dims) < 2:
        raise ValueError(f"field_dims must have at least two fields (user, item, ...), got {field_dims!r}")
    for f in (0, 1):
        check_int(field_dims[f], f"field_dims[{f}]", 2)
    seed = check_int(seed, "seed", 0)
    rng = np.random.default_rng(seed)
    x = np.stack([rng.integers(0, m, size=n) for m in field_dims], axis=1)  # [n, F]
    a, b = (np.where(rng.permutation(m) < m // 2, 1.0, -1.0) for m in field_dims[:2])
    s = a[x[:, 0]] * b[x[:, 1]]  # [n]: +1 for a matching user-item pair
    ctr_logit, cvr_logit = -2.0 + 2.0 * s, -2.0 * s
    for f, m in enumerate(field_dims[2:], start=2):
        ctr_logit = ctr_logit + rng.normal(0.0, 0.5, size=m)[x[:, f]]
        cvr_logit = cvr_logit + rng.normal(0.0, 0.5, size=m)[x[:, f]]
    p_ctr, p_cvr = _sigmoid(ctr_logit), _sigmoid(cvr_logit)
    click = rng.random(n) < p_ctr
    conversion = click & (rng.random(n) < p_cvr)

    def f32(v):
        return torch.from_numpy(np.asarray(v, dtype=np.float32))

    return {
        "x": torch.from_numpy(x).long(),
        "click": f32(click),
        "conversion": f32(conversion),
        "p_ctr": f32(p_ctr),
        "p_cvr": f32(p_cvr),
    }


def fit(
    model: nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    tensors: Sequence[torch.Tensor],
    *,
    epochs: int = 10,
    lr: float = 1e-2,
    batch_size: int = 256,
    weight_decay: float = 0.0,
    seed: int = 0,
) -> nn.Module:
    """Train ``model`` in place with Adam on shuffled minibatches; return it in eval mode.

    model (nn.Module); loss_fn (callable ``loss_fn(model, *batch) → scalar Tensor``, e.g.
    ``lambda m, x, y: F.binary_cross_entropy_with_logits(m(x), y)``); tensors (sequence of tensors with the same
    first dimension n >= 1: the batch is ``[t[idx] for t in tensors]``); epochs (int >= 1); lr (float > 0);
    batch_size (int >= 1); weight_decay (float >= 0, Adam's L2 term); seed (int >= 0): the order of the samples,
    ``torch.randperm(n, generator=torch.Generator().manual_seed(seed))`` each epoch, and torch's global seed for
    dropout. Sets ``model.loss_history``: the mean minibatch loss of each epoch (list of floats).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable loss_fn(model, *batch), got {type(loss_fn).__name__}")
    if not isinstance(tensors, (list, tuple)) or not tensors:
        raise TypeError(f"tensors must be a non-empty tuple or list of tensors, got {type(tensors).__name__}")
    for i, t in enumerate(tensors):
        check_tensor(t, f"tensors[{i}]", min_ndim=1)
    n = tensors[0].shape[0]
    if n == 0 or any(t.shape[0] != n for t in tensors):
        raise ValueError(f"tensors must share a first dimension n >= 1, got shapes {[tuple(t.shape) for t in tensors]}")
    epochs, batch_size = check_int(epochs, "epochs", 1), check_int(batch_size, "batch_size", 1)
    lr = check_float(lr, "lr", 0.0, min_open=True, allow_inf=False)
    weight_decay = check_float(weight_decay, "weight_decay", 0.0, allow_inf=False)
    seed = check_int(seed, "seed", 0)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)
    model.train()
    history = []
    with torch.random.fork_rng(devices=[]):  # dropout seeded without touching the caller's global RNG
        torch.manual_seed(seed)
        try:
            _epochs(model, loss_fn, tensors, opt, g, n, epochs, batch_size, history)
        finally:
            model.eval()
    model.loss_history = history
    return model


def _epochs(model, loss_fn, tensors, opt, g, n: int, epochs: int, batch_size: int, history: list) -> None:
    for epoch in range(epochs):
        total, steps = 0.0, 0
        for idx in torch.randperm(n, generator=g).split(batch_size):
            loss = loss_fn(model, *(t[idx.to(t.device)] for t in tensors))
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise TypeError(
                    f"loss_fn must return a scalar tensor, got {type(loss).__name__} "
                    f"{tuple(loss.shape) if isinstance(loss, torch.Tensor) else loss!r}"
                )
            if not torch.isfinite(loss):
                raise ValueError(f"loss_fn returned a non-finite loss {loss.item()} at epoch {epoch}")
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, steps = total + loss.item(), steps + 1
        history.append(total / steps)
