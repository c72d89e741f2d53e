"""Channel and coordinate attention blocks of CNNs: squeeze-and-excitation (Hu et al. 2018) and coordinate
attention (Hou et al. 2021). Re-exported by :mod:`cvbook_lib.attention`; tested in ``tests/test_attention.py``
(SE against ``torchvision.ops.SqueezeExcitation`` with the same weights).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ._checks import check_int, check_tensor

__all__ = ["SEBlock", "CoordinateAttention"]


def _check_feature_map(x, module, channels):
    """x (Tensor[N, C, H, W] or unbatched [C, H, W]) of the module's dtype; returns it 4-D."""
    check_tensor(x, "x", (3, 4), kind="float")
    p = next(module.parameters())
    if x.dtype != p.dtype or x.device != p.device:
        raise TypeError(f"x must have the module's dtype {p.dtype} on {p.device}, got {x.dtype} on {x.device}")
    if x.shape[-3] != channels:
        raise ValueError(f"x must have shape [N, {channels}, H, W] or [{channels}, H, W], got {tuple(x.shape)}")
    return x if x.dim() == 4 else x[None]


class SEBlock(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): global average pool → FC (C → max(1, C // r)) → ReLU → FC →
    sigmoid, then rescale each channel. channels >= 1, reduction >= 1. x (Tensor[N, C, H, W] or [C, H, W]) → same shape,
    any H, W; an empty x gives an empty output (= ``torchvision.ops.SqueezeExcitation`` with the same weights)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.channels = check_int(channels, "channels", 1)
        self.reduction = check_int(reduction, "reduction", 1)
        squeeze = max(1, self.channels // self.reduction)
        self.fc1, self.fc2 = nn.Linear(self.channels, squeeze), nn.Linear(squeeze, self.channels)

    def forward(self, x):
        x4 = _check_feature_map(x, self, self.channels)
        if x4.numel() == 0:                                                  # empty in, empty out
            return x.clone()
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(x4.mean((2, 3))))))      # [N, C]
        return (x4 * s[:, :, None, None]).view(x.shape)


class CoordinateAttention(nn.Module):
    """Coordinate attention (Hou et al. 2021): pool along W and along H separately (keeping positions on
    the other axis), a shared 1×1 conv (C → max(8, C // r)) → BN → h-swish on the concatenation, then two
    1×1 convs and sigmoids give a per-row and a per-column gate: out = x · a_h · a_w.
    channels >= 1, reduction >= 1. x (Tensor[N, C, H, W] or [C, H, W]) → same shape, any H, W; an empty x gives an empty
    output (and leaves the BN statistics alone)."""

    def __init__(self, channels: int, reduction: int = 32):
        super().__init__()
        self.channels = check_int(channels, "channels", 1)
        self.reduction = check_int(reduction, "reduction", 1)
        mip = max(8, self.channels // self.reduction)
        self.conv1, self.bn1 = nn.Conv2d(self.channels, mip, 1), nn.BatchNorm2d(mip)
        self.conv_h, self.conv_w = nn.Conv2d(mip, self.channels, 1), nn.Conv2d(mip, self.channels, 1)

    def forward(self, x):
        x4 = _check_feature_map(x, self, self.channels)
        if x4.numel() == 0:                                                  # BN statistics untouched
            return x.clone()
        H = x4.shape[2]
        pooled = torch.cat([x4.mean(3, keepdim=True), x4.mean(2, keepdim=True).transpose(2, 3)], 2)  # [N, C, H+W, 1]
        y = nn.functional.hardswish(self.bn1(self.conv1(pooled)))
        a_h = torch.sigmoid(self.conv_h(y[:, :, :H]))                                # [N, C, H, 1]
        a_w = torch.sigmoid(self.conv_w(y[:, :, H:].transpose(2, 3)))                # [N, C, 1, W]
        return (x4 * a_h * a_w).view(x.shape)
