"""Contract cases for cvbook_lib.models.mobilenet (references: torchvision's MobileNetV2, its InvertedResidual and
MobileNetV3, compared on the same weights by ``out``; MobileNet v1 has no reference: rule 1 and the refusals).
The builders are big: ``light=True`` runs only the changes that must be refused; the classes get the full battery
with small settings."""

import torchvision
from torchvision.models import mobilenetv2 as tv_mnv2
from torchvision.models import mobilenetv3 as tv_mnv3

from contract_specs import Case
from contract_specs._models_common import run_filled as _run
from contract_specs._models_common import seeded_randn as _randn
from contract_specs.spec_attention import fill
from cvbook_lib.models import mobilenet as M
from cvbook_lib.models import mobilenet_v3 as M3

_IMAGE = _randn(2, 3, 12, 12, seed=1)
_ZERO_CLASSES = "num_classes must be >= 1; torchvision builds a zero-class head"
_WIDTH = "width_mult must be > 0; torchvision silently builds 8-channel layers for width_mult <= 0"

V1 = {
    M.MobileNetV1: [Case(M.MobileNetV1, dict(num_classes=3, width_mult=0.25, dropout=0.001), out=_run(_IMAGE))],
    M.mobilenet_v1: [Case(M.mobilenet_v1, dict(num_classes=10, width_mult=1.0, dropout=0.001), light=True)],
}

_V2_KW = dict(
    num_classes=3, width_mult=0.25, inverted_residual_setting=[[1, 8, 1, 1], [2, 8, 2, 2]], round_nearest=8, dropout=0.2
)
V2 = {
    M.InvertedResidual: [
        Case(
            M.InvertedResidual,
            dict(inp=4, oup=4, stride=1, expand_ratio=2),
            ref=tv_mnv2.InvertedResidual,
            out=_run(_randn(2, 4, 5, 5, seed=2)),
        ),
        Case(
            M.InvertedResidual,
            dict(inp=4, oup=6, stride=2, expand_ratio=1),
            ref=tv_mnv2.InvertedResidual,
            out=_run(_randn(2, 4, 5, 5, seed=2)),
        ),
    ],
    M.MobileNetV2: [
        Case(
            M.MobileNetV2,
            _V2_KW,
            ref=torchvision.models.MobileNetV2,
            out=_run(_IMAGE),
            differs={
                ("num_classes", "zero"): _ZERO_CLASSES,
                ("width_mult", "zero"): _WIDTH,
                ("width_mult", "negated"): _WIDTH,
            },
        ),
    ],
    M.mobilenet_v2: [
        Case(
            M.mobilenet_v2,
            dict(num_classes=10, width_mult=1.0, round_nearest=8, dropout=0.2),
            ref=torchvision.models.mobilenet_v2,
            out=_run(_IMAGE),
            light=True,
        )
    ],
}

_ROWS = [(8, 3, 8, 8, True, "RE", 2, 1), (8, 5, 24, 16, False, "HS", 1, 1), (16, 3, 48, 16, True, "HS", 1, 2)]


def _tv_v3(inverted_residual_setting, last_channel, num_classes=1000, dropout=0.2):
    """torchvision's MobileNetV3 from our rows (widths are multiples of 8, so its rounding keeps them)."""
    cfg = [tv_mnv3.InvertedResidualConfig(*row, width_mult=1.0) for row in inverted_residual_setting]
    return tv_mnv3.MobileNetV3(cfg, last_channel, num_classes=num_classes, dropout=dropout)


V3 = {
    M3.MobileNetV3: [
        Case(
            M3.MobileNetV3,
            dict(inverted_residual_setting=_ROWS, last_channel=16, num_classes=3, dropout=0.2),
            ref=_tv_v3,
            out=_run(_IMAGE),
            differs={
                ("num_classes", "zero"): _ZERO_CLASSES,
                ("last_channel", "zero"): "last_channel must be >= 1; torchvision builds a zero-width fc",
            },
        ),
    ],
    M3.mobilenet_v3_large: [
        Case(
            M3.mobilenet_v3_large,
            dict(num_classes=10, dropout=0.2),
            ref=torchvision.models.mobilenet_v3_large,
            out=_run(_IMAGE),
            light=True,
        )
    ],
    M3.mobilenet_v3_small: [
        Case(
            M3.mobilenet_v3_small,
            dict(num_classes=10, dropout=0.2),
            ref=torchvision.models.mobilenet_v3_small,
            out=_run(_IMAGE),
            light=True,
        )
    ],
}

# the forward of a block, on bad and extreme inputs
_OURS_IR, _TV_IR = fill(M.InvertedResidual(4, 4, 1, 2)).eval(), fill(tv_mnv2.InvertedResidual(4, 4, 1, 2)).eval()
V2[M.InvertedResidual].append(
    Case(
        lambda x: _OURS_IR(x),
        dict(x=_randn(2, 4, 5, 5, seed=3)),
        ref=lambda x: _TV_IR(x),
        state=lambda: [_OURS_IR],
    )
)

SPECS = {**V1, **V2, **V3}
