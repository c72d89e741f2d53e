"""Activation functions and their derivatives, from scratch, numerically stable.

Each ``f(input)`` equals ``torch.nn.functional.f`` and each ``f_grad(input)`` equals the derivative
autograd computes (including the value it picks at a kink, e.g. ReLU'(0) = 0); ``softmax`` and
``log_softmax`` have a backward (vector-Jacobian product) instead. Tested in
``tests/test_activations.py``. References: Nair & Hinton 2010 (ReLU), Maas et al. 2013 (leaky ReLU),
Clevert et al. 2016 (ELU), Hendrycks & Gimpel 2016 (GELU), Ramachandran et al. 2017 (Swish/SiLU),
Howard et al. 2019 (h-swish, MobileNetV3).
"""

from __future__ import annotations

import math

import torch

from ._checks import check_choice, check_int, check_tensor

__all__ = ["sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu", "relu_grad", "leaky_relu", "leaky_relu_grad",
           "elu", "elu_grad", "gelu", "gelu_grad", "silu", "silu_grad", "hardswish", "hardswish_grad", "softmax",
           "softmax_backward", "log_softmax", "log_softmax_backward", "ACTIVATIONS"]


def _x(input):
    check_tensor(input, "input", floating=True)
    return input


def _split(x):
    """(x where x >= 0 else 0, x where x < 0 else 0): each branch of a piecewise formula then sees
    only inputs where it is finite, and autograd gets the right derivative at 0."""
    zero = torch.zeros_like(x)
    return torch.where(x >= 0, x, zero), torch.where(x < 0, x, zero)


def sigmoid(input):
    """σ(x) = 1 / (1 + e^{-x}), evaluated as e^{x}/(1 + e^{x}) for x < 0 so no exp overflows."""
    x = _x(input)
    pos, neg = _split(x)
    return torch.where(x >= 0, 1 / (1 + torch.exp(-pos)), torch.exp(neg) / (1 + torch.exp(neg)))


def sigmoid_grad(input):
    """σ'(x) = σ(x)(1 - σ(x)), at most 1/4 (at x = 0)."""
    s = sigmoid(input)
    return s * (1 - s)


def tanh(input):
    """tanh(x) = (e^x - e^{-x}) / (e^x + e^{-x}) = (1 - e^{-2x}) / (1 + e^{-2x}) for x >= 0, odd."""
    x = _x(input)
    pos, neg = _split(x)

    def t(u):  # u >= 0: no overflow, expm1 keeps small u exact
        return -torch.expm1(-2 * u) / (1 + torch.exp(-2 * u))

    return torch.where(x >= 0, t(pos), -t(-neg))


def tanh_grad(input):
    """tanh'(x) = 1 - tanh²(x)."""
    return 1 - tanh(input) ** 2


def relu(input):
    """max(x, 0)."""
    x = _x(input)
    return torch.where(x > 0, x, torch.zeros_like(x))


def relu_grad(input):
    """1 for x > 0, else 0 (autograd's choice at 0)."""
    return (_x(input) > 0).to(input.dtype)


def leaky_relu(input, negative_slope: float = 0.01):
    """x for x > 0, negative_slope·x otherwise."""
    x = _x(input)
    return torch.where(x > 0, x, negative_slope * x)


def leaky_relu_grad(input, negative_slope: float = 0.01):
    x = _x(input)
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, negative_slope))


def elu(input, alpha: float = 1.0):
    """x for x > 0, alpha·(e^x - 1) otherwise (expm1 keeps small x exact)."""
    x = _x(input)
    neg = torch.where(x > 0, torch.zeros_like(x), x)
    return torch.where(x > 0, x, alpha * torch.expm1(neg))


def elu_grad(input, alpha: float = 1.0):
    x = _x(input)
    return torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(torch.where(x > 0, torch.zeros_like(x), x)))


_GELU = ("none", "tanh")
_K = math.sqrt(2 / math.pi)


def gelu(input, approximate: str = "none"):
    """x·Φ(x) with Φ the standard normal CDF; ``'tanh'``: 0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))."""
    x = _x(input)
    check_choice(approximate, "approximate", _GELU)
    if approximate == "none":
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    return 0.5 * x * (1 + tanh(_K * (x + 0.044715 * x ** 3)))


def gelu_grad(input, approximate: str = "none"):
    """Φ(x) + x·φ(x); for ``'tanh'`` the derivative of the tanh form."""
    x = _x(input)
    check_choice(approximate, "approximate", _GELU)
    if approximate == "none":
        return 0.5 * (1 + torch.erf(x / math.sqrt(2))) + x * torch.exp(-0.5 * x ** 2) / math.sqrt(2 * math.pi)
    t = tanh(_K * (x + 0.044715 * x ** 3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t ** 2) * _K * (1 + 3 * 0.044715 * x ** 2)


def silu(input):
    """Swish / SiLU: x·σ(x)."""
    return _x(input) * sigmoid(input)


def silu_grad(input):
    """σ(x)(1 + x(1 - σ(x)))."""
    s = sigmoid(input)
    return s * (1 + input * (1 - s))


def hardswish(input):
    """h-swish (MobileNetV3): x·ReLU6(x + 3)/6, a piecewise-polynomial stand-in for swish."""
    x = _x(input)
    return x * torch.clamp(x + 3, 0, 6) / 6


def hardswish_grad(input):
    """0 for x <= -3, x/3 + 1/2 for -3 < x < 3, 1 for x >= 3 (autograd's values at ±3)."""
    x = _x(input)
    return torch.where(x <= -3, torch.zeros_like(x), torch.where(x < 3, x / 3 + 0.5, torch.ones_like(x)))


def _dim(input, dim):
    check_int(dim, "dim")
    if not -input.dim() <= dim < max(input.dim(), 1):
        raise ValueError(f"dim must be in [{-input.dim()}, {input.dim() - 1}], got {dim}")
    return dim


def softmax(input, dim: int):
    """exp(x_i) / Σ_j exp(x_j) along ``dim``; the max is subtracted first, so logits of ±1e4 are fine."""
    x = _x(input)
    dim = _dim(x, dim)
    z = x - x.amax(dim=dim, keepdim=True)                    # largest exponent is e^0 = 1
    e = torch.exp(z)
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(input, dim: int):
    """x_i - max - log Σ_j exp(x_j - max): never takes the log of an underflowed 0."""
    x = _x(input)
    dim = _dim(x, dim)
    z = x - x.amax(dim=dim, keepdim=True)
    return z - torch.log(torch.exp(z).sum(dim=dim, keepdim=True))


def softmax_backward(grad_output, output, dim: int):
    """Vector-Jacobian product of softmax: y ⊙ (g - Σ_j g_j y_j), with y = softmax(x)."""
    dim = _dim(_x(output), dim)
    return output * (grad_output - (grad_output * output).sum(dim=dim, keepdim=True))


def log_softmax_backward(grad_output, output, dim: int):
    """Vector-Jacobian product of log_softmax: g - softmax(x)·Σ_j g_j, with output = log_softmax(x)."""
    dim = _dim(_x(output), dim)
    return grad_output - torch.exp(output) * grad_output.sum(dim=dim, keepdim=True)


ACTIVATIONS = {  # name: (function, derivative) for the chapters' plots and explorer
    "sigmoid": (sigmoid, sigmoid_grad), "tanh": (tanh, tanh_grad), "relu": (relu, relu_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad), "elu": (elu, elu_grad), "gelu": (gelu, gelu_grad),
    "silu": (silu, silu_grad), "hardswish": (hardswish, hardswish_grad),
}
