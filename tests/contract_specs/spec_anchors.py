"""Contract cases for cvbook_lib.anchors (references: torchvision's AnchorGenerator / BoxCoder,
torchvision.ops.box_iou, scipy.optimize.linear_sum_assignment, DETR's matcher written with both).

Deliberate differences (docstring of cvbook_lib.anchors): integer, bool and complex tensors are
refused where a floating tensor is needed (``float_only``); boxes with x2 < x1 (a ``-inf`` put into
a box) are refused; a NaN ``bbox_xform_clip`` is refused; a 1-D (w, h) or base anchor is refused where
torchvision's broadcasting would take it as one row; a complex cost matrix is refused (scipy, given a
torch tensor, drops the imaginary part). ``linear_sum_assignment`` and ``hungarian_match`` are defined in
cvbook_lib.matching (re-exported by cvbook_lib.anchors); their cases stay here.
"""

import math

import numpy as np
import scipy.optimize
import torch
import torchvision.ops as tv
from torchvision.models.detection._utils import BoxCoder as TvBoxCoder
from torchvision.models.detection.anchor_utils import AnchorGenerator as TvAnchorGenerator
from torchvision.models.detection.image_list import ImageList

from contract_specs import Case
from cvbook_lib import anchors as A

G = torch.Generator().manual_seed(0)
X2 = "a box with x2 < x1 is refused (torchvision computes with it)"
FLOAT = {"float_only"}


class _TvGenerator:
    """torchvision's AnchorGenerator called like ours: gen(image_size, feature_maps) -> Tensor[A, 4]."""

    def __init__(self, **kwargs):
        self.gen = TvAnchorGenerator(**kwargs)

    def __call__(self, image_size, feature_maps):
        image = torch.zeros(1, 1, *image_size)
        return self.gen(ImageList(image, [tuple(image_size)]), list(feature_maps))[0]


fmaps = [torch.zeros(1, 2, 8, 10), torch.zeros(1, 2, 4, 5)]


def _run_generator(gen):
    return gen((64, 80), fmaps)


def _call_generator(image_size, feature_map):
    return A.AnchorGenerator(((32, 64),), ((0.5, 1.0, 2.0),))(image_size, [feature_map])


def _call_tv_generator(image_size, feature_map):
    return _TvGenerator(sizes=((32, 64),), aspect_ratios=((0.5, 1.0, 2.0),))(image_size, [feature_map])


def _tv_grid_anchors(grid_size, stride, base_anchors):
    gen = TvAnchorGenerator(((1,),), ((1.0,),))
    gen.cell_anchors = [base_anchors]
    return gen.grid_anchors([list(grid_size)], [[torch.tensor(s) for s in stride]])[0]


def _boxes(n):
    xy = torch.rand(n, 2, generator=G) * 50
    return torch.cat([xy, xy + torch.rand(n, 2, generator=G) * 30 + 5], 1)


anchors, gt = _boxes(5), _boxes(5)
codes = torch.randn(5, 8, generator=G) * 0.3          # two classes
WEIGHTS = (10.0, 10.0, 5.0, 5.0)


def _coder_out(coder):
    return coder.encode_single(gt, anchors), coder.decode_single(codes, anchors)


def _encode(reference_boxes, proposals):
    return A.BoxCoder(WEIGHTS).encode_single(reference_boxes, proposals)


def _tv_encode(reference_boxes, proposals):
    return TvBoxCoder(WEIGHTS).encode_single(reference_boxes, proposals)


def _decode(rel_codes, boxes):
    return A.BoxCoder(WEIGHTS).decode_single(rel_codes, boxes)


def _tv_decode(rel_codes, boxes):
    return TvBoxCoder(WEIGHTS).decode_single(rel_codes, boxes)


gt_list, anchor_list = [gt[:3], gt[3:3], gt[3:]], [anchors[:3], anchors[3:3], anchors[3:]]   # image 1: no box


def _encode_list(reference_boxes, proposals):
    return A.BoxCoder(WEIGHTS).encode(reference_boxes, proposals)


def _tv_encode_list(reference_boxes, proposals):
    return TvBoxCoder(WEIGHTS).encode(reference_boxes, proposals)


def _decode_list(rel_codes, boxes):
    return A.BoxCoder(WEIGHTS).decode(rel_codes, boxes)


def _tv_decode_list(rel_codes, boxes):
    return TvBoxCoder(WEIGHTS).decode(rel_codes, boxes)


def _tv_wh_iou(wh1, wh2):
    return tv.box_iou(torch.cat([torch.zeros_like(wh1), wh1], -1), torch.cat([torch.zeros_like(wh2), wh2], -1))


def _scipy_lsa(cost, maximize=False):
    return scipy.optimize.linear_sum_assignment(cost, maximize=maximize)


def _detr_reference(pred_logits, pred_boxes, tgt_labels, tgt_boxes, cost_class=1.0, cost_bbox=5.0, cost_giou=2.0):
    """DETR's HungarianMatcher for one image, with torchvision's ops and scipy."""
    to_xyxy = lambda b: tv.box_convert(b, "cxcywh", "xyxy")  # noqa: E731
    C = (cost_bbox * torch.cdist(pred_boxes, tgt_boxes, p=1) - cost_class * pred_logits.softmax(-1)[:, tgt_labels]
         - cost_giou * tv.generalized_box_iou(to_xyxy(pred_boxes), to_xyxy(tgt_boxes)))
    q, t = scipy.optimize.linear_sum_assignment(C.detach().double().numpy())
    return torch.as_tensor(q), torch.as_tensor(t), C


wh5 = torch.rand(5, 2, generator=G) * 40 + 2
wh3 = torch.rand(3, 2, generator=G) * 40 + 2
kmeans_wh = torch.cat([torch.rand(12, 2, generator=G) * 10 + c for c in (5, 30, 80)])
pred_boxes = torch.cat([torch.rand(6, 2, generator=G) * 0.6 + 0.2, torch.rand(6, 2, generator=G) * 0.3 + 0.05], 1)
tgt_boxes = pred_boxes[[4, 1, 2]] + 0.01
detr = dict(pred_logits=torch.randn(6, 4, generator=G), pred_boxes=pred_boxes,
            tgt_labels=torch.tensor([0, 2, 1]), tgt_boxes=tgt_boxes, cost_class=1.0, cost_bbox=5.0, cost_giou=2.0)

SPECS = {
    A.generate_anchors: [
        # sizes may be real numbers (torchvision's as_tensor takes them), so a float element is valid
        Case(A.generate_anchors, dict(scales=(128, 256, 512), aspect_ratios=(0.5, 1.0, 2.0), dtype=torch.float32,
                                      device="cpu"),
             ref=TvAnchorGenerator().generate_anchors, skip={"scales": {"float-element"}}),
    ],
    A.AnchorGenerator: [
        Case(A.AnchorGenerator, dict(sizes=((32,), (64,)), aspect_ratios=((0.5, 1.0, 2.0),) * 2), ref=_TvGenerator,
             out=_run_generator),
        # a flat tuple of sizes: one size per feature map, as in torchvision (float sizes are valid)
        Case(A.AnchorGenerator, dict(sizes=(32, 64), aspect_ratios=(0.5, 1.0, 2.0)), ref=_TvGenerator,
             out=_run_generator, skip={"sizes": {"float-element"}}),
        Case(_call_generator, dict(image_size=(64, 80), feature_map=fmaps[0]), ref=_call_tv_generator,
             float_only={"feature_map"},
             differs={("image_size", "len3"): "image_size is a pair (the reference reads the last two of three)"}),
        Case(A.AnchorGenerator.grid_anchors,
             dict(grid_size=(3, 4), stride=(8, 16), base_anchors=A.generate_anchors((32, 64), (0.5, 2.0))),
             ref=_tv_grid_anchors, float_only={"base_anchors"},
             differs={("base_anchors", m): "base_anchors must be Tensor[A, 4] (torchvision's view(1, -1, 4) takes "
                      "anything)" for m in ("rank-", "rank+", "empty-last")}),
    ],
    A.BoxCoder: [
        Case(A.BoxCoder, dict(weights=WEIGHTS, bbox_xform_clip=math.log(1000.0 / 16)), ref=TvBoxCoder, out=_coder_out,
             differs={("bbox_xform_clip", "nan"): "a NaN clip is refused (torchvision clamps to NaN)"}),
        Case(_encode, dict(reference_boxes=gt, proposals=anchors), ref=_tv_encode,
             float_only={"reference_boxes", "proposals"},
             differs={("reference_boxes", "-inf"): X2, ("proposals", "-inf"): X2,
                      ("reference_boxes", "rank+"): "boxes must be Tensor[N, 4]", ("proposals", "rank+"): "the same"}),
        Case(_decode, dict(rel_codes=codes, boxes=anchors), ref=_tv_decode, float_only={"rel_codes", "boxes"},
             differs={("boxes", "-inf"): X2, ("boxes", "rank+"): "boxes must be Tensor[N, 4]"}),
        # torchvision's list API (per-image lists; the battery changes a list argument into a string)
        Case(_encode_list, dict(reference_boxes=gt_list, proposals=anchor_list), ref=_tv_encode_list),
        Case(_decode_list, dict(rel_codes=codes, boxes=anchor_list), ref=_tv_decode_list, float_only={"rel_codes"},
             differs={("rel_codes", "empty-first"): "rel_codes without a value for the boxes is refused (torchvision "
                      "fails to reshape)", ("rel_codes", "empty-last"): "the same"}),
        Case(_decode_list, dict(rel_codes=codes.reshape(-1, 4), boxes=anchor_list), ref=_tv_decode_list,
             float_only={"rel_codes"}, differs={("rel_codes", "empty-first"): "refused (see above)",
                                                ("rel_codes", "empty-last"): "the same"}),
    ],
    A.wh_iou: [
        Case(A.wh_iou, dict(wh1=wh5, wh2=wh3), ref=_tv_wh_iou,
             differs={("wh1", "-inf"): "a negative size is refused", ("wh2", "-inf"): "a negative size is refused",
                      ("wh1", "rank-"): "wh1 must be Tensor[N, 2] (box_iou broadcasts one box)",
                      ("wh1", "rank+"): "sizes must be Tensor[N, 2] (no batch dimension)", ("wh2", "rank+"): "the same",
                      **{(a, m): f"{m} sizes are refused" for a in ("wh1", "wh2") for m in ("bool", "complex")}}),
    ],
    # no reference (scikit-learn's KMeans has no 1 - IoU distance); tests/test_anchors.py checks the clusters
    A.kmeans_anchors: [
        Case(A.kmeans_anchors, dict(wh=kmeans_wh, k=3, iters=20, seed=0, distance=d)) for d in ("iou", "euclidean")
    ],
    A.linear_sum_assignment: [
        Case(A.linear_sum_assignment, dict(cost=torch.randn(4, 6, generator=G) * 3, maximize=False), ref=_scipy_lsa,
             arraylike={"cost"}, differs={("cost", "complex"): "a complex cost is refused"}),
        Case(A.linear_sum_assignment, dict(cost=torch.randn(7, 3, generator=G) * 3, maximize=True), ref=_scipy_lsa,
             arraylike={"cost"}, differs={("cost", "complex"): "a complex cost is refused"}),
        Case(A.linear_sum_assignment, dict(cost=torch.tensor(np.random.default_rng(0).integers(0, 3, (6, 6)) * 1.0)),
             ref=_scipy_lsa, arraylike={"cost"}, differs={("cost", "complex"): "a complex cost is refused"}),
    ],
    A.hungarian_match: [
        Case(A.hungarian_match, detr, ref=_detr_reference, float_only={"pred_logits", "pred_boxes", "tgt_boxes"},
             differs={("tgt_labels", "list"): "tgt_labels must be a tensor (the reference indexes with a list)"}),
    ],
}
