"""What every explorer shares: matplotlib animations as self-contained HTML for the static book, the
checks of the explorers' arguments (seeds, sequences, views, axes) and the output of a live explorer."""

from __future__ import annotations

import re

import numpy as np
import torch

from .._checks import _short, check_int

# The player's button titles and mode labels, in the book's language.
_PLAYER_ZH = {"Decrease speed": "减速", "Increase speed": "加速", "First frame": "第一帧", "Last frame": "最后一帧",
              "Previous frame": "上一帧", "Next frame": "下一帧", "Play backwards": "倒放", "Play": "播放",
              "Pause": "暂停", "Repetition mode": "重复方式", "Once": "一次", "Loop": "循环", "Reflect": "往返"}


def _palette_png(encoded: str) -> str:
    """One embedded frame (base64 PNG, split over escaped lines) as a 256-colour palette PNG:
    a plot needs no more colours, and the page gets about 2.5 times lighter."""
    import base64
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(encoded.replace("\\\n", "")))).convert("RGB")
    palette = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, "PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode("ascii")


def offline_jshtml(anim, fps: int = 2) -> str:
    """``anim.to_jshtml()`` without outside requests and with a Chinese player.

    matplotlib links Font Awesome 4 from a CDN for the button icons; the book stays offline (its
    theme ships Font Awesome, which draws the same ``fa fa-*`` icons). The buttons' titles and the
    repetition modes are translated."""
    html = anim.to_jshtml(fps=fps, default_mode="once")
    html = re.sub(r'"data:image/png;base64,([^"]+)"', lambda m: f'"data:image/png;base64,{_palette_png(m[1])}"', html)
    html = re.sub(r'<link[^>]*href="https?://[^"]*"[^>]*>', "", html)
    html = re.sub(r'((?:title|aria-label)=")([^"]+)(")', lambda m: m[1] + _PLAYER_ZH.get(m[2], m[2]) + m[3], html)
    return re.sub(r"(<label[^>]*>)(Once|Loop|Reflect)(</label>)", lambda m: m[1] + _PLAYER_ZH[m[2]] + m[3], html)


def animate(draw, n_frames: int, ncols: int = 1, figsize=(7.5, 4), fps: int = 1, adjust=None) -> str:
    """Precompute ``n_frames`` frames of ``draw(i, axes)`` on one figure; return offline HTML."""
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    fig, axes = plt.subplots(1, ncols, figsize=figsize)
    if adjust:
        fig.subplots_adjust(**adjust)
    anim = FuncAnimation(fig, lambda i: draw(i, axes), frames=n_frames)
    html = offline_jshtml(anim, fps=fps)
    plt.close(fig)
    return html


# ----------------------------------------------------------------------------- shared checks and output
def check_seed(seed, name: str = "seed") -> int:
    """A seed of ``torch.Generator.manual_seed``: an int in [0, 2**64 - 1] (numpy ints accepted, bools refused)."""
    return check_int(seed, name, 0, 2 ** 64 - 1)


def check_sequence(values, name: str, check, min_len: int = 1) -> list:
    """``values`` (a list, tuple, range, 1-D array or tensor; not a string) with ``check(v, f"{name}[i]")``
    applied to each."""
    if not isinstance(values, (list, tuple, range, torch.Tensor, np.ndarray)) or \
            (isinstance(values, (torch.Tensor, np.ndarray)) and values.ndim != 1):
        raise TypeError(f"{name} must be a list or tuple of values, got {type(values).__name__} {_short(values)}")
    items = list(values)
    if len(items) < min_len:
        raise ValueError(f"{name} must hold at least {min_len} value(s), got {_short(values)}")
    return [check(v, f"{name}[{i}]") for i, v in enumerate(items)]


def check_view(view, name: str, keys) -> dict:
    """Raise unless ``view`` is a dict holding ``keys`` (what the pure function of an explorer returns)."""
    if not isinstance(view, dict):
        raise TypeError(f"{name} must be the dict returned by the explorer's pure function, got "
                        f"{type(view).__name__} {_short(view)}")
    missing = [k for k in keys if k not in view]
    if missing:
        raise ValueError(f"{name} lacks the keys {missing}: pass the dict returned by the explorer's pure function")
    return view


def check_axes(axes, name: str, n: int):
    """Raise unless ``axes`` is None, or ``n`` matplotlib Axes (one Axes when ``n == 1``)."""
    if axes is None:
        return None
    from matplotlib.axes import Axes

    if n == 1:
        if not isinstance(axes, Axes):
            raise TypeError(f"{name} must be a matplotlib Axes or None, got {type(axes).__name__} {_short(axes)}")
        return axes
    items = list(axes) if isinstance(axes, (list, tuple)) or type(axes).__name__ == "ndarray" else None
    if items is None or len(items) != n or not all(isinstance(a, Axes) for a in items):
        raise TypeError(f"{name} must be a sequence of {n} matplotlib Axes or None, got {type(axes).__name__} "
                        f"{_short(axes)}")
    return axes


def axes_or_new(axes, n: int, figsize, **kwargs):
    """``axes`` (already checked) or the axes of a new figure of ``n`` panels side by side."""
    if axes is not None:
        return axes
    import matplotlib.pyplot as plt

    return plt.subplots(1, n, figsize=figsize, **kwargs)[1]


def show(out, fig=None, text: str | None = None) -> None:
    """Make the ``ipywidgets.Output`` ``out`` show ``text`` (monospace) and ``fig`` (a PNG), then close ``fig``.

    The outputs are set on the widget itself, so nothing is written to stdout, in a kernel or outside
    one (where ``with out: print(...)`` would print to the terminal and leave the figure open)."""
    import base64
    import io

    import matplotlib.pyplot as plt

    outputs = []
    if text:
        outputs.append(dict(output_type="stream", name="stdout", text=text.rstrip("\n") + "\n"))
    if fig is not None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        plt.close(fig)
        outputs.append(dict(output_type="display_data", metadata={},
                            data={"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"),
                                  "text/plain": repr(fig)}))
    out.outputs = tuple(outputs)
