"""ShuffleNet v2 and the channel shuffle, with torchvision's ``state_dict`` keys.

Grouped 1×1 convolutions cut cost but stop information flowing between groups; a channel shuffle (reshape to
[groups, C / groups], transpose, flatten) lets the next grouped layer see every group (Zhang et al. 2017,
ShuffleNet, arXiv 1707.01083). ShuffleNet v2 (Ma et al. 2018, arXiv 1807.11164) follows four guidelines for
real speed (equal in/out widths, few groups, little fragmentation, few element-wise ops): a unit splits the
channels in two, passes one half through unchanged and the other through 1×1 → depthwise 3×3 → 1×1,
concatenates and shuffles; a stride-2 unit sends the whole input down both branches and doubles the width.

Declared differences from torchvision: its unit is called ``InvertedResidual`` (here :class:`ShuffleV2Block`,
since MobileNet v2's block has that name in ``cvbook_lib.models``); ``num_classes`` >= 1; ``x`` must be batched.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .._checks import check_int, check_tensor
from .inception import _check_x

__all__ = ["channel_shuffle", "ShuffleV2Block", "ShuffleNetV2", "shufflenet_v2_x1_0"]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` groups: output channel ``j · groups + g`` is input channel
    ``g · (C / groups) + j`` (= ``torch.nn.ChannelShuffle(groups)``, values and gradients).

    x (Tensor[N, C, *], at least 3-D, any dtype), groups >= 1 dividing C. Returns: Tensor of x's shape (contiguous).
    """
    check_tensor(x, "x", min_ndim=3)
    groups = check_int(groups, "groups", 1)
    n, c = x.shape[:2]
    if c % groups:
        raise ValueError(f"groups must divide the {c} channels of x, got groups={groups}")
    x = x.reshape(n, groups, c // groups, *x.shape[2:])  # [N, g, C/g, *]
    return x.transpose(1, 2).contiguous().reshape(n, c, *x.shape[3:])  # [N, C/g, g, *] → [N, C, *]


def _dw_bn(c: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False), nn.BatchNorm2d(c)]


def _pw_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class ShuffleV2Block(nn.Module):
    """ShuffleNet v2 unit (Ma et al. 2018, Fig. 3c/d; torchvision's ``shufflenetv2.InvertedResidual``).

    stride 1: split x into halves x1, x2; out = shuffle(cat(x1, branch2(x2)), 2), with
    branch2 = 1×1 → BN → ReLU → depthwise 3×3 → BN → 1×1 → BN → ReLU (needs inp == oup, oup even).
    stride > 1: out = shuffle(cat(branch1(x), branch2(x)), 2), branch1 = depthwise 3×3 (stride) → BN → 1×1 → BN → ReLU,
    each branch oup // 2 wide.

    x (Tensor[N, inp, H, W]) → Tensor[N, oup // 2 · 2, H_out, W_out], H_out = (H − 1) // stride + 1; stride ∈ {1, 2, 3}.
    """

    def __init__(self, inp: int, oup: int, stride: int):
        super().__init__()
        self.inp, oup = check_int(inp, "inp", 1), check_int(oup, "oup", 2)
        self.stride = check_int(stride, "stride", 1, 3)
        half = oup // 2
        if self.stride == 1 and inp != 2 * half:
            raise ValueError(f"inp must equal oup // 2 * 2 = {2 * half} when stride is 1, got inp={inp}, oup={oup}")
        if self.stride > 1:
            self.branch1 = nn.Sequential(*_dw_bn(self.inp, self.stride), *_pw_bn_relu(self.inp, half))
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            *_pw_bn_relu(self.inp if self.stride > 1 else half, half),
            *_dw_bn(half, self.stride),
            *_pw_bn_relu(half, half),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_x(x, self, self.inp)
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """ShuffleNet v2 (Ma et al. 2018, arXiv 1807.11164, Table 5): 3×3 stride-2 conv → 3×3 stride-2 max-pool →
    stages 2-4 (a stride-2 unit, then ``repeats − 1`` stride-1 units each) → 1×1 conv → global average pool → fc.
    ``stages_repeats``: 3 ints >= 1; ``stages_out_channels``: 5 ints (stem, stages 2-4 (even), last conv).

    x (Tensor[N, 3, H, W]), any H, W >= 1 → Tensor[N, num_classes]."""

    def __init__(self, stages_repeats, stages_out_channels, num_classes: int = 1000):
        super().__init__()
        repeats = _int_list(stages_repeats, "stages_repeats", 3, 1)
        widths = _int_list(stages_out_channels, "stages_out_channels", 5, 1)
        for i in (1, 2, 3):
            if widths[i] % 2:
                raise ValueError(f"stages_out_channels[{i}] must be even (two branches), got {widths[i]}")
        num_classes = check_int(num_classes, "num_classes", 1)
        self._stage_out_channels = widths
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        cin = widths[0]
        for name, n, cout in zip(("stage2", "stage3", "stage4"), repeats, widths[1:4]):
            units = [ShuffleV2Block(cin, cout, 2)] + [ShuffleV2Block(cout, cout, 1) for _ in range(n - 1)]
            setattr(self, name, nn.Sequential(*units))
            cin = cout
        self.conv5 = nn.Sequential(*_pw_bn_relu(cin, widths[4]))
        self.fc = nn.Linear(widths[4], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_x(x, self, 3)
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return self.fc(x.mean([2, 3]))  # global pool → [N, num_classes]


def _int_list(values, name: str, length: int, minimum: int) -> list[int]:
    if not isinstance(values, (list, tuple)) or len(values) != length:
        raise TypeError(f"{name} must be a list of {length} ints, got {values!r:.80}")
    return [check_int(v, f"{name}[{i}]", minimum) for i, v in enumerate(values)]


def shufflenet_v2_x1_0(num_classes: int = 1000) -> ShuffleNetV2:
    """ShuffleNet v2 1× (stages [4, 8, 4], widths [24, 116, 232, 464, 1024]; 2.3 M parameters, 146 M FLOPs in the
    paper's Table 5) with torchvision's keys; see :class:`ShuffleNetV2`."""
    return ShuffleNetV2([4, 8, 4], [24, 116, 232, 464, 1024], num_classes)
