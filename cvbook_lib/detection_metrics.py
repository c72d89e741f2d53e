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

The IoU is pycocotools' (``maskUtils.iou``): a pair that does not overlap with a positive width *and*
height has IoU 0, so a zero-area ground truth can never be matched (``box_iou`` would give 0/0 = NaN).
A NaN in an IoU matrix passed to :func:`greedy_match` never matches. Deliberate differences from
COCOeval, each a clear error: non-finite boxes, NaN scores, non-integer labels, bool or complex
tensors, boxes / scores / labels of different lengths (COCOeval's zip silently truncates) and
``max_detections`` <= 0 (or a bool).
"""

from __future__ import annotations

import torch

from ._checks import _short, check_int, check_probability, check_tensor
from .boxes import _check_boxes
from .metrics import interpolated_ap

__all__ = ["COCO_IOU_THRESHOLDS", "match_detections", "greedy_match", "evaluate_detections", "detection_pr_curve"]

COCO_IOU_THRESHOLDS = tuple(0.5 + i * ((0.95 - 0.5) / 9) for i in range(9)) + (0.95,)   # = np.linspace(.5, .95, 10)


def _check_iou(iou, iou_threshold) -> float:
    check_tensor(iou, "iou", (2,), kind="float")
    return check_probability(iou_threshold, "iou_threshold")


def match_detections(iou, iou_threshold: float) -> torch.Tensor:
    """Greedy COCO matching for one image and class. iou (Tensor[D, G]) with detections already in score
    order; iou_threshold in [0, 1]. Returns Tensor[D] bool: detection d is a true positive. Ties in IoU go
    to the later ground truth, as in COCOeval; a NaN IoU never matches."""
    return greedy_match(iou, iou_threshold) >= 0


def greedy_match(iou, iou_threshold: float) -> torch.Tensor:
    """Like :func:`match_detections`, but returns for each detection the index of the ground truth it
    matched, or -1 (Tensor[D] int64)."""
    iou_threshold = _check_iou(iou, iou_threshold)
    D, G = iou.shape
    taken = [False] * G
    match = torch.full((D,), -1, dtype=torch.long, device=iou.device)
    rows = iou.tolist()
    for d in range(D):
        best, m = min(iou_threshold, 1 - 1e-10), -1
        for g in range(G):
            if taken[g] or not rows[d][g] >= best:                   # NaN never passes
                continue
            best, m = rows[d][g], g
        if m >= 0:
            taken[m] = True
            match[d] = m
    return match


def _coco_iou(dt: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """pycocotools' box IoU (float64, Tensor[D, G]): 0 unless the pair overlaps with w > 0 and h > 0."""
    wh = torch.min(dt[:, None, 2:], gt[None, :, 2:]) - torch.max(dt[:, None, :2], gt[None, :, :2])
    inter = wh[..., 0] * wh[..., 1]
    area_d, area_g = (dt[:, 2:] - dt[:, :2]).prod(1), (gt[:, 2:] - gt[:, :2]).prod(1)
    iou = inter / (area_d[:, None] + area_g[None, :] - inter)
    return torch.where((wh > 0).all(-1), iou, torch.zeros((), dtype=iou.dtype))


def _check_images(entries, name, with_scores):
    """Validate the list of per-image dicts; return [(boxes float64, labels int64, scores float64 | None)]."""
    if not isinstance(entries, (list, tuple)):
        raise TypeError(f"{name} must be a list of dicts (one per image), got {_short(entries)}")
    out = []
    for i, entry in enumerate(entries):
        needed = ("boxes", "labels", "scores") if with_scores else ("boxes", "labels")
        if not isinstance(entry, dict) or any(k not in entry for k in needed):
            raise ValueError(f"{name}[{i}] must be a dict with {', '.join(needed)}, got {_short(entry)}")
        where = f"{name}[{i}]"
        boxes = entry["boxes"]
        if isinstance(boxes, (list, tuple)):
            boxes = _as_tensor(boxes, f"{where}['boxes']", "real", ndim=2) if len(boxes) else torch.zeros(0, 4)
        boxes = _check_boxes(boxes, f"{where}['boxes']", min_ndim=2)
        if boxes.dim() != 2:
            raise ValueError(f"{where}['boxes'] must be Tensor[N, 4], got shape {tuple(boxes.shape)}")
        if not bool(torch.isfinite(boxes).all()):
            raise ValueError(f"{where}['boxes'] must be finite, got NaN or inf")
        labels = _as_tensor(entry["labels"], f"{where}['labels']", "int")
        scores = _as_tensor(entry["scores"], f"{where}['scores']", "real") if with_scores else None
        if len(labels) != len(boxes) or (with_scores and len(scores) != len(boxes)):
            raise ValueError(f"{where}: boxes, labels{' and scores' if with_scores else ''} differ in length")
        if with_scores and bool(torch.isnan(scores).any()):
            raise ValueError(f"{where}['scores'] must not contain NaN")
        out.append((boxes.detach().to("cpu", torch.float64), labels.cpu().long(),
                    scores.detach().to("cpu", torch.float64) if with_scores else None))
    return out


def _as_tensor(value, name, kind, ndim=1):
    """A 1-D (or ``ndim``-D) tensor from a tensor or list (an empty list is fine); labels must be integers."""
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(value, dtype=torch.long if kind == "int" and len(value) == 0 else None)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{name} must be a Tensor or a list of numbers, got {_short(value)}") from None
    if kind == "int" and value.numel() == 0 and not value.is_complex():
        value = value.long()  # an empty label tensor (``torch.tensor([])`` is float32) holds no bad label
    return check_tensor(value, name, (ndim,), kind=kind)


def _class_curves(preds, gts, c, iou_thresholds, max_detections):
    """Precision and recall after each detection of class c (all images, by score), per IoU threshold."""
    scores, tps, n_gt = [], [[] for _ in iou_thresholds], 0
    for (pb, pl, ps), (gb, gl, _) in zip(preds, gts):
        d, g = pl == c, gl == c
        n_gt += int(g.sum())
        order = torch.sort(-ps[d], stable=True).indices[:max_detections]
        dboxes = pb[d][order]
        scores.append(ps[d][order])
        iou = _coco_iou(dboxes, gb[g])
        for t, thr in enumerate(iou_thresholds):
            tps[t].append(match_detections(iou, thr))
    order = torch.sort(-torch.cat(scores), stable=True).indices
    curves = []
    for t in range(len(iou_thresholds)):
        tp = torch.cat(tps[t])[order].to(torch.float64)
        ctp, cfp = torch.cumsum(tp, 0), torch.cumsum(1 - tp, 0)
        curves.append((ctp / (ctp + cfp + torch.finfo(torch.float64).eps), ctp / max(n_gt, 1)))
    return curves, n_gt


def _check_dataset(predictions, ground_truths, max_detections):
    preds = _check_images(predictions, "predictions", True)
    gts = _check_images(ground_truths, "ground_truths", False)
    if len(preds) != len(gts):
        raise ValueError(f"predictions and ground_truths need one entry per image, got {len(preds)} and {len(gts)}")
    return preds, gts, check_int(max_detections, "max_detections", 1)


def detection_pr_curve(predictions, ground_truths, label: int, iou_threshold: float = 0.5, max_detections: int = 100):
    """(precision, recall) of class ``label`` after each of its detections, all images merged by score — the
    curve whose interpolations (VOC07, VOC12, COCO) give that class's AP at ``iou_threshold`` (in [0, 1]).
    ``max_detections`` (int >= 1) cuts each image's detections of the class, by score."""
    preds, gts, max_detections = _check_dataset(predictions, ground_truths, max_detections)
    label = check_int(label, "label")
    iou_threshold = check_probability(iou_threshold, "iou_threshold")
    (curve,), n_gt = _class_curves(preds, gts, label, (iou_threshold,), max_detections)
    if n_gt == 0:
        raise ValueError(f"label={label!r} has no ground-truth box: its precision-recall curve is undefined")
    return curve


def _check_thresholds(iou_thresholds) -> tuple:
    if isinstance(iou_thresholds, torch.Tensor) or type(iou_thresholds).__name__ == "ndarray":
        iou_thresholds = iou_thresholds.tolist()
    if not isinstance(iou_thresholds, (list, tuple)) or not iou_thresholds:
        raise TypeError(f"iou_thresholds must be a non-empty sequence of numbers in [0, 1], "
                        f"got {_short(iou_thresholds)}")
    return tuple(check_probability(t, f"iou_thresholds[{i}]") for i, t in enumerate(iou_thresholds))


def evaluate_detections(predictions, ground_truths, iou_thresholds=COCO_IOU_THRESHOLDS, max_detections: int = 100):
    """COCO bbox metrics for a dataset, equal to pycocotools' COCOeval (area 'all', maxDets = max_detections).

    Args:
        predictions: one dict per image with ``boxes`` (Tensor[N, 4] xyxy, finite), ``scores`` (Tensor[N], no
            NaN), ``labels`` (integers).
        ground_truths: one dict per image with ``boxes`` and ``labels``.
        iou_thresholds: non-empty sequence of numbers in [0, 1]. max_detections: int >= 1 per image and class.
    Returns:
        dict(classes: Tensor[K] labels, ap: Tensor[T, K] AP per threshold and class (NaN: class without
        ground truth), recall: Tensor[T, K] final recall, map: AP@[.5:.95], map_50, map_75 (when those
        thresholds are evaluated), mar: mean recall = AR@max_detections).
    """
    preds, gts, max_detections = _check_dataset(predictions, ground_truths, max_detections)
    iou_thresholds = _check_thresholds(iou_thresholds)
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
