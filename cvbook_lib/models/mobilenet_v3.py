"""MobileNet v3 (Howard et al. 2019, "Searching for MobileNetV3", arXiv 1905.02244): MobileNet v2's inverted
residual blocks, found by platform-aware architecture search (MnasNet-style) and refined by NetAdapt, with
squeeze-and-excitation (hard-sigmoid gate) in some blocks and h-swish, x·ReLU6(x + 3)/6, in the deeper layers.

torchvision's ``state_dict`` keys (``load_state_dict`` of torchvision's model works strictly, equal logits).
Declared differences: :class:`MobileNetV3` takes plain tuples in place of torchvision's
``InvertedResidualConfig`` objects; ``num_classes`` >= 1; ``x`` must be batched.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import check_bool, check_choice, check_float, check_int
from .inception import _check_x
from .mobilenet import _conv_bn_act, _init, _make_divisible, _rows

__all__ = ["MobileNetV3", "mobilenet_v3_large", "mobilenet_v3_small"]


# ----------------------------------------------------------------------------- v3
class _SqueezeExcitation(nn.Module):
    """SE with a hard-sigmoid gate: x · hardsigmoid(fc2(ReLU(fc1(avg-pool(x))))) (torchvision.ops.SqueezeExcitation)."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(channels, squeeze, 1), nn.Conv2d(squeeze, channels, 1)

    def forward(self, x):
        return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))


class _Bneck(nn.Module):
    """v3's block from one setting row: [1×1 expand → BN → act] → depthwise k×k → BN → act → [SE] → 1×1 → BN,
    plus the input when stride is 1 and the widths agree (act: ReLU for "RE", h-swish for "HS")."""

    def __init__(self, cin, kernel, exp, cout, use_se, activation, stride, dilation, bn):
        super().__init__()
        act = nn.Hardswish if activation == "HS" else nn.ReLU
        self.use_res_connect = stride == 1 and cin == cout
        layers = [_conv_bn_act(cin, exp, 1, act=act, bn=bn)] if exp != cin else []
        layers.append(_conv_bn_act(exp, exp, kernel, 1 if dilation > 1 else stride, exp, act, dilation, bn))
        layers += [_SqueezeExcitation(exp, _make_divisible(exp // 4, 8))] if use_se else []
        self.block = nn.Sequential(*layers, _conv_bn_act(exp, cout, 1, act=None, bn=bn))

    def forward(self, x):
        out = self.block(x)
        return out + x if self.use_res_connect else out


_V3_FIELDS = "input_channels kernel expanded_channels out_channels use_se activation stride dilation".split()


def _bn_v3(c):
    return nn.BatchNorm2d(c, eps=0.001, momentum=0.01)


class MobileNetV3(nn.Module):
    """MobileNet v3 (Howard et al. 2019, arXiv 1905.02244): 3×3 stride-2 conv (h-swish) → one block per row of
    ``inverted_residual_setting`` → 1×1 conv (6 × the last width, h-swish) → global average pool → fc
    (``last_channel``) → h-swish → dropout → fc. A row is ``(input_channels, kernel, expanded_channels,
    out_channels, use_se, activation, stride, dilation)`` (torchvision's InvertedResidualConfig fields, widths
    already scaled), activation "RE" (ReLU) or "HS" (h-swish); each row's input is the previous row's output.

    x (Tensor[N, 3, H, W]), any H, W >= 1 → Tensor[N, num_classes]."""

    def __init__(self, inverted_residual_setting, last_channel: int, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        rows = _rows(inverted_residual_setting, "inverted_residual_setting", 8)
        for i, row in enumerate(rows):
            where = f"inverted_residual_setting[{i}]"
            for what, v in zip(_V3_FIELDS, row):
                if what == "use_se":
                    check_bool(v, f"{where} use_se")
                elif what == "activation":
                    check_choice(v, f"{where} activation", ("RE", "HS"))
                else:
                    check_int(v, f"{where} {what}", 1, 2 if what == "stride" else None)
            cin = row[0]
            if i and cin != rows[i - 1][3]:
                raise ValueError(
                    f"{where} input_channels must equal the previous row's out_channels {rows[i - 1][3]}, got {cin}"
                )
        last_channel = check_int(last_channel, "last_channel", 1)
        num_classes, dropout = check_int(num_classes, "num_classes", 1), check_float(dropout, "dropout", 0.0, 1.0)
        layers = [_conv_bn_act(3, rows[0][0], 3, 2, act=nn.Hardswish, bn=_bn_v3)]
        layers += [_Bneck(*row, bn=_bn_v3) for row in rows]
        last_conv = 6 * rows[-1][3]
        self.features = nn.Sequential(*layers, _conv_bn_act(rows[-1][3], last_conv, 1, act=nn.Hardswish, bn=_bn_v3))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(last_conv, last_channel),
            nn.Hardswish(inplace=True),
            nn.Dropout(dropout, inplace=True),
            nn.Linear(last_channel, num_classes),
        )
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_x(x, self, 3)
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))  # [N, num_classes]


_V3_LARGE = [
    (16, 3, 16, 16, False, "RE", 1, 1),
    (16, 3, 64, 24, False, "RE", 2, 1),
    (24, 3, 72, 24, False, "RE", 1, 1),
    (24, 5, 72, 40, True, "RE", 2, 1),
    (40, 5, 120, 40, True, "RE", 1, 1),
    (40, 5, 120, 40, True, "RE", 1, 1),
    (40, 3, 240, 80, False, "HS", 2, 1),
    (80, 3, 200, 80, False, "HS", 1, 1),
    (80, 3, 184, 80, False, "HS", 1, 1),
    (80, 3, 184, 80, False, "HS", 1, 1),
    (80, 3, 480, 112, True, "HS", 1, 1),
    (112, 3, 672, 112, True, "HS", 1, 1),
    (112, 5, 672, 160, True, "HS", 2, 1),
    (160, 5, 960, 160, True, "HS", 1, 1),
    (160, 5, 960, 160, True, "HS", 1, 1),
]  # the paper's Table 1
_V3_SMALL = [
    (16, 3, 16, 16, True, "RE", 2, 1),
    (16, 3, 72, 24, False, "RE", 2, 1),
    (24, 3, 88, 24, False, "RE", 1, 1),
    (24, 5, 96, 40, True, "HS", 2, 1),
    (40, 5, 240, 40, True, "HS", 1, 1),
    (40, 5, 240, 40, True, "HS", 1, 1),
    (40, 5, 120, 48, True, "HS", 1, 1),
    (48, 5, 144, 48, True, "HS", 1, 1),
    (48, 5, 288, 96, True, "HS", 2, 1),
    (96, 5, 576, 96, True, "HS", 1, 1),
    (96, 5, 576, 96, True, "HS", 1, 1),
]  # the paper's Table 2


def mobilenet_v3_large(num_classes: int = 1000, dropout: float = 0.2) -> MobileNetV3:
    """MobileNet v3-Large (the paper's Table 1; 5.5 M parameters) with torchvision's keys; see :class:`MobileNetV3`."""
    return MobileNetV3(_V3_LARGE, 1280, num_classes, dropout)


def mobilenet_v3_small(num_classes: int = 1000, dropout: float = 0.2) -> MobileNetV3:
    """MobileNet v3-Small (the paper's Table 2; 2.5 M parameters) with torchvision's keys; see :class:`MobileNetV3`."""
    return MobileNetV3(_V3_SMALL, 1024, num_classes, dropout)
