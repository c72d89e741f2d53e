"""Low-rank factorization of a layer by the truncated SVD.

A weight ``W`` of shape ``[m, n]`` (a Linear's ``[out, in]``; a conv's ``[out, in·k_h·k_w]`` once reshaped)
has the SVD ``W = U Σ Vᵀ`` with singular values ``σ_1 >= σ_2 >= ... >= 0``. Keeping the first ``r``,
``W_r = U_r Σ_r V_rᵀ = B A`` with ``B = U_r Σ_r^{1/2}`` (``[m, r]``) and ``A = Σ_r^{1/2} V_rᵀ`` (``[r, n]``).
By the Eckart–Young–Mirsky theorem (1936) no matrix of rank ``r`` is closer to ``W``:
``‖W - W_r‖_F² = Σ_{i>r} σ_i²``. One layer becomes two:

- ``nn.Linear(n, m)`` → ``Linear(n, r, bias=False)`` then ``Linear(r, m)`` (Denton et al. 2014, arXiv
  1404.0736; Xue et al. 2013 for speech models);
- ``nn.Conv2d(c_in, c_out, k)`` → ``Conv2d(c_in, r, k)`` (same stride, padding, dilation) then a 1×1
  ``Conv2d(r, c_out)``: the *channel* decomposition of Zhang et al. 2015 (arXiv 1505.06798), here from
  the weights alone (their method also uses the layer's responses). Jaderberg et al. 2014 (arXiv
  1405.3866) factor the *spatial* kernel instead (k×1 then 1×k). Conv1d/Conv3d work the same way.

The factored layer has ``r·(m + n)`` weights instead of ``m·n`` (and as many MACs per output position),
so it only saves when ``r < m·n / (m + n)`` (:func:`break_even_rank`). The SVD is taken in at least
float32 (float16 has no SVD kernel) and the factors are cast back to the layer's dtype and device.
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import _short, check_int

__all__ = ["low_rank", "svd_error", "low_rank_params", "break_even_rank"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _matrix(module, name: str = "module") -> torch.Tensor:
    """The weight of a Linear or a (non-grouped, non-transposed) conv as a matrix ``[m, n]``."""
    if isinstance(module, _CONVS):
        if module.groups != 1:
            raise ValueError(
                f"{name} must be a conv with groups=1 (a grouped conv's weight is block-diagonal; "
                f"factor each group on its own), got groups={module.groups}"
            )
        w = module.weight.detach()
        w = w.reshape(w.shape[0], -1)  # [c_out, c_in·k_h·k_w]
    elif isinstance(module, nn.Linear):
        w = module.weight.detach()
    elif isinstance(module, nn.modules.conv._ConvTransposeNd):
        raise TypeError(
            f"{name} must be nn.Linear or nn.Conv1d/2d/3d; transposed convs are not supported, "
            f"got {type(module).__name__}"
        )
    else:
        raise TypeError(f"{name} must be nn.Linear or nn.Conv1d/2d/3d, got {type(module).__name__} {_short(module)}")
    if not bool(torch.isfinite(w).all()):
        raise ValueError(f"{name}.weight must be finite (no NaN or inf) to be factored")
    return w


def _rank(rank, w: torch.Tensor) -> int:
    full = min(w.shape)
    return check_int(rank, "rank", 1, full)  # 1 <= rank <= min(m, n)


def _factors(w: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``B [m, r]`` and ``A [r, n]`` with ``B A = U_r Σ_r V_rᵀ``, √Σ given to both factors."""
    work = w.to(torch.promote_types(w.dtype, torch.float32))
    U, S, Vh = torch.linalg.svd(work, full_matrices=False)  # U [m, k], S [k], Vh [k, n], k = min(m, n)
    root = S[:r].sqrt()
    B = U[:, :r] * root  # [m, r]
    A = root[:, None] * Vh[:r]  # [r, n]
    return B.to(w.dtype), A.to(w.dtype)


def low_rank(module: nn.Module, rank: int) -> nn.Sequential:
    """Replace a layer by two thinner ones whose product is its best rank-``rank`` approximation.

    module (nn.Linear, or nn.Conv1d/2d/3d with ``groups=1``); rank (int, 1 <= rank <= min(m, n) where the
    weight is ``[m, n]``: ``[out_features, in_features]`` or ``[out_channels, in_channels·prod(kernel_size)]``).

    Returns: ``nn.Sequential(first, second)``, new modules on the layer's device and dtype (the layer is not
    changed). Linear: ``first = Linear(in, rank, bias=False)``, ``second = Linear(rank, out, bias=...)``.
    Conv: ``first = ConvNd(in, rank, kernel_size, stride, padding, dilation, padding_mode, bias=False)``,
    ``second = ConvNd(rank, out, 1)``. The bias, if any, moves to ``second``. With ``rank = min(m, n)`` the
    result equals the layer up to rounding; input shapes ``[*, in]`` / ``[N, C_in, *spatial]`` as the layer's.
    """
    w = _matrix(module)
    r = _rank(rank, w)
    B, A = _factors(w, r)
    m = module
    kw = dict(device=w.device, dtype=w.dtype)
    has_bias = m.bias is not None
    if isinstance(m, nn.Linear):
        first = nn.Linear(m.in_features, r, bias=False, **kw)
        second = nn.Linear(r, m.out_features, bias=has_bias, **kw)
        shape_a, shape_b = (r, m.in_features), (m.out_features, r)
    else:
        conv = type(m)
        first = conv(
            m.in_channels,
            r,
            m.kernel_size,
            stride=m.stride,
            padding=m.padding,
            dilation=m.dilation,
            bias=False,
            padding_mode=m.padding_mode,
            **kw,
        )
        second = conv(r, m.out_channels, 1, bias=has_bias, **kw)
        shape_a = (r, *m.weight.shape[1:])  # [r, c_in, *k]
        shape_b = (m.out_channels, r) + (1,) * (m.weight.dim() - 2)  # [c_out, r, 1, ...]
    with torch.no_grad():
        first.weight.copy_(A.reshape(shape_a))
        second.weight.copy_(B.reshape(shape_b))
        if has_bias:
            second.bias.copy_(m.bias.detach())
    return nn.Sequential(first, second)


def svd_error(module: nn.Module, rank: int) -> torch.Tensor:
    """``‖W - W_r‖_F²``, the squared Frobenius error of :func:`low_rank`'s weight product (0-d tensor).

    ``W_r`` is rebuilt from the two factored layers' weights, so the number checks the layers themselves;
    Eckart–Young says it equals ``Σ_{i>rank} σ_i²`` (``tests/test_compress_lowrank.py`` compares with
    ``numpy.linalg.svd`` in float64). module and rank as in :func:`low_rank`; dtype and device of the weight.
    """
    w = _matrix(module)
    _rank(rank, w)
    first, second = low_rank(module, rank)
    A = first.weight.detach().reshape(first.weight.shape[0], -1)  # [r, n]
    B = second.weight.detach().reshape(second.weight.shape[0], -1)  # [m, r]
    return (w - B @ A).pow(2).sum()


def low_rank_params(module: nn.Module, rank: int) -> int:
    """Parameters of ``low_rank(module, rank)`` without building it: ``rank·(m + n)`` (+ the bias).

    The layer itself has ``m·n`` (+ the bias): see :func:`break_even_rank`.
    """
    w = _matrix(module)
    r = _rank(rank, w)
    m, n = w.shape
    return r * (m + n) + (module.bias.numel() if module.bias is not None else 0)


def break_even_rank(module: nn.Module) -> int:
    """The largest rank whose factorization has *fewer* weights than the layer: the largest integer
    ``r < m·n / (m + n)``; 0 when no rank saves anything (e.g. ``m = 1``). The same bound holds for MACs.

    Example: ``Linear(512, 256)``: ``512·256 / 768 = 170.7`` → 170; a 3×3 ``Conv2d(64, 64)``
    (``m = 64, n = 576``): ``57.6`` → 57.
    """
    w = _matrix(module)
    m, n = w.shape
    return (m * n - 1) // (m + n)  # r·(m + n) < m·n  <=>  r <= (m·n - 1) // (m + n)
