"""Contract cases for cvbook_lib.models.shufflenet (references: torch.nn.ChannelShuffle for channel_shuffle;
torchvision's ShuffleNetV2 and its InvertedResidual, compared on the same weights by ``out``). The x1.0 builder is
``light=True`` (only the changes that must be refused); the classes get the full battery with small widths."""

import torch.nn as nn
import torchvision
from torchvision.models import shufflenetv2 as tv_shufflenet

from contract_specs import Case
from contract_specs._models_common import run_filled as _run
from contract_specs._models_common import seeded_randn as _randn
from contract_specs.spec_attention import fill
from cvbook_lib.models import shufflenet as S


def _nn_shuffle(x, groups):
    return nn.ChannelShuffle(groups)(x)


SHUFFLE = [
    Case(S.channel_shuffle, dict(x=_randn(2, 6, 3, 4, seed=1), groups=3), ref=_nn_shuffle, any_values={"x"}),
    Case(S.channel_shuffle, dict(x=_randn(3, 8, 5, seed=2), groups=2), ref=_nn_shuffle),
    Case(S.channel_shuffle, dict(x=_randn(1, 4, 2, 2, 2, seed=3), groups=4), ref=_nn_shuffle),
]

_X8 = _randn(2, 8, 5, 5, seed=4)
BLOCK = [
    Case(S.ShuffleV2Block, dict(inp=8, oup=8, stride=1), ref=tv_shufflenet.InvertedResidual, out=_run(_X8)),
    Case(S.ShuffleV2Block, dict(inp=8, oup=12, stride=2), ref=tv_shufflenet.InvertedResidual, out=_run(_X8)),
]
_OURS_B, _TV_B = fill(S.ShuffleV2Block(8, 8, 1)).eval(), fill(tv_shufflenet.InvertedResidual(8, 8, 1)).eval()
BLOCK.append(Case(lambda x: _OURS_B(x), dict(x=_X8), ref=lambda x: _TV_B(x), state=lambda: [_OURS_B]))

_IMAGE = _randn(2, 3, 12, 12, seed=5)
NET = {
    S.ShuffleNetV2: [
        Case(
            S.ShuffleNetV2,
            dict(stages_repeats=[1, 2, 1], stages_out_channels=[4, 8, 8, 16, 12], num_classes=3),
            ref=tv_shufflenet.ShuffleNetV2,
            out=_run(_IMAGE),
            differs={("num_classes", "zero"): "num_classes must be >= 1; torchvision builds a zero-class head"},
        ),
    ],
    S.shufflenet_v2_x1_0: [
        Case(
            S.shufflenet_v2_x1_0,
            dict(num_classes=10),
            ref=torchvision.models.shufflenet_v2_x1_0,
            out=_run(_IMAGE),
            light=True,
        )
    ],
}

SPECS = {S.channel_shuffle: SHUFFLE, S.ShuffleV2Block: BLOCK, **NET}
