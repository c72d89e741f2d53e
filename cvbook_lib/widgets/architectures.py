"""The architecture explorer (Chapter 11): a model of the book, an input resolution and a width multiplier →
per-stage parameters, MACs, activation memory and receptive field, measured by :func:`cvbook_lib.profile.profile`.

Models are built on the ``meta`` device (shapes only, no weights are allocated), every one once when the explorer
is constructed; a new setting then costs one profiled pass, tens of milliseconds."""

from __future__ import annotations

import functools

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .. import models
from .._checks import check_choice, check_float, check_int
from ..profile import profile
from ._html import animate, axes_or_new, check_axes, check_view, show

__all__ = ["ARCHITECTURES", "arch_view", "plot_arch_view", "arch_explorer", "arch_animation"]

# name → (builder, takes a width multiplier, the depth of the names that are its stages)
ARCHITECTURES = {
    "alexnet": (models.alexnet, False, 1), "vgg16": (models.vgg16, False, 1),
    "googlenet": (models.googlenet, False, 1), "resnet18": (models.resnet18, False, 1),
    "resnet50": (models.resnet50, False, 1), "densenet121": (models.densenet121, False, 2),
    "mobilenet_v1": (models.mobilenet_v1, True, 1), "mobilenet_v2": (models.mobilenet_v2, True, 2),
    "mobilenet_v3_large": (models.mobilenet_v3_large, False, 2),
    "shufflenet_v2_x1_0": (models.shufflenet_v2_x1_0, False, 1),
}


WIDTHS = tuple(0.25 * i for i in range(1, 9))  # the explorer's width slider
_INIT_OPS = {torch.ops.aten.uniform_.default, torch.ops.aten.normal_.default, torch.ops.aten.fill_.Scalar,
             torch.ops.aten.zero_.default}


class _SkipInit(TorchDispatchMode):
    """Meta tensors hold no values: filling them (the models' weight initialisation, run by torch's Python meta
    kernels) only costs time, most of building a model on the meta device."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in _INIT_OPS and isinstance(args[0], torch.Tensor) and args[0].device.type == "meta":
            return args[0]
        return func(*args, **(kwargs or {}))


@functools.cache
def _model(name: str, width_mult: float):
    """The model on the meta device (shapes only): one per (name, width), whatever the resolution."""
    build, takes_width, _ = ARCHITECTURES[name]
    with torch.device("meta"), _SkipInit():
        return build(width_mult=width_mult) if takes_width else build()


def _build_models():
    """Every model the explorer can show (~0.5 s in all), built once when it is constructed."""
    for name, (_, takes_width, _) in ARCHITECTURES.items():
        for width in WIDTHS if takes_width else (1.0,):
            _model(name, width)


@functools.lru_cache(maxsize=16)
def _profiled(name: str, resolution: int, width_mult: float):
    return profile(_model(name, width_mult), resolution), ARCHITECTURES[name][2]


def arch_view(name: str, resolution: int = 224, width_mult: float = 1.0) -> dict:
    """Everything the figure shows. name: one of :data:`ARCHITECTURES`; resolution: the input side, int in
    [32, 512]; width_mult: float in [0.25, 2] (only MobileNet v1/v2 take one; the others need 1.0).

    Returns dict(name, resolution, width_mult, stages: list of dict(name, params, macs, activation_bytes, rf,
    output_shape) per stage, params, macs, activation_bytes (totals), rf_stopped_at).
    """
    check_choice(name, "name", tuple(ARCHITECTURES))
    resolution = check_int(resolution, "resolution", 32, 512)
    width_mult = check_float(width_mult, "width_mult", 0.25, 2.0)
    if not ARCHITECTURES[name][1] and width_mult != 1.0:
        raise ValueError(f"width_mult must be 1.0 for {name} (only mobilenet_v1 and mobilenet_v2 take one), "
                         f"got {width_mult}")
    prof, depth = _profiled(name, resolution, width_mult)
    stages = [dict(name=r.name or "(model)", params=r.params, macs=r.macs, activation_bytes=r.activation_bytes,
                   rf=r.rf, output_shape=r.output_shape) for r in prof.summary(depth)]
    return dict(name=name, resolution=resolution, width_mult=width_mult, stages=stages, params=prof.params,
                macs=prof.macs, activation_bytes=prof.activation_bytes, rf_stopped_at=prof.rf_stopped_at)


def plot_arch_view(view: dict, axes=None):
    """Three bar charts over the stages: parameters, MACs and activation memory. ``view``: what
    :func:`arch_view` returned; ``axes``: three Axes or None. Returns the axes."""
    check_view(view, "view", ("name", "resolution", "width_mult", "stages", "params", "macs", "activation_bytes"))
    check_axes(axes, "axes", 3)
    axes = axes_or_new(axes, 3, (11, 3.6))
    labels = [s["name"].split(".")[-1] for s in view["stages"]]
    for ax, key, scale, unit in ((axes[0], "params", 1e6, "M params"), (axes[1], "macs", 1e6, "M MACs"),
                                 (axes[2], "activation_bytes", 2**20, "MiB activations")):
        ax.clear()
        ax.bar(range(len(labels)), [s[key] / scale for s in view["stages"]], color="#4c72b0")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=90, fontsize=6)
        ax.set_title(f"{unit} (total {view[key] / scale:,.1f})", fontsize=9)
    axes[0].figure.suptitle(f"{view['name']} at {view['resolution']}x{view['resolution']}, width x{view['width_mult']}",
                            fontsize=9)
    axes[0].figure.subplots_adjust(bottom=0.35, wspace=0.3)
    return axes


def arch_explorer(name: str = "mobilenet_v2"):
    """Live explorer (an ``ipywidgets.VBox``): model, resolution and width multiplier."""
    import ipywidgets as W

    check_choice(name, "name", tuple(ARCHITECTURES))
    controls = dict(name=W.Dropdown(options=list(ARCHITECTURES), value=name, description="model"),
                    resolution=W.IntSlider(224, 32, 512, 32, description="resolution"),
                    width_mult=W.FloatSlider(1.0, min=WIDTHS[0], max=WIDTHS[-1], step=0.25, description="width"))
    out = W.Output()
    _build_models()

    def redraw(_=None):
        c = {k: w.value for k, w in controls.items()}
        try:
            view = arch_view(c["name"], c["resolution"], c["width_mult"])
        except ValueError as err:
            show(out, text=str(err))
            return
        show(out, plot_arch_view(view)[0].figure)

    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox(list(controls.values())), out])


def arch_animation(name: str = "mobilenet_v2", resolutions=(96, 128, 160, 192, 224, 256)) -> str:
    """Kernel-free explorer: one frame per input resolution. Returns self-contained HTML."""
    check_choice(name, "name", tuple(ARCHITECTURES))
    if not isinstance(resolutions, (list, tuple)) or not resolutions:
        raise TypeError(f"resolutions must be a non-empty list or tuple of ints, got {resolutions!r:.80}")
    resolutions = [check_int(r, "resolutions", 32, 512) for r in resolutions]
    views = [arch_view(name, r) for r in resolutions]
    return animate(lambda i, axes: plot_arch_view(views[i], axes), len(views), 3, (11, 3.6), fps=1)
