"""Loss functions from scratch, equal to their references for every ``reduction``.

Cross-entropy family on top of a stable ``log_softmax`` / log-sigmoid, so logits of ±1e4 give
finite losses and gradients. Tested against ``torch.nn.functional`` and
``torchvision.ops.sigmoid_focal_loss`` in ``tests/test_losses.py``. References: Lin et al. 2017
(focal loss), Szegedy et al. 2016 (label smoothing), Girshick 2015 (smooth L1), Milletari et al.
2016 (Dice), Hinton et al. 2015 (distillation), Weston & Watkins 1999 / Crammer & Singer (multiclass
hinge).
"""

from __future__ import annotations

import torch

from ._checks import check_choice, check_finite, check_probability, check_tensor
from .activations import log_softmax, softmax

__all__ = ["cross_entropy", "binary_cross_entropy_with_logits", "sigmoid_focal_loss", "softmax_focal_loss",
           "smooth_l1_loss", "huber_loss", "mse_loss", "l1_loss", "kl_div", "multi_margin_loss", "dice_loss",
           "distillation_loss", "entropy", "cross_entropy_of_distributions"]

_REDUCTIONS = ("none", "mean", "sum")


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _same_shape(input, target):
    check_tensor(input, "input", floating=True)
    check_tensor(target, "target")
    if input.shape != target.shape:
        raise ValueError(f"input and target must have the same shape, got {tuple(input.shape)} "
                         f"and {tuple(target.shape)}")


def _in_unit_interval(t, name):
    if t.numel() and (bool((t < 0).any()) or bool((t > 1).any()) or bool(torch.isnan(t).any())):
        raise ValueError(f"{name} must hold probabilities in [0, 1], got values in "
                         f"[{t.min().item():.3g}, {t.max().item():.3g}]")


def _log_sigmoid(x):
    """log σ(x) = -log(1 + e^{-x}) for x >= 0 and x - log(1 + e^{x}) for x < 0: no exp overflows."""
    zero = torch.zeros_like(x)
    pos, neg = torch.where(x >= 0, x, zero), torch.where(x < 0, x, zero)
    return torch.where(x >= 0, -torch.log1p(torch.exp(-pos)), neg - torch.log1p(torch.exp(neg)))


def cross_entropy(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0):
    """Softmax cross-entropy, like ``F.cross_entropy``.

    Args:
        input (Tensor[N, C] or Tensor[N, C, d1, ...] or Tensor[C]): logits.
        target: class indices (Tensor[N] / [N, d1, ...] of int, ``ignore_index`` skipped) or class
            probabilities (same shape as input).
        weight (Tensor[C] or None): per-class weights. label_smoothing ε: the target becomes
            (1-ε)·y + ε/C.
    Returns:
        ``-Σ_c w_c t_c log softmax(x)_c`` per element, reduced. For class indices 'mean' divides by the
        total weight of the non-ignored targets; for probabilities by the number of elements.
    """
    check_tensor(input, "input", floating=True)
    check_tensor(target, "target")
    check_choice(reduction, "reduction", _REDUCTIONS)
    eps = check_probability(label_smoothing, "label_smoothing")
    x = input.unsqueeze(0) if input.dim() == 1 else input
    C = x.shape[1]
    if weight is not None:
        check_tensor(weight, "weight", ndims=(1,), floating=True)
        if weight.shape[0] != C:
            raise ValueError(f"weight must have {C} elements (one per class), got {weight.shape[0]}")
    w = weight.view(1, C, *([1] * (x.dim() - 2))) if weight is not None else None
    logp = log_softmax(x, 1)
    if target.is_floating_point():                                     # probability targets
        t = target.unsqueeze(0) if input.dim() == 1 else target
        if t.shape != x.shape:
            raise ValueError(f"probability targets must have the shape of input {tuple(input.shape)}, "
                             f"got {tuple(target.shape)}")
        _in_unit_interval(t, "target")
        t = t * (1 - eps) + eps / C
        loss = -((logp * w) if w is not None else logp).mul(t).sum(1)
        loss = loss[0] if input.dim() == 1 else loss
        return _reduce(loss, reduction)
    y = target.unsqueeze(0) if input.dim() == 1 else target
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"class-index targets must be integers, got {target.dtype}")
    if tuple(y.shape) != (x.shape[0], *x.shape[2:]):
        raise ValueError(f"class-index targets must have shape {(x.shape[0], *x.shape[2:])}, got {tuple(target.shape)}")
    keep = y != ignore_index
    if bool(((y[keep] < 0) | (y[keep] >= C)).any()):
        raise ValueError(f"target class indices must be in [0, {C}) or equal ignore_index={ignore_index}")
    safe = torch.where(keep, y, torch.zeros_like(y)).long()
    picked = -logp.gather(1, safe.unsqueeze(1)).squeeze(1)             # -log p_y
    smooth = -(logp * w if w is not None else logp).sum(1)             # -Σ_c w_c log p_c
    wy = weight[safe] if weight is not None else torch.ones_like(picked)
    wy = torch.where(keep, wy, torch.zeros_like(wy))
    nll, smooth = picked * wy, torch.where(keep, smooth, torch.zeros_like(smooth))
    if reduction == "none":
        loss = (1 - eps) * nll + eps / C * smooth
        return loss[0] if input.dim() == 1 else loss
    total = wy.sum()
    if reduction == "mean":
        return (1 - eps) * nll.sum() / total + eps / C * smooth.sum() / total
    return (1 - eps) * nll.sum() + eps / C * smooth.sum()


def binary_cross_entropy_with_logits(input, target, weight=None, reduction: str = "mean", pos_weight=None):
    """``-w [pos_weight·y·log σ(x) + (1 - y)·log(1 - σ(x))]``, like ``F.binary_cross_entropy_with_logits``.

    Computed from log σ(x) = -softplus(-x), so it is finite for any logit. ``pos_weight``
    broadcasts over the last (class) dimension; targets are probabilities in [0, 1].
    """
    _same_shape(input, target)
    check_choice(reduction, "reduction", _REDUCTIONS)
    _in_unit_interval(target, "target")
    log_p, log_not_p = _log_sigmoid(input), _log_sigmoid(-input)
    pos = target * log_p if pos_weight is None else pos_weight * target * log_p
    loss = -(pos + (1 - target) * log_not_p)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def sigmoid_focal_loss(inputs, targets, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "none"):
    """Focal loss (Lin et al. 2017), like ``torchvision.ops.sigmoid_focal_loss``:
    ``FL = -α_t (1 - p_t)^γ log p_t`` with p_t = p for y = 1 and 1 - p for y = 0; ``alpha < 0`` turns
    the α_t weighting off. γ = 0 and α < 0 give plain binary cross-entropy."""
    _same_shape(inputs, targets)
    check_choice(reduction, "reduction", _REDUCTIONS)
    _in_unit_interval(targets, "targets")
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma!r}")
    p = torch.exp(_log_sigmoid(inputs))
    ce = binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return _reduce(loss, reduction)


def softmax_focal_loss(input, target, alpha=None, gamma: float = 2.0, reduction: str = "mean"):
    """Multi-class focal loss ``-α_y (1 - p_y)^γ log p_y`` on softmax probabilities.

    Args:
        input (Tensor[N, C]); target (Tensor[N] of class indices); alpha: None, a float (same for every
        class) or Tensor[C]. γ = 0 with ``alpha=None`` is ``cross_entropy``.
    """
    check_tensor(input, "input", ndims=(2,), floating=True)
    check_choice(reduction, "reduction", _REDUCTIONS)
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma!r}")
    N, C = input.shape
    check_tensor(target, "target", ndims=(1,))
    if target.shape[0] != N or target.is_floating_point() or bool(((target < 0) | (target >= C)).any()):
        raise ValueError(f"target must be {N} class indices in [0, {C}), got {target!r}")
    logp_y = log_softmax(input, 1).gather(1, target.long().unsqueeze(1)).squeeze(1)
    loss = -(1 - torch.exp(logp_y)) ** gamma * logp_y
    if alpha is not None:
        a = alpha[target] if isinstance(alpha, torch.Tensor) else torch.full_like(loss, float(alpha))
        loss = a * loss
    return _reduce(loss, reduction)


def smooth_l1_loss(input, target, reduction: str = "mean", beta: float = 1.0):
    """0.5·d²/β for |d| < β, |d| - 0.5β otherwise (Fast R-CNN); β = 0 is the L1 loss."""
    _same_shape(input, target)
    check_choice(reduction, "reduction", _REDUCTIONS)
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta!r}")
    d = (input - target).abs()
    loss = d if beta == 0 else torch.where(d < beta, 0.5 * d ** 2 / beta, d - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0):
    """0.5·d² for |d| < δ, δ(|d| - 0.5δ) otherwise; equals δ·smooth_l1(β=δ)."""
    _same_shape(input, target)
    check_choice(reduction, "reduction", _REDUCTIONS)
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta!r}")
    d = (input - target).abs()
    return _reduce(torch.where(d < delta, 0.5 * d ** 2, delta * (d - 0.5 * delta)), reduction)


def mse_loss(input, target, reduction: str = "mean"):
    """(x - y)²."""
    _same_shape(input, target)
    check_choice(reduction, "reduction", _REDUCTIONS)
    return _reduce((input - target) ** 2, reduction)


def l1_loss(input, target, reduction: str = "mean"):
    """|x - y|."""
    _same_shape(input, target)
    check_choice(reduction, "reduction", _REDUCTIONS)
    return _reduce((input - target).abs(), reduction)


def kl_div(input, target, reduction: str = "mean", log_target: bool = False):
    """Pointwise ``t·(log t - x)`` with ``input`` = log-probabilities (0·log 0 = 0), like ``F.kl_div``.

    ``reduction='batchmean'`` (sum / batch size) is the true KL divergence; 'mean' averages over
    every element, as PyTorch does.
    """
    _same_shape(input, target)
    check_choice(reduction, "reduction", _REDUCTIONS + ("batchmean",))
    if log_target:
        loss = torch.exp(target) * (target - input)
    else:
        loss = torch.xlogy(target, target) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.dim() else 1)
    return _reduce(loss, reduction)


def multi_margin_loss(input, target, p: int = 1, margin: float = 1.0, weight=None, reduction: str = "mean"):
    """Multiclass hinge (SVM) loss, like ``F.multi_margin_loss``:
    ``Σ_{i≠y} max(0, margin - x_y + x_i)^p / C``, times ``weight[y]`` if given."""
    check_tensor(input, "input", ndims=(1, 2), floating=True)
    check_choice(reduction, "reduction", _REDUCTIONS)
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p!r}")
    x = input.unsqueeze(0) if input.dim() == 1 else input
    N, C = x.shape
    y = target.reshape(-1)
    if y.shape[0] != N or y.is_floating_point() or bool(((y < 0) | (y >= C)).any()):
        raise ValueError(f"target must be {N} class indices in [0, {C}), got {target!r}")
    x_y = x.gather(1, y.long().unsqueeze(1))                           # (N, 1)
    hinge = torch.clamp(margin - x_y + x, min=0) ** p                  # (N, C)
    hinge = hinge.scatter(1, y.long().unsqueeze(1), 0.0)               # drop i = y
    if weight is not None:
        hinge = hinge * weight[y.long()].unsqueeze(1)
    loss = hinge.sum(1) / C
    return _reduce(loss[0] if input.dim() == 1 else loss, reduction)


def dice_loss(probs, targets, eps: float = 1.0):
    """Soft Dice loss (Milletari et al. 2016), averaged over the batch:
    ``1 - (2Σ p·t + eps) / (Σ p + Σ t + eps)`` per sample, sums over all non-batch dimensions.
    Args: probs, targets (Tensor[N, ...]) in [0, 1]."""
    _same_shape(probs, targets)
    _in_unit_interval(probs, "probs")
    _in_unit_interval(targets, "targets")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    p, t = probs.flatten(1), targets.flatten(1).to(probs.dtype)
    dice = (2 * (p * t).sum(1) + eps) / (p.sum(1) + t.sum(1) + eps)
    return (1 - dice).mean()


def distillation_loss(student_logits, teacher_logits, target, temperature: float, alpha: float):
    """Knowledge distillation (Hinton et al. 2015):
    ``α·T²·KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 - α)·CE(student, target)``.

    The T² keeps the soft term's gradient at the same scale as T changes (it would shrink as 1/T²).
    """
    _same_shape(student_logits, teacher_logits)
    check_probability(alpha, "alpha")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    T = temperature
    soft = kl_div(log_softmax(student_logits / T, -1), softmax(teacher_logits / T, -1), reduction="batchmean")
    return alpha * T * T * soft + (1 - alpha) * cross_entropy(student_logits, target)


def entropy(p, dim: int = -1):
    """H(p) = -Σ p log p along ``dim`` (0·log 0 = 0)."""
    check_tensor(p, "p", floating=True)
    _in_unit_interval(p, "p")
    return -torch.xlogy(p, p).sum(dim)


def cross_entropy_of_distributions(p, q, dim: int = -1):
    """H(p, q) = -Σ p log q along ``dim``; H(p, q) - H(p) = KL(p ‖ q) >= 0."""
    _same_shape(p, q)
    _in_unit_interval(p, "p")
    _in_unit_interval(q, "q")
    check_finite(q, "q")
    return -torch.xlogy(p, q).sum(dim)
