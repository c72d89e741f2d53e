"""Normalization and regularization layers from scratch: batch norm (functional, module, backward),
layer/group/instance norm, inverted dropout, SyncBN statistics, PCA/ZCA whitening, spectral norm.

Each mirrors its PyTorch counterpart (same arguments, defaults, buffers and in-place running-stat
updates) and is tested in ``tests/test_norm.py``. References: Ioffe & Szegedy 2015 (BN), Ba et al.
2016 (LN), Wu & He 2018 (GN), Ulyanov et al. 2016 (IN), Srivastava et al. 2014 (dropout), Miyato et
al. 2018 (spectral normalization), Kessy et al. 2018 (optimal whitening).
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_int, check_probability, check_tensor

__all__ = ["batch_norm", "BatchNorm2d", "batch_norm_backward", "layer_norm", "group_norm", "instance_norm",
           "dropout", "sync_batch_stats", "pca_whiten", "zca_whiten", "spectral_norm"]


def _affine(y, weight, bias, C, ndim):
    shape = (1, C) + (1,) * (ndim - 2)
    if weight is not None:
        y = y * weight.view(shape)
    if bias is not None:
        y = y + bias.view(shape)
    return y


def _check_channels(name, t, C):
    if t is not None:
        check_tensor(t, name, ndims=(1,))
        if t.shape[0] != C:
            raise ValueError(f"{name} must have {C} elements (one per channel), got {t.shape[0]}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalization, like ``F.batch_norm``.

    Training: normalize each channel with the batch mean and (biased) variance over N and all
    spatial positions, and update the running statistics in place:
    ``running = (1 - momentum)·running + momentum·batch`` with the *unbiased* batch variance.
    Eval: normalize with the running statistics. ``y = γ·(x - μ)/√(σ² + eps) + β``.
    Args:
        input (Tensor[N, C], [N, C, L] or [N, C, H, W]); running_mean, running_var (Tensor[C] or None).
    """
    check_tensor(input, "input", ndims=(2, 3, 4, 5), floating=True)
    C = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        _check_channels(name, t, C)
    dims = [0] + list(range(2, input.dim()))
    n = input.numel() // C
    shape = (1, C) + (1,) * (input.dim() - 2)
    if training:
        if n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"{tuple(input.shape)}")
        mean = input.mean(dim=dims)
        var = ((input - mean.view(shape)) ** 2).mean(dim=dims)                      # biased: used to normalize
        if running_mean is not None and running_var is not None:
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                running_var.mul_(1 - momentum).add_(momentum * var.detach() * n / (n - 1))  # unbiased
    else:
        if running_mean is None or running_var is None:
            raise ValueError("running_mean and running_var are required when training=False")
        mean, var = running_mean, running_var
    y = (input - mean.view(shape)) / torch.sqrt(var.view(shape) + eps)
    return _affine(y, weight, bias, C, input.dim())


class BatchNorm2d(nn.Module):
    """``nn.BatchNorm2d`` from scratch: same parameters and buffers (``weight``, ``bias``,
    ``running_mean``, ``running_var``, ``num_batches_tracked``), so it loads its ``state_dict``.
    ``momentum=None`` keeps a cumulative (equal-weight) average of the batch statistics."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True):
        super().__init__()
        check_int(num_features, "num_features", 1)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, input):
        check_tensor(input, "input", ndims=(4,), floating=True)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        use_batch_stats = self.training or self.running_mean is None
        update = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if update else None, self.running_var if update else None,
                          self.weight, self.bias, use_batch_stats, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


def batch_norm_backward(grad_output, input, weight=None, eps: float = 1e-5):
    """Gradients of training-mode batch norm, derived by hand:
    ``dβ = Σ dy``, ``dγ = Σ dy·x̂``, ``dx = γ/σ · (dy - mean(dy) - x̂·mean(dy·x̂))`` (sums and means
    per channel over N and the spatial positions). Returns (grad_input, grad_weight, grad_bias)."""
    check_tensor(input, "input", ndims=(2, 3, 4, 5), floating=True)
    check_tensor(grad_output, "grad_output", floating=True)
    if grad_output.shape != input.shape:
        raise ValueError(f"grad_output must have the input's shape {tuple(input.shape)}, "
                         f"got {tuple(grad_output.shape)}")
    C = input.shape[1]
    _check_channels("weight", weight, C)
    dims = [0] + list(range(2, input.dim()))
    shape = (1, C) + (1,) * (input.dim() - 2)
    mean = input.mean(dim=dims, keepdim=True)
    std = torch.sqrt(((input - mean) ** 2).mean(dim=dims, keepdim=True) + eps)
    xhat = (input - mean) / std
    gamma = weight.view(shape) if weight is not None else torch.ones(shape, dtype=input.dtype, device=input.device)
    dy = grad_output
    grad_input = gamma / std * (dy - dy.mean(dim=dims, keepdim=True) - xhat * (dy * xhat).mean(dim=dims, keepdim=True))
    return grad_input, (dy * xhat).sum(dim=dims), dy.sum(dim=dims)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Normalize over the last ``len(normalized_shape)`` dimensions of each sample (each token, for a
    Transformer's (N, L, D) input with normalized_shape = D), like ``F.layer_norm``."""
    check_tensor(input, "input", floating=True)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[-len(shape):]) != shape:
        raise ValueError(f"normalized_shape {shape} must match the last dimensions of input {tuple(input.shape)}")
    dims = tuple(range(-len(shape), 0))
    mean = input.mean(dim=dims, keepdim=True)
    var = ((input - mean) ** 2).mean(dim=dims, keepdim=True)
    y = (input - mean) / torch.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    return y + bias if bias is not None else y


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """Normalize each sample over groups of ``C / num_groups`` channels and all positions (``F.group_norm``).
    num_groups = 1 is LayerNorm over (C, H, W); num_groups = C is InstanceNorm."""
    check_tensor(input, "input", ndims=(2, 3, 4, 5), floating=True)
    check_int(num_groups, "num_groups", 1)
    N, C = input.shape[:2]
    if C % num_groups:
        raise ValueError(f"num_groups={num_groups} must divide the number of channels {C}")
    _check_channels("weight", weight, C)
    _check_channels("bias", bias, C)
    x = input.reshape(N, num_groups, -1)
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    y = ((x - mean) / torch.sqrt(var + eps)).reshape(input.shape)
    return _affine(y, weight, bias, C, input.dim())


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5):
    """Normalize each (sample, channel) map over its positions (style transfer), like ``F.instance_norm``;
    running statistics, if given, are updated with the batch average of the per-instance statistics."""
    check_tensor(input, "input", ndims=(3, 4, 5), floating=True)
    N, C = input.shape[:2]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        _check_channels(name, t, C)
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    x = input.reshape(1, N * C, *input.shape[2:])
    rm = running_mean.repeat(N) if running_mean is not None else None
    rv = running_var.repeat(N) if running_var is not None else None
    y = batch_norm(x, rm, rv, None, None, True, momentum, eps).reshape(input.shape)
    if running_mean is not None and running_var is not None:
        with torch.no_grad():
            running_mean.copy_(rm.view(N, C).mean(0))
            running_var.copy_(rv.view(N, C).mean(0))
    return _affine(y, weight, bias, C, input.dim())


def dropout(input, p: float = 0.5, training: bool = True, generator: torch.Generator | None = None):
    """Inverted dropout: zero each element with probability ``p`` (the *drop* probability) and scale the
    survivors by 1/(1 - p), so the expectation is unchanged and eval is the identity. The mask is drawn
    like ``F.dropout`` on the CPU (Bernoulli(1 - p)), so a seeded generator gives torch's pattern."""
    check_tensor(input, "input", floating=True)
    p = check_probability(p, "p")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    keep = torch.empty_like(input).bernoulli_(1 - p, generator=generator)
    return input * keep / (1 - p)


def sync_batch_stats(shards):
    """What SyncBN all-reduces: per-channel (mean, biased var, count) of the union of ``shards``
    (a list of Tensor[N_i, C, ...], one per device), from each shard's sum, sum of squares and count."""
    if not isinstance(shards, (list, tuple)) or not shards:
        raise ValueError(f"shards must be a non-empty list of tensors, got {shards!r}")
    C = shards[0].shape[1]
    total = total_sq = 0
    count = 0
    for i, s in enumerate(shards):
        check_tensor(s, f"shards[{i}]", ndims=(2, 3, 4, 5), floating=True)
        if s.shape[1] != C:
            raise ValueError(f"every shard must have {C} channels, shards[{i}] has {s.shape[1]}")
        dims = [0] + list(range(2, s.dim()))
        total = total + s.sum(dim=dims)                       # each device sends C sums ...
        total_sq = total_sq + (s * s).sum(dim=dims)           # ... C sums of squares ...
        count += s.numel() // C                               # ... and its count
    mean = total / count
    return mean, total_sq / count - mean * mean, count


def _whiten(x, eps):
    check_tensor(x, "x", ndims=(2,), floating=True)
    if x.shape[0] < 2:
        raise ValueError(f"x needs at least 2 samples (rows), got {x.shape[0]}")
    xc = x - x.mean(dim=0, keepdim=True)
    cov = xc.T @ xc / x.shape[0]
    eigval, eigvec = torch.linalg.eigh(cov)
    return xc, eigvec, 1.0 / torch.sqrt(eigval + eps)


def pca_whiten(x, eps: float = 1e-5):
    """PCA whitening of x (Tensor[N, D]): rotate onto the principal axes and scale each to unit
    variance, ``x_c U Λ^{-1/2}``. Covariance of the result ≈ I."""
    xc, U, inv_sqrt = _whiten(x, eps)
    return xc @ U * inv_sqrt


def zca_whiten(x, eps: float = 1e-5):
    """ZCA whitening: PCA whitening rotated back, ``x_c U Λ^{-1/2} Uᵀ``. Also covariance ≈ I, and
    of all whitening transforms the one closest to the original data (Kessy et al. 2018)."""
    xc, U, inv_sqrt = _whiten(x, eps)
    return (xc @ U * inv_sqrt) @ U.T


def spectral_norm(weight, n_power_iterations: int = 1, u=None, eps: float = 1e-12):
    """Spectral normalization (Miyato et al. 2018): estimate the largest singular value σ of
    ``weight`` reshaped to (out, -1) by power iteration and return ``(weight / σ, σ, u)``; pass ``u``
    back in to continue iterating (as the layer does once per training step)."""
    check_tensor(weight, "weight", floating=True)
    check_int(n_power_iterations, "n_power_iterations", 1)
    W = weight.reshape(weight.shape[0], -1)
    if u is None:
        u = torch.randn(W.shape[0], dtype=W.dtype, device=W.device, generator=None)
    u = u / (u.norm() + eps)
    with torch.no_grad():
        for _ in range(n_power_iterations):
            v = W.T @ u
            v = v / (v.norm() + eps)
            u = W @ v
            u = u / (u.norm() + eps)
    sigma = u @ W @ v
    return weight / sigma, sigma, u
