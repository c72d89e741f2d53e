"""The quantization explorer (chapter 13): weight-only quantization of a trained model.

Bits, scheme (symmetric / affine), granularity (per tensor / per output channel) and calibration
(min-max / percentile clipping) → the chosen layer's weight histogram with the quantization grid, the
error of every layer, and the model's accuracy with every conv/linear weight fake-quantized (the
activations stay in float). Built on :mod:`cvbook_lib.compress.quant`.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn

from .._checks import check_choice, check_float, check_int, check_tensor
from ..compress.lab import accuracy
from ..compress.quant import calculate_qparams, fake_quantize, fake_quantize_per_channel
from ._html import animate, axes_or_new, check_axes, check_view, show

__all__ = ["quantizable_layers", "quantize_weight", "quant_view", "plot_quant_view", "quant_explorer",
           "quant_animation"]

_SCHEMES = {("symmetric", "per-tensor"): torch.per_tensor_symmetric, ("affine", "per-tensor"): torch.per_tensor_affine,
            ("symmetric", "per-channel"): torch.per_channel_symmetric,
            ("affine", "per-channel"): torch.per_channel_affine}


def quantizable_layers(model: nn.Module) -> list[str]:
    """Names of the model's Conv2d and Linear layers, in order (the weights the explorer quantizes)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def quantize_weight(weight: torch.Tensor, bits: int = 8, scheme: str = "symmetric", granularity: str = "per-tensor",
                    calibration: str = "minmax", percentile: float = 99.9) -> tuple[torch.Tensor, torch.Tensor,
                                                                                     torch.Tensor]:
    """Fake-quantize one weight tensor (output channels on dim 0) to ``bits`` bits.

    Symmetric: the signed grid -2^(b-1) .. 2^(b-1) - 1 with zero point 0; affine: 0 .. 2^b - 1 with a zero
    point. Returns (the dequantized weight, scale Tensor[1] or [C_out], zero_point like scale).
    """
    check_tensor(weight, "weight", kind="float", min_ndim=2)
    bits = check_int(bits, "bits", 2, 8)
    check_choice(scheme, "scheme", ("symmetric", "affine"))
    check_choice(granularity, "granularity", ("per-tensor", "per-channel"))
    check_choice(calibration, "calibration", ("minmax", "percentile"))
    percentile = check_float(percentile, "percentile", 50.0, 100.0)
    if weight.numel() == 0 or not bool(torch.isfinite(weight).all()):
        raise ValueError(f"weight must be a non-empty finite tensor, got shape {tuple(weight.shape)}")
    if scheme == "symmetric":
        dtype, qmin, qmax = torch.qint8, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        dtype, qmin, qmax = torch.quint8, 0, 2**bits - 1
    w = weight.detach()
    scale, zp = calculate_qparams(w, _SCHEMES[scheme, granularity], dtype, method=calibration, percentile=percentile,
                                  quant_min=qmin, quant_max=qmax)
    if granularity == "per-tensor":
        out = fake_quantize(w, float(scale), int(zp), qmin, qmax)
    else:
        out = fake_quantize_per_channel(w, scale, zp.int(), 0, qmin, qmax)
    return out, scale, zp


def quant_view(model: nn.Module, x: torch.Tensor, y: torch.Tensor, layer: str, bits: int = 8,
               scheme: str = "symmetric", granularity: str = "per-tensor", calibration: str = "minmax",
               percentile: float = 99.9) -> dict:
    """Everything the figure shows. ``model`` is not changed (a copy is quantized, in eval mode).

    Args: model with Conv2d/Linear layers; x (Tensor[N, ...]) and y (Tensor[N], class indices) for the
    accuracy; layer: one of :func:`quantizable_layers`; the rest as :func:`quantize_weight`.
    Returns dict(layer, bits, scheme, granularity, calibration, weight (the layer's weights, flat), levels
    (the grid values of the layer, or of its output channel 0 when per channel), clip (lo, hi) of that
    grid, sqnr_db {layer: 10·log10(‖w‖² / ‖w − ŵ‖²)}, accuracy_fp32, accuracy).
    """
    names = quantizable_layers(model)
    check_choice(layer, "layer", tuple(names))
    check_tensor(x, "x", kind="float", min_ndim=2)
    check_tensor(y, "y", ndims=(1,), kind="int")
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"x and y must have the same non-zero first dimension, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    args = (bits, scheme, granularity, calibration, percentile)
    quantize_weight(torch.ones(2, 2), *args)       # validates the settings before any work
    q_model = copy.deepcopy(model).eval()
    modules, sqnr, chosen = dict(q_model.named_modules()), {}, None
    for name in names:
        w = modules[name].weight
        wq, scale, zp = quantize_weight(w, *args)
        err = (w.detach() - wq).pow(2).sum().item()
        sqnr[name] = math.inf if err == 0 else 10 * math.log10(w.detach().pow(2).sum().item() / err)
        if name == layer:
            chosen = (w.detach().flatten().clone(), float(scale[0]), int(zp[0]))
        with torch.no_grad():
            w.copy_(wq)
    weight, s, z = chosen
    qmin, qmax = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if scheme == "symmetric" else (0, 2**bits - 1)
    levels = s * (torch.arange(qmin, qmax + 1, dtype=torch.float64) - z)
    fp32, acc = accuracy(model, x, y), accuracy(q_model, x, y)   # ValueError naming x if the model cannot take it
    return dict(layer=layer, bits=bits, scheme=scheme, granularity=granularity, calibration=calibration,
                weight=weight, levels=levels, clip=(float(levels[0]), float(levels[-1])), sqnr_db=sqnr,
                accuracy_fp32=fp32, accuracy=acc)


def plot_quant_view(view: dict, axes=None):
    """Left: the layer's weight histogram with the grid (every level when there are at most 64) and the clip
    range; right: each layer's SQNR in dB. ``view``: what :func:`quant_view` returned. Returns the axes."""
    check_view(view, "view", ("layer", "bits", "scheme", "granularity", "calibration", "weight", "levels", "clip",
                              "sqnr_db", "accuracy_fp32", "accuracy"))
    check_axes(axes, "axes", 2)
    axes = axes_or_new(axes, 2, (10, 3.6))
    ax, bx = axes
    ax.clear()
    bx.clear()
    w = view["weight"].cpu().numpy()
    ax.hist(w, bins=80, color="#4c72b0", alpha=0.8)
    if len(view["levels"]) <= 64:
        for v in view["levels"].tolist():
            ax.axvline(v, color="#dd8452", lw=0.6, alpha=0.7)
    for v in view["clip"]:
        ax.axvline(v, color="#c44e52", lw=1.5, ls="--")
    ch = " (channel 0)" if view["granularity"] == "per-channel" else ""
    ax.set_title(f"{view['layer']}: weights and the {view['bits']}-bit grid{ch}", fontsize=9)
    names = list(view["sqnr_db"])
    values = [min(v, 99.0) for v in view["sqnr_db"].values()]
    bx.barh(range(len(names)), values, color="#55a868")
    bx.set_yticks(range(len(names)), names, fontsize=8)
    bx.invert_yaxis()
    bx.set_xlabel("SQNR (dB)")
    bx.set_title(f"accuracy {view['accuracy']:.3f} (fp32 {view['accuracy_fp32']:.3f})", fontsize=9)
    ax.figure.suptitle(f"{view['scheme']}, {view['granularity']}, {view['calibration']}", fontsize=9)
    return axes


def quant_explorer(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """Live explorer (an ``ipywidgets.VBox``): layer, bits, scheme, granularity and calibration."""
    import ipywidgets as W

    names = quantizable_layers(model)
    if not names:
        raise ValueError("model must have at least one Conv2d or Linear layer")
    controls = dict(layer=W.Dropdown(options=names, description="layer"),
                    bits=W.IntSlider(8, 2, 8, description="bits"),
                    scheme=W.ToggleButtons(options=["symmetric", "affine"], description="scheme"),
                    granularity=W.ToggleButtons(options=["per-tensor", "per-channel"], description="granularity"),
                    calibration=W.ToggleButtons(options=["minmax", "percentile"], description="calibration"))
    out = W.Output()

    def redraw(_=None):
        c = {k: w.value for k, w in controls.items()}
        try:
            view = quant_view(model, x, y, **c)
        except ValueError as err:
            show(out, text=str(err))
            return
        show(out, plot_quant_view(view)[0].figure)

    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    items = list(controls.values())
    return W.VBox([W.HBox(items[:2]), W.HBox(items[2:4]), items[4], out])


def quant_animation(model: nn.Module, x: torch.Tensor, y: torch.Tensor, layer: str, scheme: str = "symmetric",
                    granularity: str = "per-tensor", calibration: str = "minmax", bits=(8, 6, 5, 4, 3, 2)) -> str:
    """Kernel-free explorer: one frame per bit width. Returns self-contained HTML."""
    if not isinstance(bits, (list, tuple)) or not bits:
        raise TypeError(f"bits must be a non-empty list or tuple of ints, got {bits!r:.80}")
    bits = [check_int(b, "bits", 2, 8) for b in bits]
    views = [quant_view(model, x, y, layer, b, scheme, granularity, calibration) for b in bits]
    return animate(lambda i, axes: plot_quant_view(views[i], axes), len(views), 2, (10, 3.6), fps=1)
