"""Two segmentation networks and their skips: FCN-8s adds coarse and fine class scores, UNet concatenates
encoder features into the decoder. Both give per-pixel logits Tensor[N, num_classes, H, W] at the input
resolution; their parameter counts are tested against the layer lists (``tests/test_models.py``).

Neither has a torchvision twin (torchvision's ``fcn_resnet50`` is a ResNet + atrous head, not the FCN-8s of
the paper). The forward takes only a float Tensor[N, C, H, W] of the module's dtype and device with H, W
multiples of the network's total stride (32 for FCN-8s, 2**(depth-1) for UNet): there is no crop layer.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .._checks import check_bool, check_int
from .classic import _check_images

__all__ = ["FCN8s", "UNet", "bilinear_kernel"]


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """FCN's ``upsample_filt``: the weight Tensor[channels, channels, k, k] that makes a transposed conv a
    per-channel bilinear upsampler (zero across channels). 1-D taps 1 − |i − centre| / f with f = ceil(k / 2),
    centre = f − 1 (k odd) or f − 0.5 (k even). For an even stride s, ``ConvTranspose2d(C, C, 2s, stride=s,
    padding=s // 2, bias=False)`` with this weight equals ``F.interpolate(scale_factor=s, mode='bilinear',
    align_corners=False)`` except in the outermost s/2 rows and columns, where interpolate clamps to the edge
    pixel and the transposed conv sees a zero (tests/test_models.py)."""
    channels, kernel_size = check_int(channels, "channels", 1), check_int(kernel_size, "kernel_size", 1)
    f = (kernel_size + 1) // 2
    centre = f - 1 if kernel_size % 2 == 1 else f - 0.5
    taps = 1 - (torch.arange(kernel_size, dtype=torch.float64) - centre).abs() / f  # [k]
    weight = torch.zeros(channels, channels, kernel_size, kernel_size, dtype=torch.float64)
    weight[range(channels), range(channels)] = torch.outer(taps, taps)
    return weight.float()


def _check_tuple(value, name: str, length: int) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of {length} positive ints (one per stage), got {value!r}")
    if len(value) != length:
        raise ValueError(f"{name} must be a tuple of {length} positive ints (one per stage), got {value!r}")
    return tuple(check_int(v, name, 1) for v in value)


class FCN8s(nn.Module):
    """FCN-8s (Long, Shelhamer & Darrell 2015, "Fully Convolutional Networks for Semantic Segmentation",
    arXiv 1411.4038). A VGG-style encoder of five stages (``convs[i]`` 3×3 pad-1 convs of ``widths[i]``
    channels + ReLU, then a 2×2 max pool), fc6 as a 7×7 conv (padding 3) and fc7 as a 1×1 conv
    (``fc_channels``, ReLU + dropout 0.5 each: the classifier made convolutional), and class scores read at
    three strides: score_fr on fc7 (÷32), score_pool4 (÷16), score_pool3 (÷8). The coarse scores are
    upsampled 2× and ADDED to the finer ones, twice, then upsampled 8× to the input size ("F → add"):

        out = up8(up2(up2(score_fr(fc7)) + score_pool4(pool4)) + score_pool3(pool3))

    The three upsamplers are ``ConvTranspose2d`` (kernels 4, 4, 16; no bias) initialised to bilinear
    interpolation (:func:`bilinear_kernel`) and learnable; the three score layers are zero-initialised (the
    paper's choice). With the defaults (the VGG-16 encoder, 21 VOC classes) 134,489,759 parameters: the
    paper's 134M. x (Tensor[N, in_channels, H, W]), H, W multiples of 32 → Tensor[N, num_classes, H, W]."""

    def __init__(
        self,
        num_classes: int = 21,
        in_channels: int = 3,
        widths: tuple[int, ...] = (64, 128, 256, 512, 512),
        convs: tuple[int, ...] = (2, 2, 3, 3, 3),
        fc_channels: int = 4096,
    ) -> None:
        super().__init__()
        num_classes = check_int(num_classes, "num_classes", 1)
        self.in_channels = check_int(in_channels, "in_channels", 1)
        widths, convs = _check_tuple(widths, "widths", 5), _check_tuple(convs, "convs", 5)
        fc_channels = check_int(fc_channels, "fc_channels", 1)
        stages, c = [], self.in_channels
        for width, n in zip(widths, convs):
            layers: list[nn.Module] = []
            for _ in range(n):
                layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(inplace=True)]
                c = width
            stages.append(nn.Sequential(*layers, nn.MaxPool2d(2, 2)))
        self.stages = nn.ModuleList(stages)  # pool1 ... pool5
        self.fc6 = nn.Sequential(
            nn.Conv2d(widths[4], fc_channels, 7, padding=3), nn.ReLU(inplace=True), nn.Dropout(0.5)
        )
        self.fc7 = nn.Sequential(nn.Conv2d(fc_channels, fc_channels, 1), nn.ReLU(inplace=True), nn.Dropout(0.5))
        self.score_fr = nn.Conv2d(fc_channels, num_classes, 1)
        self.score_pool4 = nn.Conv2d(widths[3], num_classes, 1)
        self.score_pool3 = nn.Conv2d(widths[2], num_classes, 1)
        self.upscore2 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, padding=1, bias=False)
        self.upscore_pool4 = nn.ConvTranspose2d(num_classes, num_classes, 4, stride=2, padding=1, bias=False)
        self.upscore8 = nn.ConvTranspose2d(num_classes, num_classes, 16, stride=8, padding=4, bias=False)
        with torch.no_grad():
            for score in (self.score_fr, self.score_pool4, self.score_pool3):
                score.weight.zero_()
                score.bias.zero_()
            for up in (self.upscore2, self.upscore_pool4, self.upscore8):
                up.weight.copy_(bilinear_kernel(num_classes, up.kernel_size[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, self, self.in_channels)
        H, W = x.shape[2:]
        if H < 32 or W < 32 or H % 32 or W % 32:
            raise ValueError(
                f"x must have H and W positive multiples of 32 (FCN-8s has stride 32 and no crop), "
                f"got shape {tuple(x.shape)}"
            )
        pools = []
        for stage in self.stages:
            x = stage(x)
            pools.append(x)  # pool_i: [N, widths[i], H/2^i, W/2^i]
        s = self.score_fr(self.fc7(self.fc6(pools[4])))  # [N, K, H/32, W/32]
        s = self.upscore2(s) + self.score_pool4(pools[3])  # [N, K, H/16, W/16]
        s = self.upscore_pool4(s) + self.score_pool3(pools[2])  # [N, K, H/8, W/8]
        return self.upscore8(s)  # [N, K, H, W]


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    """Two 3×3 pad-1 conv (no bias: BN follows) + BN + ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net (Ronneberger, Fischer & Brox 2015, "U-Net: Convolutional Networks for Biomedical Image
    Segmentation", arXiv 1505.04597), with padded convolutions and batch norm. ``depth`` levels; level i has
    c_i = base_channels · 2^i channels and two 3×3 pad-1 conv + BN + ReLU. The encoder goes down by 2×2 max
    pools; the decoder goes up by ``ConvTranspose2d(c_{i+1}, c_i, 2, stride=2)`` and, with ``skip``,
    CONCATENATES the encoder's level-i feature map ("U → concat"), so its first conv takes 2·c_i channels;
    ``skip=False`` is the same network without the skips (that conv takes c_i channels: 9·c_i² fewer weights
    per level), for an ablation. A final 1×1 conv gives the class logits.

    x (Tensor[N, in_channels, H, W]), H, W positive multiples of 2**(depth - 1) → Tensor[N, num_classes, H, W]."""

    def __init__(
        self, in_channels: int = 1, num_classes: int = 2, base_channels: int = 16, depth: int = 4, skip: bool = True
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", 1)
        num_classes = check_int(num_classes, "num_classes", 1)
        base_channels = check_int(base_channels, "base_channels", 1)
        self.depth = check_int(depth, "depth", 1)
        self.skip = check_bool(skip, "skip")
        chans = [base_channels * 2**i for i in range(self.depth)]
        self.down = nn.ModuleList(_double_conv(cin, cout) for cin, cout in zip([self.in_channels] + chans, chans))
        self.pool = nn.MaxPool2d(2, 2)
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2) for i in reversed(range(self.depth - 1))
        )
        self.up_convs = nn.ModuleList(
            _double_conv(chans[i] * (2 if self.skip else 1), chans[i]) for i in reversed(range(self.depth - 1))
        )
        self.head = nn.Conv2d(chans[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, self, self.in_channels)
        m = 2 ** (self.depth - 1)
        H, W = x.shape[2:]
        if H < m or W < m or H % m or W % m:
            raise ValueError(
                f"x must have H and W positive multiples of 2**(depth - 1) = {m}, got shape {tuple(x.shape)}"
            )
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))  # [N, c_i, H/2^i, W/2^i]
            skips.append(x)
        for up, conv, enc in zip(self.up, self.up_convs, reversed(skips[:-1])):
            x = up(x)  # [N, c_i, H/2^i, W/2^i]
            x = conv(torch.cat([enc, x], 1) if self.skip else x)  # [N, c_i, ...] from 2·c_i or c_i
        return self.head(x)  # [N, num_classes, H, W]
