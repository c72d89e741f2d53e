"""Contract cases for cvbook_lib.compress.pruning: the masks against ``torch.nn.utils.prune`` run on a
module holding the same tensor (its ``weight_mask``); channel pruning, N:M masks, sparsity and the
slimming penalty without a reference (tests/test_compress_pruning.py checks them against their
definition and the hand-zeroed model)."""

import math

import torch
from torch import nn
from torch.nn.utils import prune

from contract_specs import Case
from cvbook_lib.compress import channels as CH
from cvbook_lib.compress import pruning as P


def _g(seed):
    return torch.Generator().manual_seed(seed)


def _holder(t):
    m = nn.Module()
    m.weight = nn.Parameter(t.detach().clone())
    return m


def _ref_l1(t, amount, importance_scores=None):
    return prune.l1_unstructured(_holder(t), "weight", amount, importance_scores=importance_scores).weight_mask


def _ref_ln(t, amount, n, dim, importance_scores=None):
    return prune.ln_structured(_holder(t), "weight", amount, n, dim, importance_scores=importance_scores).weight_mask


def _ref_global(params, amount):
    mods = [_holder(p) for p in params]
    prune.global_unstructured([(m, "weight") for m in mods], prune.L1Unstructured, amount=amount)
    return [m.weight_mask for m in mods]


def _ref_importance(conv, norm=1.0):
    return torch.linalg.vector_norm(conv.weight.detach().flatten(1), ord=norm, dim=1)


_T = torch.randn(4, 6, generator=_g(0))
_W = torch.randn(5, 3, 2, generator=_g(1))
_S = torch.randn(4, 6, generator=_g(2))
_PARAMS = [torch.randn(3, 4, generator=_g(3)), torch.randn(5, generator=_g(4))]
_CONV = nn.Conv2d(3, 4, 3)

torch.manual_seed(0)
_CHAIN = nn.Sequential(
    nn.Conv2d(2, 4, 3, padding=1),
    nn.BatchNorm2d(4),
    nn.ReLU(),
    nn.Conv2d(4, 4, 3, padding=1, groups=4),
    nn.BatchNorm2d(4),
    nn.ReLU(),
    nn.Flatten(),
    nn.Linear(4 * 3 * 3, 2),
).eval()
_X = torch.randn(2, 2, 3, 3, generator=_g(5))


def _run(model):
    with torch.no_grad():
        return model.eval()(_X)


# `n` is a p-norm order: any real p is valid (as torch.norm), so a float where an int was given, or an int
# where 'fro' was given, is not a wrong type; NaN is refused (torch returns NaN norms and an arbitrary mask).
_N_REAL = {"n": {"float"}}
_N_NAN = {("n", "nan"): "a NaN norm order gives NaN norms and an arbitrary mask: refused"}
# importance_scores of another dtype than t: refused (torch's ln_structured mask would take the scores' dtype)
_MIXED = {
    ("importance_scores", "float64"): "mixed dtypes refused",
    ("importance_scores", "float16"): "mixed dtypes",
    ("t", "float64"): "mixed dtypes refused",
    ("t", "float16"): "mixed dtypes refused",
}

SPECS = {
    P.l1_unstructured_mask: [
        Case(P.l1_unstructured_mask, dict(t=_T, amount=0.4), ref=_ref_l1, float_only={"t"}),
        Case(P.l1_unstructured_mask, dict(t=_W, amount=7), ref=_ref_l1, float_only={"t"}),
        Case(
            P.l1_unstructured_mask,
            dict(t=_T, amount=5, importance_scores=_S),
            ref=_ref_l1,
            float_only={"t", "importance_scores"},
            differs=_MIXED,
        ),
    ],
    P.ln_structured_mask: [
        Case(P.ln_structured_mask, dict(t=_W, amount=0.4, n=2, dim=0), ref=_ref_ln, float_only={"t"}, skip=_N_REAL),
        Case(P.ln_structured_mask, dict(t=_T, amount=2, n=1.5, dim=-1), ref=_ref_ln, float_only={"t"}, differs=_N_NAN),
        Case(
            P.ln_structured_mask,
            dict(t=_W, amount=1, n="fro", dim=1),
            ref=_ref_ln,
            float_only={"t"},
            skip={"n": {"int"}},
        ),
        Case(
            P.ln_structured_mask,
            dict(t=_T, amount=1, n=math.inf, dim=0, importance_scores=_S),
            ref=_ref_ln,
            float_only={"t", "importance_scores"},
            differs=_N_NAN | _MIXED,
        ),
    ],
    P.global_unstructured_masks: [
        Case(P.global_unstructured_masks, dict(params=_PARAMS, amount=0.5), ref=_ref_global),
        Case(P.global_unstructured_masks, dict(params=_PARAMS, amount=6), ref=_ref_global),
    ],
    CH.channel_importance: [
        Case(
            CH.channel_importance,
            dict(conv=_CONV, norm=1.0),
            ref=_ref_importance,
            differs={("norm", "nan"): "a NaN norm order is refused"},
        ),
    ],
    P.nm_sparsity_mask: [
        Case(P.nm_sparsity_mask, dict(w=torch.randn(3, 8, generator=_g(6)), n=2, m=4), float_only={"w"}),
        Case(P.nm_sparsity_mask, dict(w=torch.randn(2, 4, 3, 3, generator=_g(7)), n=1, m=2), float_only={"w"}),
    ],
    CH.prune_channels: [
        Case(
            CH.prune_channels,
            dict(model=_CHAIN, conv="0", keep=torch.tensor([0, 2, 3])),
            out=_run,
            state=lambda: [_CHAIN],
        ),
        Case(CH.prune_channels, dict(model=_CHAIN, conv="0", keep=[1]), out=_run, state=lambda: [_CHAIN]),
    ],
    CH.channel_masked: [
        Case(
            CH.channel_masked, dict(model=_CHAIN, conv="0", keep=torch.tensor([1, 3])), out=_run, state=lambda: [_CHAIN]
        ),
    ],
    CH.sparsity: [
        Case(CH.sparsity, dict(t_or_model=torch.tensor([[0.0, 1.5], [0.0, -2.0]]))),
        Case(CH.sparsity, dict(t_or_model=_CHAIN)),
    ],
    CH.bn_l1_penalty: [Case(CH.bn_l1_penalty, dict(model=_CHAIN), out=lambda p: p.detach())],
}
