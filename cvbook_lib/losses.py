"""Loss functions from scratch, equal to their references for every ``reduction``.

Cross-entropy family on top of a stable ``log_softmax`` / log-sigmoid, so logits of ±1e4 give
finite losses and gradients. Tested against ``torch.nn.functional`` and
``torchvision.ops.sigmoid_focal_loss`` in ``tests/test_losses.py``. References: Lin et al. 2017
(focal loss), Szegedy et al. 2016 (label smoothing), Girshick 2015 (smooth L1), Milletari et al.
2016 (Dice), Hinton et al. 2015 (distillation), Weston & Watkins 1999 / Crammer & Singer (multiclass
hinge).

Conventions (deliberate differences from torch are marked *):

- integer, bool and complex tensors are refused where a floating tensor is needed (logits, regression
  and probability targets, weights)*; two floating tensors of different dtypes are promoted as torch
  promotes them (``torch.promote_types``), except where torch itself refuses the mix (a class
  ``weight`` of another dtype than ``input``);
- class-index targets may have any integer dtype* (torch: int64 or uint8);
- ``input`` and ``target`` must have the same shape* (torch broadcasts them with a warning);
- probability targets must lie in [0, 1] (NaN refused)* (torch computes with any value);
- NaN parameters (``label_smoothing``, ``beta``, ``margin``, ``gamma`` ...) are refused* where torch
  computes with them, and ``reduction`` must be one of the documented strings.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_bool, check_choice, check_float, check_int, check_probability, check_same, check_tensor
from .activations import _dim, log_softmax, softmax

__all__ = ["cross_entropy", "binary_cross_entropy_with_logits", "sigmoid_focal_loss", "softmax_focal_loss",
           "smooth_l1_loss", "huber_loss", "mse_loss", "l1_loss", "kl_div", "multi_margin_loss", "dice_loss",
           "distillation_loss", "entropy", "cross_entropy_of_distributions"]

_REDUCTIONS = ("none", "mean", "sum")


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _pair(a, b, names=("input", "target"), kind_b="float"):
    """Check two tensors of one shape (``a`` floating); return them promoted to their common dtype."""
    check_tensor(a, names[0], kind="float")
    check_tensor(b, names[1], kind=kind_b)
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    check_same(a, names[0], b, names[1], dtype=False)
    dtype = torch.promote_types(a.dtype, b.dtype) if b.is_floating_point() else a.dtype
    return a.to(dtype), b.to(dtype)


def _unit(t, name):
    """Raise unless every value of ``t`` is a probability (NaN refused)."""
    if t.numel() and not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError(f"{name} must hold probabilities in [0, 1], got values in "
                         f"[{t.min().item():.3g}, {t.max().item():.3g}]" + (" and NaN" if t.isnan().any() else ""))


def _class_weight(weight, C, like, name="weight", same_dtype=True):
    if weight is None:
        return None
    check_tensor(weight, name, ndims=(1,), kind="float")
    if weight.shape[0] != C:
        raise ValueError(f"{name} must have {C} elements (one per class of input), got {weight.shape[0]}")
    check_same(weight, name, like, "input", dtype=same_dtype)
    return weight


def _broadcastable(w, name, x):
    if w is not None:
        check_tensor(w, name, kind="float")
        check_same(w, name, x, "input", dtype=False)
        try:
            ok = torch.broadcast_shapes(w.shape, x.shape) == x.shape
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(f"{name} must broadcast to the shape of input {tuple(x.shape)}, got {tuple(w.shape)}")
    return w


def _labels(target, N, C, input_shape, name="target", ignore_index=None):
    """Class indices: an integer tensor of shape ``N`` (a tuple) with values in [0, C) (or ``ignore_index``)."""
    check_tensor(target, name, kind="int")
    if tuple(target.shape) != tuple(N):
        raise ValueError(f"{name} (class indices) must have shape {tuple(N)} for input of shape {tuple(input_shape)}, "
                         f"got {tuple(target.shape)}")
    y = target[target != ignore_index] if ignore_index is not None else target
    if y.numel() and bool(((y < 0) | (y >= C)).any()):
        also = "" if ignore_index is None else f" or equal ignore_index={ignore_index}"
        raise ValueError(f"{name} class indices must be in [0, {C}){also} (input has {C} classes), got values in "
                         f"[{int(y.min())}, {int(y.max())}]")
    return target.long()


def cross_entropy(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0):
    """Softmax cross-entropy, like ``F.cross_entropy``.

    Args:
        input (Tensor[N, C] or Tensor[N, C, d1, ...] or Tensor[C]): logits.
        target: class indices (Tensor[N] / [N, d1, ...] / [] of int, ``ignore_index`` skipped) or class
            probabilities (same shape as input, in [0, 1]).
        weight (Tensor[C] or None): per-class weights. label_smoothing ε in [0, 1]: the target becomes
            (1-ε)·y + ε/C (a NaN ε is refused; torch takes it as 0).
    Returns:
        ``-Σ_c w_c t_c log softmax(x)_c`` per element, reduced. For class indices 'mean' divides by the
        total weight of the non-ignored targets; for probabilities by the number of elements. The
        smoothing term is only added when ε > 0, so a -inf logit gives torch's finite loss at ε = 0.
    """
    check_tensor(input, "input", kind="float", min_ndim=1)
    check_tensor(target, "target", kind="real")
    ignore_index = check_int(ignore_index, "ignore_index")
    check_choice(reduction, "reduction", _REDUCTIONS)
    eps = check_probability(label_smoothing, "label_smoothing")
    x = input.unsqueeze(0) if input.dim() == 1 else input
    C = x.shape[1]
    if target.is_floating_point():                                     # probability targets
        if target.shape != input.shape:
            raise ValueError(f"target (probabilities) must have the shape of input {tuple(input.shape)}, "
                             f"got {tuple(target.shape)}")
        w = _class_weight(weight, C, input, same_dtype=False)
        _unit(target, "target")
        x, t = _pair(x, target.reshape(x.shape))
        logp = log_softmax(x, 1)
        if w is not None:
            logp = logp * w.view(1, C, *([1] * (x.dim() - 2)))
        loss = -(logp * (t * (1 - eps) + eps / C)).sum(1)
        return _reduce(loss[0] if input.dim() == 1 else loss, reduction)
    w = _class_weight(weight, C, input)
    y = _labels(target, (x.shape[0], *x.shape[2:]) if input.dim() > 1 else (), C, input.shape,
                ignore_index=ignore_index)
    y = y.reshape(x.shape[0], *x.shape[2:])
    keep = y != ignore_index
    safe = torch.where(keep, y, torch.zeros_like(y))
    logp = log_softmax(x, 1)
    wy = w[safe] if w is not None else torch.ones_like(y, dtype=x.dtype)
    wy = torch.where(keep, wy, torch.zeros_like(wy))
    picked = -logp.gather(1, safe.unsqueeze(1)).squeeze(1)             # -log p_y
    loss = torch.where(keep, picked * wy, torch.zeros_like(picked))
    if eps > 0:                                                        # -Σ_c w_c log p_c, only when used
        smooth = -(logp * w.view(1, C, *([1] * (x.dim() - 2))) if w is not None else logp).sum(1)
        smooth = torch.where(keep, smooth, torch.zeros_like(smooth))
        loss = (1 - eps) * loss + eps / C * smooth
    if reduction == "none":
        return loss[0] if input.dim() == 1 else loss
    return loss.sum() / wy.sum() if reduction == "mean" else loss.sum()


def binary_cross_entropy_with_logits(input, target, weight=None, reduction: str = "mean", pos_weight=None):
    """``-w [pos_weight·y·log σ(x) + (1 - y)·log(1 - σ(x))]``, like ``F.binary_cross_entropy_with_logits``.

    Computed as torch does, ``(1 - y)·x - (1 + (pos_weight - 1)·y)·log σ(x)`` with a stable log σ, so it is
    finite for any finite logit and gives torch's answer at ±inf. input, target (Tensor[*], target in
    [0, 1]); weight, pos_weight broadcast to the shape of input (pos_weight: per class, the last dim).
    """
    result_dtype = getattr(target, "dtype", None)  # torch returns the target's dtype (checked by _pair)
    input, target = _pair(input, target)
    _broadcastable(weight, "weight", input)
    _broadcastable(pos_weight, "pos_weight", input)
    check_choice(reduction, "reduction", _REDUCTIONS)
    _unit(target, "target")
    log_sig = _log_sigmoid(input)
    if pos_weight is not None:
        log_sig = log_sig * ((pos_weight - 1) * target + 1)
    loss = (1 - target) * input - log_sig
    return _reduce(loss * weight if weight is not None else loss, reduction).to(result_dtype)


def _log_sigmoid(x):
    """log σ(x) = min(x, 0) - log(1 + e^{-|x|}): no exp overflows, NaN stays NaN."""
    return torch.where(x < 0, x, torch.zeros_like(x)) - torch.log1p(torch.exp(-torch.where(x >= 0, x, -x)))


def _gamma(gamma):
    return check_float(gamma, "gamma", 0.0)


def sigmoid_focal_loss(inputs, targets, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "none"):
    """Focal loss (Lin et al. 2017), like ``torchvision.ops.sigmoid_focal_loss``:
    ``FL = -α_t (1 - p_t)^γ log p_t`` with p_t = p for y = 1 and 1 - p for y = 0.

    inputs, targets (Tensor[*], targets in [0, 1]). ``alpha`` in [0, 1], or -1 to turn the α_t weighting
    off (torchvision's rule; NaN refused); ``gamma`` >= 0 (torchvision computes with a negative γ: we refuse
    it). γ = 0 and α = -1 give plain binary cross-entropy.

    Computed as torchvision computes it, op for op in the input dtype: -log p_t is the BCE-with-logits
    term (1 - y)·x - log σ(x) (torch's formula, with torch's log-sigmoid and sigmoid kernels), times the
    modulating factor (1 - p_t)^γ. So the loss equals torchvision's bit for bit (float16 included), and
    at γ = 0, α = -1 it is ``F.binary_cross_entropy_with_logits`` exactly: FL <= CE holds element by element.
    """
    inputs, targets = _pair(inputs, targets, ("inputs", "targets"))
    a = check_float(alpha, "alpha", allow_nan=True)
    if not (0 <= a <= 1 or a == -1):                                   # NaN fails both
        raise ValueError(f"Invalid alpha value: alpha must be in [0, 1] or -1 (no weighting), got {alpha!r}")
    g = _gamma(gamma)
    check_choice(reduction, "reduction", _REDUCTIONS)
    _unit(targets, "targets")
    p = torch.sigmoid(inputs)
    ce = (1 - targets) * inputs - torch.nn.functional.logsigmoid(inputs)      # = -log p_t
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** g)
    if a >= 0:
        loss = (a * targets + (1 - a) * (1 - targets)) * loss
    return _reduce(loss, reduction)


def softmax_focal_loss(input, target, alpha=None, gamma: float = 2.0, reduction: str = "mean"):
    """Multi-class focal loss ``-α_y (1 - p_y)^γ log p_y`` on softmax probabilities.

    Args:
        input (Tensor[N, C]); target (Tensor[N] of class indices); alpha: None, a float in [0, 1] (same
        for every class) or Tensor[C]; gamma >= 0. γ = 0 with ``alpha=None`` is ``cross_entropy``.
    """
    check_tensor(input, "input", ndims=(2,), kind="float")
    N, C = input.shape
    y = _labels(target, (N,), C, input.shape)
    if isinstance(alpha, torch.Tensor):
        _class_weight(alpha, C, input, "alpha", same_dtype=False)
    elif alpha is not None:
        alpha = check_float(alpha, "alpha", 0.0, 1.0)
    g = _gamma(gamma)
    check_choice(reduction, "reduction", _REDUCTIONS)
    logp_y = log_softmax(input, 1).gather(1, y.unsqueeze(1)).squeeze(1)
    loss = -(1 - torch.exp(logp_y)) ** g * logp_y
    if alpha is not None:
        loss = (alpha[y] if isinstance(alpha, torch.Tensor) else alpha) * loss
    return _reduce(loss, reduction)


def smooth_l1_loss(input, target, reduction: str = "mean", beta: float = 1.0):
    """0.5·d²/β for |d| < β, |d| - 0.5β otherwise (Fast R-CNN); β = 0 is the L1 loss. input, target (Tensor[*])."""
    input, target = _pair(input, target)
    check_choice(reduction, "reduction", _REDUCTIONS)
    beta = check_float(beta, "beta", 0.0)
    d = (input - target).abs()
    loss = d if beta == 0 else torch.where(d < beta, 0.5 * d ** 2 / beta, d - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0):
    """0.5·d² for |d| < δ, δ(|d| - 0.5δ) otherwise; equals δ·smooth_l1(β=δ). input, target (Tensor[*]).
    Returns the input's dtype, as torch does (the other regression losses promote)."""
    result_dtype = getattr(input, "dtype", None)
    input, target = _pair(input, target)
    check_choice(reduction, "reduction", _REDUCTIONS)
    delta = check_float(delta, "delta", 0.0, min_open=True)
    d = (input - target).abs()
    return _reduce(torch.where(d < delta, 0.5 * d ** 2, delta * (d - 0.5 * delta)), reduction).to(result_dtype)


def mse_loss(input, target, reduction: str = "mean"):
    """(x - y)². input, target (Tensor[*])."""
    input, target = _pair(input, target)
    check_choice(reduction, "reduction", _REDUCTIONS)
    return _reduce((input - target) ** 2, reduction)


def l1_loss(input, target, reduction: str = "mean"):
    """|x - y|. input, target (Tensor[*])."""
    input, target = _pair(input, target)
    check_choice(reduction, "reduction", _REDUCTIONS)
    return _reduce((input - target).abs(), reduction)


def kl_div(input, target, reduction: str = "mean", log_target: bool = False):
    """Pointwise ``t·(log t - x)`` with ``input`` = log-probabilities (0·log 0 = 0), like ``F.kl_div``.

    input, target (Tensor[*]). ``reduction='batchmean'`` (sum / batch size) is the true KL divergence;
    'mean' averages over every element, as PyTorch does.
    """
    input, target = _pair(input, target)
    check_choice(reduction, "reduction", _REDUCTIONS + ("batchmean",))
    if check_bool(log_target, "log_target"):
        loss = torch.exp(target) * (target - input)
    else:
        loss = torch.xlogy(target, target) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.dim() else 1)
    return _reduce(loss, reduction)


def multi_margin_loss(input, target, p: int = 1, margin: float = 1.0, weight=None, reduction: str = "mean"):
    """Multiclass hinge (SVM) loss, like ``F.multi_margin_loss``:
    ``Σ_{i≠y} max(0, margin - x_y + x_i)^p / C``, times ``weight[y]`` if given.

    input (Tensor[N, C], Tensor[C] or Tensor[] for one sample); target (N class indices: Tensor[N], or
    Tensor[] / Tensor[1] for one sample); weight (Tensor[C]). ``reduction='none'`` returns the loss in the
    shape of ``target`` (as torch). A term counts only where ``margin - x_y + x_i > 0``, so a NaN logit adds
    nothing (as in torch's kernel).
    """
    check_tensor(input, "input", ndims=(0, 1, 2), kind="float")
    x = input.reshape(1, -1) if input.dim() < 2 else input
    N, C = x.shape
    if C == 0:
        raise ValueError(f"input must have at least one class, got shape {tuple(input.shape)}")
    check_tensor(target, "target", ndims=(0, 1), kind="int")
    y = _labels(target.reshape(-1), (N,), C, input.shape)
    p = check_int(p, "p")
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p!r}")
    margin = check_float(margin, "margin")
    _class_weight(weight, C, input)
    check_choice(reduction, "reduction", _REDUCTIONS)
    z = margin - x.gather(1, y.unsqueeze(1)) + x                       # (N, C)
    h = z ** p if weight is None else z ** p * weight[y].unsqueeze(1)
    other = torch.arange(C, device=x.device) != y.unsqueeze(1)         # drop i = y
    hinge = torch.where((z > 0) & other, h, torch.zeros_like(h))
    return _reduce((hinge.sum(1) / C).reshape(target.shape), reduction)


def dice_loss(probs, targets, eps: float = 1.0):
    """Soft Dice loss (Milletari et al. 2016), averaged over the batch:
    ``1 - (2Σ p·t + eps) / (Σ p + Σ t + eps)`` per sample, sums over all non-batch dimensions.

    Args: probs (Tensor[N, ...], floating), targets (same shape, floating, integer or bool; cast to the
    dtype of probs), both in [0, 1]; eps > 0 and finite.
    """
    check_tensor(probs, "probs", kind="float", min_ndim=1)
    check_tensor(targets, "targets", kind="bool" if getattr(targets, "dtype", None) == torch.bool else "real")
    probs, targets = _pair(probs, targets, ("probs", "targets"), kind_b="any")
    _unit(probs, "probs")
    _unit(targets, "targets")
    eps = check_float(eps, "eps", 0.0, min_open=True, allow_inf=False)
    shape = (probs.shape[0], math.prod(probs.shape[1:]))               # Tensor[N] counts as Tensor[N, 1]
    p, t = probs.reshape(shape), targets.reshape(shape)
    dice = (2 * (p * t).sum(1) + eps) / (p.sum(1) + t.sum(1) + eps)
    return (1 - dice).mean()


def distillation_loss(student_logits, teacher_logits, target, temperature: float, alpha: float):
    """Knowledge distillation (Hinton et al. 2015):
    ``α·T²·KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 - α)·CE(student, target)``, i.e. torch's
    ``α·T²·F.kl_div(F.log_softmax(s/T, -1), F.softmax(t/T, -1), 'batchmean') + (1-α)·F.cross_entropy(s, y)``.

    student_logits, teacher_logits (Tensor[N, C]); target (Tensor[N] of class indices, or probabilities
    Tensor[N, C]); temperature T > 0; alpha in [0, 1] (refused outside; torch's expression computes with it).
    The T² keeps the soft term's gradient at the same scale as T changes (it would shrink as 1/T²).
    """
    check_tensor(student_logits, "student_logits", ndims=(2,), kind="float")
    s, t = _pair(student_logits, teacher_logits, ("student_logits", "teacher_logits"))
    T = check_float(temperature, "temperature", 0.0, min_open=True)
    a = check_probability(alpha, "alpha")
    hard = cross_entropy(student_logits, target)                      # checks target
    soft = kl_div(log_softmax(s / T, -1), softmax(t / T, -1), reduction="batchmean")
    return a * T * T * soft + (1 - a) * hard


def entropy(p, dim: int = -1):
    """H(p) = -Σ p log p along ``dim`` (0·log 0 = 0), i.e. ``torch.special.entr(p).sum(dim)``.

    p (Tensor[*]) of probabilities in [0, 1] (refused outside and NaN; ``entr`` gives -inf / NaN).
    """
    check_tensor(p, "p", kind="float")
    dim = _dim(p, dim, "p")
    _unit(p, "p")
    return -torch.xlogy(p, p).sum(dim)


def cross_entropy_of_distributions(p, q, dim: int = -1):
    """H(p, q) = -Σ p log q along ``dim``; H(p, q) - H(p) = KL(p ‖ q) >= 0. p, q (Tensor[*]) in [0, 1]."""
    p, q = _pair(p, q, ("p", "q"))
    dim = _dim(p, dim, "p")
    _unit(p, "p")
    _unit(q, "q")
    return -torch.xlogy(p, q).sum(dim)
