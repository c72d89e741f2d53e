"""Weight initialization, like ``torch.nn.init``: gains, fans, Xavier/Glorot and He/Kaiming.

Xavier (Glorot & Bengio 2010): Var(W) = gain² · 2 / (fan_in + fan_out), keeping the variance of
activations and gradients roughly constant for symmetric activations. He (He et al. 2015):
Var(W) = gain² / fan with gain √2 for ReLU (which zeroes half the signal). A uniform U(-a, a) has
variance a²/3, so a = √3 · std. Same arguments and random draws as torch (tests/test_init_autodiff.py).

Arguments are checked before anything is drawn: the tensor is floating or complex (integer and bool
tensors are refused, as torch's fills refuse them) with at least 2 dimensions; ``gain`` is a finite
real >= 0; ``a`` (the negative slope) is a real number, numpy scalars included (torch refuses
``np.int64``); ``generator`` is None or a ``torch.Generator``. A tensor with a zero-size dimension is
returned untouched (torch warns and does the same for Kaiming), but Xavier refuses fan_in + fan_out = 0
(torch divides by zero). A non-contiguous tensor is filled with the values a contiguous one would get.
"""

from __future__ import annotations

import math
import warnings

import torch

from ._checks import check_choice, check_float, check_tensor

__all__ = ["calculate_gain", "fan_in_and_fan_out", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_"]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
           "sigmoid")
_NONLINEARITIES = _LINEAR + ("tanh", "relu", "leaky_relu", "selu")


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The factor that keeps the variance through ``nonlinearity``: 1 for linear/conv/sigmoid, 5/3 for
    tanh, √2 for ReLU, √(2 / (1 + slope²)) for leaky ReLU (slope ``param``, default 0.01), 3/4 for SELU.
    ``param`` is None or a real number (not NaN); only leaky ReLU uses it, as in torch."""
    check_choice(nonlinearity, "nonlinearity", _NONLINEARITIES)
    slope = 0.01 if param is None else check_float(param, "param")
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    return math.sqrt(2.0 / (1 + slope ** 2))


def _check_weight(tensor):
    check_tensor(tensor, "tensor")
    if not (tensor.is_floating_point() or tensor.is_complex()):
        raise TypeError(f"tensor must have a floating or complex dtype to be filled with random values, "
                        f"got {tensor.dtype}")


def _fans(tensor) -> tuple[int, int]:
    if tensor.dim() < 2:
        raise ValueError(f"Fan in and fan out can not be computed for tensor with fewer than 2 dimensions: tensor "
                         f"has shape {tuple(tensor.shape)}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight (Tensor with >= 2 dims, any dtype): Linear (out, in) -> (in, out);
    Conv (out, in/groups, k...) -> (in/groups·∏k, out·∏k), like ``torch.nn.init._calculate_fan_in_and_fan_out``."""
    check_tensor(tensor, "tensor")
    return _fans(tensor)


def _check_generator(generator):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be None or a torch.Generator, got {type(generator).__name__}")


def _xavier_std(tensor, gain, generator):
    """Validate a Xavier call; None for an empty tensor (nothing to fill), else the std."""
    _check_weight(tensor)
    fan_in, fan_out = _fans(tensor)
    gain = check_float(gain, "gain", 0.0, allow_inf=False)
    _check_generator(generator)
    if fan_in + fan_out == 0:
        raise ValueError(f"Xavier needs fan_in + fan_out > 0, got tensor of shape {tuple(tensor.shape)}")
    return None if tensor.numel() == 0 else gain * math.sqrt(2.0 / (fan_in + fan_out))


def _fill(tensor, method: str, a: float, b: float, generator):
    """tensor.uniform_/normal_(a, b) in place; a non-contiguous tensor gets the values a contiguous one would
    (torch's fills draw in memory order, so its normal_ depends on the layout)."""
    with torch.no_grad():
        if tensor.is_contiguous():
            return getattr(tensor, method)(a, b, generator=generator)
        fresh = torch.empty(tensor.shape, dtype=tensor.dtype, device=tensor.device)
        return tensor.copy_(getattr(fresh, method)(a, b, generator=generator))


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """U(-a, a) with a = gain · √(6 / (fan_in + fan_out)), in place. Args: tensor (Tensor[out, in, *]);
    gain (finite, >= 0); generator (torch.Generator or None). Returns: tensor."""
    std = _xavier_std(tensor, gain, generator)
    if std is None:
        return tensor
    a = math.sqrt(3.0) * std
    return _fill(tensor, "uniform_", -a, a, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """N(0, std²) with std = gain · √(2 / (fan_in + fan_out)), in place. Args as :func:`xavier_uniform_`
    (torch fills with ±inf for gain = inf; ours refuses it). Returns: tensor."""
    std = _xavier_std(tensor, gain, generator)
    if std is None:
        return tensor
    return _fill(tensor, "normal_", 0.0, std, generator)


def _kaiming_std(tensor, a, mode, nonlinearity, generator):
    """Validate a Kaiming call; None for an empty tensor (torch warns and returns it), else the std."""
    _check_weight(tensor)
    if isinstance(mode, str) and mode.lower() in ("fan_in", "fan_out"):
        mode = mode.lower()                                                    # torch lower-cases it too
    check_choice(mode, "mode", ("fan_in", "fan_out"))
    check_choice(nonlinearity, "nonlinearity", _NONLINEARITIES)
    a = check_float(a, "a")
    _check_generator(generator)
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    fan_in, fan_out = _fans(tensor)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    """U(-b, b) with b = √3 · gain / √fan (He et al. 2015), in place. Args: tensor (Tensor[out, in, *]);
    a (the negative slope of leaky ReLU, a real number; NaN refused, torch computes NaN); mode ('fan_in' or
    'fan_out'); nonlinearity (a name :func:`calculate_gain` knows); generator (torch.Generator or None).
    Returns: tensor."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, generator)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return _fill(tensor, "uniform_", -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    """N(0, std²) with std = gain / √fan: He et al. used this Gaussian form, std = √(2 / fan_in) for ReLU.
    Args as :func:`kaiming_uniform_`. Returns: tensor."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, generator)
    if std is None:
        return tensor
    return _fill(tensor, "normal_", 0.0, std, generator)
