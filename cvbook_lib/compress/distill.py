"""Logit distillation beyond Hinton's KD: decoupled KD, DIST's correlation losses, several teachers.

Hinton et al. 2015's loss (arXiv 1503.02531) is ``cvbook_lib.losses.distillation_loss``; here ``p = softmax(z / T)``,
``KL(p_t ‖ p_s) = Σ_c p_t,c (log p_t,c - log p_s,c)`` per sample, and losses are averaged over the batch.

- DKD (Zhao et al. 2022, "Decoupled Knowledge Distillation", arXiv 2203.08679) splits KD per sample into
  ``KL = TCKD + (1 - p_t,y)·NCKD``: TCKD is the KL of the binary distributions ``[p_y, 1 - p_y]``
  (target class vs the rest), NCKD the KL among the non-target classes renormalized (target removed).
  KD couples NCKD to the teacher's confidence ``1 - p_t,y``, which shrinks it exactly where the teacher is
  sure; DKD weighs the two freely: ``T²·mean(α·TCKD + β·NCKD)``, the official code's formula
  (megvii-research/mdistiller, ``DKD.py``; there the target is masked with ``-1000`` and ``log`` is taken of
  probabilities, here it is removed and everything is computed from log-sum-exps, so large logits stay finite).
- DIST (Huang et al. 2022, "Knowledge Distillation from A Stronger Teacher", arXiv 2205.10536) asks only for
  the teacher's *relations*: one minus the Pearson correlation of student and teacher probabilities per sample
  (inter-class relation) and per class over the batch (intra-class relation), ``T²·(β·inter + γ·intra)``, as
  the official code (hunto/DIST_KD), whose ``+ eps`` in the denominator is kept (``eps=0`` makes the Pearson
  invariances exact).
- Several teachers: KL to the weighted mean of their softened distributions, or the weighted mean of the
  per-teacher KLs; by convexity of KL in its first argument the second is never smaller:
  ``Σ_k w_k KL(p_k ‖ q) - KL(p̄ ‖ q) = Σ_k w_k KL(p_k ‖ p̄) >= 0`` (Hinton et al. 2015 average the ensemble's
  distributions; You et al. 2017, "Learning from Multiple Teacher Networks", average them as well).

Logits are ``Tensor[N, C]`` of one floating dtype family (two floating dtypes are promoted; integer, bool and
complex tensors are refused); targets are class indices ``Tensor[N]`` in ``[0, C)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch

from .._checks import _short, check_choice, check_float, check_same, check_tensor
from ..losses import _labels, _pair

__all__ = ["tckd_nckd", "dkd_loss", "inter_class_relation", "intra_class_relation", "dist_loss", "multi_teacher_kd"]


def _logits(s, t, C_min: int = 1):
    check_tensor(s, "logits_student", ndims=(2,), kind="float")
    s, t = _pair(s, t, ("logits_student", "logits_teacher"))
    if s.shape[1] < C_min:
        raise ValueError(f"logits_student must have at least {C_min} classes (dim 1), got shape {tuple(s.shape)}")
    return s, t


def _temperature(temperature) -> float:
    return check_float(temperature, "temperature", 0.0, min_open=True, allow_inf=False)


def _weight(value, name: str) -> float:
    return check_float(value, name, 0.0, allow_inf=False)


def _kl_rows(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """``Σ_j p_j (log p_j - log q_j)`` along dim 1 from log-probabilities: Tensor[N, K] -> Tensor[N].

    ``0·log 0 = 0`` as in ``F.kl_div`` (a teacher logit of -inf is a class with probability 0); the log is
    replaced before the product, so the gradient stays finite too."""
    safe = torch.where(logp == -math.inf, torch.zeros_like(logp), logp)
    return (logp.exp() * (safe - logq)).sum(1)


# ----------------------------------------------------------------------------- DKD
def _split(z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log of the binary ``[p_y, 1 - p_y]`` (Tensor[N, 2]) and the non-target log-softmax (Tensor[N, C-1])."""
    N, C = z.shape
    lse = torch.logsumexp(z, 1)  # [N]
    other = torch.ones_like(z, dtype=torch.bool).scatter_(1, y[:, None], False)
    z_o = z[other].reshape(N, C - 1)  # [N, C-1], the target class removed
    lse_o = torch.logsumexp(z_o, 1)
    z_y = z.gather(1, y[:, None])[:, 0]
    binary = torch.stack([z_y - lse, lse_o - lse], 1)  # [N, 2]: log p_y, log(1 - p_y)
    return binary, z_o - lse_o[:, None]


def tckd_nckd(
    logits_student: torch.Tensor, logits_teacher: torch.Tensor, target: torch.Tensor, temperature: float = 4.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """DKD's two parts per sample, at temperature T, *without* the T² factor (Zhao et al. 2022, eq. 2–4).

    logits_student, logits_teacher (Tensor[N, C], C >= 2); target (Tensor[N] of class indices in [0, C));
    temperature T > 0 (finite). With ``p = softmax(z / T)`` and ``p̂`` the distribution over the C - 1
    non-target classes: ``TCKD = KL([p_t,y, 1 - p_t,y] ‖ [p_s,y, 1 - p_s,y])``, ``NCKD = KL(p̂_t ‖ p̂_s)``.
    Returns (tckd, nckd), each Tensor[N]; ``KL(p_t ‖ p_s) = tckd + (1 - p_t,y)·nckd`` for every sample.
    """
    s, t = _logits(logits_student, logits_teacher, C_min=2)
    y = _labels(target, s.shape[:1], s.shape[1], s.shape)
    T = _temperature(temperature)
    b_s, o_s = _split(s / T, y)
    b_t, o_t = _split(t / T, y)
    return _kl_rows(b_t, b_s), _kl_rows(o_t, o_s)


def dkd_loss(
    logits_student: torch.Tensor,
    logits_teacher: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 1.0,
    beta: float = 8.0,
    temperature: float = 4.0,
) -> torch.Tensor:
    """Decoupled KD (Zhao et al. 2022, arXiv 2203.08679): ``T²·mean_i(α·TCKD_i + β·NCKD_i)`` (0-d tensor).

    Arguments as :func:`tckd_nckd`; alpha, beta (finite, >= 0) weigh the target-class and non-target parts
    (the paper's CIFAR-100 setting: α = 1, β = 8, T = 4; the official trainer also adds cross-entropy and a
    linear warm-up of this term over the first 20 epochs). ``α = 1, β = 1 - p_t,y`` per sample would be KD.
    """
    a, b = _weight(alpha, "alpha"), _weight(beta, "beta")
    tckd, nckd = tckd_nckd(logits_student, logits_teacher, target, temperature)
    T = _temperature(temperature)
    return T * T * (a * tckd + b * nckd).mean()


# ----------------------------------------------------------------------------- DIST
def _pearson_rows(a: torch.Tensor, b: torch.Tensor, eps: float) -> torch.Tensor:
    """Pearson correlation of each row of a with the same row of b: Tensor[N, C] -> Tensor[N]."""
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


def _relation_args(y_s, y_t, eps):
    check_tensor(y_s, "y_s", ndims=(2,), kind="float")
    y_s, y_t = _pair(y_s, y_t, ("y_s", "y_t"))
    return y_s, y_t, check_float(eps, "eps", 0.0, allow_inf=False)


def inter_class_relation(y_s: torch.Tensor, y_t: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """DIST's inter-class relation: ``1 - mean_i ρ(y_s[i, :], y_t[i, :])`` (0-d tensor), ρ = Pearson.

    y_s, y_t (Tensor[N, C]): student and teacher probabilities (any real scores work); eps (>= 0) is added
    to the product of the norms, as the official code (a constant row then counts as correlation 0).
    With eps = 0 it is unchanged when a row of y_s becomes ``a·y_s[i] + b`` with a > 0 (Pearson ignores each
    row's scale and shift); a < 0 flips the sign of that row's correlation.
    """
    y_s, y_t, e = _relation_args(y_s, y_t, eps)
    return 1 - _pearson_rows(y_s, y_t, e).mean()


def intra_class_relation(y_s: torch.Tensor, y_t: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """DIST's intra-class relation: ``1 - mean_c ρ(y_s[:, c], y_t[:, c])``, the Pearson correlation of each
    class's column over the batch (the inter-class relation of the transposes). Arguments as
    :func:`inter_class_relation`; a batch of one sample has constant columns (correlation 0 with eps > 0).
    """
    y_s, y_t, e = _relation_args(y_s, y_t, eps)
    return 1 - _pearson_rows(y_s.T, y_t.T, e).mean()


def dist_loss(
    logits_student: torch.Tensor,
    logits_teacher: torch.Tensor,
    beta: float = 1.0,
    gamma: float = 1.0,
    temperature: float = 1.0,
    eps: float = 1e-8,
) -> torch.Tensor:
    """DIST (Huang et al. 2022, arXiv 2205.10536): ``T²·(β·inter + γ·intra)`` of ``softmax(z / T)`` (0-d).

    logits_student, logits_teacher (Tensor[N, C]); beta, gamma (finite, >= 0) weigh the inter- and
    intra-class relations (:func:`inter_class_relation`, :func:`intra_class_relation`); temperature T > 0
    (the paper: 1 on ImageNet, 4 on CIFAR-100); eps (>= 0) as the official code's 1e-8. Zero (up to eps)
    when student and teacher probabilities correlate perfectly in every row and every column (e.g. equal).
    """
    s, t = _logits(logits_student, logits_teacher)
    b, g = _weight(beta, "beta"), _weight(gamma, "gamma")
    T = _temperature(temperature)
    e = check_float(eps, "eps", 0.0, allow_inf=False)
    p_s, p_t = torch.softmax(s / T, 1), torch.softmax(t / T, 1)
    inter = 1 - _pearson_rows(p_s, p_t, e).mean()
    intra = 1 - _pearson_rows(p_s.T, p_t.T, e).mean()
    return T * T * (b * inter + g * intra)


# ----------------------------------------------------------------------------- several teachers
def _teacher_weights(weights, K: int, like: torch.Tensor) -> torch.Tensor:
    if weights is None:
        return torch.full((K,), 1.0 / K, dtype=like.dtype, device=like.device)
    if isinstance(weights, torch.Tensor):
        check_tensor(weights, "weights", ndims=(1,), kind="float")
        check_same(weights, "weights", like, "logits_student", dtype=False)
        w = weights.detach().to(device=like.device, dtype=torch.float64)
    elif (
        isinstance(weights, Sequence)
        and not isinstance(weights, str)
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in weights)
    ):
        w = torch.tensor([float(v) for v in weights], dtype=torch.float64, device=like.device)
    else:
        raise TypeError(
            f"weights must be None, a sequence of real numbers or a 1-D float tensor, got "
            f"{type(weights).__name__} {_short(weights)}"
        )
    if w.numel() != K:
        raise ValueError(f"weights must have one value per teacher ({K}), got {w.numel()}")
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or not math.isclose(float(w.sum()), 1.0, rel_tol=1e-6):
        raise ValueError(f"weights must be finite, >= 0 and sum to 1, got {w.tolist()}")
    return (weights if isinstance(weights, torch.Tensor) else w).to(like.dtype)


def multi_teacher_kd(
    logits_student: torch.Tensor,
    teacher_logits_list: Sequence[torch.Tensor],
    temperature: float,
    weights=None,
    combine: str = "probs",
) -> torch.Tensor:
    """Distillation from K teachers at temperature T, ``T²``-scaled and averaged over the batch (0-d tensor).

    logits_student (Tensor[N, C]); teacher_logits_list (a list or tuple of K >= 1 Tensor[N, C]);
    temperature T > 0 (finite); weights (None: 1/K each; else K finite values >= 0 summing to 1, a sequence
    or Tensor[K]); combine: ``"probs"``: ``T²·mean_i KL(Σ_k w_k p_k ‖ p_s)``, the KL to the weighted mean of
    the teachers' softened distributions; ``"losses"``: ``T²·Σ_k w_k mean_i KL(p_k ‖ p_s)``. The second is
    never smaller (see the module docstring); with one teacher both equal ``distillation_loss`` at α = 1.
    """
    check_tensor(logits_student, "logits_student", ndims=(2,), kind="float")
    if not isinstance(teacher_logits_list, (list, tuple)) or not teacher_logits_list:
        raise TypeError(
            f"teacher_logits_list must be a non-empty list or tuple of Tensor[N, C], got "
            f"{type(teacher_logits_list).__name__} {_short(teacher_logits_list)}"
        )
    pairs = [
        _pair(logits_student, t, ("logits_student", f"teacher_logits_list[{k}]"))
        for k, t in enumerate(teacher_logits_list)
    ]
    dtype = pairs[0][0].dtype
    for _, t in pairs:
        dtype = torch.promote_types(dtype, t.dtype)
    if isinstance(weights, torch.Tensor) and weights.is_floating_point():
        dtype = torch.promote_types(dtype, weights.dtype)  # as torch promotes w·p
    T = _temperature(temperature)
    w = _teacher_weights(weights, len(pairs), logits_student.to(dtype))
    mode = check_choice(combine, "combine", ("probs", "losses"))
    log_q = torch.log_softmax(logits_student.to(dtype) / T, 1)  # [N, C]
    log_p = torch.stack([torch.log_softmax(t.to(dtype) / T, 1) for _, t in pairs])  # [K, N, C]
    if mode == "probs":
        log_mean = torch.logsumexp(log_p + torch.log(w)[:, None, None], 0)  # log Σ_k w_k p_k, [N, C]
        kl = _kl_rows(log_mean, log_q)  # [N]
    else:
        kl = (w[:, None] * torch.stack([_kl_rows(lp, log_q) for lp in log_p])).sum(0)  # [N]
    return T * T * kl.mean()
