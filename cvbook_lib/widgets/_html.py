"""Kernel-free explorers: matplotlib animations as self-contained HTML for the static book."""

from __future__ import annotations

import re


def offline_jshtml(anim, fps: int = 2) -> str:
    """``anim.to_jshtml()`` without outside requests: matplotlib links Font Awesome 4 from a CDN for
    the button icons; the book stays offline (its theme ships Font Awesome, which draws the same
    ``fa fa-*`` icons)."""
    html = anim.to_jshtml(fps=fps, default_mode="once")
    return re.sub(r'<link[^>]*href="https?://[^"]*"[^>]*>', "", html)


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
