"""conv.conv2d's algorithms (im2col, winograd, fft, direct, auto) and cvbook_lib.conv_fast against
F.conv2d (float64 reference), numpy's 1-D correlation for the Winograd transforms, and autograd."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from cvbook_lib import conv, conv_fast

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
GEN = torch.Generator().manual_seed(0)
ALGORITHMS = ["im2col", "winograd", "fft", "direct", "auto"]
# float32 tolerance, relative to the output's largest magnitude max|y|: Winograd F(4x4, 3x3) loses about
# 1e-6 of it (its transforms have entries up to 8), FFT and the direct sums about 1e-7
REL_TOL32 = {"im2col": 2e-6, "direct": 2e-6, "fft": 5e-6, "winograd": 5e-5, "auto": 5e-5}
REL_TOL64 = 1e-12


def rand(*shape, device="cpu", dtype=torch.float64):
    return torch.randn(*shape, generator=GEN, dtype=dtype).to(device)


def assert_rel_close(ours, ref, rel):
    """max |ours - ref| <= rel * max |ref| (ref in float64)."""
    assert ours.shape == ref.shape
    scale = ref.abs().max().item() if ref.numel() else 1.0
    err = (ours.double() - ref.double()).abs().max().item() if ref.numel() else 0.0
    assert err <= rel * max(scale, 1e-30), f"max error {err:.3e} > {rel:g} * max|y| = {rel * scale:.3e}"


# (N, C_in, H, W, C_out, padding, groups): 3x3, stride 1 -- every algorithm applies
GRID = [
    (2, 4, 7, 9, 6, 1, 1),        # H, W not multiples of the tile
    (1, 6, 10, 5, 4, 0, 2),       # grouped, no padding
    (3, 8, 13, 11, 8, 2, 8),      # depthwise, padding 2
    (2, 3, 16, 17, 5, (1, 2), 1),
    (1, 2, 3, 3, 3, 0, 1),        # a single output pixel
    (2, 4, 4, 8, 4, "same", 1),
    (1, 4, 6, 5, 2, "valid", 2),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("case", GRID)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_algorithms_match_torch(algorithm, case, dtype, device):
    N, C, H, W, Fo, p, g = case
    x, w, b = rand(N, C, H, W), rand(Fo, C // g, 3, 3), rand(Fo)
    for bias in (b, None):
        ref = F.conv2d(x, w, bias, 1, p, 1, g)
        ours = conv.conv2d(x.to(device, dtype), w.to(device, dtype), None if bias is None else bias.to(device, dtype),
                           1, p, 1, g, algorithm=algorithm)
        assert ours.dtype == dtype and ours.device.type == device and ours.is_contiguous()
        assert_rel_close(ours.cpu(), ref, REL_TOL32[algorithm] if dtype == torch.float32 else REL_TOL64)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_unbatched_batch_one_and_empty_batch(algorithm):
    x, w, b = rand(3, 9, 7), rand(4, 3, 3, 3), rand(4)
    ref = F.conv2d(x, w, b, padding=1)
    assert_close(conv.conv2d(x, w, b, padding=1, algorithm=algorithm), ref)                     # (C, H, W)
    assert_close(conv.conv2d(x[None], w, b, padding=1, algorithm=algorithm), ref[None])         # batch 1
    empty = conv.conv2d(x[None][:0], w, b, padding=1, algorithm=algorithm)
    assert empty.shape == F.conv2d(x[None][:0], w, b, padding=1).shape == (0, 4, 9, 7)


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_winograd_conv2d_tiles(tile, padding):
    x, w, b = rand(2, 5, 11, 14), rand(7, 5, 3, 3), rand(7)
    assert_rel_close(conv_fast.winograd_conv2d(x, w, b, padding=padding, tile=tile),
                     F.conv2d(x, w, b, padding=padding), REL_TOL64)
    xg, wg = rand(1, 6, 9, 9, dtype=torch.float32), rand(6, 2, 3, 3, dtype=torch.float32)
    assert_rel_close(conv_fast.winograd_conv2d(xg, wg, padding=padding, groups=3, tile=tile),
                     F.conv2d(xg.double(), wg.double(), padding=padding, groups=3), 5e-5)


@pytest.mark.parametrize("budget", [1, 5000, 20000, 1 << 30])
@pytest.mark.parametrize("grad", [False, True])
def test_winograd_chunks_of_tiles(budget, grad, monkeypatch):
    """Chunks of one tile row, several rows, one image and several images give the same result, with and
    without autograd (the chunk size follows _WINOGRAD_CHUNK_BYTES)."""
    monkeypatch.setattr(conv_fast, "_WINOGRAD_CHUNK_BYTES", budget)
    x, w = rand(3, 4, 13, 17).requires_grad_(grad), rand(5, 4, 3, 3).requires_grad_(grad)
    for tile in (2, 4):
        out = conv_fast.winograd_conv2d(x, w, padding=1, tile=tile)
        assert_rel_close(out, F.conv2d(x.detach(), w.detach(), padding=1), REL_TOL64)
        if grad:
            xr, wr = x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
            gy = rand(*out.shape)
            gx, gw = torch.autograd.grad(out, (x, w), gy)
            rx, rw = torch.autograd.grad(F.conv2d(xr, wr, padding=1), (xr, wr), gy)
            assert_close(gx, rx)
            assert_close(gw, rw)


@pytest.mark.parametrize("budget", [1, 300, 3000, 1 << 30])
@pytest.mark.parametrize("grad", [False, True])
def test_im2col_chunks_of_rows_and_images(budget, grad, monkeypatch):
    """im2col in bands of output rows, whole images or several images at a time (stride, dilation, groups)."""
    monkeypatch.setattr(conv, "_IM2COL_CHUNK", budget)
    x, w = rand(3, 4, 13, 17).requires_grad_(grad), rand(6, 2, 3, 5).requires_grad_(grad)
    kw = dict(stride=(2, 1), padding=(2, 1), dilation=(2, 1), groups=2)
    out = conv.conv2d(x, w, algorithm="im2col", **kw)
    assert_rel_close(out, F.conv2d(x.detach(), w.detach(), **kw), REL_TOL64)
    if grad:
        xr, wr = x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
        gy = rand(*out.shape)
        for ours, ref in zip(torch.autograd.grad(out, (x, w), gy),
                             torch.autograd.grad(F.conv2d(xr, wr, **kw), (xr, wr), gy)):
            assert_close(ours, ref)


def test_fft_conv2d_large_kernels():
    """FFT convolution for kernels up to the input size, odd and even, padding 0 to k-1."""
    for k, p in ((11, 5), (15, 7), (8, 0), (9, 8), (12, (3, 6))):
        x, w, b = rand(2, 3, 19, 23), rand(4, 3, k, k), rand(4)
        ref = F.conv2d(x, w, b, padding=p)
        assert_rel_close(conv_fast.fft_conv2d(x, w, b, padding=p), ref, REL_TOL64)
        assert_rel_close(conv_fast.fft_conv2d(x.float(), w.float(), b.float(), padding=p), ref, REL_TOL32["fft"])
    x, w = rand(1, 4, 16, 16), rand(6, 2, 7, 5)
    assert_rel_close(conv_fast.fft_conv2d(x, w, padding=(3, 2), groups=2), F.conv2d(x, w, padding=(3, 2), groups=2),
                     REL_TOL64)


@pytest.mark.parametrize("tile", [2, 4])
def test_winograd_matrices_compute_a_1d_correlation(tile):
    """A^T [(G g) * (B^T d)] equals numpy's valid correlation of d (tile + 2 values) with g (3 taps)."""
    bt, g_, at = conv_fast.winograd_matrices(tile)
    assert bt.shape == (tile + 2, tile + 2) and g_.shape == (tile + 2, 3) and at.shape == (tile, tile + 2)
    rng = np.random.default_rng(0)
    for _ in range(5):
        d, g = rng.standard_normal(tile + 2), rng.standard_normal(3)
        ours = at @ ((g_ @ torch.from_numpy(g)) * (bt @ torch.from_numpy(d)))
        np.testing.assert_allclose(ours.numpy(), np.correlate(d, g, mode="valid"), rtol=1e-12, atol=1e-12)
    assert torch.equal(bt, bt.round())                   # the data transform has integer entries
    assert conv_fast.winograd_matrices(tile, torch.float32)[0].dtype == torch.float32


def test_winograd_error_grows_with_the_tile():
    """Property: in float32, F(4x4, 3x3) is less accurate than F(2x2, 3x3) (larger interpolation points)."""
    x, w = rand(4, 64, 20, 20, dtype=torch.float32), rand(64, 64, 3, 3, dtype=torch.float32)
    ref = F.conv2d(x.double(), w.double(), padding=1)
    err = {m: (conv_fast.winograd_conv2d(x, w, padding=1, tile=m).double() - ref).abs().max().item() for m in (2, 4)}
    direct = (conv.conv2d(x, w, padding=1, algorithm="im2col").double() - ref).abs().max().item()
    assert err[4] > 3 * err[2] and err[4] > 3 * direct, (err, direct)   # measured: about 20x and 30x


def test_auto_matches_torch_on_a_grid():
    cases = [  # (input shape, weight shape, kwargs): auto picks winograd, fft, direct or im2col
        ((2, 16, 12, 10), (16, 16, 3, 3), dict(padding=1)),
        ((1, 32, 9, 9), (32, 16, 3, 3), dict(padding=1, groups=2)),
        ((2, 3, 30, 30), (4, 3, 11, 11), dict(padding=5)),
        ((1, 2, 20, 24), (3, 2, 13, 11), dict(padding=0)),
        ((2, 8, 10, 10), (8, 1, 3, 3), dict(padding=1, groups=8)),
        ((2, 8, 10, 10), (16, 1, 5, 5), dict(stride=2, padding=2, dilation=1, groups=8)),
        ((2, 16, 12, 12), (16, 16, 3, 3), dict(stride=2, padding=1)),
        ((2, 16, 12, 12), (16, 16, 3, 3), dict(dilation=2)),
        ((1, 4, 12, 12), (6, 4, 5, 5), dict(padding=2)),
    ]
    for xs, ws, kw in cases:
        x, w = rand(*xs), rand(*ws)
        ref = F.conv2d(x, w, **kw)
        assert_rel_close(conv.conv2d(x, w, **kw), ref, REL_TOL64)
        assert_rel_close(conv.conv2d(x.float(), w.float(), **kw), ref, REL_TOL32["auto"])


def test_auto_choice_rule():
    """The documented rule, and 'auto' never picks an algorithm that does not apply."""
    def pick(xs, ws, stride=1, dilation=1, groups=1, dtype=torch.float32):
        x, w = torch.zeros(xs, dtype=dtype), torch.zeros(ws, dtype=dtype)
        return conv_fast._choose("auto", x, w, (stride,) * 2, (dilation,) * 2, groups)
    assert pick((1, 64, 8, 8), (64, 64, 3, 3)) == "winograd"
    assert pick((1, 8, 8, 8), (8, 8, 3, 3)) == "im2col"                      # too few channels
    assert pick((1, 64, 8, 8), (64, 64, 3, 3), stride=2) == "im2col"
    assert pick((1, 64, 8, 8), (64, 64, 3, 3), dtype=torch.float16) == "im2col"
    assert pick((1, 4, 32, 32), (4, 4, 11, 11)) == "fft"
    assert pick((1, 4, 32, 32), (4, 4, 11, 11), dilation=2) == "im2col"
    assert pick((1, 4, 32, 32), (4, 4, 11, 11), dtype=torch.bfloat16) == "im2col"
    assert pick((1, 8, 8, 8), (8, 1, 3, 3), groups=8) == "direct"
    assert pick((1, 3, 32, 32), (64, 3, 7, 7), stride=2) == "im2col"


@pytest.mark.parametrize("algorithm", ["winograd", "fft", "direct", "auto"])
def test_gradients_match_autograd_through_torch(algorithm):
    x, w, b = rand(2, 4, 7, 6), rand(6, 2, 3, 3), rand(6)
    ins = [t.clone().requires_grad_() for t in (x, w, b)]
    refs = [t.clone().requires_grad_() for t in (x, w, b)]
    gy = rand(2, 6, 7, 6)
    conv.conv2d(*ins, padding=1, groups=2, algorithm=algorithm).backward(gy)
    F.conv2d(*refs, padding=1, groups=2).backward(gy)
    for a, r in zip(ins, refs):
        assert_close(a.grad, r.grad)
    xs, ws = rand(1, 2, 5, 6).requires_grad_(), rand(3, 2, 3, 3).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, c: conv.conv2d(a, c, padding=(1, 0), algorithm=algorithm), (xs, ws))
    if algorithm == "winograd":
        assert torch.autograd.gradcheck(lambda a, c: conv_fast.winograd_conv2d(a, c, tile=2), (xs, ws))


@pytest.mark.parametrize("algorithm,kwargs,why", [
    ("winograd", dict(weight=(4, 3, 5, 5)), "3x3"),
    ("winograd", dict(weight=(4, 3, 3, 2)), "3x3"),
    ("winograd", dict(stride=2), "stride"),
    ("winograd", dict(dilation=2), "dilation"),
    ("fft", dict(stride=(1, 2)), "stride"),
    ("fft", dict(dilation=2), "dilation"),
    ("fft", dict(dtype=torch.float16), "float32 or float64"),
])
def test_an_algorithm_that_does_not_apply_raises(algorithm, kwargs, why):
    dtype = kwargs.get("dtype", torch.float64)
    x, w = rand(1, 3, 8, 8).to(dtype), rand(*kwargs.get("weight", (4, 3, 3, 3))).to(dtype)
    conv_kw = {k: v for k, v in kwargs.items() if k in ("stride", "dilation")}
    with pytest.raises(ValueError, match=rf"algorithm='{algorithm}' does not apply.*{why}"):
        conv.conv2d(x, w, padding=1, algorithm=algorithm, **conv_kw)


def test_bad_algorithm_values_and_tiles():
    x, w = rand(1, 3, 8, 8), rand(4, 3, 3, 3)
    with pytest.raises(ValueError, match="algorithm must be one of .*got 'winograd4'"):
        conv.conv2d(x, w, algorithm="winograd4")
    for bad in (None, 1, True, ["fft"]):
        with pytest.raises((TypeError, ValueError), match="algorithm"):
            conv.conv2d(x, w, algorithm=bad)
    for bad in (3, 6, "4", 4.0, True):
        with pytest.raises((TypeError, ValueError), match="tile"):
            conv_fast.winograd_conv2d(x, w, tile=bad)
        with pytest.raises((TypeError, ValueError), match="tile"):
            conv_fast.winograd_matrices(bad)
    with pytest.raises(TypeError, match="dtype"):
        conv_fast.winograd_matrices(4, dtype=torch.int64)
    with pytest.raises(ValueError, match="does not apply.*3x3"):
        conv_fast.winograd_conv2d(x, rand(4, 3, 5, 5))
    with pytest.raises(ValueError, match="groups"):                         # the usual checks still run first
        conv_fast.fft_conv2d(x, w, groups=2)
