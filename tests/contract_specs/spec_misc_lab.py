"""Contract cases for cvbook_lib.misc_lab (chapter 14's transfer-learning and permuted-pixel experiments; no
reference library: tests/test_misc_lab.py checks each against its definition). Tiny models and data."""

import copy

import torch

from contract_specs import Case
from cvbook_lib import misc_lab as M
from cvbook_lib.compress.lab import DigitsCNN

_G = torch.Generator().manual_seed(0)
_X = torch.rand(12, 1, 8, 8, generator=_G)
_Y = torch.arange(12) % 3
_PROBE = torch.rand(3, 1, 8, 8, generator=_G)
torch.manual_seed(0)
_SOURCE = DigitsCNN(width=2)


def _run(m):
    m.eval()
    with torch.no_grad():
        return m(_PROBE)


def _transfer(**kw):
    model, groups = M.transfer_model(**kw)
    return _run(model), torch.tensor([g["lr_scale"] for g in groups])


def _fine_tune(**kw):
    """A fresh model and groups for every call, so that equal calls give equal histories."""
    model, groups = M.transfer_model(_SOURCE, "full_small_lr", num_classes=3, seed=0)
    kw.setdefault("model", model)
    kw.setdefault("groups", groups)
    if kw["model"] is not model and isinstance(kw["model"], torch.nn.Module):
        kw["model"] = copy.deepcopy(kw["model"])
    return M.fine_tune(**kw)


SPECS = {
    M.digits_transfer_split: [
        Case(M.digits_transfer_split, dict(seed=1, test_size=0.3), out=lambda r: [t[:10] for t in r["target"]]),
    ],
    M.few_shot: [
        Case(M.few_shot, dict(x=_X, y=_Y, per_class=2, seed=0), optional={"per_class"}),  # None: all samples
        Case(M.few_shot, dict(x=_X, y=_Y, per_class=None, seed=1)),
    ],
    M.Frozen: [
        Case(
            M.Frozen,
            dict(module=torch.nn.Sequential(torch.nn.Linear(4, 2))),
            out=lambda m: m(torch.ones(1, 4)).detach(),
        ),
    ],
    M.transfer_model: [
        Case(_transfer, dict(source=_SOURCE, strategy=s, num_classes=3, seed=0), state=lambda: [_SOURCE])
        for s in M.STRATEGIES
    ],
    M.fine_tune: [
        Case(_fine_tune, dict(x=_X, y=_Y, epochs=1, lr=1e-2, batch_size=5, seed=0), state=lambda: [_SOURCE]),
    ],
    M.permute_pixels: [
        Case(M.permute_pixels, dict(x=_X, seed=3)),
    ],
    M.DigitsMLP: [
        Case(M.DigitsMLP, dict(hidden=4, num_classes=3), out=_run),
    ],
}
