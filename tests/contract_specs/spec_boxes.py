"""Contract cases for cvbook_lib.boxes (reference: torchvision.ops).

Deliberate differences (declared per case in ``differs``; the docstrings of cvbook_lib.boxes say so):
boxes with x2 < x1 or y2 < y1 (a negative size in xywh/cxcywh) are refused — a ``-inf`` (or ``inf``
on x1) put into a box makes one; bool and complex boxes are refused where torchvision casts them;
NaN scores, NaN ``eps``, IoU thresholds outside [0, 1], float/bool ``idxs`` and non-finite boxes in
``batched_nms`` are refused. An empty ``boxes`` in ``batched_nms`` gives [] as in torchvision. float16 NMS is
compared with torchvision's float32 answer on the same values (its CPU kernel refuses float16).
"""

import torch
import torchvision.ops as tv

from contract_specs import Case
from cvbook_lib import boxes as B

G = torch.Generator().manual_seed(0)


def _boxes(n):
    xy = torch.rand(n, 2, generator=G) * 10
    return torch.cat([xy, xy + torch.rand(n, 2, generator=G) * 5 + 1], 1)


b5, b3 = _boxes(5), _boxes(3)                       # the middle element of each is an x2
nms_boxes = torch.tensor([[0.0, 0, 4, 4], [1, 1, 5, 5], [0.5, 0.5, 4.5, 4.2], [6, 6, 9, 9], [6.5, 6, 9, 9.5]])
nms_scores = torch.tensor([0.9, 0.8, 0.75, 0.6, 0.7])
labels = torch.tensor([0, 0, 1, 1, 1])
# float16 boxes whose areas overflow float16 (torchvision's test_nms_float16): the IoU is taken in float32
big16 = (nms_boxes * 150 + torch.tensor([0.0, 0, 700, 700])).half()


def _tv_on_float32(tv_fn):
    """torchvision's CPU NMS refuses float16: the reference for float16 boxes and scores is its float32 answer on
    the same (float16-rounded) values, as its CUDA kernel accumulates the IoU in float."""
    def ref(boxes, scores, **kwargs):
        if isinstance(boxes, torch.Tensor) and isinstance(scores, torch.Tensor) and \
                boxes.dtype == scores.dtype == torch.float16:
            boxes, scores = boxes.float(), scores.float()
        return tv_fn(boxes, scores, **kwargs)
    return ref

X2_BELOW_X1 = "a box with x2 < x1 is refused (torchvision computes with it)"
BOOL_COMPLEX = {"bool": "bool boxes are refused (torchvision casts them to int)",
                "complex": "complex boxes are refused (torchvision drops the imaginary part)"}
EPS_NAN = {("eps", "nan"): "a NaN eps is refused (torchvision returns NaN)"}
THRESHOLD = {("iou_threshold", m): "iou_threshold must be in [0, 1] (torchvision takes anything)"
             for m in ("nan", "inf", "-inf", "negated")}


def _differs(arg, *mutations, **extra):
    out = {(arg, m): X2_BELOW_X1 for m in mutations}
    out.update({(arg, m): why for m, why in extra.items()})
    return out


def _iou_cases(fn, ref, **kw):
    d = {**_differs("boxes1", "-inf", **BOOL_COMPLEX), **_differs("boxes2", "-inf", **BOOL_COMPLEX)}
    if "eps" in kw:
        d.update(EPS_NAN)
    return [Case(fn, dict(boxes1=b5, boxes2=b3, **kw), ref=ref, differs=d)]


def _loss_cases(fn, ref):
    out = []
    for reduction in ("none", "mean", "sum"):
        d = {**_differs("boxes1", "-inf", **BOOL_COMPLEX), **_differs("boxes2", "-inf", **BOOL_COMPLEX), **EPS_NAN,
             ("boxes2", "float64"): "a boxes2 wider than boxes1 is refused: torchvision raises when a pair overlaps "
                                    "(index_put dtype mismatch) and accepts it when none does"}
        out.append(Case(fn, dict(boxes1=b5, boxes2=b5 + 0.7, reduction=reduction, eps=1e-7), ref=ref, differs=d))
    return out


SPECS = {
    B.box_convert: [
        Case(B.box_convert, dict(boxes=b5, in_fmt="xyxy", out_fmt="cxcywh"), ref=tv.box_convert,
             differs=_differs("boxes", "-inf", complex=BOOL_COMPLEX["complex"])),
        Case(B.box_convert, dict(boxes=b3, in_fmt="xywh", out_fmt="xyxy"), ref=tv.box_convert,
             differs=_differs("boxes", "-inf", complex=BOOL_COMPLEX["complex"], bool=BOOL_COMPLEX["bool"])),
        Case(B.box_convert, dict(boxes=b3, in_fmt="cxcywh", out_fmt="xywh"), ref=tv.box_convert,
             differs=_differs("boxes", "-inf", complex=BOOL_COMPLEX["complex"])),
    ],
    B.box_area: [
        Case(B.box_area, dict(boxes=b5, fmt="xyxy"), ref=tv.box_area,
             differs=_differs("boxes", "-inf", **BOOL_COMPLEX)),
        Case(B.box_area, dict(boxes=b3, fmt="cxcywh"), ref=tv.box_area,
             differs=_differs("boxes", "-inf", **BOOL_COMPLEX)),
    ],
    B.box_iou: [c for fmt in ("xyxy", "xywh", "cxcywh") for c in _iou_cases(B.box_iou, tv.box_iou, fmt=fmt)],
    B.generalized_box_iou: _iou_cases(B.generalized_box_iou, tv.generalized_box_iou),
    B.distance_box_iou: _iou_cases(B.distance_box_iou, tv.distance_box_iou, eps=1e-7),
    B.complete_box_iou: _iou_cases(B.complete_box_iou, tv.complete_box_iou, eps=1e-7),
    B.generalized_box_iou_loss: _loss_cases(B.generalized_box_iou_loss, tv.generalized_box_iou_loss),
    B.distance_box_iou_loss: _loss_cases(B.distance_box_iou_loss, tv.distance_box_iou_loss),
    B.complete_box_iou_loss: _loss_cases(B.complete_box_iou_loss, tv.complete_box_iou_loss),
    B.nms: [
        Case(B.nms, dict(boxes=nms_boxes, scores=nms_scores, iou_threshold=0.5), ref=tv.nms,
             differs={**_differs("boxes", "-inf"), ("scores", "nan"): "NaN scores are refused (torchvision ranks "
                      "NaN first)", **THRESHOLD}),
        Case(B.nms, dict(boxes=big16, scores=nms_scores.half(), iou_threshold=0.2), ref=_tv_on_float32(tv.nms),
             differs={**_differs("boxes", "-inf"), ("scores", "nan"): "NaN scores are refused", **THRESHOLD}),
    ],
    B.batched_nms: [
        Case(B.batched_nms, dict(boxes=big16, scores=nms_scores.half(), idxs=labels, iou_threshold=0.3),
             ref=_tv_on_float32(tv.batched_nms),
             differs={("boxes", "nan"): "non-finite boxes are refused", ("boxes", "inf"): "the same",
                      ("boxes", "-inf"): "the same", ("boxes", "x1e4"): "the same (float16 overflows to inf)",
                      ("scores", "nan"): "NaN scores are refused", **THRESHOLD, ("boxes", "rank-"): "a 1-D boxes "
                      "is refused", ("idxs", "float"): "idxs must be integer", ("idxs", "bool"): "the same"}),
        Case(B.batched_nms, dict(boxes=nms_boxes, scores=nms_scores, idxs=labels, iou_threshold=0.3),
             ref=tv.batched_nms,
             differs={**_differs("boxes", "-inf", nan="non-finite boxes are refused: torchvision's coordinate "
                                 "trick makes every box NaN", inf="non-finite boxes are refused (as nan)"),
                      ("scores", "nan"): "NaN scores are refused", **THRESHOLD,
                      # torchvision's coordinate trick broadcasts a 1-D box (an empty boxes gives [] in both)
                      ("boxes", "rank-"): "a 1-D boxes is refused",
                      ("idxs", "float"): "idxs must be integer (torchvision casts floats)",
                      ("idxs", "bool"): "idxs must be integer (torchvision casts bools)"}),
    ],
    # no reference: Bodla et al.'s algorithm; tests/test_boxes.py checks it against a line-by-line version
    B.soft_nms: [
        Case(B.soft_nms, dict(boxes=nms_boxes, scores=nms_scores, iou_threshold=0.3, sigma=0.5,
                              score_threshold=0.001, method=m)) for m in ("gaussian", "linear", "hard")
    ],
}
