"""Statistics beyond one batch: what SyncBN all-reduces across devices (Chan et al.'s parallel
variance), PCA/ZCA whitening, and spectral normalization.

Re-exported by :mod:`cvbook_lib.norm` (``norm.sync_batch_stats`` ...); tested in ``tests/test_norm.py``
against ``torch.var`` in float64, ``torch.linalg`` and ``torch.nn.utils.spectral_norm``. As in
:mod:`cvbook_lib.norm`, integer, bool and complex tensors are refused where a floating tensor is
needed. References: Chan, Golub & LeVeque 1979 (parallel variance), Kessy et al. 2018 (optimal
whitening), Miyato et al. 2018 (spectral normalization).
"""

from __future__ import annotations

import math

import torch

from ._checks import check_finite, check_float, check_int, check_tensor
from .norm import _HALF, _centred, _opmath, _values_per_channel

__all__ = ["sync_batch_stats", "pca_whiten", "zca_whiten", "spectral_norm"]


def sync_batch_stats(shards):
    """What SyncBN computes from the devices' statistics: per-channel (mean, biased var, count) of the union
    of ``shards`` (a list of Tensor[N_i, C, *], one per device, one dtype). Each device gives the number of
    its values per channel ``n_i`` (N_i·H·W), their mean ``m_i`` and sum of squared deviations ``M2_i``, of
    its data shifted by a common ``K`` (one broadcast value: here the first shard's mean); they are combined
    pairwise with Chan et al.'s formula ``δ = m_b - m_a``, ``m = (n_a·m_a + n_b·m_b)/n``,
    ``M2 = M2_a + M2_b + δ²·n_a·n_b/n``. (``nn.SyncBatchNorm`` all-gathers each device's mean, 1/sqrt(var + eps)
    and count and merges them by count, without the shift: about 1% off on data at 1e4 ± 1e-2 in float32.)
    Sums of squares would not do: E[x²] - E[x]² of such data is pure float32 rounding.
    Returns: (mean Tensor[C], var Tensor[C], count int); NaN statistics when every shard is empty (like
    ``torch.var`` of an empty batch)."""
    if not isinstance(shards, (list, tuple)):
        raise TypeError(f"shards must be a list or tuple of tensors, got {type(shards).__name__}")
    if not shards:
        raise ValueError("shards must be a non-empty list of tensors, got an empty one")
    for i, s in enumerate(shards):
        check_tensor(s, f"shards[{i}]", min_ndim=2, kind="float")
        if s.shape[1] != shards[0].shape[1]:
            raise ValueError(f"every shard must have {shards[0].shape[1]} channels, shards[{i}] has {s.shape[1]}")
        if s.dtype != shards[0].dtype or s.device != shards[0].device:
            raise TypeError(f"every shard must have the dtype and device of shards[0] ({shards[0].dtype}, "
                            f"{shards[0].device}), shards[{i}] has {s.dtype}, {s.device}")
    C, dtype = shards[0].shape[1], shards[0].dtype
    count, mean, m2, K = 0, torch.full((C,), math.nan, device=shards[0].device), None, 0.0
    for s in shards:
        n, dims, x = _values_per_channel(s), [0] + list(range(2, s.dim())), _opmath(s)
        if n == 0:
            continue
        if count == 0:                                                          # the shift: finite, one per channel
            K = x.mean(dim=dims, keepdim=True).nan_to_num(0.0, 0.0, 0.0)
        _, m, v = _centred(x - K, dims)                                         # each device: n, mean, M2
        m, v = m.reshape(-1), v.reshape(-1) * n
        if count == 0:
            mean, m2 = m, v
        else:
            delta, total = m - mean, count + n
            mean, m2 = mean * (count / total) + m * (n / total), m2 + v + delta * delta * (count * n / total)
        count += n
    if count == 0:
        return mean.to(dtype), mean.to(dtype), 0
    return (mean + K.reshape(-1)).to(dtype), (m2 / count).to(dtype), count


def _whiten(x, eps):
    check_tensor(x, "x", ndims=(2,), kind="float")
    eps = check_float(eps, "eps", 0.0, allow_inf=False)
    if x.shape[0] < 2:
        raise ValueError(f"x needs at least 2 samples (rows), got {x.shape[0]}")
    check_finite(x, "x")
    xf = x.float() if x.dtype in _HALF else x                                      # eigh has no float16
    xc = xf - xf.mean(dim=0, keepdim=True)
    eigval, eigvec = torch.linalg.eigh(xc.T @ xc / x.shape[0])
    return xc, eigvec, 1.0 / torch.sqrt(eigval.clamp_min(0) + eps)


def pca_whiten(x, eps: float = 1e-5):
    """PCA whitening of x (Tensor[N, D], N >= 2, finite): rotate onto the principal axes and scale each
    to unit variance, ``x_c U (Λ + eps)^{-1/2}`` (biased covariance, eps >= 0). Covariance of the result ≈ I.
    Returns: Tensor[N, D] of x's dtype."""
    xc, U, inv_sqrt = _whiten(x, eps)
    return (xc @ U * inv_sqrt).to(x.dtype)


def zca_whiten(x, eps: float = 1e-5):
    """ZCA whitening: PCA whitening rotated back, ``x_c U (Λ + eps)^{-1/2} Uᵀ = x_c (Σ + eps·I)^{-1/2}``. Also
    covariance ≈ I, and of all whitening transforms the one closest to the original data (Kessy et al.
    2018). Args as :func:`pca_whiten`. Returns: Tensor[N, D] of x's dtype."""
    xc, U, inv_sqrt = _whiten(x, eps)
    return ((xc @ U * inv_sqrt) @ U.T).to(x.dtype)


def _normalize(v, eps):
    return v / torch.clamp_min(torch.linalg.vector_norm(v), eps)                # torch's F.normalize


def spectral_norm(weight, n_power_iterations: int = 1, u=None, eps: float = 1e-12):
    """Spectral normalization (Miyato et al. 2018): estimate the largest singular value σ of
    ``weight`` reshaped to (out, -1) by power iteration (their Algorithm 1, as ``torch.nn.utils.spectral_norm``:
    ``v = normalize(Wᵀu)``, ``u = normalize(Wv)``, ``σ = uᵀWv``, where ``normalize`` divides by
    max(‖·‖, eps)) and return ``(weight / σ, σ, u)``; pass ``u`` back in to continue iterating (as the
    layer does once per training step). The iteration runs on ``W / max|W|`` and σ is scaled back, so
    the answer does not depend on the weight's scale: torch lets eps dominate a tiny weight (×1e-30
    gives ±inf), ours does not. A zero weight gives σ = 0 and NaN, as torch does.
    Args: weight (Tensor[out, *], floating); n_power_iterations (int >= 1); u (Tensor[out], finite and not
    all zero, any floating dtype: the start, normalized first; random when None); eps (>= 0, finite).
    Returns: (Tensor of weight's shape, σ 0-d tensor, u Tensor[out])."""
    check_tensor(weight, "weight", min_ndim=1, kind="float")
    n_power_iterations = check_int(n_power_iterations, "n_power_iterations", 1)
    eps = check_float(eps, "eps", 0.0, allow_inf=False)
    if weight.shape[0] == 0:
        raise ValueError(f"weight must have at least one row, got shape {tuple(weight.shape)}")
    W = _opmath(weight).reshape(weight.shape[0], -1)
    if u is None:
        u = torch.randn(W.shape[0], dtype=W.dtype, device=W.device)
    check_tensor(u, "u", ndims=(1,), kind="float")
    if u.shape[0] != W.shape[0] or u.device != W.device:
        raise ValueError(f"u must have {W.shape[0]} elements (one per row of weight) on {W.device}, got shape "
                         f"{tuple(u.shape)} on {u.device}")
    check_finite(u, "u")
    u = u.to(W.dtype)
    if not bool(u.ne(0).any()):
        raise ValueError("u must not be all zeros: the power iteration would stay at 0")
    scale = W.abs().amax() if W.numel() else W.new_zeros(())
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))                # zero weight: σ = 0
    Ws = W / scale
    u = _normalize(u / u.abs().amax(), eps)
    with torch.no_grad():
        for _ in range(n_power_iterations):
            v = _normalize(Ws.T @ u, eps)
            u = _normalize(Ws @ v, eps)
    sigma = (u @ Ws @ v) * scale
    return (_opmath(weight) / sigma).to(weight.dtype), sigma.to(weight.dtype), u.to(weight.dtype)
