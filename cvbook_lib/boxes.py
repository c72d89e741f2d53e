"""Box operations from scratch, equal to ``torchvision.ops``: formats and areas, the IoU family
(IoU, GIoU, DIoU, CIoU) and their losses, NMS (same kept indices in the same order as torchvision),
batched NMS and Soft-NMS. ROI Pool / ROI Align live in :mod:`cvbook_lib.roi` and are re-exported.

Boxes are ``(x1, y1, x2, y2)`` with ``x1 <= x2`` and ``y1 <= y2`` unless a format says otherwise.
References: Rezatofighi et al. 2019 (GIoU), Zheng et al. 2020 (DIoU, CIoU), Bodla et al. 2017
(Soft-NMS). Tested in ``tests/test_boxes.py``.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_choice, check_finite, check_tensor
from .roi import roi_align, roi_pool

__all__ = ["box_convert", "box_area", "box_iou", "generalized_box_iou", "distance_box_iou", "complete_box_iou",
           "generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss", "nms", "batched_nms",
           "soft_nms", "roi_pool", "roi_align"]

_FORMATS = ("xyxy", "xywh", "cxcywh")
_REDUCTIONS = ("none", "mean", "sum")


def _check_boxes(boxes, name: str, fmt: str = "xyxy", pairwise: bool = False) -> torch.Tensor:
    """Reject non-tensors, a last dimension other than 4, NaN and (for xyxy) x2 < x1 or y2 < y1."""
    check_tensor(boxes, name)
    if boxes.dim() < 1 or boxes.shape[-1] != 4 or (pairwise and boxes.dim() < 2):
        raise ValueError(f"{name} must have shape [..., N, 4] (last dimension 4), got {tuple(boxes.shape)}")
    check_finite(boxes, name)
    if fmt == "xyxy":
        bad = (boxes[..., 2] < boxes[..., 0]) | (boxes[..., 3] < boxes[..., 1])
    else:
        bad = (boxes[..., 2] < 0) | (boxes[..., 3] < 0)
    if bool(bad.any()):
        what = "x2 < x1 or y2 < y1" if fmt == "xyxy" else "a negative width or height"
        raise ValueError(f"{name} holds {int(bad.sum())} box(es) with {what} ({fmt} format)")
    return boxes if boxes.dtype in (torch.float32, torch.float64, torch.int32, torch.int64) else (
        boxes.float() if boxes.is_floating_point() else boxes.int())


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
    boxes = _check_boxes(boxes, "boxes", fmt)
    if fmt == "xyxy":
        return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    return boxes[..., 2] * boxes[..., 3]


def _inter_union(b1, b2):
    """Pairwise intersection and union of xyxy boxes: Tensor[..., N, M] each."""
    area1, area2 = box_area(b1), box_area(b2)
    lt = torch.max(b1[..., :, None, :2], b2[..., None, :, :2])     # [..., N, M, 2]
    rb = torch.min(b1[..., :, None, 2:], b2[..., None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter, area1[..., :, None] + area2[..., None, :] - inter


def _pair(boxes1, boxes2, fmt="xyxy"):
    b1, b2 = _check_boxes(boxes1, "boxes1", fmt, True), _check_boxes(boxes2, "boxes2", fmt, True)
    if fmt != "xyxy":
        b1, b2 = box_convert(b1, fmt, "xyxy"), box_convert(b2, fmt, "xyxy")
    return b1, b2


def box_iou(boxes1, boxes2, fmt: str = "xyxy") -> torch.Tensor:
    """IoU = |A ∩ B| / |A ∪ B| of every pair. boxes1 (Tensor[..., N, 4]), boxes2 (Tensor[..., M, 4]).

    Returns: Tensor[..., N, M]. Two boxes of zero area give 0/0 = NaN, as in torchvision.
    """
    check_choice(fmt, "fmt", _FORMATS)
    inter, union = _inter_union(*_pair(boxes1, boxes2, fmt))
    return inter / union


def _enclosing(b1, b2):
    lt = torch.min(b1[..., :, None, :2], b2[..., None, :, :2])
    rb = torch.max(b1[..., :, None, 2:], b2[..., None, :, 2:])
    return (rb - lt).clamp(min=0)                                     # [..., N, M, 2] size of C


def generalized_box_iou(boxes1, boxes2) -> torch.Tensor:
    """GIoU = IoU - |C \\ (A ∪ B)| / |C|, C the smallest enclosing box (Rezatofighi et al. 2019).

    In [-1, 1]; unlike IoU it still ranks disjoint boxes by how far apart they are. Returns Tensor[..., N, M].
    """
    b1, b2 = _pair(boxes1, boxes2)
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
    rho2 = (cx1[..., :, None] - cx2[..., None, :]) ** 2 + (cy1[..., :, None] - cy2[..., None, :]) ** 2
    return iou - rho2 / diag2, iou


def distance_box_iou(boxes1, boxes2, eps: float = 1e-7) -> torch.Tensor:
    """DIoU = IoU - ρ²(centres) / c² (Zheng et al. 2020). Returns Tensor[..., N, M]."""
    b1, b2 = _pair(boxes1, boxes2)
    return _diou_iou(_float(b1), _float(b2), eps)[0]


def _aspect_term(w1, h1, w2, h2):
    return (4 / math.pi ** 2) * (torch.atan(w1 / h1) - torch.atan(w2 / h2)) ** 2


def complete_box_iou(boxes1, boxes2, eps: float = 1e-7) -> torch.Tensor:
    """CIoU = DIoU - α v, v = 4/π² (atan(w/h) - atan(w_gt/h_gt))², α = v / (1 - IoU + v) (no gradient)."""
    b1, b2 = _pair(boxes1, boxes2)
    b1, b2 = _float(b1), _float(b2)
    diou, iou = _diou_iou(b1, b2, eps)
    v = _aspect_term((b1[..., 2] - b1[..., 0])[..., :, None], (b1[..., 3] - b1[..., 1])[..., :, None],
                     (b2[..., 2] - b2[..., 0])[..., None, :], (b2[..., 3] - b2[..., 1])[..., None, :])
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return diou - alpha * v


def _float(t):
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


# ----------------------------------------------------------------------------- losses (element-wise)
def _loss_pair(boxes1, boxes2, reduction):
    check_choice(reduction, "reduction", _REDUCTIONS)
    b1, b2 = _float(_check_boxes(boxes1, "boxes1")), _float(_check_boxes(boxes2, "boxes2"))
    if b1.shape != b2.shape:
        raise ValueError(f"boxes1 and boxes2 must have the same shape, got {tuple(b1.shape)} and {tuple(b2.shape)}")
    lt, rb = torch.max(b1[..., :2], b2[..., :2]), torch.min(b1[..., 2:], b2[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = box_area(b1) + box_area(b2) - inter
    c_wh = torch.max(b1[..., 2:], b2[..., 2:]) - torch.min(b1[..., :2], b2[..., :2])
    return b1, b2, inter, union, c_wh


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    return loss.sum() if reduction == "sum" else loss


def generalized_box_iou_loss(boxes1, boxes2, reduction: str = "none", eps: float = 1e-7) -> torch.Tensor:
    """1 - GIoU of matched pairs boxes1[i], boxes2[i] (Tensor[..., 4] each), like ``torchvision.ops``."""
    _, _, inter, union, c_wh = _loss_pair(boxes1, boxes2, reduction)
    area_c = c_wh[..., 0] * c_wh[..., 1]
    return _reduce(1 - (inter / (union + eps) - (area_c - union) / (area_c + eps)), reduction)


def _diou_loss(boxes1, boxes2, reduction, eps):
    b1, b2, inter, union, c_wh = _loss_pair(boxes1, boxes2, reduction)
    iou = inter / (union + eps)
    diag2 = c_wh[..., 0] ** 2 + c_wh[..., 1] ** 2 + eps
    rho2 = (((b1[..., :2] + b1[..., 2:]) - (b2[..., :2] + b2[..., 2:])) / 2).pow(2).sum(-1)
    return 1 - iou + rho2 / diag2, iou, b1, b2


def distance_box_iou_loss(boxes1, boxes2, reduction: str = "none", eps: float = 1e-7) -> torch.Tensor:
    """1 - DIoU of matched pairs: 1 - IoU + ρ²/c² (Zheng et al. 2020)."""
    return _reduce(_diou_loss(boxes1, boxes2, reduction, eps)[0], reduction)


def complete_box_iou_loss(boxes1, boxes2, reduction: str = "none", eps: float = 1e-7) -> torch.Tensor:
    """1 - CIoU of matched pairs: the DIoU loss + α v (α without gradient)."""
    loss, iou, b1, b2 = _diou_loss(boxes1, boxes2, reduction, eps)
    wh1, wh2 = b1[..., 2:] - b1[..., :2], b2[..., 2:] - b2[..., :2]
    v = _aspect_term(wh2[..., 0], wh2[..., 1], wh1[..., 0], wh1[..., 1])
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return _reduce(loss + alpha * v, reduction)


# ----------------------------------------------------------------------------- NMS
def _check_nms(boxes, scores, iou_threshold, idxs=None):
    boxes = _check_boxes(boxes, "boxes")
    if boxes.dim() != 2:
        raise ValueError(f"boxes must have shape [N, 4], got {tuple(boxes.shape)}")
    check_tensor(scores, "scores", (1,), floating=True)
    if scores.numel() != boxes.shape[0]:
        raise ValueError(f"boxes and scores must have the same length, got {boxes.shape[0]} and {scores.numel()}")
    if bool(torch.isnan(scores).any()):
        raise ValueError("scores must not contain NaN")
    if isinstance(iou_threshold, bool) or not isinstance(iou_threshold, (int, float)) or not 0 <= iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be a number in [0, 1], got {iou_threshold!r}")
    if idxs is not None:
        check_tensor(idxs, "idxs", (1,))
        if idxs.numel() != boxes.shape[0] or idxs.is_floating_point():
            raise ValueError(f"idxs must be an integer Tensor[N] with N = {boxes.shape[0]}, "
                             f"got {idxs.dtype} of shape {tuple(idxs.shape)}")
    return _float(boxes), scores


def _threshold_below(iou_threshold: float, dtype) -> torch.Tensor:
    """The largest ``dtype`` number t <= iou_threshold: for x of that dtype, x > iou_threshold ⇔ x > t.
    torchvision compares a float IoU with a double threshold; this keeps that rule without upcasting."""
    t = torch.tensor(iou_threshold, dtype=dtype)
    if t.item() > iou_threshold:
        t = torch.nextafter(t, torch.tensor(-math.inf, dtype=dtype))
    return t


def _overlaps(c, areas, a, b, threshold, labels):
    """Bool Tensor[len(a), len(b)]: IoU(box a, box b) > threshold, in torchvision's arithmetic.
    c = (x1, y1, x2, y2) as four 1-D tensors; a, b index tensors or slices (in-place ops: fewer temporaries)."""
    x1, y1, x2, y2 = c
    w = (torch.minimum(x2[a, None], x2[None, b]) - torch.maximum(x1[a, None], x1[None, b])).clamp_(min=0)
    h = (torch.minimum(y2[a, None], y2[None, b]) - torch.maximum(y1[a, None], y1[None, b])).clamp_(min=0)
    inter = w.mul_(h)
    over = inter.div_((areas[a, None] + areas[None, b]).sub_(inter)) > threshold
    return over if labels is None else over & (labels[a, None] == labels[None, b])


def _greedy_nms(boxes, scores, iou_threshold, labels=None, block: int = 128):
    """Greedy NMS in blocks of the score order. Inside a block, keep[j] = no kept i < j overlaps j is
    solved by fixed-point iteration (exact: entry j depends only on entries before it); the kept boxes
    of a block then suppress every later box at once. Work ≈ (#kept × N) IoUs, like the C++ loop."""
    order = torch.sort(scores, descending=True, stable=True).indices
    c = boxes[order].T.contiguous()                                  # [4, N]: x1, y1, x2, y2
    labels = None if labels is None else labels[order]
    areas = (c[2] - c[0]) * (c[3] - c[1])
    threshold = _threshold_below(iou_threshold, boxes.dtype).to(boxes.device)
    n = boxes.shape[0]
    alive = torch.ones(n, dtype=torch.bool, device=boxes.device)
    for start in range(0, n, block):
        end = min(start + block, n)
        cand = start + torch.nonzero(alive[start:end]).flatten()
        if cand.numel() == 0:
            continue
        s = torch.triu(_overlaps(c, areas, cand, cand, threshold, labels), diagonal=1).to(boxes.dtype)
        keep = torch.ones(cand.numel(), dtype=torch.bool, device=boxes.device)
        while True:
            new = (keep.to(boxes.dtype) @ s) == 0
            if torch.equal(new, keep):
                break
            keep = new
        alive[cand[~keep]] = False
        if end < n:
            alive[end:] &= ~_overlaps(c, areas, cand[keep], slice(end, n), threshold, labels).any(0)
    return order[alive]


def nms(boxes, scores, iou_threshold: float) -> torch.Tensor:
    """Non-maximum suppression, like ``torchvision.ops.nms``.

    Visit boxes by decreasing score (ties: lower index first); keep a box unless a kept box has
    IoU > iou_threshold with it.

    Args:
        boxes (Tensor[N, 4]): xyxy boxes. scores (Tensor[N]): floating scores, no NaN.
        iou_threshold (float): in [0, 1].
    Returns:
        Tensor[K] int64: indices of the kept boxes, by decreasing score.
    """
    boxes, scores = _check_nms(boxes, scores, iou_threshold)
    return _greedy_nms(boxes, scores, iou_threshold)


def batched_nms(boxes, scores, idxs, iou_threshold: float) -> torch.Tensor:
    """NMS done independently per category ``idxs`` (Tensor[N] int), like ``torchvision.ops.batched_nms``:
    a box is only suppressed by a kept box of the same category. Returns kept indices by decreasing score."""
    boxes, scores = _check_nms(boxes, scores, iou_threshold, idxs)
    return _greedy_nms(boxes, scores, iou_threshold, labels=idxs)


def soft_nms(boxes, scores, iou_threshold: float = 0.3, sigma: float = 0.5, score_threshold: float = 0.001,
             method: str = "gaussian"):
    """Soft-NMS (Bodla et al. 2017): instead of deleting the neighbours of the selected box, decay their scores.

    Repeatedly select the remaining box with the highest (current) score M, then multiply the score of
    every other remaining box b_i by

    - ``'linear'``:   1 - IoU(M, b_i) if IoU > iou_threshold, else 1;
    - ``'gaussian'``: exp(-IoU(M, b_i)² / sigma) (iou_threshold unused);
    - ``'hard'``:     0 if IoU > iou_threshold, else 1 — plain NMS;

    and drop boxes whose score falls below ``score_threshold``.

    Returns:
        (keep, new_scores): Tensor[K] int64 indices in selection order and Tensor[K] their scores at
        selection. With ``method='hard'`` (and all scores >= score_threshold) keep equals ``nms``.
    """
    boxes, scores = _check_nms(boxes, scores, iou_threshold)
    check_choice(method, "method", ("linear", "gaussian", "hard"))
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
        raise ValueError(f"sigma must be a number > 0, got {sigma!r}")
    if isinstance(score_threshold, bool) or not isinstance(score_threshold, (int, float)) or score_threshold < 0:
        raise ValueError(f"score_threshold must be a number >= 0, got {score_threshold!r}")
    s = scores.detach().clone()
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
        iou = inter / (areas[i] + areas[rest] - inter)
        if method == "gaussian":
            weight = torch.exp(-(iou * iou) / sigma)
        else:
            weight = torch.where(iou > threshold, 0.0 if method == "hard" else 1 - iou, torch.ones_like(iou))
        s[rest] = s[rest] * weight
        alive[rest] = (s[rest] >= score_threshold) & (weight > 0)   # a zero weight removes the box
    device = boxes.device
    return (torch.tensor(keep, dtype=torch.int64, device=device),
            torch.stack(kept) if kept else torch.empty(0, dtype=scores.dtype, device=device))
