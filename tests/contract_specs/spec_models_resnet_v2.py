"""Contract cases for cvbook_lib.models.resnet_v2 (no reference library builds these: the rules on bad input
only; the numbers are checked against the papers in tests/test_models_resnet.py)."""

import torch

from contract_specs import Case
from contract_specs._models_common import seeded_randn as _randn
from contract_specs.spec_models_resnet import _fill_scaled
from cvbook_lib.models import resnet_v2 as V


def run_block(m):
    with torch.no_grad():
        return _fill_scaled(m)(_randn(2, m.conv1.in_channels, 8, 8, seed=1))


def run_net(m):
    with torch.no_grad():
        return _fill_scaled(m)(_randn(2, m.in_channels, 8, 8, seed=2))


_CIFAR = _fill_scaled(V.cifar_resnet(depth=8, num_classes=3, width=4, preact=True))

SPECS = {
    V.PreActBlock: [
        Case(V.PreActBlock, dict(inplanes=8, planes=8, stride=1, shortcut=True), out=run_block),
        Case(V.PreActBlock, dict(inplanes=4, planes=8, stride=2, shortcut=False), out=run_block),
    ],
    V.preact_resnet18: [Case(V.preact_resnet18, dict(num_classes=5), out=run_net)],
    V.cifar_resnet: [
        Case(
            V.cifar_resnet,
            dict(depth=8, num_classes=3, width=4, in_channels=2, shortcut=True, preact=False),
            out=run_net,
        ),
        Case(
            V.cifar_resnet,
            dict(depth=14, num_classes=2, width=2, in_channels=1, shortcut=False, preact=True),
            out=run_net,
        ),
        Case(lambda x: _CIFAR(x), dict(x=_randn(2, 3, 8, 8, seed=3)), state=lambda: [_CIFAR]),
    ],
}
