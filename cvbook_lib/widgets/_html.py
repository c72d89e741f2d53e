"""Kernel-free explorers: matplotlib animations as self-contained HTML for the static book."""

from __future__ import annotations

import re

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
