"""The receptive-field explorer (Chapter 2): pick a preset or type layers, see output size, jump
and RF per layer, and the input region one output unit sees."""

from __future__ import annotations

from .. import receptive_field as rf
from .._checks import _short, as_pair, check_choice, check_int
from ._html import axes_or_new, check_axes, check_view, offline_jshtml, show

__all__ = ["rf_view", "plot_rf_view", "rf_explorer", "rf_animation"]


def rf_view(layers, input_size: int, layer_index: int, unit=(0, 0)) -> dict:
    """Everything the figure shows: the table, and the square region of unit (row, col) of one layer.

    Args: layers (a non-empty list or tuple of ``receptive_field.Layer``), input_size >= 1,
    layer_index in [0, len(layers)), unit: (row, col) (or one int for both), each < that layer's output size.
    Returns dict(rows: the ``receptive_field_table``, region (r0, r1, c0, c1) before clipping to the image,
    clipped: the same inside the image, and the arguments).
    """
    if not isinstance(layers, (list, tuple)) or not layers or not all(isinstance(x, rf.Layer) for x in layers):
        raise TypeError(f"layers must be a non-empty list of receptive_field.Layer, got {type(layers).__name__} "
                        f"{_short(layers)}")
    input_size = check_int(input_size, "input_size", 1)
    layer_index = check_int(layer_index, "layer_index", 0, len(layers) - 1)
    unit = as_pair(unit, "unit", 0)
    try:
        rows = rf.receptive_field_table(list(layers), input_size)
    except ValueError as err:
        raise ValueError(f"layers do not fit input_size={input_size}: {err}") from None
    n_out = rows[layer_index].output_size
    if max(unit) >= n_out:
        raise ValueError(f"unit must be < {n_out} (the output size of layer {layer_index}) in both dimensions, "
                         f"got {unit}")
    (r0, r1), (c0, c1) = (rf.unit_region(rows, layer_index, u) for u in unit)
    clip = (max(r0, 0), min(r1, input_size - 1), max(c0, 0), min(c1, input_size - 1))
    return dict(rows=rows, input_size=input_size, layer_index=layer_index, unit=unit,
                region=(r0, r1, c0, c1), clipped=clip)


def plot_rf_view(view: dict, axes=None):
    """Left: the input with the unit's region (solid: inside the image, dashed: the part in padding).
    Right: receptive field and jump per layer. ``view``: what :func:`rf_view` returned; ``axes``: two Axes or
    None. Returns the axes."""
    from matplotlib.patches import Rectangle

    check_view(view, "view", ("rows", "input_size", "layer_index", "unit", "region", "clipped"))
    check_axes(axes, "axes", 2)
    ax, bx = axes = axes_or_new(axes, 2, (9, 3.8), gridspec_kw=dict(width_ratios=[1, 1.4]))
    ax.clear()
    bx.clear()
    n, (r0, r1, c0, c1), (q0, q1, p0, p1) = view["input_size"], view["region"], view["clipped"]
    ax.add_patch(Rectangle((0, 0), n, n, facecolor="#eeeeee", edgecolor="black"))
    ax.add_patch(Rectangle((c0, r0), c1 - c0 + 1, r1 - r0 + 1, fill=False, edgecolor="#ff8c42", linestyle="--"))
    ax.add_patch(Rectangle((p0, q0), p1 - p0 + 1, q1 - q0 + 1, facecolor="#ff8c42", alpha=0.6))
    lo, hi = min(0, r0, c0) - 2, max(n, r1 + 1, c1 + 1) + 2
    ax.set_xlim(lo, hi)
    ax.set_ylim(hi, lo)
    ax.set_aspect("equal")
    row = view["rows"][view["layer_index"]]
    ax.set_title(f"{row.layer.name} unit {view['unit']}: RF {row.rf}x{row.rf} on a {n}x{n} input", fontsize=9)
    names = [r.layer.name for r in view["rows"]]
    colors = ["#ff8c42" if i == view["layer_index"] else "#7aa6d8" for i in range(len(names))]
    bx.bar(range(len(names)), [r.rf for r in view["rows"]], color=colors)
    bx.plot(range(len(names)), [r.jump for r in view["rows"]], "k.-", label="jump (cumulative stride)")
    bx.set_xticks(range(len(names)), names, rotation=60, fontsize=7)
    bx.set_ylabel("pixels")
    bx.set_title("receptive field per layer (bars)", fontsize=9)
    bx.legend(fontsize=8)
    return axes


def rf_explorer(preset: str = "vgg16"):
    """Live explorer (an ``ipywidgets.VBox``): a preset (one of ``receptive_field.PRESETS`` or 'custom') or
    your own layers ('conv3, pool2, ...'), the layer and unit shown; the table is shown as text in the
    widget's output (nothing is printed)."""
    import ipywidgets as W

    names = list(rf.PRESETS) + ["custom"]
    check_choice(preset, "preset", names)
    controls = dict(
        preset=W.Dropdown(options=names, value=preset, description="network"),
        spec=W.Text("conv3, conv3, pool2, conv3, conv3, pool2", description="custom"),
        size=W.IntSlider(224, 8, 512, description="input"),
        layer=W.IntSlider(0, 0, 30, description="layer"),
        row=W.IntSlider(0, 0, 300, description="unit row"),
        col=W.IntSlider(0, 0, 300, description="unit col"),
    )
    out = W.Output()

    def redraw(_=None):
        c = {k: w.value for k, w in controls.items()}
        try:
            layers = rf.parse_layers(c["spec"]) if c["preset"] == "custom" else rf.preset(c["preset"])[0]
            rows = rf.receptive_field_table(layers, c["size"])
            layer = min(c["layer"], len(rows) - 1)
            n_out = rows[layer].output_size
            view = rf_view(layers, c["size"], layer, (min(c["row"], n_out - 1), min(c["col"], n_out - 1)))
        except ValueError as err:
            show(out, text=str(err))
            return
        show(out, plot_rf_view(view)[0].figure, text=rf.format_table(rows))

    def on_preset(change):
        if change["new"] != "custom":
            controls["size"].value = rf.preset(change["new"])[1]

    controls["preset"].observe(on_preset, names="value")
    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox([controls["preset"], controls["spec"], controls["size"]]),
                   W.HBox([controls["layer"], controls["row"], controls["col"]]), out])


def rf_animation(preset: str = "vgg16") -> str:
    """Kernel-free explorer: one frame per layer of a preset (one of ``receptive_field.PRESETS``), the centre
    unit's region growing. Returns self-contained HTML."""
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    check_choice(preset, "preset", tuple(rf.PRESETS))
    layers, size = rf.preset(preset)
    rows = rf.receptive_field_table(layers, size)
    views = [rf_view(layers, size, i, (r.output_size // 2, r.output_size // 2)) for i, r in enumerate(rows)]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), gridspec_kw=dict(width_ratios=[1, 1.4]))
    fig.subplots_adjust(bottom=0.25, wspace=0.3)
    anim = FuncAnimation(fig, lambda i: plot_rf_view(views[i], axes), frames=len(views))
    html = offline_jshtml(anim)
    plt.close(fig)
    return html
