"""cvbook_lib.norm against torch.nn.functional, nn.BatchNorm2d, autograd and properties."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from cvbook_lib import norm

G = torch.Generator().manual_seed(0)


def rand(*shape, scale=1.0, shift=0.0):
    return torch.randn(*shape, generator=G, dtype=torch.float64) * scale + shift


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 3, 4, 5), (2, 3, 2, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_torch_and_updates_running_stats(shape, training, affine):
    x = rand(*shape, scale=2, shift=1)
    C = shape[1]
    w, b = (rand(C), rand(C)) if affine else (None, None)
    rm, rv = rand(C), rand(C).abs() + 0.5
    rm2, rv2 = rm.clone(), rv.clone()
    want = F.batch_norm(x, rm2, rv2, w, b, training, 0.3, 1e-4)
    assert_close(norm.batch_norm(x, rm, rv, w, b, training, 0.3, 1e-4), want)
    assert_close(rm, rm2)
    assert_close(rv, rv2)


def test_batchnorm2d_module_loads_state_dict_and_tracks_torch():
    for momentum in (0.1, None):
        ref = nn.BatchNorm2d(4, momentum=momentum).double()
        with torch.no_grad():
            ref.weight.copy_(rand(4))
            ref.bias.copy_(rand(4))
        ours = norm.BatchNorm2d(4, momentum=momentum).double()
        ours.load_state_dict(ref.state_dict())
        for step in range(20):
            x = rand(6, 4, 5, 5, scale=1 + step / 10, shift=step / 5)
            assert_close(ours(x), ref(x))
        for key, value in ref.state_dict().items():
            assert_close(ours.state_dict()[key], value)
        ours.eval()
        ref.eval()
        x = rand(3, 4, 5, 5)
        assert_close(ours(x), ref(x))
    plain = norm.BatchNorm2d(3, affine=False, track_running_stats=False)
    assert set(plain.state_dict()) == set(nn.BatchNorm2d(3, affine=False, track_running_stats=False).state_dict())
    x = rand(4, 3, 2, 2).float()
    assert_close(plain.eval()(x), F.batch_norm(x, None, None, training=True))   # no running stats: batch stats


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("with_weight", [True, False])
def test_batch_norm_backward_matches_autograd(shape, with_weight):
    x = rand(*shape, scale=3).requires_grad_()
    w = (rand(shape[1]) if with_weight else torch.ones(shape[1], dtype=torch.float64)).requires_grad_()
    b = rand(shape[1]).requires_grad_()
    y = F.batch_norm(x, None, None, w, b, training=True, eps=1e-5)
    g = rand(*shape)
    y.backward(g)
    gx, gw, gb = norm.batch_norm_backward(g, x.detach(), w.detach() if with_weight else None)
    assert_close(gx, x.grad)
    assert_close(gw, w.grad)
    assert_close(gb, b.grad)


def test_layer_group_instance_norm_match_torch():
    x = rand(4, 6, 5, 3, scale=2, shift=-1)
    for shape in ((3,), (5, 3), (6, 5, 3)):
        w, b = rand(*shape), rand(*shape)
        assert_close(norm.layer_norm(x, shape, w, b), F.layer_norm(x, shape, w, b))
        assert_close(norm.layer_norm(x, shape), F.layer_norm(x, shape))
    for groups in (1, 2, 3, 6):
        w, b = rand(6), rand(6)
        assert_close(norm.group_norm(x, groups, w, b), F.group_norm(x, groups, w, b))
    rm, rv = rand(6), rand(6).abs() + 0.5
    rm2, rv2 = rm.clone(), rv.clone()
    w, b = rand(6), rand(6)
    assert_close(norm.instance_norm(x, rm, rv, w, b, True, 0.2), F.instance_norm(x, rm2, rv2, w, b, True, 0.2))
    assert_close(rm, rm2)
    assert_close(rv, rv2)
    assert_close(norm.instance_norm(x, rm, rv, w, b, False), F.instance_norm(x, rm2, rv2, w, b, False))
    assert_close(norm.instance_norm(x), F.instance_norm(x))
    assert_close(norm.group_norm(x, 6), norm.instance_norm(x))                 # GN with C groups = IN


def test_dropout():
    x = torch.ones(2000, 50, dtype=torch.float64)
    y = norm.dropout(x, 0.3, generator=torch.Generator().manual_seed(1))
    assert abs(y.mean().item() - 1.0) < 0.01                                    # expectation preserved
    assert set(torch.unique(y).tolist()) == {0.0, 1 / 0.7}
    assert abs((y == 0).double().mean().item() - 0.3) < 0.01                   # p is the DROP probability
    a = norm.dropout(x, 0.5, generator=torch.Generator().manual_seed(7))
    b = norm.dropout(x, 0.5, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    torch.manual_seed(3)
    ours = norm.dropout(x, 0.4)
    torch.manual_seed(3)
    assert torch.equal(ours, F.dropout(x, 0.4))                                 # torch's CPU zero pattern
    assert norm.dropout(x, 0.5, training=False) is x
    assert torch.equal(norm.dropout(x, 1.0), torch.zeros_like(x))


def test_sync_batch_stats_equal_the_concatenated_batch():
    shards = [rand(n, 5, 3, 3, shift=i) for i, n in enumerate((2, 7, 1, 4))]
    mean, var, count = norm.sync_batch_stats(shards)
    full = torch.cat(shards)
    assert count == full.numel() // 5
    assert_close(mean, full.mean(dim=(0, 2, 3)))
    assert_close(var, full.var(dim=(0, 2, 3), unbiased=False))


def test_whitening():
    A = torch.tensor([[2.0, 0.5, 0.0], [0.3, 1.0, 0.2], [0.0, 0.4, 0.5]], dtype=torch.float64)
    x = rand(5000, 3) @ A + torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    for fn in (norm.pca_whiten, norm.zca_whiten):
        w = fn(x, eps=1e-12)
        cov = w.T @ w / w.shape[0]
        assert_close(cov, torch.eye(3, dtype=torch.float64), atol=1e-8, rtol=0)
    xc = x - x.mean(0)
    zca, pca = norm.zca_whiten(x, 1e-12), norm.pca_whiten(x, 1e-12)
    q, _ = torch.linalg.qr(rand(3, 3))
    d_zca = (zca - xc).norm()
    assert d_zca < (pca - xc).norm() and d_zca < (zca @ q - xc).norm()         # ZCA: closest whitened data


def test_spectral_norm_converges():
    w = rand(6, 4, 3, 3)
    target = torch.linalg.matrix_norm(w.reshape(6, -1), ord=2)
    _, sigma1, u = norm.spectral_norm(w, 1, u=rand(6))
    wn, sigma, u = norm.spectral_norm(w, 500, u=u)
    assert_close(sigma, target)
    assert sigma1 <= target + 1e-9                                              # the estimate approaches from below
    assert_close(torch.linalg.matrix_norm(wn.reshape(6, -1), ord=2), torch.tensor(1.0, dtype=torch.float64))


def test_norm_bad_input():
    x = torch.zeros(4, 3, 2, 2)
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\)"):
        norm.batch_norm(x, torch.zeros(4), torch.ones(4), training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        norm.batch_norm(torch.zeros(1, 3), torch.zeros(3), torch.ones(3), training=True)
    with pytest.raises(ValueError, match="required when training=False"):
        norm.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="p must be in"):
        norm.dropout(x, 1.5)
    with pytest.raises(ValueError, match="num_groups=2 must divide"):
        norm.group_norm(x, 2)
    with pytest.raises(ValueError, match="normalized_shape"):
        norm.layer_norm(x, (3,))
    with pytest.raises(ValueError, match="every shard must have 3 channels"):
        norm.sync_batch_stats([x, torch.zeros(2, 4, 2, 2)])
    with pytest.raises(ValueError, match="at least 2 samples"):
        norm.zca_whiten(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="input must be 4-D"):
        norm.BatchNorm2d(3)(torch.zeros(4, 3))



# ----------------------------------------------------------------------------- issue 15
def test_sync_batch_stats_is_numerically_stable():
    # data at 1e4 ± 6e-3 in float32: the truth is torch.var of the concatenated data in float64
    g = torch.Generator().manual_seed(0)
    shards = [1e4 + 6e-3 * torch.randn(n, 3, 4, 4, generator=g) for n in (2, 5, 1, 3)]
    full = torch.cat(shards).double()
    true_var = full.var(dim=(0, 2, 3), unbiased=False)
    mean, var, count = norm.sync_batch_stats(shards)
    assert count == full.numel() // 3 and var.dtype == torch.float32
    assert_close(var.double(), true_var, rtol=1e-4, atol=0)
    assert_close(mean.double(), full.mean(dim=(0, 2, 3)), rtol=0, atol=2e-3)   # float32 resolution at 1e4 is 1e-3
    # the all-reduce of sums and sums of squares, E[x²] - E[x]², is pure rounding on the same data
    n = count
    naive = sum((s * s).sum(dim=(0, 2, 3)) for s in shards) / n - (sum(s.sum(dim=(0, 2, 3)) for s in shards) / n) ** 2
    assert ((naive.double() - true_var).abs() / true_var).max() > 10


def test_sync_batch_stats_edge_cases():
    x = rand(4, 3, 2)
    empty = x[:0]
    mean, var, count = norm.sync_batch_stats([empty, x, empty])
    assert count == 8
    assert_close(var, x.var(dim=(0, 2), unbiased=False))
    mean, var, count = norm.sync_batch_stats([empty])
    assert count == 0 and torch.isnan(mean).all() and torch.isnan(var).all()   # torch.var of an empty batch
    with pytest.raises(TypeError, match="shards must be a list or tuple"):
        norm.sync_batch_stats(s for s in [x])
    with pytest.raises(TypeError, match=r"shards\[1\]"):
        norm.sync_batch_stats([x, x.float()])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("shift", [0.0, 1e2, 1e4])
def test_layer_norm_is_as_accurate_as_torch(dtype, shift):
    g = torch.Generator().manual_seed(1)
    x = (shift + torch.randn(8, 16, 64, generator=g)).to(dtype)
    w, b = torch.randn(64, generator=g).to(dtype), torch.randn(64, generator=g).to(dtype)
    exact = F.layer_norm(x.double(), (64,), w.double(), b.double())
    ours = (norm.layer_norm(x, 64, w, b).double() - exact).abs().max()
    theirs = (F.layer_norm(x, (64,), w, b).double() - exact).abs().max()
    assert ours <= 1.5 * theirs + 1e-6, (ours, theirs)


def test_layer_norm_float16_does_not_overflow():
    x = (1e4 * torch.randn(4, 32, generator=torch.Generator().manual_seed(0))).half()   # x² overflows float16
    y = norm.layer_norm(x, 32)
    assert torch.isfinite(y).all()
    assert_close(y, F.layer_norm(x, (32,)), rtol=1e-2, atol=1e-2)


def test_spectral_norm_is_scale_invariant():
    w, u = rand(6, 4, 3, 3).float(), rand(6).float()
    wn, sigma, u1 = norm.spectral_norm(w, 3, u=u)
    tiny_n, tiny_sigma, tiny_u = norm.spectral_norm(w * 1e-30, 3, u=u)
    assert torch.isfinite(tiny_n).all()
    assert_close(tiny_n, wn, rtol=1e-5, atol=1e-6)
    assert_close(tiny_sigma / 1e-30, sigma, rtol=1e-5, atol=0)
    assert_close(tiny_u, u1, rtol=1e-5, atol=1e-6)
    _, big_sigma, _ = norm.spectral_norm(w * 1e30, 500, u=u)
    exact = torch.linalg.matrix_norm(w.double().reshape(6, -1), ord=2)
    assert_close(big_sigma.double() / 1e30, exact, rtol=1e-5, atol=0)
    # torch's own iteration lets eps dominate the tiny weight: its answer is not finite
    module = nn.Module()
    module.weight = nn.Parameter(w * 1e-30)
    nn.utils.spectral_norm(module, n_power_iterations=3)
    hook = next(iter(module._forward_pre_hooks.values()))
    module.weight_u.copy_(u / u.norm())
    assert not torch.isfinite(hook.compute_weight(module, do_power_iteration=True)).all()


def test_spectral_norm_follows_torch_iteration():
    w, u = rand(5, 7), rand(5)
    module = nn.Module()
    module.weight = nn.Parameter(w.clone())
    nn.utils.spectral_norm(module, n_power_iterations=4)
    hook = next(iter(module._forward_pre_hooks.values()))
    module.weight_u.copy_(u / u.norm())
    want = hook.compute_weight(module, do_power_iteration=True)
    got, sigma, u_out = norm.spectral_norm(w, 4, u=u)
    assert_close(got, want)
    assert_close(u_out, module.weight_u)


def test_spectral_norm_bad_u_and_zero_weight():
    w = rand(4, 3)
    with pytest.raises(ValueError, match="u must not be all zeros"):
        norm.spectral_norm(w, 1, u=torch.zeros(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="u must be finite"):
        norm.spectral_norm(w, 1, u=torch.tensor([1.0, math.nan, 0.0, 0.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="u must have 4 elements"):
        norm.spectral_norm(w, 1, u=rand(3))
    with pytest.raises(ValueError, match="n_power_iterations"):
        norm.spectral_norm(w, 0)
    wn, sigma, _ = norm.spectral_norm(torch.zeros(4, 3), 2, u=torch.ones(4))
    assert sigma == 0 and torch.isnan(wn).all()                                # torch: 0 / 0 as well


def test_batch_norm_validates_before_mutating():
    x = rand(4, 3, 2, 2)
    rm, rv = rand(3), rand(3).abs() + 0.5
    before = rm.clone(), rv.clone()
    bad_calls = [
        dict(bias=rand(4)),                                   # wrong channel count
        dict(weight=rand(3).float()),                         # wrong dtype (torch: RuntimeError)
        dict(momentum=math.inf), dict(momentum=math.nan), dict(eps=0.0), dict(eps=math.nan),
        dict(training="False"), dict(training=1),
    ]
    for kw in bad_calls:
        with pytest.raises((ValueError, TypeError)):
            norm.batch_norm(x, rm, rv, **{"training": True, **kw})
        assert torch.equal(rm, before[0]) and torch.equal(rv, before[1]), kw
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        norm.batch_norm(x[:1, :, :1, :1], rm, rv, training=True)
    assert torch.equal(rm, before[0]) and torch.equal(rv, before[1])


def test_batchnorm2d_forward_validates_before_counting():
    bn = norm.BatchNorm2d(3)
    ref = nn.BatchNorm2d(3)
    for bad in (torch.zeros(1, 3, 1, 1), torch.zeros(2, 3, 2, 2, dtype=torch.float64), torch.zeros(2, 4, 2, 2)):
        with pytest.raises((ValueError, TypeError)):
            bn(bad)
        assert bn.num_batches_tracked == 0
        assert torch.equal(bn.running_mean, torch.zeros(3)) and torch.equal(bn.running_var, torch.ones(3))
    with pytest.raises(ValueError):
        ref(torch.zeros(1, 3, 1, 1))
    assert ref.num_batches_tracked == 1                                         # torch counts before it raises


def test_batchnorm2d_empty_batch_matches_torch():
    for momentum in (0.1, None):
        ours, ref = norm.BatchNorm2d(3, momentum=momentum), nn.BatchNorm2d(3, momentum=momentum)
        for x in (torch.zeros(0, 3, 4, 4), rand(5, 3, 2, 2).float(), torch.zeros(2, 3, 0, 4), rand(3, 3, 2, 2).float()):
            y, want = ours(x), ref(x)
            assert y.shape == want.shape
            assert_close(y, want)
        for key, value in ref.state_dict().items():
            assert_close(ours.state_dict()[key], value)
    rm, rv = torch.zeros(3), torch.ones(3)
    assert norm.batch_norm(torch.zeros(0, 3, 5), rm, rv, training=True).shape == (0, 3, 5)
    assert torch.equal(rm, torch.zeros(3)) and torch.equal(rv, torch.ones(3))


def test_batchnorm2d_constructor_checks_and_bias_flag():
    for kw, err in ((dict(affine="False"), TypeError), (dict(track_running_stats=None), TypeError),
                    (dict(momentum=-math.inf), ValueError), (dict(momentum=math.nan), ValueError),
                    (dict(eps=-1.0), ValueError), (dict(num_features=2.0), TypeError), (dict(bias=1), TypeError)):
        with pytest.raises(err, match=next(iter(kw))):
            norm.BatchNorm2d(**{"num_features": 3, **kw})
    assert norm.BatchNorm2d(np.int64(3), affine=np.bool_(True)).num_features == 3
    ours, ref = norm.BatchNorm2d(3, bias=False), nn.BatchNorm2d(3, bias=False)
    assert list(ours.state_dict()) == list(ref.state_dict())
    x = rand(4, 3, 2, 2).float()
    assert_close(ours(x), ref(x))
    with pytest.raises(ValueError, match="eps"):
        norm.BatchNorm2d(3, eps=0.0)(x)                                         # torch refuses eps <= 0 in training too
    assert_close(norm.BatchNorm2d(3, eps=0.0).eval()(x), nn.BatchNorm2d(3, eps=0.0).eval()(x))


def test_mixed_dtypes_follow_torch():
    x = rand(4, 3, 5).half()
    w, b, rm, rv = rand(3).float(), rand(3).float(), rand(3).float(), rand(3).float().abs()
    rm2, rv2 = rm.clone(), rv.clone()
    got = norm.batch_norm(x, rm, rv, w, b, training=True)
    want = F.batch_norm(x, rm2, rv2, w, b, training=True)
    assert got.dtype == want.dtype == torch.float16
    assert_close(got, want, rtol=1e-3, atol=1e-3)
    assert_close(rm, rm2)
    assert_close(norm.group_norm(x, 3, w, b), F.group_norm(x, 3, w, b), rtol=1e-3, atol=1e-3)
    with pytest.raises(TypeError, match="weight"):
        norm.layer_norm(x.float(), 5, torch.ones(5, dtype=torch.float64))       # torch: mixed dtype RuntimeError


def test_group_norm_empty_and_single_values_match_torch():
    assert norm.group_norm(torch.zeros(0, 4, 2, 2), 2).shape == F.group_norm(torch.zeros(0, 4, 2, 2), 2).shape
    with pytest.raises(ValueError):
        F.group_norm(torch.randn(1, 4), 4)
    with pytest.raises(ValueError, match="single value per group"):
        norm.group_norm(torch.randn(1, 4), 4)
    x = torch.randn(3, 4)                                                       # N > 1: torch returns zeros
    assert_close(norm.group_norm(x, 4), F.group_norm(x, 4))
    for bad in (torch.zeros(2, 4, 0), torch.zeros(2, 0, 3)):                    # torch: raw RuntimeError
        with pytest.raises(ValueError, match="input must have C > 0"):
            norm.group_norm(bad, 2)


def test_instance_norm_edge_cases():
    x = rand(0, 3, 4)
    rm, rv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    assert norm.instance_norm(x, rm, rv).shape == (0, 3, 4)
    assert torch.equal(rm, torch.zeros(3, dtype=torch.float64))                 # torch writes NaN here
    with pytest.raises(ValueError):
        F.instance_norm(rand(2, 3, 1))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        norm.instance_norm(rand(2, 3, 1))
    with pytest.raises(ValueError, match="required when use_input_stats=False"):
        norm.instance_norm(rand(2, 3, 4), use_input_stats=False)
    with pytest.raises(TypeError, match="use_input_stats"):
        norm.instance_norm(rand(2, 3, 4), use_input_stats=1)
    y = rand(2, 3, 1)                                                           # eval mode: one position is fine
    want = F.instance_norm(y, rm, rv, use_input_stats=False)
    assert_close(norm.instance_norm(y, rm, rv, use_input_stats=False), want)


@pytest.mark.parametrize("fn,kw", [(norm.layer_norm, dict(normalized_shape=5)), (norm.group_norm, dict(num_groups=3)),
                                   (norm.instance_norm, {})])
def test_eps_must_be_positive_with_batch_statistics(fn, kw):
    x = rand(2, 3, 5)
    for eps in (0.0, -1e-5, math.nan):
        with pytest.raises(ValueError, match="eps"):
            fn(x, eps=eps, **kw)
    assert torch.isfinite(fn(x, eps=math.inf, **kw)).all()


def test_dropout_checks():
    x = rand(3, 4)
    for p in (math.nan, -0.1, 1.5):
        with pytest.raises(ValueError, match="p must be in"):
            norm.dropout(x, p)
        with pytest.raises((ValueError, RuntimeError)):
            F.dropout(x, p)
    for flag in ("False", None, 1):
        with pytest.raises(TypeError, match="training"):
            norm.dropout(x, 0.5, training=flag)
    with pytest.raises(TypeError, match="generator"):
        norm.dropout(x, 0.5, generator=0)
    assert norm.dropout(x, 0.5, training=np.bool_(False)) is x
    assert norm.dropout(x[:0], 0.5).shape == (0, 4)


def test_whitening_checks():
    x = rand(20, 3)
    for eps in (-1e-5, math.nan, math.inf):
        with pytest.raises(ValueError, match="eps"):
            norm.pca_whiten(x, eps)
    with pytest.raises(ValueError, match="x must be finite"):
        norm.zca_whiten(torch.where(x > 2, math.nan, x))
    zca = norm.zca_whiten(x, 0.0)
    assert_close(zca.T @ zca / 20, torch.eye(3, dtype=torch.float64))
    half = norm.zca_whiten(x.half(), 1e-5)
    assert half.dtype == torch.float16 and torch.isfinite(half).all()


def test_norm_flags_must_be_bools():
    x = rand(4, 3, 5)
    for flag in ("False", None, 1, 0):
        with pytest.raises(TypeError, match="training"):
            norm.batch_norm(x, None, None, training=flag)
    assert_close(norm.batch_norm(x, None, None, training=np.bool_(True)), F.batch_norm(x, None, None, training=True))
