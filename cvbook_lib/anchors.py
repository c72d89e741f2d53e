"""Anchors and matching: anchor generation equal to torchvision's ``AnchorGenerator``, box encoding
equal to its ``BoxCoder``, k-means anchors with the 1 - IoU distance (YOLOv2), optimal assignment
equal in total cost to ``scipy.optimize.linear_sum_assignment``, and DETR's Hungarian matcher.

References: Ren et al. 2015 (anchors, box parametrization), Redmon & Farhadi 2017 (k-means anchors),
Kuhn 1955 / Jonker & Volgenant 1987 (assignment), Carion et al. 2020 (DETR). Tested in
``tests/test_anchors.py``.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_choice, check_int, check_tensor
from .boxes import _check_boxes, box_convert, generalized_box_iou

__all__ = ["AnchorGenerator", "generate_anchors", "BoxCoder", "wh_iou", "kmeans_anchors",
           "linear_sum_assignment", "hungarian_match"]


def generate_anchors(scales, aspect_ratios, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """Anchors centred at (0, 0): for every ratio r = h/w and scale s, w = s/√r and h = s·√r, so
    w·h = s² and h/w = r. Rows are ratio-major, coordinates rounded like torchvision.

    Returns: Tensor[len(aspect_ratios) · len(scales), 4] in xyxy.
    """
    scales = torch.as_tensor(scales, dtype=dtype, device=device)
    ratios = torch.as_tensor(aspect_ratios, dtype=dtype, device=device)
    if scales.dim() != 1 or ratios.dim() != 1 or not bool((scales > 0).all()) or not bool((ratios > 0).all()):
        raise ValueError(f"scales and aspect_ratios must be non-empty sequences of positive numbers, "
                         f"got {scales.tolist()} and {ratios.tolist()}")
    h_ratio = torch.sqrt(ratios)
    ws = (scales[None, :] / h_ratio[:, None]).reshape(-1)
    hs = (scales[None, :] * h_ratio[:, None]).reshape(-1)
    return (torch.stack([-ws, -hs, ws, hs], 1) / 2).round()


class AnchorGenerator:
    """Anchors for every cell of every feature map, like ``torchvision.models.detection.AnchorGenerator``.

    Args:
        sizes: one tuple of scales per feature map, e.g. ((128, 256, 512),) for Faster R-CNN's 9 anchors.
        aspect_ratios: one tuple of ratios h/w per feature map, e.g. ((0.5, 1.0, 2.0),).
    """

    def __init__(self, sizes=((128, 256, 512),), aspect_ratios=((0.5, 1.0, 2.0),)):
        if len(sizes) != len(aspect_ratios):
            raise ValueError(f"sizes and aspect_ratios need one entry per feature map, got {len(sizes)} and "
                             f"{len(aspect_ratios)}")
        self.sizes, self.aspect_ratios = sizes, aspect_ratios

    def num_anchors_per_location(self) -> list[int]:
        return [len(s) * len(a) for s, a in zip(self.sizes, self.aspect_ratios)]

    @staticmethod
    def grid_anchors(grid_size, stride, base_anchors) -> torch.Tensor:
        """Place ``base_anchors`` (Tensor[A, 4]) at every cell: the anchor of cell (i, j) is shifted by
        (j·stride_w, i·stride_h). Returns Tensor[H·W·A, 4], cell-major then anchor."""
        (gh, gw), (sh, sw) = grid_size, stride
        dev = base_anchors.device
        ys = torch.arange(gh, device=dev) * sh
        xs = torch.arange(gw, device=dev) * sw
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        shifts = torch.stack([xx.reshape(-1), yy.reshape(-1)] * 2, 1)
        return (shifts[:, None, :] + base_anchors[None]).reshape(-1, 4)

    def __call__(self, image_size, feature_maps) -> torch.Tensor:
        """All anchors of one image: image_size (H, W) and a list of Tensor[..., h_i, w_i] feature maps
        (stride = image size // feature size per axis). Returns Tensor[Σ h_i w_i A_i, 4]."""
        if len(feature_maps) != len(self.sizes):
            raise ValueError(f"expected {len(self.sizes)} feature maps (one per entry of sizes), "
                             f"got {len(feature_maps)}")
        dtype, dev = feature_maps[0].dtype, feature_maps[0].device
        out = []
        for fmap, scales, ratios in zip(feature_maps, self.sizes, self.aspect_ratios):
            g = fmap.shape[-2:]
            stride = (image_size[0] // g[0], image_size[1] // g[1])
            out.append(self.grid_anchors(g, stride, generate_anchors(scales, ratios, dtype, dev)))
        return torch.cat(out)


class BoxCoder:
    """Faster R-CNN's box parametrization, like torchvision's ``BoxCoder``:
    t_x = w_x (x - x_a)/w_a, t_y = w_y (y - y_a)/h_a, t_w = w_w log(w/w_a), t_h = w_h log(h/h_a),
    with (x, y) box centres and (w_x, w_y, w_w, w_h) = ``weights``.
    """

    def __init__(self, weights=(1.0, 1.0, 1.0, 1.0), bbox_xform_clip: float = math.log(1000.0 / 16)):
        if len(weights) != 4 or any(w <= 0 for w in weights):
            raise ValueError(f"weights must be four positive numbers, got {weights!r}")
        self.weights, self.bbox_xform_clip = tuple(weights), bbox_xform_clip

    @staticmethod
    def _centre_size(b):
        w, h = b[:, 2:3] - b[:, 0:1], b[:, 3:4] - b[:, 1:2]
        return b[:, 0:1] + 0.5 * w, b[:, 1:2] + 0.5 * h, w, h

    def encode_single(self, reference_boxes, proposals) -> torch.Tensor:
        """Targets (Tensor[N, 4]) that move ``proposals`` (anchors) onto ``reference_boxes`` (ground truth)."""
        gt, anchors = _check_boxes(reference_boxes, "reference_boxes"), _check_boxes(proposals, "proposals")
        if gt.shape != anchors.shape or gt.dim() != 2:
            raise ValueError(f"reference_boxes and proposals must both be Tensor[N, 4], got "
                             f"{tuple(gt.shape)} and {tuple(anchors.shape)}")
        wx, wy, ww, wh = torch.as_tensor(self.weights, dtype=gt.dtype, device=gt.device)
        ax, ay, aw, ah = self._centre_size(anchors)
        gx, gy, gw, gh = self._centre_size(gt)
        return torch.cat((wx * (gx - ax) / aw, wy * (gy - ay) / ah,
                          ww * torch.log(gw / aw), wh * torch.log(gh / ah)), 1)

    def decode_single(self, rel_codes, boxes) -> torch.Tensor:
        """Apply offsets ``rel_codes`` (Tensor[N, 4·k]) to ``boxes`` (Tensor[N, 4]); log-sizes are clipped
        at ``bbox_xform_clip`` before exp. Returns Tensor[N, 4·k] xyxy."""
        check_tensor(rel_codes, "rel_codes", (2,), floating=True)
        boxes = _check_boxes(boxes, "boxes").to(rel_codes.dtype)
        if rel_codes.shape[0] != boxes.shape[0] or rel_codes.shape[1] % 4:
            raise ValueError(f"rel_codes must be Tensor[N, 4k] with N = {boxes.shape[0]}, got {tuple(rel_codes.shape)}")
        x, y, w, h = self._centre_size(boxes)
        wx, wy, ww, wh = self.weights
        dx, dy = rel_codes[:, 0::4] / wx, rel_codes[:, 1::4] / wy
        dw = torch.clamp(rel_codes[:, 2::4] / ww, max=self.bbox_xform_clip)
        dh = torch.clamp(rel_codes[:, 3::4] / wh, max=self.bbox_xform_clip)
        cx, cy = dx * w + x, dy * h + y
        half_w, half_h = 0.5 * (torch.exp(dw) * w), 0.5 * (torch.exp(dh) * h)
        return torch.stack((cx - half_w, cy - half_h, cx + half_w, cy + half_h), 2).flatten(1)


def wh_iou(wh1, wh2) -> torch.Tensor:
    """IoU of boxes given only by size, aligned at a common corner (centre): Tensor[N, 2], Tensor[M, 2] → [N, M]."""
    inter = torch.min(wh1[:, None, 0], wh2[None, :, 0]) * torch.min(wh1[:, None, 1], wh2[None, :, 1])
    return inter / (wh1.prod(1)[:, None] + wh2.prod(1)[None, :] - inter)


def kmeans_anchors(wh, k: int, iters: int = 100, seed: int = 0, distance: str = "iou"):
    """k-means over ground-truth box sizes (YOLOv2). ``distance='iou'`` uses d = 1 - IoU(box, centroid),
    which does not favour large boxes; ``'euclidean'`` is plain k-means on (w, h) for comparison.

    Args:
        wh (Tensor[N, 2]): positive widths and heights. k: number of anchors. seed: picks the initial centroids.
    Returns:
        (anchors Tensor[k, 2] sorted by area, mean_iou: mean over boxes of the best IoU with an anchor).
    """
    check_tensor(wh, "wh", (2,), floating=True)
    check_int(k, "k", 1)
    check_int(iters, "iters", 1)
    check_choice(distance, "distance", ("iou", "euclidean"))
    if wh.shape[1] != 2 or not bool((wh > 0).all()):
        raise ValueError(f"wh must be Tensor[N, 2] of positive sizes, got shape {tuple(wh.shape)}")
    if k > wh.shape[0]:
        raise ValueError(f"k must be <= the number of boxes ({wh.shape[0]}), got {k}")
    g = torch.Generator().manual_seed(seed)
    centroids = wh[torch.randperm(wh.shape[0], generator=g)[:k].to(wh.device)].clone()
    for _ in range(iters):
        cost = 1 - wh_iou(wh, centroids) if distance == "iou" else torch.cdist(wh, centroids)
        assign = cost.argmin(1)
        new = torch.stack([wh[assign == j].mean(0) if bool((assign == j).any()) else centroids[j] for j in range(k)])
        if torch.allclose(new, centroids):
            break
        centroids = new
    centroids = centroids[centroids.prod(1).argsort()]
    return centroids, wh_iou(wh, centroids).max(1).values.mean().item()


def linear_sum_assignment(cost, maximize: bool = False):
    """Minimum-cost assignment of rows to columns (each used at most once, min(n, m) pairs), by shortest
    augmenting paths with dual potentials (Kuhn–Munkres / Jonker–Volgenant), O(n² m).

    Args:
        cost (Tensor[n, m] or array-like): +inf marks a forbidden pair; NaN and -inf are rejected.
    Returns:
        (row_ind, col_ind): int64 Tensors with row_ind increasing and the same optimal total as
        ``scipy.optimize.linear_sum_assignment`` (the pairs may differ when optima tie). The search is
        sequential, so it runs on the CPU and returns tensors on the device of ``cost``.
    """
    c = torch.as_tensor(cost)
    device = c.device
    if c.dim() != 2:
        raise ValueError(f"cost must be a 2-D matrix, got shape {tuple(c.shape)}")
    c = c.detach().to("cpu", torch.float64)
    if bool(torch.isnan(c).any()) or bool((c == -math.inf).any()):
        raise ValueError("cost must not contain NaN or -inf")
    if maximize:
        c = -c
        c[c == -math.inf] = math.inf
    transposed = c.shape[0] > c.shape[1]
    if transposed:
        c = c.T
    n, m = c.shape
    u, v = torch.zeros(n + 1, dtype=torch.float64), torch.zeros(m + 1, dtype=torch.float64)
    match = torch.zeros(m + 1, dtype=torch.long)           # match[j] = row (1-based) assigned to column j
    way = torch.zeros(m + 1, dtype=torch.long)
    cc = torch.cat([torch.zeros(n, 1, dtype=torch.float64), c], 1)  # 1-based columns
    for i in range(1, n + 1):                               # add row i by one shortest augmenting path
        match[0], j0 = i, 0
        minv = torch.full((m + 1,), math.inf, dtype=torch.float64)
        used = torch.zeros(m + 1, dtype=torch.bool)
        while True:
            used[j0] = True
            i0 = int(match[j0])
            reduced = cc[i0 - 1] - u[i0] - v                  # reduced costs from row i0
            better = (~used) & (reduced < minv)
            minv = torch.where(better, reduced, minv)
            way = torch.where(better, torch.full_like(way, j0), way)
            masked = torch.where(used, torch.full_like(minv, math.inf), minv)
            j1 = int(masked.argmin())
            delta = masked[j1].item()
            if math.isinf(delta):
                raise ValueError("cost matrix is infeasible: no complete assignment avoids +inf entries")
            rows = match[used]
            u.index_add_(0, rows, torch.full((rows.numel(),), delta, dtype=torch.float64))
            v = torch.where(used, v - delta, v)
            minv = torch.where(used, minv, minv - delta)
            j0 = j1
            if int(match[j0]) == 0:
                break
        while j0:                                           # flip the path
            j1 = int(way[j0])
            match[j0] = match[j1]
            j0 = j1
    cols = torch.nonzero(match[1:]).flatten()
    rows = match[1:][cols] - 1
    if transposed:
        rows, cols = cols, rows
    order = rows.argsort()
    return rows[order].to(device), cols[order].to(device)


def hungarian_match(pred_logits, pred_boxes, tgt_labels, tgt_boxes, cost_class: float = 1.0,
                    cost_bbox: float = 5.0, cost_giou: float = 2.0):
    """DETR's matcher for one image: C = cost_bbox·L1(b̂, b) - cost_class·p̂(c) - cost_giou·GIoU(b̂, b), then
    the optimal one-to-one assignment of the Q queries to the T targets.

    Args:
        pred_logits (Tensor[Q, num_classes + 1]) (last class = "no object"); pred_boxes (Tensor[Q, 4])
        normalized cxcywh; tgt_labels (Tensor[T] int); tgt_boxes (Tensor[T, 4]) normalized cxcywh.
    Returns:
        (query_idx, target_idx, C): T matched pairs and the Tensor[Q, T] cost matrix.
    """
    check_tensor(pred_logits, "pred_logits", (2,), floating=True)
    check_tensor(tgt_labels, "tgt_labels", (1,))
    if pred_boxes.shape != (pred_logits.shape[0], 4) or tgt_boxes.shape != (tgt_labels.shape[0], 4):
        raise ValueError(f"pred_boxes must be Tensor[{pred_logits.shape[0]}, 4] and tgt_boxes "
                         f"Tensor[{tgt_labels.shape[0]}, 4], got {tuple(pred_boxes.shape)} and "
                         f"{tuple(tgt_boxes.shape)}")
    prob = pred_logits.softmax(-1)
    to_xyxy = lambda b: box_convert(b, "cxcywh", "xyxy")  # noqa: E731
    giou = generalized_box_iou(to_xyxy(pred_boxes), to_xyxy(tgt_boxes))
    C = cost_bbox * torch.cdist(pred_boxes, tgt_boxes, p=1) - cost_class * prob[:, tgt_labels] - cost_giou * giou
    q, t = linear_sum_assignment(C)
    return q, t, C
