"""The shared shape of a benchmark row: ours and the reference with their inputs bound, a required
ratio, and the check that both compute the same thing (run before timing).

``benchmarks/_rows_*.py`` modules each define ``rows(gen, device) -> list[Row]`` and may define
``reports(gen, device) -> list[str]`` (measurements that are not speed ratios: memory, error);
``bench_kernels.py`` runs them all in one process.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


def close(a, b, atol: float = 1e-3, rtol: float = 1e-3) -> bool:
    return torch.allclose(a, b, atol=atol, rtol=rtol)


@dataclass
class Row:
    kernel: str                       # what is timed, e.g. "conv2d 3x3 (winograd)"
    shape: str                        # its input, e.g. "(8, 64, 56, 56) x 64"
    ours: Callable[[], Any]
    ref: Callable[[], Any]
    target: float | None = None       # required ours / ref; None: shown, not required
    same: Callable[[Any, Any], bool] = field(default=close)


def timed_pairs(fns, repeat: int, device: torch.device) -> list[list[float]]:
    """Seconds of each function per round, after three warm-up calls; the functions alternate within
    a round, so load that comes and goes on a shared machine hits ours and the reference alike."""
    for fn in fns:
        for _ in range(3):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, record in zip(fns, times):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            record.append(time.perf_counter() - start)
    return times


def measure(row: Row, repeat: int, device: torch.device) -> tuple[float, float, float]:
    """(our median s, reference median s, median of the round-by-round ratios) after checking that
    both give the same result."""
    if not row.same(row.ours(), row.ref()):
        raise AssertionError(f"{row.kernel} {row.shape}: ours and the reference differ")
    ours_s, ref_s = timed_pairs([row.ours, row.ref], repeat, device)
    ratio = statistics.median(a / b for a, b in zip(ours_s, ref_s))
    return statistics.median(ours_s), statistics.median(ref_s), ratio
