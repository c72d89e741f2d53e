"""Pooling from scratch: max/average (with ceil_mode, padding, dilation, indices), adaptive and
global pooling, spatial pyramid pooling, and the backward passes that route the gradient.

Each function has the name, arguments, defaults and semantics of its ``torch.nn.functional``
counterpart and is tested against it in ``tests/test_pooling.py`` and ``tests/test_pooling_fast.py``. None
calls a torch pooling op: max values (without indices, when no gradient is needed) and average-pooling sums
are separable passes over strided slices (:mod:`cvbook_lib._pool_fast`); indices and a max's gradient come
from a strided view of every window of the padded input, reduced as torch does.
As in torch: NaN wins a max (the last NaN of a window gives the index), padding never does (a window of
``-inf`` points at its first real cell), an empty batch gives an empty output, and zero channels or a
zero height/width is refused (adaptive pooling allows zero channels and a zero ``output_size``).
Integer, bool and complex tensors are refused where a floating tensor is needed (torch max/avg-pools
integer tensors). A ``grad_output`` of another floating dtype is cast to the input's, as autograd does.
References: LeCun et al. 1998 (subsampling), Lin et al. 2014 "Network in Network" (global average
pooling), He et al. 2014 "Spatial Pyramid Pooling in Deep Convolutional Networks".
"""

from __future__ import annotations

import torch

from ._checks import as_pair, check_bool, check_choice, check_int, check_tensor
from ._pool_fast import divisor_sizes, fast_pool
from .conv import _batched, _fold
from .conv_arith import conv_output_size

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "global_avg_pool2d",
           "spatial_pyramid_pool", "max_pool2d_backward", "avg_pool2d_backward"]


def _pool_input(input, dims=(1, 2, 3)):
    """4-D view of a (C, H, W) or (N, C, H, W) floating input whose dims ``dims`` (of the 4-D view) are
    non-zero (torch allows only the batch to be empty); also whether the input was 3-D."""
    x, unbatched = _batched(input, "input")
    if any(x.shape[i] == 0 for i in dims):
        which = "height and width" if dims == (2, 3) else "channels, height and width"
        raise ValueError(f"input must have non-zero {which} (only the batch may be empty), "
                         f"got shape {tuple(input.shape)}")
    return x, unbatched


def _geometry(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate like torch's pool2d_shape_check; return k, s, p, d pairs and (H_out, W_out)."""
    k = as_pair(kernel_size, "kernel_size", 1)
    empty = stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0)
    s = k if empty else as_pair(stride, "stride", 1)  # torch: stride defaults to kernel_size
    p, d = as_pair(padding, "padding", 0), as_pair(dilation, "dilation", 1)
    ceil_mode = check_bool(ceil_mode, "ceil_mode")
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"padding={padding!r} must be at most half of kernel_size={kernel_size!r} (as in PyTorch)")
    H, W = x.shape[-2:]
    out = tuple(conv_output_size(n, k[i], s[i], p[i], d[i], ceil_mode) for i, n in enumerate((H, W)))
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


def _max_like_torch(win: torch.Tensor, valid: torch.Tensor | None = None):
    """Max over the last dim with torch's pooling rule (``val > max or isnan(val)`` in scan order): the
    first maximum, the last NaN if there is one, only among ``valid`` cells. Returns (values, argmax);
    the values are gathered, so autograd routes each gradient to that one cell, as torch does."""
    with torch.no_grad():
        hit = win == win.amax(dim=-1, keepdim=True)
        if valid is not None:
            hit &= valid
        nan = win.isnan()
        last_nan = win.shape[-1] - 1 - nan.flip(-1).to(torch.uint8).argmax(dim=-1)
        arg = torch.where(nan.any(dim=-1), last_nan, hit.to(torch.uint8).argmax(dim=-1))
    return win.gather(-1, arg.unsqueeze(-1)).squeeze(-1), arg


def _max_pool(x, k, s, p, d, out):
    """Values and flat input indices ``h*W + w`` of a validated max pooling of 4-D ``x``."""
    H, W = x.shape[-2:]
    win = _windows(x, k, s, p, d, out, float("-inf")).flatten(-2)                # (N, C, Ho, Wo, kh*kw)
    inside = torch.ones(1, 1, H, W, dtype=torch.bool, device=x.device)
    valid = _windows(inside, k, s, p, d, out, False).flatten(-2)                  # padding never wins
    values, arg = _max_like_torch(win, valid)
    oh = torch.arange(out[0], device=x.device).view(-1, 1)
    ow = torch.arange(out[1], device=x.device).view(1, -1)
    row = oh * s[0] - p[0] + torch.div(arg, k[1], rounding_mode="floor") * d[0]
    col = ow * s[1] - p[1] + (arg % k[1]) * d[1]
    return values, row * W + col


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over each window, like ``F.max_pool2d``; padding counts as -inf and is never picked.

    Args:
        input (Tensor[N, C, H, W] or Tensor[C, H, W]); kernel_size, stride (default kernel_size),
        padding (at most half the kernel), dilation: int or pair; ceil_mode, return_indices: bool.
    Returns:
        Tensor[N, C, H_out, W_out] (``H_out`` from ``conv_output_size`` with ``ceil_mode``), and with
        ``return_indices`` also the flat index ``h*W + w`` of each maximum in its input plane (the
        first one in scan order on ties, the last NaN if any, as PyTorch).
    """
    x, unbatched = _pool_input(input)
    k, s, p, d, out = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = check_bool(return_indices, "return_indices")
    if not return_indices and not (torch.is_grad_enabled() and x.requires_grad):
        values = fast_pool(x, k, s, p, d, out, "max")                # separable passes, no window tensor
        return values[0] if unbatched else values
    values, indices = _max_pool(x, k, s, p, d, out)              # torch's index (and gradient) rule
    if unbatched:
        values, indices = values[0], indices[0]
    return (values, indices) if return_indices else values


def _avg_divisor(H, W, k, s, p, out, count_include_pad, divisor_override, like):
    """Per-output divisor of F.avg_pool2d: the window clipped to the padded (or real) input; a Python
    number when it is the same for every output."""
    if divisor_override is not None:
        return float(divisor_override)
    rows, cols = (divisor_sizes(n, out[i], k[i], s[i], p[i], count_include_pad) for i, n in enumerate((H, W)))
    if min(rows) == max(rows) and min(cols) == max(cols):
        return float(rows[0] * cols[0])
    rows, cols = (torch.tensor(v, dtype=like.dtype, device=like.device) for v in (rows, cols))
    return rows.view(-1, 1) * cols.view(1, -1)


def _avg_setup(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    x, unbatched = _pool_input(input)
    k, s, p, d, out = _geometry(x, kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad = check_bool(count_include_pad, "count_include_pad")
    if divisor_override is not None and check_int(divisor_override, "divisor_override") == 0:
        raise ValueError(f"divisor_override must be a non-zero int or None (as in PyTorch), got {divisor_override!r}")
    divisor = None if divisor_override is None else int(divisor_override)
    return x, unbatched, (k, s, p, d, out), _avg_divisor(*x.shape[-2:], k, s, p, out, count_include_pad, divisor, x)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over each window, like ``F.avg_pool2d``.

    The divisor is ``divisor_override`` if given (any non-zero int, as torch); else the window size
    clipped to the padded input (``count_include_pad=True``) or to the real input (``False``). Windows
    added by ``ceil_mode`` never count the cells past the padding.
    Returns:
        Tensor[N, C, H_out, W_out].
    """
    x, unbatched, (k, s, p, d, out), divisor = _avg_setup(input, kernel_size, stride, padding, ceil_mode,
                                                          count_include_pad, divisor_override)
    if x.dtype in (torch.float32, torch.float64):
        y = fast_pool(x, k, s, p, d, out, "sum") / divisor             # separable window sums
    else:                                                            # float16/bfloat16: a float32 sum
        y = _windows(x, k, s, p, d, out, 0.0).sum(dim=(-2, -1)) / divisor
    return y[0] if unbatched else y


def _adaptive_bounds(n_in: int, n_out: int):
    """Bins of adaptive pooling: [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out))."""
    return [((i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)) for i in range(n_out)]


def _adaptive(input, output_size, reduce, n_results):
    """Validate, then apply ``reduce(bin, r0, c0, W)`` to every bin; ``n_results`` stacked outputs."""
    x, unbatched = _pool_input(input, dims=(2, 3))
    N, C, H, W = x.shape
    if isinstance(output_size, (list, tuple)) and len(output_size) == 2:
        size = tuple(n if o is None else o for o, n in zip(output_size, (H, W)))
    else:
        size = output_size
    Ho, Wo = as_pair(size, "output_size", 0)
    if Ho == 0 or Wo == 0:  # torch allows an empty output
        outs = [x.new_zeros(N, C, Ho, Wo), torch.zeros(N, C, Ho, Wo, dtype=torch.long, device=x.device)]
    else:
        rows, cols = _adaptive_bounds(H, Ho), _adaptive_bounds(W, Wo)
        cells = [[reduce(x[:, :, r0:r1, c0:c1], r0, c0, W) for c0, c1 in cols] for r0, r1 in rows]
        outs = [torch.stack([torch.stack([cell[j] for cell in row], dim=-1) for row in cells], dim=-2)
                for j in range(n_results)]
    outs = outs[:n_results]
    return [o[0] for o in outs] if unbatched else outs


def adaptive_avg_pool2d(input, output_size):
    """Average over adaptive bins so the output is exactly ``output_size`` (int, pair, None = keep).

    Bin i along an axis of length n covers ``[floor(i*n/o), ceil((i+1)*n/o))``; bins may overlap.
    Args: input (Tensor[N, C, H, W] or Tensor[C, H, W]); output_size: int or pair >= 0 (0 gives an
    empty output, as torch).
    Returns: Tensor[N, C, H_out, W_out]. H = 0 or W = 0 is refused, as torch does (deliberate
    difference: torch's fast path for output_size 1 returns NaN there instead).
    """
    return _adaptive(input, output_size, lambda b, r0, c0, W: (b.mean(dim=(-2, -1)),), 1)[0]


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max over adaptive bins (see ``adaptive_avg_pool2d``), with flat indices like ``max_pool2d``."""
    return_indices = check_bool(return_indices, "return_indices")

    def reduce(b, r0, c0, W):
        values, arg = _max_like_torch(b.flatten(-2))
        bw = b.shape[-1]
        return values, (r0 + torch.div(arg, bw, rounding_mode="floor")) * W + c0 + arg % bw

    values, indices = _adaptive(input, output_size, reduce, 2)
    return (values, indices) if return_indices else values


def global_avg_pool2d(input) -> torch.Tensor:
    """Global average pooling (Lin et al. 2014): Tensor[N, C, H, W] -> Tensor[N, C], the mean of each map,
    like ``F.adaptive_avg_pool2d(input, 1).flatten(1)``. Deliberate difference: H = 0 or W = 0 is
    refused, as every other output size of torch's adaptive pooling does (its output-1 fast path
    returns NaN)."""
    check_tensor(input, "input", ndims=(4,), floating=True)
    _pool_input(input, dims=(2, 3))
    return input.sum(dim=(-2, -1)) / (input.shape[-2] * input.shape[-1])


def spatial_pyramid_pool(input, levels=(1, 2, 4), mode="max") -> torch.Tensor:
    """Spatial pyramid pooling (He et al. 2014): pool each map into l×l bins for every level l and
    concatenate, so any H×W gives a vector of fixed length.

    Args:
        input (Tensor[N, C, H, W]); levels: non-empty sequence of ints (or pairs) >= 1; mode: ``'max'``
        or ``'avg'``.
    Returns:
        Tensor[N, C * sum(l*l)], level by level, each flattened channel-major like ``torch.flatten``.
    """
    check_tensor(input, "input", ndims=(4,), floating=True)
    _pool_input(input, dims=(2, 3))
    check_choice(mode, "mode", ("max", "avg"))
    if not isinstance(levels, (list, tuple)) or not levels:
        raise ValueError(f"levels must be a non-empty sequence of positive ints, got {levels!r}")
    sizes = [as_pair(level, "levels", 1) for level in levels]
    pool = adaptive_max_pool2d if mode == "max" else adaptive_avg_pool2d
    return torch.cat([pool(input, size).flatten(1) for size in sizes], dim=1)


def _grad_out(grad_output, input, shape, args: str):
    """``grad_output`` checked (floating, the output's shape) and cast to the input's dtype, as autograd does."""
    if tuple(grad_output.shape) != tuple(shape):
        raise ValueError(f"grad_output must have the shape {tuple(shape)} of the pooled output of input of shape "
                         f"{tuple(input.shape)} with these {args}, got {tuple(grad_output.shape)}")
    if grad_output.device != input.device:
        raise ValueError(f"grad_output must be on input's device {input.device}, got {grad_output.device}")
    return grad_output.to(input.dtype)


def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Gradient of ``max_pool2d``: each output's gradient goes to the one input cell that was the max
    (summed where windows overlap and share it); every other cell gets zero.
    Args: grad_output (Tensor shaped like the pooled output); the others as ``max_pool2d``.
    Returns: Tensor like input."""
    check_tensor(grad_output, "grad_output", floating=True)
    x, unbatched = _pool_input(input)
    k, s, p, d, out = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    g = _grad_out(grad_output, input, (*input.shape[:-2], *out), "kernel_size, stride, padding, dilation, ceil_mode")
    g = g.unsqueeze(0) if unbatched else g
    _, indices = _max_pool(x, k, s, p, d, out)
    flat = g.new_zeros(*x.shape[:-2], x.shape[-2] * x.shape[-1])
    flat.scatter_add_(-1, indices.flatten(-2), g.flatten(-2))
    return flat.view(input.shape)


def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """Gradient of ``avg_pool2d``: each output's gradient, divided by its divisor, is spread evenly
    over its window (padding cells absorb their share and are cropped).
    Args: grad_output (Tensor shaped like the pooled output); the others as ``avg_pool2d``.
    Returns: Tensor like input."""
    check_tensor(grad_output, "grad_output", floating=True)
    x, unbatched, (k, s, p, d, out), divisor = _avg_setup(input, kernel_size, stride, padding, ceil_mode,
                                                          count_include_pad, divisor_override)
    g = _grad_out(grad_output, input, (*input.shape[:-2], *out), "kernel_size, stride, padding, ceil_mode")
    g = g.unsqueeze(0) if unbatched else g
    N, C, H, W = x.shape
    g = g / divisor
    cols = g.reshape(N, C, 1, out[0] * out[1]).expand(N, C, k[0] * k[1], out[0] * out[1])
    canvas = [max((out[i] - 1) * s[i] + k[i], (H, W)[i] + 2 * p[i]) for i in range(2)]
    grad = _fold(cols.reshape(N, C * k[0] * k[1], out[0] * out[1]), canvas, k, d, s, out)
    grad = grad[:, :, p[0]:p[0] + H, p[1]:p[1] + W]
    return grad[0] if unbatched else grad
