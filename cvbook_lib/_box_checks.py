"""Private validation and dtype helpers of :mod:`cvbook_lib.boxes`, :mod:`cvbook_lib.roi`,
:mod:`cvbook_lib.anchors` and :mod:`cvbook_lib.matching` (on top of the shared :mod:`cvbook_lib._checks`).

Each helper raises a ``ValueError``/``TypeError`` naming the argument as the caller wrote it, before
anything is computed.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_choice, check_finite, check_float, check_probability, check_same, check_tensor

_REDUCTIONS = ("none", "mean", "sum")


def _upcast(t: torch.Tensor) -> torch.Tensor:
    """torchvision's guard against overflow: float16 → float32, small ints → int32."""
    if t.is_floating_point():
        return t if t.dtype in (torch.float32, torch.float64) else t.float()
    return t if t.dtype in (torch.int32, torch.int64) else t.int()


def _threshold_below(iou_threshold: float, dtype) -> torch.Tensor:
    """The largest ``dtype`` number t <= iou_threshold: for x of that dtype, x > iou_threshold ⇔ x > t.
    torchvision compares a float IoU with a double threshold; this keeps that rule without upcasting."""
    t = torch.tensor(iou_threshold, dtype=dtype)
    if t.item() > iou_threshold:
        t = torch.nextafter(t, torch.tensor(-math.inf, dtype=dtype))
    return t


def _check_boxes(boxes, name: str, fmt: str = "xyxy", min_ndim: int = 1, kind: str = "real") -> torch.Tensor:
    """Refuse non-tensors, bool/complex dtypes, a last dimension other than 4 and (for xyxy) x2 < x1 or
    y2 < y1 (a negative width or height for the size formats). NaN passes, as in torchvision."""
    check_tensor(boxes, name, kind=kind)
    if boxes.dim() < min_ndim or boxes.shape[-1] != 4:
        lead = "[..., N, 4]" if min_ndim > 1 else "[..., 4]"
        raise ValueError(f"{name} must have shape {lead} (last dimension 4), got {tuple(boxes.shape)}")
    if fmt == "xyxy":
        bad = (boxes[..., 2] < boxes[..., 0]) | (boxes[..., 3] < boxes[..., 1])
    else:
        bad = (boxes[..., 2] < 0) | (boxes[..., 3] < 0)
    if bool(bad.any()):
        what = "x2 < x1 or y2 < y1" if fmt == "xyxy" else "a negative width or height"
        raise ValueError(f"{name} holds {int(bad.sum())} box(es) with {what} ({fmt} format)")
    return boxes


def _check_box_list(boxes, name: str, kind: str = "real", min_len: int = 1) -> list:
    """A list / tuple of 2-D Tensor[L_i, 4] (one per image); returns it as a list."""
    if not isinstance(boxes, (list, tuple)):
        raise TypeError(f"{name} must be a list of Tensor[L, 4] (one per image), got {type(boxes).__name__}")
    if len(boxes) < min_len:
        raise ValueError(f"{name} must be a non-empty list of Tensor[L, 4] (one per image), got an empty list")
    for i, b in enumerate(boxes):
        check_tensor(b, f"{name}[{i}]", (2,), kind=kind)
        if b.shape[1] != 4:
            raise ValueError(f"{name}[{i}] must have shape [L, 4], got {tuple(b.shape)}")
        check_same(b, f"{name}[{i}]", boxes[0], f"{name}[0]", dtype=False)
    return list(boxes)


def _check_pair(boxes1, boxes2, fmt="xyxy"):
    """Checked boxes1 (Tensor[..., N, 4], or one box [4]) and boxes2 (Tensor[..., M, 4])."""
    b1, b2 = _check_boxes(boxes1, "boxes1", fmt), _check_boxes(boxes2, "boxes2", fmt, 2)
    try:
        torch.broadcast_shapes(b1.shape[:-1] + (1,), b2.shape[:-2] + (1, b2.shape[-2]))
    except RuntimeError:
        raise ValueError(f"the leading dimensions of boxes1 {tuple(b1.shape)} and boxes2 {tuple(b2.shape)} "
                         "do not broadcast") from None
    return b1, b2


def _eps(eps, name: str = "eps") -> float:
    return check_float(eps, name)


def _check_loss_pair(boxes1, boxes2, reduction, eps):
    """Matched pairs of the IoU losses: boxes2 broadcasts to boxes1 (torchvision fills a zeros_like(boxes1)
    intersection) and is not of a wider dtype. Returns both, computed in float32/float64."""
    check_choice(reduction, "reduction", _REDUCTIONS)
    b1, b2 = _check_boxes(boxes1, "boxes1"), _check_boxes(boxes2, "boxes2")
    try:
        shape = torch.broadcast_shapes(b1.shape, b2.shape)
    except RuntimeError:
        shape = None
    if shape != b1.shape:
        raise ValueError(f"boxes2 {tuple(b2.shape)} must broadcast to the shape of boxes1 {tuple(b1.shape)}")
    _eps(eps)
    b1, b2 = (b if b.dtype in (torch.float32, torch.float64) else b.float() for b in (b1, b2))
    if torch.promote_types(b1.dtype, b2.dtype) != b1.dtype:
        raise TypeError(f"boxes2 ({b2.dtype}) must not have a wider dtype than boxes1 ({b1.dtype}), as in torchvision")
    return b1, b2


def _check_nms(boxes, scores, iou_threshold, idxs=False) -> float:
    """boxes Tensor[N, 4] floating, scores Tensor[N] of the same dtype (torchvision refuses mixed dtypes),
    no NaN score, iou_threshold in [0, 1], idxs an integer Tensor[N] (batched_nms: finite boxes)."""
    _check_boxes(boxes, "boxes", kind="float")
    if boxes.dim() != 2:
        raise ValueError(f"boxes must have shape [N, 4], got {tuple(boxes.shape)}")
    check_tensor(scores, "scores", (1,), kind="float")
    if scores.shape[0] != boxes.shape[0]:
        raise ValueError(f"boxes and scores must have the same length, got {boxes.shape[0]} and {scores.shape[0]}")
    check_same(boxes, "boxes", scores, "scores")
    if bool(torch.isnan(scores).any()):
        raise ValueError("scores must not contain NaN (torchvision would rank NaN first)")
    check_probability(iou_threshold, "iou_threshold")
    if idxs is not False:                               # batched_nms
        check_tensor(idxs, "idxs", (1,), kind="int")
        if idxs.shape[0] != boxes.shape[0]:
            raise ValueError(f"idxs must be an integer Tensor[N] with N = {boxes.shape[0]}, "
                             f"got shape {tuple(idxs.shape)}")
        check_same(boxes, "boxes", idxs, "idxs", dtype=False)
        check_finite(boxes, "boxes")
    return float(iou_threshold)
