"""ResNet (He, Zhang, Ren, Sun 2015, "Deep Residual Learning for Image Recognition", arXiv 1512.03385), laid
out as torchvision's ``torchvision.models.resnet``: the same class and builder names, constructor arguments,
module names (so the same ``state_dict`` keys in the same order: ``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer2.0.downsample.0``, ``fc`` ...), the same initialisation drawn in the same order (a model built after
``torch.manual_seed(s)`` holds exactly torchvision's weights) and the same forward arithmetic.

The idea: a block learns a residual F(x) and outputs relu(F(x) + x); the identity shortcut lets gradients and
signal pass through dozens of blocks, which cures the *degradation* of deep plain networks (``resnet_v2``'s
``cifar_resnet`` builds both). Where the shape changes (stride 2 or more channels) the shortcut is a
projection, a 1×1 conv + BN (the paper's option B; ``downsample``).

**v1 or v1.5.** The paper's bottleneck puts the stride-2 of a downsampling block on its first 1×1 conv
(``stride_in_1x1=True``: "ResNet v1"); torchvision, following Facebook's and NVIDIA's later code, puts it on
the 3×3 conv (``stride_in_1x1=False``, the default: "ResNet v1.5"). A strided 1×1 conv simply drops 3 of
every 4 positions; a strided 3×3 sees them all, which costs more compute (the 3×3 runs at the higher
resolution) and gains about 0.5 % top-1 on ImageNet. The parameters are the same, so are all shapes.

Deliberate differences from torchvision (clear errors where it builds something meaningless or fails late):
``num_classes`` >= 1 (it builds a zero-width head); every entry of ``layers`` >= 1 (it builds one block for 0);
a ``BasicBlock`` with groups, base_width or dilation other than 1, 64, 1 raises ``ValueError`` (torchvision:
``ValueError``, ``NotImplementedError``, and it ignores a dilation <= 0), and a BasicBlock ResNet refuses
every ``replace_stride_with_dilation`` True (torchvision builds one whose single last block merely drops its
stride); a block whose shape changes needs a ``downsample``; the forward takes only a float
Tensor[N, C, H >= 1, W >= 1] of the module's dtype and device; there are no ``weights=`` / ``progress=``
arguments (load torchvision's state_dict instead). ``stride_in_1x1`` (Bottleneck, ResNet, resnet50) is our
only extra argument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn

from .._checks import check_bool, check_int, check_tensor

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50"]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3×3 conv, padding = dilation (keeps the size at stride 1), no bias (a BN follows)."""
    return nn.Conv2d(in_planes, out_planes, 3, stride, padding=dilation, groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1×1 conv, no bias."""
    return nn.Conv2d(in_planes, out_planes, 1, stride, bias=False)


def _check_norm_layer(norm_layer) -> Callable[[int], nn.Module]:
    if norm_layer is None:
        return nn.BatchNorm2d
    if not callable(norm_layer):
        raise TypeError(
            f"norm_layer must be None or a callable taking a channel count (e.g. nn.BatchNorm2d), "
            f"got {type(norm_layer).__name__} {norm_layer!r}"
        )
    return norm_layer


def _norm(norm_layer, channels: int) -> nn.Module:
    m = norm_layer(channels)
    if not isinstance(m, nn.Module):
        raise TypeError(f"norm_layer must return an nn.Module, got {type(m).__name__} for {channels} channels")
    return m


def _check_downsample(downsample, inplanes: int, out: int, stride: int):
    if downsample is not None and not isinstance(downsample, nn.Module):
        raise TypeError(f"downsample must be None or an nn.Module, got {type(downsample).__name__} {downsample!r}")
    if downsample is None and (stride != 1 or inplanes != out):
        raise ValueError(
            f"downsample (a projection of the shortcut) is required when the block changes the shape: "
            f"stride={stride}, inplanes={inplanes}, output channels={out}"
        )


def _check_input(x, weight: torch.Tensor, channels: int) -> None:
    """x must be a float Tensor[N, channels, H >= 1, W >= 1] of the module's dtype, on its device."""
    check_tensor(x, "x", (4,), kind="float")
    if x.dtype != weight.dtype or x.device != weight.device:
        raise TypeError(
            f"x must have the module's dtype {weight.dtype} on {weight.device}, got {x.dtype} on {x.device}"
        )
    if x.shape[1] != channels or x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"x must have shape [N, {channels}, H >= 1, W >= 1], got {tuple(x.shape)}")


class BasicBlock(nn.Module):
    """Two 3×3 convs (ResNet-18/34): out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).

    x (Tensor[N, inplanes, H, W]) → Tensor[N, planes, H', W'] (H' = ceil(H / stride)). The stride is on conv1;
    ``downsample`` (required when stride != 1 or inplanes != planes) projects the shortcut. Only groups=1,
    base_width=64 and dilation=1 exist for this block (the arguments are there for ``ResNet``'s uniform call)."""

    expansion: int = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: Callable[[int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        inplanes, planes = check_int(inplanes, "inplanes", 1), check_int(planes, "planes", 1)
        stride = check_int(stride, "stride", 1)
        if check_int(groups, "groups", 1) != 1:
            raise ValueError(f"groups must be 1 for BasicBlock (grouped convs need Bottleneck), got {groups!r}")
        if check_int(base_width, "base_width", 1) != 64:
            raise ValueError(f"base_width must be 64 for BasicBlock (other widths need Bottleneck), got {base_width!r}")
        if check_int(dilation, "dilation", 1) != 1:
            raise ValueError(f"dilation must be 1 for BasicBlock (dilation needs Bottleneck), got {dilation!r}")
        norm_layer = _check_norm_layer(norm_layer)
        _check_downsample(downsample, inplanes, planes, stride)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = _norm(norm_layer, planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = _norm(norm_layer, planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.conv1.weight, self.conv1.in_channels)
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    """1×1 (reduce to ``width``) → 3×3 → 1×1 (expand to 4·planes), ResNet-50/101/152:
    out = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x)).

    x (Tensor[N, inplanes, H, W]) → Tensor[N, 4·planes, H', W'] (H' = ceil(H / stride)), width =
    int(planes · base_width / 64) · groups (ResNeXt: groups = cardinality; Wide ResNet: base_width = 128).
    ``stride_in_1x1=False`` (default, torchvision's v1.5) strides the 3×3 conv2; True (the paper's v1) strides
    the first 1×1 conv1. ``downsample`` is required when stride != 1 or inplanes != 4·planes."""

    expansion: int = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: Callable[[int], nn.Module] | None = None,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        inplanes, planes = check_int(inplanes, "inplanes", 1), check_int(planes, "planes", 1)
        stride, groups = check_int(stride, "stride", 1), check_int(groups, "groups", 1)
        base_width, dilation = check_int(base_width, "base_width", 1), check_int(dilation, "dilation", 1)
        norm_layer = _check_norm_layer(norm_layer)
        stride_in_1x1 = check_bool(stride_in_1x1, "stride_in_1x1")
        width = int(planes * (base_width / 64.0)) * groups
        if width < 1:
            raise ValueError(
                f"base_width must make a bottleneck width int(planes * base_width / 64) * groups >= 1, "
                f"got base_width={base_width!r} with planes={planes}"
            )
        _check_downsample(downsample, inplanes, planes * self.expansion, stride)
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = conv1x1(inplanes, width, s1)
        self.bn1 = _norm(norm_layer, width)
        self.conv2 = conv3x3(width, width, s3, groups, dilation)
        self.bn2 = _norm(norm_layer, width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = _norm(norm_layer, planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.conv1.weight, self.conv1.in_channels)
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))  # [N, width, H, W] (H/s with stride_in_1x1)
        out = self.relu(self.bn2(self.conv2(out)))  # [N, width, H/s, W/s]
        out = self.bn3(self.conv3(out))  # [N, 4·planes, H/s, W/s]
        out += identity
        return self.relu(out)


def _check_dilation(replace_stride_with_dilation) -> list[bool]:
    value = replace_stride_with_dilation
    if value is None:
        return [False, False, False]
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 3:
        raise ValueError(f"replace_stride_with_dilation must be None or 3 bools (layer2..4), got {value!r}")
    return [check_bool(v, f"replace_stride_with_dilation[{i}]") for i, v in enumerate(value)]


class ResNet(nn.Module):
    """The ImageNet ResNet: stem (7×7/2 conv, BN, ReLU, 3×3/2 max-pool) → layer1..layer4 (``layers[i]`` blocks of
    64, 128, 256, 512 planes; layer2..4 start with stride 2) → global average pool → fc.

    x (Tensor[N, 3, H, W]) → logits Tensor[N, num_classes]; any H, W >= 1 (the pool is adaptive; 224 is the
    paper's). ``replace_stride_with_dilation[i]`` keeps layer i+2 at its input resolution and dilates its 3×3
    convs instead (Bottleneck only: output stride 8 or 16 for segmentation). ``zero_init_residual`` sets the
    last BN's weight of every block to 0, so each block starts as the identity (Goyal et al. 2017,
    arXiv 1706.02677). ``stride_in_1x1`` (Bottleneck only) chooses v1 over v1.5 (module docstring).
    Convs get ``kaiming_normal_`` (fan_out, ReLU gain), norms weight 1 and bias 0, fc torch's default."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        replace_stride_with_dilation: Sequence[bool] | None = None,
        norm_layer: Callable[[int], nn.Module] | None = None,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        if not (isinstance(block, type) and issubclass(block, (BasicBlock, Bottleneck))):
            raise TypeError(f"block must be BasicBlock or Bottleneck (or a subclass), got {block!r}")
        if isinstance(layers, str) or not isinstance(layers, Sequence) or len(layers) != 4:
            raise ValueError(f"layers must be 4 block counts (layer1..layer4), got {layers!r}")
        layers = [check_int(n, f"layers[{i}]", 1) for i, n in enumerate(layers)]
        num_classes = check_int(num_classes, "num_classes", 1)
        zero_init_residual = check_bool(zero_init_residual, "zero_init_residual")
        groups, width_per_group = check_int(groups, "groups", 1), check_int(width_per_group, "width_per_group", 1)
        dilate = _check_dilation(replace_stride_with_dilation)
        self._norm_layer = _check_norm_layer(norm_layer)
        stride_in_1x1 = check_bool(stride_in_1x1, "stride_in_1x1")
        if issubclass(block, BasicBlock):
            fixed = (
                ("groups", groups, 1),
                ("width_per_group", width_per_group, 64),
                ("stride_in_1x1", stride_in_1x1, False),
            )
            for name, value, allowed in fixed:  # the only values BasicBlock has
                if value != allowed:
                    raise ValueError(f"{name} must be {allowed} with BasicBlock (ResNet-18/34), got {value!r}")
            if any(dilate):
                raise ValueError(f"replace_stride_with_dilation needs Bottleneck blocks, got {dilate!r}")
        self._block_kw = dict(groups=groups, base_width=width_per_group, norm_layer=self._norm_layer)
        if issubclass(block, Bottleneck):
            self._block_kw["stride_in_1x1"] = stride_in_1x1
        self.inplanes, self.dilation = 64, 1
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = _norm(self._norm_layer, self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2, dilate=dilate[0])
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2, dilate=dilate[1])
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2, dilate=dilate[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():  # torchvision's order, so its random draws
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                last = m.bn3 if isinstance(m, Bottleneck) else m.bn2 if isinstance(m, BasicBlock) else None
                if last is not None and getattr(last, "weight", None) is not None:
                    nn.init.constant_(last.weight, 0)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1, dilate: bool = False) -> nn.Sequential:
        """``blocks`` blocks; the first one strides (or, with ``dilate``, raises the dilation instead) and gets a
        1×1 conv + norm projection of the shortcut where the shape changes."""
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        out = planes * block.expansion
        downsample = None
        if stride != 1 or self.inplanes != out:  # built before the block, as torchvision does
            downsample = nn.Sequential(conv1x1(self.inplanes, out, stride), _norm(self._norm_layer, out))
        first = block(self.inplanes, planes, stride, downsample, dilation=previous_dilation, **self._block_kw)
        self.inplanes = out
        rest = [block(out, planes, dilation=self.dilation, **self._block_kw) for _ in range(1, blocks)]
        return nn.Sequential(first, *rest)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.conv1.weight, 3)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # [N, 64, H/4, W/4]
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # [N, 512·expansion, H/32, W/32]
        return self.fc(torch.flatten(self.avgpool(x), 1))  # [N, num_classes]


def resnet18(
    *,
    num_classes: int = 1000,
    zero_init_residual: bool = False,
    groups: int = 1,
    width_per_group: int = 64,
    replace_stride_with_dilation: Sequence[bool] | None = None,
    norm_layer: Callable[[int], nn.Module] | None = None,
) -> ResNet:
    """ResNet-18: BasicBlocks [2, 2, 2, 2], 11.7 M parameters, 1.8 GFLOPs at 224 (He et al. 2015, Table 1).
    Arguments as :class:`ResNet` (groups=1, width_per_group=64 and no dilation: BasicBlock has no others)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], **locals())  # the keyword arguments, as given


def resnet34(
    *,
    num_classes: int = 1000,
    zero_init_residual: bool = False,
    groups: int = 1,
    width_per_group: int = 64,
    replace_stride_with_dilation: Sequence[bool] | None = None,
    norm_layer: Callable[[int], nn.Module] | None = None,
) -> ResNet:
    """ResNet-34: BasicBlocks [3, 4, 6, 3], 21.8 M parameters, 3.6 GFLOPs at 224. Arguments as :func:`resnet18`."""
    return ResNet(BasicBlock, [3, 4, 6, 3], **locals())  # the keyword arguments, as given


def resnet50(
    *,
    num_classes: int = 1000,
    zero_init_residual: bool = False,
    groups: int = 1,
    width_per_group: int = 64,
    replace_stride_with_dilation: Sequence[bool] | None = None,
    norm_layer: Callable[[int], nn.Module] | None = None,
    stride_in_1x1: bool = False,
) -> ResNet:
    """ResNet-50: Bottlenecks [3, 4, 6, 3], 25.6 M parameters, 4.1 GFLOPs at 224 (v1.5: torchvision's).
    ``groups=32, width_per_group=4`` is ResNeXt-50 32×4d, ``width_per_group=128`` Wide ResNet-50-2;
    ``stride_in_1x1=True`` the paper's v1 (module docstring). Other arguments as :class:`ResNet`."""
    return ResNet(Bottleneck, [3, 4, 6, 3], **locals())  # the keyword arguments, as given
