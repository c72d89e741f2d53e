"""Contract cases for cvbook_lib.profile (reference: a plain forward under torch's FlopCounterMode for the FLOPs, the
parameter count and the output shape; the result classes and methods have no reference)."""

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from contract_specs import Case
from contract_specs.spec_attention import fill
from cvbook_lib import profile as P

_NET = fill(
    nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 3),
    )
)
_NET_1D = fill(nn.Sequential(nn.Conv1d(16, 4, 3, groups=4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 38, 2)))


def _totals(answer):
    """What a profile is compared on: total FLOPs, parameters, output shape (the reference gives them directly)."""
    return (answer.flops, answer.params, answer.output_shape) if isinstance(answer, P.ModelProfile) else answer


def _reference(model, input_size, batch_size=1, device=None, dtype=torch.float32):
    """The same forward pass, counted by FlopCounterMode."""
    size = (3, input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    x = torch.zeros(batch_size, *size, dtype=dtype)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = model.eval()(x)
    return counter.get_total_flops(), sum(p.numel() for p in model.parameters()), tuple(y.shape)


_EMPTY = "batch_size must be >= 1: an empty batch has nothing to profile (torch runs it)"
PROFILE = [
    Case(
        P.profile,
        dict(model=_NET, input_size=(3, 8, 8), batch_size=2, device=None, dtype=torch.float32),
        ref=_reference,
        out=_totals,
        state=lambda: [_NET],
        differs={("batch_size", "zero"): _EMPTY},
    ),
    Case(P.profile, dict(model=_NET, input_size=6), ref=_reference, out=_totals, state=lambda: [_NET]),
    Case(P.profile, dict(model=_NET_1D, input_size=(16, 40), device="cpu"), out=_totals, state=lambda: [_NET_1D]),
]

_ROW = dict(
    name="features.0",
    type="Conv2d",
    output_shape=(1, 8, 6, 6),
    params=224,
    macs=7776,
    activation_bytes=1152,
    rf=3,
    leaf=True,
)
_FREE_TEXT = {"name": {"unknown"}, "type": {"unknown"}}  # any string is a valid name: nothing to refuse
ROW = [
    Case(P.LayerProfile, _ROW, skip=_FREE_TEXT),
    Case(P.LayerProfile, {**_ROW, "rf": None}, skip=_FREE_TEXT),
]

_P = P.profile(_NET, 8)
MODEL = [
    Case(
        P.ModelProfile,
        dict(rows=(P.LayerProfile(**_ROW),), params=224, input_size=(3, 8, 8), batch_size=1, rf_stopped_at=None),
    ),
    Case(
        P.ModelProfile,
        dict(
            rows=_P.rows,
            params=_P.params,
            input_size=(3, 8, 8),
            batch_size=1,
            rf_stopped_at=("4", "Flatten has no known receptive-field geometry"),
        ),
    ),
    Case(lambda depth: _P.summary(depth), dict(depth=1)),
    Case(lambda depth=None: _P.table(depth), dict(depth=2)),
]

SPECS = {P.profile: PROFILE, P.LayerProfile: ROW, P.ModelProfile: MODEL}
