"""Pruning masks from scratch: unstructured, structured and global magnitude masks and N:M (2:4) masks
(channel pruning along a dependency chain, sparsity and Network Slimming: :mod:`.channels`).

The masks mirror ``torch.nn.utils.prune`` (``weight_mask`` of ``l1_unstructured``, ``ln_structured``,
``global_unstructured`` with ``L1Unstructured``): same dtype as the tensor, same count rule and the same
``torch.topk`` call, so ties fall where torch's fall (``topk`` promises no order among equal values: the
kept one is not always the lowest index). The count rule: an int ``amount`` is a count; a float in
[0, 1] is ``round(amount * size)`` with Python's ``round``, which rounds half to even (``0.5`` of 5
weights prunes 2, ``0.7`` of 5 prunes 4). Deliberate differences: tensors must be floating (torch
also takes integer and complex ones); NaN or a bool ``amount`` is refused (torch fails on NaN with
"cannot convert float NaN to integer" and takes ``True`` as 1); ``n='nuc'`` is refused (torch's
nuclear norm is a matrix norm that only fits 3-D tensors); ``importance_scores`` must have ``t``'s dtype
(torch's ``ln_structured`` mask then takes the scores' dtype, ``l1_unstructured``'s keeps ``t``'s).
References: Han et al. 2015 (magnitude pruning, arXiv 1506.02626); Li et al. 2017 (L1 filter
pruning, 1608.08710); Liu et al. 2017 (Network Slimming, 1708.06519); Fang et al. 2023 (DepGraph,
2301.12900); Mishra et al. 2021 (2:4 sparsity, 2104.08378).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from .._checks import _short, check_float, check_int, check_same, check_tensor

__all__ = [
    "l1_unstructured_mask",
    "ln_structured_mask",
    "global_unstructured_masks",
    "nm_sparsity_mask",
]

# ----------------------------------------------------------------------------- private helpers
def _nparams_toprune(amount, size: int) -> int:
    """torch's ``_validate_pruning_amount*`` + ``_compute_nparams_toprune``: int = count, float = fraction."""
    if isinstance(amount, (bool, np.bool_)) or not isinstance(amount, numbers.Real):
        raise TypeError(
            f"amount must be an int (a count) or a float in [0, 1] (a fraction), got "
            f"{type(amount).__name__} {_short(amount)}"
        )
    if isinstance(amount, numbers.Integral):
        if not 0 <= int(amount) <= size:
            raise ValueError(
                f"amount={amount!r} as an int is a count: it must be >= 0 and <= {size}, the "
                "number of units to prune from"
            )
        return int(amount)
    if not 0.0 <= float(amount) <= 1.0:  # NaN fails too
        raise ValueError(f"amount={amount!r} as a float is a fraction: it must be in [0, 1]")
    return round(float(amount) * size)  # Python's round: half to even, as torch


def _scores(importance_scores, t: torch.Tensor) -> torch.Tensor:
    if importance_scores is None:
        return t.detach()
    check_tensor(importance_scores, "importance_scores", kind="float")
    check_same(importance_scores, "importance_scores", t, "t")
    if importance_scores.shape != t.shape:
        raise ValueError(f"importance_scores must have t's shape {tuple(t.shape)}, got {_short(importance_scores)}")
    return importance_scores.detach()


def _bottom_k_mask(t: torch.Tensor, scores: torch.Tensor, k: int) -> torch.Tensor:
    """Ones like ``t`` with 0 at the ``k`` smallest ``|scores|`` (torch's ``topk(largest=False)``)."""
    mask = torch.ones_like(t, memory_format=torch.contiguous_format)
    if k:
        mask.view(-1)[torch.topk(scores.abs().reshape(-1), k, largest=False).indices] = 0
    return mask


# ----------------------------------------------------------------------------- masks (torch.nn.utils.prune)
def l1_unstructured_mask(
    t: torch.Tensor, amount: int | float, importance_scores: torch.Tensor | None = None
) -> torch.Tensor:
    """Magnitude pruning (Han et al. 2015): zero the ``amount`` entries of smallest ``|t|``.

    t (Tensor[*]): floating weights. amount: an int count or a float fraction in [0, 1] (rounded half
    to even). importance_scores (Tensor[*], optional): rank these instead of ``t``.
    Returns: Tensor[*] of 0/1 in ``t``'s dtype, ``prune.l1_unstructured(...).weight_mask``.
    """
    check_tensor(t, "t", kind="float")
    scores = _scores(importance_scores, t)
    return _bottom_k_mask(t, scores, _nparams_toprune(amount, t.numel()))


def _check_order(n, name: str) -> float:
    if isinstance(n, str):
        if n != "fro":
            raise ValueError(
                f"{name} must be a real number p (inf allowed) or 'fro', got {n!r} ('nuc' is refused:"
                " a matrix norm that fits 3-D tensors only)"
            )
        return 2.0  # 'fro' over the non-channel entries is the L2 norm
    return check_float(n, name)


def ln_structured_mask(
    t: torch.Tensor, amount: int | float, n: int | float | str, dim: int, importance_scores: torch.Tensor | None = None
) -> torch.Tensor:
    """Structured pruning (Li et al. 2017): zero the ``amount`` slices ``t.select(dim, c)`` of smallest
    L_n norm, norm_c = (sum over every other dim of |t|^n)^(1/n) (``n=inf``: max |t|, ``'fro'``: n=2).

    t (Tensor[*], at least 2-D): floating weights; amount counts or fractions the ``t.shape[dim]`` slices.
    Returns: Tensor[*] of 0/1 in ``t``'s dtype, ``prune.ln_structured(...).weight_mask``.
    """
    check_tensor(t, "t", kind="float", min_ndim=2)
    p = _check_order(n, "n")
    dim = check_int(dim, "dim", -t.dim(), t.dim() - 1) % t.dim()
    scores = _scores(importance_scores, t)
    size = t.shape[dim]
    k = _nparams_toprune(amount, size)
    if k == 0:
        return torch.ones_like(t)
    if size and t.numel() == 0 and (p < 0 or math.isinf(p)):
        raise ValueError(
            f"t of shape {tuple(t.shape)} has empty channels along dim={dim}: their L_{n} norm is undefined"
        )
    norm = torch.linalg.vector_norm(scores, ord=p, dim=[d for d in range(t.dim()) if d != dim])  # [size]
    keep = torch.topk(norm, size - k, largest=True).indices
    mask = torch.zeros_like(t)
    mask.index_fill_(dim, keep, 1)
    return mask


def global_unstructured_masks(params, amount: int | float, importance_scores=None) -> list[torch.Tensor]:
    """Global magnitude pruning: the ``amount`` smallest ``|w|`` over all tensors together, so layers are
    pruned at different rates (``prune.global_unstructured(..., prune.L1Unstructured, amount=...)``).

    params (sequence of Tensor): floating weights of one dtype and device. importance_scores (sequence of
    Tensor, optional): ranked instead, one per param, same shapes.
    Returns: list of 0/1 masks, one per param, its shape, in the params' dtype.
    """
    if isinstance(params, torch.Tensor) or not isinstance(params, (list, tuple)) or not params:
        raise TypeError(f"params must be a non-empty list or tuple of tensors, got {_short(params)}")
    for i, p in enumerate(params):
        check_tensor(p, f"params[{i}]", kind="float")
        check_same(p, f"params[{i}]", params[0], "params[0]")
    if importance_scores is None:
        scores = [p.detach() for p in params]
    elif not isinstance(importance_scores, (list, tuple)) or len(importance_scores) != len(params):
        raise TypeError(f"importance_scores must be a list of {len(params)} tensors, got {_short(importance_scores)}")
    else:
        scores = [_scores(s, p) for s, p in zip(importance_scores, params)]
    flat = torch.cat([s.reshape(-1) for s in scores])  # [sum numel]
    mask = _bottom_k_mask(flat.to(params[0].dtype), flat, _nparams_toprune(amount, flat.numel()))
    return [m.view_as(p) for m, p in zip(mask.split([p.numel() for p in params]), params)]


def nm_sparsity_mask(w: torch.Tensor, n: int = 2, m: int = 4) -> torch.Tensor:
    """N:M fine-grained sparsity (Mishra et al. 2021, NVIDIA Ampere's 2:4): in every group of ``m``
    consecutive input channels keep the ``n`` largest ``|w|`` (ties: the lower index first).

    w (Tensor[out, in, *k]): a Linear (``[out, in]``) or conv (``[out, in, kh, kw]``) weight; groups run
    along dim 1 at each ``(out, *k)`` position, as NVIDIA ASP permutes conv weights. ``in % m == 0``.
    Returns: Tensor like ``w`` of 0/1 with exactly ``n`` ones per group (sparsity ``1 - n/m``); NaN ranks largest.
    """
    check_tensor(w, "w", kind="float", min_ndim=2)
    m = check_int(m, "m", 1)
    n = check_int(n, "n", 1, m)
    if w.shape[1] % m:
        raise ValueError(f"w's input dim (dim 1) must be divisible by m={m}, got w of shape {tuple(w.shape)}")
    g = w.detach().abs().movedim(1, -1)  # [out, *k, in]
    groups = g.reshape(-1, m)  # [G, m]
    top = torch.sort(groups, dim=1, descending=True, stable=True).indices[:, :n]  # [G, n]
    mask = torch.zeros_like(groups).scatter_(1, top, 1.0)
    return mask.reshape(g.shape).movedim(-1, 1).contiguous()
