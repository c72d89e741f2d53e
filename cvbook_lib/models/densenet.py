"""DenseNet-BC (Huang, Liu, van der Maaten & Weinberger 2017, "Densely Connected Convolutional Networks",
arXiv 1608.06993), torchvision-compatible.

Inside a dense block every layer receives the concatenation of all earlier feature maps of the block and
adds ``growth_rate`` (k) new channels: layer l sees k0 + (l − 1)·k channels. Each layer is a bottleneck
BN-ReLU-1×1 conv (bn_size·k channels) then BN-ReLU-3×3 conv (k channels); between blocks a transition
(BN-ReLU-1×1 conv halving the channels, 2×2 average pool) — "B" and "C" (compression 0.5) of DenseNet-BC.

The module tree is torchvision's (``features.conv0``, ``features.denseblock1.denselayer1.norm1`` ...,
``features.transition1``, ``features.norm5``, ``classifier``): same keys in the same order, same
initialisation, equal logits after ``load_state_dict(tv.state_dict())``. ``memory_efficient=True`` is
supported as in torchvision: the concatenation + bottleneck of each layer is recomputed in the backward
pass (``torch.utils.checkpoint``) instead of being stored, when a gradient is needed.

Deliberate differences (clear errors): ``num_classes``, ``growth_rate``, ``bn_size``, ``num_init_features`` and
every entry of ``block_config`` must be >= 1, ``drop_rate`` in [0, 1] (torchvision takes a negative or NaN
rate as no dropout); the forward takes only a float Tensor[N, 3, H, W] of the module's dtype and device,
large enough that no pool gets an empty map (29 × 29 for DenseNet-121).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp

from .._checks import check_bool, check_int, check_probability
from .classic import _check_images

__all__ = ["DenseNet", "densenet121"]


class _DenseLayer(nn.Module):
    """BN-ReLU-conv1×1 (bn_size·k) → BN-ReLU-conv3×3 (k): the k new channels of one layer."""

    def __init__(
        self, num_input_features: int, growth_rate: int, bn_size: int, drop_rate: float, memory_efficient: bool
    ) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1, stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)
        self.drop_rate, self.memory_efficient = drop_rate, memory_efficient

    def bottleneck(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.conv1(self.relu1(self.norm1(torch.cat(inputs, 1))))  # [N, bn_size·k, H, W]

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if self.memory_efficient and any(t.requires_grad for t in inputs):
            out = cp.checkpoint(self.bottleneck, *inputs, use_reentrant=False)  # recomputed in backward
        else:
            out = self.bottleneck(*inputs)
        out = self.conv2(self.relu2(self.norm2(out)))  # [N, k, H, W]
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        return out


class _DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; returns the concatenation of the input and every layer's output."""

    _version = 2

    def __init__(
        self,
        num_layers: int,
        num_input_features: int,
        bn_size: int,
        growth_rate: int,
        drop_rate: float,
        memory_efficient: bool,
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            self.add_module(
                f"denselayer{i + 1}",
                _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate, memory_efficient),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)  # [N, k0 + L·k, H, W]


class _Transition(nn.Sequential):
    def __init__(self, num_input_features: int, num_output_features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, kernel_size=1, stride=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


def _check_block_config(block_config) -> tuple[int, ...]:
    if not isinstance(block_config, (tuple, list)) or not block_config:
        raise TypeError(f"block_config must be a non-empty tuple of positive ints, got {block_config!r}")
    return tuple(check_int(n, "block_config", 1) for n in block_config)


class DenseNet(nn.Module):
    """DenseNet-BC: 7×7/2 conv (num_init_features) + 3×3/2 max pool, dense blocks of ``block_config`` layers
    joined by transitions, BN, ReLU, global average pool, linear classifier (torchvision's ``DenseNet``).

    growth_rate: k, the channels each layer adds; bn_size: the bottleneck width is bn_size·k; drop_rate:
    dropout after each layer (training only); memory_efficient: checkpoint the bottlenecks (same results,
    less memory, slower backward). x (Tensor[N, 3, H, W]) → logits Tensor[N, num_classes]."""

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, ...] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        num_classes: int = 1000,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        growth_rate = check_int(growth_rate, "growth_rate", 1)
        block_config = _check_block_config(block_config)
        num_init_features = check_int(num_init_features, "num_init_features", 1)
        bn_size = check_int(bn_size, "bn_size", 1)
        drop_rate = check_probability(drop_rate, "drop_rate")
        num_classes = check_int(num_classes, "num_classes", 1)
        memory_efficient = check_bool(memory_efficient, "memory_efficient")
        self.features = nn.Sequential(
            OrderedDict(
                [
                    ("conv0", nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3, bias=False)),
                    ("norm0", nn.BatchNorm2d(num_init_features)),
                    ("relu0", nn.ReLU(inplace=True)),
                    ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
                ]
            )
        )
        c = num_init_features
        for i, num_layers in enumerate(block_config):
            self.features.add_module(
                f"denseblock{i + 1}", _DenseBlock(num_layers, c, bn_size, growth_rate, drop_rate, memory_efficient)
            )
            c += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", _Transition(c, c // 2))
                c //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(c))
        self.classifier = nn.Linear(c, num_classes)
        self.num_transitions = len(block_config) - 1
        for m in self.modules():  # torchvision's ("official") init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.bias, 0)

    def min_size(self) -> int:
        """The smallest H (and W) this network takes: after conv0 and pool0 (÷4), each transition halves."""
        s = 1
        for _ in range(self.num_transitions):
            s *= 2  # a transition's 2×2 pool needs >= 2 rows
        s = 2 * s - 1  # pool0 (3×3/2, pad 1): out = (h - 1)//2 + 1
        return 2 * s - 1  # conv0 (7×7/2, pad 3): out = (h - 1)//2 + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, self, 3)
        m = self.min_size()
        if x.shape[2] < m or x.shape[3] < m:
            raise ValueError(
                f"x must be at least {m} x {m} for a DenseNet with {self.num_transitions} transitions, "
                f"got shape {tuple(x.shape)}"
            )
        out = F.relu(self.features(x), inplace=True)  # [N, C, H/32, W/32]
        out = torch.flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1)  # [N, C]
        return self.classifier(out)  # [N, num_classes]


def densenet121(
    num_classes: int = 1000,
    growth_rate: int = 32,
    bn_size: int = 4,
    drop_rate: float = 0.0,
    memory_efficient: bool = False,
) -> DenseNet:
    """DenseNet-121 (blocks of 6, 12, 24, 16 layers, 64 initial features; torchvision's ``densenet121()``):
    7,978,856 parameters with the defaults. A ``growth_rate`` other than 32 keeps 64 initial features
    (torchvision's ``DenseNet(growth_rate=k)`` with the DenseNet-121 blocks; the paper uses 2k)."""
    return DenseNet(growth_rate, (6, 12, 24, 16), 64, bn_size, drop_rate, num_classes, memory_efficient)
