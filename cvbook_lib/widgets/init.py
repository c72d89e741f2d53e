"""The initialization explorer (Chapter 8): depth, init scheme and activation -> the distribution of
activations and of gradients at every layer of a deep MLP."""

from __future__ import annotations

import torch

from .. import activations as A
from .. import init as I
from .._checks import check_choice, check_int
from ._draws import normal_draws
from ._html import animate, axes_or_new, check_axes, check_seed, check_sequence, check_view, show

__all__ = ["INITS", "layer_statistics", "plot_layer_statistics", "init_explorer", "init_animation"]

INITS = {
    "N(0, 0.01^2)": lambda w, g: torch.nn.init.normal_(w, 0.0, 0.01, generator=g),
    "N(0, 1)": lambda w, g: torch.nn.init.normal_(w, 0.0, 1.0, generator=g),
    "Xavier (Glorot) normal": lambda w, g: I.xavier_normal_(w, generator=g),
    "He (Kaiming) normal": lambda w, g: I.kaiming_normal_(w, nonlinearity="relu", generator=g),
}
_ACTS = ("tanh", "relu", "sigmoid", "linear")
# The std each of INITS draws its N(0, std²) with (normal_(0, std) fills exactly std · randn: tested)
_STD = {
    "N(0, 0.01^2)": lambda w: 0.01,
    "N(0, 1)": lambda w: 1.0,
    "Xavier (Glorot) normal": lambda w: I._xavier_std(w, 1.0, None),
    "He (Kaiming) normal": lambda w: I._kaiming_std(w, 0, "fan_in", "relu", None),
}
# f' from the output f(z), as cvbook_lib.activations computes it (tanh' = 1 - tanh², σ' = σ(1 - σ))
# (relu'(relu(z)) = relu'(z), NaN included: the output is all the backward pass needs)
_DERIVATIVE = {"tanh": lambda t: 1 - t ** 2, "sigmoid": lambda s: s * (1 - s), "relu": A.relu_grad, "linear": None}
# The live explorer's batch: 32 x 256 = 8192 activations per layer for its histograms and statistics (the default
# 512 costs ~16x more per view: too slow for a slider)
EXPLORER_BATCH = 32
def _draws(width: int, batch: int, seed: int, depth: int):
    """h_0 and the standard normals Z_1..Z_depth of ``normal_draws``: layer l's weights are std · Z_l for every init
    of INITS. They depend neither on the init nor on the activation."""
    return normal_draws(width, batch, seed, depth)


def layer_statistics(init: str, activation: str, depth: int = 10, width: int = 256, batch: int = 512,
                     seed: int = 0) -> dict:
    """Forward a random batch through ``depth`` layers h -> f(W h) (W initialised by ``init``), backprop
    the sum of the outputs (the chain rule written out, with the derivatives of :mod:`cvbook_lib.activations`:
    autograd's values), and return per layer the activations and the gradients w.r.t. them
    (``acts``, ``grads``: lists of Tensor[batch, width]; ``act_std``, ``grad_mag``: Tensor[depth]).
    ``depth``, ``batch`` >= 1, ``width`` >= 2, ``seed`` an int in [0, 2**64 - 1]."""
    check_choice(init, "init", tuple(INITS))
    check_choice(activation, "activation", _ACTS)
    depth, width, batch = check_int(depth, "depth", 1), check_int(width, "width", 2), check_int(batch, "batch", 1)
    f = (lambda t: t) if activation == "linear" else A.ACTIVATIONS[activation][0]
    df = _DERIVATIVE[activation]
    h, zs = _draws(width, batch, check_seed(seed), depth)
    with torch.no_grad():                                            # the chain rule by hand, no graph
        std = _STD[init](zs[0])                                      # layer l's weights: W_l = std · Z_l
        outs = []
        for z in zs:                                                 # h_l = f(h_{l-1} W_lᵀ)
            h = f((h @ z.T) * std)
            outs.append(h)
        grads = [torch.ones_like(h)]                                 # ∂L/∂h_depth = 1 for L = sum of h_depth
        for out, z in zip(outs[:0:-1], zs[:0:-1]):
            up = grads[-1] if df is None else grads[-1] * df(out)
            grads.append((up @ z) * std)                             # ∂L/∂h_{l-1} = (∂L/∂h_l ⊙ f'(z_l)) W_l
        grads.reverse()
    return dict(acts=outs, grads=grads, init=init, activation=activation,
                act_std=torch.stack([o.std() for o in outs]), grad_mag=torch.stack([g.abs().mean() for g in grads]))

def plot_layer_statistics(stats: dict, axes=None, layers=None):
    """Histograms of activations at a few layers, and per layer the std of the activations and the mean
    |gradient| reaching them. ``stats``: what :func:`layer_statistics` returned; ``layers``: the layer indices
    whose histograms are drawn (None: four spread over the depth); ``axes``: two Axes or None. Returns the axes."""
    check_view(stats, "stats", ("acts", "act_std", "grad_mag", "init", "activation"))
    depth = len(stats["acts"])
    if layers is not None:
        layers = check_sequence(layers, "layers", lambda i, name: check_int(i, name, 0, depth - 1))
    check_axes(axes, "axes", 2)
    ax, bx = axes = axes_or_new(axes, 2, (10, 3.3))
    ax.clear()
    bx.clear()
    layers = layers or sorted({0, depth // 3, 2 * depth // 3, depth - 1})
    for i in layers:
        a = stats["acts"][i].flatten()
        lim = float(a.abs().max()) or 1.0
        ax.hist(a.clamp(-lim, lim).numpy(), bins=60, histtype="step", density=True, label=f"layer {i + 1}")
    ax.set_title("activations", fontsize=9)
    ax.legend(fontsize=7)
    bx.semilogy(range(1, depth + 1), stats["act_std"].clamp_min(1e-300), "o-", ms=3, label="std of activations")
    bx.semilogy(range(1, depth + 1), stats["grad_mag"].clamp_min(1e-300), "s-", ms=3, label="mean |gradient|")
    bx.set_xlabel("layer")
    bx.legend(fontsize=7)
    ax.figure.suptitle(f"{stats['init']} + {stats['activation']}", fontsize=9)
    return axes


def init_explorer():
    """Live explorer (an ``ipywidgets.VBox``): depth, initialization, activation; a batch of
    :data:`EXPLORER_BATCH` inputs of width 256."""
    import ipywidgets as W

    controls = dict(init=W.Dropdown(options=list(INITS), value="Xavier (Glorot) normal", description="init"),
                    activation=W.Dropdown(options=list(_ACTS), value="tanh", description="activation"),
                    depth=W.IntSlider(10, 2, 30, description="depth"))
    out = W.Output()
    _draws(256, EXPLORER_BATCH, 0, controls["depth"].max)            # the deepest network's draws, once

    def redraw(_=None):
        c = {k: w.value for k, w in controls.items()}
        stats = layer_statistics(c["init"], c["activation"], c["depth"], batch=EXPLORER_BATCH)
        show(out, plot_layer_statistics(stats)[0].figure)

    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox(list(controls.values())), out])


def init_animation(depth: int = 10) -> str:
    """Kernel-free explorer: one frame per (init, activation) pair. Returns self-contained HTML."""
    depth = check_int(depth, "depth", 1)
    pairs = [(i, a) for a in ("tanh", "relu") for i in INITS]
    stats = [layer_statistics(i, a, depth, width=128, batch=256) for i, a in pairs]
    return animate(lambda k, axes: plot_layer_statistics(stats[k], axes), len(stats), 2, (10, 3.3),
                   adjust=dict(wspace=0.3, bottom=0.15))
