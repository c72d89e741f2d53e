"""ROI Pool (Fast R-CNN) and ROI Align (Mask R-CNN) from scratch, equal to ``torchvision.ops``.

ROI Pool quantizes twice (the box to whole feature cells, then the bins to whole cells) and takes a
max; ROI Align keeps real coordinates, samples each bin on a regular grid by bilinear interpolation
and averages. Bilinear weights are separable, so ROI Align here is two small matrix products per
image: out[k] = A_y[k] · x · A_x[k]ᵀ. References: Girshick 2015; He et al. 2017. Tested in
``tests/test_boxes.py``.

Both ops are defined for any box, as in torchvision: a box with x2 < x1 or y2 < y1 (zero or negative
extent) just has a bin grid of zero or negative size; ROI Pool makes its rounded box at least 1 × 1
cell, ROI Align (unless ``aligned``) at least 1 × 1, and with ``aligned`` a negative extent gives
no sample (0) with adaptive sampling, or samples stepping backwards with ``sampling_ratio > 0``.
(With ``aligned`` and adaptive sampling, a box inverted along one axis only gives 0, as torchvision's
CUDA kernel; its CPU kernel fails there to allocate a negative-size buffer, a ``ValueError``.)

Deliberate differences from torchvision (a clear ``ValueError``/``TypeError`` instead of its
answer): ``input`` must be a finite 4-D floating tensor (torchvision's max skips NaN and reads a 5-D
input as 4-D; its bilinear sums turn a single inf into NaN in some bins only); boxes must be finite,
with an integer image index in range (torchvision truncates the index and reads out of bounds for a
bad one); ``spatial_scale`` must be finite and > 0; ``output_size`` is an
int or a pair (torchvision ignores a third entry). ROI Align refuses a map with H = 0 or W = 0, on
which torchvision crashes. An ``output_size`` of 0 gives the empty Tensor[K, C, 0, 0], as torchvision.
"""

from __future__ import annotations

import math

import torch

from ._box_checks import _check_box_list
from ._checks import as_pair, check_bool, check_finite, check_float, check_int, check_tensor

__all__ = ["roi_pool", "roi_align", "convert_boxes_to_roi_format"]


def convert_boxes_to_roi_format(boxes) -> torch.Tensor:
    """A list of Tensor[L_i, 4] (one per image) → Tensor[K, 5] rows (image index, x1, y1, x2, y2), like
    torchvision's ``ops._utils.convert_boxes_to_roi_format``."""
    boxes = _check_box_list(boxes, "boxes")
    concat = torch.cat(list(boxes), 0)
    ids = torch.cat([torch.full_like(b[:, :1], i) for i, b in enumerate(boxes)], 0)
    return torch.cat([ids, concat], 1)


def _rois(input, boxes, output_size, spatial_scale, align: bool = False):
    """Check every argument before computing; return (rois Tensor[K, 5], P, Q, scale)."""
    check_tensor(input, "input", (4,), kind="float")
    check_finite(input, "input")
    if align and (input.shape[2] == 0 or input.shape[3] == 0):
        raise ValueError(f"input must have H > 0 and W > 0 for ROI Align, got shape {tuple(input.shape)}")
    if isinstance(boxes, (list, tuple)):
        _check_box_list(boxes, "boxes")
        if len(boxes) > input.shape[0]:
            raise ValueError(f"boxes is a list of {len(boxes)} tensors but input holds {input.shape[0]} images")
        rois = convert_boxes_to_roi_format(boxes)
    else:
        check_tensor(boxes, "boxes", (2,), kind="real")
        if boxes.shape[1] != 5:
            raise ValueError(f"boxes must be Tensor[K, 5] (index, x1, y1, x2, y2) or a list of Tensor[L, 4], "
                             f"got shape {tuple(boxes.shape)}")
        rois = boxes
    if rois.dtype != input.dtype or rois.device != input.device:
        raise TypeError(f"boxes must have the dtype and device of input ({input.dtype}, {input.device}), "
                        f"got {rois.dtype}, {rois.device}")
    check_finite(rois, "boxes")                   # x2 < x1 or y2 < y1 is valid: see roi_pool / roi_align
    idx = rois[:, 0]
    if bool(((idx < 0) | (idx >= input.shape[0]) | (idx != idx.floor())).any()):
        raise ValueError(f"boxes: the image indices must be integers in [0, {input.shape[0] - 1}] "
                         f"(input holds {input.shape[0]} images)")
    P, Q = as_pair(output_size, "output_size", 0)
    scale = check_float(spatial_scale, "spatial_scale", 0.0, min_open=True, allow_inf=False)
    return rois, P, Q, scale


def _zeros(input, *shape):
    """Zeros of ``shape`` that stay on the autograd graph of ``input`` (a sum over no element is exactly 0), so
    that backward through boxes with no sample works, as torchvision's."""
    return input.new_zeros(shape) + input[:0].sum()


def _round_half_away(v):
    """C's round(): halves go away from zero (torch.round sends them to the even neighbour)."""
    r = torch.trunc(v)
    return r + torch.where((v - r).abs() >= 0.5, torch.sign(v), torch.zeros_like(v))


def roi_pool(input, boxes, output_size, spatial_scale: float = 1.0) -> torch.Tensor:
    """Max-pool each box's region of ``input`` to a fixed ``output_size``, like ``torchvision.ops.roi_pool``.

    Quantization 1: the box, scaled by ``spatial_scale``, is rounded to whole cells (half away from
    zero). Quantization 2: bin ph covers rows [⌊ph·h/P⌋, ⌈(ph+1)·h/P⌉) of the rounded box, h = max(y2 - y1 + 1, 1)
    in cells (so an inverted box, y2 < y1, pools the one cell row at y1). Empty bins give 0.

    Args:
        input (Tensor[N, C, H, W]); boxes (Tensor[K, 5] or list of Tensor[L, 4], image coordinates, xyxy).
        output_size (int or (P, Q)); spatial_scale: feature size / image size, e.g. 1/16.
    Returns:
        Tensor[K, C, P, Q].
    """
    rois, P, Q, spatial_scale = _rois(input, boxes, output_size, spatial_scale)
    _, C, H, W = input.shape
    dtype, dev = input.dtype, input.device
    if rois.shape[0] == 0 or P == 0 or Q == 0 or H == 0 or W == 0:       # nothing to pool: zeros, as torchvision
        return _zeros(input, rois.shape[0], C, P, Q)
    corners = _round_half_away(rois[:, 1:] * torch.tensor(spatial_scale, dtype=dtype, device=dev)).long().tolist()
    out = []
    for (b, (sw, sh, ew, eh)) in zip(rois[:, 0].long().tolist(), corners):
        ranges = []
        for start, end, n_bins, size in ((sh, eh, P, H), (sw, ew, Q, W)):
            bin_size = torch.tensor(max(end - start + 1, 1), dtype=dtype) / n_bins
            lo = torch.floor(torch.arange(n_bins, dtype=dtype) * bin_size).long() + start
            hi = torch.ceil(torch.arange(1, n_bins + 1, dtype=dtype) * bin_size).long() + start
            ranges.append((lo.clamp(0, size).to(dev), hi.clamp(0, size).to(dev)))
        (h0, h1), (w0, w1) = ranges
        cells_h, cells_w = torch.arange(H, device=dev), torch.arange(W, device=dev)
        rows = (cells_h >= h0[:, None]) & (cells_h < h1[:, None])                   # [P, H]
        cols = (cells_w >= w0[:, None]) & (cells_w < w1[:, None])                   # [Q, W]
        x = input[b]                                                                # [C, H, W]
        t = x[:, :, None, :].masked_fill(~cols, -math.inf).max(-1).values           # [C, H, Q]
        t = t[:, None].masked_fill(~rows[None, :, :, None], -math.inf).max(2).values  # [C, P, Q]
        empty = (h1 <= h0)[:, None] | (w1 <= w0)[None, :]
        out.append(t.masked_fill(empty, 0.0))
    return torch.stack(out)


def _axis_weights(start, bin_size, grid, n_bins, size, max_grid):
    """A[k, p, i]: the weight of cell i in bin p of box k along one axis — the mean over the bin's
    ``grid[k]`` samples of their linear-interpolation weights (0 for samples off the map)."""
    dtype, dev = start.dtype, start.device
    K = start.shape[0]
    p = torch.arange(n_bins, dtype=dtype, device=dev)[None, :, None]
    g = torch.arange(max_grid, dtype=dtype, device=dev)[None, None, :]
    grid_t = grid.to(dtype)[:, None, None]
    c = (start[:, None, None] + p * bin_size[:, None, None]) + (g + 0.5) * bin_size[:, None, None] / grid_t.clamp(min=1)
    valid = (c >= -1.0) & (c <= size) & (g < grid_t)                    # [K, P, G]
    c = c.clamp(min=0)
    low = c.long()
    top = low >= size - 1
    low = torch.where(top, torch.full_like(low, size - 1), low)
    high = torch.where(top, low, low + 1)
    c = torch.where(top, low.to(dtype), c)
    frac = c - low
    w_low, w_high = (1 - frac) * valid, frac * valid
    A = torch.zeros(K, n_bins, size, dtype=dtype, device=dev)
    A.scatter_add_(2, low, w_low).scatter_add_(2, high, w_high)
    big = torch.full_like(low, size)
    first = torch.where(valid, low, big).amin((1, 2))                  # the cells a box touches: [first, last]
    last = torch.where(valid, high, -big).amax((1, 2))
    return A / grid_t.clamp(min=1), first, last


def roi_align(input, boxes, output_size, spatial_scale: float = 1.0, sampling_ratio: int = -1,
              aligned: bool = False) -> torch.Tensor:
    """ROI Align (He et al. 2017), like ``torchvision.ops.roi_align``: no rounding anywhere.

    The box (scaled, minus 0.5 if ``aligned`` so that pixel centres sit at half-integers) is cut into
    P × Q equal bins; each bin averages ``sampling_ratio``² bilinear samples (or ⌈bin size⌉ per axis when
    ``sampling_ratio <= 0``). Without ``aligned`` a box is at least 1 × 1 cell (max(x2 - x1, 1), as
    torchvision; an inverted box counts as 1 cell wide); with ``aligned`` an inverted box keeps its negative
    size: no sample when ``sampling_ratio <= 0`` (the bin is 0), backwards steps otherwise.

    Args:
        input (Tensor[N, C, H, W]); boxes (Tensor[K, 5] or list of Tensor[L, 4]); output_size (int or (P, Q)).
    Returns:
        Tensor[K, C, P, Q]; differentiable with respect to ``input``.
    """
    rois, P, Q, spatial_scale = _rois(input, boxes, output_size, spatial_scale, align=True)
    sampling_ratio = check_int(sampling_ratio, "sampling_ratio")
    aligned = check_bool(aligned, "aligned")
    N, C, H, W = input.shape
    if rois.shape[0] == 0 or P == 0 or Q == 0:
        return _zeros(input, rois.shape[0], C, P, Q)
    dtype = input.dtype
    scale = torch.tensor(spatial_scale, dtype=dtype, device=input.device)
    start = rois[:, 1:3] * scale - (0.5 if aligned else 0.0)                       # (x, y)
    size = rois[:, 3:5] * scale - (0.5 if aligned else 0.0) - start
    if not aligned:
        size = size.clamp(min=1.0)
    bins = torch.tensor([Q, P], dtype=dtype, device=input.device)
    bin_size = size / bins
    if sampling_ratio > 0:
        grid = torch.full_like(size, sampling_ratio, dtype=torch.long)
    else:
        grid = torch.ceil(size / bins).long()
    max_grid = max(int(grid.max()), 1)
    Ax, x0, x1 = _axis_weights(start[:, 0], bin_size[:, 0], grid[:, 0], Q, W, max_grid)   # [K, Q, W]
    Ay, y0, y1 = _axis_weights(start[:, 1], bin_size[:, 1], grid[:, 1], P, H, max_grid)   # [K, P, H]
    out = []
    for k, (n, a, b, c, d) in enumerate(zip(rois[:, 0].long().tolist(), y0.tolist(), y1.tolist(), x0.tolist(),
                                            x1.tolist())):
        if b < a or d < c:                                                  # no sample on the map
            out.append(_zeros(input, C, P, Q))
            continue
        t = torch.matmul(Ay[k, :, a:b + 1], input[n, :, a:b + 1, c:d + 1])  # [C, P, w]: only the cells it touches
        out.append(torch.matmul(t, Ax[k, :, c:d + 1].T))                    # [C, P, Q]
    return torch.stack(out)
