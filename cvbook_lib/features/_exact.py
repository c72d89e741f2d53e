"""Elementwise math that agrees bit for bit with numpy, for HOG's bin edges (private).

A pixel whose gradient angle lies exactly on a HOG bin edge (``|g_r| = |g_c|``: 45°, up to rounding) changes
bin when the angle differs from numpy's in the last bit, so equality with ``skimage.feature.hog`` needs the
same ``sqrt``, ``hypot`` and ``atan2`` numpy computes: IEEE ``sqrt`` (correctly rounded) and libm's
``hypot``/``atan2``. ATen's vectorized CPU kernels are faster but not bitwise the same (``torch.sqrt`` is
off by one ulp for about 1 % of float64 inputs, the vectorized ``atan2`` for 2 %); ``tests/test_features.py``
checks these helpers against numpy.
"""

from __future__ import annotations

import math

import numpy as np
import torch

_SPLIT = 134217729.0  # 2**27 + 1: Dekker's splitting constant for float64


def _two_prod(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(p, e)`` with ``p = fl(a·b)`` and ``a·b = p + e`` exactly (Dekker 1971), float64."""
    p = a * b
    sa, sb = _SPLIT * a, _SPLIT * b
    a_hi, b_hi = sa - (sa - a), sb - (sb - b)
    a_lo, b_lo = a - a_hi, b - b_hi
    return p, ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


def sqrt_rn(x: torch.Tensor) -> torch.Tensor:
    """Correctly rounded ``√x`` (IEEE 754, as numpy's): torch's result moved by one ulp where the residual
    ``x - s²`` (exact by :func:`_two_prod`) shows a neighbour is closer. float32 goes through float64
    (double rounding is harmless for the square root)."""
    if x.dtype != torch.float64:
        return sqrt_rn(x.double()).to(x.dtype)
    s = torch.sqrt(x)
    p, e = _two_prod(s, s)
    r = (x - p) - e  # x - s²; NaN for inf and NaN inputs, which keep s
    up = torch.nextafter(s, torch.full_like(s, math.inf))
    down = torch.nextafter(s, torch.zeros_like(s))
    s = torch.where(r > s * (up - s), up, s)  # √x - s > ulp/2  <=>  x - s² > s·ulp (to first order)
    return torch.where(r < -s * (s - down), down, s)


def libm(fn, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``fn(a, b)`` (``torch.atan2`` or ``torch.hypot``) computed by the C library, as numpy does.

    On CPU the values go through numpy's ``arctan2`` / ``hypot`` (zero-copy views of the same memory, no
    gradient: HOG's angles and magnitudes are features, not trained). ATen's own CPU kernels are not bitwise
    libm's: the vectorized ``atan2`` differs in the last bit for about 2 % of inputs, and on AVX-512 CPUs even
    its strided loop is vectorized. Other devices use their own kernels (CUDA's are within 2 ulp).
    """
    if a.device.type != "cpu":
        return fn(a, b)
    np_fn = {torch.atan2: np.arctan2, torch.hypot: np.hypot}[fn]
    out = np_fn(a.detach().contiguous().numpy(), b.detach().contiguous().numpy())
    return torch.from_numpy(np.asarray(out)).to(a.dtype)
