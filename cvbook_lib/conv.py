"""2-D convolution from scratch: im2col/col2im, naive and im2col convolution, transposed
convolution and the backward pass (sizes and costs live in ``conv_arith``, 2-D signal
correlation in ``correlate``; all are re-exported here).

Every function mirrors the PyTorch reference named in its docstring (same arguments, defaults
and semantics) and is tested against it in ``tests/test_conv.py``. None calls the torch
convolution it re-implements: the work is slicing, one matmul, and scatter-adds.
As in torch: NaN and inf propagate through the sums (zero padding is multiplied like any input, so a
NaN or inf weight gives NaN where it meets padding, as torch's float64 and unbatched paths compute;
its float32 oneDNN and cuDNN paths skip padded taps, so their border values may be finite there), an
empty batch gives an empty output, zero
channels / height / width or an empty kernel are refused, and ``weight``/``bias`` must have the
input's dtype and device (torch does not promote a float64 bias either). Deliberate difference:
integer, bool and complex tensors are refused where a floating tensor is needed (torch convolves
integer and complex tensors). A ``grad_output`` of another floating dtype is cast to the input's, as
autograd does.
Reference: Chellapilla, Puri & Simard, "High Performance Convolutional Neural Networks for
Document Processing" (2006) for im2col; Dumoulin & Visin, "A guide to convolution arithmetic
for deep learning" (2016) for the size formulas.
"""

from __future__ import annotations

import torch

from . import conv_fast as _fast
from ._checks import as_pair, check_int, check_tensor
from .conv_arith import (
    _out_hw,
    _string_padding,
    conv2d_macs,
    conv2d_params,
    conv_output_size,
    conv_transpose_output_size,
    same_padding,
    separable_conv2d_macs,
    separable_conv2d_params,
)
from .correlate import convolve2d, correlate2d

__all__ = [
    "conv_output_size", "conv_transpose_output_size", "same_padding", "im2col", "col2im", "conv2d_naive", "conv2d",
    "conv_transpose2d", "conv2d_backward", "conv2d_params", "conv2d_macs", "separable_conv2d_params",
    "separable_conv2d_macs", "correlate2d", "convolve2d",
]


# ---------------------------------------------------------------- private helpers

def _pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Zero-pad the last two dims of (N, C, H, W) by copying into a zero tensor."""
    if top == bottom == left == right == 0:
        return x
    N, C, H, W = x.shape
    out = x.new_zeros(N, C, H + top + bottom, W + left + right)
    out[:, :, top:top + H, left:left + W] = x
    return out


def _unfold(xp: torch.Tensor, kernel, dilation, stride, out_hw) -> torch.Tensor:
    """Padded (N, C, Hp, Wp) -> columns (N, C*kh*kw, Ho*Wo): a strided view of every window, copied once."""
    (kh, kw), (dh, dw), (sh, sw), (Ho, Wo) = kernel, dilation, stride, out_hw
    N, C = xp.shape[:2]
    sN, sC, sH, sW = xp.stride()
    windows = xp.as_strided((N, C, kh, kw, Ho, Wo), (sN, sC, sH * dh, sW * dw, sH * sh, sW * sw))
    return windows.reshape(N, C * kh * kw, Ho * Wo)                    # channel-major like F.unfold


_IM2COL_CHUNK = 1 << 19  # elements of im2col columns built at a time (conv2d's 'im2col' algorithm)


def _fold(cols: torch.Tensor, canvas_hw, kernel, dilation, stride, blocks_hw) -> torch.Tensor:
    """Columns (N, C*kh*kw, L) -> (N, C, Hc, Wc), summing every tap where windows overlap."""
    (kh, kw), (dh, dw), (sh, sw), (Ho, Wo) = kernel, dilation, stride, blocks_hw
    N = cols.shape[0]
    C = cols.shape[1] // (kh * kw)
    taps = cols.reshape(N, C, kh, kw, Ho, Wo)
    out = cols.new_zeros(N, C, *canvas_hw)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (Ho - 1) + 1, sh)
            cols_ = slice(j * dw, j * dw + sw * (Wo - 1) + 1, sw)
            out[:, :, rows, cols_] += taps[:, :, i, j]
    return out


def _batched(x: torch.Tensor, name: str) -> tuple[torch.Tensor, bool]:
    """Accept (C, H, W) or (N, C, H, W) floating input; return the 4-D view and whether it was 3-D."""
    check_tensor(x, name, ndims=(3, 4), floating=True)
    return (x.unsqueeze(0), True) if x.dim() == 3 else (x, False)


def _image(x: torch.Tensor, name: str = "input") -> tuple[torch.Tensor, bool]:
    """``_batched`` plus torch's rule that only the batch may be empty (C, H, W >= 1)."""
    x4, unbatched = _batched(x, name)
    if 0 in x4.shape[1:]:
        raise ValueError(f"{name} must have non-zero channels, height and width (only the batch may be "
                         f"empty), got shape {tuple(x.shape)}")
    return x4, unbatched


def _conv_setup(x, weight, bias, stride, padding, dilation, groups, transposed=False):
    """Validate a conv call the way F.conv2d does (before computing); return the parsed geometry."""
    check_tensor(weight, "weight", ndims=(4,), floating=True)
    groups = check_int(groups, "groups", 1)
    if weight.dtype != x.dtype or weight.device != x.device:
        raise TypeError(f"weight must match input's dtype and device ({x.dtype}, {x.device}), "
                        f"got ({weight.dtype}, {weight.device})")
    s, d = as_pair(stride, "stride", 1), as_pair(dilation, "dilation", 1)
    C, F, (kh, kw) = x.shape[1], weight.shape[0], weight.shape[2:]
    if 0 in weight.shape:
        raise ValueError(f"weight must have non-zero channels and kernel size (F.conv2d refuses an empty "
                         f"kernel), got shape {tuple(weight.shape)}")
    if C % groups:
        raise ValueError(f"groups={groups} must divide the input channels, got {C} channels")
    if transposed:
        if weight.shape[0] != C:
            raise ValueError(f"weight must have shape (in_channels={C}, out_channels/groups, kH, kW), "
                             f"got {tuple(weight.shape)}")
        out_channels = weight.shape[1] * groups
    else:
        if weight.shape[1] * groups != C:
            raise ValueError(f"input has {C} channels but weight {tuple(weight.shape)} with groups={groups} "
                             f"expects {weight.shape[1] * groups}")
        if F % groups:
            raise ValueError(f"groups={groups} must divide out_channels={F} (weight.shape[0])")
        out_channels = F
    if bias is not None:
        check_tensor(bias, "bias", ndims=(1,), floating=True)
        if bias.dtype != x.dtype or bias.device != x.device:  # F.conv2d refuses a mixed bias too
            raise TypeError(f"bias must match input's dtype and device ({x.dtype}, {x.device}), "
                            f"got ({bias.dtype}, {bias.device})")
        if bias.shape[0] != out_channels:
            raise ValueError(f"bias must have {out_channels} elements, got {bias.shape[0]}")
    if isinstance(padding, str):
        pads = _string_padding(padding, transposed, s, d, kh, kw)
    else:
        ph, pw = as_pair(padding, "padding", 0)
        pads = (ph, ph, pw, pw)
    return s, pads, d, (kh, kw), out_channels


# ---------------------------------------------------------------- im2col / col2im

def im2col(input: torch.Tensor, kernel_size, dilation=1, padding=0, stride=1) -> torch.Tensor:
    """Extract sliding blocks into columns, like ``F.unfold``.

    Args:
        input (Tensor[N, C, H, W] or Tensor[C, H, W]).
    Returns:
        Tensor[N, C*kh*kw, L] (or [C*kh*kw, L]) with ``L = H_out * W_out`` blocks, channel-major.
    """
    x, unbatched = _image(input)
    k, d = as_pair(kernel_size, "kernel_size", 1), as_pair(dilation, "dilation", 1)
    p, s = as_pair(padding, "padding", 0), as_pair(stride, "stride", 1)
    out_hw = _out_hw(x.shape[2], x.shape[3], (p[0], p[0], p[1], p[1]), k, s, d)
    cols = _unfold(_pad(x, p[0], p[0], p[1], p[1]), k, d, s, out_hw)
    return cols[0] if unbatched else cols


def col2im(input: torch.Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> torch.Tensor:
    """Sum columns back into an image, like ``F.fold`` (the adjoint of ``im2col``).

    Args:
        input (Tensor[N, C*kh*kw, L] or Tensor[C*kh*kw, L]).
        output_size: (H, W) of the image the blocks came from.
    Returns:
        Tensor[N, C, H, W] (or [C, H, W]); overlapping taps are added.
    """
    check_tensor(input, "input", ndims=(2, 3), floating=True)
    cols, unbatched = (input.unsqueeze(0), True) if input.dim() == 2 else (input, False)
    H, W = as_pair(output_size, "output_size", 1)
    k, d = as_pair(kernel_size, "kernel_size", 1), as_pair(dilation, "dilation", 1)
    p, s = as_pair(padding, "padding", 0), as_pair(stride, "stride", 1)
    if cols.shape[1] % (k[0] * k[1]):
        raise ValueError(f"input.shape[-2]={cols.shape[1]} must be divisible by kh*kw={k[0] * k[1]}")
    Ho, Wo = _out_hw(H, W, (p[0], p[0], p[1], p[1]), k, s, d)
    if cols.shape[2] != Ho * Wo:
        raise ValueError(f"input has L={cols.shape[2]} blocks but output_size={(H, W)} with these "
                         f"parameters gives {Ho}*{Wo}={Ho * Wo}")
    out = _fold(cols, (H + 2 * p[0], W + 2 * p[1]), k, d, s, (Ho, Wo))[:, :, p[0]:p[0] + H, p[1]:p[1] + W]
    return out[0] if unbatched else out


# ---------------------------------------------------------------- convolution

def conv2d_naive(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> torch.Tensor:
    """Convolution by two loops over output positions (teaching version of ``F.conv2d``).

    ``out[n, f, i, j] = bias[f] + sum_{c,u,v} x_pad[n, c, i*s + u*d, j*s + v*d] * weight[f, c, u, v]``,
    summing only over the ``C/groups`` channels of ``f``'s group. Same arguments as ``conv2d``.
    """
    x, unbatched = _image(input)
    s, pads, d, (kh, kw), F = _conv_setup(x, weight, bias, stride, padding, dilation, groups)
    N, C, H, W = x.shape
    Ho, Wo = _out_hw(H, W, pads, (kh, kw), s, d)
    xp = _pad(x, *pads)
    Cg, Fg = C // groups, F // groups
    out = x.new_zeros(N, F, Ho, Wo)
    for i in range(Ho):
        for j in range(Wo):
            window = xp[:, :, i * s[0]: i * s[0] + d[0] * (kh - 1) + 1: d[0],
                        j * s[1]: j * s[1] + d[1] * (kw - 1) + 1: d[1]]           # (N, C, kh, kw)
            for g in range(groups):
                w_g = weight[g * Fg:(g + 1) * Fg]                                   # (Fg, Cg, kh, kw)
                x_g = window[:, g * Cg:(g + 1) * Cg]                                # (N, Cg, kh, kw)
                out[:, g * Fg:(g + 1) * Fg, i, j] = (x_g.unsqueeze(1) * w_g).sum(dim=(2, 3, 4))
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out[0] if unbatched else out


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, algorithm="auto") -> torch.Tensor:
    """2-D convolution (cross-correlation, as in every DL library), ``F.conv2d`` by one of several algorithms.

    Args:
        input (Tensor[N, C_in, H, W] or Tensor[C_in, H, W]).
        weight (Tensor[C_out, C_in/groups, kH, kW]); bias (Tensor[C_out] or None).
        stride, dilation: int or pair, >= 1. padding: int, pair, ``'same'`` (stride 1) or ``'valid'``.
        groups: divides C_in and C_out; ``groups == C_in`` is a depthwise convolution.
        algorithm: ``'im2col'`` (columns + one batched matmul; always applies), ``'winograd'`` (F(4×4, 3×3),
            3×3 kernels with stride 1 and dilation 1; ``conv_fast.winograd_conv2d`` also has tile 2),
            ``'fft'`` (stride 1, dilation 1, float32/float64), ``'direct'`` (a sum of shifted views times
            per-channel weights; always applies, fast when C_in/groups == 1), or ``'auto'``.
            An explicit algorithm that does not apply raises ``ValueError``; only ``'auto'`` chooses.
    Returns:
        Tensor[N, C_out, H_out, W_out] with ``H_out = conv_output_size(H, kH, stride, padding, dilation)``.

    ``'auto'`` (``conv_fast._choose``): ``'winograd'`` for 3×3, stride 1, dilation 1 with at least
    16 input and output channels per group in float32/float64; else ``'fft'`` for stride 1, dilation 1 and a
    kernel of at least 11×11 in float32/float64; else ``'direct'`` when C_in/groups == 1 (depthwise); else
    ``'im2col'``. Winograd and FFT round differently (errors in ``conv_fast``) and, since they mix whole
    tiles (or the whole image), spread a NaN or inf in the input farther than the direct sum does.
    """
    return _conv2d(input, weight, bias, stride, padding, dilation, groups, algorithm, 4)


def _conv2d(input, weight, bias, stride, padding, dilation, groups, algorithm, tile) -> torch.Tensor:
    x, unbatched = _image(input)
    s, pads, d, k, F = _conv_setup(x, weight, bias, stride, padding, dilation, groups)
    algorithm = _fast._choose(algorithm, x, weight, s, d, groups)   # raises if it does not apply
    N, C, H, W = x.shape
    Ho, Wo = _out_hw(H, W, pads, k, s, d)
    if N == 0:                                                         # an empty batch: nothing to transform
        out = x.new_zeros(0, F, Ho, Wo)
    elif algorithm == "winograd":
        out = _fast._winograd(_pad(x, *pads), weight, groups, tile)
    elif algorithm == "fft":
        out = _fast._fft(_pad(x, *pads), weight, groups)
    elif algorithm == "direct":                                        # stride 1: one spare zero row, padded at once
        spare = int(s == (1, 1) and k[1] > 1)
        out = _fast._direct(_pad(x, pads[0], pads[1] + spare, pads[2], pads[3]), weight, s, d, groups, (Ho, Wo),
                            spare_row=bool(spare))
    else:
        out = _conv2d_im2col(x, weight, s, pads, d, k, groups, (Ho, Wo))
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out[0] if unbatched else out


def _conv2d_im2col(x, weight, s, pads, d, k, groups, out_hw) -> torch.Tensor:
    """im2col + one batched matmul per chunk. The columns are kH*kW times larger than the input, so they are
    built a chunk at a time, about ``_IM2COL_CHUNK`` elements (2 MiB in float32): several images, one image,
    or a band of output rows of one image. Memory stays bounded, and a chunk's columns are still in cache
    when the matmul reads them (at the 7x7 stem's size that halves the time of whole images)."""
    N, C = x.shape[:2]
    F, (Ho, Wo) = weight.shape[0], out_hw
    w = weight.reshape(groups, F // groups, -1)                        # (G, Fg, Cg*kh*kw)
    xp = _pad(x, *pads)
    row_elems = C * k[0] * k[1] * Wo                                   # columns of one output row
    rows = max(1, min(Ho, _IM2COL_CHUNK // row_elems))                 # output rows per chunk
    images = max(1, _IM2COL_CHUNK // (row_elems * Ho)) if rows == Ho else 1
    track = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    out = None if track else x.new_empty(N, groups, F // groups, Ho * Wo)
    parts = []
    for i in range(0, N, images):
        n = min(images, N - i)
        for r in range(0, Ho, rows):
            nr = min(rows, Ho - r)
            band = xp[i:i + n, :, r * s[0]:(r + nr - 1) * s[0] + d[0] * (k[0] - 1) + 1]
            cols = _unfold(band, k, d, s, (nr, Wo)).view(n, groups, -1, nr * Wo)   # (n, G, Cg*kh*kw, L)
            if track:                                                  # autograd: no out= allowed
                parts.append(torch.matmul(w, cols).view(n, F, nr, Wo))
            elif rows == Ho:
                torch.matmul(w, cols, out=out[i:i + n])
            else:                                                      # a band of rows: not contiguous in out
                out[i, :, :, r * Wo:(r + nr) * Wo] = torch.matmul(w, cols)[0]
    if track:                                                          # image-major, then bands of rows
        per_image = Ho // rows + (Ho % rows > 0)
        return torch.cat([torch.cat(parts[j:j + per_image], dim=2) for j in range(0, len(parts), per_image)])
    return out.view(N, F, Ho, Wo)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> torch.Tensor:
    """Transposed convolution, like ``F.conv_transpose2d``: the adjoint of ``conv2d``.

    Each input pixel scatters ``x * weight`` into the output: columns = Wᵀ·x, then col2im.
    Args:
        input (Tensor[N, C_in, H, W] or Tensor[C_in, H, W]); weight (Tensor[C_in, C_out/groups, kH, kW]).
    Returns:
        Tensor[N, C_out, H_out, W_out], ``H_out = (H-1)*stride - 2*padding + dilation*(kH-1) + output_padding + 1``.
    """
    x, unbatched = _image(input)
    s, pads, d, k, F = _conv_setup(x, weight, bias, stride, padding, dilation, groups, transposed=True)
    op = as_pair(output_padding, "output_padding", 0)
    N, C, H, W = x.shape
    p = (pads[0], pads[2])
    Ho, Wo = (conv_transpose_output_size(n, k[i], s[i], p[i], op[i], d[i]) for i, n in enumerate((H, W)))
    w = weight.reshape(groups, C // groups, -1).transpose(1, 2)        # (G, Fg*kh*kw, Cg)
    cols = torch.matmul(w, x.reshape(N, groups, C // groups, H * W))  # (N, G, Fg*kh*kw, H*W)
    full = [(n - 1) * s[i] + d[i] * (k[i] - 1) + 1 for i, n in enumerate((H, W))]
    canvas = (max(full[0], p[0] + Ho), max(full[1], p[1] + Wo))       # room for output_padding
    out = _fold(cols.reshape(N, F * k[0] * k[1], H * W), canvas, k, d, s, (H, W))
    out = out[:, :, p[0]:p[0] + Ho, p[1]:p[1] + Wo]
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out[0] if unbatched else out


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1):
    """Gradients of ``conv2d`` w.r.t. input, weight and bias, derived by hand.

    With columns X = im2col(x) and W reshaped to (F, C*kh*kw), the forward pass is Y = W·X, so
    ``dW = dY·Xᵀ`` (summed over the batch), ``dX = col2im(Wᵀ·dY)`` and ``db = sum of dY``.
    Args:
        grad_output (Tensor[N, C_out, H_out, W_out]); input, weight: as in ``conv2d``.
    Returns:
        (grad_input like input, grad_weight like weight, grad_bias Tensor[C_out]).
    """
    check_tensor(grad_output, "grad_output", ndims=(3, 4), floating=True)
    x, unbatched = _image(input)
    s, pads, d, k, F = _conv_setup(x, weight, None, stride, padding, dilation, groups)
    N, C, H, W = x.shape
    Ho, Wo = _out_hw(H, W, pads, k, s, d)
    go = grad_output.unsqueeze(0) if grad_output.dim() == 3 else grad_output
    if grad_output.dim() != input.dim() or tuple(go.shape) != (N, F, Ho, Wo):
        want = (F, Ho, Wo) if unbatched else (N, F, Ho, Wo)
        raise ValueError(f"grad_output must have the shape {want} of conv2d's output for input of shape "
                         f"{tuple(input.shape)}, weight of shape {tuple(weight.shape)} and these stride, padding, "
                         f"dilation, groups; got {tuple(grad_output.shape)}")
    if go.device != x.device:
        raise ValueError(f"grad_output must be on input's device {x.device}, got {go.device}")
    go = go.to(x.dtype)  # autograd casts a floating grad_output to the output's dtype
    go = go.reshape(N, groups, F // groups, Ho * Wo)                    # (N, G, Fg, L)
    K = (C // groups) * k[0] * k[1]
    cols = _unfold(_pad(x, *pads), k, d, s, (Ho, Wo)).view(N, groups, K, Ho * Wo)  # (N, G, K, L)
    grad_weight = torch.matmul(go, cols.transpose(2, 3)).sum(0).reshape(weight.shape)
    w = weight.reshape(groups, F // groups, -1)                         # (G, Fg, K)
    grad_cols = torch.matmul(w.transpose(1, 2), go).reshape(N, groups * K, Ho * Wo)
    canvas = (H + pads[0] + pads[1], W + pads[2] + pads[3])
    grad_input = _fold(grad_cols, canvas, k, d, s, (Ho, Wo))[:, :, pads[0]:pads[0] + H, pads[2]:pads[2] + W]
    grad_bias = go.sum(dim=(0, 3)).reshape(F)
    return (grad_input[0] if unbatched else grad_input), grad_weight, grad_bias
