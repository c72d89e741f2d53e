"""cvbook_lib.compress.pruning: the masks against ``torch.nn.utils.prune`` (same 0/1 mask, ties and
rounding included), the N:M mask against a brute-force search over all patterns, channel pruning against
the original model with the same channels zeroed by hand, parameter counts against the formula."""

import copy
import itertools
import math

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils import prune

from cvbook_lib.compress import channels as CH
from cvbook_lib.compress import pruning as P

SHAPES = [(7,), (4, 5), (3, 4, 5), (6, 3, 3, 3), (2, 1)]
FEW = settings(max_examples=30, deadline=None)


def _t(shape, seed, dtype=torch.float32):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _holder(t):
    m = nn.Module()
    m.weight = nn.Parameter(t.clone())
    return m


# ----------------------------------------------------------------------------- unstructured
@FEW
@given(
    shape=st.sampled_from(SHAPES),
    seed=st.integers(0, 999),
    frac=st.floats(0, 1),
    as_int=st.booleans(),
    double=st.booleans(),
)
def test_l1_unstructured_mask_equals_torch(shape, seed, frac, as_int, double):
    t = _t(shape, seed, torch.float64 if double else torch.float32)
    amount = round(frac * t.numel()) if as_int else frac
    ours = P.l1_unstructured_mask(t, amount)
    theirs = prune.l1_unstructured(_holder(t), "weight", amount).weight_mask
    assert ours.dtype == t.dtype and torch.equal(ours, theirs)


@pytest.mark.parametrize("seed", range(5))
def test_l1_ties_match_torch_and_prune_the_smallest(seed):
    t = torch.randint(-2, 3, (6, 7), generator=torch.Generator().manual_seed(seed)).float()  # many ties
    for amount in (5, 0.5, 17, 42):
        ours = P.l1_unstructured_mask(t, amount)
        assert torch.equal(ours, prune.l1_unstructured(_holder(t), "weight", amount).weight_mask)
        k = amount if isinstance(amount, int) else round(amount * t.numel())
        assert int((ours == 0).sum()) == k
        if 0 < k < t.numel():  # whatever the tie order, no kept entry is smaller than a pruned one
            assert t.abs()[ours == 1].min() >= t.abs()[ours == 0].max()


@pytest.mark.parametrize("seed", range(3))
def test_ln_ties_match_torch(seed):
    t = torch.randint(-1, 2, (6, 2, 2), generator=torch.Generator().manual_seed(seed)).float()  # tied norms
    for n, amount in ((1, 2), (2, 0.5), (math.inf, 4), (0, 3)):
        ours = P.ln_structured_mask(t, amount, n, 0)
        assert torch.equal(ours, prune.ln_structured(_holder(t), "weight", amount, n, 0).weight_mask)


def test_float_amount_rounds_half_to_even_like_torch():
    t = _t((5,), 0)
    for amount, pruned in ((0.5, 2), (0.7, 4), (0.3, 2), (0.1, 0), (1.0, 5)):  # round(2.5)=2, round(3.5)=4
        ours = P.l1_unstructured_mask(t, amount)
        assert int((ours == 0).sum()) == pruned
        assert torch.equal(ours, prune.l1_unstructured(_holder(t), "weight", amount).weight_mask)


def test_importance_scores_rank_instead_of_t():
    t, s = _t((4, 6), 1), _t((4, 6), 2)
    ours = P.l1_unstructured_mask(t, 9, importance_scores=s)
    assert torch.equal(ours, prune.l1_unstructured(_holder(t), "weight", 9, importance_scores=s).weight_mask)
    assert torch.equal(ours, P.l1_unstructured_mask(s, 9))


# ----------------------------------------------------------------------------- structured
@FEW
@given(
    shape=st.sampled_from(SHAPES[1:4]),
    seed=st.integers(0, 999),
    frac=st.floats(0, 1),
    as_int=st.booleans(),
    n=st.sampled_from([1, 2, 3.5, math.inf, -math.inf, "fro", 0, -1]),
    dim=st.integers(-3, 3),
    double=st.booleans(),
)
def test_ln_structured_mask_equals_torch(shape, seed, frac, as_int, n, dim, double):
    t = _t(shape, seed, torch.float64 if double else torch.float32)
    dim = dim % len(shape)
    amount = round(frac * shape[dim]) if as_int else frac
    ours = P.ln_structured_mask(t, amount, n, dim)
    theirs = prune.ln_structured(_holder(t), "weight", amount, n, dim).weight_mask
    assert ours.dtype == t.dtype and torch.equal(ours, theirs)


def test_ln_structured_prunes_whole_filters_of_smallest_norm():
    w = _t((8, 3, 3, 3), 4)
    mask = P.ln_structured_mask(w, 3, 1, 0)
    norms = w.abs().sum(dim=(1, 2, 3))  # Li et al.'s criterion, written out
    dropped = (mask.flatten(1).sum(1) == 0).nonzero().reshape(-1)
    assert torch.equal(dropped, norms.argsort()[:3].sort().values)
    assert torch.equal(mask.flatten(1).amax(1), mask.flatten(1).amin(1))  # each filter all 0 or all 1
    torch.testing.assert_close(CH.channel_importance(_conv_with(w), norm=1), norms)


def _conv_with(w):
    conv = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], bias=False)
    with torch.no_grad():
        conv.weight.copy_(w)
    return conv


def test_channel_importance_is_the_filter_norm():
    conv = _conv_with(_t((5, 2, 3, 3), 3))
    w = conv.weight.detach()
    torch.testing.assert_close(CH.channel_importance(conv), w.abs().sum(dim=(1, 2, 3)))
    torch.testing.assert_close(CH.channel_importance(conv, norm=2), w.pow(2).sum(dim=(1, 2, 3)).sqrt())
    torch.testing.assert_close(CH.channel_importance(conv, norm=math.inf), w.abs().amax(dim=(1, 2, 3)))
    lin = nn.Linear(4, 3)
    torch.testing.assert_close(CH.channel_importance(lin), lin.weight.detach().abs().sum(1))


# ----------------------------------------------------------------------------- global
@FEW
@given(seed=st.integers(0, 999), frac=st.floats(0, 1), double=st.booleans())
def test_global_masks_equal_torch(seed, frac, double):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Linear(5, 3), nn.Linear(3, 2))
    if double:
        net = net.double()
    params = [m.weight.detach().clone() for m in net]
    ours = P.global_unstructured_masks(params, frac)
    prune.global_unstructured([(m, "weight") for m in net], prune.L1Unstructured, amount=frac)
    for mask, m in zip(ours, net):
        assert mask.shape == m.weight.shape and mask.dtype == m.weight.dtype and torch.equal(mask, m.weight_mask)


def test_global_masks_with_scores_and_int_amount():
    net = nn.Sequential(nn.Linear(6, 4), nn.Linear(4, 3))
    params = [m.weight.detach().clone() for m in net]
    scores = [p * torch.arange(p.numel()).view_as(p) for p in params]
    ours = P.global_unstructured_masks(params, 11, importance_scores=scores)
    prune.global_unstructured(
        [(m, "weight") for m in net],
        prune.L1Unstructured,
        amount=11,
        importance_scores={(m, "weight"): s for m, s in zip(net, scores)},
    )
    assert all(torch.equal(a, m.weight_mask) for a, m in zip(ours, net))
    assert sum(int((a == 0).sum()) for a in ours) == 11


# ----------------------------------------------------------------------------- N:M
def _brute_nm(w2d, n, m):
    """Apex ASP's way: score every one of the C(m, n) patterns by the |w| it keeps, take the best."""
    patterns = torch.tensor([[1.0 if i in c else 0.0 for i in range(m)] for c in itertools.combinations(range(m), n)])
    groups = w2d.abs().reshape(-1, m).to(patterns.dtype)
    return patterns[(groups @ patterns.T).argmax(1)].reshape(w2d.shape)


@FEW
@given(
    seed=st.integers(0, 999),
    nm=st.sampled_from([(2, 4), (1, 4), (1, 2), (3, 4), (2, 8), (4, 4)]),
    out=st.integers(1, 5),
    groups=st.integers(1, 3),
    double=st.booleans(),
)
def test_nm_mask_keeps_the_n_largest_of_every_m(seed, nm, out, groups, double):
    n, m = nm
    w = _t((out, groups * m), seed, torch.float64 if double else torch.float32)
    mask = P.nm_sparsity_mask(w, n, m)
    g, gm = w.abs().reshape(-1, m), mask.reshape(-1, m)
    assert mask.dtype == w.dtype and torch.equal(gm.sum(1), torch.full((g.shape[0],), float(n), dtype=w.dtype))
    if n < m:
        assert bool((torch.where(gm == 1, g, math.inf).amin(1) >= torch.where(gm == 0, g, -1).amax(1)).all())
    assert CH.sparsity(mask) == pytest.approx(1 - n / m)
    assert torch.equal(mask, _brute_nm(w, n, m))


def test_nm_conv_groups_run_along_input_channels():
    w = _t((3, 8, 2, 2), 5)  # [out, in, kh, kw]
    mask = P.nm_sparsity_mask(w)
    as_linear = w.permute(0, 2, 3, 1).reshape(-1, 8)  # ASP's permutation: every (out, kh, kw) row over in
    expected = _brute_nm(as_linear, 2, 4).reshape(3, 2, 2, 8).permute(0, 3, 1, 2)
    assert torch.equal(mask, expected)


def test_nm_ties_go_to_the_lower_index():
    w = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0, 2.0, 2.0, 2.0]])
    assert P.nm_sparsity_mask(w).tolist() == [[1, 1, 0, 0, 0, 1, 1, 0]]


# ----------------------------------------------------------------------------- channel pruning
def _randomize_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            for t, lo, hi in (
                (mod.weight, 0.5, 1.5),
                (mod.bias, -1, 1),
                (mod.running_mean, -1, 1),
                (mod.running_var, 0.5, 2),
            ):
                t.data.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)
    return model.eval()


def _plain_chain():
    torch.manual_seed(0)
    return _randomize_bn(
        nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(6 * 5 * 5, 4),
        )
    )


def _mobile_chain(mult=1):
    torch.manual_seed(1)
    return _randomize_bn(
        nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 8 * mult, 3, padding=1, groups=8),
            nn.BatchNorm2d(8 * mult),
            nn.ReLU(),
            nn.Conv2d(8 * mult, 5, 1),
        )
    )


def _zero_by_hand(model, names, drop):
    """The reference: the original model with channels ``drop`` of each conv/BN in ``names`` set to 0."""
    masked = copy.deepcopy(model)
    mods = dict(masked.named_modules())
    with torch.no_grad():
        for name in names:
            for t in (mods[name].weight, mods[name].bias):
                if t is not None:
                    t[drop] = 0
    return masked


def _n_params(model):
    return sum(p.numel() for p in model.parameters())


@FEW
@given(keep=st.sets(st.integers(0, 7), min_size=1), double=st.booleans())
def test_pruned_chain_equals_the_zeroed_original(keep, double):
    model = _plain_chain()
    if double:
        model = model.double()
    before = copy.deepcopy(model.state_dict())
    keep = sorted(keep)
    drop = [c for c in range(8) if c not in keep]
    x = _t((2, 3, 5, 5), 7, next(model.parameters()).dtype)
    pruned = CH.prune_channels(model, "0", keep)
    with torch.no_grad():
        expected = _zero_by_hand(model, ["0", "1"], drop)(x)
        torch.testing.assert_close(pruned(x), expected, rtol=0, atol=1e-6)
        torch.testing.assert_close(CH.channel_masked(model, "0", keep)(x), expected, rtol=0, atol=1e-6)
    k = len(keep)
    assert _n_params(pruned) == (3 * 9 * k + k) + 2 * k + (k * 9 * 6 + 6) + 2 * 6 + (150 * 4 + 4)
    assert all(torch.equal(v, model.state_dict()[key]) for key, v in before.items())  # original unchanged
    nonzero = sum(int((p != 0).sum()) for p in CH.channel_masked(model, "0", keep).parameters())
    assert nonzero == _n_params(pruned)  # the same parameters removed in both views


@FEW
@given(keep=st.sets(st.integers(0, 5), min_size=1))
def test_pruning_into_a_linear_drops_h_times_w_features_per_channel(keep):
    model, keep = _plain_chain(), sorted(keep)
    x = _t((3, 3, 5, 5), 8)
    pruned = CH.prune_channels(model, "3", keep)
    assert pruned[7].in_features == 25 * len(keep) and pruned[7].weight.shape == (4, 25 * len(keep))
    expected = _zero_by_hand(model, ["3", "4"], [c for c in range(6) if c not in keep])(x)
    torch.testing.assert_close(pruned(x), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("mult", [1, 2])
@pytest.mark.parametrize("keep", [[0], [1, 2, 6], [0, 3, 4, 5, 7], list(range(8))])
def test_mobilenet_chain_prunes_through_the_depthwise_conv(mult, keep):
    model = _mobile_chain(mult)
    drop = [c for c in range(8) if c not in keep]
    drop_dw = [c * mult + j for c in drop for j in range(mult)]
    x = _t((2, 3, 6, 6), 9)
    pruned = CH.prune_channels(model, "0", keep)
    k = len(keep)
    dw = pruned[3]
    assert (dw.in_channels, dw.out_channels, dw.groups, pruned[6].in_channels) == (k, k * mult, k, k * mult)
    expected = _zero_by_hand(_zero_by_hand(model, ["0", "1"], drop), ["3", "4"], drop_dw)(x)
    torch.testing.assert_close(pruned(x), expected, rtol=0, atol=1e-6)
    km = k * mult
    assert _n_params(pruned) == (27 * k + k) + 2 * k + (9 * km + km) + 2 * km + (km * 5 + 5)
    fresh = nn.Sequential(
        nn.Conv2d(3, k, 3, padding=1),
        nn.BatchNorm2d(k),
        nn.ReLU(),
        nn.Conv2d(k, km, 3, padding=1, groups=k),
        nn.BatchNorm2d(km),
        nn.ReLU(),
        nn.Conv2d(km, 5, 1),
    )
    fresh.load_state_dict(pruned.state_dict())  # attributes agree with the new shapes
    torch.testing.assert_close(fresh.eval()(x), pruned(x), rtol=0, atol=0)


def test_nested_sequentials_pooling_and_global_pool_head():
    torch.manual_seed(2)
    model = _randomize_bn(
        nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.Hardswish(), nn.MaxPool2d(2)),
            nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Linear(6, 3)),
        )
    )
    x = _t((2, 3, 8, 8), 10)
    pruned = CH.prune_channels(model, "0.0", [1, 4])
    assert pruned[1][3].in_features == 2
    expected = _zero_by_hand(model, ["0.0", "0.1"], [0, 2, 3, 5])(x)
    torch.testing.assert_close(pruned(x), expected, rtol=0, atol=1e-6)


def test_prune_channels_accepts_a_long_tensor_and_l1_ranking():
    model = _plain_chain()
    keep = CH.channel_importance(model[0]).argsort(descending=True)[:5].sort().values
    a, b = CH.prune_channels(model, "0", keep), CH.prune_channels(model, "0", keep.tolist())
    assert all(torch.equal(u, v) for u, v in zip(a.state_dict().values(), b.state_dict().values()))


class _Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.conv(x)


@pytest.mark.parametrize(
    "model, conv, match",
    [
        (nn.Sequential(nn.Conv2d(3, 4, 1), _Residual(4), nn.Conv2d(4, 2, 1)), "0", "cannot follow"),
        (nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU()), "0", "reach the model's output"),
        (nn.Sequential(nn.Conv2d(3, 4, 1), nn.Linear(4, 2)), "0", "Flatten"),
        (nn.Sequential(nn.Conv2d(3, 4, 1), nn.GroupNorm(2, 4), nn.Conv2d(4, 2, 1)), "0", "cannot follow"),
        (nn.Sequential(nn.Conv2d(3, 4, 1), nn.Conv2d(4, 4, 1, groups=2)), "0", "cannot follow"),
        (nn.Sequential(nn.Conv2d(3, 4, 1), nn.Flatten(), nn.ReLU(), nn.Linear(4, 2)), "0", "Flatten"),
        (nn.Sequential(nn.Conv2d(3, 4, 1), nn.Flatten(), nn.Linear(6, 2)), "0", "divisible"),
        (nn.Sequential(nn.Conv2d(4, 4, 1, groups=2), nn.Conv2d(4, 2, 1)), "0", "groups=1"),
        (nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1)), "1", "groups=1"),
        (nn.Sequential(nn.Conv2d(3, 4, 1), nn.Conv2d(4, 2, 1)), "5", "not found"),
        (nn.Sequential(_Residual(4), nn.Conv2d(4, 2, 1)), "0.conv", "non-Sequential"),
    ],
)
def test_chains_that_cannot_be_followed_raise(model, conv, match):
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match=match):
        CH.prune_channels(model, conv, [0, 1])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_a_shared_module_on_the_chain_is_refused():
    dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)  # applied twice: slicing it once per use would break it
    with pytest.raises(ValueError, match="reuses"):
        CH.prune_channels(nn.Sequential(nn.Conv2d(4, 4, 1), dw, dw, nn.Conv2d(4, 2, 1)), "0", [0])


@pytest.mark.parametrize(
    "keep, err",
    [
        ([], ValueError),
        ([0, 0, 1], ValueError),
        ([2, 1], ValueError),
        ([0, 8], ValueError),
        ([-1, 2], ValueError),
        (torch.tensor([[0, 1]]), ValueError),
        (torch.tensor([0.0, 1.0]), TypeError),
        ([0, True], TypeError),
        ("0,1", TypeError),
        (3, TypeError),
    ],
)
def test_bad_keep_is_refused(keep, err):
    with pytest.raises(err, match="keep"):
        CH.prune_channels(_plain_chain(), "0", keep)


def test_bad_model_and_conv_are_refused():
    with pytest.raises(TypeError, match="model"):
        CH.prune_channels(_Residual(3), "conv", [0])
    with pytest.raises(TypeError, match="conv"):
        CH.prune_channels(_plain_chain(), 0, [0])
    with pytest.raises(TypeError, match="conv"):
        CH.channel_importance(nn.BatchNorm2d(3))


# ----------------------------------------------------------------------------- sparsity and slimming
def test_sparsity_of_a_tensor_and_of_a_globally_pruned_model():
    assert CH.sparsity(torch.tensor([0.0, 1.0, 0.0, math.nan])) == 0.5
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 3))
    prune.global_unstructured([(net[0], "weight"), (net[3], "weight")], prune.L1Unstructured, amount=0.4)
    assert CH.sparsity(net) == round(0.4 * (72 + 12)) / (72 + 12)


def test_bn_l1_penalty_is_the_sum_of_abs_gammas_with_sign_gradient():
    net = _plain_chain().train()
    with torch.no_grad():
        net[1].weight[0] = -0.3
    penalty = CH.bn_l1_penalty(net)
    torch.testing.assert_close(penalty, net[1].weight.abs().sum() + net[4].weight.abs().sum())
    penalty.backward()
    assert torch.equal(net[1].weight.grad, net[1].weight.detach().sign())
    assert net[0].weight.grad is None


# ----------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    "amount, err",
    [
        (-1, ValueError),
        (13, ValueError),
        (1.5, ValueError),
        (-0.1, ValueError),
        (math.nan, ValueError),
        (True, TypeError),
        ("0.5", TypeError),
        (None, TypeError),
        (torch.tensor(0.5), TypeError),
    ],
)
def test_bad_amount_is_refused(amount, err):
    t = _t((3, 4), 0)
    for call in (
        lambda: P.l1_unstructured_mask(t, amount),
        lambda: P.ln_structured_mask(t, amount, 1, 1),
        lambda: P.global_unstructured_masks([t], amount),
    ):
        with pytest.raises(err, match="amount"):
            call()


def test_bad_mask_arguments_are_refused():
    t = _t((4, 8), 0)
    cases = [
        (lambda: P.l1_unstructured_mask(t.long(), 1), TypeError, "t"),
        (lambda: P.l1_unstructured_mask(t, 1, importance_scores=t[:2]), ValueError, "importance_scores"),
        (lambda: P.l1_unstructured_mask(t, 1, importance_scores=t.double()), TypeError, "importance_scores"),
        (lambda: P.ln_structured_mask(t[0], 1, 1, 0), ValueError, "t"),
        (lambda: P.ln_structured_mask(t, 1, 1, 2), ValueError, "dim"),
        (lambda: P.ln_structured_mask(t, 1, "nuc", 0), ValueError, "n"),
        (lambda: P.ln_structured_mask(t, 1, math.nan, 0), ValueError, "n"),
        (lambda: P.ln_structured_mask(torch.zeros(3, 0), 1, math.inf, 0), ValueError, "t"),
        (lambda: P.global_unstructured_masks([], 1), TypeError, "params"),
        (lambda: P.global_unstructured_masks(t, 1), TypeError, "params"),
        (lambda: P.global_unstructured_masks([t, t.double()], 1), TypeError, "params"),
        (lambda: P.global_unstructured_masks([t], 1, importance_scores=[t, t]), TypeError, "importance_scores"),
        (lambda: P.nm_sparsity_mask(t, 5, 4), ValueError, "n"),
        (lambda: P.nm_sparsity_mask(t, 0, 4), ValueError, "n"),
        (lambda: P.nm_sparsity_mask(t, 1, 0), ValueError, "m"),
        (lambda: P.nm_sparsity_mask(t, 2, 3), ValueError, "divisible"),
        (lambda: P.nm_sparsity_mask(t[0], 2, 4), ValueError, "w"),
        (lambda: CH.sparsity(torch.zeros(0)), ValueError, "t_or_model"),
        (lambda: CH.sparsity(nn.ReLU()), ValueError, "t_or_model"),
        (lambda: CH.sparsity([0.0, 1.0]), TypeError, "t_or_model"),
        (lambda: CH.bn_l1_penalty(nn.Linear(2, 2)), ValueError, "model"),
        (lambda: CH.channel_importance(nn.Conv2d(2, 2, 1), norm="1"), TypeError, "norm"),
    ]
    for call, err, name in cases:
        with pytest.raises(err, match=name):
            call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_and_models():
    t = _t((6, 8), 11)
    for fn in (
        lambda x: P.l1_unstructured_mask(x, 0.3),
        lambda x: P.ln_structured_mask(x, 2, 2, 0),
        lambda x: P.global_unstructured_masks([x, x[:2] * 3], 7)[0],
        lambda x: P.nm_sparsity_mask(x),
    ):
        ours = fn(t.cuda())
        assert ours.is_cuda and torch.equal(ours.cpu(), fn(t))
    model, x = _mobile_chain(), _t((2, 3, 6, 6), 12)
    pruned = CH.prune_channels(model.cuda(), "0", [1, 5])
    torch.testing.assert_close(
        pruned(x.cuda()).cpu(), CH.prune_channels(model.cpu(), "0", [1, 5])(x), rtol=1e-5, atol=1e-5
    )
