"""Top-k metrics of a score matrix ``[U users, I items]``: the mask of each user's top-k, recall@k against a
relevance mask, catalogue coverage and the share of top-k slots given to long-tail items.

The top-k of a row is its k largest scores, ties broken by the lowest item id (a stable descending sort).
"""

from __future__ import annotations

import math

import torch

from .._checks import check_finite, check_float, check_int, check_tensor
from .sampling import _counts

__all__ = ["top_k_mask", "recall_at_k", "coverage_at_k", "tail_share_at_k"]


def _topk(scores, k, name: str = "scores") -> tuple[torch.Tensor, int]:
    check_tensor(scores, name, (2,), kind="real")
    check_finite(scores, name)
    if scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one user and one item, got shape {tuple(scores.shape)}")
    k = check_int(k, "k", 1, scores.shape[1])
    return torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k], k  # ties: lowest id first


def top_k_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    """bool Tensor[U, I], True at the k highest scores of each row (ties: lowest id). scores (real Tensor[U, I],
    finite); k (int in [1, I])."""
    idx, _ = _topk(scores, k)
    return torch.zeros(scores.shape, dtype=torch.bool, device=scores.device).scatter_(1, idx, True)


def recall_at_k(scores: torch.Tensor, relevant: torch.Tensor, k: int) -> float:
    """Mean over the users with at least one relevant item of ``|top-k(scores_u) ∩ relevant_u| / |relevant_u|``.

    scores (real Tensor[U, I], finite); relevant (bool Tensor[U, I]); k (int in [1, I]).
    Returns: float (NaN if no user has a relevant item).
    """
    idx, _ = _topk(scores, k)
    check_tensor(relevant, "relevant", (2,), kind="bool")
    if relevant.shape != scores.shape:
        raise ValueError(f"relevant must have the shape of scores {tuple(scores.shape)}, got {tuple(relevant.shape)}")
    n_rel = relevant.sum(dim=1)
    hits = relevant.gather(1, idx.to(relevant.device)).sum(dim=1)
    keep = n_rel > 0
    return float((hits[keep].double() / n_rel[keep].double()).mean()) if bool(keep.any()) else math.nan


def coverage_at_k(scores: torch.Tensor, k: int) -> float:
    """Fraction of the catalogue that is in at least one user's top-k. scores (real Tensor[U, I], U >= 1, finite);
    k (int in [1, I])."""
    idx, _ = _topk(scores, k)
    return idx.unique().numel() / scores.shape[1]


def tail_share_at_k(scores: torch.Tensor, item_counts, k: int, head: float = 0.2) -> float:
    """Fraction of all top-k slots given to tail items: the head is the ``ceil(head · I)`` items with the largest
    counts (ties: lowest id), the tail the rest.

    scores (real Tensor[U, I], U >= 1, finite); item_counts (Tensor/array[I] of counts >= 0); k (int in [1, I]);
    head (float in [0, 1]). Returns: float in [0, 1].
    """
    idx, _ = _topk(scores, k)
    c = _counts(item_counts)
    head = check_float(head, "head", 0.0, 1.0)
    if c.numel() != scores.shape[1]:
        raise ValueError(f"item_counts must have one count per item ({scores.shape[1]}), got {c.numel()}")
    n_head = math.ceil(head * c.numel() - 1e-9)
    is_head = torch.zeros(c.numel(), dtype=torch.bool)
    is_head[torch.sort(c, descending=True, stable=True).indices[:n_head]] = True
    return 1.0 - float(is_head[idx.cpu()].double().mean())
