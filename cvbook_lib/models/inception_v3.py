"""The Inception-v3 blocks A–E (Szegedy et al. 2015, "Rethinking the Inception architecture for computer vision",
arXiv 1512.00567), with torchvision's ``state_dict`` keys: two 3×3 for a 5×5 (A), 1×n + n×1 for n×n (C),
strided branches beside a pooling branch to shrink the grid (B, D), and an expanded filter bank (E).

Every block refuses an ``x`` that is not a 4-D float tensor of its dtype with ``in_channels`` channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._checks import check_int
from .inception import BasicConv2d, _Branches, _channels

__all__ = ["InceptionA", "InceptionB", "InceptionC", "InceptionD", "InceptionE"]


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
