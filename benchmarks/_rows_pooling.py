"""Benchmark rows of max and average pooling against ``F.max_pool2d`` / ``F.avg_pool2d``.
Required (issue 20): both at most 1.5x."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from _bench import Row

from cvbook_lib import pooling

POOL_TARGET = 1.5


def rows(gen: torch.Generator, device: torch.device) -> list[Row]:
    x = torch.randn(8, 64, 112, 112, generator=gen).to(device)
    y = torch.randn(8, 64, 56, 56, generator=gen).to(device)
    return [
        Row("max_pool2d 3x3 s2 p1", "(8, 64, 112, 112)", functools.partial(pooling.max_pool2d, x, 3, 2, 1),
            functools.partial(F.max_pool2d, x, 3, 2, 1), POOL_TARGET),
        Row("avg_pool2d 2x2", "(8, 64, 56, 56)", functools.partial(pooling.avg_pool2d, y, 2),
            functools.partial(F.avg_pool2d, y, 2), POOL_TARGET),
    ]
