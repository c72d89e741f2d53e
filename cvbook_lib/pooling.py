"""Pooling from scratch: max/average (with ceil_mode, padding, dilation, indices), adaptive and
global pooling, spatial pyramid pooling, and the backward passes that route the gradient.

Each function has the name, arguments, defaults and semantics of its ``torch.nn.functional``
counterpart and is tested against it in ``tests/test_pooling.py``. None calls a torch pooling op:
windows are a strided view of the (padded) input, reduced with ``max``/``sum``.
References: LeCun et al. 1998 (subsampling), Lin et al. 2014 "Network in Network" (global average
pooling), He et al. 2014 "Spatial Pyramid Pooling in Deep Convolutional Networks".
"""

from __future__ import annotations

import torch

from ._checks import as_pair, check_choice, check_tensor
from .conv import _batched, _fold
from .conv_arith import conv_output_size

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "global_avg_pool2d",
           "spatial_pyramid_pool", "max_pool2d_backward", "avg_pool2d_backward"]


def _geometry(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate like torch's pool2d_shape_check; return k, s, p, d pairs and (H_out, W_out)."""
    k = as_pair(kernel_size, "kernel_size", 1)
    empty = stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0)
    s = k if empty else as_pair(stride, "stride", 1)  # torch: stride defaults to kernel_size
    p, d = as_pair(padding, "padding", 0), as_pair(dilation, "dilation", 1)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"padding={padding!r} must be at most half of kernel_size={kernel_size!r} (as in PyTorch)")
    H, W = x.shape[-2:]
    out = tuple(conv_output_size(n, k[i], s[i], p[i], d[i], bool(ceil_mode)) for i, n in enumerate((H, W)))
    return k, s, p, d, out


def _windows(x, k, s, p, d, out, fill):
    """(N, C, H, W) -> (N, C, Ho, Wo, kh, kw) view of every window over the input padded with ``fill``.

    With ceil_mode the last window may hang past the padded input; the extra cells get ``fill`` too.
    """
    N, C, H, W = x.shape
    need = [(out[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 for i in range(2)]        # padded extent used
    Hp, Wp = max(need[0], H + 2 * p[0]), max(need[1], W + 2 * p[1])
    xp = x.new_full((N, C, Hp, Wp), fill)
    xp[:, :, p[0]:p[0] + H, p[1]:p[1] + W] = x
    sN, sC, sH, sW = xp.stride()
    return xp.as_strided((N, C, out[0], out[1], k[0], k[1]), (sN, sC, sH * s[0], sW * s[1], sH * d[0], sW * d[1]))


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over each window, like ``F.max_pool2d``; padding counts as -inf.

    Args:
        input (Tensor[N, C, H, W] or Tensor[C, H, W]); stride defaults to kernel_size.
    Returns:
        Tensor[N, C, H_out, W_out] (``H_out`` from ``conv_output_size`` with ``ceil_mode``), and with
        ``return_indices`` also the flat index ``h*W + w`` of each maximum in its input plane (the
        first one in scan order on ties, as PyTorch).
    """
    x, unbatched = _batched(input, "input")
    k, s, p, d, out = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    win = _windows(x, k, s, p, d, out, float("-inf")).flatten(-2)              # (N, C, Ho, Wo, kh*kw)
    values, arg = win.max(dim=-1)
    if not return_indices:
        return values[0] if unbatched else values
    W = x.shape[-1]
    oh = torch.arange(out[0], device=x.device).view(-1, 1)
    ow = torch.arange(out[1], device=x.device).view(1, -1)
    row = oh * s[0] - p[0] + torch.div(arg, k[1], rounding_mode="floor") * d[0]
    col = ow * s[1] - p[1] + (arg % k[1]) * d[1]
    indices = row * W + col
    return (values[0], indices[0]) if unbatched else (values, indices)


def _avg_divisor(H, W, k, s, p, out, count_include_pad, divisor_override, like):
    """Per-output divisor of F.avg_pool2d: the window clipped to the padded (or real) input."""
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override, int) or divisor_override == 0:
            raise ValueError(f"divisor_override must be a non-zero int or None, got {divisor_override!r}")
        return torch.full(out, float(divisor_override), dtype=like.dtype, device=like.device)
    sizes = []
    for i, n in enumerate((H, W)):
        start = torch.arange(out[i], device=like.device) * s[i] - p[i]
        end = torch.clamp(start + k[i], max=n + p[i])
        if not count_include_pad:
            start, end = start.clamp(min=0), end.clamp(max=n)
        sizes.append((end - start).to(like.dtype))
    return sizes[0].view(-1, 1) * sizes[1].view(1, -1)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over each window, like ``F.avg_pool2d``.

    The divisor is ``divisor_override`` if given; else the window size clipped to the padded input
    (``count_include_pad=True``) or to the real input (``False``). Windows added by ``ceil_mode``
    never count the cells past the padding.
    Returns:
        Tensor[N, C, H_out, W_out].
    """
    x, unbatched = _batched(input, "input")
    k, s, p, d, out = _geometry(x, kernel_size, stride, padding, 1, ceil_mode)
    sums = _windows(x, k, s, p, d, out, 0.0).sum(dim=(-2, -1))
    y = sums / _avg_divisor(*x.shape[-2:], k, s, p, out, count_include_pad, divisor_override, x)
    return y[0] if unbatched else y


def _adaptive_bounds(n_in: int, n_out: int):
    """Bins of adaptive pooling: [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out))."""
    return [((i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)) for i in range(n_out)]


def _adaptive(input, output_size, reduce):
    x, unbatched = _batched(input, "input")
    H, W = x.shape[-2:]
    if isinstance(output_size, (list, tuple)) and len(output_size) == 2:
        size = tuple(n if o is None else o for o, n in zip(output_size, (H, W)))
    else:
        size = output_size
    Ho, Wo = as_pair(size, "output_size", 1)
    rows, cols = _adaptive_bounds(H, Ho), _adaptive_bounds(W, Wo)
    results = [[reduce(x[:, :, r0:r1, c0:c1], r0, c0, W) for c0, c1 in cols] for r0, r1 in rows]
    return results, (Ho, Wo), unbatched


def _stack(results, which):
    return torch.stack([torch.stack([cell[which] for cell in row], dim=-1) for row in results], dim=-2)


def adaptive_avg_pool2d(input, output_size):
    """Average over adaptive bins so the output is exactly ``output_size`` (int, pair, None = keep).

    Bin i along an axis of length n covers ``[floor(i*n/o), ceil((i+1)*n/o))``; bins may overlap.
    Returns: Tensor[N, C, H_out, W_out].
    """
    results, _, unbatched = _adaptive(input, output_size, lambda b, r0, c0, W: (b.mean(dim=(-2, -1)),))
    y = _stack(results, 0)
    return y[0] if unbatched else y


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max over adaptive bins (see ``adaptive_avg_pool2d``), with flat indices like ``max_pool2d``."""
    def reduce(b, r0, c0, W):
        values, arg = b.flatten(-2).max(dim=-1)
        bw = b.shape[-1]
        return values, (r0 + torch.div(arg, bw, rounding_mode="floor")) * W + c0 + arg % bw

    results, _, unbatched = _adaptive(input, output_size, reduce)
    values, indices = _stack(results, 0), _stack(results, 1)
    if unbatched:
        values, indices = values[0], indices[0]
    return (values, indices) if return_indices else values


def global_avg_pool2d(input) -> torch.Tensor:
    """Global average pooling (Lin et al. 2014): Tensor[N, C, H, W] -> Tensor[N, C], the mean of each map."""
    check_tensor(input, "input", ndims=(4,), floating=True)
    return input.sum(dim=(-2, -1)) / (input.shape[-2] * input.shape[-1])


def spatial_pyramid_pool(input, levels=(1, 2, 4), mode="max") -> torch.Tensor:
    """Spatial pyramid pooling (He et al. 2014): pool each map into l×l bins for every level l and
    concatenate, so any H×W gives a vector of fixed length.

    Args:
        input (Tensor[N, C, H, W]); levels: positive ints; mode: ``'max'`` or ``'avg'``.
    Returns:
        Tensor[N, C * sum(l*l)], level by level, each flattened channel-major like ``torch.flatten``.
    """
    check_tensor(input, "input", ndims=(4,), floating=True)
    check_choice(mode, "mode", ("max", "avg"))
    if not isinstance(levels, (list, tuple)) or not levels:
        raise ValueError(f"levels must be a non-empty sequence of positive ints, got {levels!r}")
    pool = adaptive_max_pool2d if mode == "max" else adaptive_avg_pool2d
    return torch.cat([pool(input, as_pair(level, "levels", 1)).flatten(1) for level in levels], dim=1)


def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Gradient of ``max_pool2d``: each output's gradient goes to the one input cell that was the max
    (summed where windows overlap and share it); every other cell gets zero.
    Returns: Tensor like input."""
    _, indices = max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)
    check_tensor(grad_output, "grad_output", ndims=(input.dim(),), floating=True)
    if grad_output.shape != indices.shape:
        raise ValueError(f"grad_output must have shape {tuple(indices.shape)}, got {tuple(grad_output.shape)}")
    flat = grad_output.new_zeros(*input.shape[:-2], input.shape[-2] * input.shape[-1])
    flat.scatter_add_(-1, indices.flatten(-2), grad_output.flatten(-2))
    return flat.view(input.shape)


def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """Gradient of ``avg_pool2d``: each output's gradient, divided by its divisor, is spread evenly
    over its window (padding cells absorb their share and are cropped).
    Returns: Tensor like input."""
    x, unbatched = _batched(input, "input")
    k, s, p, d, out = _geometry(x, kernel_size, stride, padding, 1, ceil_mode)
    check_tensor(grad_output, "grad_output", ndims=(input.dim(),), floating=True)
    g = grad_output.unsqueeze(0) if unbatched else grad_output
    N, C, H, W = x.shape
    if tuple(g.shape) != (N, C, *out):
        raise ValueError(f"grad_output must have shape {(N, C, *out)}, got {tuple(g.shape)}")
    g = g / _avg_divisor(H, W, k, s, p, out, count_include_pad, divisor_override, x)
    cols = g.reshape(N, C, 1, out[0] * out[1]).expand(N, C, k[0] * k[1], out[0] * out[1])
    canvas = [max((out[i] - 1) * s[i] + k[i], (H, W)[i] + 2 * p[i]) for i in range(2)]
    grad = _fold(cols.reshape(N, C * k[0] * k[1], -1), canvas, k, d, s, out)[:, :, p[0]:p[0] + H, p[1]:p[1] + W]
    return grad[0] if unbatched else grad
