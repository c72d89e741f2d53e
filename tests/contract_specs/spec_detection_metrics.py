"""Contract cases for cvbook_lib.detection_metrics (reference: pycocotools COCOeval, bbox, area 'all').

``evaluate_detections`` is also fuzzed through a small wrapper whose arguments are the tensors of one
image (a second, fixed image completes the dataset), so that the tensor battery reaches the boxes,
scores and labels. Deliberate differences (docstring of cvbook_lib.detection_metrics): non-finite
boxes, NaN scores, non-integer labels, bool/complex tensors, boxes / scores / labels of different
lengths (COCOeval's zip silently truncates) and max_detections <= 0 are refused.
"""

import contextlib
import io

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from contract_specs import Case
from cvbook_lib import detection_metrics as DM


def cocoeval(predictions, ground_truths, iou_thresholds=DM.COCO_IOU_THRESHOLDS, max_detections=100):
    """pycocotools' answer in the shape of ``evaluate_detections``'s."""
    images, anns, dets, cats = [], [], [], set()
    for i, (p, g) in enumerate(zip(predictions, ground_truths)):
        images.append(dict(id=i, width=1000, height=1000))
        for b, c in zip(torch.as_tensor(g["boxes"]).tolist(), torch.as_tensor(g["labels"]).tolist()):
            anns.append(dict(id=len(anns) + 1, image_id=i, category_id=c, bbox=[b[0], b[1], b[2] - b[0], b[3] - b[1]],
                             area=(b[2] - b[0]) * (b[3] - b[1]), iscrowd=0))
            cats.add(c)
        for b, s, c in zip(torch.as_tensor(p["boxes"]).tolist(), torch.as_tensor(p["scores"]).tolist(),
                           torch.as_tensor(p["labels"]).tolist()):
            dets.append(dict(image_id=i, category_id=c, bbox=[b[0], b[1], b[2] - b[0], b[3] - b[1]], score=s))
            cats.add(c)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dict(images=images, annotations=anns, categories=[dict(id=c) for c in sorted(cats)])
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.params.iouThrs = np.array(iou_thresholds, dtype=np.float64)
        ev.params.maxDets = [max_detections]
        ev.evaluate()
        ev.accumulate()
    prec = ev.eval["precision"][:, :, :, 0, -1]                          # [T, R, K]
    rec = ev.eval["recall"][:, :, 0, -1]                                  # [T, K]
    ap = torch.tensor(np.where((prec > -1).any(1), np.where(prec > -1, prec, 0).mean(1), np.nan))
    recall = torch.tensor(np.where(rec > -1, rec, np.nan))
    valid = ~torch.isnan(ap[0])
    out = dict(classes=torch.tensor(sorted(cats), dtype=torch.long), ap=ap, recall=recall,
               map=ap[:, valid].mean().item() if bool(valid.any()) else float("nan"),
               mar=recall[:, valid].mean().item() if bool(valid.any()) else float("nan"))
    for name, thr in (("map_50", 0.5), ("map_75", 0.75)):
        hit = [t for t, x in enumerate(iou_thresholds) if abs(x - thr) < 1e-9]
        if hit and bool(valid.any()):
            out[name] = ap[hit[0], valid].mean().item()
    return out


G = torch.Generator().manual_seed(0)
gt_boxes = torch.tensor([[1.0, 1, 4, 5], [5, 5, 8, 7], [2, 5, 3, 8]])
gt_labels = torch.tensor([0, 1, 0])
det_boxes = torch.cat([gt_boxes + 0.3 * torch.randn(3, 4, generator=G).clamp(-1, 1), torch.tensor([[0.0, 0, 2, 2]])])
det_boxes[:, 2:] = torch.maximum(det_boxes[:, 2:], det_boxes[:, :2] + 0.5)
det_scores = torch.tensor([0.9, 0.8, 0.3, 0.6])
det_labels = torch.tensor([0, 1, 0, 0])
other_pred = dict(boxes=torch.tensor([[0.0, 0, 3, 3], [4.0, 4, 6, 6]]), scores=torch.tensor([0.7, 0.4]),
                  labels=torch.tensor([0, 1]))
other_gt = dict(boxes=torch.tensor([[0.2, 0, 3, 3.1]]), labels=torch.tensor([0]))


def _one_image(fn):
    """fn on a dataset of two images, the first one given by the tensors; the error messages name the
    wrapper's arguments (``predictions[0]['boxes']`` is ``det_boxes`` here)."""
    names = {"predictions[0]['boxes']": "det_boxes", "predictions[0]['scores']": "det_scores",
             "predictions[0]['labels']": "det_labels", "ground_truths[0]['boxes']": "gt_boxes",
             "ground_truths[0]['labels']": "gt_labels", "predictions[0]": "det_boxes, det_scores, det_labels",
             "ground_truths[0]": "gt_boxes, gt_labels"}

    def call(det_boxes, det_scores, det_labels, gt_boxes, gt_labels, max_detections=100):
        preds = [dict(boxes=det_boxes, scores=det_scores, labels=det_labels), other_pred]
        try:
            return fn(preds, [dict(boxes=gt_boxes, labels=gt_labels), other_gt], max_detections=max_detections)
        except (TypeError, ValueError) as err:
            msg = str(err)
            for k, v in names.items():
                msg = msg.replace(k, v)
            raise type(err)(msg) from err

    return call


REFUSED = {("max_detections", m): "max_detections must be >= 1" for m in ("zero", "minus1")}
for arg in ("det_boxes", "gt_boxes"):
    REFUSED.update({(arg, m): "non-finite or x2 < x1 boxes are refused" for m in ("nan", "inf", "-inf")})
    REFUSED.update({(arg, m): f"{m} boxes are refused" for m in ("bool", "complex")})
    REFUSED.update({(arg, m): "boxes must be Tensor[N, 4] of the labels' length" for m in ("empty-first", "rank+")})
REFUSED.update({("det_scores", m): "NaN, bool and complex scores are refused" for m in ("nan", "bool", "complex")})
REFUSED.update({(a, m): "labels must be integers" for a in ("det_labels", "gt_labels") for m in ("float", "bool")})
REFUSED.update({(a, m): "scores/labels must have the boxes' length (COCOeval's zip truncates)"
                for a in ("det_scores", "det_labels", "gt_labels") for m in ("empty-first", "empty-last", "rank-")})
one_image = dict(det_boxes=det_boxes, det_scores=det_scores, det_labels=det_labels, gt_boxes=gt_boxes,
                 gt_labels=gt_labels, max_detections=100)
iou = torch.tensor([[0.6, 0.6, 0.2], [0.9, 0.0, 0.4], [0.0, 0.55, 0.45], [0.5, 0.0, 0.0]])
preds, gts = [dict(boxes=det_boxes, scores=det_scores, labels=det_labels), other_pred], \
    [dict(boxes=gt_boxes, labels=gt_labels), other_gt]

SPECS = {
    DM.evaluate_detections: [
        Case(DM.evaluate_detections, dict(predictions=preds, ground_truths=gts, iou_thresholds=DM.COCO_IOU_THRESHOLDS,
                                          max_detections=100), ref=cocoeval, differs=REFUSED),
        Case(DM.evaluate_detections, dict(predictions=preds, ground_truths=gts, iou_thresholds=(0.5, 0.75),
                                          max_detections=1), ref=cocoeval, differs=REFUSED),
        Case(_one_image(DM.evaluate_detections), one_image, ref=_one_image(cocoeval), differs=REFUSED),
    ],
    # no reference for the pieces: COCOeval's evaluateImg is not public; tests/test_metrics.py checks them
    DM.greedy_match: [Case(DM.greedy_match, dict(iou=iou, iou_threshold=0.5))],
    DM.match_detections: [Case(DM.match_detections, dict(iou=iou, iou_threshold=0.5))],
    DM.detection_pr_curve: [Case(DM.detection_pr_curve, dict(predictions=preds, ground_truths=gts, label=0,
                                                              iou_threshold=0.5, max_detections=100))],
}
