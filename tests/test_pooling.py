"""cvbook_lib.pooling against torch.nn.functional and autograd."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.testing import assert_close

from cvbook_lib import pooling

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
GEN = torch.Generator().manual_seed(0)


def rand(*shape, device="cpu", dtype=torch.float64):
    return torch.randn(*shape, generator=GEN, dtype=dtype).to(device)


# (H, W, kernel, stride, padding, dilation, ceil_mode)
GRID = [
    (8, 8, 2, None, 0, 1, False),
    (7, 9, 3, 2, 1, 1, False),
    (7, 9, 3, 2, 1, 1, True),
    (10, 6, (3, 2), (2, 1), (1, 1), 1, True),
    (9, 9, 3, 3, 1, 2, False),
    (5, 11, (2, 4), (3, 2), (0, 2), (2, 1), True),
    (6, 6, 6, 1, 0, 1, False),
    (13, 13, 3, 2, 0, 1, True),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", GRID)
def test_max_pool2d_values_and_indices_match_torch(case, device):
    H, W, k, s, p, d, ceil = case
    x = rand(2, 3, H, W, device=device)
    v, i = pooling.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    rv, ri = F.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    assert_close(v, rv)
    assert torch.equal(i, ri)
    assert_close(pooling.max_pool2d(x[0], k, s, p, d, ceil), F.max_pool2d(x[0], k, s, p, d, ceil))


def test_max_pool2d_ties_pick_the_first_like_torch():
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1:3, 1:3] = 1.0
    _, i = pooling.max_pool2d(x, 3, 1, 1, return_indices=True)
    _, ri = F.max_pool2d(x, 3, 1, 1, return_indices=True)
    assert torch.equal(i, ri)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", [c for c in GRID if c[5] == 1])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("divisor_override", [None, 3])
def test_avg_pool2d_matches_torch(case, count_include_pad, divisor_override, device):
    H, W, k, s, p, _, ceil = case
    x = rand(2, 3, H, W, device=device)
    args = (k, s, p, ceil, count_include_pad, divisor_override)
    assert_close(pooling.avg_pool2d(x, *args), F.avg_pool2d(x, *args))


@settings(max_examples=150, deadline=None)
@given(H=st.integers(1, 12), W=st.integers(1, 12), k=st.integers(1, 5), s=st.integers(1, 4),
       p=st.integers(0, 2), ceil=st.booleans(), cip=st.booleans())
def test_pooling_matches_torch_or_both_refuse(H, W, k, s, p, ceil, cip):
    x = rand(1, 2, H, W)
    try:
        want_max = F.max_pool2d(x, k, s, p, 1, ceil)
        want_avg = F.avg_pool2d(x, k, s, p, ceil, cip)
    except RuntimeError:
        with pytest.raises(ValueError):
            pooling.max_pool2d(x, k, s, p, 1, ceil)
        return
    assert_close(pooling.max_pool2d(x, k, s, p, 1, ceil), want_max)
    assert_close(pooling.avg_pool2d(x, k, s, p, ceil, cip), want_avg)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("hw,out", [((8, 8), 4), ((7, 10), (3, 4)), ((5, 5), 7), ((9, 6), (None, 2)), ((6, 6), 1)])
def test_adaptive_pools_match_torch(hw, out, device):
    x = rand(2, 3, *hw, device=device)
    assert_close(pooling.adaptive_avg_pool2d(x, out), F.adaptive_avg_pool2d(x, out))
    v, i = pooling.adaptive_max_pool2d(x, out, return_indices=True)
    rv, ri = F.adaptive_max_pool2d(x, out, return_indices=True)
    assert_close(v, rv)
    assert torch.equal(i, ri)
    assert_close(pooling.adaptive_avg_pool2d(x[0], out), F.adaptive_avg_pool2d(x[0], out))


def test_global_and_pyramid_pooling():
    x = rand(2, 5, 13, 7)
    assert_close(pooling.global_avg_pool2d(x), F.adaptive_avg_pool2d(x, 1).flatten(1))
    for mode, ref in (("max", F.adaptive_max_pool2d), ("avg", F.adaptive_avg_pool2d)):
        spp = pooling.spatial_pyramid_pool(x, (1, 2, 4), mode)
        assert spp.shape == (2, 5 * (1 + 4 + 16))
        assert_close(spp, torch.cat([ref(x, level).flatten(1) for level in (1, 2, 4)], dim=1))
    for hw in ((9, 9), (31, 17), (4, 4)):  # any input size, the same length
        assert pooling.spatial_pyramid_pool(rand(1, 5, *hw)).shape == (1, 105)


@pytest.mark.parametrize("case", GRID)
def test_max_pool2d_backward_matches_autograd(case):
    H, W, k, s, p, d, ceil = case
    x = rand(2, 3, H, W).requires_grad_()
    y = F.max_pool2d(x, k, s, p, d, ceil)
    g = rand(*y.shape)
    y.backward(g)
    assert_close(pooling.max_pool2d_backward(g, x.detach(), k, s, p, d, ceil), x.grad)


@pytest.mark.parametrize("case", [c for c in GRID if c[5] == 1])
@pytest.mark.parametrize("count_include_pad,divisor_override", [(True, None), (False, None), (True, 5)])
def test_avg_pool2d_backward_matches_autograd(case, count_include_pad, divisor_override):
    H, W, k, s, p, _, ceil = case
    x = rand(2, 3, H, W).requires_grad_()
    args = (k, s, p, ceil, count_include_pad, divisor_override)
    y = F.avg_pool2d(x, *args)
    g = rand(*y.shape)
    y.backward(g)
    assert_close(pooling.avg_pool2d_backward(g, x.detach(), *args), x.grad)


def test_gradcheck_through_our_pools():
    x = rand(1, 2, 5, 6).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: pooling.avg_pool2d(t, 3, 2, 1, True, False), (x,))
    assert torch.autograd.gradcheck(lambda t: pooling.max_pool2d(t, 2, 1), (x,))
    assert torch.autograd.gradcheck(lambda t: pooling.adaptive_avg_pool2d(t, (2, 4)), (x,))


def test_pooling_bad_input():
    x = torch.zeros(1, 2, 6, 6)
    with pytest.raises(ValueError, match="must be at most half of kernel_size"):
        pooling.max_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        pooling.avg_pool2d(x, 7)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        pooling.max_pool2d(x, 2, stride=0)
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        pooling.avg_pool2d(x, 0)
    with pytest.raises(ValueError, match="input must be 3-D or 4-D"):
        pooling.max_pool2d(torch.zeros(6, 6), 2)
    with pytest.raises(ValueError, match="mode must be one of"):
        pooling.spatial_pyramid_pool(x, mode="median")
    with pytest.raises(ValueError, match="levels must be"):
        pooling.spatial_pyramid_pool(x, levels=())
    with pytest.raises(ValueError, match="levels must be >= 1"):
        pooling.spatial_pyramid_pool(x, levels=(1, 0))
    with pytest.raises(ValueError, match="output_size must be >= 0"):
        pooling.adaptive_avg_pool2d(x, -1)
    with pytest.raises(ValueError, match="divisor_override must be a non-zero int"):
        pooling.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(ValueError, match="grad_output must have the shape"):
        pooling.max_pool2d_backward(torch.zeros(1, 2, 2, 2), x, 2)
    with pytest.raises(TypeError, match="input must be 4-D|input must be a torch.Tensor"):
        pooling.global_avg_pool2d([1.0])


# ------------------------------------------------------------------ issue 15: torch's semantics on every input

@pytest.mark.parametrize("k,s,p,d,ceil", [(3, 2, 1, 1, False), (3, 2, 1, 1, True), (2, 1, 1, 1, False),
                                          ((3, 2), (2, 1), (1, 1), (2, 1), True), (5, 3, 2, 1, True)])
def test_max_pool2d_indices_never_point_into_padding(k, s, p, d, ceil):
    """All -inf (or -inf next to the padding): torch picks the first real cell, never the padding."""
    x = torch.full((2, 2, 7, 6), -math.inf)
    x[1, 1, 3:, 2:] = rand(4, 4, dtype=torch.float32)
    v, i = pooling.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    rv, ri = F.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    assert torch.equal(i, ri)
    assert_close(v, rv)
    assert int(i.min()) >= 0 and int(i.max()) < 7 * 6
    g = rand(*v.shape, dtype=torch.float32)
    xg = x.clone().requires_grad_()
    F.max_pool2d(xg, k, s, p, d, ceil).backward(g)
    assert_close(pooling.max_pool2d_backward(g, x, k, s, p, d, ceil), xg.grad)


def test_max_pools_nan_wins_and_the_last_nan_gives_the_index():
    x = rand(1, 2, 6, 6, dtype=torch.float32)
    x[0, 0, 0, 0] = x[0, 0, 1, 1] = x[0, 1, 4, 5] = math.nan
    pairs = ((pooling.max_pool2d(x, 3, 2, 1, return_indices=True), F.max_pool2d(x, 3, 2, 1, return_indices=True)),
             (pooling.adaptive_max_pool2d(x, (2, 3), True), F.adaptive_max_pool2d(x, (2, 3), True)))
    for ours, ref in pairs:
        assert_close(ours[0], ref[0], equal_nan=True)
        assert torch.equal(ours[1], ref[1])
    inf = torch.full((1, 1, 5, 5), -math.inf)
    assert torch.equal(pooling.adaptive_max_pool2d(inf, 2, True)[1], F.adaptive_max_pool2d(inf, 2, True)[1])


def test_adaptive_pools_empty_plane_refused_empty_batch_and_output_allowed():
    for shape in ((2, 3, 0, 5), (2, 3, 5, 0), (3, 0, 4)):
        for ours, ref in ((pooling.adaptive_avg_pool2d, F.adaptive_avg_pool2d),
                          (pooling.adaptive_max_pool2d, F.adaptive_max_pool2d)):
            with pytest.raises(RuntimeError):
                ref(torch.zeros(shape), 2)
            with pytest.raises(ValueError, match="input must have non-zero height and width"):
                ours(torch.zeros(shape), 2)
    with pytest.raises(ValueError, match="input must have non-zero height and width"):
        pooling.global_avg_pool2d(torch.zeros(2, 3, 0, 4))
    x = rand(0, 3, 5, 7)  # an empty batch and an empty output_size: torch's empty outputs
    for size in (2, (3, 0), 0):
        assert pooling.adaptive_avg_pool2d(x, size).shape == F.adaptive_avg_pool2d(x, size).shape
        v, i = pooling.adaptive_max_pool2d(rand(2, 3, 5, 7), size, True)
        rv, ri = F.adaptive_max_pool2d(rand(2, 3, 5, 7), size, True)
        assert v.shape == rv.shape and i.shape == ri.shape and i.dtype == ri.dtype
    assert pooling.adaptive_avg_pool2d(rand(0, 4, 4), 2).shape == F.adaptive_avg_pool2d(rand(0, 4, 4), 2).shape
    assert pooling.global_avg_pool2d(x).shape == (0, 3)
    assert pooling.spatial_pyramid_pool(x).shape == (0, 3 * 21)


def test_max_and_avg_pool_empty_batch_like_torch_zero_channels_or_plane_refused():
    x = rand(0, 3, 7, 6)
    for ours, ref in ((pooling.max_pool2d, F.max_pool2d), (pooling.avg_pool2d, F.avg_pool2d)):
        assert ours(x, 3, 2, 1, ceil_mode=True).shape == ref(x, 3, 2, 1, ceil_mode=True).shape
        for shape in ((2, 0, 5, 5), (2, 3, 5, 0), (0, 5, 5)):
            with pytest.raises(RuntimeError):
                ref(torch.zeros(shape), 2)
            with pytest.raises(ValueError, match="input must have non-zero channels, height and width"):
                ours(torch.zeros(shape), 2)
    g = rand(*F.max_pool2d(x, 3, 2, 1, ceil_mode=True).shape)
    assert pooling.max_pool2d_backward(g, x, 3, 2, 1, 1, True).shape == x.shape
    assert pooling.avg_pool2d_backward(g, x, 3, 2, 1, True).shape == x.shape


@pytest.mark.parametrize("bad", ["False", None, 1, 0, 1.0])
def test_pooling_flags_must_be_real_bools(bad):
    x = rand(1, 2, 6, 6)
    for call, name in ((lambda: pooling.max_pool2d(x, 2, ceil_mode=bad), "ceil_mode"),
                       (lambda: pooling.max_pool2d(x, 2, return_indices=bad), "return_indices"),
                       (lambda: pooling.avg_pool2d(x, 2, ceil_mode=bad), "ceil_mode"),
                       (lambda: pooling.avg_pool2d(x, 2, count_include_pad=bad), "count_include_pad"),
                       (lambda: pooling.adaptive_max_pool2d(x, 2, return_indices=bad), "return_indices"),
                       (lambda: pooling.avg_pool2d_backward(rand(1, 2, 3, 3), x, 2, count_include_pad=bad),
                        "count_include_pad"),
                       (lambda: pooling.max_pool2d_backward(rand(1, 2, 3, 3), x, 2, ceil_mode=bad), "ceil_mode")):
        with pytest.raises(TypeError, match=f"{name} must be a bool"):
            call()
    assert_close(pooling.max_pool2d(x, 3, 2, ceil_mode=np.bool_(True)), F.max_pool2d(x, 3, 2, ceil_mode=True))


def test_pooling_numpy_ints_and_divisor_override_like_torch():
    x = rand(2, 3, 7, 8)
    n = np.int64
    assert_close(pooling.max_pool2d(x, n(3), (n(2), 1), n(1), n(1)), F.max_pool2d(x, 3, (2, 1), 1, 1))
    assert_close(pooling.adaptive_avg_pool2d(x, (n(3), None)), F.adaptive_avg_pool2d(x, (3, None)))
    assert_close(pooling.spatial_pyramid_pool(x, (n(1), n(2))).shape[1], 3 * 5)
    for div in (-2, 7, n(3)):  # any non-zero int, as torch
        want = F.avg_pool2d(x, 3, 2, 1, divisor_override=int(div))
        assert_close(pooling.avg_pool2d(x, 3, 2, 1, divisor_override=div), want)
    with pytest.raises(RuntimeError):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(ValueError, match="divisor_override must be a non-zero int"):
        pooling.avg_pool2d(x, 2, divisor_override=0)
    for bad in (2.5, True, "2"):
        with pytest.raises(TypeError, match="divisor_override must be an int"):
            pooling.avg_pool2d(x, 2, divisor_override=bad)
    for bad in (True, 2.0, "3", None):
        with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
            pooling.max_pool2d(x, bad)


def test_pooling_backward_cast_grad_output_and_refuse_ints():
    x = rand(2, 3, 7, 8, dtype=torch.float32)
    g = rand(2, 3, 4, 4)  # float64 grad_output for a float32 input: autograd casts it
    for ours, ref in ((pooling.max_pool2d_backward, F.max_pool2d), (pooling.avg_pool2d_backward, F.avg_pool2d)):
        xg = x.clone().requires_grad_()
        ref(xg, 3, 2, 1).backward(g)
        got = ours(g, x, 3, 2, 1)
        assert got.dtype == torch.float32
        assert_close(got, xg.grad)
        with pytest.raises(TypeError, match="grad_output must have a floating dtype"):
            ours(g.long(), x, 3, 2, 1)
        with pytest.raises(ValueError, match="grad_output must have the shape"):
            ours(g[:, :, :3], x, 3, 2, 1)
    with pytest.raises(TypeError, match="input must have a floating dtype"):
        pooling.max_pool2d(torch.zeros(1, 1, 4, 4, dtype=torch.long), 2)
