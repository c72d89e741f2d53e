"""Contract cases for cvbook_lib.compress.lab (chapter 13's digits model; no reference library: the tests in
tests/test_compress_deploy.py check each against its definition). Tiny models and data, full battery."""

import copy

import torch

from contract_specs import Case
from cvbook_lib.compress import lab as L

_G = torch.Generator().manual_seed(0)
_X = torch.rand(12, 1, 8, 8, generator=_G)
_Y = torch.randint(0, 10, (12,), generator=_G)
_PROBE = torch.rand(3, 1, 8, 8, generator=_G)
torch.manual_seed(0)
_MODEL = L.DigitsCNN(width=2)
_MASKS = {"features.3.weight": torch.rand(4, 2, 3, 3, generator=_G) > 0.5}


def _run(m):
    m.eval()
    with torch.no_grad():
        return m(_PROBE)


def _train(**kw):
    """A fresh copy of the model for every call, so that equal calls give equal histories."""
    if isinstance(kw.get("model"), torch.nn.Module):
        kw["model"] = copy.deepcopy(kw["model"])
    return L.train(**kw)


SPECS = {
    L.load_digits_split: [
        Case(L.load_digits_split, dict(seed=3, test_size=0.25), out=lambda r: [t[:20] for t in r]),
    ],
    L.DigitsCNN: [
        Case(L.DigitsCNN, dict(width=2, quantizable=False), out=_run),
        Case(L.DigitsCNN, dict(width=3, quantizable=True), out=_run),
    ],
    L.train: [
        Case(
            _train,
            dict(model=_MODEL, x=_X, y=_Y, epochs=1, lr=1e-2, batch_size=5, seed=0, masks=_MASKS),
            state=lambda: [_MODEL],
        ),
    ],
    L.accuracy: [
        Case(L.accuracy, dict(model=_MODEL, x=_X, y=_Y), state=lambda: [_MODEL]),
    ],
    L.ptq_int8: [
        Case(L.ptq_int8, dict(model=_MODEL, calibration_x=_X, backend="x86"), out=_run, state=lambda: [_MODEL]),
    ],
    L.qat_int8: [
        Case(
            L.qat_int8,
            dict(model=_MODEL, x=_X, y=_Y, epochs=1, lr=1e-3, seed=0, backend="x86", batch_size=6),
            out=_run,
            state=lambda: [_MODEL],
        ),
    ],
}
