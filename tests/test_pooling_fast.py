"""The separable fast paths of cvbook_lib.pooling (max values without indices, window sums of the
average) against F.max_pool2d / F.avg_pool2d over a grid of geometries, special values and layouts,
and the gradients (which keep torch's routing of a max to one cell)."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from cvbook_lib import pooling
from cvbook_lib._pool_fast import _offset_ranges

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DTYPES = [torch.float32, torch.float64]


def special(shape, seed, dtype=torch.float64, device="cpu"):
    """Small integers (many ties) with some NaN, +inf and -inf cells."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(-2, 3, shape, generator=gen).to(dtype)
    u = torch.rand(shape, generator=gen)
    x[u < 0.04] = math.nan
    x[(u >= 0.04) & (u < 0.08)] = math.inf
    x[(u >= 0.08) & (u < 0.14)] = -math.inf
    return x.to(device)


def geometries():
    """(k, s, p, d, ceil) for kernel 1..4, stride 1..3, padding 0..k//2, dilation 1..2, both ceil modes."""
    for k, s, d, ceil in itertools.product(range(1, 5), range(1, 4), (1, 2), (False, True)):
        for p in range(k // 2 + 1):
            yield k, s, p, d, ceil


def torch_or_none(fn, *args):
    try:
        return fn(*args)
    except RuntimeError:
        return None


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hw", [(7, 6), (5, 9)])
def test_fast_max_pool2d_values_match_torch_on_the_grid(hw, dtype, device):
    x = special((2, 3, *hw), sum(hw), dtype, device)
    checked = 0
    for k, s, p, d, ceil in geometries():
        want = torch_or_none(F.max_pool2d, x, k, s, p, d, ceil)
        if want is None:
            with pytest.raises(ValueError):
                pooling.max_pool2d(x, k, s, p, d, ceil)
            continue
        got = pooling.max_pool2d(x, k, s, p, d, ceil)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert_close(got, want, equal_nan=True, rtol=0, atol=0, msg=f"k={k} s={s} p={p} d={d} ceil={ceil}")
        assert_close(pooling.max_pool2d(x[1], k, s, p, d, ceil), want[1], equal_nan=True, rtol=0, atol=0)
        checked += 1
    assert checked > 80


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hw", [(7, 6), (5, 9)])
def test_fast_avg_pool2d_matches_torch_on_the_grid(hw, dtype, device):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, *hw, generator=gen, dtype=dtype).to(device)
    for (k, s, p, _, ceil), cip, div in itertools.product([g for g in geometries() if g[3] == 1], (True, False),
                                                          (None, 3, -2)):
        args = (k, s, p, ceil, cip, div)
        want = torch_or_none(F.avg_pool2d, x, *args)
        if want is None:
            with pytest.raises(ValueError):
                pooling.avg_pool2d(x, *args)
            continue
        assert_close(pooling.avg_pool2d(x, *args), want, msg=str(args))
        assert_close(pooling.avg_pool2d(x[0], *args), want[0], msg=str(args))


def test_fast_avg_pool2d_special_values_match_torch():
    x = special((2, 3, 8, 7), 5)
    for k, s, p, ceil, cip in [(2, 2, 0, False, True), (3, 2, 1, True, False), (3, 1, 1, False, True)]:
        assert_close(pooling.avg_pool2d(x, k, s, p, ceil, cip), F.avg_pool2d(x, k, s, p, ceil, cip), equal_nan=True)


@pytest.mark.parametrize("device", DEVICES)
def test_fast_paths_take_non_contiguous_and_channels_last_input(device):
    base = special((2, 6, 11, 10), 7, torch.float32, device)
    layouts = [base.to(memory_format=torch.channels_last), base.transpose(2, 3), base[:, ::2, 1:, ::2],
               base.permute(0, 1, 3, 2).contiguous().transpose(2, 3)]
    for x, (k, s, p) in itertools.product(layouts, [(3, 2, 1), (2, 2, 0), (3, 1, 0), (4, 3, 2)]):
        assert_close(pooling.max_pool2d(x, k, s, p), F.max_pool2d(x, k, s, p), equal_nan=True, rtol=0, atol=0)
        y = torch.nan_to_num(x, nan=0.5, posinf=3.0, neginf=-3.0)
        assert_close(pooling.avg_pool2d(y, k, s, p), F.avg_pool2d(y, k, s, p))
        assert_close(pooling.avg_pool2d(y, k, s, p, count_include_pad=False),
                     F.avg_pool2d(y, k, s, p, count_include_pad=False))


def test_fast_paths_rectangular_windows_and_empty_batch():
    x = special((2, 2, 9, 8), 11)
    for k, s, p, d, ceil in [((3, 2), (2, 1), (1, 0), (1, 2), True), ((1, 4), (3, 2), (0, 2), 1, False),
                             ((4, 1), 1, (2, 0), (2, 1), True)]:
        want = F.max_pool2d(x, k, s, p, d, ceil)
        assert_close(pooling.max_pool2d(x, k, s, p, d, ceil), want, equal_nan=True, rtol=0, atol=0)
        if d == 1:
            y = torch.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
            assert_close(pooling.avg_pool2d(y, k, s, p, ceil), F.avg_pool2d(y, k, s, p, ceil))
    e = torch.zeros(0, 3, 7, 6)
    assert pooling.max_pool2d(e, 3, 2, 1, ceil_mode=True).shape == F.max_pool2d(e, 3, 2, 1, ceil_mode=True).shape
    assert pooling.avg_pool2d(e, 3, 2, 1).shape == F.avg_pool2d(e, 3, 2, 1).shape


def test_fast_max_pool2d_never_lets_padding_win_and_never_aliases_the_input():
    x = torch.full((1, 2, 5, 4), -math.inf)
    for k, s, p, d, ceil in [(3, 2, 1, 1, True), (2, 1, 1, 1, False), (2, 1, 1, 2, False), (4, 3, 2, 1, True)]:
        assert torch.equal(pooling.max_pool2d(x, k, s, p, d, ceil), F.max_pool2d(x, k, s, p, d, ceil))
    one = torch.zeros(1, 1, 1, 3)                      # windows whose every cell is padding: -inf, as torch
    assert torch.equal(pooling.max_pool2d(one, 2, 1, 1, 2), F.max_pool2d(one, 2, 1, 1, 2))
    y = torch.randn(1, 2, 6, 6)
    for k, s in [(1, 1), (1, 2)]:
        out = pooling.max_pool2d(y, k, s)
        assert_close(out, F.max_pool2d(y, k, s))
        out.fill_(7.0)
        assert float(y.max()) < 7.0


def test_offset_ranges_cover_exactly_the_inside_cells():
    for n, k, s, p, d in itertools.product(range(1, 8), range(1, 5), range(1, 4), range(3), (1, 2)):
        if p > k // 2:
            continue
        o = (n + 2 * p - d * (k - 1) - 1) // s + 1
        if o < 1:
            continue
        want = {(i, j) for i in range(o) for j in range(k) if 0 <= i * s - p + j * d < n}
        got = set()
        for j in range(k):
            for lo, hi, start in _offset_ranges(n, o, k, s, p, d):
                if start == lo * s - p + j * d:
                    got |= {(i, j) for i in range(lo, hi)}
        assert got == want, (n, k, s, p, d)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d_gradient_with_ties_routes_like_torch(dtype):
    x = special((2, 3, 7, 8), 13, dtype)
    x = torch.nan_to_num(x, nan=1.0, posinf=2.0, neginf=-2.0)      # ties, no NaN
    g = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(1), dtype=dtype)
    for k, s, p, d, ceil in [(3, 2, 1, 1, False), (2, 2, 0, 1, True), (3, 2, 1, 2, True)]:
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = pooling.max_pool2d(a, k, s, p, d, ceil), F.max_pool2d(b, k, s, p, d, ceil)
        assert_close(ya, yb)
        ya.backward(g[..., :ya.shape[-2], :ya.shape[-1]])
        yb.backward(g[..., :yb.shape[-2], :yb.shape[-1]])
        assert torch.equal(a.grad, b.grad)
    with torch.no_grad():                                             # no graph needed: the fast path
        assert torch.equal(pooling.max_pool2d(x.requires_grad_(), 3, 2, 1), F.max_pool2d(x, 3, 2, 1))


def test_avg_pool2d_gradient_matches_torch():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 7, 8, generator=gen, dtype=torch.float64)
    for k, s, p, ceil, cip, div in [(3, 2, 1, True, False, None), (2, 2, 0, False, True, None),
                                    (3, 1, 1, False, True, 5)]:
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = pooling.avg_pool2d(a, k, s, p, ceil, cip, div), F.avg_pool2d(b, k, s, p, ceil, cip, div)
        g = torch.randn(*yb.shape, generator=gen, dtype=torch.float64)
        ya.backward(g)
        yb.backward(g)
        assert_close(a.grad, b.grad)
    t = x[:1, :1].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda t: pooling.avg_pool2d(t, 3, 2, 1, True, False), (t,))
