"""Contract cases for cvbook_lib.roi (reference: torchvision.ops.roi_pool / roi_align).

torchvision's kernels read memory out of bounds (a segfault, or garbage) for an empty batch, for an
empty map in ROI Align, for an image index outside the batch and for NaN / inf boxes: the reference is wrapped so that
these inputs count as refused instead of crashing the test process. cvbook_lib refuses them clearly.
Deliberate differences (docstring of cvbook_lib.roi): a non-finite input or box, a 5-D input,
spatial_scale <= 0 or non-finite, a three-element output_size. Boxes with x2 < x1 or y2 < y1 are valid, as
in torchvision (the cases with ``inverted`` boxes compare them).
"""

import torch
import torchvision.ops as tv
from torchvision.ops._utils import convert_boxes_to_roi_format as tv_convert

from contract_specs import Case
from cvbook_lib import roi as R

G = torch.Generator().manual_seed(0)
x = torch.randn(2, 3, 6, 7, generator=G)
# image index 0 only, so that x1e4 / x1e-30 keep every index valid; middle element (row 1, col 2) is y1
rois = torch.tensor([[0.0, 1, 1, 4, 5], [0, 0.5, 2, 3, 3], [0, 2, 0, 6, 4]])
per_image = [torch.tensor([[1.0, 1, 4, 5], [0.5, 2, 3, 3]]), torch.tensor([[2.0, 0, 6, 4]])]
# x2 < x1 and / or y2 < y1; for ROI Align with aligned=True both axes inverted, since torchvision's CPU kernel
# fails on a box inverted along one axis by a bin or more under adaptive sampling (a sampling_ratio mutation)
inverted = torch.tensor([[0.0, 4, 1, 1, 5], [0, 1, 5, 4, 1], [0, 5.5, 3, 2, 0.5], [0, 3, 3, 3, 3]])
inverted_both = torch.tensor([[0.0, 4, 5, 1, 1], [0, 5.5, 3, 2, 0.5], [0, 3.2, 3.1, 3, 3]])
inverted_list = [inverted[:2, 1:], inverted[2:, 1:]]


def _guarded(tv_fn, align):
    def ref(input, boxes, *args, **kwargs):
        r = boxes
        if isinstance(boxes, list) and boxes and all(isinstance(b, torch.Tensor) and b.dim() == 2 for b in boxes):
            r = tv_convert(boxes)
        if isinstance(input, torch.Tensor) and isinstance(r, torch.Tensor) and input.dim() == 4 \
                and r.dim() == 2 and r.shape[-1] == 5 and r.dtype == input.dtype:
            idx = r[:, 0]
            if input.shape[0] == 0 or (align and min(input.shape[2:]) == 0) or \
                    bool(((idx < 0) | (idx >= input.shape[0])).any()) or not bool(torch.isfinite(r).all()):
                raise ValueError("torchvision would read out of bounds here")
        return tv_fn(input, boxes, *args, **kwargs)

    return ref


NONFINITE = {(arg, m): f"a non-finite {arg} is refused (torchvision's kernels skip NaN / give partial NaN)"
             for arg in ("input", "boxes") for m in ("nan", "inf", "-inf")}
SCALE = {("spatial_scale", m): "spatial_scale must be finite and > 0"
         for m in ("nan", "inf", "-inf", "zero", "negated")}
RANK = {("input", "rank+"): "a 5-D input is refused (torchvision reads it as 4-D)"}
PAIR = {("output_size", "len3"): "output_size is an int or a pair (torchvision ignores a third entry)"}
D = {**NONFINITE, **SCALE, **RANK, **PAIR}

SPECS = {
    R.roi_pool: [
        Case(R.roi_pool, dict(input=x, boxes=rois, output_size=2, spatial_scale=0.5), ref=_guarded(tv.roi_pool, False),
             differs=D),
        Case(R.roi_pool, dict(input=x, boxes=per_image, output_size=(2, 3), spatial_scale=1.0),
             ref=_guarded(tv.roi_pool, False), differs=D),
        Case(R.roi_pool, dict(input=x, boxes=inverted, output_size=(2, 3), spatial_scale=1.0),
             ref=_guarded(tv.roi_pool, False), differs=D),
        Case(R.roi_pool, dict(input=x, boxes=inverted_list, output_size=2, spatial_scale=0.5),
             ref=_guarded(tv.roi_pool, False), differs=D),
    ],
    R.roi_align: [
        Case(R.roi_align, dict(input=x, boxes=rois, output_size=(2, 3), spatial_scale=0.5, sampling_ratio=2,
                               aligned=False), ref=_guarded(tv.roi_align, True), differs=D),
        # adaptive sampling: boxes x1e4 would make torchvision average ~1e7 samples per bin (minutes)
        Case(R.roi_align, dict(input=x, boxes=rois, output_size=2, spatial_scale=1.0, sampling_ratio=-1,
                               aligned=True), ref=_guarded(tv.roi_align, True), differs=D, skip={"boxes": {"x1e4"}}),
        Case(R.roi_align, dict(input=x, boxes=per_image, output_size=2, spatial_scale=0.5, sampling_ratio=0,
                               aligned=True), ref=_guarded(tv.roi_align, True), differs=D),
        Case(R.roi_align, dict(input=x, boxes=inverted, output_size=(2, 3), spatial_scale=1.0, sampling_ratio=2,
                               aligned=False), ref=_guarded(tv.roi_align, True), differs=D),
        Case(R.roi_align, dict(input=x, boxes=inverted_both, output_size=2, spatial_scale=1.0, sampling_ratio=2,
                               aligned=True), ref=_guarded(tv.roi_align, True), differs=D),
        Case(R.roi_align, dict(input=x, boxes=inverted_list, output_size=2, spatial_scale=0.5, sampling_ratio=-1,
                               aligned=False), ref=_guarded(tv.roi_align, True), differs=D, skip={"boxes": {"x1e4"}}),
    ],
    R.convert_boxes_to_roi_format: [Case(R.convert_boxes_to_roi_format, dict(boxes=per_image), ref=tv_convert)],
}
