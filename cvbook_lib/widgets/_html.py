"""Kernel-free explorers: matplotlib animations as self-contained HTML for the static book."""

from __future__ import annotations

import re


def offline_jshtml(anim, fps: int = 2) -> str:
    """``anim.to_jshtml()`` without outside requests: matplotlib links Font Awesome 4 from a CDN for
    the button icons; the book stays offline (its theme ships Font Awesome, which draws the same
    ``fa fa-*`` icons)."""
    html = anim.to_jshtml(fps=fps, default_mode="once")
    return re.sub(r'<link[^>]*href="https?://[^"]*"[^>]*>', "", html)
