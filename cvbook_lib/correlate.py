"""2-D cross-correlation and convolution of single-channel signals, like ``scipy.signal``.

``correlate2d`` slides the complex conjugate of ``in2`` over ``in1``; ``convolve2d`` flips ``in2``
in both axes first (no conjugate). Deep-learning "convolution" layers compute the former (on real
data, where the conjugate changes nothing).

Inputs are 2-D tensors of any numeric dtype; they are promoted together as numpy (scipy) promotes them,
integers and bools to the default floating dtype, complex stays complex. Empty inputs give what
``scipy.signal`` gives: zeros of the mode's shape (an empty sum is 0), or a ValueError where that
shape would be negative.
"""

from __future__ import annotations

import numpy as np
import torch

from ._checks import check_choice, check_tensor

__all__ = ["correlate2d", "convolve2d"]

_MODES = ("full", "same", "valid")


def _slide(big: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Valid cross-correlation without conjugate: out[i, j] = sum_{u,v} big[i+u, j+v] * kernel[u, v]."""
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
    if in1.device != in2.device:
        raise ValueError(f"in1 and in2 must be on the same device, got {in1.device} and {in2.device}")
    # numpy's (scipy's) promotion, not torch's: float32 with int64 is float64 there
    np_dtype = np.result_type(*(torch.empty(0, dtype=t.dtype).numpy().dtype for t in (in1, in2)))
    dtype = torch.from_numpy(np.empty(0, dtype=np_dtype)).dtype
    if not (dtype.is_floating_point or dtype.is_complex):
        dtype = torch.get_default_dtype()
    return in1.to(dtype), in2.to(dtype)


def _full_pad(in1: torch.Tensor, P: int, Q: int) -> torch.Tensor:
    M, N = in1.shape
    big = in1.new_zeros(M + 2 * (P - 1), N + 2 * (Q - 1))
    big[P - 1:P - 1 + M, Q - 1:Q - 1 + N] = in1
    return big


def _valid_swap(in1, in2) -> bool:
    """scipy's rule for 'valid': one input must be at least as large as the other in every axis;
    the inputs are swapped when ``in1`` is the smaller one."""
    if all(a >= b for a, b in zip(in1.shape, in2.shape)):
        return False
    if all(a <= b for a, b in zip(in1.shape, in2.shape)):
        return True
    raise ValueError(f"for mode='valid' one of in1, in2 must be at least as large as the other in every "
                     f"dimension, got shapes {tuple(in1.shape)} and {tuple(in2.shape)}")


def _correlate(in1: torch.Tensor, in2: torch.Tensor, mode: str, same_offset) -> torch.Tensor:
    """Correlation (no conjugate) of ``in1`` with ``in2`` in ``mode``; 'same' crops the full result at
    ``same_offset(P, Q)``. Empty inputs give zeros of the mode's shape, like scipy."""
    (M, N), (P, Q) = in1.shape, in2.shape
    if mode == "valid":
        shape = (M - P + 1, N - Q + 1)
    elif mode == "full":
        shape = (M + P - 1, N + Q - 1)
    else:
        shape = (M, N)
    if in1.numel() == 0 or in2.numel() == 0:
        if min(shape) < 0:
            raise ValueError(f"in1 of shape {(M, N)} and in2 of shape {(P, Q)} give a negative output shape "
                             f"{shape} in mode={mode!r}")
        return in1.new_zeros(shape)
    if mode == "valid":
        return _slide(in1, in2)
    full = _slide(_full_pad(in1, P, Q), in2)
    if mode == "full":
        return full
    top, left = same_offset(P, Q)
    return full[top:top + M, left:left + N]


def correlate2d(in1: torch.Tensor, in2: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """Cross-correlate two 2-D tensors, like ``scipy.signal.correlate2d`` (zero fill).

    ``full[i, j] = sum_{m,n} in1[m, n] * conj(in2[m - i + P - 1, n - j + Q - 1])`` for in2 of shape
    (P, Q). Args:
        in1 (Tensor[M, N]), in2 (Tensor[P, Q]); mode: ``'full'`` (M+P-1, N+Q-1), ``'same'`` (M, N,
        centred on the full output) or ``'valid'`` (M-P+1, N-Q+1; no zero padding used).
    Returns: Tensor of the promoted dtype (complex for complex input). As scipy, 'valid' with ``in1``
    smaller than ``in2`` swaps the inputs (and conjugates the new ``in2``) and flips the result.
    """
    in1, in2 = _check(in1, in2, mode)
    swapped = mode == "valid" and _valid_swap(in1, in2)
    if swapped:
        in1, in2 = in2, in1
    out = _correlate(in1, in2.conj(), mode, lambda P, Q: (P // 2, Q // 2))  # even kernel: extra row on top
    out = out.flip(0, 1) if swapped else out
    return out.resolve_conj()


def convolve2d(in1: torch.Tensor, in2: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """Convolve two 2-D tensors, like ``scipy.signal.convolve2d``: correlate with ``in2`` flipped.

    ``full[i, j] = sum_{m,n} in1[m, n] * in2[i - m, j - n]`` (no conjugate); convolution commutes, so
    for ``'valid'`` the larger input simply plays ``in1``. Args and shapes as ``correlate2d``.
    """
    in1, in2 = _check(in1, in2, mode)
    if mode == "valid" and _valid_swap(in1, in2):
        in1, in2 = in2, in1
    return _correlate(in1, in2.flip(0, 1), mode, lambda P, Q: ((P - 1) // 2, (Q - 1) // 2))
