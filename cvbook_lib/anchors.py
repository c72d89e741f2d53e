"""Anchors: anchor generation equal to torchvision's ``AnchorGenerator``, box encoding equal to its
``BoxCoder`` (``encode_single`` / ``decode_single`` and the per-image list API ``encode`` / ``decode``),
k-means anchors with the 1 - IoU distance (YOLOv2). The optimal assignment
(``linear_sum_assignment``, equal to scipy's) and DETR's Hungarian matcher live in
:mod:`cvbook_lib.matching` and are re-exported here.

Integer, bool and complex tensors are refused where a floating tensor is needed (box codes, feature
maps, base anchors, k-means sizes). Deliberate differences from the references, each a clear error:
boxes with x2 < x1 (or a negative size) and a NaN ``bbox_xform_clip`` (torchvision computes with
them); a (w, h) or base-anchor tensor that is not [N, 2] / [A, 4] (torchvision's broadcasting takes
it as rows); bool or complex sizes; an ``image_size`` that is not a pair; in ``BoxCoder.encode`` lists
of different numbers of images or of boxes per image (torchvision only needs equal totals).

References: Ren et al. 2015 (anchors, box parametrization), Redmon & Farhadi 2017 (k-means anchors).
Tested in ``tests/test_anchors.py``.
"""

from __future__ import annotations

import math

import torch

from ._box_checks import _check_box_list, _check_boxes
from ._checks import as_pair, check_choice, check_finite, check_float, check_int, check_tensor
from .matching import hungarian_match, linear_sum_assignment

__all__ = ["AnchorGenerator", "generate_anchors", "BoxCoder", "wh_iou", "kmeans_anchors",
           "linear_sum_assignment", "hungarian_match"]


def _positive_reals(value, name: str) -> tuple:
    """A non-empty list / tuple / 1-D tensor of finite numbers > 0, returned as a tuple (values unchanged)."""
    if isinstance(value, torch.Tensor):
        check_tensor(value, name, (1,), kind="real")
        value = value.tolist()
    elif type(value).__name__ == "ndarray":
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple of positive numbers, got {type(value).__name__} {value!r:.80}")
    if len(value) == 0:
        raise ValueError(f"{name} must hold at least one positive number, got {value!r}")
    for i, v in enumerate(value):
        check_float(v, f"{name}[{i}]", 0.0, min_open=True, allow_inf=False)
    return tuple(value)


def _dtype_device(dtype, device):
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype (e.g. torch.float32), got {dtype!r:.80}")
    if isinstance(device, torch.device):
        return dtype, device
    if not isinstance(device, str):
        raise TypeError(f"device must be a str or torch.device, got {type(device).__name__} {device!r:.80}")
    try:
        return dtype, torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must name a device such as 'cpu' or 'cuda:0', got {device!r:.80}") from None


def generate_anchors(scales, aspect_ratios, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """Anchors centred at (0, 0): for every ratio r = h/w and scale s, w = s/√r and h = s·√r, so
    w·h = s² and h/w = r. Rows are ratio-major, coordinates rounded like torchvision.

    Returns: Tensor[len(aspect_ratios) · len(scales), 4] in xyxy.
    """
    scales, aspect_ratios = _positive_reals(scales, "scales"), _positive_reals(aspect_ratios, "aspect_ratios")
    dtype, device = _dtype_device(dtype, device)
    s = torch.as_tensor(scales, dtype=dtype, device=device)
    h_ratios = torch.sqrt(torch.as_tensor(aspect_ratios, dtype=dtype, device=device))
    w_ratios = 1 / h_ratios                                            # torchvision's order of operations
    ws = (w_ratios[:, None] * s[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * s[None, :]).reshape(-1)
    return (torch.stack([-ws, -hs, ws, hs], 1) / 2).round()


def _per_map(value, name: str) -> tuple:
    if not isinstance(value, (list, tuple)) or len(value) == 0:
        raise TypeError(f"{name} must be a non-empty tuple (one tuple per feature map), got {value!r:.80}")
    return tuple(value)


class AnchorGenerator:
    """Anchors for every cell of every feature map, like ``torchvision.models.detection.AnchorGenerator``.

    Args:
        sizes: one tuple of scales per feature map, e.g. ((128, 256, 512),) for Faster R-CNN's 9 anchors;
            a flat tuple (32, 64) means one size per feature map, as in torchvision.
        aspect_ratios: one tuple of ratios h/w per feature map, e.g. ((0.5, 1.0, 2.0),); a flat tuple is
            used for every feature map.
    """

    def __init__(self, sizes=((128, 256, 512),), aspect_ratios=((0.5, 1.0, 2.0),)):
        sizes, aspect_ratios = _per_map(sizes, "sizes"), _per_map(aspect_ratios, "aspect_ratios")
        if not isinstance(sizes[0], (list, tuple)):
            sizes = tuple((s,) for s in sizes)
        if not isinstance(aspect_ratios[0], (list, tuple)):
            aspect_ratios = (aspect_ratios,) * len(sizes)
        sizes = tuple(_positive_reals(s, f"sizes[{i}]") for i, s in enumerate(sizes))
        aspect_ratios = tuple(_positive_reals(a, f"aspect_ratios[{i}]") for i, a in enumerate(aspect_ratios))
        if len(sizes) != len(aspect_ratios):
            raise ValueError(f"sizes and aspect_ratios need one entry per feature map, got {len(sizes)} and "
                             f"{len(aspect_ratios)}")
        self.sizes, self.aspect_ratios = sizes, aspect_ratios
        self.cell_anchors = [generate_anchors(s, a) for s, a in zip(sizes, aspect_ratios)]

    def num_anchors_per_location(self) -> list[int]:
        return [len(s) * len(a) for s, a in zip(self.sizes, self.aspect_ratios)]

    @staticmethod
    def grid_anchors(grid_size, stride, base_anchors) -> torch.Tensor:
        """Place ``base_anchors`` (Tensor[A, 4]) at every cell: the anchor of cell (i, j) is shifted by
        (j·stride_w, i·stride_h). grid_size (h, w) and stride are ints >= 0. Returns Tensor[h·w·A, 4], cell-major."""
        (gh, gw), (sh, sw) = as_pair(grid_size, "grid_size", 0), as_pair(stride, "stride", 0)
        check_tensor(base_anchors, "base_anchors", (2,), kind="float")
        if base_anchors.shape[1] != 4:
            raise ValueError(f"base_anchors must be Tensor[A, 4], got {tuple(base_anchors.shape)}")
        dev = base_anchors.device
        ys = torch.arange(gh, device=dev) * sh
        xs = torch.arange(gw, device=dev) * sw
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        shifts = torch.stack([xx.reshape(-1), yy.reshape(-1)] * 2, 1)
        return (shifts[:, None, :] + base_anchors[None]).reshape(-1, 4)

    def __call__(self, image_size, feature_maps) -> torch.Tensor:
        """All anchors of one image: image_size (H, W) and a list of floating Tensor[..., h_i, w_i] feature
        maps (stride = image size // feature size per axis). Returns Tensor[Σ h_i w_i A_i, 4]."""
        image_size = as_pair(image_size, "image_size", 1)
        if not isinstance(feature_maps, (list, tuple)):
            raise TypeError(f"feature_maps must be a list of tensors, got {type(feature_maps).__name__}")
        if len(feature_maps) != len(self.sizes):
            raise ValueError(f"expected {len(self.sizes)} feature maps (one per entry of sizes), "
                             f"got {len(feature_maps)} feature_maps")
        for i, f in enumerate(feature_maps):
            check_tensor(f, f"feature_maps[{i}]", min_ndim=2, kind="float")
            if min(f.shape[-2:]) == 0:
                raise ValueError(f"feature_maps[{i}] must have a non-zero height and width, got {tuple(f.shape)}")
        dtype, dev = feature_maps[0].dtype, feature_maps[0].device
        out = []
        for fmap, base in zip(feature_maps, self.cell_anchors):
            g = fmap.shape[-2:]
            stride = (image_size[0] // g[0], image_size[1] // g[1])
            out.append(self.grid_anchors(g, stride, base.to(dtype=dtype, device=dev)))
        return torch.cat(out)


class BoxCoder:
    """Faster R-CNN's box parametrization, like torchvision's ``BoxCoder``:
    t_x = w_x (x - x_a)/w_a, t_y = w_y (y - y_a)/h_a, t_w = w_w log(w/w_a), t_h = w_h log(h/h_a),
    with (x, y) box centres and (w_x, w_y, w_w, w_h) = ``weights`` (four numbers > 0).
    """

    def __init__(self, weights=(1.0, 1.0, 1.0, 1.0), bbox_xform_clip: float = math.log(1000.0 / 16)):
        weights = _positive_reals(weights, "weights")
        if len(weights) != 4:
            raise ValueError(f"weights must be four positive numbers, got {weights!r}")
        self.weights = tuple(float(w) for w in weights)
        self.bbox_xform_clip = check_float(bbox_xform_clip, "bbox_xform_clip")

    @staticmethod
    def _centre_size(b):
        w, h = b[:, 2:3] - b[:, 0:1], b[:, 3:4] - b[:, 1:2]
        return b[:, 0:1] + 0.5 * w, b[:, 1:2] + 0.5 * h, w, h

    def encode_single(self, reference_boxes, proposals) -> torch.Tensor:
        """Targets (Tensor[N, 4]) that move ``proposals`` (anchors) onto ``reference_boxes`` (ground truth)."""
        gt = _check_boxes(reference_boxes, "reference_boxes", kind="float")
        anchors = _check_boxes(proposals, "proposals", kind="float")
        if gt.shape != anchors.shape or gt.dim() != 2:
            raise ValueError(f"reference_boxes and proposals must both be Tensor[N, 4], got "
                             f"{tuple(gt.shape)} and {tuple(anchors.shape)}")
        wx, wy, ww, wh = torch.as_tensor(self.weights, dtype=gt.dtype, device=gt.device)
        ax, ay, aw, ah = self._centre_size(anchors)
        gx, gy, gw, gh = self._centre_size(gt)
        return torch.cat((wx * (gx - ax) / aw, wy * (gy - ay) / ah,
                          ww * torch.log(gw / aw), wh * torch.log(gh / ah)), 1)

    def encode(self, reference_boxes, proposals) -> tuple:
        """The per-image form of ``encode_single``, like torchvision's ``BoxCoder.encode``: lists of
        Tensor[L_i, 4] (one per image, the same L_i in both: torchvision only needs equal totals, and splits
        by ``reference_boxes``) → a tuple of Tensor[L_i, 4] targets."""
        gt = _check_box_list(reference_boxes, "reference_boxes", kind="float")
        anchors = _check_box_list(proposals, "proposals", kind="float")
        if [len(b) for b in gt] != [len(b) for b in anchors]:
            raise ValueError(f"reference_boxes and proposals must hold the same number of boxes per image, got "
                             f"{[len(b) for b in gt]} and {[len(b) for b in anchors]}")
        return self.encode_single(torch.cat(gt, 0), torch.cat(anchors, 0)).split([len(b) for b in gt], 0)

    def decode(self, rel_codes, boxes) -> torch.Tensor:
        """The per-image form of ``decode_single``, like torchvision's ``BoxCoder.decode``: ``boxes`` a list of
        Tensor[L_i, 4] (K = Σ L_i boxes), ``rel_codes`` any floating tensor of K·4·k values (e.g. Tensor[K, 4k],
        or Tensor[K·k, 4]), read as Tensor[K, 4k]. Returns Tensor[K, k, 4] (Tensor[0, 4k] when K = 0, as there).
        An empty ``rel_codes`` for K > 0 boxes is refused (torchvision fails to reshape it, a RuntimeError)."""
        check_tensor(rel_codes, "rel_codes", kind="float")
        concat = torch.cat(_check_box_list(boxes, "boxes", kind="float"), 0)
        K = concat.shape[0]
        if K == 0:
            return self.decode_single(rel_codes, concat)
        if rel_codes.numel() == 0 or rel_codes.numel() % (4 * K):
            raise ValueError(f"rel_codes must hold 4k values per box of boxes ({K} boxes), got shape "
                             f"{tuple(rel_codes.shape)}")
        return self.decode_single(rel_codes.reshape(K, -1), concat).reshape(K, -1, 4)

    def decode_single(self, rel_codes, boxes) -> torch.Tensor:
        """Apply offsets ``rel_codes`` (Tensor[N, 4·k]) to ``boxes`` (Tensor[N, 4]); log-sizes are clipped
        at ``bbox_xform_clip`` before exp. Returns Tensor[N, 4·k] xyxy."""
        check_tensor(rel_codes, "rel_codes", (2,), kind="float")
        boxes = _check_boxes(boxes, "boxes", min_ndim=2, kind="float")
        if boxes.dim() != 2 or rel_codes.shape[0] != boxes.shape[0] or rel_codes.shape[1] % 4:
            raise ValueError(f"rel_codes must be Tensor[N, 4k] and boxes Tensor[N, 4], got {tuple(rel_codes.shape)} "
                             f"and {tuple(boxes.shape)}")
        boxes = boxes.to(rel_codes.dtype)
        x, y, w, h = self._centre_size(boxes)
        wx, wy, ww, wh = self.weights
        dx, dy = rel_codes[:, 0::4] / wx, rel_codes[:, 1::4] / wy
        dw = torch.clamp(rel_codes[:, 2::4] / ww, max=self.bbox_xform_clip)
        dh = torch.clamp(rel_codes[:, 3::4] / wh, max=self.bbox_xform_clip)
        cx, cy = dx * w + x, dy * h + y
        half_w, half_h = 0.5 * (torch.exp(dw) * w), 0.5 * (torch.exp(dh) * h)
        return torch.stack((cx - half_w, cy - half_h, cx + half_w, cy + half_h), 2).flatten(1)


def _check_wh(wh, name: str, kind: str = "real") -> torch.Tensor:
    check_tensor(wh, name, (2,), kind=kind)
    if wh.shape[1] != 2:
        raise ValueError(f"{name} must be Tensor[N, 2] (width, height), got shape {tuple(wh.shape)}")
    if bool((wh < 0).any()):
        raise ValueError(f"{name} must not hold a negative width or height")
    return wh


def wh_iou(wh1, wh2) -> torch.Tensor:
    """IoU of boxes given only by size, aligned at a common corner (centre): Tensor[N, 2], Tensor[M, 2] → [N, M].
    Equal to ``box_iou`` of the boxes (0, 0, w, h); 0/0 (two empty boxes) is NaN, as there."""
    wh1, wh2 = _check_wh(wh1, "wh1"), _check_wh(wh2, "wh2")
    inter = torch.min(wh1[:, None, 0], wh2[None, :, 0]) * torch.min(wh1[:, None, 1], wh2[None, :, 1])
    return inter / (wh1.prod(1)[:, None] + wh2.prod(1)[None, :] - inter)


def kmeans_anchors(wh, k: int, iters: int = 100, seed: int = 0, distance: str = "iou"):
    """k-means over ground-truth box sizes (YOLOv2). ``distance='iou'`` uses d = 1 - IoU(box, centroid),
    which does not favour large boxes; ``'euclidean'`` is plain k-means on (w, h) for comparison.

    Args:
        wh (Tensor[N, 2]): finite positive widths and heights. k: number of anchors, 1 <= k <= N.
        iters: at most this many updates (>= 1). seed: int >= 0, picks the initial centroids.
    Returns:
        (anchors Tensor[k, 2] sorted by area, mean_iou: mean over boxes of the best IoU with an anchor).
    """
    _check_wh(wh, "wh", "float")
    k, iters, seed = check_int(k, "k", 1), check_int(iters, "iters", 1), check_int(seed, "seed", 0)
    check_choice(distance, "distance", ("iou", "euclidean"))
    check_finite(wh, "wh")
    if not bool((wh > 0).all()):
        raise ValueError("wh must hold positive widths and heights, got a zero")
    if k > wh.shape[0]:
        raise ValueError(f"k must be <= the number of boxes in wh ({wh.shape[0]}), got {k}")
    dtype, wh = wh.dtype, (wh.float() if wh.dtype in (torch.float16, torch.bfloat16) else wh)  # cdist needs 32 bits
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
    return centroids.to(dtype), wh_iou(wh, centroids).max(1).values.mean().item()
