"""Contract cases for cvbook_lib.models.densenet (reference: torchvision's DenseNet, compared on the same
weights by ``out``): a small DenseNet gets the full battery, DenseNet-121 (8M parameters) the light one."""

import torch
import torchvision

from contract_specs import Case
from contract_specs.spec_attention import fill
from cvbook_lib.models import densenet as D

_IMAGES = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def run_image(m):
    """The same weights in ours and torchvision's (same keys), eval mode."""
    fill(m).eval()
    with torch.no_grad():
        return m(_IMAGES)


def _tv_densenet121(num_classes=1000, growth_rate=32, bn_size=4, drop_rate=0.0, memory_efficient=False):
    # torchvision's densenet121() passes growth_rate itself: its DenseNet with the DenseNet-121 blocks
    return torchvision.models.DenseNet(
        growth_rate, (6, 12, 24, 16), 64, bn_size, drop_rate, num_classes, memory_efficient
    )


_DIFFERS = {
    ("drop_rate", "nan"): "drop_rate must be in [0, 1]; torchvision takes a NaN rate as no dropout",
    ("drop_rate", "-inf"): "drop_rate must be in [0, 1]; torchvision takes a negative rate as no dropout",
    ("num_classes", "zero"): "num_classes must be >= 1; torchvision builds a zero-width head",
}  # growth_rate, bn_size, num_init_features = 0 or -1: torchvision raises too (a RuntimeError at the first conv)
SMALL = dict(
    growth_rate=4,
    block_config=(2, 1, 2),
    num_init_features=6,
    bn_size=2,
    drop_rate=0.0,
    num_classes=3,
    memory_efficient=False,
)

SPECS = {
    D.DenseNet: [
        Case(D.DenseNet, SMALL, ref=torchvision.models.DenseNet, out=run_image, differs=_DIFFERS),
        Case(
            D.DenseNet,
            {**SMALL, "memory_efficient": True, "block_config": (1, 1)},
            ref=torchvision.models.DenseNet,
            out=run_image,
            differs=_DIFFERS,
        ),
    ],
    D.densenet121: [
        Case(
            D.densenet121,
            dict(num_classes=10, growth_rate=32, bn_size=4, drop_rate=0.0, memory_efficient=False),
            ref=_tv_densenet121,
            out=run_image,
            light=True,
        )
    ],
}
