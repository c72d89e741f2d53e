"""The pooling explorer (Chapter 3): kernel, stride and mode over a small input with numbers.

Integer, bool and complex tensors are refused where a floating tensor is needed."""

from __future__ import annotations

import torch

from .. import pooling
from .._checks import check_choice, check_int, check_tensor
from ._html import animate, axes_or_new, check_axes, check_view, show


def _check_input(x, name: str = "x") -> torch.Tensor:
    check_tensor(x, name, ndims=(2,), kind="float")
    if x.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 2-D tensor, got shape {tuple(x.shape)}")
    return x

__all__ = ["pool_view", "plot_pool_view", "pool_explorer", "pool_animation"]


def pool_view(x: torch.Tensor, kernel_size: int, stride: int, mode: str = "max", position: int = 0) -> dict:
    """Everything the figure shows: output map, the window of output unit ``position`` (row-major)
    and, for max pooling, the input cell each output took its value from (NaN wins, as in ``F.max_pool2d``).

    Args: x (Tensor[H, W], floating, non-empty); ``kernel_size`` in [1, min(H, W)], ``stride`` >= 1;
    mode 'max' or 'avg'; position >= 0 (a negative one is refused, not counted from the end).
    Returns dict(x, out Tensor[H_out, W_out], mode, kernel_size, stride, position (row, col),
    window (r0, r1, c0, c1), argmax: list of (row, col) or None).
    """
    _check_input(x)
    kernel_size = check_int(kernel_size, "kernel_size", 1, min(x.shape))
    stride = check_int(stride, "stride", 1)
    check_choice(mode, "mode", ("max", "avg"))
    position = check_int(position, "position", 0)
    Ho, Wo = ((n - kernel_size) // stride + 1 for n in x.shape)
    if position >= Ho * Wo:
        raise ValueError(f"position must be < {Ho * Wo} (the output has {Ho}x{Wo} units), got {position}")
    x4 = x[None, None]
    if mode == "max":
        out, idx = pooling.max_pool2d(x4, kernel_size, stride, return_indices=True)
        argmax = [divmod(int(i), x.shape[1]) for i in idx.flatten()]
    else:
        out, argmax = pooling.avg_pool2d(x4, kernel_size, stride), None
    r, c = divmod(position, Wo)
    window = (r * stride, r * stride + kernel_size, c * stride, c * stride + kernel_size)
    return dict(x=x, out=out[0, 0], mode=mode, kernel_size=kernel_size, stride=stride, position=(r, c),
                window=window, argmax=argmax)


def plot_pool_view(view: dict, axes=None):
    """Input (numbers, window outlined, max cell marked) and output (current unit outlined). ``view``: what
    :func:`pool_view` returned; ``axes``: two Axes or None. Returns the axes."""
    from matplotlib.patches import Rectangle

    check_view(view, "view", ("x", "out", "mode", "kernel_size", "stride", "position", "window", "argmax"))
    check_axes(axes, "axes", 2)
    axes = axes_or_new(axes, 2, (8, 3.8))
    for ax, data, title in ((axes[0], view["x"], "input"), (axes[1], view["out"], f"{view['mode']} pool output")):
        ax.clear()
        lo, hi = float(view["x"].min()), float(view["x"].max())
        ax.imshow(data.detach().cpu().numpy(), cmap="Blues", vmin=lo, vmax=hi)
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                v = data[i, j].item()
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=8,
                        color="white" if v > (lo + hi) / 2 else "black")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=9)
    r0, r1, c0, c1 = view["window"]
    axes[0].add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, edgecolor="#ff8c42", lw=3))
    r, c = view["position"]
    axes[1].add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="#ff8c42", lw=3))
    if view["argmax"] is not None:
        i, j = view["argmax"][r * view["out"].shape[1] + c]
        axes[0].add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", lw=2, linestyle=":"))
    axes[0].figure.suptitle(f"kernel {view['kernel_size']}, stride {view['stride']}", fontsize=9)
    return axes


def pool_explorer(x: torch.Tensor):
    """Live explorer (an ``ipywidgets.VBox``) over a 2-D input (as :func:`pool_view` takes it): kernel,
    stride, mode and the output unit shown."""
    import ipywidgets as W

    _check_input(x)
    controls = dict(kernel_size=W.IntSlider(2, 1, min(x.shape), description="kernel"),
                    stride=W.IntSlider(2, 1, 4, description="stride"),
                    mode=W.ToggleButtons(options=["max", "avg"], description="mode"),
                    position=W.IntSlider(0, 0, x.numel() - 1, description="output unit"))
    out = W.Output()

    def redraw(_=None):
        c = {k: w.value for k, w in controls.items()}
        try:
            n_out = pool_view(x, c["kernel_size"], c["stride"], c["mode"]).get("out").numel()
            view = pool_view(x, c["kernel_size"], c["stride"], c["mode"], min(c["position"], n_out - 1))
        except ValueError as err:
            show(out, text=str(err))
            return
        show(out, plot_pool_view(view)[0].figure)

    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox(list(controls.values())[:2]), W.HBox(list(controls.values())[2:]), out])


def pool_animation(x: torch.Tensor, kernel_size: int = 2, stride: int = 2, mode: str = "max") -> str:
    """Kernel-free explorer: one frame per output unit. Returns self-contained HTML."""
    first = pool_view(x, kernel_size, stride, mode)
    views = [pool_view(x, kernel_size, stride, mode, i) for i in range(first["out"].numel())]
    return animate(lambda i, axes: plot_pool_view(views[i], axes), len(views), 2, (8, 3.8), fps=2)
