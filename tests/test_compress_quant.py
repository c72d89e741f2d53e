"""cvbook_lib.compress.quant / qops / lowbit against torch's quantization (torch.quantize_per_tensor and
per_channel, Tensor.dequantize, the MinMax observers, torch.fake_quantize_*), torch.ao.nn.quantized.Linear
and Conv2d, numpy.percentile and sklearn's KMeans; the low-bit schemes against their defining properties."""

import math

import numpy as np
import pytest
import torch
import torch.ao.nn.quantized as nnq
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver

from cvbook_lib.compress import lowbit as L
from cvbook_lib.compress import qops
from cvbook_lib.compress import quant as Q

pytestmark = [pytest.mark.usefixtures("one_thread"),   # torch's own notes: deprecations, observer defaults
              pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions:UserWarning"),
              pytest.mark.filterwarnings("ignore:Please use quant_min and quant_max:UserWarning"),
              pytest.mark.filterwarnings("ignore:must run observer before:UserWarning")]
QTYPES = [torch.quint8, torch.qint8, torch.qint32]
RANGE = {torch.quint8: (0, 255), torch.qint8: (-128, 127), torch.qint32: (-2**31, 2**31 - 1)}
ALIAS = {torch.uint8: torch.quint8, torch.int8: torch.qint8, torch.int32: torch.qint32}


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _with_ties(n, scale, seed):
    """Random values plus exact halfway points (k + 1/2)·scale, where the rounding rule shows."""
    g = _g(seed)
    x = torch.randn(n, generator=g, dtype=torch.float64) * scale * 60
    x[: n // 4] = (torch.randint(-200, 200, (n // 4,), generator=g) + 0.5) * float(np.float32(scale))
    return x


# ----------------------------------------------------------------------------- quantize / dequantize
@pytest.mark.parametrize("dtype", QTYPES)
@pytest.mark.parametrize("in_dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1.0, 0.1, 0.0021485486, 3.7e-5, 17.0])
def test_quantize_per_tensor_equals_torch(dtype, in_dtype, scale):
    x = _with_ties(400, scale, seed=int(scale * 1e4) % 97).to(in_dtype)
    lo, hi = RANGE[dtype]
    for zp in {lo, 0 if lo < 0 else 3, hi // 2, hi} if dtype != torch.qint32 else {0, -7, 2**20}:
        ref = torch.quantize_per_tensor(x.float(), scale, zp, dtype).int_repr()   # torch takes float32 only
        ours = Q.quantize_per_tensor(x, scale, zp, dtype)
        assert ours.dtype == ref.dtype and torch.equal(ours, ref)


def test_quantize_multiplies_by_the_float32_reciprocal():
    x, s = 0.273939937, 0.00214854861                       # fbgemm's example: x / s = 127.49999, x · (1/s) = 127.5
    assert np.float32(x) / np.float32(s) < 127.5 == np.float32(x) * (np.float32(1) / np.float32(s))
    assert Q.quantize_per_tensor(torch.tensor([x]), s, 0, torch.quint8).item() == 128 == \
        torch.quantize_per_tensor(torch.tensor([x]), s, 0, torch.quint8).int_repr().item()


def test_quantize_rounds_half_to_even_and_clamps_infinities():
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, math.inf, -math.inf, 1e30, -1e30])
    for dtype in QTYPES:
        ref = torch.quantize_per_tensor(x, 1.0, 0, dtype).int_repr()
        assert torch.equal(Q.quantize_per_tensor(x, 1.0, 0, dtype), ref)
        lo, hi = RANGE[dtype]
        assert Q.quantize_per_tensor(x, 1.0, 0, dtype).tolist() == [0, 2, 2, 0, -2, -2, hi, lo, hi, lo] if lo < 0 \
            else Q.quantize_per_tensor(x, 1.0, 0, dtype).tolist() == [0, 2, 2, 0, 0, 0, hi, lo, hi, lo]
    # torch's AVX2 kernel adds the zero point to the int32 rounded value and wraps beyond 2^31 steps: quint8 with
    # z >= 128 (the symmetric observers' choice) sends +inf and 1e10 to 0, qint8 with z < 0 sends -inf to +127
    big = torch.tensor([math.inf, 1e10, -1e10])
    assert Q.quantize_per_tensor(big, 1.0, 128, torch.quint8).tolist() == [255, 255, 0]
    assert Q.quantize_per_tensor(torch.tensor([-math.inf, -1e10, 1e10]), 1.0, -5, torch.qint8).tolist() == \
        [-128, -128, 127]


def test_storage_dtypes_are_aliases():
    x = _with_ties(100, 0.05, 1).float()
    for plain, qtype in ALIAS.items():
        assert torch.equal(Q.quantize_per_tensor(x, 0.05, 3, plain), Q.quantize_per_tensor(x, 0.05, 3, qtype))


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float32, st.integers(1, 40), elements=st.floats(-1e6, 1e6, width=32)),
       log_scale=st.floats(-12, 6), zp=st.integers(0, 255), dtype=st.sampled_from(QTYPES))
def test_quantize_per_tensor_hypothesis(x, log_scale, zp, dtype):
    scale = math.exp(log_scale)
    zp = zp - 128 if dtype != torch.quint8 else zp
    t = torch.from_numpy(x)
    # beyond 2^31 steps torch's AVX2 kernel adds the zero point in int32 and wraps (see the test above)
    assume(float(t.abs().max()) / scale < 2**30)
    ref = torch.quantize_per_tensor(t, scale, zp, dtype).int_repr()
    assert torch.equal(Q.quantize_per_tensor(t, scale, zp, dtype), ref)


@pytest.mark.parametrize("dtype", QTYPES)
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_quantize_per_channel_and_dequantize_equal_torch(dtype, axis):
    g = _g(axis)
    x = torch.randn(4, 5, 6, generator=g) * 3
    C = x.shape[axis]
    scales = torch.exp(torch.empty(C, dtype=torch.float64).uniform_(-6, 1, generator=g))   # not float32 values
    lo, hi = RANGE[dtype]
    zps = torch.randint(max(lo, -100), min(hi, 100) + 1, (C,), generator=g)
    ref = torch.quantize_per_channel(x, scales, zps, axis, dtype)
    ours = Q.quantize_per_channel(x, scales, zps, axis, dtype)
    assert ours.dtype == ref.int_repr().dtype and torch.equal(ours, ref.int_repr())
    assert torch.equal(Q.quantize_per_channel(x.double(), scales, zps, axis, dtype), ours)
    deq = Q.dequantize(ours, scales, zps, axis)
    assert deq.dtype == torch.float32 and torch.equal(deq, ref.dequantize())   # float64 scales: multiplied in float64


@pytest.mark.parametrize("dtype", QTYPES)
def test_dequantize_per_tensor_equals_torch_and_round_trips(dtype):
    scale, zp = 0.0123, {torch.quint8: 131, torch.qint8: -9, torch.qint32: 12345}[dtype]
    x = torch.randn(500, generator=_g(3)) * 0.5
    q = torch.quantize_per_tensor(x, scale, zp, dtype)
    ours = Q.dequantize(q.int_repr(), scale, zp)
    assert ours.dtype == torch.float32 and torch.equal(ours, q.dequantize())
    inside = (x > (RANGE[dtype][0] - zp) * scale) & (x < (RANGE[dtype][1] - zp) * scale)
    assert (ours - x)[inside].abs().max() <= scale / 2 * (1 + 1e-5)                  # half a step inside the range


def test_dequantize_int32_does_not_wrap():
    q = torch.tensor([-2**31, 2**31 - 1], dtype=torch.int32)
    exact = torch.tensor([-2**31 - 7, 2**31 - 8], dtype=torch.float64).float()   # rounded once, to float32
    assert torch.equal(Q.dequantize(q, 1.0, 7), exact)


@pytest.mark.parametrize("call, match, error", [
    (lambda: Q.quantize_per_tensor(torch.ones(3), 0.0, 0, torch.quint8), "scale", ValueError),
    (lambda: Q.quantize_per_tensor(torch.ones(3), -0.1, 0, torch.quint8), "scale", ValueError),
    (lambda: Q.quantize_per_tensor(torch.ones(3), math.nan, 0, torch.quint8), "scale", ValueError),
    (lambda: Q.quantize_per_tensor(torch.ones(3), math.inf, 0, torch.quint8), "scale", ValueError),
    (lambda: Q.quantize_per_tensor(torch.ones(3), 1e-45, 0, torch.quint8), "scale", ValueError),
    (lambda: Q.quantize_per_tensor(torch.ones(3), 0.1, 256, torch.quint8), "zero_point", ValueError),
    (lambda: Q.quantize_per_tensor(torch.ones(3), 0.1, -1, torch.quint8), "zero_point", ValueError),
    (lambda: Q.quantize_per_tensor(torch.ones(3), 0.1, 128, torch.qint8), "zero_point", ValueError),
    (lambda: Q.quantize_per_tensor(torch.ones(3), 0.1, 0, torch.float32), "dtype", ValueError),
    (lambda: Q.quantize_per_tensor(torch.ones(3), 0.1, 0, "quint8"), "dtype", TypeError),
    (lambda: Q.quantize_per_tensor(torch.ones(3, dtype=torch.long), 0.1, 0, torch.quint8), "input", TypeError),
    (lambda: Q.quantize_per_tensor(torch.tensor([1.0, math.nan]), 0.1, 0, torch.quint8), "input", ValueError),
    (lambda: Q.quantize_per_channel(torch.ones(2, 3), torch.ones(2), torch.zeros(2, dtype=torch.long), 1,
                                    torch.quint8), "scales", ValueError),
    (lambda: Q.quantize_per_channel(torch.ones(2, 3), torch.ones(3), torch.zeros(3), 1, torch.quint8),
     "zero_points", TypeError),
    (lambda: Q.quantize_per_channel(torch.ones(2, 3), torch.ones(3), torch.zeros(3, dtype=torch.long), 2,
                                    torch.quint8), "axis", ValueError),
    (lambda: Q.quantize_per_channel(torch.ones(2, 3), torch.ones(3), torch.zeros(3, dtype=torch.long), -1,
                                    torch.quint8), "axis", ValueError),
    (lambda: Q.quantize_per_channel(torch.ones(2, 3), torch.tensor([1.0, 0.0, 1.0]), torch.zeros(3, dtype=torch.long),
                                    1, torch.quint8), "scales", ValueError),
    (lambda: Q.quantize_per_channel(torch.ones(2, 3), torch.ones(3), torch.full((3,), 300), 1, torch.quint8),
     "zero_points", ValueError),
    (lambda: Q.dequantize(torch.ones(3), 0.1, 0), "q", TypeError),
    (lambda: Q.dequantize(torch.ones(3, dtype=torch.uint8), 0.1, 300), "zero_point", ValueError),
    (lambda: Q.dequantize(torch.ones(3, dtype=torch.uint8), 0.0, 0), "scale", ValueError),
    (lambda: Q.dequantize(torch.ones(3, 2, dtype=torch.uint8), 0.1, 0, axis=1), "scale", TypeError),
])
def test_quantize_bad_inputs(call, match, error):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------- observers
def _observer(x, qscheme, dtype, quant_min=None, quant_max=None, reduce_range=False, ch_axis=0):
    if qscheme in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        obs = MinMaxObserver(dtype=dtype, qscheme=qscheme, quant_min=quant_min, quant_max=quant_max,
                             reduce_range=reduce_range)
    else:
        obs = PerChannelMinMaxObserver(ch_axis=ch_axis, dtype=dtype, qscheme=qscheme, quant_min=quant_min,
                                       quant_max=quant_max, reduce_range=reduce_range)
    obs(x)
    return obs.calculate_qparams()


def _assert_same_qparams(ours, ref):
    for a, b in zip(ours, ref):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), (ours, ref)


SCHEMES = [torch.per_tensor_affine, torch.per_tensor_symmetric, torch.per_channel_affine, torch.per_channel_symmetric]
_SYM = (torch.per_tensor_symmetric, torch.per_channel_symmetric)


@pytest.mark.parametrize("qscheme", SCHEMES)
@pytest.mark.parametrize("dtype", [torch.quint8, torch.qint8, torch.qint32, torch.uint8, torch.int8])
@pytest.mark.parametrize("in_dtype", [torch.float32, torch.float64])
def test_minmax_qparams_equal_the_observers(qscheme, dtype, in_dtype):
    g = _g(1)
    data = {"mixed": torch.randn(6, 5, generator=g, dtype=in_dtype) * 3 + 0.5,
            "positive": torch.rand(6, 5, generator=g, dtype=in_dtype) + 2,     # min⁻ = 0
            "zeros": torch.zeros(6, 5, dtype=in_dtype),                       # scale = eps
            "tiny": torch.randn(6, 5, generator=g, dtype=in_dtype) * 1e-9}
    signed = dtype in (torch.qint8, torch.int8)
    ranges = [(None, None), (-8, 7) if signed else (0, 15), (-2, 1) if signed else (0, 3)]
    for x in data.values():
        for quant_min, quant_max in ranges:
            for reduce_range in (False, True):
                if reduce_range and qscheme in _SYM and dtype in (torch.quint8, torch.uint8):
                    continue
                for ch_axis in ((0, 1, -1) if qscheme not in (torch.per_tensor_affine, torch.per_tensor_symmetric)
                                else (0,)):
                    kw = dict(quant_min=quant_min, quant_max=quant_max, reduce_range=reduce_range, ch_axis=ch_axis)
                    ours = Q.calculate_qparams(x, qscheme, dtype, **kw)
                    _assert_same_qparams(ours, _observer(x, qscheme, dtype, **kw))


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 6)),
                    elements=st.floats(-1e5, 1e5, width=32)),
       qscheme=st.sampled_from(SCHEMES), dtype=st.sampled_from([torch.quint8, torch.qint8]),
       bits=st.sampled_from([None, 2, 4, 8]))
def test_qparams_hypothesis(x, qscheme, dtype, bits):
    qr = (None, None) if bits is None else ((0, 2**bits - 1) if dtype == torch.quint8 else
                                            (-(2**(bits - 1)), 2**(bits - 1) - 1))
    t = torch.from_numpy(x)
    ours = Q.calculate_qparams(t, qscheme, dtype, quant_min=qr[0], quant_max=qr[1], ch_axis=1)
    _assert_same_qparams(ours, _observer(t, qscheme, dtype, qr[0], qr[1], ch_axis=1))
    scale, zp = ours                                                          # and the result is usable
    if qscheme in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        assert Q.quantize_per_tensor(t, scale, zp, dtype).shape == t.shape
    else:
        assert Q.quantize_per_channel(t, scale, zp, 1, dtype).shape == t.shape


def test_empty_input_gives_torchs_defaults():
    for qscheme in SCHEMES:
        x = torch.zeros(0, 3)
        _assert_same_qparams(Q.calculate_qparams(x, qscheme), _observer(x, qscheme, torch.quint8))


def _percentile_reference(x, qscheme, dtype, p, ch_axis=0):
    """numpy.percentile of the float32 values, then the observer on the clipped range [lo, hi] (per channel)."""
    a = x.float().double().numpy()
    per_channel = qscheme not in (torch.per_tensor_affine, torch.per_tensor_symmetric)
    rows = np.moveaxis(a, ch_axis, 0).reshape(a.shape[ch_axis], -1) if per_channel else a.reshape(1, -1)
    if qscheme in _SYM:
        hi = np.percentile(np.abs(rows), p, axis=1)
        lo = -hi
    else:
        lo, hi = np.percentile(rows, 100 - p, axis=1), np.percentile(rows, p, axis=1)
    ends = torch.from_numpy(np.stack([lo, hi], axis=1)).float()             # [C, 2]: the clipped ranges
    return _observer(ends if per_channel else ends[0], qscheme, dtype, ch_axis=0)


@pytest.mark.parametrize("qscheme", SCHEMES)
@pytest.mark.parametrize("p", [50.0, 90.0, 99.0, 99.99, 100.0])
def test_percentile_qparams_equal_numpy_then_observer(qscheme, p):
    g = _g(5)
    x = torch.randn(3, 1000, generator=g)
    x[0, :3] = torch.tensor([40.0, -60.0, 25.0])                            # outliers the percentile clips
    for dtype in (torch.quint8, torch.qint8):
        ours = Q.calculate_qparams(x, qscheme, dtype, method="percentile", percentile=p)
        _assert_same_qparams(ours, _percentile_reference(x, qscheme, dtype, p))
    if p == 100.0:                                                          # the 100th percentile is the max
        _assert_same_qparams(Q.calculate_qparams(x, qscheme, method="percentile", percentile=100.0),
                             Q.calculate_qparams(x, qscheme))
    if p == 99.0:                                                           # clipping the outliers: a finer step
        assert (Q.calculate_qparams(x, qscheme, method="percentile", percentile=p)[0] <
                Q.calculate_qparams(x, qscheme)[0]).all()


@pytest.mark.parametrize("kwargs, match, error", [
    (dict(qscheme="per_tensor_affine"), "qscheme", TypeError),
    (dict(qscheme=torch.per_channel_affine_float_qparams), "qscheme", ValueError),
    (dict(dtype=torch.float32), "dtype", ValueError),
    (dict(method="mse"), "method", ValueError),
    (dict(method="percentile", percentile=40.0), "percentile", ValueError),
    (dict(percentile=math.nan), "percentile", ValueError),
    (dict(quant_min=0), "quant_max", ValueError),
    (dict(quant_max=15), "quant_min", ValueError),
    (dict(quant_min=-1, quant_max=15), "quant_min", ValueError),
    (dict(quant_min=0, quant_max=256), "quant_max", ValueError),
    (dict(quant_min=0, quant_max=0), "quant_min", ValueError),
    (dict(quant_min=1, quant_max=15), "quant_min", ValueError),
    (dict(reduce_range=1), "reduce_range", TypeError),
    (dict(qscheme=torch.per_tensor_symmetric, reduce_range=True), "reduce_range", ValueError),
    (dict(qscheme=torch.per_channel_affine, ch_axis=2), "ch_axis", ValueError),
    (dict(ch_axis=0.5), "ch_axis", TypeError),
    (dict(x=torch.tensor([1.0, math.nan])), "x", ValueError),
    (dict(x=torch.tensor([1.0, math.inf])), "x", ValueError),
    (dict(x=torch.ones(3, dtype=torch.long)), "x", TypeError),
    (dict(x=torch.ones(3), qscheme=torch.per_channel_symmetric), "x", ValueError),
])
def test_qparams_bad_inputs(kwargs, match, error):
    kw = dict(x=torch.randn(4, 3)) | kwargs
    with pytest.raises(error, match=match):
        Q.calculate_qparams(**kw)


# ----------------------------------------------------------------------------- fake quantization
def _torch_fq(x, fn, *args):
    x = x.clone().requires_grad_(True)
    y = fn(x, *args)
    y.backward(torch.arange(y.numel(), dtype=y.dtype).view(y.shape) % 7 + 1)   # a non-uniform upstream gradient
    return y.detach(), x.grad


@pytest.mark.parametrize("in_dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("qrange", [(0, 255), (-128, 127), (-8, 7), (0, 1)])
def test_fake_quantize_forward_and_ste_backward_equal_torch(in_dtype, qrange):
    lo, hi = qrange
    for scale in (0.1, 0.0021485486, 1.0):
        x = _with_ties(300, scale, 7).to(in_dtype)
        x[:4] = torch.tensor([math.nan, math.inf, -math.inf, 1e30]).to(in_dtype)   # torch: NaN -> quant_min
        for zp in (lo, (lo + hi) // 2, hi):
            ref = _torch_fq(x, torch.fake_quantize_per_tensor_affine, scale, zp, lo, hi)
            ours = _torch_fq(x, Q.fake_quantize, scale, zp, lo, hi)
            for a, b in zip(ours, ref):
                assert a.dtype == b.dtype
                torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


def test_fake_quantize_gradient_is_the_clipping_mask():
    x = torch.tensor([-1.0, -0.26, -0.24, 0.0, 1.2, 1.26, 1.3], requires_grad=True)
    Q.fake_quantize(x, 0.1, 2, 0, 14).sum().backward()                      # range [(0-2)·0.1, (14-2)·0.1]
    # round(-2.6) + 2 = -1 < 0 clipped; round(-2.4) + 2 = 0 kept; round(12.6) + 2 = 15 > 14 clipped
    assert x.grad.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize("in_dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("axis", [0, 1, 3])
def test_fake_quantize_per_channel_equals_torch(in_dtype, axis):
    g = _g(axis)
    x = (torch.randn(3, 4, 2, 5, generator=g) * 2).to(in_dtype)
    x.view(-1)[:2] = torch.tensor([math.nan, -math.inf]).to(in_dtype)
    C = x.shape[axis]
    scale = torch.rand(C, generator=g) * 0.2 + 0.01
    zp = torch.randint(-8, 8, (C,), generator=g, dtype=torch.int32)
    ref = _torch_fq(x, torch.fake_quantize_per_channel_affine, scale, zp, axis, -8, 7)
    ours = _torch_fq(x, Q.fake_quantize_per_channel, scale.double(), zp.long(), axis, -8, 7)  # any float/int dtypes
    for a, b in zip(ours, ref):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


def test_fake_quantize_per_channel_sends_plus_inf_to_quant_max():
    """Our per-channel result equals the per-tensor one for +inf; torch's per-channel kernel casts +inf to
    int64 (undefined behaviour in C++) and, on x86, returns the quant_min value instead."""
    x = torch.tensor([[math.inf, 1e30, 0.3]]).T                               # [3, 1], channel axis 1
    ours = Q.fake_quantize_per_channel(x, torch.tensor([0.5]), torch.tensor([3]), 1, 0, 255)
    assert torch.equal(ours[:, 0], Q.fake_quantize(x[:, 0], 0.5, 3, 0, 255))
    assert ours[:2, 0].tolist() == [(255 - 3) * 0.5] * 2


@pytest.mark.parametrize("call, match, error", [
    (lambda: Q.fake_quantize(torch.ones(3), 0.0, 0, 0, 255), "scale", ValueError),
    (lambda: Q.fake_quantize(torch.ones(3), -1.0, 0, 0, 255), "scale", ValueError),
    (lambda: Q.fake_quantize(torch.ones(3), 0.1, 0, 5, 5), "quant_min", ValueError),
    (lambda: Q.fake_quantize(torch.ones(3), 0.1, 0, 5, 3), "quant_min", ValueError),
    (lambda: Q.fake_quantize(torch.ones(3), 0.1, 16, 0, 15), "zero_point", ValueError),
    (lambda: Q.fake_quantize(torch.ones(3), 0.1, 0, 0.0, 15), "quant_min", TypeError),
    (lambda: Q.fake_quantize(torch.ones(3, dtype=torch.long), 0.1, 0, 0, 15), "input", TypeError),
    (lambda: Q.fake_quantize_per_channel(torch.ones(2, 3), torch.ones(2), torch.zeros(2, dtype=torch.int32), 1,
                                         0, 15), "scale", ValueError),
    (lambda: Q.fake_quantize_per_channel(torch.ones(2, 3), torch.ones(3), torch.zeros(3), 1, 0, 15),
     "zero_point", TypeError),
    (lambda: Q.fake_quantize_per_channel(torch.ones(2, 3), torch.ones(3), torch.zeros(3, dtype=torch.int32), 5,
                                         0, 15), "axis", ValueError),
    (lambda: Q.fake_quantize_per_channel(torch.ones(2, 3), -torch.ones(3), torch.zeros(3, dtype=torch.int32), 1,
                                         0, 15), "scale", ValueError),
])
def test_fake_quantize_bad_inputs(call, match, error):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------- integer kernels
ENGINES = [e for e in ("x86", "fbgemm", "qnnpack", "onednn") if e in torch.backends.quantized.supported_engines]


@pytest.fixture(params=ENGINES)
def engine(request):
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = request.param
    yield request.param
    torch.backends.quantized.engine = before


def _qweight(w, per_channel, axis=0):
    if per_channel:
        ws = (w.abs().amax(dim=tuple(d for d in range(w.dim()) if d != axis)) / 127).double()
        wz = torch.zeros(w.shape[axis], dtype=torch.long)
        return torch.quantize_per_channel(w, ws, wz, axis, torch.qint8), ws, wz
    ws = float(w.abs().max() / 127)
    return torch.quantize_per_tensor(w, ws, 0, torch.qint8), ws, 0


def _activations(x, xs, xz, engine):
    """x quantized to quint8; on x86/fbgemm to 7 bits (0..127), as torch's x86 qconfig does (reduce_range=True):
    fbgemm's AVX2 kernels (CPUs without VNNI) add pairs of u8·s8 products in int16 with saturation
    (vpmaddubsw), so with 8-bit activations torch's own answer can be off by several steps there, while
    2·127·128 = 32512 < 2**15 never saturates."""
    xq = torch.quantize_per_tensor(x, xs, xz, torch.quint8)
    if engine in ("x86", "fbgemm"):
        xq = torch._make_per_tensor_quantized_tensor(xq.int_repr().clamp(0, 127), xs, xz)
    return xq


def _within_one_lsb(ours, ref):
    d = (ours.int() - ref.int()).abs()
    assert ours.dtype == torch.uint8 and ours.shape == ref.shape
    assert d.max() <= 1 and (d > 0).float().mean() < 0.01, (d.max(), (d > 0).sum())


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_quantized_linear_equals_torch_within_one_lsb(engine, per_channel, with_bias):
    g = _g(11)
    x, w, b = torch.randn(2, 16, 48, generator=g), torch.randn(24, 48, generator=g) * 0.1, torch.randn(24, generator=g)
    xs, xz = (0.02, 100) if engine != "onednn" else (0.02, 0)   # onednn: a quint8 input needs zero point 0
    xq = _activations(x, xs, xz, engine)
    wq, ws, wz = _qweight(w, per_channel)
    m = nnq.Linear(48, 24)
    m.set_weight_bias(wq, b if with_bias else None)
    m.scale, m.zero_point = 0.03, 120
    ref = m(xq).int_repr()
    ours = qops.quantized_linear(xq.int_repr(), xs, xz, wq.int_repr(), ws, wz, b if with_bias else None, 0.03, 120)
    _within_one_lsb(ours, ref)
    if engine == "qnnpack":                               # qnnpack quantizes the bias to int32 as Jacob et al.
        assert torch.equal(ours, ref)


def test_quantized_linear_bias_does_not_overflow_with_tiny_scales():
    """With s_x·s_w = 1e-32 the int32 bias round(b / (s_x s_w)) is ~1e32: held in float64 it still gives
    z_out + b/s_out, as torch's float bias does."""
    g = _g(9)
    xq, wq = torch.randint(0, 256, (4, 8), generator=g, dtype=torch.uint8), torch.randint(-9, 9, (3, 8), generator=g,
                                                                                          dtype=torch.int8)
    b = torch.tensor([0.3, -0.7, 1.1])
    m = nnq.Linear(8, 3)
    m.set_weight_bias(torch._make_per_tensor_quantized_tensor(wq, 1e-16, 0), b)
    m.scale, m.zero_point = 0.1, 128
    ref = m(torch._make_per_tensor_quantized_tensor(xq, 1e-16, 128)).int_repr()
    ours = qops.quantized_linear(xq, 1e-16, 128, wq, 1e-16, 0, b, 0.1, 128)
    assert torch.equal(ours, ref) and ours[0].tolist() == [131, 121, 139]


def test_quantized_linear_tracks_the_float_layer():
    """Dequantized, the integer layer is the float layer on the dequantized operands, to half a step plus the
    bias rounding (Jacob et al.'s claim that only the requantization rounds)."""
    g = _g(2)
    xq = torch.randint(0, 256, (32, 64), generator=g, dtype=torch.uint8)
    wq = torch.randint(-127, 128, (16, 64), generator=g, dtype=torch.int8)
    ws, wz, b = torch.rand(16, generator=g, dtype=torch.float64) * 0.01 + 1e-3, torch.zeros(16, dtype=torch.long), \
        torch.randn(16, generator=g)
    out_scale, out_zp = 0.5, 128
    y = qops.quantized_linear(xq, 0.02, 128, wq, ws, wz, b, out_scale, out_zp)
    real = torch.nn.functional.linear((xq.double() - 128) * 0.02, wq.double() * ws[:, None], b.double())
    inside = (real > -128 * out_scale) & (real < 127 * out_scale)
    err = ((y.double() - out_zp) * out_scale - real)[inside].abs()
    assert err.max() <= out_scale / 2 + (0.02 * ws.max() / 2) * 1.0001


@pytest.mark.parametrize("stride, padding, dilation, groups", [
    (1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), ((2, 1), (1, 0), 1, 2), (1, 1, 1, 4)])
@pytest.mark.parametrize("per_channel", [False, True])
def test_quantized_conv2d_equals_torch_within_one_lsb(engine, stride, padding, dilation, groups, per_channel):
    g = _g(3)
    x, w, b = torch.randn(2, 4, 9, 8, generator=g), torch.randn(8, 4 // groups, 3, 3, generator=g) * 0.2, \
        torch.randn(8, generator=g)
    xs, xz = (0.03, 90) if engine != "onednn" else (0.03, 0)
    xq = _activations(x, xs, xz, engine)
    wq, ws, wz = _qweight(w, per_channel)
    m = nnq.Conv2d(4, 8, 3, stride=stride, padding=padding, dilation=dilation, groups=groups)
    m.set_weight_bias(wq, b)
    m.scale, m.zero_point = 0.05, 110
    ref = m(xq).int_repr()
    ours = qops.quantized_conv2d(xq.int_repr(), xs, xz, wq.int_repr(), ws, wz, b, 0.05, 110, stride=stride,
                                 padding=padding, dilation=dilation, groups=groups)
    _within_one_lsb(ours, ref)


_XQ, _WQ = torch.zeros(2, 4, dtype=torch.uint8), torch.zeros(3, 4, dtype=torch.int8)
_XC, _WC = torch.zeros(1, 2, 5, 5, dtype=torch.uint8), torch.zeros(4, 2, 3, 3, dtype=torch.int8)


@pytest.mark.parametrize("call, match, error", [
    (lambda: qops.quantized_linear(_XQ.to(torch.int8), 0.1, 0, _WQ, 0.1, 0, None, 0.1, 0), "x_q", TypeError),
    (lambda: qops.quantized_linear(_XQ, 0.1, 0, _WQ.to(torch.uint8), 0.1, 0, None, 0.1, 0), "w_q", TypeError),
    (lambda: qops.quantized_linear(_XQ[:, :3], 0.1, 0, _WQ, 0.1, 0, None, 0.1, 0), "x_q", ValueError),
    (lambda: qops.quantized_linear(_XQ, 0.0, 0, _WQ, 0.1, 0, None, 0.1, 0), "x_scale", ValueError),
    (lambda: qops.quantized_linear(_XQ, 0.1, 256, _WQ, 0.1, 0, None, 0.1, 0), "x_zp", ValueError),
    (lambda: qops.quantized_linear(_XQ, 0.1, 0, _WQ, -0.1, 0, None, 0.1, 0), "w_scale", ValueError),
    (lambda: qops.quantized_linear(_XQ, 0.1, 0, _WQ, 0.1, 128, None, 0.1, 0), "w_zp", ValueError),
    (lambda: qops.quantized_linear(_XQ, 0.1, 0, _WQ, torch.ones(2), torch.zeros(2, dtype=torch.long), None, 0.1, 0),
     "w_scale", ValueError),
    (lambda: qops.quantized_linear(_XQ, 0.1, 0, _WQ, 0.1, 0, torch.ones(4), 0.1, 0), "bias", ValueError),
    (lambda: qops.quantized_linear(_XQ, 0.1, 0, _WQ, 0.1, 0, None, math.inf, 0), "out_scale", ValueError),
    (lambda: qops.quantized_linear(_XQ, 0.1, 0, _WQ, 0.1, 0, None, 0.1, -1), "out_zp", ValueError),
    (lambda: qops.quantized_conv2d(_XC, 0.1, 0, _WC, 0.1, 0, None, 0.1, 0, groups=3), "groups", ValueError),
    (lambda: qops.quantized_conv2d(_XC, 0.1, 0, _WC, 0.1, 0, None, 0.1, 0, stride=0), "stride", ValueError),
    (lambda: qops.quantized_conv2d(_XC, 0.1, 0, _WC, 0.1, 0, None, 0.1, 0, padding=-1), "padding", ValueError),
    (lambda: qops.quantized_conv2d(_XC[..., :2, :2], 0.1, 0, _WC, 0.1, 0, None, 0.1, 0), "x_q", ValueError),
    (lambda: qops.quantized_conv2d(_XC[0], 0.1, 0, _WC, 0.1, 0, None, 0.1, 0), "x_q", ValueError),
])
def test_integer_kernels_bad_inputs(call, match, error):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------- low bit
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stochastic_rounding_is_unbiased_where_rounding_to_nearest_is_not(dtype):
    n = 200_000
    x = torch.full((n,), 0.3, dtype=dtype)
    sr = L.stochastic_round(x, generator=_g(0))
    assert sr.dtype == dtype and set(sr.unique().tolist()) <= {0.0, 1.0}
    assert torch.round(x).sub(x).mean().abs().item() == pytest.approx(0.3, rel=1e-6)   # RTN: 0.3 every time
    assert abs(sr.mean().item() - 0.3) < 5 * math.sqrt(0.3 * 0.7 / n)                 # SR: 0 within 5 sigma
    errs = [abs(L.stochastic_round(x[:m], generator=_g(1)).mean().item() - 0.3) for m in (100, 10_000, n)]
    assert errs[2] < errs[0] and errs[2] < 5 * math.sqrt(0.21 / n)                   # shrinks like 1/sqrt(n)


def test_stochastic_rounding_accumulates_small_updates():
    """Gupta et al.'s point: on an integer grid, adding 0.1 a thousand times stalls at 0 under RTN; SR reaches ~100."""
    g = _g(4)
    rtn = sr = torch.zeros(64, dtype=torch.float64)
    for _ in range(1000):
        rtn, sr = torch.round(rtn + 0.1), L.stochastic_round(sr + 0.1, generator=g)
    assert rtn.abs().max() == 0 and abs(sr.mean().item() - 100) < 5 * math.sqrt(1000 * 0.09 / 64)


def test_stochastic_rounding_properties():
    x = torch.randn(1000, generator=_g(2), dtype=torch.float64) * 10
    x[:5] = torch.tensor([3.0, -2.0, 0.0, math.inf, -math.inf], dtype=torch.float64)
    sr = L.stochastic_round(x, generator=_g(3))
    assert torch.equal(sr[:5], x[:5])                                     # integers and infinities stay
    assert ((sr == torch.floor(x)) | (sr == torch.ceil(x))).all()
    assert torch.equal(sr, L.stochastic_round(x, generator=_g(3)))         # reproducible
    assert L.stochastic_round(torch.tensor([math.nan])).isnan().all()
    with pytest.raises(TypeError, match="x"):
        L.stochastic_round(torch.ones(3, dtype=torch.long))
    with pytest.raises(TypeError, match="generator"):
        L.stochastic_round(torch.ones(3), generator=0)


@pytest.mark.parametrize("per_channel", [True, False])
def test_binarize_uses_the_least_squares_alpha(per_channel):
    w = torch.randn(6, 3, 3, 3, generator=_g(5), dtype=torch.float64)
    w[0, 0, 0, 0] = 0.0
    out = L.binarize(w, per_channel=per_channel)
    assert out[0, 0, 0, 0] > 0                                             # sign(0) = +1 (BinaryConnect)
    b = torch.where(w >= 0, 1.0, -1.0).to(w.dtype)
    groups = [(slice(o, o + 1),) for o in range(6)] if per_channel else [(slice(None),)]
    for idx in groups:
        bw, ww = b[idx].reshape(-1, 1), w[idx].reshape(-1, 1)
        alpha = torch.linalg.lstsq(bw, ww).solution.item()                 # argmin_a ||w - a·b||²
        assert alpha == pytest.approx(w[idx].abs().mean().item(), rel=1e-12)
        torch.testing.assert_close(out[idx], alpha * b[idx], rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="w"):
        L.binarize(torch.ones(3))
    with pytest.raises(TypeError, match="per_channel"):
        L.binarize(w, per_channel=1)


def test_ternarize_follows_twn():
    w = torch.randn(16, 8, 3, 3, generator=_g(6), dtype=torch.float64)
    out = L.ternarize(w)
    delta = 0.7 * w.abs().mean()
    t = torch.sign(w) * (w.abs() > delta)
    assert torch.equal(torch.sign(out), t)                                 # zero exactly where |w| <= Δ
    alpha = out.abs().max()
    assert set(out.abs().unique().tolist()) == {0.0, alpha.item()}
    lsq = torch.linalg.lstsq(t.reshape(-1, 1), w.reshape(-1, 1)).solution.item()
    assert alpha.item() == pytest.approx(lsq, rel=1e-12)                   # α minimizes ||w - α t||² for this t

    def err(a):
        return ((w - a * t) ** 2).sum().item()

    assert err(alpha) < min(err(alpha * 0.99), err(alpha * 1.01))
    assert torch.equal(L.ternarize(w, threshold_factor=0.0).abs() > 0, w != 0)
    assert (L.ternarize(w, threshold_factor=1e6) == 0).all()               # nothing passes: α = 0
    with pytest.raises(ValueError, match="threshold_factor"):
        L.ternarize(w, threshold_factor=-0.1)
    with pytest.raises(ValueError, match="w"):
        L.ternarize(torch.tensor([1.0, math.nan]))


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_kmeans_codebook_equals_sklearn_from_the_same_init(bits):
    from sklearn.cluster import KMeans

    w = torch.randn(2000, generator=_g(bits), dtype=torch.float64) * 0.05
    k, iters = 2**bits, 50
    cb, idx = L.kmeans_codebook(w, bits, iters=iters)
    init = np.linspace(w.min().item(), w.max().item(), k).reshape(-1, 1)
    km = KMeans(n_clusters=k, init=init, n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd").fit(w.numpy()[:, None])
    assert (np.bincount(km.labels_, minlength=k) > 0).all()                 # no empty cluster: same algorithm
    np.testing.assert_allclose(cb.numpy(), km.cluster_centers_[:, 0], rtol=1e-9, atol=1e-12)
    assert np.array_equal(idx.numpy(), km.labels_)


@pytest.mark.parametrize("init", ["linear", "density", "random"])
def test_kmeans_error_never_increases_and_weights_map_to_the_nearest_centroid(init):
    w = (torch.randn(40, 30, generator=_g(7)) * 0.1).float()
    w[0, :4] = torch.tensor([0.9, -0.8, 0.7, 0.75])                       # rare large weights
    errors = []
    for iters in range(0, 12):
        cb, idx = L.kmeans_codebook(w, 3, iters=iters, init=init, generator=_g(8))
        assert cb.dtype == w.dtype and idx.shape == w.shape and idx.dtype == torch.int64
        d = (w.double()[..., None] - cb.double()).abs()                  # [40, 30, 8]
        assert torch.allclose(d.gather(-1, idx[..., None])[..., 0], d.min(-1).values, rtol=0, atol=1e-12)
        errors.append(((w.double() - cb.double()[idx]) ** 2).sum().item())
    assert all(b <= a * (1 + 1e-12) for a, b in zip(errors, errors[1:])) and errors[-1] < errors[0]
    if init == "linear":
        assert cb.min() == w.min() and errors[0] > errors[-1]              # linear init starts at min and max


def test_codebook_size_bits():
    assert L.codebook_size_bits(1_000_000, 4) == 4_000_000 + 16 * 32
    assert L.codebook_size_bits(10, 8, codebook_bits=16) == 80 + 256 * 16
    rate = 1_000_000 * 32 / L.codebook_size_bits(1_000_000, 4)
    assert rate == pytest.approx(7.999, abs=1e-3)
    with pytest.raises(ValueError, match="bits"):
        L.codebook_size_bits(10, 17)


@pytest.mark.parametrize("kwargs, match, error", [
    (dict(bits=0), "bits", ValueError), (dict(bits=17), "bits", ValueError), (dict(bits=2.0), "bits", TypeError),
    (dict(iters=-1), "iters", ValueError), (dict(init="kmeans++"), "init", ValueError),
    (dict(w=torch.zeros(0)), "w", ValueError), (dict(w=torch.tensor([1.0, math.nan])), "w", ValueError),
    (dict(w=torch.ones(3, dtype=torch.long)), "w", TypeError), (dict(init="random", bits=4), "w", ValueError),
    (dict(generator="seed"), "generator", TypeError),
])
def test_kmeans_bad_inputs(kwargs, match, error):
    kw = dict(w=torch.randn(10), bits=2) | kwargs
    with pytest.raises(error, match=match):
        L.kmeans_codebook(**kw)
