"""Contract cases for cvbook_lib.widgets.quantization (the pure layer checked against torch's observers and
fake quantization in tests/test_widgets_quantization.py; the plot, explorer and animation are light)."""

import torch
import torch.nn as nn

from contract_specs import Case
from cvbook_lib.widgets import quantization as Q

torch.manual_seed(0)
_MODEL = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
_X, _Y = torch.randn(6, 1, 6, 6, generator=torch.Generator().manual_seed(1)), torch.arange(6) % 3
_W = torch.randn(3, 4, generator=torch.Generator().manual_seed(2))


def _numbers(view):
    return [view["levels"], torch.tensor(list(view["sqnr_db"].values())), view["accuracy"]]


SPECS = {
    Q.quantizable_layers: [Case(Q.quantizable_layers, dict(model=_MODEL))],
    Q.quantize_weight: [
        Case(Q.quantize_weight, dict(weight=_W, bits=4, scheme="symmetric", granularity="per-tensor",
                                     calibration="minmax", percentile=99.9)),
        Case(Q.quantize_weight, dict(weight=_W, bits=3, scheme="affine", granularity="per-channel",
                                     calibration="percentile", percentile=90.0)),
    ],
    Q.quant_view: [Case(Q.quant_view, dict(model=_MODEL, x=_X, y=_Y, layer="0", bits=4, scheme="symmetric",
                                           granularity="per-channel", calibration="minmax", percentile=99.9),
                        out=_numbers, state=lambda: [_MODEL])],
    Q.plot_quant_view: [Case(Q.plot_quant_view, dict(view=Q.quant_view(_MODEL, _X, _Y, "0", 4), axes=None),
                             light=True)],
    Q.quant_explorer: [Case(Q.quant_explorer, dict(model=_MODEL, x=_X, y=_Y), light=True)],
    Q.quant_animation: [Case(Q.quant_animation, dict(model=_MODEL, x=_X, y=_Y, layer="0", scheme="symmetric",
                                                     granularity="per-tensor", calibration="minmax", bits=(8, 2)),
                             light=True)],
}
