"""Input validation shared by every cvbook_lib module.

Each helper raises ``TypeError`` or ``ValueError`` whose message names the
argument, the value received and what is allowed (BOOK.md section 8).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def check_tensor(x, name: str, ndims: Sequence[int] | None = None, floating: bool = False) -> None:
    """Raise unless ``x`` is a tensor of one of the ranks ``ndims`` (and floating if asked)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if ndims is not None and x.dim() not in ndims:
        allowed = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name} must be {allowed}, got a {x.dim()}-D tensor of shape {tuple(x.shape)}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")


def check_int(value, name: str, minimum: int | None = None) -> int:
    """Return ``value`` as an int; raise unless it is an int (not bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def as_pair(value, name: str, minimum: int | None = None) -> tuple[int, int]:
    """Turn an int or a pair of ints into ``(h, w)``, each checked against ``minimum``."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        items = tuple(value)
    else:
        items = (value, value)
    if any(isinstance(v, bool) or not isinstance(v, int) for v in items):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if minimum is not None and any(v < minimum for v in items):
        raise ValueError(f"{name} must be >= {minimum} in every dimension, got {value!r}")
    return items  # type: ignore[return-value]


def check_choice(value, name: str, choices: Sequence[str]) -> str:
    """Raise unless ``value`` is one of the strings ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise if a tensor holds NaN (or +-inf)."""
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite, got a tensor with NaN or inf")


def check_probability(value, name: str) -> float:
    """Raise unless ``value`` is a real number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise TypeError(f"{name} must be a float in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)
