"""Contract cases for cvbook_lib.models.classic (references: torchvision's AlexNet and VGG builders, compared on
the same weights by ``out``). The builders are big (61M-138M parameters): ``light=True`` runs only the changes
that must be refused, which our checks refuse before anything is built."""

import torch
import torch.nn as nn
import torchvision

from contract_specs import Case
from contract_specs._models_common import seeded_randn as _randn
from contract_specs.spec_attention import fill
from cvbook_lib.models import classic as C

_IMAGES = _randn(1, 3, 64, 64, seed=1)  # >= 63 (AlexNet) and >= 32 (VGG)


def run_image(m):
    """The same weights in ours and torchvision's (same keys), eval mode, one 64 × 64 image."""
    fill(m).eval()
    with torch.no_grad():
        return m(_IMAGES)


def _tv(name):
    return lambda **kw: getattr(torchvision.models, name)(**kw)


_VGG_KW = dict(num_classes=10, init_weights=True, dropout=0.5)
BUILDERS = {
    C.alexnet: [Case(C.alexnet, dict(num_classes=10, dropout=0.5), ref=_tv("alexnet"), out=run_image, light=True)],
    **{
        fn: [Case(fn, _VGG_KW, ref=_tv(fn.__name__), out=run_image, light=True)]
        for fn in (C.vgg11, C.vgg11_bn, C.vgg16, C.vgg16_bn)
    },
}

_FEATURES = nn.Sequential(nn.Conv2d(3, 512, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2))


def _tv_vgg(features, **kw):
    return torchvision.models.VGG(features, **kw)


CLASSES = {
    C.AlexNet: [
        Case(C.AlexNet, dict(num_classes=10, dropout=0.5), ref=torchvision.models.AlexNet, out=run_image, light=True)
    ],
    C.VGG: [
        Case(
            C.VGG,
            dict(features=_FEATURES, num_classes=10, init_weights=False, dropout=0.5),
            ref=_tv_vgg,
            out=run_image,
            light=True,
        )
    ],
}


# ----------------------------------------------------------------------------- Highway (small: the full battery)
_X = _randn(2, 3, 4, seed=2)


def run_highway(m):
    with torch.no_grad():
        return m(_X)


HIGHWAY = [
    Case(C.HighwayLayer, dict(features=4, gate_bias=-1.0), out=run_highway),
    Case(C.HighwayLayer, dict(features=4, gate_bias=-2.0, activation=nn.Tanh()), out=run_highway),
    Case(lambda x: _HW(x), dict(x=_X), state=lambda: [_HW]),
]
_HW = C.HighwayLayer(4, -1.0)

SPECS = {**BUILDERS, **CLASSES, C.HighwayLayer: HIGHWAY}
