"""Check functions for chapter 11's exercises (经典网络), in the style of :mod:`cvbook_lib.exercises`:
each answers every input with a ``CheckResult`` and never raises."""

from __future__ import annotations

import functools

import torch

from .exercises import CheckResult, _compare

__all__ = ["check_two_3x3_ratio", "check_densenet_block1_channels", "check_shuffle_position"]


@functools.cache
def _two_3x3_ratio() -> float:
    def params(*convs):
        return sum(p.numel() for c in convs for p in c.parameters())

    with torch.device("meta"):
        two = params(torch.nn.Conv2d(64, 64, 3, bias=False), torch.nn.Conv2d(64, 64, 3, bias=False))
        one = params(torch.nn.Conv2d(64, 64, 5, bias=False))
    return two / one


@functools.cache
def _densenet_block1() -> int:
    from .models import densenet121
    from .profile import profile

    with torch.device("meta"):
        model = densenet121()
    rows = {r.name: r for r in profile(model, 224).rows}
    return rows["features.denseblock1"].output_shape[1]


@functools.cache
def _shuffle_position() -> int:
    from .models import channel_shuffle

    order = channel_shuffle(torch.arange(6.0).view(1, 6, 1, 1), 3).flatten().tolist()
    return order.index(1.0)


def check_two_3x3_ratio(answer) -> CheckResult:
    """Exercise: parameters of two stacked 3x3 convs (64 -> 64, no bias) divided by one 5x5 conv's."""
    return _compare(answer, _two_3x3_ratio(), "两个 3×3 / 一个 5×5 的参数量之比",
                    "每层参数 = k²·C_in·C_out；C 约掉之后只剩核面积", tol=1e-3)


def check_densenet_block1_channels(answer) -> CheckResult:
    """Exercise: channels at the output of DenseNet-121's first dense block (6 layers, k = 32, 64 in)."""
    return _compare(answer, _densenet_block1(), "DenseNet-121 第一个 dense block 输出的通道数",
                    "每层把 k 个新通道拼接到输入后面：k0 + L·k")


def check_shuffle_position(answer) -> CheckResult:
    """Exercise: channel_shuffle of 6 channels in 3 groups: at which output position does input channel 1 land?"""
    return _compare(answer, _shuffle_position(), "通道 1 在混洗后的位置（从 0 数）",
                    "reshape 成 (groups, C/groups)，转置，再展平")
