"""Weight initialization, like ``torch.nn.init``: gains, fans, Xavier/Glorot and He/Kaiming.

Xavier (Glorot & Bengio 2010): Var(W) = gain² · 2 / (fan_in + fan_out), keeping the variance of
activations and gradients roughly constant for symmetric activations. He (He et al. 2015):
Var(W) = gain² / fan with gain √2 for ReLU (which zeroes half the signal). A uniform U(-a, a) has
variance a²/3, so a = √3 · std. Same arguments and random draws as torch (tests/test_init.py).
"""

from __future__ import annotations

import math

import torch

from ._checks import check_choice, check_tensor

__all__ = ["calculate_gain", "fan_in_and_fan_out", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_"]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
           "sigmoid")


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The factor that keeps the variance through ``nonlinearity``: 1 for linear/conv/sigmoid, 5/3 for
    tanh, √2 for ReLU, √(2 / (1 + slope²)) for leaky ReLU (slope ``param``, default 0.01), 3/4 for SELU."""
    check_choice(nonlinearity, "nonlinearity", _LINEAR + ("tanh", "relu", "leaky_relu", "selu"))
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    slope = 0.01 if param is None else param
    if isinstance(slope, bool) or not isinstance(slope, (int, float)):
        raise ValueError(f"negative_slope {slope!r} is not a valid number")
    return math.sqrt(2.0 / (1 + slope ** 2))


def fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight: Linear (out, in) -> (in, out); Conv (out, in/groups, k...) ->
    (in/groups·∏k, out·∏k)."""
    check_tensor(tensor, "tensor")
    if tensor.dim() < 2:
        raise ValueError(f"Fan in and fan out can not be computed for tensor with fewer than 2 dimensions, "
                         f"got {tensor.dim()}")
    receptive = math.prod(tensor.shape[2:]) if tensor.dim() > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """U(-a, a) with a = gain · √(6 / (fan_in + fan_out)), in place."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    with torch.no_grad():
        return tensor.uniform_(-a, a, generator=generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """N(0, std²) with std = gain · √(2 / (fan_in + fan_out)), in place."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    with torch.no_grad():
        return tensor.normal_(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator=generator)


def _kaiming_std(tensor, a, mode, nonlinearity):
    check_choice(mode, "mode", ("fan_in", "fan_out"))
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    """U(-b, b) with b = √3 · gain / √fan (He et al. 2015), in place."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    with torch.no_grad():
        return tensor.uniform_(-bound, bound, generator=generator)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    """N(0, std²) with std = gain / √fan: He et al. used this Gaussian form, std = √(2 / fan_in) for ReLU."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    with torch.no_grad():
        return tensor.normal_(0.0, std, generator=generator)
