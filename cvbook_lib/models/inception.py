"""GoogLeNet (Inception v1), with torchvision's ``state_dict`` keys (the Inception-v3 blocks are in
:mod:`cvbook_lib.models.inception_v3`).

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
