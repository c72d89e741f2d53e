"""The standard normals behind the explorers' random networks, drawn once and extended, not redrawn per view."""

from __future__ import annotations

import torch

_DRAWS: dict = {}       # (width, batch, seed) -> (generator, h_0, [Z_1, Z_2, ...])


def normal_draws(width: int, batch: int, seed: int, depth: int):
    """h_0 [batch, width] and the standard normals Z_1..Z_depth [width, width] (float64) that ``Generator(seed)``
    gives one after the other: the first ``depth`` layers of one network, so a deeper one extends a shallower one.
    A few networks are kept (the oldest is dropped after 8)."""
    key = (width, batch, seed)
    if key not in _DRAWS:
        if len(_DRAWS) >= 8:
            del _DRAWS[next(iter(_DRAWS))]                           # the oldest
        g = torch.Generator().manual_seed(seed)
        _DRAWS[key] = (g, torch.randn(batch, width, generator=g, dtype=torch.float64), [])
    g, h, zs = _DRAWS[key]
    while len(zs) < depth:
        zs.append(torch.randn(width, width, generator=g, dtype=torch.float64))
    return h, zs[:depth]
