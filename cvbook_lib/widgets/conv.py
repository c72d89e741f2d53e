"""The convolution explorer (Chapter 1): sliding-window geometry, its plot, the live widget and
the kernel-free animations."""

from __future__ import annotations

from dataclasses import dataclass

from .._checks import _short, check_bool, check_choice, check_int
from ..conv_arith import conv_output_size, conv_transpose_output_size
from ._html import check_axes, check_sequence, offline_jshtml, show

__all__ = ["ConvGeometry", "conv_geometry", "plot_conv_geometry", "conv_explorer", "conv_animation",
           "conv_sweep_animation"]


@dataclass(frozen=True)
class ConvGeometry:
    """Where every output unit of a square 2-D convolution reads from.

    ``grid`` is the side of the grid the kernel slides over: the padded input, or for a
    transposed convolution the input with ``stride - 1`` zeros inserted between pixels and
    ``dilation*(k-1) - padding`` zeros around it (its equivalent direct convolution, stride 1).
    ``data`` lists the grid indices that hold real input values; ``windows[i]`` the grid
    indices read by output index ``i`` along one axis (the 2-D window is their product).
    """

    size: int
    kernel_size: int
    stride: int
    padding: int
    dilation: int
    transposed: bool
    grid: int
    data: tuple[int, ...]
    out: int
    windows: tuple[tuple[int, ...], ...]

    def __post_init__(self):
        for name, minimum in (("size", 1), ("kernel_size", 1), ("stride", 1), ("padding", 0), ("dilation", 1),
                              ("grid", 1), ("out", 1)):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum))
        object.__setattr__(self, "transposed", check_bool(self.transposed, "transposed"))
        object.__setattr__(self, "data", _indices(self.data, "data", self.grid))
        if not isinstance(self.windows, (tuple, list)) or len(self.windows) != self.out:
            raise ValueError(f"windows must be a tuple of out={self.out} windows, got {_short(self.windows)}")
        object.__setattr__(self, "windows", tuple(_indices(w, f"windows[{i}]", self.grid)
                                                  for i, w in enumerate(self.windows)))


def _indices(values, name: str, grid: int) -> tuple[int, ...]:
    """A tuple of grid indices in [0, grid)."""
    return tuple(check_sequence(values, name, lambda v, n: check_int(v, n, 0, grid - 1), min_len=0))


def conv_geometry(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                  transposed: bool = False) -> ConvGeometry:
    """Compute the sliding-window geometry along one axis (the explorer's pure layer): ints ``size``,
    ``kernel_size``, ``stride``, ``dilation`` >= 1 and ``padding`` >= 0 (numpy ints accepted), a bool
    ``transposed``. A kernel larger than the padded input is refused, as torch refuses it."""
    size, kernel_size = check_int(size, "size", 1), check_int(kernel_size, "kernel_size", 1)
    stride, padding = check_int(stride, "stride", 1), check_int(padding, "padding", 0)
    dilation, transposed = check_int(dilation, "dilation", 1), check_bool(transposed, "transposed")
    span = dilation * (kernel_size - 1)
    if not transposed:
        out = conv_output_size(size, kernel_size, stride, padding, dilation)
        grid, data, step = size + 2 * padding, tuple(range(padding, padding + size)), stride
    else:
        out = conv_transpose_output_size(size, kernel_size, stride, padding, 0, dilation)
        border = span - padding
        if border < 0:
            raise ValueError(f"the explorer draws transposed convolutions with padding <= dilation*(kernel_size-1)"
                             f" = {span}, got padding={padding}")
        grid = (size - 1) * stride + 1 + 2 * border
        data, step = tuple(border + i * stride for i in range(size)), 1
    windows = tuple(tuple(i * step + j * dilation for j in range(kernel_size)) for i in range(out))
    return ConvGeometry(size, kernel_size, stride, padding, dilation, transposed, grid, data, out, windows)


def plot_conv_geometry(geom: ConvGeometry, position: int = 0, ax=None):
    """Draw the grid, the window of output unit ``position`` (row-major) and the output grid on ``ax``
    (a matplotlib Axes, or None for a new figure). Returns the Axes."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if not isinstance(geom, ConvGeometry):
        raise TypeError(f"geom must be a ConvGeometry (from conv_geometry), got {type(geom).__name__} {_short(geom)}")
    position = check_int(position, "position", 0)
    if position >= geom.out ** 2:
        raise ValueError(f"position must be < out*out = {geom.out ** 2}, got {position}")
    check_axes(ax, "ax", 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4))
    ax.clear()
    r, c = divmod(position, geom.out)
    data = set(geom.data)
    for i in range(geom.grid):
        for j in range(geom.grid):
            real = i in data and j in data
            ax.add_patch(Rectangle((j, -i - 1), 1, 1, facecolor="#cfe3ff" if real else "#eeeeee", edgecolor="#999999"))
    for i in geom.windows[r]:
        for j in geom.windows[c]:
            ax.add_patch(Rectangle((j + 0.15, -i - 0.85), 0.7, 0.7, facecolor="#ff8c42", alpha=0.9))
    x0 = geom.grid + 1.5
    for i in range(geom.out):
        for j in range(geom.out):
            hit = (i, j) == (r, c)
            ax.add_patch(Rectangle((x0 + j, -i - 1), 1, 1, facecolor="#ff8c42" if hit else "#d9f2d9",
                                   edgecolor="#999999"))
    kind = "transposed conv (as stride-1 conv over zero-inserted input)" if geom.transposed else "conv"
    ax.set_title(f"{kind}: in={geom.size}, k={geom.kernel_size}, s={geom.stride}, p={geom.padding}, "
                 f"d={geom.dilation} -> out={geom.out}", fontsize=9)
    ax.text(geom.grid / 2, 0.4, "input grid (grey = padding / inserted zeros)", ha="center", fontsize=8)
    ax.text(x0 + geom.out / 2, 0.4, "output", ha="center", fontsize=8)
    ax.set_xlim(-0.5, x0 + geom.out + 0.5)
    ax.set_ylim(-max(geom.grid, geom.out) - 0.5, 1.2)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def conv_explorer(size: int = 7, kernel_size: int = 3, stride: int = 1, padding: int = 0, dilation: int = 1):
    """Live explorer (an ``ipywidgets.VBox``): sliders for kernel/stride/padding/dilation/transposed and
    the output unit shown; the arguments are the sliders' first values (checked as in :func:`conv_geometry`)."""
    import ipywidgets as W
    import matplotlib.pyplot as plt

    g = conv_geometry(size, kernel_size, stride, padding, dilation)
    controls = dict(
        size=W.IntSlider(g.size, 1, max(12, g.size), description="input"),
        kernel_size=W.IntSlider(g.kernel_size, 1, max(7, g.kernel_size), description="kernel"),
        stride=W.IntSlider(g.stride, 1, max(4, g.stride), description="stride"),
        padding=W.IntSlider(g.padding, 0, max(4, g.padding), description="padding"),
        dilation=W.IntSlider(g.dilation, 1, max(3, g.dilation), description="dilation"),
        transposed=W.Checkbox(False, description="transposed"),
        position=W.IntSlider(0, 0, 200, description="output unit"),
    )
    out = W.Output()

    def redraw(**kw):
        try:
            position = kw.pop("position")
            geom = conv_geometry(**kw)
        except ValueError as err:  # an impossible combination: say why instead of drawing
            show(out, text=str(err))
            return
        controls["position"].max = geom.out ** 2 - 1
        fig, ax = plt.subplots(figsize=(7.5, 4))
        plot_conv_geometry(geom, min(position, geom.out ** 2 - 1), ax)
        show(out, fig)

    for widget in controls.values():
        widget.observe(lambda _: redraw(**{k: w.value for k, w in controls.items()}), names="value")
    redraw(**{k: w.value for k, w in controls.items()})
    return W.VBox([W.HBox(list(controls.values())[:4]), W.HBox(list(controls.values())[4:]), out])


def conv_animation(size: int = 5, kernel_size: int = 3, stride: int = 2, padding: int = 1, dilation: int = 1,
                   transposed: bool = False) -> str:
    """Kernel-free explorer: every output unit as one frame, returned as self-contained HTML
    (``FuncAnimation.to_jshtml``) whose slider works in a static page."""
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    geom = conv_geometry(size, kernel_size, stride, padding, dilation, transposed)
    fig, ax = plt.subplots(figsize=(7.5, 4))
    anim = FuncAnimation(fig, lambda i: plot_conv_geometry(geom, i, ax), frames=geom.out ** 2)
    html = offline_jshtml(anim)
    plt.close(fig)
    return html


_SWEEPABLE = ("size", "kernel_size", "stride", "padding", "dilation")


def conv_sweep_animation(parameter: str, values, size: int = 7, kernel_size: int = 3, stride: int = 1,
                         padding: int = 0, dilation: int = 1, transposed: bool = False) -> str:
    """Kernel-free explorer over one parameter: a frame per value of ``parameter`` (e.g. stride
    1, 2, 3), each showing the first window and the output grid, so the output size can be read
    off as the slider moves. Returns self-contained HTML."""
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    check_choice(parameter, "parameter", _SWEEPABLE)
    config = dict(size=size, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
                  transposed=transposed)
    for name, value in config.items():                       # types and ranges (the swept one's value is unused)
        if name == "transposed":
            check_bool(value, name)
        else:
            check_int(value, name, 0 if name == "padding" else 1)
    values = check_sequence(values, "values", lambda v, name: check_int(v, name, 0 if parameter == "padding" else 1))
    geoms = []
    for i, v in enumerate(values):                                      # validates every frame first
        try:
            geoms.append(conv_geometry(**(config | {parameter: v})))
        except ValueError as err:
            raise ValueError(f"values[{i}] = {v!r} ({parameter}): {err}") from None
    fig, ax = plt.subplots(figsize=(7.5, 4))
    anim = FuncAnimation(fig, lambda i: plot_conv_geometry(geoms[i], 0, ax), frames=len(geoms))
    html = offline_jshtml(anim)
    plt.close(fig)
    return html
