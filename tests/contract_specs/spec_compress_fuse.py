"""Contract cases for cvbook_lib.compress.fuse (references: torch.nn.utils.fusion.fuse_conv_bn_eval /
fuse_linear_bn_eval, torch.fx.experimental.optimization.fuse; the RIFormer block has none here:
tests/test_compress_fuse.py checks it against its formula and its training form). Answers are compared
through the fused module's output on a fixed input."""

import torch
from torch import nn
from torch.fx.experimental.optimization import fuse as fx_fuse
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from contract_specs import Case
from cvbook_lib.compress import fuse as FU


def _bn(kind, C, seed):
    g = torch.Generator().manual_seed(seed)
    bn = kind(C)
    bn.running_mean.copy_(torch.randn(C, generator=g))
    bn.running_var.copy_(torch.rand(C, generator=g) + 0.5)
    with torch.no_grad():
        bn.weight.copy_(torch.randn(C, generator=g))
        bn.bias.copy_(torch.randn(C, generator=g))
    return bn.eval()


torch.manual_seed(0)
_CONV, _BN2 = nn.Conv2d(3, 4, 3, padding=1).eval(), _bn(nn.BatchNorm2d, 4, 1)
_CONVT, _BN2T = nn.ConvTranspose2d(3, 5, 2, stride=2, bias=False).eval(), _bn(nn.BatchNorm2d, 5, 2)
_LIN, _BN1 = nn.Linear(6, 4).eval(), _bn(nn.BatchNorm1d, 4, 3)
_MODEL = nn.Sequential(
    nn.Conv2d(3, 4, 3),
    _bn(nn.BatchNorm2d, 4, 4),
    nn.ReLU(),
    nn.Sequential(nn.Conv2d(4, 2, 1, bias=False), _bn(nn.BatchNorm2d, 2, 5)),
    nn.Flatten(),
    nn.Linear(2 * 4 * 4, 3),
    _bn(nn.BatchNorm1d, 3, 6),
).eval()
_BLOCK = FU.AffineMixerBlock(4)
with torch.no_grad():
    for _p in _BLOCK.parameters():
        _p.copy_(torch.randn(_p.shape, generator=torch.Generator().manual_seed(7)))
_G = torch.Generator().manual_seed(8)
_X2, _XL, _XM = (
    torch.randn(2, 3, 5, 5, generator=_G),
    torch.randn(3, 6, generator=_G),
    torch.randn(2, 3, 6, 6, generator=_G),
)
_X4 = torch.randn(2, 4, 3, 3, generator=_G)


def _run(x):
    def call(module):
        with torch.no_grad():
            return module(x)

    return call


SPECS = {
    FU.fuse_conv_bn: [
        Case(
            FU.fuse_conv_bn,
            dict(conv=_CONV, bn=_BN2, transpose=False),
            ref=fuse_conv_bn_eval,
            out=_run(_X2),
            state=lambda: [_CONV, _BN2],
        ),
        Case(
            FU.fuse_conv_bn,
            dict(conv=_CONVT, bn=_BN2T, transpose=True),
            ref=fuse_conv_bn_eval,
            out=_run(_X2),
            state=lambda: [_CONVT, _BN2T],
        ),
    ],
    FU.fuse_linear_bn: [
        Case(
            FU.fuse_linear_bn,
            dict(linear=_LIN, bn=_BN1),
            ref=fuse_linear_bn_eval,
            out=_run(_XL),
            state=lambda: [_LIN, _BN1],
        )
    ],
    FU.fuse_model: [Case(FU.fuse_model, dict(model=_MODEL), ref=fx_fuse, out=_run(_XM), state=lambda: [_MODEL])],
    FU.AffineMixerBlock: [
        Case(
            FU.AffineMixerBlock,
            dict(dim=4, norm="group", eps=1e-5, layer_scale_init_value=0.5, deploy=False),
            out=_run(_X4),
        ),
        Case(
            FU.AffineMixerBlock,
            dict(dim=4, norm="layer", eps=1e-6, layer_scale_init_value=1e-5, deploy=True),
            out=_run(_X4),
        ),
    ],
    FU.reparameterize_affine: [
        Case(FU.reparameterize_affine, dict(block=_BLOCK), out=_run(_X4), state=lambda: [_BLOCK])
    ],
}
