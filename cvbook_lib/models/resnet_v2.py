"""Pre-activation ResNet (ResNet v2: He, Zhang, Ren, Sun 2016, "Identity Mappings in Deep Residual Networks",
arXiv 1603.05027) and the CIFAR-10 ResNets of He et al. 2015 §4.2 (arXiv 1512.03385), with and without shortcuts.

v2's idea: move BN and ReLU *before* each conv (BN → ReLU → conv, twice) and add nothing after the addition,
so the shortcut is a clean identity: x_{l+1} = x_l + F(x_l), hence x_L = x_l + Σ F(x_i) — any block's signal
(and gradient, ∂loss/∂x_l = ∂loss/∂x_L · (1 + ∂Σ F/∂x_l)) reaches any other unchanged. In v1 the ReLU after
the addition sits on that path. Because the last block's output is not normalised, a final BN + ReLU comes
before the pooling.

The CIFAR family (Table 6 of the 2015 paper): a 3×3 conv of ``width`` channels, three stages of n blocks (two
3×3 convs each) of widths (w, 2w, 4w) on 32², 16², 8² maps, global average pooling and an fc: 6n + 2 weighted
layers (20, 32, 44, 56, 110 ...). ``shortcut=False`` is the paper's *plain* net (the same layers, no addition),
whose training error grows with depth (the degradation problem); the residual one's does not. Where the shape
changes we project the shortcut with a 1×1 conv + BN (option B; the paper's CIFAR nets use option A,
zero-padding, which has no parameters: option B adds 2·(w·2w + 2w·4w) + 2·(2w + 4w) = 2,752 parameters for
w = 16). With ``preact=True`` the blocks are v2's; then the stem is a bare conv (every block begins with its
own BN-ReLU) and the projection a bare 1×1 conv of the pre-activated input, as in He's code
(github.com/KaimingHe/resnet-1k-layers).

Initialisation as torchvision's ResNet: convs ``kaiming_normal_`` (fan_out, ReLU), BN weight 1 and bias 0.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .._checks import check_bool, check_int
from .resnet import BasicBlock, _check_input, conv1x1, conv3x3

__all__ = ["PreActBlock", "preact_resnet18", "cifar_resnet"]


class PreActBlock(nn.Module):
    """The v2 basic block: out = conv2(relu(bn2(conv1(relu(bn1(x)))))) + shortcut(x), nothing after the sum.

    x (Tensor[N, inplanes, H, W]) → Tensor[N, planes, ceil(H / stride), ceil(W / stride)]. The shortcut is x
    itself, or, where the shape changes, ``downsample``: a 1×1 conv (stride ``stride``, no BN) of the
    pre-activated relu(bn1(x)). ``shortcut=False`` drops the addition (a plain pre-activation block)."""

    expansion: int = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        inplanes, planes = check_int(inplanes, "inplanes", 1), check_int(planes, "planes", 1)
        stride, self.shortcut = check_int(stride, "stride", 1), check_bool(shortcut, "shortcut")
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        project = self.shortcut and (stride != 1 or inplanes != planes)
        self.downsample = conv1x1(inplanes, planes, stride) if project else None
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.conv1.weight, self.conv1.in_channels)
        pre = self.relu(self.bn1(x))  # the pre-activation, shared with the projection
        out = self.conv2(self.relu(self.bn2(self.conv1(pre))))  # [N, planes, H/s, W/s]
        if not self.shortcut:
            return out
        return out + (x if self.downsample is None else self.downsample(pre))


class _PlainBlock(nn.Module):
    """BasicBlock without its shortcut: relu(bn2(conv2(relu(bn1(conv1(x)))))) (the same layers and names)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.conv1.weight, self.conv1.in_channels)
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


def _block(kind: str, inplanes: int, planes: int, stride: int) -> nn.Module:
    if kind == "preact":
        return PreActBlock(inplanes, planes, stride)
    if kind == "preact-plain":
        return PreActBlock(inplanes, planes, stride, shortcut=False)
    if kind == "plain":
        return _PlainBlock(inplanes, planes, stride)
    downsample = None
    if stride != 1 or inplanes != planes:  # option B: 1×1 conv + BN projection
        downsample = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))
    return BasicBlock(inplanes, planes, stride, downsample)


class _StagedResNet(nn.Module):
    """conv1 [→ bn1 → relu] [→ maxpool] → layer1..layerK → [bn_final → relu] → global average pool → fc.

    x (Tensor[N, in_channels, H, W]) → logits Tensor[N, num_classes]."""

    def __init__(
        self, conv1: nn.Conv2d, stem_norm: bool, maxpool: bool, kind: str, widths, blocks: int | list, num_classes: int
    ) -> None:
        super().__init__()
        self.in_channels = conv1.in_channels
        self.conv1 = conv1
        if stem_norm:
            self.bn1 = nn.BatchNorm2d(conv1.out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if maxpool else nn.Identity()
        inplanes, counts = conv1.out_channels, blocks if isinstance(blocks, list) else [blocks] * len(widths)
        self.stages = [f"layer{i + 1}" for i in range(len(widths))]
        for i, (planes, n) in enumerate(zip(widths, counts)):
            stride = 1 if i == 0 else 2
            layer = [_block(kind, inplanes, planes, stride)] + [_block(kind, planes, planes, 1) for _ in range(1, n)]
            setattr(self, self.stages[i], nn.Sequential(*layer))
            inplanes = planes
        if kind.startswith("preact"):
            self.bn_final = nn.BatchNorm2d(inplanes)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.conv1.weight, self.in_channels)
        x = self.conv1(x)
        if hasattr(self, "bn1"):
            x = self.relu(self.bn1(x))
        x = self.maxpool(x)
        for name in self.stages:
            x = getattr(self, name)(x)
        if hasattr(self, "bn_final"):
            x = self.relu(self.bn_final(x))  # v2: the last block's sum is not normalised
        return self.fc(torch.flatten(self.avgpool(x), 1))  # [N, num_classes]


def preact_resnet18(num_classes: int = 1000) -> nn.Module:
    """Pre-activation ResNet-18 (He et al. 2016b, arXiv 1603.05027) for ImageNet: resnet18's stem (7×7/2 conv,
    BN, ReLU, 3×3/2 max-pool), four stages of two :class:`PreActBlock` (64, 128, 256, 512 channels; stride 2 from
    layer2 on; 1×1-conv projections), a final BN + ReLU, global average pool and fc.

    x (Tensor[N, 3, H, W]) → logits Tensor[N, num_classes]. The convs and the fc are resnet18's, so the
    parameters are resnet18's 11,689,512 minus the BN differences: 11,687,848 (tests/test_models_resnet.py)."""
    num_classes = check_int(num_classes, "num_classes", 1)
    conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return _StagedResNet(conv1, True, True, "preact", (64, 128, 256, 512), 2, num_classes)


def cifar_resnet(
    depth: int = 20,
    num_classes: int = 10,
    width: int = 16,
    in_channels: int = 3,
    shortcut: bool = True,
    preact: bool = False,
) -> nn.Module:
    """The CIFAR-10 ResNet of He et al. 2015 §4.2 (arXiv 1512.03385) with depth = 6n + 2 weighted layers.

    A 3×3 conv of ``width`` channels (+ BN + ReLU unless ``preact``), three stages of n blocks of widths
    (w, 2w, 4w) and first strides (1, 2, 2), global average pool, fc. ``shortcut=False``: the plain net, the
    same convs with no shortcut at all; ``shortcut=True``: identity shortcuts and 1×1 conv + BN projections
    (option B) where the shape changes; ``preact=True``: v2 blocks (:class:`PreActBlock`) and a final BN + ReLU.
    For w = 16: 272,474 / 855,770 / 1,730,714 parameters at depth 20 / 56 / 110 with shortcuts (the paper's
    0.27 M / 0.85 M / 1.7 M are option A's, 2,752 fewer), the plain nets 2,752 fewer too.

    x (Tensor[N, in_channels, H, W]), any H, W >= 1 (32 × 32 for CIFAR) → logits Tensor[N, num_classes]."""
    depth = check_int(depth, "depth", 8)
    if (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 for an int n >= 1 (8, 14, 20, 32, 44, 56, 110 ...), got {depth!r}")
    num_classes, width = check_int(num_classes, "num_classes", 1), check_int(width, "width", 1)
    in_channels = check_int(in_channels, "in_channels", 1)
    shortcut, preact = check_bool(shortcut, "shortcut"), check_bool(preact, "preact")
    kind = ("preact" if preact else "residual") if shortcut else ("preact-plain" if preact else "plain")
    conv1 = conv3x3(in_channels, width)
    return _StagedResNet(conv1, not preact, False, kind, (width, 2 * width, 4 * width), (depth - 2) // 6, num_classes)
