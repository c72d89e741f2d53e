"""cvbook_lib.conv against torch.nn.functional, scipy.signal and FlopCounterMode."""

import itertools
import math

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.testing import assert_close
from torch.utils.flop_counter import FlopCounterMode

from cvbook_lib import conv

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
GEN = torch.Generator().manual_seed(0)


def rand(*shape, device="cpu", dtype=torch.float64):
    return torch.randn(*shape, generator=GEN, dtype=dtype).to(device)


# (N, C_in, H, W, C_out, kernel, stride, padding, dilation, groups)
CONV_GRID = [
    (2, 3, 7, 7, 4, 3, 1, 0, 1, 1),
    (2, 3, 8, 9, 4, (3, 2), (2, 1), (1, 0), 1, 1),
    (1, 4, 10, 7, 6, 3, 2, 1, 2, 2),
    (3, 6, 9, 9, 6, 3, 1, 1, 1, 6),          # depthwise
    (2, 4, 6, 11, 8, (1, 5), (1, 3), (0, 2), (1, 2), 4),
    (1, 2, 5, 5, 3, 5, 1, 2, 1, 1),          # kernel as large as the input
    (2, 8, 12, 12, 4, 1, 1, 0, 1, 2),        # 1x1, grouped
    (1, 3, 13, 10, 5, 4, 3, 3, (2, 1), 1),   # even kernel, padding > k/2 is allowed for conv
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fn", [conv.conv2d, conv.conv2d_naive])
@pytest.mark.parametrize("case", CONV_GRID)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_matches_torch(fn, case, with_bias, device):
    N, C, H, W, Fo, k, s, p, d, g = case
    kh, kw = (k, k) if isinstance(k, int) else k
    x, w = rand(N, C, H, W, device=device), rand(Fo, C // g, kh, kw, device=device)
    b = rand(Fo, device=device) if with_bias else None
    assert_close(fn(x, w, b, s, p, d, g), F.conv2d(x, w, b, s, p, d, g))


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel,dilation", [(3, 1), (4, 1), ((2, 5), (3, 1)), (1, 1)])
def test_conv2d_string_padding(padding, kernel, dilation):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x, w, b = rand(2, 4, 11, 9), rand(6, 2, kh, kw), rand(6)
    for fn in (conv.conv2d, conv.conv2d_naive):
        assert_close(fn(x, w, b, 1, padding, dilation, 2), F.conv2d(x, w, b, 1, padding, dilation, 2))


def test_conv2d_unbatched_float32_and_grad():
    x, w = rand(3, 8, 8, dtype=torch.float32), rand(5, 3, 3, 3, dtype=torch.float32)
    assert_close(conv.conv2d(x, w, padding=1), F.conv2d(x, w, padding=1))
    xd, wd = rand(1, 2, 5, 6).requires_grad_(), rand(3, 2, 2, 3).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: conv.conv2d(a, b, stride=(2, 1), padding=1), (xd, wd))


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 4),
       d=st.integers(1, 3), ceil_mode=st.booleans())
def test_conv_output_size_is_what_torch_produces(size, k, s, p, d, ceil_mode):
    x = torch.zeros(1, 1, 1, size)
    if not ceil_mode:
        if d * (k - 1) + 1 > size + 2 * p:
            with pytest.raises(ValueError, match="larger than the padded input"):
                conv.conv_output_size(size, k, s, p, d)
            return
        got = F.conv2d(x, torch.zeros(1, 1, 1, k), stride=s, padding=(0, p), dilation=d).shape[-1]
        assert conv.conv_output_size(size, k, s, p, d) == got
    if p <= k // 2:  # pooling's own limit on padding; with ceil_mode a window may hang past the input
        try:
            got = F.max_pool2d(x, (1, k), (1, s), (0, p), (1, d), ceil_mode=ceil_mode).shape[-1]
        except RuntimeError:
            with pytest.raises(ValueError, match="larger than the padded input"):
                conv.conv_output_size(size, k, s, p, d, ceil_mode)
            return
        assert conv.conv_output_size(size, k, s, p, d, ceil_mode) == got


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 12), k=st.integers(1, 5), s=st.integers(1, 4), p=st.integers(0, 3),
       op=st.integers(0, 3), d=st.integers(1, 3))
def test_conv_transpose_output_size_is_what_torch_produces(size, k, s, p, op, d):
    x, w = torch.zeros(1, 1, 1, size), torch.zeros(1, 1, 1, k)
    try:
        want = F.conv_transpose2d(x, w, stride=(1, s), padding=(0, p), output_padding=(0, op),
                                  dilation=(1, d)).shape[-1]
    except RuntimeError:
        with pytest.raises(ValueError):
            conv.conv_transpose_output_size(size, k, s, p, op, d)
        return
    assert conv.conv_transpose_output_size(size, k, s, p, op, d) == want


# (N, C_in, H, W, C_out, kernel, stride, padding, output_padding, groups, dilation)
TRANSPOSE_GRID = [
    (2, 3, 4, 4, 5, 3, 1, 0, 0, 1, 1),
    (2, 4, 5, 3, 6, 3, 2, 1, 1, 2, 1),
    (1, 2, 2, 2, 1, 4, 3, 0, 0, 1, 1),       # the notes' example: 2x2, k4, s3 -> 7x7
    (2, 6, 3, 5, 6, (2, 3), (2, 3), (1, 0), (1, 2), 3, (1, 2)),
    (1, 3, 4, 4, 3, 3, 1, 1, 1, 1, 2),       # output_padding < dilation but not < stride
    (1, 2, 6, 6, 4, 1, 1, 0, 0, 1, 1),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", TRANSPOSE_GRID)
def test_conv_transpose2d_matches_torch(case, device):
    N, C, H, W, Fo, k, s, p, op, g, d = case
    kh, kw = (k, k) if isinstance(k, int) else k
    x, w, b = rand(N, C, H, W, device=device), rand(C, Fo // g, kh, kw, device=device), rand(Fo, device=device)
    want = F.conv_transpose2d(x, w, b, s, p, op, g, d)
    assert_close(conv.conv_transpose2d(x, w, b, s, p, op, g, d), want)
    assert_close(conv.conv_transpose2d(x, w, None, s, p, op, g, d), want - b.view(1, -1, 1, 1))


def test_conv_transpose_is_adjoint_of_conv():
    """<conv(x), y> == <x, conv_transpose(y)> for the same weight: 'transposed' is literal."""
    x, w = rand(2, 3, 9, 8), rand(4, 3, 3, 3)
    y = rand(2, 4, 5, 4)
    lhs = (conv.conv2d(x, w, stride=2, padding=1) * y).sum()
    rhs = (x * conv.conv_transpose2d(y, w, stride=2, padding=1, output_padding=(0, 1))).sum()
    assert_close(lhs, rhs)


@pytest.mark.parametrize("k,d,p,s", [(3, 1, 0, 1), ((2, 3), (2, 1), (1, 2), (2, 3)), (1, 1, 0, 2), (4, 2, 3, 3)])
def test_im2col_col2im_match_unfold_fold(k, d, p, s):
    x = rand(2, 3, 10, 9)
    cols = conv.im2col(x, k, d, p, s)
    assert_close(cols, F.unfold(x, k, d, p, s))
    assert_close(conv.im2col(x[0], k, d, p, s), F.unfold(x[0], k, d, p, s))
    assert_close(conv.col2im(cols, (10, 9), k, d, p, s), F.fold(cols, (10, 9), k, d, p, s))
    assert_close(conv.col2im(cols[0], (10, 9), k, d, p, s), F.fold(cols[0], (10, 9), k, d, p, s))


@pytest.mark.parametrize("case", CONV_GRID + [(2, 4, 9, 9, 6, 3, 1, "same", 2, 2)])
def test_conv2d_backward_matches_autograd(case):
    N, C, H, W, Fo, k, s, p, d, g = case
    kh, kw = (k, k) if isinstance(k, int) else k
    x = rand(N, C, H, W).requires_grad_()
    w, b = rand(Fo, C // g, kh, kw).requires_grad_(), rand(Fo).requires_grad_()
    y = F.conv2d(x, w, b, s, p, d, g)
    gy = rand(*y.shape)
    y.backward(gy)
    gx, gw, gb = conv.conv2d_backward(gy, x.detach(), w.detach(), s, p, d, g)
    assert_close(gx, x.grad)
    assert_close(gw, w.grad)
    assert_close(gb, b.grad)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("shapes", [((6, 7), (3, 3)), ((5, 5), (2, 4)), ((4, 6), (1, 1)), ((3, 2), (5, 4))])
def test_correlate_convolve_match_scipy(mode, shapes):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    for ours, ref in ((conv.correlate2d, scipy.signal.correlate2d), (conv.convolve2d, scipy.signal.convolve2d)):
        np.testing.assert_allclose(ours(ta, tb, mode).numpy(), ref(a, b, mode), atol=1e-12)


def test_correlate_valid_needs_one_input_larger():
    with pytest.raises(ValueError, match="at least as large"):
        conv.correlate2d(torch.ones(3, 5), torch.ones(4, 2), "valid")


def _flops(module, x):
    with FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops()


@pytest.mark.parametrize("cin,cout,k,g,hw", [(3, 16, 5, 1, 96), (64, 64, 3, 1, 56), (32, 64, (3, 1), 4, 14),
                                             (16, 16, 3, 16, 8)])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_cost_matches_torch(cin, cout, k, g, hw, bias):
    layer = torch.nn.Conv2d(cin, cout, k, padding="same", groups=g, bias=bias)
    assert conv.conv2d_params(cin, cout, k, g, bias) == sum(p.numel() for p in layer.parameters())
    x = torch.zeros(1, cin, hw, hw)
    assert 2 * conv.conv2d_macs(cin, cout, k, (hw, hw), g) == _flops(layer, x)


@pytest.mark.parametrize("cin,cout,k,hw", [(32, 64, 3, 28), (3, 8, 5, 17)])
def test_separable_cost_matches_torch(cin, cout, k, hw):
    sep = torch.nn.Sequential(torch.nn.Conv2d(cin, cin, k, padding=k // 2, groups=cin),
                              torch.nn.Conv2d(cin, cout, 1))
    assert conv.separable_conv2d_params(cin, cout, k) == sum(p.numel() for p in sep.parameters())
    assert 2 * conv.separable_conv2d_macs(cin, cout, k, hw) == _flops(sep, torch.zeros(1, cin, hw, hw))
    ratio = conv.separable_conv2d_macs(cin, cout, k, hw) / conv.conv2d_macs(cin, cout, k, hw)
    assert ratio == pytest.approx(1 / cout + 1 / k**2)


# ------------------------------------------------------------------ bad input (BOOK.md section 8)

X, WGT = torch.zeros(1, 4, 8, 8), torch.zeros(6, 2, 3, 3)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(input=torch.zeros(4, 8)), ValueError, "input must be 3-D or 4-D"),
    (dict(input=[[1.0]]), TypeError, "input must be a torch.Tensor"),
    (dict(weight=torch.zeros(6, 3, 3, 3)), ValueError, "input has 4 channels"),
    (dict(groups=3), ValueError, "groups=3 must divide the input channels"),
    (dict(groups=0), ValueError, "groups must be an int >= 1"),
    (dict(stride=0), ValueError, "stride must be >= 1"),
    (dict(dilation=(1, 0)), ValueError, "dilation must be >= 1"),
    (dict(padding=-1), ValueError, "padding must be >= 0"),
    (dict(padding="full"), ValueError, "padding must be an int, a pair, 'same' or 'valid'"),
    (dict(padding="same", stride=2), ValueError, "padding='same' needs stride 1"),
    (dict(weight=torch.zeros(6, 2, 9, 9)), ValueError, "larger than the padded input"),
    (dict(bias=torch.zeros(5)), ValueError, "bias must have 6 elements"),
    (dict(weight=torch.zeros(6, 2, 3, 3, dtype=torch.float64)), TypeError, "dtype and device"),
    (dict(stride=1.5), TypeError, "stride must be an int or a pair"),
])
@pytest.mark.parametrize("fn", [conv.conv2d, conv.conv2d_naive])
def test_conv2d_bad_input(fn, kwargs, error, match):
    args = dict(input=X, weight=WGT, bias=None, stride=1, padding=0, dilation=1, groups=2) | kwargs
    with pytest.raises(error, match=match):
        fn(**args)


@pytest.mark.parametrize("kwargs,match", [
    (dict(output_padding=2, stride=2), "output_padding must be smaller than stride"),
    (dict(padding="same"), "padding must be an int or a pair"),
    (dict(weight=torch.zeros(3, 2, 3, 3)), "weight must have shape"),
    (dict(padding=5), "padding=5 is too large"),
])
def test_conv_transpose2d_bad_input(kwargs, match):
    args = dict(input=X, weight=torch.zeros(4, 3, 3, 3), stride=1, padding=0, output_padding=0) | kwargs
    with pytest.raises(ValueError, match=match):
        conv.conv_transpose2d(**args)


def test_size_and_cost_bad_input():
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        conv.conv_output_size(10, 3, stride=0)
    with pytest.raises(TypeError, match="size must be an int"):
        conv.conv_output_size(10.0, 3)
    with pytest.raises(ValueError, match="groups=3 must divide"):
        conv.conv2d_params(4, 6, 3, groups=3)
    with pytest.raises(ValueError, match="mode must be one of"):
        conv.correlate2d(torch.ones(3, 3), torch.ones(2, 2), "circular")
    with pytest.raises(ValueError, match="L=10 blocks"):
        conv.col2im(torch.zeros(1, 9, 10), (5, 5), 3)
    with pytest.raises(ValueError, match="grad_output must have the shape"):
        conv.conv2d_backward(torch.zeros(1, 6, 5, 5), X, WGT, groups=2)
    with pytest.raises(ValueError, match="input must be 3-D or 4-D"):
        conv.im2col(torch.zeros(8, 8), 3)
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        conv.im2col(X, (3, 0))
    with pytest.raises(TypeError, match="input must have a floating dtype"):
        conv.im2col(torch.zeros(1, 1, 4, 4, dtype=torch.int64), 2)
    with pytest.raises(ValueError, match="in2 must be 2-D"):
        conv.convolve2d(torch.ones(3, 3), torch.ones(1, 2, 2))
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        conv.same_padding(8, 3, stride=0)
    with pytest.raises(ValueError, match="in_channels must be an int >= 1"):
        conv.separable_conv2d_macs(0, 8, 3, 4)
    with pytest.raises(ValueError, match="output_size must be >= 1"):
        conv.conv2d_macs(4, 8, 3, (0, 4))


def test_naive_and_fast_agree_on_many_random_configs():
    """The teaching loop and the im2col path agree on a wider random grid than the torch tests."""
    rng = np.random.default_rng(7)
    for _ in range(30):
        g = int(rng.choice([1, 2, 3]))
        C, Fo = g * int(rng.integers(1, 3)), g * int(rng.integers(1, 3))
        k, s, d, p = (int(v) for v in (rng.integers(1, 4), rng.integers(1, 3), rng.integers(1, 3), rng.integers(0, 3)))
        H, W = (int(v) for v in rng.integers(d * (k - 1) + 1, 10, size=2))
        x, w, b = rand(2, C, H, W), rand(Fo, C // g, k, k), rand(Fo)
        assert_close(conv.conv2d(x, w, b, s, p, d, g), conv.conv2d_naive(x, w, b, s, p, d, g))


def test_all_exports_exist():
    for name in conv.__all__:
        assert callable(getattr(conv, name))
    assert set(itertools.chain(conv.__all__)) >= {"conv2d", "im2col", "col2im", "conv2d_backward"}


@pytest.mark.parametrize("size", [1, 5, 8, 13])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("d", [1, 2])
def test_same_padding_gives_ceil_and_matches_torch_same(size, k, s, d):
    before, after = conv.same_padding(size, k, s, d)
    x, w = rand(1, 1, size, size), rand(1, 1, k, k)
    xp = F.pad(x, (before, after, before, after))
    y = F.conv2d(xp, w, stride=s, dilation=d)
    assert y.shape[-1] == -(-size // s)  # Keras: ceil(W / S)
    if s == 1:
        assert_close(y, F.conv2d(x, w, padding="same", dilation=d))


def test_gradcheck_transpose_and_fold():
    x, w = rand(1, 2, 3, 4).requires_grad_(), rand(2, 3, 3, 2).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, b: conv.conv_transpose2d(a, b, stride=2, padding=1, output_padding=1), (x, w))
    cols = rand(1, 2 * 4, 10).requires_grad_()
    assert torch.autograd.gradcheck(lambda c: conv.col2im(c, (4, 5), 2, padding=(1, 0), stride=(1, 2)), (cols,))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_conv2d_and_transpose_match_torch_on_random_configs(data):
    """Property: for any valid configuration, conv2d and conv_transpose2d equal torch's."""
    g = data.draw(st.integers(1, 3), "groups")
    C, Fo = g * data.draw(st.integers(1, 2), "C/g"), g * data.draw(st.integers(1, 2), "F/g")
    kh, kw = data.draw(st.integers(1, 4), "kh"), data.draw(st.integers(1, 4), "kw")
    s, d = (data.draw(st.integers(1, 3), "stride"), data.draw(st.integers(1, 3), "s_w")), data.draw(st.integers(1, 2))
    p = data.draw(st.integers(0, 2), "padding")
    H = data.draw(st.integers(max(1, d * (kh - 1) + 1 - 2 * p), 9), "H")
    W = data.draw(st.integers(max(1, d * (kw - 1) + 1 - 2 * p), 9), "W")
    x, w, b = rand(2, C, H, W), rand(Fo, C // g, kh, kw), rand(Fo)
    assert_close(conv.conv2d(x, w, b, s, p, d, g), F.conv2d(x, w, b, s, p, d, g))
    op = data.draw(st.integers(0, max(s[0], d) - 1), "output_padding")
    wt = rand(C, Fo // g, kh, kw)
    try:
        want = F.conv_transpose2d(x, wt, b, s, p, (op, 0), g, d)
    except RuntimeError:  # an output length below 1: ours must refuse too
        with pytest.raises(ValueError):
            conv.conv_transpose2d(x, wt, b, s, p, (op, 0), g, d)
        return
    assert_close(conv.conv_transpose2d(x, wt, b, s, p, (op, 0), g, d), want)


# ------------------------------------------------------------------ issue 15: the reference's semantics on every input

@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("shapes", [((6, 7), (3, 3)), ((5, 5), (2, 4)), ((3, 2), (5, 4)), ((4, 4), (4, 4))])
def test_correlate_convolve_complex_match_scipy(mode, shapes):
    """Complex input keeps its imaginary part; correlate2d conjugates in2 (also when 'valid' swaps)."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal(shapes[0]) + 1j * rng.standard_normal(shapes[0])
    b = rng.standard_normal(shapes[1]) + 1j * rng.standard_normal(shapes[1])
    for ours, ref in ((conv.correlate2d, scipy.signal.correlate2d), (conv.convolve2d, scipy.signal.convolve2d)):
        for x, y in ((a, b), (a, b.real), (a.real, b)):
            got = ours(torch.from_numpy(x), torch.from_numpy(y), mode)
            assert got.is_complex()
            np.testing.assert_allclose(got.numpy(), ref(x, y, mode), atol=1e-12)
    got = conv.correlate2d(torch.from_numpy(a).to(torch.complex64), torch.from_numpy(b.real).float(), mode)
    assert got.dtype == torch.complex64


@pytest.mark.parametrize("shapes", [((0, 6), (3, 2)), ((5, 6), (3, 0)), ((0, 6), (0, 2)), ((5, 0), (3, 2)),
                                    ((0, 0), (3, 2)), ((5, 6), (0, 0)), ((1, 1), (0, 3))])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_correlate_convolve_empty_like_scipy(shapes, mode):
    a, b = np.ones(shapes[0]), np.ones(shapes[1])
    for ours, ref in ((conv.correlate2d, scipy.signal.correlate2d), (conv.convolve2d, scipy.signal.convolve2d)):
        try:
            want = ref(a, b, mode)
        except ValueError:
            with pytest.raises(ValueError, match="in1"):
                ours(torch.from_numpy(a), torch.from_numpy(b), mode)
            continue
        got = ours(torch.from_numpy(a), torch.from_numpy(b), mode)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got.numpy(), want)


def test_correlate_promotes_like_scipy_and_checks_its_arguments():
    a, b = np.arange(12).reshape(3, 4), np.array([[0.5, -1.0]])
    got = conv.correlate2d(torch.from_numpy(a), torch.from_numpy(b).float(), "same")
    np.testing.assert_allclose(got.numpy(), scipy.signal.correlate2d(a, b, "same"), rtol=1e-6)
    with pytest.raises(TypeError, match="in1 must be a torch.Tensor"):
        conv.correlate2d(a, torch.from_numpy(b))
    with pytest.raises(TypeError, match="mode must be one of"):
        conv.convolve2d(torch.from_numpy(a), torch.from_numpy(b), 1)


@pytest.mark.parametrize("shape", [(4, 2, 3, 0), (4, 2, 0, 3), (0, 2, 3, 3)])
def test_conv_empty_kernel_is_refused_like_torch(shape):
    x, w = rand(2, 2, 6, 6), rand(*shape)
    with pytest.raises(RuntimeError):
        F.conv2d(x, w, padding=1)
    for fn in (conv.conv2d, conv.conv2d_naive):
        with pytest.raises(ValueError, match="weight must have non-zero channels and kernel size"):
            fn(x, w, padding=1)
    with pytest.raises(ValueError, match="weight must have non-zero channels and kernel size"):
        conv.conv2d_backward(rand(2, 4, 6, 6), x, w, padding=1)
    wt = rand(2, *shape[1:]) if shape[0] else rand(2, 0, 3, 3)
    with pytest.raises(RuntimeError):
        F.conv_transpose2d(x, wt)
    with pytest.raises(ValueError, match="weight must have non-zero channels and kernel size"):
        conv.conv_transpose2d(x, wt)


def test_conv_mixed_dtypes_are_refused_like_torch():
    x, w, b = rand(1, 2, 5, 5, dtype=torch.float32), rand(3, 2, 3, 3, dtype=torch.float32), rand(3)
    with pytest.raises(RuntimeError):
        F.conv2d(x, w, b)
    with pytest.raises(RuntimeError):  # torch's batched path (its one-image path promotes: we refuse always)
        F.conv_transpose2d(x.expand(2, -1, -1, -1), rand(2, 3, 3, 3, dtype=torch.float32), b)
    for call in (lambda: conv.conv2d(x, w, b), lambda: conv.conv2d_naive(x, w, b),
                 lambda: conv.conv_transpose2d(x, rand(2, 3, 3, 3, dtype=torch.float32), b)):
        with pytest.raises(TypeError, match="bias must match input's dtype"):
            call()
    with pytest.raises(TypeError, match="weight must match input's dtype"):
        conv.conv2d(x, w.double())
    with pytest.raises(TypeError, match="input must have a floating dtype"):
        conv.conv2d(x.long(), w.long())


def test_conv_empty_batch_like_torch_and_empty_image_refused():
    x, w, b = rand(0, 4, 7, 6), rand(6, 2, 3, 2), rand(6)
    want = F.conv2d(x, w, b, (2, 1), 1, 1, 2)
    for fn in (conv.conv2d, conv.conv2d_naive):
        assert fn(x, w, b, (2, 1), 1, 1, 2).shape == want.shape
    wt = rand(4, 3, 3, 3)
    assert conv.conv_transpose2d(x, wt, None, 2, 1, 1).shape == F.conv_transpose2d(x, wt, None, 2, 1, 1).shape
    assert conv.im2col(x, 3, padding=1).shape == F.unfold(x, 3, padding=1).shape
    cols = rand(0, 4 * 9, 42)
    assert conv.col2im(cols, (7, 6), 3, padding=1).shape == F.fold(cols, (7, 6), 3, padding=1).shape
    gx, gw, gb = conv.conv2d_backward(torch.zeros(want.shape, dtype=x.dtype), x, w, (2, 1), 1, 1, 2)
    assert gx.shape == x.shape and torch.equal(gw, torch.zeros_like(w)) and torch.equal(gb, torch.zeros_like(b))
    for shape in ((2, 4, 7, 0), (2, 4, 0, 6), (0, 7, 6)):
        with pytest.raises(RuntimeError):
            F.conv2d(rand(*shape), w, padding=1, groups=2)
        with pytest.raises(ValueError, match="input must have non-zero channels, height and width"):
            conv.conv2d(rand(*shape), w, padding=1, groups=2)
        with pytest.raises(ValueError, match="input must have non-zero channels, height and width"):
            conv.im2col(rand(*shape), 1, padding=1)


def test_conv_nan_and_inf_propagate_like_torch():
    """Zero padding is multiplied like input (0 * inf = NaN), as torch's float64 path computes."""
    x, w = rand(2, 2, 6, 5), rand(3, 2, 3, 3)
    x[0, 1, 2, 3], x[1, 0, 0, 0], w[1, 0, 0, 2] = math.nan, math.inf, -math.inf
    for fn in (conv.conv2d, conv.conv2d_naive):
        for padding in (1, "same", 0):
            assert_close(fn(x, w, None, 1, padding), F.conv2d(x, w, None, 1, padding), equal_nan=True)
    wt = rand(2, 3, 3, 3)
    wt[0, 1, 1, 1] = math.inf
    assert_close(conv.conv_transpose2d(x, wt, None, 2, 1), F.conv_transpose2d(x, wt, None, 2, 1), equal_nan=True)


def test_conv_integer_and_option_arguments():
    x, w = rand(1, 4, 7, 7), rand(6, 2, 3, 3)
    n = np.int64
    want = F.conv2d(x, w, None, 2, 1, 1, 2)
    assert_close(conv.conv2d(x, w, None, n(2), (n(1), 1), n(1), n(2)), want)
    assert_close(conv.conv_transpose2d(x, rand(4, 3, 3, 3), None, n(2), n(1), n(1)).shape[-1], 14)
    for kwargs, error, match in [(dict(groups=True), TypeError, "groups must be an int"),
                                 (dict(groups=2.0), TypeError, "groups must be an int"),
                                 (dict(stride=(2, True)), TypeError, "stride must be an int or a pair"),
                                 (dict(dilation=0), ValueError, "dilation must be >= 1"),
                                 (dict(padding="SAME"), ValueError, "padding must be an int, a pair, 'same' or"),
                                 (dict(padding=(1, 1, 1)), ValueError, "padding must be an int or a pair")]:
        with pytest.raises(error, match=match):
            conv.conv2d(x, w, **(dict(groups=2) | kwargs))
    with pytest.raises(ValueError, match="padding must be an int or a pair"):
        conv.conv_transpose2d(x, rand(4, 3, 3, 3), padding="valid")


def test_conv2d_backward_casts_grad_output_like_autograd():
    x, w = rand(2, 4, 7, 6, dtype=torch.float32), rand(6, 2, 3, 2, dtype=torch.float32)
    xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
    y = F.conv2d(xg, wg, None, (2, 1), 1, 1, 2)
    gy = rand(*y.shape)  # float64
    y.backward(gy)
    gx, gw, _ = conv.conv2d_backward(gy, x, w, (2, 1), 1, 1, 2)
    assert gx.dtype == gw.dtype == torch.float32
    assert_close(gx, xg.grad)
    assert_close(gw, wg.grad)
    with pytest.raises(TypeError, match="grad_output must have a floating dtype"):
        conv.conv2d_backward(gy.long(), x, w, (2, 1), 1, 1, 2)


def test_conv_arith_integers_flags_and_impossible_geometry():
    n = np.int64
    got = conv.conv_output_size(n(11), n(3), n(2), n(1), n(1), ceil_mode=np.bool_(True))
    assert got == 6 and type(got) is int
    assert type(conv.conv_transpose_output_size(n(5), n(3), n(2), n(1), n(1))) is int
    assert conv.same_padding(n(13), n(4), n(3)) == conv.same_padding(13, 4, 3)
    assert conv.conv2d_params(n(4), n(6), (n(3), 2), n(2), bias=np.bool_(False)) == 6 * 2 * 3 * 2
    for bad in (True, 3.0, "3", None):
        with pytest.raises(TypeError, match="kernel_size must be an int"):
            conv.conv_output_size(10, bad)
    for bad in ("False", None, 1, 0):
        with pytest.raises(TypeError, match="ceil_mode must be a bool"):
            conv.conv_output_size(10, 3, ceil_mode=bad)
        with pytest.raises(TypeError, match="bias must be a bool"):
            conv.conv2d_params(3, 8, 3, bias=bad)
        with pytest.raises(TypeError, match="bias must be a bool"):
            conv.separable_conv2d_params(3, 8, 3, bias=bad)
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv.conv_output_size(4, 3, dilation=3)
    with pytest.raises(ValueError, match="padding=3 is too large"):
        conv.conv_transpose_output_size(2, 3, 1, 3)
    with pytest.raises(ValueError, match="output_padding must be smaller than stride"):
        conv.conv_transpose_output_size(4, 3, 2, 0, 2)
    with pytest.raises(ValueError, match="in_channels must be an int >= 1"):
        conv.conv2d_params(0, 8, 3)
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        conv.conv2d_macs(4, 8, (3, 0), 5)
