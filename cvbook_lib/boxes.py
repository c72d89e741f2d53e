"""Box operations from scratch, equal to ``torchvision.ops``: formats and areas, the IoU family
(IoU, GIoU, DIoU, CIoU) and their losses, NMS (same kept indices in the same order as torchvision),
batched NMS and Soft-NMS. ROI Pool / ROI Align live in :mod:`cvbook_lib.roi` and are re-exported.

Boxes are ``(x1, y1, x2, y2)`` with ``x1 <= x2`` and ``y1 <= y2`` unless a format says otherwise.
Integer boxes are accepted where torchvision accepts them; bool and complex tensors are refused.
NaN and ±inf coordinates propagate as in torchvision (a NaN IoU never suppresses in NMS).

Deliberate differences from torchvision, each a clear ``ValueError``/``TypeError``: boxes with
x2 < x1 or y2 < y1 (negative width or height in the size formats), bool or complex boxes, NaN
scores, thresholds outside [0, 1], NaN ``eps``; in ``batched_nms`` non-integer ``idxs``, non-finite
boxes and a 1-D ``boxes`` (torchvision's coordinate trick makes every box NaN and suppresses nothing,
or broadcasts the single box); in the losses a ``boxes2`` of a wider dtype than ``boxes1``
(torchvision raises only when some pair overlaps). NMS refuses mixed dtypes of boxes and scores, as
torchvision does; ``batched_nms`` returns the empty Tensor[0] for any empty ``boxes``, as torchvision
does. NMS of float16 boxes computes the IoU in float32 (float16 areas overflow above 65504).
References: Rezatofighi et al. 2019 (GIoU), Zheng et al. 2020 (DIoU, CIoU), Bodla et al. 2017
(Soft-NMS). Tested in ``tests/test_boxes.py``.
"""

from __future__ import annotations

import math

import torch

from ._box_checks import _check_boxes, _check_loss_pair, _check_nms, _check_pair, _eps, _threshold_below, _upcast
from ._checks import check_choice, check_float
from ._nms import greedy_nms
from .roi import roi_align, roi_pool

__all__ = ["box_convert", "box_area", "box_iou", "generalized_box_iou", "distance_box_iou", "complete_box_iou",
           "generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss", "nms", "batched_nms",
           "soft_nms", "roi_pool", "roi_align"]

_FORMATS = ("xyxy", "xywh", "cxcywh")
_greedy_nms = greedy_nms                       # the name whose source Chapter 10 shows


def box_convert(boxes, in_fmt: str, out_fmt: str) -> torch.Tensor:
    """Convert Tensor[..., 4] between 'xyxy' (corners), 'xywh' (top-left, size) and 'cxcywh' (centre, size)."""
    check_choice(in_fmt, "in_fmt", _FORMATS)
    check_choice(out_fmt, "out_fmt", _FORMATS)
    _check_boxes(boxes, "boxes", in_fmt)
    if in_fmt == out_fmt:
        return boxes.clone()
    a, b, c, d = boxes.unbind(-1)
    if in_fmt == "xywh":
        a, b, c, d = a, b, a + c, b + d
    elif in_fmt == "cxcywh":
        a, b, c, d = a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d
    if out_fmt == "xywh":
        return torch.stack((a, b, c - a, d - b), -1)
    if out_fmt == "cxcywh":
        return torch.stack(((a + c) / 2, (b + d) / 2, c - a, d - b), -1)
    return torch.stack((a, b, c, d), -1)


def box_area(boxes, fmt: str = "xyxy") -> torch.Tensor:
    """Area of Tensor[..., 4] boxes: (x2 - x1)(y2 - y1), or w·h for the size formats. Returns Tensor[...]."""
    check_choice(fmt, "fmt", _FORMATS)
    boxes = _upcast(_check_boxes(boxes, "boxes", fmt))
    if fmt == "xyxy":
        return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    return boxes[..., 2] * boxes[..., 3]


def _inter_union(b1, b2, fmt="xyxy"):
    """Pairwise intersection and union: Tensor[..., N, M] each (torchvision's arithmetic)."""
    area1, area2 = box_area(b1, fmt), box_area(b2, fmt)
    p1, s1, p2, s2 = b1[..., None, :2], b1[..., None, 2:], b2[..., None, :, :2], b2[..., None, :, 2:]
    if fmt == "xyxy":
        lt, rb = torch.max(p1, p2), torch.min(s1, s2)
    elif fmt == "xywh":
        lt, rb = torch.max(p1, p2), torch.min(p1 + s1, p2 + s2)
    else:
        lt, rb = torch.max(p1 - s1 / 2, p2 - s2 / 2), torch.min(p1 + s1 / 2, p2 + s2 / 2)
    wh = _upcast(rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter, area1[..., None] + area2[..., None, :] - inter


def box_iou(boxes1, boxes2, fmt: str = "xyxy") -> torch.Tensor:
    """IoU = |A ∩ B| / |A ∪ B| of every pair. boxes1 (Tensor[..., N, 4]), boxes2 (Tensor[..., M, 4]).

    Returns: Tensor[..., N, M]. Two boxes of zero area give 0/0 = NaN, as in torchvision.
    """
    check_choice(fmt, "fmt", _FORMATS)
    inter, union = _inter_union(*_check_pair(boxes1, boxes2, fmt), fmt)
    return inter / union


def _enclosing(b1, b2):
    lt = torch.min(b1[..., None, :2], b2[..., None, :, :2])
    rb = torch.max(b1[..., None, 2:], b2[..., None, :, 2:])
    return _upcast(rb - lt).clamp(min=0)                               # [..., N, M, 2] size of C


def generalized_box_iou(boxes1, boxes2) -> torch.Tensor:
    """GIoU = IoU - |C \\ (A ∪ B)| / |C|, C the smallest enclosing box (Rezatofighi et al. 2019).

    In [-1, 1]; unlike IoU it still ranks disjoint boxes by how far apart they are. Returns Tensor[..., N, M].
    """
    b1, b2 = _check_pair(boxes1, boxes2)
    inter, union = _inter_union(b1, b2)
    whc = _enclosing(b1, b2)
    area_c = whc[..., 0] * whc[..., 1]
    return inter / union - (area_c - union) / area_c


def _diou_iou(b1, b2, eps):
    inter, union = _inter_union(b1, b2)
    iou = inter / union
    whc = _enclosing(b1, b2)
    diag2 = whc[..., 0] ** 2 + whc[..., 1] ** 2 + eps                 # c², squared diagonal of C
    cx1, cy1 = (b1[..., 0] + b1[..., 2]) / 2, (b1[..., 1] + b1[..., 3]) / 2
    cx2, cy2 = (b2[..., 0] + b2[..., 2]) / 2, (b2[..., 1] + b2[..., 3]) / 2
    rho2 = _upcast(cx1[..., None] - cx2[..., None, :]) ** 2 + _upcast(cy1[..., None] - cy2[..., None, :]) ** 2
    return iou - rho2 / diag2, iou


def distance_box_iou(boxes1, boxes2, eps: float = 1e-7) -> torch.Tensor:
    """DIoU = IoU - ρ²(centres) / c² (Zheng et al. 2020). Returns Tensor[..., N, M]."""
    b1, b2 = _check_pair(boxes1, boxes2)
    return _diou_iou(_upcast(b1), _upcast(b2), _eps(eps))[0]


def _aspect_term(w1, h1, w2, h2):
    return (4 / math.pi ** 2) * (torch.atan(w1 / h1) - torch.atan(w2 / h2)) ** 2


def complete_box_iou(boxes1, boxes2, eps: float = 1e-7) -> torch.Tensor:
    """CIoU = DIoU - α v, v = 4/π² (atan(w/h) - atan(w_gt/h_gt))², α = v / (1 - IoU + v) (no gradient)."""
    b1, b2 = _check_pair(boxes1, boxes2)
    b1, b2, eps = _upcast(b1), _upcast(b2), _eps(eps)
    diou, iou = _diou_iou(b1, b2, eps)
    v = _aspect_term((b1[..., 2] - b1[..., 0])[..., None], (b1[..., 3] - b1[..., 1])[..., None],
                     (b2[..., 2] - b2[..., 0])[..., None, :], (b2[..., 3] - b2[..., 1])[..., None, :])
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return diou - alpha * v


# ----------------------------------------------------------------------------- losses (element-wise)
def _loss_pair(boxes1, boxes2, reduction, eps):
    """Matched pairs (shapes broadcast, as in torchvision), computed in float32/float64."""
    b1, b2 = _check_loss_pair(boxes1, boxes2, reduction, eps)
    lt, rb = torch.max(b1[..., :2], b2[..., :2]), torch.min(b1[..., 2:], b2[..., 2:])
    overlap = (rb[..., 0] > lt[..., 0]) & (rb[..., 1] > lt[..., 1])      # only a real overlap counts
    inter = torch.where(overlap, (rb - lt).prod(-1), torch.zeros((), dtype=lt.dtype))
    area = [(b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) for b in (b1, b2)]
    union = area[0] + area[1]
    c_wh = torch.max(b1[..., 2:], b2[..., 2:]) - torch.min(b1[..., :2], b2[..., :2])
    return b1, b2, inter, union - inter, c_wh


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    return loss.sum() if reduction == "sum" else loss


def generalized_box_iou_loss(boxes1, boxes2, reduction: str = "none", eps: float = 1e-7) -> torch.Tensor:
    """1 - GIoU of matched pairs boxes1[i], boxes2[i] (Tensor[..., 4] each), like ``torchvision.ops``."""
    _, _, inter, union, c_wh = _loss_pair(boxes1, boxes2, reduction, eps)
    area_c = c_wh[..., 0] * c_wh[..., 1]
    return _reduce(1 - (inter / (union + eps) - (area_c - union) / (area_c + eps)), reduction)


def _diou_loss(boxes1, boxes2, reduction, eps):
    b1, b2, inter, union, c_wh = _loss_pair(boxes1, boxes2, reduction, eps)
    iou = inter / (union + eps)
    diag2 = c_wh[..., 0] ** 2 + c_wh[..., 1] ** 2 + eps
    rho2 = (((b1[..., :2] + b1[..., 2:]) - (b2[..., :2] + b2[..., 2:])) / 2).pow(2).sum(-1)
    return 1 - iou + rho2 / diag2, iou, b1, b2


def distance_box_iou_loss(boxes1, boxes2, reduction: str = "none", eps: float = 1e-7) -> torch.Tensor:
    """1 - DIoU of matched pairs: 1 - IoU + ρ²/c² (Zheng et al. 2020)."""
    return _reduce(_diou_loss(boxes1, boxes2, reduction, eps)[0], reduction)


def complete_box_iou_loss(boxes1, boxes2, reduction: str = "none", eps: float = 1e-7) -> torch.Tensor:
    """1 - CIoU of matched pairs: the DIoU loss + α v (α without gradient).

    As in torchvision, ``eps`` enters only α; the DIoU part always uses eps = 1e-7.
    """
    _eps(eps)
    loss, iou, b1, b2 = _diou_loss(boxes1, boxes2, reduction, 1e-7)
    wh1, wh2 = b1[..., 2:] - b1[..., :2], b2[..., 2:] - b2[..., :2]
    v = _aspect_term(wh2[..., 0], wh2[..., 1], wh1[..., 0], wh1[..., 1])
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return _reduce(loss + alpha * v, reduction)


# ----------------------------------------------------------------------------- NMS
def nms(boxes, scores, iou_threshold: float) -> torch.Tensor:
    """Non-maximum suppression, like ``torchvision.ops.nms``.

    Visit boxes by decreasing score (ties: lower index first); keep a box unless a kept box has
    IoU > iou_threshold with it (a NaN IoU, e.g. 0/0 of two zero-area boxes, never suppresses).
    float16 / bfloat16 boxes get their IoU in float32, where areas of a few hundred pixels squared
    do not overflow (torchvision's CUDA kernel accumulates in float; its CPU kernel refuses float16).

    Args:
        boxes (Tensor[N, 4]): floating xyxy boxes. scores (Tensor[N]): same dtype as boxes, no NaN.
        iou_threshold (float): in [0, 1].
    Returns:
        Tensor[K] int64: indices of the kept boxes, by decreasing score.
    """
    iou_threshold = _check_nms(boxes, scores, iou_threshold)
    return greedy_nms(boxes, scores, iou_threshold)


def batched_nms(boxes, scores, idxs, iou_threshold: float) -> torch.Tensor:
    """NMS done independently per category ``idxs`` (Tensor[N] int), like ``torchvision.ops.batched_nms``:
    a box is only suppressed by a kept box of the same category. Returns kept indices by decreasing score.
    Boxes must be finite here (torchvision's coordinate trick would make every box NaN). As in torchvision,
    an empty ``boxes`` tensor (``numel() == 0``, any shape or dtype) gives the empty int64 Tensor[0] at once,
    without looking at the other arguments."""
    if isinstance(boxes, torch.Tensor) and boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    iou_threshold = _check_nms(boxes, scores, iou_threshold, idxs)
    return greedy_nms(boxes, scores, iou_threshold, labels=idxs)


def soft_nms(boxes, scores, iou_threshold: float = 0.3, sigma: float = 0.5, score_threshold: float = 0.001,
             method: str = "gaussian"):
    """Soft-NMS (Bodla et al. 2017): instead of deleting the neighbours of the selected box, decay their scores.

    Repeatedly select the remaining box with the highest (current) score M, then multiply the score of
    every other remaining box b_i by

    - ``'linear'``:   1 - IoU(M, b_i) if IoU > iou_threshold, else 1;
    - ``'gaussian'``: exp(-IoU(M, b_i)² / sigma) (iou_threshold unused);
    - ``'hard'``:     0 if IoU > iou_threshold, else 1 — plain NMS;

    and drop boxes whose score falls below ``score_threshold``. An undefined IoU (0/0 for two zero-area
    boxes, NaN coordinates) counts as no overlap, as in ``nms``: such a box keeps its score.

    Returns:
        (keep, new_scores): Tensor[K] int64 indices in selection order and Tensor[K] their scores at
        selection. With ``method='hard'`` (and all scores >= score_threshold) keep equals ``nms``.
    """
    iou_threshold = _check_nms(boxes, scores, iou_threshold)
    check_choice(method, "method", ("linear", "gaussian", "hard"))
    sigma = check_float(sigma, "sigma", 0.0, min_open=True)
    score_threshold = check_float(score_threshold, "score_threshold")
    s, boxes = scores.detach().clone(), _upcast(boxes)               # IoU in float32 for float16 boxes
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    threshold = _threshold_below(iou_threshold, boxes.dtype).to(boxes.device)
    alive = s >= score_threshold
    keep, kept = [], []
    while bool(alive.any()):
        i = int(torch.where(alive, s, torch.full_like(s, -math.inf)).argmax())
        keep.append(i)
        kept.append(s[i].clone())
        alive[i] = False
        rest = torch.nonzero(alive).flatten()
        lt, rb = torch.max(boxes[i, :2], boxes[rest, :2]), torch.min(boxes[i, 2:], boxes[rest, 2:])
        inter = (rb - lt).clamp(min=0).prod(-1)
        iou = torch.nan_to_num(inter / (areas[i] + areas[rest] - inter), nan=0.0)
        if method == "gaussian":
            weight = torch.exp(-(iou * iou) / sigma)
        else:
            weight = torch.where(iou > threshold, 0.0 if method == "hard" else 1 - iou, torch.ones_like(iou))
        s[rest] = (s[rest] * weight).to(s.dtype)
        alive[rest] = (s[rest] >= score_threshold) & (weight > 0)   # a zero weight removes the box
    device = boxes.device
    return (torch.tensor(keep, dtype=torch.int64, device=device),
            torch.stack(kept) if kept else torch.empty(0, dtype=scores.dtype, device=device))
