"""Contract cases for cvbook_lib.arch_lab (chapter 11's experiments; no reference library: the tests in
tests/test_arch_lab.py check each against its definition). Tiny sizes, full battery."""

import copy

import torch

from contract_specs import Case
from cvbook_lib import arch_lab as L


def _g(seed):
    return torch.Generator().manual_seed(seed)


def _mlp(**kw):
    torch.manual_seed(0)
    return L.ResidualMLP(**kw)


def _run_mlp(m):
    m.eval()
    with torch.no_grad():
        return m(torch.randn(3, m.stem[0].in_features, generator=_g(1)))


def _train(**kw):
    """A fresh copy of the model for every call, so that equal calls give equal histories."""
    if isinstance(kw.get("model"), torch.nn.Module):
        kw["model"] = copy.deepcopy(kw["model"])
    return L.train_classifier(**kw)


_X, _Y = torch.randn(12, 4, generator=_g(2)), torch.randint(0, 3, (12,), generator=_g(3))
_MODEL = _mlp(in_features=4, width=5, num_blocks=1, num_classes=3)
_MASK = torch.zeros(2, 6, 7, dtype=torch.long)
_MASK[:, 2:4, 1:5] = 1

SPECS = {
    L.ResidualMLP: [
        Case(L.ResidualMLP, dict(in_features=4, width=5, num_blocks=2, num_classes=3, shortcut=True,
                                 zero_init_residual=True), out=_run_mlp),
        Case(L.ResidualMLP, dict(in_features=3, width=2, num_blocks=1, num_classes=2, shortcut=False,
                                 zero_init_residual=False), out=_run_mlp),
    ],
    L.train_classifier: [
        Case(_train, dict(model=_MODEL, x=_X, y=_Y, epochs=2, lr=1e-2, batch_size=5, seed=0),
             skip={"x": {"float16", "float64"}},  # the model's dtype is float32: torch's own dtype error, wrapped
             state=lambda: [_MODEL]),
    ],
    L.relu_recovery: [
        Case(L.relu_recovery, dict(dims=[2, 6], n_points=20, seed=0), out=lambda r: [r[2][0], r[6][0]]),
        Case(L.relu_recovery, dict(dims=3, n_points=5, seed=1), out=lambda r: r[3][0]),
    ],
    L.channel_jacobian: [
        Case(L.channel_jacobian, dict(module=torch.nn.Conv2d(4, 4, 1, groups=2), channels=4)),
    ],
    L.synthetic_shapes: [
        Case(L.synthetic_shapes, dict(n=2, size=16, noise=0.1, seed=0)),
    ],
    L.boundary_band: [
        Case(L.boundary_band, dict(mask=_MASK, width=1)),
    ],
}
