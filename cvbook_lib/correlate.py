"""2-D cross-correlation and convolution of single-channel signals, like ``scipy.signal``.

``correlate2d`` slides ``in2`` over ``in1`` as it is; ``convolve2d`` flips ``in2`` in both axes
first. Deep-learning "convolution" layers compute the former.
"""

from __future__ import annotations

import torch

from ._checks import check_choice, check_tensor

__all__ = ["correlate2d", "convolve2d"]

_MODES = ("full", "same", "valid")


def _slide(big: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Valid cross-correlation: out[i, j] = sum_{u,v} big[i+u, j+v] * kernel[u, v]."""
    P, Q = kernel.shape
    Ho, Wo = big.shape[0] - P + 1, big.shape[1] - Q + 1
    out = big.new_zeros(Ho, Wo)
    for u in range(P):
        for v in range(Q):
            out += kernel[u, v] * big[u:u + Ho, v:v + Wo]
    return out


def _check(in1, in2, mode):
    check_tensor(in1, "in1", ndims=(2,))
    check_tensor(in2, "in2", ndims=(2,))
    check_choice(mode, "mode", _MODES)
    if in1.numel() == 0 or in2.numel() == 0:
        raise ValueError(f"in1 and in2 must be non-empty, got shapes {tuple(in1.shape)} and {tuple(in2.shape)}")
    dtype = torch.promote_types(in1.dtype, in2.dtype)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    return in1.to(dtype), in2.to(dtype)


def _full_pad(in1: torch.Tensor, P: int, Q: int) -> torch.Tensor:
    M, N = in1.shape
    big = in1.new_zeros(M + 2 * (P - 1), N + 2 * (Q - 1))
    big[P - 1:P - 1 + M, Q - 1:Q - 1 + N] = in1
    return big


def _valid_order(in1, in2):
    """scipy's rule for 'valid': one input must be at least as large as the other in every axis."""
    if all(a >= b for a, b in zip(in1.shape, in2.shape)):
        return False
    if all(a <= b for a, b in zip(in1.shape, in2.shape)):
        return True
    raise ValueError(f"for mode='valid' one input must be at least as large as the other in every "
                     f"dimension, got shapes {tuple(in1.shape)} and {tuple(in2.shape)}")


def correlate2d(in1: torch.Tensor, in2: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """Cross-correlate two 2-D tensors, like ``scipy.signal.correlate2d`` (zero fill).

    ``full[i, j] = sum_{m,n} in1[m, n] * in2[m - i + P - 1, n - j + Q - 1]`` for in2 of shape (P, Q).
    Args:
        in1 (Tensor[M, N]), in2 (Tensor[P, Q]); mode: ``'full'`` (M+P-1, N+Q-1), ``'same'`` (M, N,
        centred on the full output) or ``'valid'`` (M-P+1, N-Q+1; no zero padding used).
    """
    in1, in2 = _check(in1, in2, mode)
    if mode == "valid":
        if _valid_order(in1, in2):  # scipy swaps the inputs and flips the result
            return _slide(in2, in1).flip(0, 1)
        return _slide(in1, in2)
    P, Q = in2.shape
    full = _slide(_full_pad(in1, P, Q), in2)
    if mode == "full":
        return full
    M, N = in1.shape
    top, left = P // 2, Q // 2  # scipy's centring: for an even kernel the extra row falls on top
    return full[top:top + M, left:left + N]


def convolve2d(in1: torch.Tensor, in2: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """Convolve two 2-D tensors, like ``scipy.signal.convolve2d``: correlate with ``in2`` flipped.

    ``full[i, j] = sum_{m,n} in1[m, n] * in2[i - m, j - n]``; convolution commutes, so for
    ``'valid'`` the larger input simply plays ``in1``.
    """
    in1, in2 = _check(in1, in2, mode)
    if mode == "valid":
        if _valid_order(in1, in2):
            in1, in2 = in2, in1
        return _slide(in1, in2.flip(0, 1))
    P, Q = in2.shape
    full = _slide(_full_pad(in1, P, Q), in2.flip(0, 1))
    if mode == "full":
        return full
    M, N = in1.shape
    top, left = (P - 1) // 2, (Q - 1) // 2
    return full[top:top + M, left:left + N]
