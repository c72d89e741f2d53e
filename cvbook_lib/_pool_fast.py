"""Fast max / average pooling of :mod:`cvbook_lib.pooling`: separable passes over strided views.

A k_h × k_w window reduces as k_h rows then k_w columns (max and sum are both separable), so an output
costs k_h + k_w elementwise steps instead of k_h·k_w, and no padded copy of the input is made: for
kernel offset j the outputs whose cell ``i*s - p + j*d`` lies inside the input form one contiguous
range, and the offset's input cells one strided slice, which is folded in place into that range of
the result. Cells in the padding (or past the input with ``ceil_mode``) are never read, so padding
never wins a max and adds nothing to a sum. ``torch.maximum`` propagates NaN, so NaN wins a max, as
in torch's pooling. Values only: the indices (and torch's routing of a max's gradient to one cell)
come from the window path in :mod:`cvbook_lib.pooling`.
"""

from __future__ import annotations

import torch


def _offset_ranges(n: int, o: int, k: int, s: int, p: int, d: int):
    """For each kernel offset j along an axis of length n with o outputs: (out_lo, out_hi, in_start), the
    outputs whose cell i*s - p + j*d is inside [0, n) and the input cell of the first; offsets whose
    every cell is padding are left out."""
    ranges = []
    for j in range(k):
        shift = j * d - p                                   # input cell of output i: i*s + shift
        lo = max(0, -(shift // s))                          # first i with i*s + shift >= 0
        hi = min(o, (n - 1 - shift) // s + 1)               # past the last i with i*s + shift <= n - 1
        if hi > lo:
            ranges.append((lo, hi, lo * s + shift))
    return ranges


def _pass(x: torch.Tensor, dim: int, o: int, k: int, s: int, p: int, d: int, op: str, owned: bool):
    """Reduce ``x`` along ``dim`` (2 or 3) with ``op`` ('max' or 'sum') over the windows of one axis.
    Returns (result, owned): ``owned`` says whether the result is a new tensor (else a view of x)."""
    n = x.shape[dim]
    ranges = _offset_ranges(n, o, k, s, p, d)

    def cells(lo, hi, start):                               # the input cells of outputs lo..hi-1
        return x.narrow(dim, start, (hi - lo - 1) * s + 1)[(slice(None),) * dim + (slice(None, None, s),)]

    full = [r for r in ranges if r[0] == 0 and r[1] == o]
    if len(full) == 1 and len(ranges) == 1:
        return cells(*full[0]), owned                                         # one offset: a strided view
    if len(full) >= 2:
        a, b = full[0], full[1]
        out = torch.maximum(cells(*a), cells(*b)) if op == "max" else torch.add(cells(*a), cells(*b))
        rest = [r for r in ranges if r is not a and r is not b]
    else:
        shape = list(x.shape)
        shape[dim] = o
        out = x.new_full(shape, float("-inf") if op == "max" else 0.0)
        rest = ranges
    for lo, hi, start in rest:
        view = out.narrow(dim, lo, hi - lo)
        if op == "max":
            torch.maximum(view, cells(lo, hi, start), out=view)
        else:
            view.add_(cells(lo, hi, start))
    return out, True


def fast_pool(x: torch.Tensor, k, s, p, d, out, op: str) -> torch.Tensor:
    """Max (op='max') or window sum (op='sum') of a validated 4-D pooling: rows, then columns."""
    y, owned = _pass(x, 2, out[0], k[0], s[0], p[0], d[0], op, False)
    y, owned = _pass(y, 3, out[1], k[1], s[1], p[1], d[1], op, owned)
    return y if owned else y.clone()


def divisor_sizes(n: int, o: int, k: int, s: int, p: int, count_include_pad: bool) -> list[int]:
    """Window length of each output along one axis, as F.avg_pool2d counts it: clipped to the padded
    input (``count_include_pad``) or to the real input."""
    sizes = []
    for i in range(o):
        start = i * s - p
        end = min(start + k, n + p)
        if not count_include_pad:
            start, end = max(start, 0), min(end, n)
        sizes.append(end - start)
    return sizes
