"""Negative sampling, in-batch sampled softmax with the logQ correction, and the popularity penalty.

- :func:`sampling_probs` / :func:`sample_negatives`: negatives drawn uniformly or from the unigram
  distribution raised to 0.75 (Mikolov et al. 2013, "Distributed Representations of Words and Phrases", NeurIPS).
- :func:`in_batch_logits` / :func:`sampled_softmax_loss`: a two-tower retrieval model scores every query of a
  batch against every item of the batch; the other rows' items are the negatives. They are sampled in proportion
  to their frequency, so a popular item is a negative far more often than under a uniform softmax and is pushed
  down; Yi et al. 2019 ("Sampling-Bias-Corrected Neural Modeling for Large Corpus Item Recommendations", RecSys)
  subtract ``log q_j`` from logit j (:func:`estimate_item_frequency`).
- :func:`popularity_penalty`: the serving-time penalty of popular items (hot-item suppression).

Count arguments (``item_counts``) are 1-D tensors, numpy arrays or lists of non-negative finite numbers.
Embeddings are floating tensors (int/bool/complex refused, never promoted), of one dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._checks import _short, check_choice, check_finite, check_float, check_int, check_same, check_tensor
from .._metrics_checks import as_tensor

__all__ = [
    "sampling_probs",
    "sample_negatives",
    "in_batch_logits",
    "sampled_softmax_loss",
    "estimate_item_frequency",
    "popularity_penalty",
]


def _counts(item_counts, name: str = "item_counts") -> torch.Tensor:
    """item_counts as a float64 1-D tensor of finite values >= 0 with at least one item."""
    c = as_tensor(item_counts, name, "real", (1,))
    if c.numel() == 0:
        raise ValueError(f"{name} must hold at least one item, got an empty tensor")
    c = c.double()
    check_finite(c, name)
    if bool((c < 0).any()):
        raise ValueError(f"{name} must be >= 0 (counts), got the value {c[c < 0][0].item()!r}")
    return c


def sampling_probs(item_counts, method: str = "uniform", power: float = 0.75) -> torch.Tensor:
    """The sampling distribution ``q`` of negatives over the catalogue.

    ``uniform``: ``q_j = 1 / n_items``; ``popularity``: ``q_j = c_j^power / Σ_k c_k^power`` (word2vec's unigram
    distribution to the 3/4, Mikolov et al. 2013; power 1 is the item frequency, power 0 uniform over the items
    with ``c_j > 0``).

    item_counts (Tensor/array[n_items] of counts >= 0); method ('uniform' or 'popularity'); power (finite float >= 0).
    Returns: float64 Tensor[n_items] summing to 1.
    """
    c = _counts(item_counts)
    method = check_choice(method, "method", ("uniform", "popularity"))
    power = check_float(power, "power", 0.0, allow_inf=False)
    if method == "uniform":
        return torch.full_like(c, 1.0 / c.numel())
    if not bool((c > 0).any()):
        raise ValueError("item_counts must have at least one count > 0 for method='popularity', got all zeros")
    w = torch.where(c > 0, c.pow(power), torch.zeros_like(c))  # 0^0 would be 1: an unseen item stays at 0
    return w / w.sum()


def sample_negatives(
    item_counts,
    num_samples: int,
    *,
    method: str = "uniform",
    power: float = 0.75,
    exclude: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw ``num_samples`` negative item ids with replacement from :func:`sampling_probs`.

    ``torch.multinomial(q, num_samples, replacement=True, generator=generator)`` where ``q`` is set to 0 on the ids in
    ``exclude`` (the positives) and renormalised, so an excluded id is never returned.

    item_counts (Tensor/array[n_items]); num_samples (int >= 0); method, power as :func:`sampling_probs`;
    exclude (None or an integer Tensor of ids in [0, n_items)); generator (None or a torch.Generator).
    Returns: int64 Tensor[num_samples].
    """
    q = sampling_probs(item_counts, method, power)
    num_samples = check_int(num_samples, "num_samples", 0)
    if exclude is not None:
        check_tensor(exclude, "exclude", kind="int")
        if exclude.numel() and (int(exclude.min()) < 0 or int(exclude.max()) >= q.numel()):
            raise ValueError(
                f"exclude must hold item ids in [0, {q.numel()}), got {_short(exclude)} with values in "
                f"[{int(exclude.min())}, {int(exclude.max())}]"
            )
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be None or a torch.Generator, got {type(generator).__name__}")
    if exclude is not None and exclude.numel():
        q = q.clone()
        q[exclude.reshape(-1).cpu()] = 0.0
    if float(q.sum()) <= 0:
        raise ValueError("exclude removes every item with a non-zero sampling probability: nothing left to sample")
    if num_samples == 0:
        return torch.zeros(0, dtype=torch.long)
    return torch.multinomial(q, num_samples, replacement=True, generator=generator)


def _embeddings(query, item, same_rows: bool) -> None:
    check_tensor(query, "query", (2,), kind="float")
    check_tensor(item, "item", (2,), kind="float")
    check_same(query, "query", item, "item")
    if query.shape[1] != item.shape[1]:
        raise ValueError(
            f"query and item must have the same embedding size, got query {tuple(query.shape)} and "
            f"item {tuple(item.shape)}"
        )
    if same_rows and query.shape[0] != item.shape[0]:
        raise ValueError(
            f"query and item must have the same batch size (row i's positive is item i), got query "
            f"{tuple(query.shape)} and item {tuple(item.shape)}"
        )


def in_batch_logits(query: torch.Tensor, item: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    """All query-item scores of a batch: ``logits[i, j] = <query_i, item_j> / temperature``.

    query (float Tensor[B, d]); item (float Tensor[N, d], same dtype; N = B in-batch); temperature (finite float > 0).
    Returns: Tensor[B, N].
    """
    _embeddings(query, item, same_rows=False)
    temperature = check_float(temperature, "temperature", 0.0, min_open=True, allow_inf=False)
    return query @ item.T / temperature


def sampled_softmax_loss(
    query: torch.Tensor,
    item: torch.Tensor,
    *,
    log_q: torch.Tensor | None = None,
    temperature: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """In-batch sampled softmax (Yi et al. 2019, eq. 3 with the correction of sec. 4).

    ``logits[i, j] = <query_i, item_j> / temperature - log_q[j]``; the label of row i is column i:
    ``loss_i = -log softmax_j(logits[i])[i]`` = ``F.cross_entropy(logits, arange(B), reduction=reduction)``.
    Without correction (``log_q=None``) the softmax learns ``log P(item | query) - log q(item)``: popular items
    are over-penalised as negatives. With ``log_q`` = the log probability that item j is in a batch it learns
    ``log P(item | query)`` up to a constant per query. A constant ``log_q`` changes nothing (softmax shift).

    query, item (float Tensor[B, d], one dtype; row i of ``item`` is the positive of row i); log_q (None or a
    finite float Tensor[B] of the batch items' log sampling probabilities); temperature (finite float > 0);
    reduction ('mean', 'sum' or 'none').
    Returns: a scalar Tensor (Tensor[B] for 'none').
    """
    _embeddings(query, item, same_rows=True)
    if query.shape[0] == 0:
        raise ValueError("query and item must hold at least one row, got an empty batch")
    if log_q is not None:
        check_tensor(log_q, "log_q", (1,), kind="float")
        check_same(query, "query", log_q, "log_q")
        if log_q.shape[0] != query.shape[0]:
            raise ValueError(
                f"log_q must have shape ({query.shape[0]},) (one per batch item), got {tuple(log_q.shape)}"
            )
        check_finite(log_q, "log_q")
    temperature = check_float(temperature, "temperature", 0.0, min_open=True, allow_inf=False)
    reduction = check_choice(reduction, "reduction", ("mean", "sum", "none"))
    logits = query @ item.T / temperature  # [B, B]
    if log_q is not None:
        logits = logits - log_q[None, :]
    labels = torch.arange(query.shape[0], device=query.device)
    return F.cross_entropy(logits, labels, reduction=reduction)


def estimate_item_frequency(item_ids, n_items: int) -> torch.Tensor:
    """The sampling probability ``q_j`` of each item for the logQ correction: ``count_j / total``.

    Yi et al. 2019 (sec. 5, Algorithm 2) estimate it on a stream with two hashed arrays (the mean gap between two
    occurrences of an item, 1 / gap ≈ its frequency); on a fixed training log the exact frequency is what that
    estimate converges to. The probability of being in a batch of B is about ``B · q_j``: the factor B is the same
    for every item and cancels in the softmax, so ``log q`` serves as is.

    item_ids (integer Tensor/array[N] of ids in [0, n_items), N >= 1); n_items (int >= 1).
    Returns: float64 Tensor[n_items] summing to 1 (0 for items absent from the log; their log is -inf, which is
    never used because such an item is never in a batch).
    """
    ids = as_tensor(item_ids, "item_ids", "int", (1,))
    n_items = check_int(n_items, "n_items", 1)
    if ids.numel() == 0:
        raise ValueError("item_ids must hold at least one id, got an empty tensor")
    if int(ids.min()) < 0 or int(ids.max()) >= n_items:
        raise ValueError(
            f"item_ids must be in [0, {n_items}) (n_items={n_items}), got values in "
            f"[{int(ids.min())}, {int(ids.max())}]"
        )
    counts = torch.bincount(ids.cpu().long(), minlength=n_items).double()
    return counts / counts.sum()


def popularity_penalty(scores: torch.Tensor, item_counts, *, alpha: float = 0.5, method: str = "log") -> torch.Tensor:
    """Penalise popular items at serving time (hot-item suppression).

    ``log``: ``scores - alpha · log(1 + count)`` (for logits / dot products); ``power``: ``scores / (1 + count)^alpha``
    (for non-negative scores such as probabilities: dividing a negative score would raise it, so negative scores are
    refused). ``alpha = 0`` returns the scores unchanged; for ``alpha > 0`` the penalty grows with the count.

    scores (float Tensor[..., n_items]); item_counts (Tensor/array[n_items] of counts >= 0); alpha (finite float
    >= 0); method ('log' or 'power').
    Returns: Tensor of the shape and dtype of ``scores``.
    """
    check_tensor(scores, "scores", kind="float", min_ndim=1)
    c = _counts(item_counts)
    alpha = check_float(alpha, "alpha", 0.0, allow_inf=False)
    method = check_choice(method, "method", ("log", "power"))
    if scores.shape[-1] != c.numel():
        raise ValueError(
            f"scores must have n_items={c.numel()} (the length of item_counts) in its last dimension, "
            f"got shape {tuple(scores.shape)}"
        )
    check_finite(scores, "scores")
    c = c.to(device=scores.device)
    if method == "log":
        return scores - (alpha * torch.log1p(c)).to(scores.dtype)
    if bool((scores < 0).any()):
        raise ValueError("scores must be >= 0 for method='power' (use method='log' for logits), got a negative score")
    return scores / torch.pow(1.0 + c, alpha).to(scores.dtype)
