"""Integer-arithmetic inference kernels: a quantized linear layer and a quantized 2-D convolution.

Jacob et al. 2018 (arXiv 1712.05877), section 2: with ``r = s(q - z)`` for input, weight and output,
``r_out = Σ r_x r_w + b`` becomes ``q_out = z_out + M·(Σ (q_x - z_x)(q_w - z_w) + q_b)`` with
``M = s_x s_w / s_out`` and the bias quantized to int32 with scale ``s_x s_w`` and zero point 0. The sum is
an integer matmul (8-bit × 8-bit products accumulated in int32; here in int64, which never overflows);
only the final multiply by ``M`` and the rounding touch floating point. Per-channel weights give every
output channel its own ``s_w``, ``z_w`` and so its own ``M``.

Compared with ``torch.ao.nn.quantized.Linear`` / ``Conv2d`` (fbgemm, x86, onednn and qnnpack engines) the
output agrees to within 1 LSB (``tests/test_compress_quant.py``), nearly always exactly. Where it differs:
torch's x86/fbgemm kernels add a float bias to the float-converted accumulator (``acc·s_x s_w + b``) instead of
quantizing it to int32 first, and requantize in float32 (``lrintf``); we round the bias to int32 and
requantize in float64. Jacob et al. replace the float ``M`` by a fixed-point int32 multiplier and a shift,
so that a device without floating point can run the whole layer; the rounding is then that of the shift.

On CPU the accumulation is an int64 matmul. CUDA has no integer matmul, so there the same integer products
are summed in float64, which is exact while every partial sum stays below 2^53 (the int32 accumulator of a
real kernel overflows long before: at K = 33,000 terms of 255·255).
"""

from __future__ import annotations

import torch

from .._checks import as_pair, check_int, check_tensor
from ..conv import _pad, _unfold
from ..conv_arith import _out_hw
from .quant import _check_scale

__all__ = ["quantized_linear", "quantized_conv2d"]


def _int_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b for int64 tensors, exactly (float64 on devices without integer matmul)."""
    if a.device.type == "cpu":
        return a @ b
    return torch.round(a.double() @ b.double()).long()


def _check_qtensor(q, name: str, dtype: torch.dtype, ndims) -> torch.Tensor:
    check_tensor(q, name, ndims=ndims, kind="int")
    if q.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype} (the int_repr of a "
                        f"{'quint8' if dtype == torch.uint8 else 'qint8'} tensor), got {q.dtype}")
    return q


def _weight_qparams(w_scale, w_zp, out_features: int, device):
    """Per-tensor (float, int) or per-channel (Tensor[O] floating, Tensor[O] integer) weight qparams,
    returned as float64 scales [O] and int64 zero points [O]."""
    if isinstance(w_scale, torch.Tensor) and w_scale.dim() == 1 and w_scale.numel() != 1 or \
            isinstance(w_zp, torch.Tensor) and w_zp.dim() == 1 and w_zp.numel() != 1:
        check_tensor(w_scale, "w_scale", ndims=(1,), kind="float")
        check_tensor(w_zp, "w_zp", ndims=(1,), kind="int")
        for t, n in ((w_scale, "w_scale"), (w_zp, "w_zp")):
            if t.shape[0] != out_features:
                raise ValueError(f"{n} must have one element per output channel (w_q.shape[0] = {out_features}), "
                                 f"got {t.shape[0]}")
            if t.device != device:
                raise ValueError(f"{n} must be on the device of w_q ({device}), got {t.device}")
        s = w_scale.double()
        if not bool((torch.isfinite(s) & (s > 0)).all()):
            raise ValueError(f"w_scale must hold finite numbers > 0, got {w_scale.tolist()[:8]}")
        if w_zp.numel() and (int(w_zp.min()) < -128 or int(w_zp.max()) > 127):
            raise ValueError(f"w_zp must lie in [-128, 127] (qint8), got values in [{int(w_zp.min())}, "
                             f"{int(w_zp.max())}]")
        return s, w_zp.long()
    s = _check_scale(w_scale, "w_scale")
    z = check_int(w_zp, "w_zp", -128, 127)
    return (torch.full((out_features,), s, dtype=torch.float64, device=device),
            torch.full((out_features,), z, dtype=torch.int64, device=device))


def _check_common(x_scale, x_zp, bias, out_scale, out_zp, out_features: int, device):
    xs = _check_scale(x_scale, "x_scale")
    xz = check_int(x_zp, "x_zp", 0, 255)
    os_ = _check_scale(out_scale, "out_scale")
    oz = check_int(out_zp, "out_zp", 0, 255)
    if bias is not None:
        check_tensor(bias, "bias", ndims=(1,), kind="float")
        if bias.dtype != torch.float32:   # as torch's quantized modules (its Conv2d misreads other dtypes)
            raise TypeError(f"bias must be a float32 tensor, got {bias.dtype}")
        if bias.shape[0] != out_features or bias.device != device:
            raise ValueError(f"bias must be a Tensor[{out_features}] (one per output channel of w_q) on {device}, "
                             f"got shape {tuple(bias.shape)} on {bias.device}")
        if not bool(torch.isfinite(bias).all()):
            raise ValueError("bias must be finite, got a tensor with NaN or inf")
    return xs, xz, os_, oz


def _requantize(acc, xs: float, ws, bias, os_: float, oz: int, channel_dim: int) -> torch.Tensor:
    """acc (int64, output channels along ``channel_dim``) + round(bias/(s_x s_w)), times M = s_x s_w / s_out,
    rounded half to even, plus the output zero point, clamped to [0, 255] (quint8). The integer bias is held in
    float64 (exact below 2^53): with a tiny s_x s_w it would overflow an int32, and even an int64."""
    shape = [1] * acc.dim()
    shape[channel_dim] = -1
    sxw = (xs * ws).view(shape)                                       # float64 [O] -> broadcastable
    acc = acc.double()                                                # exact: |acc| < 2^53
    if bias is not None:
        acc = acc + torch.round(bias.double().view(shape) / sxw)     # the int32 bias of Jacob et al.
    y = torch.round(acc * (sxw / os_)) + oz
    return y.clamp(0, 255).to(torch.uint8)


def quantized_linear(x_q: torch.Tensor, x_scale, x_zp, w_q: torch.Tensor, w_scale, w_zp, bias, out_scale,
                     out_zp) -> torch.Tensor:
    """Integer-only linear layer: ``torch.ao.nn.quantized.Linear`` on a quint8 input (to 1 LSB).

    Args:
        x_q (Tensor[*, N, K] uint8): the input's int_repr (at least 2-D); x_scale > 0, x_zp in [0, 255].
        w_q (Tensor[O, K] int8): the weight's int_repr; w_scale, w_zp: a float > 0 and an int in [-128, 127]
            (per tensor) or Tensor[O] floating and Tensor[O] integer (per output channel).
        bias (Tensor[O] float32, finite, or None): in real units.
        out_scale > 0, out_zp in [0, 255]: the output's qparams.
    Returns:
        Tensor[*, N, O] uint8: ``clamp(round(M·(Σ_k (x_q - x_zp)(w_q - w_zp) + round(bias/(s_x s_w)))) + out_zp)``.
    """
    _check_qtensor(x_q, "x_q", torch.uint8, None)
    _check_qtensor(w_q, "w_q", torch.int8, (2,))
    if x_q.dim() < 2 or x_q.shape[-1] != w_q.shape[1]:                   # torch's Linear wants >= 2-D too
        raise ValueError(f"x_q must have shape (*, {w_q.shape[1]}) to match w_q {tuple(w_q.shape)}, "
                         f"got {tuple(x_q.shape)}")
    if x_q.device != w_q.device:
        raise ValueError(f"x_q and w_q must be on the same device, got {x_q.device} and {w_q.device}")
    O = w_q.shape[0]
    ws, wz = _weight_qparams(w_scale, w_zp, O, w_q.device)
    xs, xz, os_, oz = _check_common(x_scale, x_zp, bias, out_scale, out_zp, O, w_q.device)
    acc = _int_matmul(x_q.long() - xz, (w_q.long() - wz[:, None]).T)       # [*, O], the int32 accumulator
    return _requantize(acc, xs, ws, bias, os_, oz, -1)


def quantized_conv2d(x_q: torch.Tensor, x_scale, x_zp, w_q: torch.Tensor, w_scale, w_zp, bias, out_scale, out_zp,
                     stride=1, padding=0, dilation=1, groups: int = 1) -> torch.Tensor:
    """Integer-only 2-D convolution by im2col: ``torch.ao.nn.quantized.Conv2d`` on a quint8 input (to 1 LSB).

    Args:
        x_q (Tensor[N, C, H, W] uint8), x_scale, x_zp: the input.
        w_q (Tensor[O, C/groups, kH, kW] int8), w_scale, w_zp: per tensor or per output channel, as
            :func:`quantized_linear`. bias, out_scale, out_zp: as there.
        stride, padding, dilation: int or pair (stride, dilation >= 1, padding >= 0). groups: divides C and O.
    Returns:
        Tensor[N, O, H_out, W_out] uint8. Padding is with the real 0, i.e. with ``x_zp`` in the integers:
        the input is shifted by ``-x_zp`` first, then zero-padded.
    """
    _check_qtensor(x_q, "x_q", torch.uint8, (4,))
    _check_qtensor(w_q, "w_q", torch.int8, (4,))
    groups = check_int(groups, "groups", 1)
    s, d = as_pair(stride, "stride", 1), as_pair(dilation, "dilation", 1)
    ph, pw = as_pair(padding, "padding", 0)
    N, C, H, W = x_q.shape
    O, Cg, kh, kw = w_q.shape
    if 0 in (C, H, W) or 0 in w_q.shape:
        raise ValueError(f"x_q and w_q must have non-zero channels and sizes (only the batch may be empty), "
                         f"got {tuple(x_q.shape)} and {tuple(w_q.shape)}")
    if C % groups or O % groups or Cg * groups != C:
        raise ValueError(f"groups={groups} must divide C={C} and O={O}, with w_q.shape[1] = C/groups, "
                         f"got w_q {tuple(w_q.shape)}")
    if x_q.device != w_q.device:
        raise ValueError(f"x_q and w_q must be on the same device, got {x_q.device} and {w_q.device}")
    ws, wz = _weight_qparams(w_scale, w_zp, O, w_q.device)
    xs, xz, os_, oz = _check_common(x_scale, x_zp, bias, out_scale, out_zp, O, w_q.device)
    pads = (ph, ph, pw, pw)
    span = (d[0] * (kh - 1) + 1, d[1] * (kw - 1) + 1)
    if span[0] > H + 2 * ph or span[1] > W + 2 * pw:
        raise ValueError(f"w_q's kernel {(kh, kw)} with dilation {d} spans {span}, larger than the padded x_q "
                         f"{(H + 2 * ph, W + 2 * pw)} (x_q {(H, W)}, padding {(ph, pw)})")
    Ho, Wo = _out_hw(H, W, pads, (kh, kw), s, d)
    cols = _unfold(_pad(x_q.long() - xz, *pads), (kh, kw), d, s, (Ho, Wo))   # [N, C*kh*kw, L]
    cols = cols.view(N, groups, Cg * kh * kw, Ho * Wo)                       # [N, G, Cg*kh*kw, L]
    w = (w_q.long() - wz.view(-1, 1, 1, 1)).reshape(groups, O // groups, -1)  # [G, Og, Cg*kh*kw]
    acc = _int_matmul(w, cols).reshape(N, O, Ho, Wo)                          # [N, O, Ho, Wo]
    return _requantize(acc, xs, ws, bias, os_, oz, 1)
