"""Check functions for chapter 13's exercises (模型压缩与部署), in the style of :mod:`cvbook_lib.exercises`:
each answers every input with a ``CheckResult`` and never raises. The expected values come from
:mod:`cvbook_lib.compress` (whose tests compare them with torch's observers, SVD and fusion)."""

from __future__ import annotations

import functools

import torch

from .exercises import CheckResult, _compare

__all__ = ["check_zero_point", "check_break_even_rank", "check_folded_bias"]


@functools.cache
def _zero_point() -> int:
    from .compress.quant import calculate_qparams

    _, z = calculate_qparams(torch.tensor([-0.5, 2.0]), torch.per_tensor_affine, torch.quint8)
    return int(z)


@functools.cache
def _break_even() -> int:
    from .compress.lowrank import break_even_rank

    return break_even_rank(torch.nn.Linear(1024, 4096))


@functools.cache
def _folded_bias() -> float:
    from .compress.fuse import fuse_conv_bn

    conv, bn = torch.nn.Conv2d(1, 1, 1).eval(), torch.nn.BatchNorm2d(1).eval()
    with torch.no_grad():
        conv.weight.fill_(2.0)
        conv.bias.fill_(2.0)
        bn.weight.fill_(3.0)
        bn.bias.fill_(0.5)
        bn.running_mean.fill_(1.0)
        bn.running_var.fill_(4.0 - bn.eps)          # sqrt(var + eps) = 2 exactly
    return float(fuse_conv_bn(conv, bn).bias.detach())


def check_zero_point(answer) -> CheckResult:
    """Exercise: the zero point of affine quint8 quantization for values in [-0.5, 2.0]."""
    return _compare(answer, _zero_point(), "[-0.5, 2.0] 量化到 quint8 的 zero point",
                    "s = (r_max - r_min)/255，z = 0 - round(r_min / s)")


def check_break_even_rank(answer) -> CheckResult:
    """Exercise: the largest rank at which factorizing Linear(1024, 4096) saves weights."""
    return _compare(answer, _break_even(), "Linear(1024, 4096) 低秩分解仍能省参数的最大秩",
                    "W 是 4096×1024：要 r·(m + n) < m·n，取满足它的最大整数 r")


def check_folded_bias(answer) -> CheckResult:
    """Exercise: the bias after folding BN(γ=3, β=0.5, μ=1, σ²+ε=4) into a conv with bias 2."""
    return _compare(answer, _folded_bias(), "折叠后的偏置 b'",
                    "b' = γ·(b - μ)/√(σ² + ε) + β", tol=1e-6)
