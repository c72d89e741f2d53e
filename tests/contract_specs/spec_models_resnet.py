"""Contract cases for cvbook_lib.models.resnet (reference: torchvision.models.resnet — the blocks, the ResNet
class and the builders, built from the same kwargs, given the same weights with ``fill`` and run on one input)."""

import torch
import torch.nn as nn
import torchvision
from torchvision.models import resnet as tvr

from contract_specs import Case
from contract_specs._models_common import seeded_randn as _randn
from contract_specs.spec_attention import fill
from cvbook_lib.models import resnet as R


def _fill_scaled(m):
    """``fill`` (the same values for the same key), then conv/linear weights scaled by 1/sqrt(fan_in) so that the
    activations of a deep net stay O(1) instead of overflowing."""
    fill(m)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)) and mod.weight.numel():
                mod.weight.mul_(mod.weight[0].numel() ** -0.5)
    return m.eval()


def run_net(m):
    with torch.no_grad():
        return _fill_scaled(m)(_randn(2, 3, 32, 32, seed=1))


def run_block(m):
    with torch.no_grad():
        return _fill_scaled(m)(_randn(2, m.conv1.in_channels, 8, 8, seed=2))


_TV_BLOCKS = {R.BasicBlock: tvr.BasicBlock, R.Bottleneck: tvr.Bottleneck}


def _tv_bottleneck(stride_in_1x1=False, **kw):
    """torchvision's (v1.5) Bottleneck; stride_in_1x1=True moves its stride from conv2 to conv1 (v1)."""
    m = tvr.Bottleneck(**kw)
    if stride_in_1x1:
        m.conv1.stride, m.conv2.stride = m.conv2.stride, m.conv1.stride
    return m


def _tv_resnet(block, layers, **kw):
    return tvr.ResNet(_TV_BLOCKS[block], layers, **kw)


def _proj(inplanes, out, stride):
    return nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))


_ZERO_WIDTH = "a zero-width block or head is refused; torchvision builds one"
_ZERO = {("num_classes", "zero"): _ZERO_WIDTH}
BLOCK_KW = dict(inplanes=8, planes=8, stride=1, groups=1, base_width=64, dilation=1)
BOTTLENECK_KW = dict(inplanes=16, planes=4, stride=1, groups=1, base_width=64, dilation=1, stride_in_1x1=False)

_DIL = "dilation must be 1 for BasicBlock; torchvision ignores any dilation <= 1 (it raises only for > 1)"
_BASIC_DIFFERS = {("dilation", "zero"): _DIL, ("dilation", "minus1"): _DIL}
BASIC = [
    Case(R.BasicBlock, BLOCK_KW, ref=tvr.BasicBlock, out=run_block, differs=_BASIC_DIFFERS),
    Case(
        R.BasicBlock, dict(inplanes=4, planes=8, stride=2, downsample=_proj(4, 8, 2)), ref=tvr.BasicBlock, out=run_block
    ),
]
BOTTLENECK = [
    Case(R.Bottleneck, BOTTLENECK_KW, ref=_tv_bottleneck, out=run_block),
    Case(
        R.Bottleneck,
        dict(inplanes=8, planes=4, stride=2, downsample=_proj(8, 16, 2), groups=2, base_width=32, stride_in_1x1=True),
        ref=_tv_bottleneck,
        out=run_block,
    ),
    Case(
        R.Bottleneck,
        dict(inplanes=16, planes=4, dilation=2, norm_layer=nn.BatchNorm2d),
        ref=_tv_bottleneck,
        out=run_block,
    ),
]
RESNET = [
    Case(
        R.ResNet,
        dict(block=R.BasicBlock, layers=(1, 1, 1, 1), num_classes=5, zero_init_residual=True),
        ref=_tv_resnet,
        out=run_net,
        differs=_ZERO,
    ),
    Case(
        R.ResNet,
        dict(block=R.Bottleneck, layers=(1, 1, 1, 1), num_classes=3, groups=2, width_per_group=16),
        ref=_tv_resnet,
        out=run_net,
        differs=_ZERO,
    ),
    Case(
        R.ResNet,
        dict(
            block=R.Bottleneck,
            layers=(1, 2, 1, 1),
            num_classes=3,
            stride_in_1x1=True,
            replace_stride_with_dilation=(False, True, True),
            norm_layer=nn.BatchNorm2d,
        ),
        light=True,
    ),
]
R18 = [
    Case(
        R.resnet18,
        dict(num_classes=10, zero_init_residual=False, groups=1, width_per_group=64),
        ref=torchvision.models.resnet18,
        out=run_net,
        differs=_ZERO,
    ),
    Case(
        R.resnet18, dict(num_classes=4, norm_layer=nn.BatchNorm2d, replace_stride_with_dilation=[False] * 3), light=True
    ),
]
R34 = [
    Case(
        R.resnet34,
        dict(num_classes=10, zero_init_residual=True, groups=1, width_per_group=64),
        ref=torchvision.models.resnet34,
        out=run_net,
        light=True,
    )
]
R50 = [
    Case(
        R.resnet50,
        dict(num_classes=10, zero_init_residual=True, groups=2, width_per_group=32, stride_in_1x1=False),
        ref=torchvision.models.resnet50,
        out=run_net,
        light=True,
    ),
    Case(
        R.resnet50,
        dict(
            num_classes=3,
            replace_stride_with_dilation=[False, True, True],
            norm_layer=nn.BatchNorm2d,
            stride_in_1x1=True,
        ),
        light=True,
    ),
]

# the forward of a built model (a [1, 1, 1, 1] ResNet), against torchvision's with the same weights
_OURS_NET = _fill_scaled(R.ResNet(R.BasicBlock, [1, 1, 1, 1], num_classes=6))
_TV_NET = _fill_scaled(tvr.ResNet(tvr.BasicBlock, [1, 1, 1, 1], num_classes=6))
FORWARD = Case(
    lambda x: _OURS_NET(x), dict(x=_randn(2, 3, 16, 16, seed=3)), ref=lambda x: _TV_NET(x), state=lambda: [_OURS_NET]
)
RESNET.append(FORWARD)

SPECS = {
    R.BasicBlock: BASIC,
    R.Bottleneck: BOTTLENECK,
    R.ResNet: RESNET,
    R.resnet18: R18,
    R.resnet34: R34,
    R.resnet50: R50,
}
