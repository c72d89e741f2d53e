"""The greedy NMS core of :mod:`cvbook_lib.boxes` (``nms``, ``batched_nms``): blocks of undecided boxes.

Boxes are visited by decreasing score (a stable sort: ties keep the lower index first, as torchvision).
Each round takes the next ``block`` boxes that no kept box has suppressed yet, in score order:

1. the block's own IoU > t mask (block × block) is packed into one Python integer per row, and a
   sequential scan over those bit masks decides the block exactly as the one-box-at-a-time loop does
   (box i is kept unless a kept box before it in the block overlaps it); this is the bit-mask
   formulation of torchvision's CUDA kernel, with the scan touching only the mask;
2. the block's kept boxes then suppress, in one matrix step, every later undecided box, and only the
   survivors go on to the next round, so the work is about (#kept × #undecided) IoUs and stops as
   soon as every box is decided.

IoUs use torchvision's arithmetic (``inter / (area_i + area_j - inter)`` compared with the largest
number of the dtype that is <= the threshold), so the kept indices are identical; a NaN IoU never
suppresses.
"""

from __future__ import annotations

import numpy as np
import torch

from ._box_checks import _threshold_below, _upcast


def _iou(ca, aa, cb, ab):
    """IoU Tensor[K, M] of boxes ca (Tensor[4, K], areas aa) and cb (Tensor[4, M], areas ab), in place."""
    w = torch.minimum(ca[2, :, None], cb[2]).sub_(torch.maximum(ca[0, :, None], cb[0])).clamp_(min=0)
    h = torch.minimum(ca[3, :, None], cb[3]).sub_(torch.maximum(ca[1, :, None], cb[1])).clamp_(min=0)
    inter = w.mul_(h)
    return inter.div_((aa[:, None] + ab).sub_(inter))


def _scan(mask: torch.Tensor) -> list[int] | None:
    """Greedy decision inside one block from its Tensor[K, K] bool mask (i suppresses j if mask[i, j]
    and i is kept, for j > i): the kept positions, or None when all are kept."""
    if not bool(mask.triu(1).any()):
        return None
    packed = np.packbits(mask.cpu().numpy(), axis=1, bitorder="little")    # bit j of row i = mask[i, j]
    removed, keep = 0, []
    for i, row in enumerate(packed):
        if not (removed >> i) & 1:
            keep.append(i)
            removed |= int.from_bytes(row.tobytes(), "little")
    return keep


def greedy_nms(boxes, scores, iou_threshold: float, labels=None, block: int = 128) -> torch.Tensor:
    """Indices of the kept boxes by decreasing score; with ``labels`` only boxes of one label interact."""
    order = torch.sort(scores, descending=True, stable=True).indices
    boxes = _upcast(boxes)                                           # float16 areas overflow: IoU in float32
    c = boxes[order].T.contiguous()                                  # [4, N]: x1, y1, x2, y2 in score order
    labels = None if labels is None else labels[order]
    areas = (c[2] - c[0]) * (c[3] - c[1])
    threshold = _threshold_below(iou_threshold, boxes.dtype).to(boxes.device)
    pos = torch.arange(boxes.shape[0], device=boxes.device)         # undecided boxes, in score order
    kept = []
    while pos.numel() > 0:
        b, rest = pos[:block], pos[block:]
        cb, ab = c[:, b], areas[b]
        mask = _iou(cb, ab, cb, ab) > threshold
        if labels is not None:
            mask &= labels[b, None] == labels[None, b]
        keep = _scan(mask)
        if keep is not None:
            keep = torch.tensor(keep, device=b.device)
            b, cb, ab = b[keep], cb[:, keep], ab[keep]
        kept.append(b)
        if rest.numel() == 0:
            break
        iou = _iou(cb, ab, c[:, rest], areas[rest]).nan_to_num_(nan=0.0)     # NaN never suppresses
        if labels is not None:
            iou.masked_fill_(labels[b, None] != labels[None, rest], 0.0)
        pos = rest[iou.amax(0) <= threshold]
    return order[torch.cat(kept)] if kept else order
