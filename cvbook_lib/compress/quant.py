"""Uniform affine quantization from scratch: quantize / dequantize, the observers' qparams, fake quantization.

The affine scheme of Jacob et al. 2018 (arXiv 1712.05877) maps a real ``r`` to an integer ``q``:
``q = clamp(round(r / s) + z, q_min, q_max)`` and back ``r ≈ s·(q - z)``: the scale ``s > 0`` is the step,
the zero point ``z`` the integer that stands for the real 0 (so zero padding is exact). Per-channel
quantization gives every slice along ``axis`` its own ``(s, z)`` (Krishnamoorthi 2018, arXiv 1806.08342).
Fake quantization (quantize then dequantize, in float) trains with the straight-through estimator:
gradient 1 where the value was not clipped, 0 where it was (Bengio, Léonard & Courville 2013, arXiv 1308.3432).

Every function equals its torch reference bit for bit (``tests/test_compress_quant.py``), because it does
the arithmetic the way torch's CPU kernels do: ``round`` is half-to-even, and the product ``x·(1/s)`` is
taken in float32 with ``1/s`` rounded to float32, not ``x / s`` (fbgemm's example: x = 0.273939937,
s = 0.00214854861 give x / s = 127.49999 → 127 but x · (1/s) = 127.5 → 128, torch's answer). float64 and
float16 inputs are quantized through their float32 value (``torch.quantize_per_tensor`` refuses them; its
fake-quant and observers do the same), except that fake quantization of float64 rounds ``x·(1/s)`` in float64,
as torch's kernels do (which then round the per-tensor output, but not the per-channel one, to float32).
Deliberate differences, each refused with a clear error: a scale that is not a finite number > 0, NaN in a
tensor to quantize (torch's AVX2 kernel turns it into ``q_max``, its qint32 kernel into ``q_min``), float
zero points, ``quant_min >= quant_max``, observer ranges outside the dtype's, and only one of
``quant_min``/``quant_max``. Where torch's integer arithmetic wraps we do not: its AVX2 ``quantize_per_tensor``
adds z to the int32 ``round(x/s)`` (clipped near 2^31), so beyond 2^31 steps a quint8 with z >= 128 (what the
symmetric observers choose) sends ``+inf`` and large values to 0, and a qint8 with z < 0 sends ``-inf`` to
+127 (here: 255 and -128); its qint32 ``dequantize`` computes ``q - z`` in int32.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._checks import check_bool, check_choice, check_float, check_int, check_tensor

__all__ = ["quantize_per_tensor", "quantize_per_channel", "dequantize", "calculate_qparams", "fake_quantize",
           "fake_quantize_per_channel"]

# dtype -> (q_min, q_max, integer storage dtype), as torch's int_repr()
_QTYPES = {
    torch.quint8: (0, 255, torch.uint8), torch.qint8: (-128, 127, torch.int8),
    torch.qint32: (-2**31, 2**31 - 1, torch.int32), torch.uint8: (0, 255, torch.uint8),
    torch.int8: (-128, 127, torch.int8), torch.int32: (-2**31, 2**31 - 1, torch.int32),
}
_STORAGE = {torch.uint8: (0, 255), torch.int8: (-128, 127), torch.int32: (-2**31, 2**31 - 1)}
_PER_TENSOR = (torch.per_tensor_affine, torch.per_tensor_symmetric)
_PER_CHANNEL = (torch.per_channel_affine, torch.per_channel_symmetric)
_EPS = torch.finfo(torch.float32).eps


# ----------------------------------------------------------------------------- checks
def _check_dtype(dtype, name: str = "dtype") -> tuple[int, int, torch.dtype]:
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"{name} must be a torch.dtype, one of {list(_QTYPES)}, got {type(dtype).__name__} {dtype!r}")
    if dtype not in _QTYPES:
        raise ValueError(f"{name} must be one of {list(_QTYPES)}, got {dtype}")
    return _QTYPES[dtype]


def _check_scale(scale, name: str = "scale") -> float:
    """A finite real > 0 whose float32 value and reciprocal are finite and > 0 (torch's kernels use both)."""
    s = check_float(scale, name, 0.0, min_open=True, allow_inf=False)
    with np.errstate(over="ignore", divide="ignore"):
        s32 = np.float32(s)
        ok = s32 > 0 and np.isfinite(s32) and np.isfinite(np.float32(1) / s32)
    if not ok:
        raise ValueError(f"{name} must be a float32-representable number in [1.2e-38, 3.4e38], got {scale!r}")
    return s


def _check_input(input, name: str = "input") -> torch.Tensor:
    check_tensor(input, name, kind="float")
    if bool(torch.isnan(input).any()):
        raise ValueError(f"{name} must not contain NaN (a quantized integer has no NaN), got a tensor with NaN")
    return input


def _inverse(scale: float, device) -> torch.Tensor:
    """1/s in float32, from the float32 value of s (as torch's kernels compute it)."""
    return torch.tensor(np.float32(1) / np.float32(scale), device=device)


def _check_channels(input, scales, zero_points, axis, qmin: int, qmax: int, names=("input", "scales", "zero_points"),
                    range_name: str = "the dtype's range"):
    """Per-channel arguments: 1-D floating scales (each a valid scale) and 1-D integer zero points in
    [qmin, qmax], one per slice of ``input`` along ``axis`` (0 <= axis < input.dim(), as torch requires).
    Returns (axis, float32 scales, zero points), both reshaped to broadcast against ``input``."""
    tname, sname, zname = names
    check_tensor(scales, sname, ndims=(1,), kind="float")
    check_tensor(zero_points, zname, ndims=(1,), kind="int")
    axis = check_int(axis, "axis")
    if not 0 <= axis < input.dim():
        raise ValueError(f"axis must be an int in [0, {tname}.dim() - 1 = {input.dim() - 1}] (torch refuses negative "
                         f"axes), got axis={axis} for {tname} of shape {tuple(input.shape)}")
    C = input.shape[axis]
    for t, n in ((scales, sname), (zero_points, zname)):
        if t.shape[0] != C:
            raise ValueError(f"{n} must have one element per slice of {tname} along axis {axis} ({tname} has shape "
                             f"{tuple(input.shape)}), got {t.shape[0]}")
        if t.device != input.device:
            raise ValueError(f"{n} must be on {tname}'s device {input.device}, got {t.device}")
    s32 = scales.float()
    if not bool((torch.isfinite(s32) & (s32 > 0) & torch.isfinite(1 / s32)).all()):
        raise ValueError(f"{sname} must hold finite float32 numbers > 0, got {scales.tolist()[:8]}")
    if zero_points.numel() and (int(zero_points.min()) < qmin or int(zero_points.max()) > qmax):
        raise ValueError(f"{zname} must lie in [{qmin}, {qmax}] ({range_name}), got values in "
                         f"[{int(zero_points.min())}, {int(zero_points.max())}]")
    shape = [1] * input.dim()
    shape[axis] = C
    return axis, s32.view(shape), zero_points.view(shape)


def _quantize(x: torch.Tensor, inv, zp, qmin: int, qmax: int, out: torch.dtype) -> torch.Tensor:
    """clamp(round_half_even(x·inv) + zp): the addition in float32 (torch's qint32 kernel adds there too)."""
    v = torch.round(x.float() * inv) + zp
    return v.clamp(qmin, qmax).to(torch.int64).clamp(qmin, qmax).to(out)


# ----------------------------------------------------------------------------- quantize / dequantize
def quantize_per_tensor(input: torch.Tensor, scale, zero_point, dtype: torch.dtype) -> torch.Tensor:
    """``q = clamp(round(input / scale) + zero_point, q_min, q_max)``: ``torch.quantize_per_tensor(...).int_repr()``.

    Args:
        input (Tensor[*]): floating; float64/float16 are quantized through their float32 value. No NaN.
        scale (float or 1-element Tensor): > 0. zero_point (int): in the dtype's range.
        dtype: torch.quint8 / torch.uint8 ([0, 255]), torch.qint8 / torch.int8 ([-128, 127]),
            torch.qint32 / torch.int32 ([-2^31, 2^31 - 1]).
    Returns:
        Tensor[*] of the storage dtype (uint8, int8 or int32). Ties round to even; ±inf clamp to the range.
    """
    _check_input(input)
    qmin, qmax, out = _check_dtype(dtype)
    s = _check_scale(scale)
    z = check_int(zero_point, "zero_point", qmin, qmax)
    return _quantize(input, _inverse(s, input.device), z, qmin, qmax, out)


def quantize_per_channel(input: torch.Tensor, scales: torch.Tensor, zero_points: torch.Tensor, axis: int,
                         dtype: torch.dtype) -> torch.Tensor:
    """Per-channel affine quantization: ``torch.quantize_per_channel(...).int_repr()``.

    Args:
        input (Tensor[..., C, ...]): floating (through float32), no NaN; C = input.shape[axis].
        scales (Tensor[C]): floating, > 0. zero_points (Tensor[C]): integer, in the dtype's range.
        axis (int): 0 <= axis < input.dim() (torch refuses negative axes).
        dtype: as :func:`quantize_per_tensor`.
    Returns:
        Tensor of input's shape and the storage dtype; slice ``c`` uses ``(scales[c], zero_points[c])``.
    """
    _check_input(input)
    qmin, qmax, out = _check_dtype(dtype)
    _, s32, zp = _check_channels(input, scales, zero_points, axis, qmin, qmax)
    return _quantize(input, 1 / s32, zp.float(), qmin, qmax, out)


def dequantize(q: torch.Tensor, scale, zero_point, axis: int | None = None) -> torch.Tensor:
    """``r = scale·(q - zero_point)`` in float32: torch's ``Tensor.dequantize()``.

    Args:
        q (Tensor[*]): integer (uint8 / int8 / int32 storage, or int64).
        scale, zero_point: with ``axis=None`` a float > 0 and an int in q's storage range; otherwise
            Tensor[C] (floating) and Tensor[C] (integer), C = q.shape[axis].
    Returns:
        float32 Tensor[*]. Per tensor, torch multiplies by the float32 scale; per channel by the float64
        one (then rounds to float32): so do we. ``q - z`` is exact here (torch wraps it in int32 for qint32).
    """
    check_tensor(q, "q", kind="int")
    qmin, qmax = _STORAGE.get(q.dtype, (-2**63, 2**63 - 1))
    if axis is None:
        s = _check_scale(scale)
        z = check_int(zero_point, "zero_point", qmin, qmax)
        return (q.long() - z).float() * torch.tensor(np.float32(s), device=q.device)
    if not isinstance(scale, torch.Tensor) or not isinstance(zero_point, torch.Tensor):
        raise TypeError(f"scale and zero_point must be 1-D tensors when axis is given, got "
                        f"{type(scale).__name__} and {type(zero_point).__name__}")
    _, _, zp = _check_channels(q, scale, zero_point, axis, qmin, qmax, ("q", "scale", "zero_point"), "q's dtype")
    return ((q.long() - zp.long()).double() * scale.double().view(zp.shape)).float()


# ----------------------------------------------------------------------------- observers
def _observer_range(dtype, quant_min, quant_max, reduce_range: bool) -> tuple[int, int, bool]:
    """torch.ao.quantization.utils.calculate_qmin_qmax; a custom range must include 0 and fit the dtype."""
    dmin, dmax, _ = _check_dtype(dtype)
    if (quant_min is None) != (quant_max is None):
        missing = "quant_max" if quant_max is None else "quant_min"
        raise ValueError(f"quant_min and quant_max must be given together ({missing} is None; torch would "
                         f"silently ignore the other one)")
    if quant_min is None:
        if reduce_range and dtype in (torch.quint8, torch.uint8, torch.qint8, torch.int8):
            return dmin // 2, dmax // 2, False
        return dmin, dmax, False
    qmin = check_int(quant_min, "quant_min", dmin, 0)
    qmax = check_int(quant_max, "quant_max", 0, dmax)
    if qmin >= qmax:
        raise ValueError(f"quant_min must be < quant_max, got quant_min={qmin}, quant_max={qmax}")
    return (qmin // 2, qmax // 2, True) if reduce_range else (qmin, qmax, True)


def _percentile(y: torch.Tensor, p: float) -> torch.Tensor:
    """Row-wise percentile of y (Tensor[C, n], n >= 1), numpy's default 'linear' method, in float64."""
    s = y.double().sort(dim=1).values
    n = s.shape[1]
    pos = p / 100 * (n - 1)
    lo = min(int(math.floor(pos)), n - 1)
    hi, t = min(lo + 1, n - 1), pos - lo
    a, b = s[:, lo], s[:, hi]
    return a + (b - a) * t if t < 0.5 else b - (b - a) * (1 - t)   # numpy's _lerp, both halves


def _qparams_from_range(min_val, max_val, symmetric: bool, dtype, qmin: int, qmax: int, custom: bool):
    """torch.ao.quantization.observer.UniformQuantizationObserverBase._calculate_qparams, op for op."""
    eps = torch.tensor([_EPS], device=min_val.device)
    min_neg = torch.min(min_val, torch.zeros_like(min_val))
    max_pos = torch.max(max_val, torch.zeros_like(max_val))
    if symmetric:
        max_pos = torch.max(-min_neg, max_pos)
        scale = torch.max(max_pos / (float(qmax - qmin) / 2), eps)
        unsigned = dtype in (torch.quint8, torch.uint8)
        z = ((qmin + qmax) // 2 if custom else 128) if unsigned else 0
        zero_point = torch.full(min_val.shape, z, dtype=torch.int64, device=min_val.device)
    else:
        scale = torch.max((max_pos - min_neg) / float(qmax - qmin), eps)
        zero_point = torch.clamp(qmin - torch.round(min_neg / scale).to(torch.int32), qmin, qmax)
    if min_val.dim() == 0:                                             # per tensor: shape [1], as torch
        scale, zero_point = scale.reshape(1), zero_point.reshape(1)
    return scale, zero_point


def calculate_qparams(x: torch.Tensor, qscheme=torch.per_tensor_affine, dtype: torch.dtype = torch.quint8,
                      method: str = "minmax", percentile: float = 99.99, quant_min: int | None = None,
                      quant_max: int | None = None, reduce_range: bool = False, ch_axis: int = 0):
    """(scale, zero_point) from the range of ``x``: ``MinMaxObserver`` / ``PerChannelMinMaxObserver``.

    With ``method='minmax'`` the range is [min(x), max(x)] and the answer is that of the observer after one
    forward on ``x`` (``calculate_qparams()``), bit for bit. Affine: ``s = (max⁺ - min⁻)/(q_max - q_min)``,
    ``z = clamp(q_min - round(min⁻/s))`` with ``min⁻ = min(min, 0)``, ``max⁺ = max(max, 0)`` (0 is always
    exactly representable). Symmetric: ``s = max(|min⁻|, max⁺)/((q_max - q_min)/2)``, z = 0 (signed) or
    128 (unsigned; the midpoint (q_min + q_max)//2 for a custom range). s is at least float32 eps.
    ``method='percentile'`` clips outliers first: [P_{100-p}(x), P_p(x)] (affine) or [-P_p(|x|), P_p(|x|)]
    (symmetric), numpy's linear-interpolation percentile, then the same formulas.

    Args:
        x (Tensor[*]): floating, finite; computed in float32 as the observers do. Per channel: >= 2-D.
        qscheme: torch.per_tensor_affine / per_tensor_symmetric / per_channel_affine / per_channel_symmetric.
        dtype: as :func:`quantize_per_tensor`. percentile: in [50, 100].
        quant_min, quant_max: a custom range (both or neither) including 0 inside the dtype's, e.g. 0..15
            for 4 bits. reduce_range: halve the range (fbgemm's 7-bit activations). ch_axis: the channel dim.
    Returns:
        (scale float32 Tensor[1] or [C], zero_point Tensor[1] or [C]: int32 affine, int64 symmetric, as torch).
        An empty ``x`` gives torch's defaults ``(tensor([1.]), tensor([0]))``.
    """
    check_tensor(x, "x", kind="float")
    if not isinstance(qscheme, torch.qscheme):
        raise TypeError(f"qscheme must be a torch.qscheme, got {type(qscheme).__name__} {qscheme!r}")
    if qscheme not in _PER_TENSOR + _PER_CHANNEL:
        raise ValueError(f"qscheme must be one of {list(_PER_TENSOR + _PER_CHANNEL)}, got {qscheme}")
    method = check_choice(method, "method", ("minmax", "percentile"))
    p = check_float(percentile, "percentile", 50.0, 100.0)
    check_bool(reduce_range, "reduce_range")
    qmin, qmax, custom = _observer_range(dtype, quant_min, quant_max, reduce_range)
    symmetric = qscheme in (torch.per_tensor_symmetric, torch.per_channel_symmetric)
    if symmetric and reduce_range and dtype in (torch.quint8, torch.uint8):   # z = 128 would not fit [0, 127]
        raise ValueError(f"reduce_range=True cannot be used with a symmetric qscheme and dtype {dtype} "
                         f"(torch's observers refuse it too)")
    per_channel = qscheme in _PER_CHANNEL
    ch_axis = check_int(ch_axis, "ch_axis")
    if per_channel:
        if x.dim() < 2:
            raise ValueError(f"x must be at least 2-D for a per-channel qscheme, got shape {tuple(x.shape)}")
        ch_axis = check_int(ch_axis, "ch_axis", -x.dim(), x.dim() - 1) % x.dim()
    if x.numel() == 0:
        return torch.tensor([1.0], device=x.device), torch.tensor([0], device=x.device)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x must be finite, got a tensor with NaN or inf")
    y = x.detach().float()
    y = y.movedim(ch_axis, 0).flatten(1) if per_channel else y.reshape(1, -1)   # [C, n]
    if method == "minmax":
        lo, hi = torch.aminmax(y, dim=1)
    elif symmetric:
        hi = _percentile(y.abs(), p).float()
        lo = -hi
    else:
        lo, hi = _percentile(y, 100 - p).float(), _percentile(y, p).float()
    if not per_channel:
        lo, hi = lo[0], hi[0]
    return _qparams_from_range(lo, hi, symmetric, dtype, qmin, qmax, custom)


# ----------------------------------------------------------------------------- fake quantization
class _FakeQuantizeSTE(torch.autograd.Function):
    """Forward: ``(clamp(round(x·inv) + z) - z)·s``; backward: the straight-through estimator
    ``grad·[q_min <= round(x·inv) + z <= q_max]`` (the mask before clamping, as torch's cachemask kernels).
    ``x·inv`` is taken in float32 (float64 for a float64 x), with inv = 1/s rounded to float32; the product by
    ``s`` in the dtype of the ``scale`` tensor given (torch: float32 per tensor, x's precision per channel)."""

    @staticmethod
    def forward(ctx, x, inv, scale, zp, qmin, qmax):
        ct = torch.promote_types(x.dtype, torch.float32)
        v = torch.round(x.to(ct) * inv.to(ct)) + zp
        mask = (v >= qmin) & (v <= qmax)
        v = torch.nan_to_num(v.clamp(qmin, qmax), nan=float(qmin))     # NaN -> q_min: C's fmax ignores NaN
        ctx.save_for_backward(mask)
        return ((v - zp).to(scale.dtype) * scale).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None, None, None, None


def _check_fq_range(quant_min, quant_max) -> tuple[int, int]:
    qmin = check_int(quant_min, "quant_min", -2**31, 2**32 - 1)
    qmax = check_int(quant_max, "quant_max", -2**31, 2**32 - 1)
    if qmin >= qmax:
        raise ValueError(f"quant_min must be < quant_max, got quant_min={qmin}, quant_max={qmax}")
    return qmin, qmax


def _check_fq_zero_point(zero_point, qmin: int, qmax: int) -> int:
    z = check_int(zero_point, "zero_point")
    if not qmin <= z <= qmax:
        raise ValueError(f"zero_point must lie in [quant_min, quant_max] = [{qmin}, {qmax}], got {z}")
    return z


def fake_quantize(input: torch.Tensor, scale, zero_point, quant_min: int, quant_max: int) -> torch.Tensor:
    """Quantize then dequantize, differentiable by the straight-through estimator:
    ``torch.fake_quantize_per_tensor_affine`` (forward values and input gradient).

    Args:
        input (Tensor[*]): floating (``input/scale`` is rounded in float32, in float64 for float64 input).
        scale (float or 1-element Tensor): > 0. zero_point (int): in [quant_min, quant_max].
        quant_min < quant_max (ints): the integer range, e.g. 0, 255 or -8, 7 for 4 bits.
    Returns:
        Tensor[*] of input's dtype (a float64 input gets float32-rounded values, as from torch's kernel).
        d out / d input = 1 where ``round(input/scale) + zero_point`` lies in
        [quant_min, quant_max], 0 where it was clipped. As torch: NaN -> ``(quant_min - z)·s`` (gradient 0).
    """
    check_tensor(input, "input", kind="float")
    s = _check_scale(scale)
    qmin, qmax = _check_fq_range(quant_min, quant_max)
    z = _check_fq_zero_point(zero_point, qmin, qmax)
    scale32 = torch.tensor(np.float32(s), device=input.device)
    return _FakeQuantizeSTE.apply(input, _inverse(s, input.device), scale32, float(z), qmin, qmax)


def fake_quantize_per_channel(input: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, axis: int,
                              quant_min: int, quant_max: int) -> torch.Tensor:
    """Per-channel fake quantization with the straight-through estimator: ``torch.fake_quantize_per_channel_affine``.

    Args:
        input (Tensor[..., C, ...]): floating. scale (Tensor[C]): floating, > 0 (torch takes float32 only).
        zero_point (Tensor[C]): integer in [quant_min, quant_max] (torch: int32; its float zero points are a
            different scheme, refused here). axis: 0 <= axis < input.dim().
    Returns:
        Tensor of input's shape and dtype. One deliberate difference: +inf (and any value beyond 2^63 steps)
        clamps to quant_max here, as in the per-tensor kernel, where torch's per-channel kernel casts it to
        int64 (undefined in C++; INT64_MIN on x86) and returns quant_min.
    """
    check_tensor(input, "input", kind="float")
    qmin, qmax = _check_fq_range(quant_min, quant_max)
    _, s32, zp = _check_channels(input, scale, zero_point, axis, qmin, qmax, ("input", "scale", "zero_point"),
                                 "[quant_min, quant_max]")
    ct = torch.promote_types(input.dtype, torch.float32)
    return _FakeQuantizeSTE.apply(input, 1 / s32, s32.to(ct), zp.to(ct), qmin, qmax)
