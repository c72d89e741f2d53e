"""The classic plain CNNs: AlexNet, VGG-11/16 (with and without batch norm) and a Highway layer.

AlexNet and VGG are torchvision-compatible: the same module tree, so ``state_dict`` keys, their order and
their shapes are torchvision's (``features.N``, ``avgpool``, ``classifier.N``), the same initialisation
(built under the same seed, the weights are equal) and the same forward, so
``ours.load_state_dict(tv.state_dict())`` is strict and the eval-mode logits are equal.

Deliberate differences (clear errors where torchvision builds or runs something): ``num_classes`` must be
>= 1 (torchvision builds a zero-width head), ``dropout`` must be in [0, 1] (NaN is refused), and the
forward refuses what would fail later or silently: a tensor that is not a batch of floating images
[N, C, H, W] of the module's dtype and device, the wrong channel count, and images smaller than the
network's minimum (AlexNet 63 × 63, VGG 32 × 32).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from .._checks import check_bool, check_float, check_int, check_probability, check_tensor

__all__ = ["AlexNet", "VGG", "alexnet", "vgg11", "vgg11_bn", "vgg16", "vgg16_bn", "HighwayLayer"]


def _check_images(x, module: nn.Module, channels: int | None, name: str = "x") -> torch.Tensor:
    """Shared forward check: ``x`` is a float Tensor[N, channels, H, W] of the module's dtype and device."""
    check_tensor(x, name, (4,), kind="float")
    p = next(module.parameters(), None)
    if p is not None and (x.dtype != p.dtype or x.device != p.device):
        raise TypeError(f"{name} must have the module's dtype {p.dtype} on {p.device}, got {x.dtype} on {x.device}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have shape [N, {channels}, H, W], got {tuple(x.shape)}")
    return x


def _check_min_size(x: torch.Tensor, minimum: int, what: str, name: str = "x") -> None:
    if x.shape[2] < minimum or x.shape[3] < minimum:
        raise ValueError(f"{name} must be at least {minimum} x {minimum} for {what}, got shape {tuple(x.shape)}")


# ----------------------------------------------------------------------------- AlexNet
class AlexNet(nn.Module):
    """AlexNet (Krizhevsky, Sutskever & Hinton 2012, "ImageNet Classification with Deep Convolutional Neural
    Networks"; torchvision's single-tower variant of Krizhevsky 2014, arXiv 1404.5997): five convolutions
    (11×11 stride 4, 5×5, three 3×3) with ReLU and overlapping 3×3/2 max pools, an adaptive 6×6 average
    pool, then three fully connected layers with dropout. The first big ReLU + dropout + GPU-trained CNN.

    x (Tensor[N, 3, H, W]), H, W >= 63 → logits Tensor[N, num_classes]. Default PyTorch initialisation
    (as torchvision)."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        num_classes = check_int(num_classes, "num_classes", 1)
        dropout = check_probability(dropout, "dropout")
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, self, 3)
        _check_min_size(x, 63, "AlexNet")
        x = self.avgpool(self.features(x))  # [N, 256, 6, 6]
        return self.classifier(torch.flatten(x, 1))  # [N, num_classes]


def alexnet(num_classes: int = 1000, dropout: float = 0.5) -> AlexNet:
    """AlexNet with random weights (torchvision's ``alexnet()``); see :class:`AlexNet`. 61,100,840 parameters."""
    return AlexNet(num_classes=num_classes, dropout=dropout)


# ----------------------------------------------------------------------------- VGG
_CFGS = {  # channels of each 3×3 conv, "M" a 2×2 max pool (Simonyan & Zisserman, Table 1: A and D)
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


def _make_layers(cfg: list, batch_norm: bool) -> nn.Sequential:
    """VGG's ``features``: 3×3 pad-1 convs (+ BN) + ReLU, 2×2 max pools (torchvision's ``make_layers``)."""
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG (Simonyan & Zisserman 2014, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
    arXiv 1409.1556): stacks of 3×3 convolutions (two 3×3 see what one 5×5 sees, with fewer weights and one
    more ReLU) between 2×2 max pools, an adaptive 7×7 average pool and three fully connected layers.

    features: the conv trunk (an ``nn.Module`` whose output has 512 channels, e.g. the ``vgg*`` builders').
    x (Tensor[N, C, H, W]) → logits Tensor[N, num_classes]; C is the first convolution's input channels and
    H, W >= 2**(number of max pools in features) (32 for the builders). With ``init_weights`` torchvision's
    scheme: convs Kaiming-normal (fan_out, ReLU) with zero bias, BN weight 1 / bias 0, linears N(0, 0.01)."""

    def __init__(
        self, features: nn.Module, num_classes: int = 1000, init_weights: bool = True, dropout: float = 0.5
    ) -> None:
        super().__init__()
        if not isinstance(features, nn.Module):
            raise TypeError(f"features must be an nn.Module, got {type(features).__name__}")
        num_classes = check_int(num_classes, "num_classes", 1)
        init_weights = check_bool(init_weights, "init_weights")
        dropout = check_probability(dropout, "dropout")
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = next((m for m in self.features.modules() if isinstance(m, nn.Conv2d)), None)
        _check_images(x, self, None if first is None else first.in_channels)
        pools = sum(isinstance(m, nn.MaxPool2d) for m in self.features.modules())
        _check_min_size(x, 2**pools, f"VGG with {pools} max pools")
        x = self.features(x)  # [N, 512, H/32, W/32]
        if x.dim() != 4 or x.shape[1] != 512:
            raise ValueError(f"features must give Tensor[N, 512, h, w], got shape {tuple(x.shape)}")
        x = self.avgpool(x)  # [N, 512, 7, 7]
        return self.classifier(torch.flatten(x, 1))  # [N, num_classes]


def _vgg(cfg: str, batch_norm: bool, num_classes, init_weights, dropout) -> VGG:
    check_int(num_classes, "num_classes", 1)  # every argument is checked before the (slow) build
    check_bool(init_weights, "init_weights")
    check_probability(dropout, "dropout")
    return VGG(
        _make_layers(_CFGS[cfg], batch_norm), num_classes=num_classes, init_weights=init_weights, dropout=dropout
    )


def vgg11(num_classes: int = 1000, init_weights: bool = True, dropout: float = 0.5) -> VGG:
    """VGG-11 (configuration A: 8 convs + 3 FC), torchvision's ``vgg11()``; 132,863,336 parameters."""
    return _vgg("A", False, num_classes, init_weights, dropout)


def vgg11_bn(num_classes: int = 1000, init_weights: bool = True, dropout: float = 0.5) -> VGG:
    """VGG-11 with a BatchNorm2d after every conv, torchvision's ``vgg11_bn()``; 132,868,840 parameters."""
    return _vgg("A", True, num_classes, init_weights, dropout)


def vgg16(num_classes: int = 1000, init_weights: bool = True, dropout: float = 0.5) -> VGG:
    """VGG-16 (configuration D: 13 convs + 3 FC), torchvision's ``vgg16()``; 138,357,544 parameters."""
    return _vgg("D", False, num_classes, init_weights, dropout)


def vgg16_bn(num_classes: int = 1000, init_weights: bool = True, dropout: float = 0.5) -> VGG:
    """VGG-16 with a BatchNorm2d after every conv, torchvision's ``vgg16_bn()``; 138,365,992 parameters."""
    return _vgg("D", True, num_classes, init_weights, dropout)


# ----------------------------------------------------------------------------- Highway
class HighwayLayer(nn.Module):
    """A highway layer (Srivastava, Greff & Schmidhuber 2015, "Highway Networks", arXiv 1505.00387):
    y = H(x) · T(x) + x · (1 − T(x)), with the transform H(x) = activation(W_H x + b_H) and the gate
    T(x) = sigmoid(W_T x + b_T). A learned, per-unit mix of "transform" and "carry": the ancestor of the
    residual connection (ResNet fixes both weights to 1).

    features: the width f of x and y; parameters ``transform`` (H) and ``gate`` (T), two f × f linears:
        2·(f² + f) parameters.
    gate_bias: the initial b_T (every entry), a finite real. Negative (the paper suggests −1 to −3) starts
        the layer close to the identity (T ≈ 0: carry), so deep stacks train.
    activation: a callable for H, default ``nn.ReLU()``.
    x (Tensor[*, f]) → Tensor[*, f]."""

    def __init__(self, features: int, gate_bias: float = -1.0, activation: Callable | None = None) -> None:
        super().__init__()
        self.features = check_int(features, "features", 1)
        gate_bias = check_float(gate_bias, "gate_bias", allow_inf=False)
        if activation is not None and not callable(activation):
            raise TypeError(
                f"activation must be a callable (e.g. nn.ReLU()) or None, got "
                f"{type(activation).__name__} {activation!r}"
            )
        self.activation = nn.ReLU() if activation is None else activation
        self.transform = nn.Linear(self.features, self.features)  # W_H, b_H
        self.gate = nn.Linear(self.features, self.features)  # W_T, b_T
        with torch.no_grad():
            self.gate.bias.fill_(gate_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", kind="float", min_ndim=1)
        w = self.gate.weight
        if x.dtype != w.dtype or x.device != w.device:
            raise TypeError(f"x must have the module's dtype {w.dtype} on {w.device}, got {x.dtype} on {x.device}")
        if x.shape[-1] != self.features:
            raise ValueError(f"x must have shape [*, {self.features}] (features), got {tuple(x.shape)}")
        h = self.activation(self.transform(x))  # H(x)  [*, f]
        t = torch.sigmoid(self.gate(x))  # T(x)  [*, f]
        return h * t + x * (1 - t)
