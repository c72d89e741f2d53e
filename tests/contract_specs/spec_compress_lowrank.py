"""Contract cases for cvbook_lib.compress.lowrank (references: numpy.linalg.svd in float64 for the factored
layer and the Eckart–Young error; torch's own layer constructors for the parameter count; a brute-force
search for the break-even rank)."""

import copy

import numpy as np
import torch
from torch import nn

from contract_specs import Case
from cvbook_lib.compress import lowrank as LR

torch.manual_seed(0)
_LIN = nn.Linear(7, 5)
_CONV = nn.Conv2d(3, 4, 3, stride=2, padding=1)
_G = torch.Generator().manual_seed(1)
_XL, _XC = torch.randn(3, 7, generator=_G), torch.randn(2, 3, 8, 8, generator=_G)
# rank 0 / -1 are refused; numpy's slicing takes them (an empty factor, or all singular values but one)
_RANKS = {("rank", m): "rank must be in [1, min(m, n)]" for m in ("zero", "minus1")}


def _matrix(module):
    w = module.weight.detach().double().numpy()
    return w.reshape(w.shape[0], -1)


def _svd_ref(module, rank):
    """A copy of the layer whose weight is numpy's rank-``rank`` truncated SVD (float64, cast back)."""
    U, S, Vt = np.linalg.svd(_matrix(module), full_matrices=False)
    w = (U[:, :rank] * S[:rank]) @ Vt[:rank]
    out = copy.deepcopy(module)
    with torch.no_grad():
        out.weight.copy_(torch.from_numpy(w).reshape(module.weight.shape))
    return out


def _tail_ref(module, rank):
    S = np.linalg.svd(_matrix(module), compute_uv=False)
    return torch.tensor(float((S[rank:] ** 2).sum()), dtype=module.weight.dtype)


def _params_ref(module, rank):
    if isinstance(module, nn.Linear):
        layers = [nn.Linear(module.in_features, rank, bias=False), nn.Linear(rank, module.out_features)]
    else:
        layers = [
            nn.Conv2d(module.in_channels, rank, module.kernel_size, bias=False),
            nn.Conv2d(rank, module.out_channels, 1),
        ]
    return sum(p.numel() for m in layers for p in m.parameters())


def _break_even_ref(module):
    m, n = _matrix(module).shape
    return max(r for r in range(min(m, n) + 1) if r * (m + n) < m * n)


def _run(x):
    def call(model):
        with torch.no_grad():
            return model(x)

    return call


SPECS = {
    LR.low_rank: [
        Case(LR.low_rank, dict(module=_LIN, rank=3), ref=_svd_ref, out=_run(_XL), differs=_RANKS, state=lambda: [_LIN]),
        Case(
            LR.low_rank, dict(module=_CONV, rank=2), ref=_svd_ref, out=_run(_XC), differs=_RANKS, state=lambda: [_CONV]
        ),
    ],
    LR.svd_error: [
        Case(LR.svd_error, dict(module=_LIN, rank=2), ref=_tail_ref, differs=_RANKS, rtol=1e-4),
        Case(LR.svd_error, dict(module=_CONV, rank=3), ref=_tail_ref, differs=_RANKS, rtol=1e-4),
    ],
    LR.low_rank_params: [
        Case(LR.low_rank_params, dict(module=_LIN, rank=2), ref=_params_ref, differs=_RANKS),
        Case(LR.low_rank_params, dict(module=_CONV, rank=4), ref=_params_ref, differs=_RANKS),
    ],
    LR.break_even_rank: [
        Case(LR.break_even_rank, dict(module=_LIN), ref=_break_even_ref),
        Case(LR.break_even_rank, dict(module=_CONV), ref=_break_even_ref),
    ],
}
