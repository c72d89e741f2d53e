"""Normalization and regularization layers from scratch: batch norm (functional, module, backward),
layer/group/instance norm, inverted dropout; SyncBN statistics, PCA/ZCA whitening and spectral norm
live in :mod:`cvbook_lib.whitening` and are re-exported here.

Each mirrors its PyTorch counterpart (same arguments, defaults, buffers and in-place running-stat
updates, NaN propagation and empty outputs) and is tested in ``tests/test_norm.py``. Statistics use the
corrected two-pass algorithm (centre, then remove the small remaining mean) and float16/bfloat16 are
computed in float32, as torch's kernels do. Deliberate differences: integer, bool and complex tensors
are refused where a floating tensor is needed; ``eps`` must be > 0 wherever batch statistics
normalize (torch refuses it only in training ``batch_norm``), ``momentum`` must be finite
(torch takes NaN and inf too; like torch, values outside [0, 1] extrapolate the running average);
per-channel tensors must be 1-D (torch only counts elements).
References: Ioffe & Szegedy 2015 (BN), Ba et al. 2016 (LN), Wu & He 2018 (GN), Ulyanov et al. 2016
(IN), Srivastava et al. 2014 (dropout), Chan, Golub & LeVeque 1979 (parallel variance), Miyato et
al. 2018 (spectral normalization), Kessy et al. 2018 (optimal whitening).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import check_bool, check_float, check_int, check_probability, check_tensor

__all__ = ["batch_norm", "BatchNorm2d", "batch_norm_backward", "layer_norm", "group_norm", "instance_norm",
           "dropout", "sync_batch_stats", "pca_whiten", "zca_whiten", "spectral_norm"]

_HALF = (torch.float16, torch.bfloat16)


# ----------------------------------------------------------------------------- private helpers
def _opmath(x):
    """float16/bfloat16 are computed in float32 (torch's "opmath" type); other dtypes as they are."""
    return x.float() if x.dtype in _HALF else x


def _centred(x, dims):
    """``(x - mean, mean, biased var)`` over ``dims`` (keepdim) by the corrected two-pass algorithm:
    centre on the mean ``m``, then remove the small mean ``c`` left in ``d = x - m`` by rounding:
    var = mean(d²) - c². Accurate even for data at 1e4 ± 1e-2, where E[x²] - E[x]² is pure rounding."""
    m = x.mean(dim=dims, keepdim=True)
    d = x - m
    c = d.mean(dim=dims, keepdim=True)
    return d - c, m, ((d * d).mean(dim=dims, keepdim=True) - c * c).clamp_min(0)


def _check_params(input, shape, what, **tensors):
    """Each tensor: None or a floating tensor of exactly ``shape`` on input's device; all share one dtype,
    input's (or float32 for a float16/bfloat16 input: torch's mixed-dtype rule). Running statistics come
    in pairs."""
    allowed = (input.dtype, torch.float32) if input.dtype in _HALF else (input.dtype,)
    seen = None
    for name, t in tensors.items():
        if t is None:
            continue
        check_tensor(t, name, kind="float")
        if tuple(t.shape) != tuple(shape):
            raise ValueError(f"{name} must have shape {tuple(shape)} ({what} of input of shape "
                             f"{tuple(input.shape)}), got a tensor of shape {tuple(t.shape)}")
        if t.dtype not in allowed or (seen is not None and t.dtype != seen):
            raise TypeError(f"{name} has dtype {t.dtype}; with input of dtype {input.dtype} it must be one of "
                            f"{list(allowed)}, the same for every parameter")
        if t.device != input.device:
            raise ValueError(f"{name} must be on input's device {input.device}, got {t.device}")
        seen = t.dtype
    if (tensors.get("running_mean") is None) != (tensors.get("running_var") is None):
        raise ValueError("running_mean and running_var must either both be None or neither be None")


def _check_eps(eps, batch_stats: bool) -> float:
    return check_float(eps, "eps", 0.0, min_open=batch_stats)


def _channel_shape(input):
    return (1, input.shape[1]) + (1,) * (input.dim() - 2)


def _values_per_channel(input) -> int:
    return input.shape[0] * math.prod(input.shape[2:])


def _validate_batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps):
    check_tensor(input, "input", min_ndim=2, kind="float")
    training = check_bool(training, "training")
    momentum = check_float(momentum, "momentum", allow_inf=False)
    eps = _check_eps(eps, training)
    _check_params(input, input.shape[1:2], "one per channel", running_mean=running_mean, running_var=running_var,
                  weight=weight, bias=bias)
    if training and _values_per_channel(input) == 1:
        raise ValueError(f"input must have more than 1 value per channel when training, got input of shape "
                         f"{tuple(input.shape)}")
    if not training and running_mean is None:
        raise ValueError("running_mean and running_var are required when training=False, got None")
    return training, momentum, eps


def _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps):
    """batch_norm on validated arguments."""
    shape, x = _channel_shape(input), _opmath(input)
    if training:
        if input.numel() == 0:
            return torch.empty_like(input)                                          # torch: stats unchanged
        dims = [0] + list(range(2, input.dim()))
        xc, mean, var = _centred(x, dims)
        if running_mean is not None:
            n = _values_per_channel(input)
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mean.reshape(-1))
                running_var.mul_(1 - momentum).add_(momentum * var.reshape(-1) * (n / (n - 1)))  # unbiased
        y = xc / torch.sqrt(var + eps)                                              # biased var normalizes
    else:
        y = (x - running_mean.view(shape)) / torch.sqrt(running_var.view(shape) + eps)
    return _affine(y, weight, bias, input, shape)


def _affine(y, weight, bias, input, shape):
    """γ·y + β with γ, β viewed as ``shape``, cast back to input's dtype."""
    if weight is not None:
        y = y * weight.view(shape)
    if bias is not None:
        y = y + bias.view(shape)
    return y.to(input.dtype)


# ----------------------------------------------------------------------------- batch norm
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalization, like ``F.batch_norm``.

    Training: normalize each channel with the batch mean and (biased) variance over N and all
    spatial positions, and update the running statistics in place:
    ``running = (1 - momentum)·running + momentum·batch`` with the *unbiased* batch variance.
    Eval: normalize with the running statistics. ``y = γ·(x - μ)/√(σ² + eps) + β``.
    Everything is validated before a running statistic is touched; an empty batch returns an empty
    output and leaves the statistics unchanged (as torch does).
    Args:
        input (Tensor[N, C, *]); running_mean, running_var, weight, bias (Tensor[C] or None);
        training (bool); momentum (finite float, usually in [0, 1]); eps (float, > 0 in training, >= 0 in eval).
    Returns: Tensor[N, C, *] of input's dtype.
    """
    training, momentum, eps = _validate_batch_norm(input, running_mean, running_var, weight, bias, training,
                                                   momentum, eps)
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


class BatchNorm2d(nn.Module):
    """``nn.BatchNorm2d`` from scratch: same arguments, parameters and buffers (``weight``, ``bias``,
    ``running_mean``, ``running_var``, ``num_batches_tracked``), so it loads its ``state_dict``.
    ``momentum=None`` keeps a cumulative (equal-weight) average of the batch statistics. A forward that
    raises leaves every buffer (``num_batches_tracked`` included) unchanged; an empty batch in training
    returns an empty output, counts the batch and leaves the statistics unchanged, as torch does."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features = check_int(num_features, "num_features", 0)
        self.eps = _check_eps(eps, False)
        self.momentum = None if momentum is None else check_float(momentum, "momentum", allow_inf=False)
        self.affine = check_bool(affine, "affine")
        self.track_running_stats = check_bool(track_running_stats, "track_running_stats")
        bias = check_bool(bias, "bias")
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise TypeError(f"dtype must be None or a floating torch.dtype, got {dtype!r}")
        kw = dict(device=device, dtype=dtype)
        n = self.num_features
        self.weight = nn.Parameter(torch.ones(n, **kw)) if self.affine else None
        self.bias = nn.Parameter(torch.zeros(n, **kw)) if self.affine and bias else None
        stats = self.track_running_stats
        self.register_buffer("running_mean", torch.zeros(n, **kw) if stats else None)
        self.register_buffer("running_var", torch.ones(n, **kw) if stats else None)
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device) if stats else None)

    def forward(self, input):
        """input (Tensor[N, C, H, W]) -> Tensor[N, C, H, W]."""
        check_tensor(input, "input", ndims=(4,), kind="float")
        if input.shape[1] != self.num_features:
            raise ValueError(f"input must have num_features={self.num_features} channels, got shape "
                             f"{tuple(input.shape)}")
        if self.momentum is not None:
            check_float(self.momentum, "momentum", allow_inf=False)
        use_batch_stats = self.training or self.running_mean is None
        update = not self.training or self.track_running_stats
        rm, rv = (self.running_mean, self.running_var) if update else (None, None)
        args = (input, rm, rv, self.weight, self.bias, use_batch_stats, 0.0, self.eps)
        _, _, eps = _validate_batch_norm(*args)                                     # before any buffer changes
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        return _batch_norm(input, rm, rv, self.weight, self.bias, use_batch_stats, factor, eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None or not self.affine}, track_running_stats={self.track_running_stats}")


def batch_norm_backward(grad_output, input, weight=None, eps: float = 1e-5):
    """Gradients of training-mode batch norm, derived by hand:
    ``dβ = Σ dy``, ``dγ = Σ dy·x̂``, ``dx = γ/σ · (dy - mean(dy) - x̂·mean(dy·x̂))`` (sums and means
    per channel over N and the spatial positions).
    Args: grad_output, input (Tensor[N, C, *], same shape; grad_output is cast to input's dtype, as autograd
    does); weight (Tensor[C] or None); eps > 0.
    Returns: (grad_input Tensor[N, C, *], grad_weight Tensor[C], grad_bias Tensor[C])."""
    check_tensor(input, "input", min_ndim=2, kind="float")
    check_tensor(grad_output, "grad_output", kind="float")
    if grad_output.shape != input.shape:
        raise ValueError(f"grad_output must have the input's shape {tuple(input.shape)}, "
                         f"got {tuple(grad_output.shape)}")
    if grad_output.device != input.device:
        raise ValueError(f"grad_output must be on input's device {input.device}, got {grad_output.device}")
    _check_params(input, input.shape[1:2], "one per channel", weight=weight)
    eps = _check_eps(eps, True)
    if _values_per_channel(input) == 1:
        raise ValueError(f"input must have more than 1 value per channel, got input of shape {tuple(input.shape)}")
    dims = [0] + list(range(2, input.dim()))
    shape, x, dy = _channel_shape(input), _opmath(input), _opmath(grad_output.to(input.dtype))  # as autograd
    xc, _, var = _centred(x, dims)
    std = torch.sqrt(var + eps)
    xhat = xc / std
    gamma = weight.view(shape) if weight is not None else 1.0
    mean_dy, mean_dy_xhat = dy.mean(dim=dims, keepdim=True), (dy * xhat).mean(dim=dims, keepdim=True)
    grad_input = gamma / std * (dy - mean_dy - xhat * mean_dy_xhat)
    out_dtype = weight.dtype if weight is not None else input.dtype
    return grad_input.to(input.dtype), (dy * xhat).sum(dim=dims).to(out_dtype), dy.sum(dim=dims).to(out_dtype)


# ----------------------------------------------------------------------------- layer / group / instance norm
def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Normalize over the last ``len(normalized_shape)`` dimensions of each sample (each token, for a
    Transformer's (N, L, D) input with normalized_shape = D), like ``F.layer_norm`` (an int is taken as
    ``(int,)``, as ``nn.LayerNorm`` does). Args: input (Tensor[*, *normalized_shape]); weight, bias
    (Tensor[*normalized_shape] or None); eps > 0. Returns: a tensor of input's shape and dtype."""
    check_tensor(input, "input", kind="float")
    if isinstance(normalized_shape, (list, tuple, torch.Size)):
        shape = tuple(check_int(s, "normalized_shape", 0) for s in normalized_shape)
    else:
        shape = (check_int(normalized_shape, "normalized_shape", 0),)
    if not shape:
        raise ValueError("normalized_shape must have at least one element, got ()")
    if tuple(input.shape[input.dim() - len(shape):]) != shape or input.dim() < len(shape):
        raise ValueError(f"normalized_shape {shape} must match the last dimensions of input {tuple(input.shape)}")
    _check_params(input, shape, "normalized_shape", weight=weight, bias=bias)
    eps = _check_eps(eps, True)
    xc, _, var = _centred(_opmath(input), tuple(range(-len(shape), 0)))
    return _affine(xc / torch.sqrt(var + eps), weight, bias, input, shape)


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """Normalize each sample over groups of ``C / num_groups`` channels and all positions (``F.group_norm``).
    num_groups = 1 is LayerNorm over (C, H, W); num_groups = C is InstanceNorm.
    Args: input (Tensor[N, C, *]), C > 0, every spatial size > 0; num_groups (int dividing C); weight,
    bias (Tensor[C] or None); eps > 0. An empty batch (N = 0) gives an empty output; a single sample
    with one value per group (N = 1, C = num_groups, no positions) is refused, as torch does.
    Returns: a tensor of input's shape and dtype."""
    check_tensor(input, "input", min_ndim=2, kind="float")
    num_groups = check_int(num_groups, "num_groups", 1)
    N, C = input.shape[:2]
    spatial = math.prod(input.shape[2:])
    if C == 0 or spatial == 0:
        raise ValueError(f"input must have C > 0 channels and positions, got shape {tuple(input.shape)}")
    if C % num_groups:
        raise ValueError(f"num_groups={num_groups} must divide the number of channels {C} of input")
    _check_params(input, (C,), "one per channel", weight=weight, bias=bias)
    eps = _check_eps(eps, True)
    if N * (C // num_groups) * spatial == 1:
        raise ValueError(f"input of shape {tuple(input.shape)} has a single value per group (num_groups="
                         f"{num_groups}): its normalized output is undefined")
    if N == 0:
        return torch.empty_like(input)
    xc, _, var = _centred(_opmath(input).reshape(N, num_groups, -1), (-1,))
    y = (xc / torch.sqrt(var + eps)).reshape(input.shape)
    return _affine(y, weight, bias, input, _channel_shape(input))


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5):
    """Normalize each (sample, channel) map over its positions (style transfer), like ``F.instance_norm``;
    running statistics, if given, are updated with the batch average of the per-instance statistics
    (left unchanged by an empty batch, where torch writes NaN into them).
    Args: input (Tensor[N, C, *], at least one spatial dim); running_mean, running_var, weight, bias
    (Tensor[C] or None); use_input_stats (bool); momentum (finite float); eps (> 0 with input statistics).
    Returns: a tensor of input's shape and dtype."""
    check_tensor(input, "input", min_ndim=3, kind="float")
    use_input_stats = check_bool(use_input_stats, "use_input_stats")
    momentum = check_float(momentum, "momentum", allow_inf=False)
    eps = _check_eps(eps, use_input_stats)
    _check_params(input, input.shape[1:2], "one per channel", running_mean=running_mean, running_var=running_var,
                  weight=weight, bias=bias)
    n = math.prod(input.shape[2:])
    if not use_input_stats:
        if running_mean is None:
            raise ValueError("running_mean and running_var are required when use_input_stats=False, got None")
        return _batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    if n == 1:
        raise ValueError(f"input must have more than 1 spatial element, got input of shape {tuple(input.shape)}")
    if input.numel() == 0:
        return torch.empty_like(input)
    xc, mean, var = _centred(_opmath(input), tuple(range(2, input.dim())))
    if running_mean is not None:
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * mean.flatten(1).mean(0))
            running_var.mul_(1 - momentum).add_(momentum * var.flatten(1).mean(0) * (n / (n - 1)))
    return _affine(xc / torch.sqrt(var + eps), weight, bias, input, _channel_shape(input))


def dropout(input, p: float = 0.5, training: bool = True, generator: torch.Generator | None = None):
    """Inverted dropout: zero each element with probability ``p`` (the *drop* probability) and scale the
    survivors by 1/(1 - p), so the expectation is unchanged and eval is the identity. The mask is drawn
    like ``F.dropout`` on the CPU (Bernoulli(1 - p)), so a seeded generator gives torch's pattern.
    Args: input (Tensor, any shape); p in [0, 1]; training (bool); generator (torch.Generator or None).
    Returns: a tensor of input's shape (``input`` itself when not training or p = 0)."""
    check_tensor(input, "input", kind="float")
    p = check_probability(p, "p")
    training = check_bool(training, "training")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be None or a torch.Generator, got {type(generator).__name__}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    keep = torch.empty_like(input).bernoulli_(1 - p, generator=generator)
    return input * keep / (1 - p)


from .whitening import pca_whiten, spectral_norm, sync_batch_stats, zca_whiten  # noqa: E402  (re-exported)
