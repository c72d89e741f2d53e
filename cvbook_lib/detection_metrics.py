"""COCO-style detection evaluation from scratch: AP at each IoU threshold per class, AP50, AP75,
AP@[.5:.95] and AR, equal to ``pycocotools`` COCOeval (bbox, area 'all', maxDets 100) — see
``tests/test_metrics.py``.

The procedure (Lin et al. 2014, COCO's evaluation code):
1. per image and class, detections sorted by score (stable) and cut to ``max_detections``;
2. per IoU threshold t, each detection in score order takes the *unmatched* ground truth with the highest
   IoU ≥ t (a true positive) or stays unmatched (a false positive);
3. per class, all images' detections sorted by score: cumulative TP/FP give precision and recall;
4. AP = mean of the precision envelope at 101 recall points; mAP = the *unweighted* mean over classes
   that have ground truth, and AP@[.5:.95] also averages the 10 thresholds.
"""

from __future__ import annotations

import torch

from .boxes import _check_boxes, box_iou
from .metrics import interpolated_ap

__all__ = ["COCO_IOU_THRESHOLDS", "match_detections", "greedy_match", "evaluate_detections", "detection_pr_curve"]

COCO_IOU_THRESHOLDS = tuple(0.5 + i * ((0.95 - 0.5) / 9) for i in range(9)) + (0.95,)   # = np.linspace(.5, .95, 10)


def match_detections(iou, iou_threshold: float) -> torch.Tensor:
    """Greedy COCO matching for one image and class. iou (Tensor[D, G]) with detections already in score
    order. Returns Tensor[D] bool: detection d is a true positive. Ties in IoU go to the later ground truth,
    as in COCOeval."""
    return greedy_match(iou, iou_threshold) >= 0


def greedy_match(iou, iou_threshold: float) -> torch.Tensor:
    """Like :func:`match_detections`, but returns for each detection the index of the ground truth it
    matched, or -1 (Tensor[D] int64)."""
    D, G = iou.shape
    taken = [False] * G
    match = torch.full((D,), -1, dtype=torch.long)
    rows = iou.tolist()
    for d in range(D):
        best, m = min(iou_threshold, 1 - 1e-10), -1
        for g in range(G):
            if taken[g] or rows[d][g] < best:
                continue
            best, m = rows[d][g], g
        if m >= 0:
            taken[m] = True
            match[d] = m
    return match


def _check_image(entry, i, name, with_scores):
    needed = ("boxes", "labels", "scores") if with_scores else ("boxes", "labels")
    if not isinstance(entry, dict) or any(k not in entry for k in needed):
        keys = "boxes, scores, labels" if with_scores else "boxes, labels"
        raise ValueError(f"{name}[{i}] must be a dict with {keys}")
    boxes = _check_boxes(entry["boxes"], f"{name}[{i}]['boxes']").to(torch.float64).reshape(-1, 4).cpu()
    labels = torch.as_tensor(entry["labels"]).reshape(-1).cpu()
    scores = torch.as_tensor(entry["scores"], dtype=torch.float64).reshape(-1).cpu() if with_scores else None
    if len(labels) != len(boxes) or (with_scores and len(scores) != len(boxes)):
        raise ValueError(f"{name}[{i}]: boxes, labels{' and scores' if with_scores else ''} differ in length")
    if with_scores and bool(torch.isnan(scores).any()):
        raise ValueError(f"{name}[{i}]['scores'] must not contain NaN")
    return boxes, labels, scores


def _class_curves(preds, gts, c, iou_thresholds, max_detections):
    """Precision and recall after each detection of class c (all images, by score), per IoU threshold."""
    scores, tps, n_gt = [], [[] for _ in iou_thresholds], 0
    for (pb, pl, ps), (gb, gl, _) in zip(preds, gts):
        d, g = pl == c, gl == c
        n_gt += int(g.sum())
        order = torch.sort(-ps[d], stable=True).indices[:max_detections]
        dboxes = pb[d][order]
        scores.append(ps[d][order])
        iou = box_iou(dboxes, gb[g]) if len(dboxes) and int(g.sum()) else torch.zeros(len(dboxes), int(g.sum()))
        for t, thr in enumerate(iou_thresholds):
            tps[t].append(match_detections(iou, thr))
    order = torch.sort(-torch.cat(scores), stable=True).indices
    curves = []
    for t in range(len(iou_thresholds)):
        tp = torch.cat(tps[t])[order].to(torch.float64)
        ctp, cfp = torch.cumsum(tp, 0), torch.cumsum(1 - tp, 0)
        curves.append((ctp / (ctp + cfp + torch.finfo(torch.float64).eps), ctp / max(n_gt, 1)))
    return curves, n_gt


def detection_pr_curve(predictions, ground_truths, label: int, iou_threshold: float = 0.5, max_detections: int = 100):
    """(precision, recall) of class ``label`` after each of its detections, all images merged by score — the
    curve whose interpolations (VOC07, VOC12, COCO) give that class's AP at ``iou_threshold``."""
    preds = [_check_image(p, i, "predictions", True) for i, p in enumerate(predictions)]
    gts = [_check_image(g, i, "ground_truths", False) for i, g in enumerate(ground_truths)]
    (curve,), n_gt = _class_curves(preds, gts, label, (iou_threshold,), max_detections)
    if n_gt == 0:
        raise ValueError(f"class {label!r} has no ground-truth box: its precision-recall curve is undefined")
    return curve


def evaluate_detections(predictions, ground_truths, iou_thresholds=COCO_IOU_THRESHOLDS, max_detections: int = 100):
    """COCO bbox metrics for a dataset.

    Args:
        predictions: one dict per image with ``boxes`` (Tensor[N, 4] xyxy), ``scores`` (Tensor[N]), ``labels``.
        ground_truths: one dict per image with ``boxes`` and ``labels``.
    Returns:
        dict(classes: Tensor[K] labels, ap: Tensor[T, K] AP per threshold and class (NaN: class without
        ground truth), recall: Tensor[T, K] final recall, map: AP@[.5:.95], map_50, map_75 (when those
        thresholds are evaluated), mar: mean recall = AR@max_detections).
    """
    if len(predictions) != len(ground_truths):
        raise ValueError(f"predictions and ground_truths need one entry per image, got {len(predictions)} and "
                         f"{len(ground_truths)}")
    if any(not 0 <= t <= 1 for t in iou_thresholds) or not len(iou_thresholds):
        raise ValueError(f"iou_thresholds must be numbers in [0, 1], got {iou_thresholds!r}")
    preds = [_check_image(p, i, "predictions", True) for i, p in enumerate(predictions)]
    gts = [_check_image(g, i, "ground_truths", False) for i, g in enumerate(ground_truths)]
    classes = torch.unique(torch.cat([lab for _, lab, _ in preds + gts] + [torch.zeros(0, dtype=torch.long)]))
    T, K = len(iou_thresholds), len(classes)
    ap = torch.full((T, K), float("nan"), dtype=torch.float64)
    recall = ap.clone()
    for k, c in enumerate(classes.tolist()):
        curves, n_gt = _class_curves(preds, gts, c, iou_thresholds, max_detections)
        if n_gt == 0:
            continue
        for t, (pr, rc) in enumerate(curves):
            ap[t, k] = interpolated_ap(pr, rc, "coco") if len(rc) else 0.0
            recall[t, k] = rc[-1].item() if len(rc) else 0.0
    valid = ~torch.isnan(ap[0])
    out = dict(classes=classes, ap=ap, recall=recall,
               map=ap[:, valid].mean().item() if bool(valid.any()) else float("nan"),
               mar=recall[:, valid].mean().item() if bool(valid.any()) else float("nan"))
    for name, thr in (("map_50", 0.5), ("map_75", 0.75)):
        hit = [t for t, x in enumerate(iou_thresholds) if abs(x - thr) < 1e-9]
        if hit and bool(valid.any()):
            out[name] = ap[hit[0], valid].mean().item()
    return out
