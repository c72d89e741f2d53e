"""The focal-loss explorer (Chapter 5): loss and gradient against p_t for γ and α, and where the
total loss of a synthetic, heavily imbalanced detection-like batch comes from.

Integer, bool and complex tensors are refused where a floating tensor is needed, and mixed dtypes are
refused (torchvision promotes them)."""

from __future__ import annotations

import torch

from .._checks import check_float, check_int, check_probability, check_same, check_tensor
from ..losses import binary_cross_entropy_with_logits, sigmoid_focal_loss
from ._html import animate, axes_or_new, check_axes, check_seed, check_sequence, show

__all__ = ["focal_curves", "imbalanced_batch", "loss_shares", "plot_focal", "focal_explorer", "focal_animation"]


def _check_gamma_alpha(gamma, alpha) -> tuple[float, float]:
    """γ: a finite number >= 0; α: a number <= 1, where α < 0 switches the α_t weighting off (torchvision's
    ``alpha=-1``)."""
    gamma = check_float(gamma, "gamma", 0.0, allow_inf=False)
    alpha = check_float(alpha, "alpha", maximum=1.0)
    return gamma, alpha


def focal_curves(gamma: float, alpha: float, n: int = 199) -> dict:
    """Loss and |∂loss/∂logit| of one positive example as functions of p_t (Tensor[n] each, float64, ``n >= 2``),
    for FL(γ, α) and CE. γ >= 0 finite, α <= 1 (α < 0: no α weighting)."""
    gamma, alpha = _check_gamma_alpha(gamma, alpha)
    n = check_int(n, "n", 2)
    p_t = torch.linspace(0.005, 0.995, n, dtype=torch.float64)
    x = torch.log(p_t / (1 - p_t)).requires_grad_()                  # a positive: p_t = p = σ(x)
    y = torch.ones_like(p_t)
    fl = sigmoid_focal_loss(x, y, alpha, gamma)
    (g,) = torch.autograd.grad(fl.sum(), x)
    ce = binary_cross_entropy_with_logits(x.detach(), y, reduction="none")
    return dict(p_t=p_t, focal=fl.detach(), ce=ce, grad=g.abs(), factor=(1 - p_t) ** gamma)


def imbalanced_batch(n: int = 100_000, positive_fraction: float = 0.001, hard_fraction: float = 0.01,
                     seed: int = 0):
    """Logits and targets like the anchors of one image for a one-stage detector part-way through
    training (RetinaNet, Lin et al. 2017, sums its loss over ~100k anchors per image; the defaults make
    100 of them positive):
    ``positive_fraction`` of the anchors are positives with logits N(0, 1.5²), ``hard_fraction`` are
    hard negatives near objects, N(-1, 1), and all the rest are easy background, N(-5, 1) (p ≈ 0.007).

    Returns: (logits Tensor[n], targets Tensor[n]), float64, positives first, then hard, then easy.
    ``n >= 2``; the fractions in [0, 1]; ``seed`` an int in [0, 2**64 - 1]."""
    n = check_int(n, "n", 2)
    positive_fraction = check_probability(positive_fraction, "positive_fraction")
    hard_fraction = check_probability(hard_fraction, "hard_fraction")
    seed = check_seed(seed)
    n_pos = max(1, int(n * positive_fraction))
    n_hard = int(n * hard_fraction)
    if n_pos + n_hard >= n:
        raise ValueError(f"positive_fraction + hard_fraction must leave easy negatives, got {positive_fraction!r} "
                         f"and {hard_fraction!r} for n={n!r}")
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(n_pos, generator=g, dtype=torch.float64) * 1.5
    hard = torch.randn(n_hard, generator=g, dtype=torch.float64) - 1.0
    easy = torch.randn(n - n_pos - n_hard, generator=g, dtype=torch.float64) - 5.0
    targets = torch.cat([torch.ones(n_pos), torch.zeros(n - n_pos)]).double()
    return torch.cat([pos, hard, easy]), targets


def _check_batch(logits, targets):
    check_tensor(logits, "logits", kind="float")
    check_tensor(targets, "targets", kind="float")
    check_same(logits, "logits", targets, "targets")
    if logits.shape != targets.shape:
        raise ValueError(f"logits and targets must have the same shape, got {tuple(logits.shape)} and "
                         f"{tuple(targets.shape)}")
    if bool(((targets < 0) | (targets > 1) | targets.isnan()).any()):
        raise ValueError(f"targets must hold values in [0, 1] (no NaN), got values from {targets.min().item()!r} "
                         f"to {targets.max().item()!r}")


def _batch_terms(logits, targets, easy: float) -> dict:
    """Everything of :func:`loss_shares` that does not depend on γ and α, computed once per batch (checked by
    :func:`_check_batch`): ``sigmoid_focal_loss``'s -log p_t (``ce``), 1 - p_t and the α_t pieces, op for op as it
    computes them, and the positions of the three groups."""
    easy = check_probability(easy, "easy")
    logits, targets = logits.flatten(), targets.flatten()
    p = torch.sigmoid(logits)
    ce = (1 - targets) * logits - torch.nn.functional.logsigmoid(logits)   # as sigmoid_focal_loss computes them
    negatives = 1 - targets
    p_t = p * targets + (1 - p) * negatives
    pos, group_p_t = targets > 0, torch.where(targets > 0, p, 1 - p)
    groups = [m.nonzero().squeeze(1) for m in (pos, ~pos & (group_p_t < easy), ~pos & (group_p_t >= easy))]
    return dict(ce=ce, base=1 - p_t, targets=targets, negatives=negatives, groups=groups)


def _shares(terms: dict, gamma: float, alpha: float) -> dict:
    """:func:`loss_shares` from :func:`_batch_terms`: the loss is ``sigmoid_focal_loss``'s, bit for bit."""
    gamma, alpha = _check_gamma_alpha(gamma, alpha)
    if not (0 <= alpha <= 1 or alpha == -1):                         # sigmoid_focal_loss's rule
        raise ValueError(f"Invalid alpha value: alpha must be in [0, 1] or -1 (no weighting), got {alpha!r}")
    loss = terms["ce"] * (terms["base"] ** gamma)
    if alpha >= 0:                                                   # α = -1: no α_t weighting
        loss = (alpha * terms["targets"] + (1 - alpha) * terms["negatives"]) * loss
    total = loss.sum()
    pos, hard, easy = (loss.index_select(0, i).sum() / total for i in terms["groups"])
    return dict(positives=pos.item(), hard_negatives=hard.item(), easy_negatives=easy.item(),
                easy_count=len(terms["groups"][2]), total=total.item())


def loss_shares(logits, targets, gamma: float, alpha: float, easy: float = 0.9) -> dict:
    """Share of the total loss (``torchvision.ops.sigmoid_focal_loss``) from positives (target > 0), hard
    negatives and easy negatives (p_t >= ``easy``, in [0, 1]).

    Args: logits (Tensor[*], floating), targets (Tensor[*], same shape and dtype, values in [0, 1]); γ, α as in
    :func:`focal_curves`. Returns a dict of the three shares (NaN when the total loss is 0), the number of easy
    negatives and the total. NaN logits give NaN shares, as the loss does. Deliberate differences from
    torchvision, which computes with any of them: targets outside [0, 1] (or NaN), γ < 0 or non-finite, α > 1 or
    NaN, and ``easy`` outside [0, 1] are refused.
    """
    _check_batch(logits, targets)
    _check_gamma_alpha(gamma, alpha)
    return _shares(_batch_terms(logits, targets, easy), gamma, alpha)


def _draw_focal(gamma: float, alpha: float, terms: dict, ce_s: dict, axes):
    fl_s = _shares(terms, gamma, alpha)
    c = focal_curves(gamma, alpha)
    axes = axes_or_new(axes, 3, (11, 3.2))
    for ax in axes:
        ax.clear()
    a = alpha if alpha >= 0 else 1.0
    axes[0].plot(c["p_t"], c["ce"], "k--", label="CE")
    axes[0].plot(c["p_t"], c["focal"], label=f"FL gamma={gamma:g}, alpha={alpha:g}")
    axes[0].set_xlabel("p_t")
    axes[0].set_ylabel("loss (positive example)")
    axes[0].set_ylim(0, 5 * a + 0.2)
    axes[0].legend(fontsize=7)
    axes[1].plot(c["p_t"], c["grad"])
    axes[1].set_xlabel("p_t")
    axes[1].set_ylabel("|d loss / d logit|")
    keys = ["positives", "hard_negatives", "easy_negatives"]
    xs = torch.arange(3)
    axes[2].bar(xs - 0.2, [ce_s[k] for k in keys], 0.4, label="CE")
    axes[2].bar(xs + 0.2, [fl_s[k] for k in keys], 0.4, label="FL")
    axes[2].set_xticks(xs.tolist(), ["positives", "hard neg.", "easy neg."], fontsize=8)
    axes[2].set_ylabel("share of total loss")
    axes[2].legend(fontsize=7)
    axes[0].figure.suptitle(f"focal loss: gamma={gamma:g}, alpha={alpha:g}", fontsize=9)
    return axes


def _prepared(batch) -> tuple[dict, dict]:
    """What every view of one batch shares: its :func:`_batch_terms` and its CE shares (γ = 0, no α)."""
    _check_batch(*batch)
    terms = _batch_terms(*batch, 0.9)
    return terms, _shares(terms, 0.0, -1)


def plot_focal(gamma: float, alpha: float, batch=None, axes=None):
    """Loss vs p_t, gradient vs p_t, and the loss shares of an imbalanced ``batch`` ((logits, targets) as
    :func:`imbalanced_batch` returns; None: the default one) on ``axes`` (three Axes, or None). Returns the axes."""
    gamma, alpha = _check_gamma_alpha(gamma, alpha)
    if batch is not None and (not isinstance(batch, (tuple, list)) or len(batch) != 2):
        raise TypeError(f"batch must be a pair (logits, targets) or None, got {type(batch).__name__}")
    check_axes(axes, "axes", 3)
    return _draw_focal(gamma, alpha, *_prepared(batch if batch is not None else imbalanced_batch()), axes)


def focal_explorer():
    """Live explorer (an ``ipywidgets.VBox``) with γ and α sliders (α < 0 switches the α weighting off)."""
    import ipywidgets as W

    controls = dict(gamma=W.FloatSlider(2.0, min=0.0, max=5.0, step=0.5, description="gamma"),
                    alpha=W.FloatSlider(0.25, min=-0.05, max=1.0, step=0.05, description="alpha"))
    out = W.Output()
    prepared = _prepared(imbalanced_batch())                         # the batch's setting-free part, once

    def redraw(_=None):
        gamma, alpha = _check_gamma_alpha(controls["gamma"].value, controls["alpha"].value)
        alpha = -1 if alpha < 0 else alpha                           # the slider's α < 0: no α weighting
        show(out, _draw_focal(gamma, alpha, *prepared, None)[0].figure)

    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox(list(controls.values())), out])


def focal_animation(gammas=(0.0, 0.5, 1.0, 2.0, 3.0, 5.0), alpha: float = 0.25) -> str:
    """Kernel-free explorer: one frame per γ of ``gammas``. Returns self-contained HTML."""
    gammas = check_sequence(gammas, "gammas", lambda g, name: check_float(g, name, 0.0, allow_inf=False))
    _check_gamma_alpha(0.0, alpha)
    prepared = _prepared(imbalanced_batch())
    return animate(lambda i, axes: _draw_focal(gammas[i], alpha, *prepared, axes), len(gammas), 3, (11, 3.2),
                   adjust=dict(wspace=0.35, bottom=0.18))
