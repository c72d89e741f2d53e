"""MobileNet v1 and v2: depthwise-separable convolutions for small, fast networks.

- v1 (Howard et al. 2017, arXiv 1704.04861): a standard 3×3 conv is replaced by a depthwise 3×3 (one filter per
  channel) and a pointwise 1×1 that mixes channels, about 1/9 of the mult-adds; a width multiplier α thins every
  layer (cost ~ α²). No torchvision reference: tested against the paper's parameter and mult-add tables.
- v2 (Sandler et al. 2018, arXiv 1801.04381): the inverted residual: 1×1 expand (×t) → depthwise 3×3 → linear
  1×1 project, with the shortcut between the thin ends.
- v3: :mod:`cvbook_lib.models.mobilenet_v3`.

v2 has torchvision's ``state_dict`` keys (``load_state_dict`` of torchvision's model works strictly, equal
logits). Declared differences: no ``block`` / ``norm_layer`` arguments; :class:`MobileNetV3` takes plain tuples
in place of torchvision's ``InvertedResidualConfig`` objects; ``num_classes`` >= 1 and ``width_mult`` > 0 (torchvision
builds a zero-class head, and ``width_mult <= 0`` silently gives 8-channel layers); ``x`` must be batched.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import check_choice, check_float, check_int
from .inception import _check_x

__all__ = [
    "MobileNetV1",
    "mobilenet_v1",
    "InvertedResidual",
    "MobileNetV2",
    "mobilenet_v2",
]


def _make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """Round ``v`` to the nearest multiple of ``divisor`` (at least ``min_value``), never more than 10% down
    (torchvision's, from the TensorFlow MobileNet code)."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _conv_bn_act(cin, cout, kernel_size=3, stride=1, groups=1, act=nn.ReLU6, dilation=1, bn=nn.BatchNorm2d):
    """conv (no bias, 'same' padding) → BN → activation (None: none), keys 0, 1, 2 like Conv2dNormActivation."""
    pad = (kernel_size - 1) // 2 * dilation
    layers = [nn.Conv2d(cin, cout, kernel_size, stride, pad, dilation=dilation, groups=groups, bias=False), bn(cout)]
    return nn.Sequential(*layers, *([act(inplace=True)] if act is not None else []))


def _init(model: nn.Module) -> None:
    """torchvision's MobileNet initialisation: Kaiming-normal (fan_out) convs, BN (1, 0), fc N(0, 0.01)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def _head_args(num_classes, width_mult, dropout):
    return (
        check_int(num_classes, "num_classes", 1),
        check_float(width_mult, "width_mult", 0.0, min_open=True, allow_inf=False),
        check_float(dropout, "dropout", 0.0, 1.0),
    )


def _rows(setting, name: str, length: int) -> list[tuple]:
    """A non-empty list/tuple of rows, each a list/tuple of ``length`` entries."""
    if not isinstance(setting, (list, tuple)) or not setting:
        raise TypeError(f"{name} must be a non-empty list of {length}-tuples, got {setting!r:.80}")
    for i, row in enumerate(setting):
        if not isinstance(row, (list, tuple)) or len(row) != length:
            raise ValueError(f"{name}[{i}] must be a list or tuple of {length} entries, got {row!r:.80}")
    return [tuple(row) for row in setting]


# ----------------------------------------------------------------------------- v1
_V1_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]


class MobileNetV1(nn.Module):
    """MobileNet v1 (Howard et al. 2017, arXiv 1704.04861, Table 1): 3×3 stride-2 conv (32α) → 13 depthwise-
    separable blocks (dw 3×3 → BN → ReLU, pw 1×1 → BN → ReLU; output channels and strides of Table 1) →
    global average pool → dropout → fc (1024α → num_classes). Each width is ``max(1, int(c · width_mult))``
    (rounded down). Table 1 lists the last depthwise conv as "s2" on a 7×7 input that stays 7×7: a typo, it has
    stride 1 here (as in the TensorFlow release).

    x (Tensor[N, 3, H, W]), any H, W >= 1 → Tensor[N, num_classes]. width_mult > 0, 0 <= dropout <= 1."""

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.001):
        super().__init__()
        num_classes, width_mult, dropout = _head_args(num_classes, width_mult, dropout)
        cin = max(1, int(32 * width_mult))
        layers = [_conv_bn_act(3, cin, 3, 2, act=nn.ReLU)]
        for c, s in _V1_BLOCKS:
            cout = max(1, int(c * width_mult))
            layers.append(
                nn.Sequential(
                    _conv_bn_act(cin, cin, 3, s, groups=cin, act=nn.ReLU),  # depthwise
                    _conv_bn_act(cin, cout, 1, act=nn.ReLU),
                )
            )  # pointwise
            cin = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(cin, num_classes))
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_x(x, self, 3)
        return self.classifier(self.features(x).mean((2, 3)))  # [N, num_classes]


def mobilenet_v1(num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.001) -> MobileNetV1:
    """MobileNet v1 with width multiplier ``width_mult`` (the paper's α: 1, 0.75, 0.5, 0.25); see :class:`MobileNetV1`.
    The input size is free (the paper's ρ: 224, 192, 160, 128)."""
    return MobileNetV1(num_classes, width_mult, dropout)


# ----------------------------------------------------------------------------- v2
class InvertedResidual(nn.Module):
    """MobileNet v2's block (Sandler et al. 2018): 1×1 expand to ``round(inp · expand_ratio)`` channels → BN → ReLU6
    (left out when expand_ratio is 1) → depthwise 3×3 (stride) → BN → ReLU6 → 1×1 project to ``oup`` → BN, no
    activation (a linear bottleneck). The input is added when stride is 1 and inp == oup.

    x (Tensor[N, inp, H, W]) → Tensor[N, oup, H_out, W_out], H_out = (H − 1) // stride + 1. stride ∈ {1, 2}."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int):
        super().__init__()
        self.inp, oup = check_int(inp, "inp", 1), check_int(oup, "oup", 1)
        self.stride = check_choice(check_int(stride, "stride"), "stride", (1, 2))
        expand_ratio = check_int(expand_ratio, "expand_ratio", 1)
        hidden = int(round(self.inp * expand_ratio))
        self.use_res_connect = self.stride == 1 and self.inp == oup
        expand = [_conv_bn_act(self.inp, hidden, 1)] if expand_ratio != 1 else []
        self.conv = nn.Sequential(
            *expand,
            _conv_bn_act(hidden, hidden, 3, self.stride, groups=hidden),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        )
        self.out_channels = oup

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_x(x, self, self.inp)
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


_V2_SETTING = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
]  # expansion t, channels c, repeats n, first stride s (the paper's Table 2)


class MobileNetV2(nn.Module):
    """MobileNet v2 (Sandler et al. 2018, arXiv 1801.04381): 3×3 stride-2 conv (32) → the inverted-residual stages
    of ``inverted_residual_setting`` (rows ``[t, c, n, s]``; default the paper's Table 2) → 1×1 conv (1280) →
    global average pool → dropout → fc. Widths are ``_make_divisible(c · width_mult, round_nearest)``; the last
    conv is not thinned below 1280.

    x (Tensor[N, 3, H, W]), any H, W >= 1 → Tensor[N, num_classes]. width_mult > 0, round_nearest >= 1."""

    def __init__(
        self,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        inverted_residual_setting=None,
        round_nearest: int = 8,
        dropout: float = 0.2,
    ):
        super().__init__()
        num_classes, width_mult, dropout = _head_args(num_classes, width_mult, dropout)
        setting = _rows(
            _V2_SETTING if inverted_residual_setting is None else inverted_residual_setting,
            "inverted_residual_setting",
            4,
        )
        for i, (t, c, n, s) in enumerate(setting):
            for v, what in ((t, "t"), (c, "c"), (n, "n"), (s, "s")):
                check_int(v, f"inverted_residual_setting[{i}] {what}", 1, 2 if what == "s" else None)
        divisor = check_int(round_nearest, "round_nearest", 1)
        cin = _make_divisible(32 * width_mult, divisor)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult), divisor)
        layers = [_conv_bn_act(3, cin, 3, 2)]
        for t, c, n, s in setting:
            cout = _make_divisible(c * width_mult, divisor)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, expand_ratio=t))
                cin = cout
        self.features = nn.Sequential(*layers, _conv_bn_act(cin, self.last_channel, 1))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.last_channel, num_classes))
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_x(x, self, 3)
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))  # [N, num_classes]


def mobilenet_v2(
    num_classes: int = 1000, width_mult: float = 1.0, round_nearest: int = 8, dropout: float = 0.2
) -> MobileNetV2:
    """MobileNet v2 with torchvision's keys (width_mult 1.0: 3.5 M parameters); see :class:`MobileNetV2`."""
    return MobileNetV2(num_classes, width_mult, None, round_nearest, dropout)
