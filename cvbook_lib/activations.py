"""Activation functions and their derivatives, from scratch, numerically stable.

Each ``f(input)`` equals ``torch.nn.functional.f`` and each ``f_grad(input)`` equals the derivative
autograd computes (including the value it picks at a kink, e.g. ReLU'(0) = 0, and at NaN: a NaN
input gives torch's answer, e.g. relu(NaN) = NaN, relu'(NaN) = 1); ``softmax`` and ``log_softmax``
have a backward (vector-Jacobian product) instead. Piecewise formulas test ``x <= 0`` (not ``x > 0``)
where NaN must fall into the branch that keeps it. Integer, bool and complex tensors are refused where
a floating tensor is needed (torch promotes some of them), and NaN parameters (``negative_slope``,
``alpha``; also an infinite ``alpha``) are refused (torch computes with them). Tested in ``tests/test_activations.py``.
References: Nair & Hinton 2010 (ReLU), Maas et al. 2013 (leaky ReLU), Clevert et al. 2016 (ELU),
Hendrycks & Gimpel 2016 (GELU), Ramachandran et al. 2017 (Swish/SiLU), Howard et al. 2019 (h-swish,
MobileNetV3).
"""

from __future__ import annotations

import math

import torch

from ._checks import check_choice, check_float, check_int, check_same, check_tensor

__all__ = ["sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu", "relu_grad", "leaky_relu", "leaky_relu_grad",
           "elu", "elu_grad", "gelu", "gelu_grad", "silu", "silu_grad", "hardswish", "hardswish_grad", "softmax",
           "softmax_backward", "log_softmax", "log_softmax_backward", "ACTIVATIONS"]


def _x(input, name: str = "input") -> torch.Tensor:
    return check_tensor(input, name, kind="float")


def _abs(x):
    """|x| whose derivative at 0 is +1 (the x >= 0 branch), so σ'(0) and tanh'(0) come out right; NaN stays NaN."""
    return torch.where(x >= 0, x, -x)


def sigmoid(input):
    """σ(x) = 1 / (1 + e^{-x}), evaluated from z = e^{-|x|} <= 1 (z / (1 + z) for x < 0), so no exp overflows.

    Args: input (Tensor[*]). Returns: Tensor[*] in [0, 1]; NaN where input is NaN.
    """
    x = _x(input)
    z = torch.exp(-_abs(x))
    return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))


def sigmoid_grad(input):
    """σ'(x) = σ(x)(1 - σ(x)), at most 1/4 (at x = 0)."""
    s = sigmoid(input)
    return s * (1 - s)


def tanh(input):
    """tanh(x) = (1 - e^{-2|x|}) / (1 + e^{-2|x|}) · sign(x): odd, no overflow, expm1 keeps small x exact."""
    x = _x(input)
    a = _abs(x)
    t = -torch.expm1(-2 * a) / (1 + torch.exp(-2 * a))
    return torch.where(x >= 0, t, -t)


def tanh_grad(input):
    """tanh'(x) = 1 - tanh²(x)."""
    return 1 - tanh(input) ** 2


def relu(input):
    """max(x, 0); NaN stays NaN (as in torch)."""
    x = _x(input)
    return torch.where(x <= 0, torch.zeros_like(x), x)


def relu_grad(input):
    """0 for x <= 0 (autograd's choice at 0), 1 otherwise (NaN included, as autograd)."""
    x = _x(input)
    return torch.where(x <= 0, torch.zeros_like(x), torch.ones_like(x))


def _slope(negative_slope):
    return check_float(negative_slope, "negative_slope")


def leaky_relu(input, negative_slope: float = 0.01):
    """x for x > 0, negative_slope·x otherwise (a NaN ``negative_slope`` is refused)."""
    x = _x(input)
    a = _slope(negative_slope)
    return torch.where(x > 0, x, a * x)


def leaky_relu_grad(input, negative_slope: float = 0.01):
    """1 for x > 0, negative_slope otherwise (at 0 and at NaN, as autograd)."""
    x = _x(input)
    a = _slope(negative_slope)
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, a))


def _alpha(alpha):
    return check_float(alpha, "alpha", allow_inf=False)


def elu(input, alpha: float = 1.0):
    """x for x > 0, alpha·(e^x - 1) otherwise (expm1 keeps small x exact).

    A NaN or infinite ``alpha`` is refused (torch computes with it: 0 at x = 0, ∓inf below).
    """
    x = _x(input)
    a = _alpha(alpha)
    neg = x <= 0
    return torch.where(neg, a * torch.expm1(torch.where(neg, x, torch.zeros_like(x))), x)


def elu_grad(input, alpha: float = 1.0):
    """alpha·e^x for x <= 0, 1 otherwise (NaN included, as autograd)."""
    x = _x(input)
    a = _alpha(alpha)
    neg = x <= 0
    return torch.where(neg, a * torch.exp(torch.where(neg, x, torch.zeros_like(x))), torch.ones_like(x))


_GELU = ("none", "tanh")
_K = math.sqrt(2 / math.pi)


def gelu(input, approximate: str = "none"):
    """x·Φ(x) with Φ the standard normal CDF; ``'tanh'``: 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))).

    gelu(+inf) = +inf (torch's float32 CPU kernel returns NaN there; float64 gives +inf), gelu(-inf) = NaN
    (-inf·0, as torch).
    """
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
    """0 for x <= -3, x/3 + 1/2 for -3 < x < 3, 1 for x >= 3 and NaN (autograd's values at ±3 and NaN)."""
    x = _x(input)
    return torch.where(x <= -3, torch.zeros_like(x), torch.where(x < 3, x / 3 + 0.5, torch.ones_like(x)))


def _dim(x, dim, name="input"):
    """``dim`` checked against ``x`` as torch does (a 0-d tensor accepts 0 and -1); returned non-negative."""
    dim = check_int(dim, "dim")
    n = max(x.dim(), 1)
    if not -n <= dim < n:
        raise ValueError(f"dim must be in [{-n}, {n - 1}] for the {x.dim()}-D {name}, got {dim}")
    return dim % n


def _cast(input, dtype):
    """``input.to(dtype)`` first, as torch's ``dtype=`` argument does (a floating ``torch.dtype``; an integer
    or bool input is then fine, a complex one is refused); without ``dtype`` the input must be floating."""
    if dtype is None:
        return _x(input)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be None or a floating torch.dtype, got {dtype!r}")
    check_tensor(input, "input", kind="bool" if getattr(input, "dtype", None) == torch.bool else "real")
    return input.to(dtype)


def softmax(input, dim: int, dtype=None):
    """exp(x_i) / Σ_j exp(x_j) along ``dim``; the max is subtracted first, so logits of ±1e4 are fine.

    Args: input (Tensor[*]), dim, dtype (cast input to it first, as torch: then an integer input is fine).
    Returns: Tensor[*] (an empty input gives an empty output, as torch).
    """
    x = _cast(input, dtype)
    dim = _dim(x, dim)
    if x.numel() == 0:
        return x.clone()
    z = x - x.amax(dim=dim, keepdim=True)                    # largest exponent is e^0 = 1
    e = torch.exp(z)
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(input, dim: int, dtype=None):
    """x_i - max - log Σ_j exp(x_j - max): never takes the log of an underflowed 0 (empty in, empty out)."""
    x = _cast(input, dtype)
    dim = _dim(x, dim)
    if x.numel() == 0:
        return x.clone()
    z = x - x.amax(dim=dim, keepdim=True)
    return z - torch.log(torch.exp(z).sum(dim=dim, keepdim=True))


def _backward_args(grad_output, output, dim):
    _x(grad_output, "grad_output")
    _x(output, "output")
    if grad_output.shape != output.shape:
        raise ValueError(f"grad_output and output must have the same shape, got {tuple(grad_output.shape)} "
                         f"and {tuple(output.shape)}")
    check_same(grad_output, "grad_output", output, "output")
    return _dim(output, dim, "output")


def softmax_backward(grad_output, output, dim: int):
    """Vector-Jacobian product of softmax: y ⊙ (g - Σ_j g_j y_j), with y = softmax(x)
    (``torch._softmax_backward_data``). grad_output, output (Tensor[*], same shape and dtype)."""
    dim = _backward_args(grad_output, output, dim)
    return output * (grad_output - (grad_output * output).sum(dim=dim, keepdim=True))


def log_softmax_backward(grad_output, output, dim: int):
    """Vector-Jacobian product of log_softmax: g - softmax(x)·Σ_j g_j, with output = log_softmax(x)
    (``torch._log_softmax_backward_data``). grad_output, output (Tensor[*], same shape and dtype)."""
    dim = _backward_args(grad_output, output, dim)
    return grad_output - torch.exp(output) * grad_output.sum(dim=dim, keepdim=True)


ACTIVATIONS = {  # name: (function, derivative) for the chapters' plots and explorer
    "sigmoid": (sigmoid, sigmoid_grad), "tanh": (tanh, tanh_grad), "relu": (relu, relu_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad), "elu": (elu, elu_grad), "gelu": (gelu, gelu_grad),
    "silu": (silu, silu_grad), "hardswish": (hardswish, hardswish_grad),
}
