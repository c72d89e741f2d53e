"""Sinusoidal position encodings (Vaswani et al. 2017, section 3.5): the 1-D table, its 2-D (row, column)
version for image tokens, and the matrix that shifts an encoding by ``k`` positions (the reason the
sinusoids let attention read relative positions). Re-exported by :mod:`cvbook_lib.attention`; tested in
``tests/test_attention.py``.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_float, check_int

__all__ = ["sinusoidal_position_encoding", "sinusoidal_position_encoding_2d", "position_shift_matrix"]


def _check_dim_base(dim, base, multiple: int = 2):
    dim = check_int(dim, "dim", multiple)
    if dim % multiple:
        raise ValueError(f"dim must be a multiple of {multiple} (an even int >= {multiple}), got {dim!r}")
    return dim, check_float(base, "base", 0.0, min_open=True, allow_inf=False)


def _frequencies(dim, base, dtype=torch.float64):
    return base ** (-torch.arange(0, dim, 2, dtype=dtype) / dim)             # ω_i = 1 / base^(2i/d)


def _encoding(length, dim, base):
    angles = torch.arange(length, dtype=torch.float64)[:, None] * _frequencies(dim, base)
    return torch.stack([angles.sin(), angles.cos()], -1).flatten(1).float()


def sinusoidal_position_encoding(length: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """PE[p, 2i] = sin(p ω_i), PE[p, 2i+1] = cos(p ω_i), ω_i = base^(-2i/dim) (Vaswani et al. 2017).
    length >= 0, dim even >= 2, base a finite number > 0. Returns Tensor[length, dim] (float32)."""
    length = check_int(length, "length", 0)
    return _encoding(length, *_check_dim_base(dim, base))


def position_shift_matrix(k: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """The fixed matrix M_k with PE(p + k) = M_k PE(p) for every p: one 2×2 rotation by k ω_i per
    (sin, cos) pair. It depends on k only, which is why attention can read relative positions.
    k any int (negative: a shift back); dim, base as in :func:`sinusoidal_position_encoding`.
    Returns Tensor[dim, dim] (float64)."""
    k = check_int(k, "k")
    dim, base = _check_dim_base(dim, base)
    M = torch.zeros(dim, dim, dtype=torch.float64)
    for i, w in enumerate(_frequencies(dim, base).tolist()):
        c, s = math.cos(k * w), math.sin(k * w)
        M[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor([[c, s], [-s, c]], dtype=torch.float64)
    return M


def sinusoidal_position_encoding_2d(height: int, width: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """2-D encoding for a grid of patches: the first dim/2 channels encode the row, the last dim/2 the
    column (each a 1-D sinusoidal encoding). height, width >= 0; dim a multiple of 4.
    Returns Tensor[height·width, dim] (float32), row-major."""
    height, width = check_int(height, "height", 0), check_int(width, "width", 0)
    dim, base = _check_dim_base(dim, base, multiple=4)
    rows, cols = _encoding(height, dim // 2, base), _encoding(width, dim // 2, base)
    return torch.cat([rows[:, None, :].expand(-1, width, -1), cols[None].expand(height, -1, -1)], -1).reshape(-1, dim)
