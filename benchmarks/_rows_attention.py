"""Attention rows: cvbook_lib.attention.scaled_dot_product_attention against F.scaled_dot_product_attention
(query = key = value = x of shape (batch, heads, tokens, head dim)), and a peak-memory report of the plain and
the tiled (FlashAttention-style) paths.

Required (issue 20): plain (8, 8, 197, 64) <= 1.5x; causal (8, 8, 256, 64) <= 1.5x with ``tiled=True`` (the tiles
above the diagonal are skipped; the default plain path still computes the full score matrix). Informational:
tiled vs F.sdpa and plain vs F.sdpa at n = 1024, non-causal and causal.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _bench import Row  # noqa: E402

from cvbook_lib import attention, flash_attention  # noqa: E402

TARGET = 1.5


def _ours(x, **kw):
    return attention.scaled_dot_product_attention(x, x, x, **kw)


def _ref(x, **kw):
    return F.scaled_dot_product_attention(x, x, x, **kw)


def rows(gen: torch.Generator, device: torch.device) -> list[Row]:
    out = []
    for shape, kw, ours_kw, target, label in (
            ((8, 8, 197, 64), {}, {}, TARGET, "sdpa"),
            ((8, 8, 256, 64), dict(is_causal=True), dict(tiled=True), TARGET, "sdpa causal (tiled)"),
            ((2, 8, 1024, 64), {}, {}, None, "sdpa n=1024 (plain)"),
            ((2, 8, 1024, 64), {}, dict(tiled=True), None, "sdpa n=1024 (tiled)"),
            ((2, 8, 1024, 64), dict(is_causal=True), {}, None, "sdpa causal n=1024 (plain)"),
            ((2, 8, 1024, 64), dict(is_causal=True), dict(tiled=True), None, "sdpa causal n=1024 (tiled)")):
        x = torch.randn(*shape, generator=gen).to(device)
        out.append(Row(label, str(shape), functools.partial(_ours, x, **kw, **ours_kw),
                       functools.partial(_ref, x, **kw), target))
    return out


def _profiler_peak(fn) -> int:
    """Peak of live bytes from the allocator's own alloc/free events (torch.profiler, profile_memory=True)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]")
    live = peak = 0
    for _, n in events:
        live += n
        peak = max(peak, live)
    return peak


def reports(gen: torch.Generator, device: torch.device) -> list[str]:
    """Peak extra memory (MiB) of plain and tiled attention, (1, 4, n, 64), n = 256 ... 2048: the plain path grows
    as n² (the scores), the tiled one as n·d (its output and one tile of scores)."""
    lines = ["peak extra memory, (1, 4, n, 64) float32, MiB: plain | tiled | ratio (tensor accounting; "
             "allocator events in brackets, CPU only)"]
    for n in (256, 512, 1024, 2048):
        x = torch.randn(1, 4, n, 64, generator=gen).to(device)
        with torch.no_grad():
            plain = flash_attention.peak_memory_bytes(_ours, x)
            tiled = flash_attention.peak_memory_bytes(_ours, x, tiled=True)
            extra = ""
            if device.type == "cpu":
                try:
                    a = _profiler_peak(functools.partial(_ours, x))
                    b = _profiler_peak(functools.partial(_ours, x, tiled=True))
                    extra = f"  [{a / 2**20:.2f} | {b / 2**20:.2f}]"
                except Exception as err:  # the profiler's internals move between torch versions
                    extra = f"  [allocator events unavailable: {type(err).__name__}]"
        lines.append(f"  n={n:5d}: {plain / 2**20:8.2f} | {tiled / 2**20:6.2f} | {plain / tiled:5.1f}x{extra}")
    return lines
