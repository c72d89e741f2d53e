"""Contract cases for cvbook_lib.compress.quant (references: torch.quantize_per_tensor / per_channel and
int_repr, Tensor.dequantize, MinMaxObserver / PerChannelMinMaxObserver, numpy.percentile, and
torch.fake_quantize_per_tensor_affine / per_channel_affine)."""

import warnings

import numpy as np
import torch
from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver

from contract_specs import Case
from cvbook_lib.compress import quant as Q

_g = torch.Generator().manual_seed(0)
X = torch.randn(4, 3, generator=_g) * 2                               # (4, 3), channels along dim 1 or 0
SC3 = torch.tensor([0.05, 0.1, 0.02])
ZP3 = torch.tensor([3, 10, 7])
Q8 = torch.randint(0, 150, (4, 3), generator=_g, dtype=torch.int64).to(torch.uint8)   # max + 100 fits uint8

_SCALE = "scale must be a finite number > 0 (torch accepts 0, negative and inf scales)"
_NAN = "NaN has no integer: refused (torch's AVX2 kernel gives q_max, its qint32 kernel q_min)"
_FLOAT_ZP = "float zero points are another scheme in torch (round(x/s + z)); refused here"
_BOOL_ZP = "zero points must be an integer dtype (torch reads a bool tensor as 0/1)"


def _bad_scale(arg):
    return {(arg, m): _SCALE for m in ("zero", "negated", "nan", "inf", "-inf")}


def _float32(t):
    """The reference gets float32 where ours takes any float (ours quantizes float64/float16 through float32)."""
    return t.float() if isinstance(t, torch.Tensor) and t.is_floating_point() else t


def _qpt_ref(input, scale, zero_point, dtype):
    return torch.quantize_per_tensor(_float32(input), scale, zero_point, dtype).int_repr()


def _qpc_ref(input, scales, zero_points, axis, dtype):
    if isinstance(zero_points, torch.Tensor) and zero_points.is_floating_point():
        raise TypeError("zero_points")
    return torch.quantize_per_channel(_float32(input), scales, zero_points, axis, dtype).int_repr()


_QTYPE = {torch.uint8: torch.quint8, torch.int8: torch.qint8, torch.int32: torch.qint32}


def _deq_ref(q, scale, zero_point, axis=None):
    if not isinstance(q, torch.Tensor) or q.dtype not in _QTYPE:
        raise TypeError("q")
    if axis is None:
        return torch._make_per_tensor_quantized_tensor(q, scale, zero_point).dequantize()
    if isinstance(zero_point, torch.Tensor) and zero_point.is_floating_point():
        raise TypeError("zero_point")
    return torch._make_per_channel_quantized_tensor(q, scale.double(), zero_point, axis).dequantize()


def _observer_ref(x, qscheme=torch.per_tensor_affine, dtype=torch.quint8, method="minmax", percentile=99.99,
                  quant_min=None, quant_max=None, reduce_range=False, ch_axis=0):
    """One forward of the observer, then calculate_qparams(); percentile: numpy's, then the observer."""
    if not (isinstance(percentile, float) and 50 <= percentile <= 100):
        raise ValueError("percentile")
    if not isinstance(reduce_range, bool) or not isinstance(ch_axis, int):
        raise TypeError("reduce_range / ch_axis")
    per_channel = qscheme in (torch.per_channel_affine, torch.per_channel_symmetric)
    kw = dict(dtype=dtype, qscheme=qscheme, quant_min=quant_min, quant_max=quant_max, reduce_range=reduce_range)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obs = PerChannelMinMaxObserver(ch_axis=ch_axis, **kw) if per_channel else MinMaxObserver(**kw)
        if per_channel and isinstance(x, torch.Tensor) and x.dim() < 2:
            raise IndexError("the per-channel observer flattens from dim 1: x must be at least 2-D")
        if method == "percentile" and x.numel():
            a = x.float().double().numpy()
            rows = np.moveaxis(a, ch_axis, 0).reshape(a.shape[ch_axis], -1) if per_channel else a.reshape(1, -1)
            if qscheme in (torch.per_tensor_symmetric, torch.per_channel_symmetric):
                hi = np.percentile(np.abs(rows), percentile, axis=1)
                lo = -hi
            else:
                lo, hi = np.percentile(rows, 100 - percentile, axis=1), np.percentile(rows, percentile, axis=1)
            ends = torch.from_numpy(np.stack([lo, hi], axis=1)).float()
            if per_channel:
                obs = PerChannelMinMaxObserver(ch_axis=0, **kw)
            obs(ends if per_channel else ends[0])
        elif method in ("minmax", "percentile"):
            obs(x)
        else:
            raise ValueError("method")
        return obs.calculate_qparams()


def _fq_ref(input, scale, zero_point, quant_min, quant_max):
    return torch.fake_quantize_per_tensor_affine(input, scale, zero_point, quant_min, quant_max)


def _fqpc_ref(input, scale, zero_point, axis, quant_min, quant_max):
    """torch takes float32 scales and int32 zero points only; ours any float / int dtype (converted here)."""
    if isinstance(zero_point, torch.Tensor) and zero_point.is_floating_point():
        raise TypeError("zero_point")
    if isinstance(scale, torch.Tensor) and scale.is_floating_point():
        scale = scale.float()
    if isinstance(zero_point, torch.Tensor) and zero_point.dtype != torch.bool:
        zero_point = zero_point.int()
    return torch.fake_quantize_per_channel_affine(input, scale, zero_point, axis, quant_min, quant_max)


_OBS_DIFFERS = {
    ("x", "nan"): "x must be finite (the observer returns a NaN scale and an arbitrary zero point)",
    ("x", "inf"): "x must be finite (the observer returns an infinite scale)",
    ("x", "-inf"): "x must be finite (the observer returns an infinite scale)",
}

SPECS = {
    Q.quantize_per_tensor: [
        Case(Q.quantize_per_tensor, dict(input=X, scale=0.03, zero_point=120, dtype=torch.quint8), ref=_qpt_ref,
             float_only={"input"}, differs={**_bad_scale("scale"), ("input", "nan"): _NAN}),
        Case(Q.quantize_per_tensor, dict(input=X, scale=0.1, zero_point=3, dtype=torch.qint8), ref=_qpt_ref,
             float_only={"input"}, differs={**_bad_scale("scale"), ("input", "nan"): _NAN}),
        Case(Q.quantize_per_tensor, dict(input=X, scale=1e-4, zero_point=-5, dtype=torch.qint32), ref=_qpt_ref,
             float_only={"input"}, differs={**_bad_scale("scale"), ("input", "nan"): _NAN}),
    ],
    Q.quantize_per_channel: [
        Case(Q.quantize_per_channel, dict(input=X, scales=SC3, zero_points=ZP3, axis=1, dtype=torch.quint8),
             ref=_qpc_ref, float_only={"input", "scales"},
             differs={("input", "nan"): _NAN, ("scales", "zero"): _SCALE, ("scales", "nan"): _SCALE,
                      ("scales", "inf"): _SCALE, ("scales", "-inf"): _SCALE,
                      ("zero_points", "float"): _FLOAT_ZP, ("zero_points", "bool"): _BOOL_ZP}),
    ],
    Q.dequantize: [
        Case(Q.dequantize, dict(q=Q8, scale=0.05, zero_point=100), ref=_deq_ref, differs=_bad_scale("scale")),
        Case(Q.dequantize, dict(q=Q8, scale=SC3.double(), zero_point=ZP3, axis=1), ref=_deq_ref,
             float_only={"scale"},
             differs={("scale", "zero"): _SCALE, ("scale", "nan"): _SCALE, ("scale", "inf"): _SCALE,
                      ("scale", "-inf"): _SCALE, ("zero_point", "float"): _FLOAT_ZP, ("zero_point", "bool"): _BOOL_ZP}),
    ],
    Q.calculate_qparams: [
        Case(Q.calculate_qparams, dict(x=X, qscheme=torch.per_tensor_affine, dtype=torch.quint8), ref=_observer_ref,
             float_only={"x"}, differs=_OBS_DIFFERS),
        Case(Q.calculate_qparams, dict(x=X, qscheme=torch.per_tensor_symmetric, dtype=torch.qint8, quant_min=-8,
                                       quant_max=7, reduce_range=False), ref=_observer_ref, float_only={"x"},
             differs=_OBS_DIFFERS),
        Case(Q.calculate_qparams, dict(x=X, qscheme=torch.per_channel_affine, dtype=torch.quint8, quant_min=0,
                                       quant_max=15, ch_axis=1), ref=_observer_ref, float_only={"x"},
             differs={**_OBS_DIFFERS, ("quant_min", "minus1"): "a custom range must fit the dtype (quint8: [0, 255])"}),
        Case(Q.calculate_qparams, dict(x=X, qscheme=torch.per_channel_symmetric, dtype=torch.qint8,
                                       method="percentile", percentile=90.0, ch_axis=0), ref=_observer_ref,
             float_only={"x"}, differs=_OBS_DIFFERS),
    ],
    Q.fake_quantize: [
        Case(Q.fake_quantize, dict(input=X, scale=0.05, zero_point=100, quant_min=0, quant_max=255), ref=_fq_ref,
             any_values={"input"}, differs=_bad_scale("scale")),
        Case(Q.fake_quantize, dict(input=X, scale=0.3, zero_point=0, quant_min=-8, quant_max=7), ref=_fq_ref,
             differs=_bad_scale("scale")),
    ],
    Q.fake_quantize_per_channel: [
        Case(Q.fake_quantize_per_channel, dict(input=X, scale=SC3, zero_point=ZP3, axis=1, quant_min=0,
                                               quant_max=255), ref=_fqpc_ref, float_only={"scale"},
             # +inf: torch's per-channel kernel casts it to int64 (undefined in C++, INT64_MIN on x86) and returns
             # the quant_min value; ours clamps to quant_max like the per-tensor kernel
             # (tests/test_compress_quant.py::test_fake_quantize_per_channel_sends_plus_inf_to_quant_max)
             skip={"input": {"inf"}},
             differs={("scale", "zero"): _SCALE, ("scale", "negated"): _SCALE, ("scale", "nan"): _SCALE,
                      ("scale", "inf"): _SCALE, ("scale", "-inf"): _SCALE, ("zero_point", "float"): _FLOAT_ZP}),
    ],
}
