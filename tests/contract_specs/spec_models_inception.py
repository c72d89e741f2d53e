"""Contract cases for cvbook_lib.models.inception (references: torchvision's googlenet and inception modules,
compared on the same weights by ``out``: same keys, so ``fill`` gives both the same values). GoogLeNet is big
(6.6 M parameters): ``light=True`` runs only the changes that must be refused; the blocks get the full battery
with small widths."""

import importlib

from torchvision.models import inception as tv_inception

from contract_specs import Case
from contract_specs._models_common import run_filled as _run
from contract_specs._models_common import seeded_randn as _randn
from contract_specs.spec_attention import fill
from cvbook_lib.models import inception as I
from cvbook_lib.models import inception_v3 as I3

tv_googlenet = importlib.import_module("torchvision.models.googlenet")  # the module, not the builder


def _tv_basic(in_channels, out_channels, kernel_size=1, stride=1, padding=0):
    return tv_googlenet.BasicConv2d(in_channels, out_channels, kernel_size=kernel_size, stride=stride, padding=padding)


_X4 = _randn(2, 4, 5, 5, seed=1)

BASIC = [
    Case(
        I.BasicConv2d,
        dict(in_channels=4, out_channels=3, kernel_size=3, stride=1, padding=1),
        ref=_tv_basic,
        out=_run(_X4),
    ),
    Case(
        I.BasicConv2d,
        dict(in_channels=4, out_channels=2, kernel_size=(1, 3), stride=(2, 1), padding=(0, 1)),
        ref=_tv_basic,
        out=_run(_X4),
    ),
]
_INC_KW = dict(in_channels=4, ch1x1=2, ch3x3red=2, ch3x3=3, ch5x5red=2, ch5x5=3, pool_proj=2)
INCEPTION = [
    Case(
        I.Inception,
        _INC_KW,
        ref=tv_googlenet.Inception,
        out=_run(_X4),
    ),
]
_OURS_INC, _TV_INC = fill(I.Inception(**_INC_KW)).eval(), fill(tv_googlenet.Inception(**_INC_KW)).eval()
INCEPTION.append(
    Case(
        lambda x: _OURS_INC(x),
        dict(x=_X4),
        ref=lambda x: _TV_INC(x),
        state=lambda: [_OURS_INC],
    )
)
AUX = [
    Case(
        I.InceptionAux,
        dict(in_channels=4, num_classes=3, dropout=0.7),
        ref=tv_googlenet.InceptionAux,
        out=_run(_X4),
        differs={("num_classes", "zero"): "num_classes must be >= 1; torchvision builds a zero-class head"},
    ),
]
_GN_KW = dict(num_classes=10, aux_logits=True, transform_input=False, init_weights=True, dropout=0.2, dropout_aux=0.7)
GOOGLENET = {
    I.GoogLeNet: [Case(I.GoogLeNet, _GN_KW, ref=tv_googlenet.GoogLeNet, out=_run(_randn(1, 3, 32, 32)), light=True)],
    I.googlenet: [
        Case(
            I.googlenet,
            {k: v for k, v in _GN_KW.items() if k != "init_weights"},
            ref=lambda **kw: tv_googlenet.GoogLeNet(**kw, init_weights=True),
            out=_run(_randn(1, 3, 32, 32)),
            light=True,
        )
    ],
}

# ----------------------------------------------------------------------------- Inception v3 blocks, small widths
_X7 = _randn(2, 4, 7, 7, seed=2)
V3 = {
    I3.InceptionA: [
        Case(
            I3.InceptionA,
            dict(in_channels=4, pool_features=3),
            ref=tv_inception.InceptionA,
            out=_run(_X7),
        )
    ],
    I3.InceptionB: [Case(I3.InceptionB, dict(in_channels=4), ref=tv_inception.InceptionB, out=_run(_X7))],
    I3.InceptionC: [
        Case(I3.InceptionC, dict(in_channels=4, channels_7x7=3), ref=tv_inception.InceptionC, out=_run(_X7))
    ],
    I3.InceptionD: [Case(I3.InceptionD, dict(in_channels=4), ref=tv_inception.InceptionD, out=_run(_X7))],
    I3.InceptionE: [Case(I3.InceptionE, dict(in_channels=4), ref=tv_inception.InceptionE, out=_run(_X7))],
}

SPECS = {I.BasicConv2d: BASIC, I.Inception: INCEPTION, I.InceptionAux: AUX, **GOOGLENET, **V3}
