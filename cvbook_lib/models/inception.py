"""GoogLeNet (Inception v1) and the Inception-v3 blocks, with torchvision's ``state_dict`` keys.

An Inception module runs 1×1, 3×3 and 5×5 convolutions and a pooling branch side by side and concatenates
them along channels; 1×1 "reduction" convs in front of the big kernels keep the cost down (Szegedy et al.
2014, "Going deeper with convolutions", arXiv 1409.4842). Inception v3 factorises the big kernels further:
two 3×3 for a 5×5, 1×n + n×1 for n×n, and strided branches in parallel with pooling to shrink the grid
(Szegedy et al. 2015, "Rethinking the Inception architecture", arXiv 1512.00567).

Every block refuses an ``x`` that is not a 4-D float tensor of its dtype with ``in_channels`` channels.
Differences from torchvision, declared: :func:`googlenet` defaults to ``aux_logits=False`` (torchvision's
class default is True) and always uses torchvision's initialisation; there is no ``blocks`` / ``conv_block``
argument; ``num_classes`` >= 1 (torchvision builds a zero-class head); ``x`` must be batched ([N, C, H, W]).
"""

from __future__ import annotations

from collections import namedtuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import as_pair, check_bool, check_float, check_int, check_tensor

__all__ = [
    "BasicConv2d",
    "Inception",
    "InceptionAux",
    "GoogLeNet",
    "googlenet",
    "InceptionA",
    "InceptionB",
    "InceptionC",
    "InceptionD",
    "InceptionE",
]

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])


def _check_x(x, module: nn.Module, channels: int, min_size: int = 1) -> None:
    """x (Tensor[N, channels, H, W]) of the module's dtype and device, H and W >= min_size."""
    check_tensor(x, "x", (4,), kind="float")
    p = next(module.parameters())
    if x.dtype != p.dtype or x.device != p.device:
        raise TypeError(f"x must have the module's dtype {p.dtype} on {p.device}, got {x.dtype} on {x.device}")
    if x.shape[1] != channels:
        raise ValueError(f"x must have shape [N, {channels}, H, W], got {tuple(x.shape)}")
    if min(x.shape[2:]) < min_size:
        raise ValueError(f"x must have H and W >= {min_size}, got {tuple(x.shape)}")


def _channels(**kw) -> list[int]:
    return [check_int(v, k, 1) for k, v in kw.items()]


class BasicConv2d(nn.Module):
    """conv (no bias) → BatchNorm (eps 1e-3) → ReLU, the unit every Inception branch is built from.

    x (Tensor[N, in_channels, H, W]) → Tensor[N, out_channels, H_out, W_out] (the conv's output size)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size=1, stride=1, padding=0):
        super().__init__()
        self.in_channels, out_channels = _channels(in_channels=in_channels, out_channels=out_channels)
        kernel_size, stride = as_pair(kernel_size, "kernel_size", 1), as_pair(stride, "stride", 1)
        padding = as_pair(padding, "padding", 0)
        self.min_size = max(k - 2 * p for k, p in zip(kernel_size, padding))  # the kernel must fit the padded input
        self.conv = nn.Conv2d(self.in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_x(x, self, self.in_channels, max(1, self.min_size))
        return F.relu(self.bn(self.conv(x)), inplace=True)


class _Branches(nn.Module):
    """Run ``self._forward(x)`` (a list of branch outputs) and concatenate along channels."""

    min_size = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_x(x, self, self.in_channels, self.min_size)
        return torch.cat(self._forward(x), 1)


class Inception(_Branches):
    """GoogLeNet's module: 1×1 | 1×1 → 3×3 | 1×1 → "5×5" | 3×3 max-pool → 1×1, concatenated.

    x (Tensor[N, in_channels, H, W]) → Tensor[N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W]. As in torchvision
    (whose ImageNet weights were trained so), the "5×5" branch is a 3×3 conv, not the paper's 5×5."""

    def __init__(
        self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int, pool_proj: int
    ):
        super().__init__()
        c = _channels(
            in_channels=in_channels,
            ch1x1=ch1x1,
            ch3x3red=ch3x3red,
            ch3x3=ch3x3,
            ch5x5red=ch5x5red,
            ch5x5=ch5x5,
            pool_proj=pool_proj,
        )
        self.in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj = c
        self.branch1 = BasicConv2d(self.in_channels, ch1x1)
        self.branch2 = nn.Sequential(
            BasicConv2d(self.in_channels, ch3x3red), BasicConv2d(ch3x3red, ch3x3, 3, padding=1)
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(self.in_channels, ch5x5red), BasicConv2d(ch5x5red, ch5x5, 3, padding=1)
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), BasicConv2d(self.in_channels, pool_proj)
        )

    def _forward(self, x):
        return [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]


class InceptionAux(nn.Module):
    """GoogLeNet's auxiliary classifier: adaptive avg-pool to 4×4 → 1×1 conv (128) → fc 1024 → ReLU → dropout → fc.

    x (Tensor[N, in_channels, H, W]) → logits Tensor[N, num_classes]. 0 <= dropout <= 1."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7):
        super().__init__()
        self.in_channels, num_classes = _channels(in_channels=in_channels, num_classes=num_classes)
        self.conv = BasicConv2d(self.in_channels, 128)
        self.fc1, self.fc2 = nn.Linear(2048, 1024), nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(check_float(dropout, "dropout", 0.0, 1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_x(x, self, self.in_channels)
        x = torch.flatten(self.conv(F.adaptive_avg_pool2d(x, (4, 4))), 1)  # [N, 2048]
        return self.fc2(self.dropout(F.relu(self.fc1(x), inplace=True)))


class GoogLeNet(nn.Module):
    """GoogLeNet (Szegedy et al. 2014, arXiv 1409.4842): a stem, nine Inception modules in three stages
    (3a-b, 4a-e, 5a-b) separated by max-pools, global average pool, dropout, fc. With ``aux_logits`` two
    auxiliary classifiers sit on 4a and 4d; in training mode forward returns
    ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)``, otherwise the logits. ``transform_input`` maps
    ImageNet-normalised input to the [-1, 1] scaling of the original weights.

    x (Tensor[N, 3, H, W]), H, W >= 15 → Tensor[N, num_classes]. 0 <= dropout, dropout_aux <= 1."""

    def __init__(
        self,
        num_classes: int = 1000,
        aux_logits: bool = True,
        transform_input: bool = False,
        init_weights: bool = True,
        dropout: float = 0.2,
        dropout_aux: float = 0.7,
    ):
        super().__init__()
        num_classes = check_int(num_classes, "num_classes", 1)
        self.aux_logits = check_bool(aux_logits, "aux_logits")
        self.transform_input = check_bool(transform_input, "transform_input")
        init_weights = check_bool(init_weights, "init_weights")
        dropout, dropout_aux = check_float(dropout, "dropout", 0.0, 1.0), check_float(dropout_aux, "dropout_aux", 0, 1)
        self.conv1 = BasicConv2d(3, 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2, self.conv3 = BasicConv2d(64, 64), BasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        self.aux1 = InceptionAux(512, num_classes, dropout_aux) if self.aux_logits else None
        self.aux2 = InceptionAux(528, num_classes, dropout_aux) if self.aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)
        if init_weights:  # torchvision's: truncated normal (std 0.01) for conv and fc, BN (1, 0)
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor):
        _check_x(x, self, 3, 15)
        if self.transform_input:  # (x·std + mean − 0.5) / 0.5 per channel
            std, mean = (0.229, 0.224, 0.225), (0.485, 0.456, 0.406)
            x = (
                x * x.new_tensor([s / 0.5 for s in std])[:, None, None]
                + x.new_tensor([(m - 0.5) / 0.5 for m in mean])[:, None, None]
            )
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))  # [N, num_classes]
        return GoogLeNetOutputs(x, aux2, aux1) if self.training and self.aux_logits else x


def googlenet(
    num_classes: int = 1000,
    aux_logits: bool = False,
    transform_input: bool = False,
    dropout: float = 0.2,
    dropout_aux: float = 0.7,
) -> GoogLeNet:
    """GoogLeNet with torchvision's keys and initialisation; ``aux_logits`` defaults to False here (torchvision's
    class default is True, its pretrained weights drop the aux heads). See :class:`GoogLeNet`."""
    return GoogLeNet(num_classes, aux_logits, transform_input, True, dropout, dropout_aux)


# ----------------------------------------------------------------------------- Inception v3 blocks
class InceptionA(_Branches):
    """Inception v3's 35×35 module: 1×1 (64) | 1×1 → 5×5 (64) | 1×1 → 3×3 → 3×3 (96, two 3×3 in place of a
    5×5: same receptive field, 18/25 of the cost) | 3×3 avg-pool → 1×1 (pool_features), concatenated.

    x (Tensor[N, in_channels, H, W]) → Tensor[N, 224 + pool_features, H, W]."""

    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.in_channels, pool_features = _channels(in_channels=in_channels, pool_features=pool_features)
        c = self.in_channels
        self.branch1x1 = BasicConv2d(c, 64)
        self.branch5x5_1, self.branch5x5_2 = BasicConv2d(c, 48), BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(c, 64)
        self.branch3x3dbl_2, self.branch3x3dbl_3 = BasicConv2d(64, 96, 3, padding=1), BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(c, pool_features)

    def _forward(self, x):
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return [self.branch1x1(x), b5, b3, self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1))]


class InceptionB(_Branches):
    """Grid reduction 35 → 17: a stride-2 3×3 (384) | 1×1 → 3×3 → stride-2 3×3 (96) | stride-2 3×3 max-pool,
    concatenated, so the grid shrinks while the filters grow without a representational bottleneck.

    x (Tensor[N, in_channels, H, W]), H, W >= 3 → Tensor[N, 480 + in_channels, (H − 3) // 2 + 1, (W − 3) // 2 + 1]."""

    min_size = 3

    def __init__(self, in_channels: int):
        super().__init__()
        c = self.in_channels = check_int(in_channels, "in_channels", 1)
        self.branch3x3 = BasicConv2d(c, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(c, 64)
        self.branch3x3dbl_2, self.branch3x3dbl_3 = BasicConv2d(64, 96, 3, padding=1), BasicConv2d(96, 96, 3, stride=2)

    def _forward(self, x):
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return [self.branch3x3(x), b3, F.max_pool2d(x, 3, stride=2)]


class InceptionC(_Branches):
    """Inception v3's 17×17 module: each 7×7 is factorised into 1×7 + 7×1 (14/49 of the cost):
    1×1 (192) | 1×1 → 1×7 → 7×1 | 1×1 → 7×1 → 1×7 → 7×1 → 1×7 | 3×3 avg-pool → 1×1, each branch 192 wide;
    ``channels_7x7`` is the width inside the factorised branches.

    x (Tensor[N, in_channels, H, W]) → Tensor[N, 768, H, W]."""

    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        self.in_channels, c7 = _channels(in_channels=in_channels, channels_7x7=channels_7x7)
        c, row, col = (
            self.in_channels,
            dict(kernel_size=(1, 7), padding=(0, 3)),
            dict(kernel_size=(7, 1), padding=(3, 0)),
        )
        self.branch1x1 = BasicConv2d(c, 192)
        self.branch7x7_1, self.branch7x7_2, self.branch7x7_3 = (
            BasicConv2d(c, c7),
            BasicConv2d(c7, c7, **row),
            BasicConv2d(c7, 192, **col),
        )
        self.branch7x7dbl_1, self.branch7x7dbl_2 = BasicConv2d(c, c7), BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_3, self.branch7x7dbl_4 = BasicConv2d(c7, c7, **row), BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, **row)
        self.branch_pool = BasicConv2d(c, 192)

    def _forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = self.branch7x7dbl_2(self.branch7x7dbl_1(x))
        d = self.branch7x7dbl_5(self.branch7x7dbl_4(self.branch7x7dbl_3(d)))
        return [self.branch1x1(x), b7, d, self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1))]


class InceptionD(_Branches):
    """Grid reduction 17 → 8: 1×1 → stride-2 3×3 (320) | 1×1 → 1×7 → 7×1 → stride-2 3×3 (192) | stride-2 3×3
    max-pool, concatenated.

    x (Tensor[N, in_channels, H, W]), H, W >= 3 → Tensor[N, 512 + in_channels, (H − 3) // 2 + 1, (W − 3) // 2 + 1]."""

    min_size = 3

    def __init__(self, in_channels: int):
        super().__init__()
        c = self.in_channels = check_int(in_channels, "in_channels", 1)
        self.branch3x3_1, self.branch3x3_2 = BasicConv2d(c, 192), BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(c, 192)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def _forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return [b3, b7, F.max_pool2d(x, 3, stride=2)]


class InceptionE(_Branches):
    """Inception v3's 8×8 module with an expanded filter bank: the 3×3 branches end in a 1×3 and a 3×1 side
    by side (concatenated, not stacked), for high-dimensional representations on the coarsest grid:
    1×1 (320) | 1×1 (384) → [1×3, 3×1] | 1×1 (448) → 3×3 (384) → [1×3, 3×1] | 3×3 avg-pool → 1×1 (192).

    x (Tensor[N, in_channels, H, W]) → Tensor[N, 2048, H, W]."""

    def __init__(self, in_channels: int):
        super().__init__()
        c = self.in_channels = check_int(in_channels, "in_channels", 1)
        row, col = dict(kernel_size=(1, 3), padding=(0, 1)), dict(kernel_size=(3, 1), padding=(1, 0))
        self.branch1x1 = BasicConv2d(c, 320)
        self.branch3x3_1 = BasicConv2d(c, 384)
        self.branch3x3_2a, self.branch3x3_2b = BasicConv2d(384, 384, **row), BasicConv2d(384, 384, **col)
        self.branch3x3dbl_1, self.branch3x3dbl_2 = BasicConv2d(c, 448), BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a, self.branch3x3dbl_3b = BasicConv2d(384, 384, **row), BasicConv2d(384, 384, **col)
        self.branch_pool = BasicConv2d(c, 192)

    def _forward(self, x):
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)  # [N, 768, H, W]
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)  # [N, 768, H, W]
        return [self.branch1x1(x), b3, d, self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1))]
