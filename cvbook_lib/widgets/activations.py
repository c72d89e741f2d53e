"""The activation explorer (Chapter 4): an activation and its derivative over an input range, and
how the gradient magnitude changes through a deep stack of layers using it."""

from __future__ import annotations

import torch

from .. import activations as A
from .._checks import check_choice, check_float, check_int
from ._draws import normal_draws
from ._html import animate, axes_or_new, check_axes, check_seed, show

__all__ = ["activation_curves", "gradient_through_depth", "plot_activation", "activation_explorer",
           "activation_animation"]


def _check_range(lo, hi) -> tuple[float, float]:
    lo, hi = check_float(lo, "lo", allow_inf=False), check_float(hi, "hi", allow_inf=False)
    if not lo < hi:
        raise ValueError(f"lo must be < hi, got lo={lo!r} and hi={hi!r}")
    return lo, hi


def activation_curves(name: str, lo: float = -5.0, hi: float = 5.0, n: int = 401):
    """(x, f(x), f'(x)), each Tensor[n] float64, on ``n >= 2`` points of [lo, hi] (finite, lo < hi)."""
    check_choice(name, "name", tuple(A.ACTIVATIONS))
    lo, hi = _check_range(lo, hi)
    n = check_int(n, "n", 2)
    f, df = A.ACTIVATIONS[name]
    x = torch.linspace(lo, hi, n, dtype=torch.float64)
    return x, f(x), df(x)


# f' from the output f(z) where the derivative functions compute f(z) first: the same operations, so the same bits
_FROM_OUTPUT = {"sigmoid": lambda z, s: s * (1 - s), "tanh": lambda z, t: 1 - t ** 2}
def _mlp_draws(width: int, batch: int, seed: int, gain: float, depth: int):
    """h_0 ~ N(0, 1) [batch, width] and W_1..W_depth ~ N(0, gain²/width) from ``normal_draws`` (drawn one after the
    other from ``Generator(seed)``): the first ``depth`` layers of one network. They do not depend on the activation:
    kept and extended, not drawn again for every view."""
    h, zs = normal_draws(width, batch, seed, depth)
    return h, [z * gain / width ** 0.5 for z in zs]


def gradient_through_depth(name: str, depth: int = 20, width: int = 64, batch: int = 128, gain: float = 1.0,
                           seed: int = 0):
    """Mean |∂L/∂h_l| at the input of every layer of an MLP ``depth`` layers deep, each layer
    ``h -> f(W h)`` with W ~ N(0, gain²/width), L = sum of the last layer's outputs.
    Returns Tensor[depth], index 0 = first layer: how much gradient reaches each depth. The backward pass is
    the chain rule written out, ∂L/∂h_{l-1} = (∂L/∂h_l ⊙ f'(z_l)) W_lᵀ with the derivative f' of
    :mod:`cvbook_lib.activations` (autograd's values), so no graph is built.
    ``gain`` is a finite number > 0, ``seed`` an int in [0, 2**64 - 1]."""
    check_choice(name, "name", tuple(A.ACTIVATIONS))
    depth, width, batch = check_int(depth, "depth", 1), check_int(width, "width", 1), check_int(batch, "batch", 1)
    gain = check_float(gain, "gain", 0.0, min_open=True, allow_inf=False)
    f, grad = A.ACTIVATIONS[name]
    df = _FROM_OUTPUT.get(name, lambda z, out: grad(z))
    h, weights = _mlp_draws(width, batch, check_seed(seed), gain, depth)
    with torch.no_grad():                                            # the chain rule by hand, no graph:
        pre = []                                                     # z_l = h_{l-1} W_l, h_l = f(z_l)
        for w in weights:
            z = h @ w
            h = f(z)
            pre.append((z, h, w))
        grads, upstream = [], torch.ones_like(h)                     # ∂L/∂h_depth = 1
        for z, out, w in reversed(pre):                              # ∂L/∂h_{l-1} = (∂L/∂h_l ⊙ f'(z_l)) W_l^T
            upstream = (upstream * df(z, out)) @ w.T
            grads.append(upstream.abs().mean())
    return torch.stack(grads[::-1])


def plot_activation(name: str, lo: float = -5.0, hi: float = 5.0, depth: int = 20, axes=None):
    """Left: f and f'. Right: mean |gradient| reaching each layer (log scale). ``axes``: two matplotlib
    Axes, or None for a new figure. Returns the axes."""
    check_axes(axes, "axes", 2)
    x, y, dy = activation_curves(name, lo, hi)
    grads = gradient_through_depth(name, depth)
    ax, bx = axes = axes_or_new(axes, 2, (9, 3.3))
    ax.clear()
    bx.clear()
    ax.plot(x, y, label=f"{name}(x)")
    ax.plot(x, dy, "--", label="derivative")
    ax.axhline(0, color="gray", lw=0.5)
    ax.legend(fontsize=8)
    ax.set_xlabel("x")
    ax.set_title(name, fontsize=9)
    bx.semilogy(range(1, depth + 1), grads, "o-", ms=3)
    bx.set_xlabel("layer (1 = closest to the input)")
    bx.set_ylabel("mean |gradient|")
    bx.set_title(f"gradient through {depth} layers", fontsize=9)
    return axes


def activation_explorer():
    """Live explorer: activation, input range and depth (an ``ipywidgets.VBox``)."""
    import ipywidgets as W

    controls = dict(name=W.Dropdown(options=list(A.ACTIVATIONS), value="sigmoid", description="activation"),
                    rng=W.FloatRangeSlider(value=(-5.0, 5.0), min=-10.0, max=10.0, step=0.5, description="x range"),
                    depth=W.IntSlider(20, 2, 50, description="depth"))
    out = W.Output()
    _mlp_draws(64, 128, 0, 1.0, controls["depth"].max)             # the deepest network, drawn once

    def redraw(_=None):
        lo, hi = controls["rng"].value
        if not lo < hi:
            show(out, text="choose a range with lo < hi")
            return
        show(out, plot_activation(controls["name"].value, lo, hi, controls["depth"].value)[0].figure)

    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox(list(controls.values())), out])


def activation_animation(depth: int = 20) -> str:
    """Kernel-free explorer: one frame per activation. Returns self-contained HTML."""
    depth = check_int(depth, "depth", 1)
    names = list(A.ACTIVATIONS)
    return animate(lambda i, axes: plot_activation(names[i], depth=depth, axes=axes), len(names), 2, (9, 3.3),
                   adjust=dict(bottom=0.18, wspace=0.3))
