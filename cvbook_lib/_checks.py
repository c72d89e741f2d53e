"""Input validation shared by every cvbook_lib module.

Each helper raises ``TypeError`` or ``ValueError`` whose message names the argument, the value
received and what is allowed (BOOK.md section 8), *before* anything is computed or mutated.

The rules follow torch's own argument parser:

- a flag is a real ``bool`` (``'False'``, ``None`` and ``1`` are refused, not taken as truthy);
- an integer is anything with ``__index__`` (``3``, ``np.int64(3)``, a 0-d integer tensor), never a
  ``bool`` or a ``float``;
- a real number is an ``int`` or ``float`` (numpy scalars included), never a ``bool`` or a string;
  NaN is refused unless the caller allows it;
- a tensor is a ``torch.Tensor`` of the dtype kind the computation needs: ``"float"`` (floating),
  ``"int"`` (integer, not bool: labels and indices), ``"real"`` (floating or integer; no bool or
  complex), ``"bool"`` (masks), or ``"any"``.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Sequence

import numpy as np
import torch

_KINDS = ("float", "int", "real", "bool", "number", "any")
_KIND_WORDS = {
    "float": "a floating dtype (float16/bfloat16/float32/float64)",
    "int": "an integer dtype (not bool)",
    "real": "a real dtype (floating or integer, not bool or complex)",
    "bool": "dtype torch.bool",
    "number": "a numeric dtype (not bool)",
}


def _short(value) -> str:
    """repr of ``value`` cut to 80 characters (a tensor is described by dtype and shape)."""
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _dtype_ok(dtype: torch.dtype, kind: str) -> bool:
    if kind == "any":
        return True
    if kind == "bool":
        return dtype == torch.bool
    if dtype == torch.bool:
        return False
    if kind == "float":
        return dtype.is_floating_point
    if kind == "int":
        return not dtype.is_floating_point and not dtype.is_complex
    if kind == "real":
        return not dtype.is_complex
    return True  # "number"


def check_tensor(x, name: str, ndims: Sequence[int] | None = None, floating: bool = False, kind: str | None = None,
                 min_ndim: int | None = None) -> torch.Tensor:
    """Raise unless ``x`` is a tensor of one of the ranks ``ndims`` (or at least ``min_ndim``-D) whose
    dtype is of ``kind`` (``floating=True`` is ``kind="float"``; without either, any dtype passes)."""
    if kind is None:
        kind = "float" if floating else "any"
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {list(_KINDS)}, got {kind!r}")  # programming error
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__} {_short(x)}")
    if ndims is not None and x.dim() not in ndims:
        allowed = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name} must be {allowed}, got a {x.dim()}-D tensor of shape {tuple(x.shape)}")
    if min_ndim is not None and x.dim() < min_ndim:
        raise ValueError(f"{name} must be at least {min_ndim}-D, got a {x.dim()}-D tensor of shape {tuple(x.shape)}")
    if not _dtype_ok(x.dtype, kind):
        raise TypeError(f"{name} must have {_KIND_WORDS[kind]}, got {x.dtype}")
    return x


def check_same(a: torch.Tensor, name_a: str, b: torch.Tensor, name_b: str, dtype: bool = True) -> None:
    """Raise unless two tensors share a device (and, if ``dtype``, a dtype): cvbook_lib refuses mixed
    dtypes instead of promoting one silently."""
    if a.device != b.device:
        raise ValueError(f"{name_a} and {name_b} must be on the same device, got {a.device} and {b.device}")
    if dtype and a.dtype != b.dtype:
        raise TypeError(f"{name_a} and {name_b} must have the same dtype, got {a.dtype} and {b.dtype}")


def check_bool(value, name: str) -> bool:
    """Return ``value`` as a bool; raise ``TypeError`` unless it is a ``bool`` (or ``numpy.bool_``)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be a bool (True or False), got {type(value).__name__} {_short(value)}")


def _index(value, name: str, what: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be {what}, got the bool {value!r}")
    if isinstance(value, torch.Tensor) and (value.dtype == torch.bool or value.numel() != 1):
        raise TypeError(f"{name} must be {what}, got {_short(value)}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be {what}, got {type(value).__name__} {_short(value)}") from None


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an int; raise unless it has ``__index__`` (not bool), ``minimum <= value <= maximum``."""
    what = "an int" if minimum is None else f"an int >= {minimum}"
    if maximum is not None:
        what += f" and <= {maximum}"
    out = _index(value, name, what)
    if (minimum is not None and out < minimum) or (maximum is not None and out > maximum):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return out


def check_optional_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """``None`` or :func:`check_int`."""
    return None if value is None else check_int(value, name, minimum, maximum)


def check_float(value, name: str, minimum: float | None = None, maximum: float | None = None, *,
                min_open: bool = False, max_open: bool = False, allow_nan: bool = False,
                allow_inf: bool = True) -> float:
    """Return ``value`` as a float; raise unless it is a real number (not bool, not a string) in the range.

    ``min_open``/``max_open`` make the bound strict; NaN is refused unless ``allow_nan``; ``±inf`` is
    refused when ``allow_inf`` is False (it is always refused by a finite bound it falls outside of).
    """
    lo = "" if minimum is None else (f"> {minimum}" if min_open else f">= {minimum}")
    hi = "" if maximum is None else (f"< {maximum}" if max_open else f"<= {maximum}")
    what = "a real number" + (" " + " and ".join(s for s in (lo, hi) if s) if lo or hi else "")
    if (minimum, maximum, min_open, max_open) == (0.0, 1.0, False, False):
        what = "in [0, 1] (a real number)"
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype != torch.bool \
            and not value.dtype.is_complex:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__} {_short(value)}")
    out = float(value)
    if math.isnan(out):
        if allow_nan:
            return out
        raise ValueError(f"{name} must be {what}, got nan")
    if math.isinf(out) and not allow_inf:
        raise ValueError(f"{name} must be finite ({what}), got {out!r}")
    if minimum is not None and (out < minimum or (min_open and out == minimum)):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    if maximum is not None and (out > maximum or (max_open and out == maximum)):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return out


def as_pair(value, name: str, minimum: int | None = None) -> tuple[int, int]:
    """Turn an int or a pair of ints into ``(h, w)``, each checked against ``minimum``.

    As in torch's argument parser, a one-element list/tuple stands for the int it holds."""
    what = "an int or a pair of ints" + ("" if minimum is None else f" >= {minimum}")
    if isinstance(value, (list, tuple)):
        if len(value) not in (1, 2):
            raise ValueError(f"{name} must be {what}, got {value!r}")
        items = tuple(value) * (3 - len(value))
    else:
        items = (value, value)
    out = tuple(_index(v, name, what) for v in items)
    if minimum is not None and any(v < minimum for v in out):
        raise ValueError(f"{name} must be >= {minimum} in every dimension, got {value!r}")
    return out  # type: ignore[return-value]


def check_choice(value, name: str, choices: Sequence) -> object:
    """Raise unless ``value`` is one of ``choices`` (same type and value: ``True`` is not the choice ``1``)."""
    if any(value is c or (type(value) is type(c) and value == c) for c in choices):
        return value
    strings = all(isinstance(c, str) or c is None for c in choices)
    if strings and not isinstance(value, str) and value is not None:
        raise TypeError(f"Invalid type for {name}: {name} must be one of {list(choices)}, got {type(value).__name__} "
                        f"{_short(value)}")
    raise ValueError(f"Invalid value for {name}: {name} must be one of {list(choices)}, got {_short(value)}")


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise if a tensor holds NaN (or +-inf)."""
    if (x.is_floating_point() or x.is_complex()) and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite, got a tensor with NaN or inf")


def check_probability(value, name: str) -> float:
    """Raise unless ``value`` is a real number in [0, 1]."""
    return check_float(value, name, 0.0, 1.0)
