"""cvbook_lib.boxes / cvbook_lib.roi against torchvision.ops: same values, same kept indices in the same order."""

import math

import pytest
import torch
import torchvision.ops as tv
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.testing import assert_close

from cvbook_lib import boxes as B
from cvbook_lib import roi as R

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
GEN = torch.Generator().manual_seed(0)


def rand_boxes(n, extent=100.0, max_size=40.0, dtype=torch.float32, device="cpu", degenerate=False):
    xy = torch.rand(n, 2, generator=GEN, dtype=torch.float64) * extent
    wh = torch.rand(n, 2, generator=GEN, dtype=torch.float64) * max_size
    if degenerate and n:
        wh[:: max(1, n // 4), 0] = 0.0                                  # zero-width boxes
        xy[1::5] = xy[0]                                               # exact duplicates of box 0 ...
        wh[1::5] = wh[0]
    return torch.cat([xy, xy + wh], 1).to(device, dtype)


def clustered_scene(n, objects=30, extent=600.0):
    """Detections like a detector's: jittered copies around a few objects."""
    centre = torch.rand(objects, 2, generator=GEN) * extent
    size = torch.rand(objects, 2, generator=GEN) * 120 + 15
    i = torch.randint(0, objects, (n,), generator=GEN)
    c = centre[i] + torch.randn(n, 2, generator=GEN) * size[i] * 0.15
    wh = size[i] * (1 + 0.2 * torch.randn(n, 2, generator=GEN)).clamp(min=0.3)
    return torch.cat([c - wh / 2, c + wh / 2], 1), torch.rand(n, generator=GEN)


# ----------------------------------------------------------------------------- formats and the IoU family
@pytest.mark.parametrize("in_fmt", ["xyxy", "xywh", "cxcywh"])
@pytest.mark.parametrize("out_fmt", ["xyxy", "xywh", "cxcywh"])
def test_box_convert_and_area_match_torchvision(in_fmt, out_fmt):
    b = tv.box_convert(rand_boxes(9, dtype=torch.float64), "xyxy", in_fmt)
    assert_close(B.box_convert(b, in_fmt, out_fmt), tv.box_convert(b, in_fmt, out_fmt))
    assert_close(B.box_area(b, in_fmt), tv.box_area(b, in_fmt))
    assert_close(B.box_convert(B.box_convert(b, in_fmt, out_fmt), out_fmt, in_fmt), b)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["box_iou", "generalized_box_iou", "distance_box_iou", "complete_box_iou"])
def test_iou_family_matches_torchvision(name, dtype, device):
    b1 = rand_boxes(12, dtype=dtype, device=device, degenerate=True)
    b2 = torch.cat([rand_boxes(7, dtype=dtype, device=device), b1[:3]])   # identical pairs too
    ours, ref = getattr(B, name)(b1, b2), getattr(tv, name)(b1, b2)
    assert_close(ours, ref, equal_nan=True)
    batched = torch.stack([b1[:5], b1[5:10]])                            # [2, 5, 4] leading batch dims
    b2s = b2[None].expand(2, -1, -1)
    assert_close(getattr(B, name)(batched, b2s), getattr(tv, name)(batched, b2s), equal_nan=True)


@pytest.mark.parametrize("fmt", ["xywh", "cxcywh"])
def test_box_iou_other_formats(fmt):
    b1, b2 = (tv.box_convert(rand_boxes(n, dtype=torch.float64), "xyxy", fmt) for n in (6, 4))
    assert_close(B.box_iou(b1, b2, fmt), tv.box_iou(b1, b2, fmt))


def test_iou_properties():
    b = rand_boxes(20, dtype=torch.float64)
    iou, giou = B.box_iou(b, b), B.generalized_box_iou(b, b)
    assert_close(torch.diagonal(iou), torch.ones(20, dtype=torch.float64))
    assert bool((giou <= iou + 1e-12).all()) and bool((giou >= -1).all())
    assert_close(iou, iou.T)
    far = torch.tensor([[0.0, 0, 1, 1], [10, 10, 11, 11], [100, 100, 101, 101]], dtype=torch.float64)
    g = B.generalized_box_iou(far[:1], far[1:])[0]
    assert float(B.box_iou(far[:1], far[1:]).abs().sum()) == 0 and g[0] > g[1]   # GIoU still ranks disjoint boxes


@pytest.mark.parametrize("name", ["generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_iou_losses_and_gradients_match_torchvision(name, reduction):
    pred = rand_boxes(10, dtype=torch.float64).requires_grad_()
    gt = torch.cat([rand_boxes(8, dtype=torch.float64), pred[:2].detach()])
    ours, ref = getattr(B, name)(pred, gt, reduction), getattr(tv, name)(pred, gt, reduction)
    assert_close(ours, ref)
    (g1,) = torch.autograd.grad(ours.sum(), pred)
    (g2,) = torch.autograd.grad(ref.sum(), pred)
    assert_close(g1, g2)
    empty = torch.zeros(0, 4)
    assert_close(getattr(B, name)(empty, empty, reduction), getattr(tv, name)(empty, empty, reduction))


# ----------------------------------------------------------------------------- NMS
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n", [0, 1, 2, 30, 300, 1500])
@pytest.mark.parametrize("iou_threshold", [0.0, 0.3, 0.5, 0.7, 1.0])
def test_nms_same_indices_same_order_as_torchvision(n, iou_threshold, device):
    for boxes, scores in (clustered_scene(n), (rand_boxes(n, extent=300), torch.rand(n, generator=GEN))):
        boxes, scores = boxes.to(device), scores.to(device)
        ref = tv.nms(boxes, scores, iou_threshold)
        assert torch.equal(B.nms(boxes, scores, iou_threshold), ref)
        b64, s64 = boxes.double(), scores.double()
        assert torch.equal(B.nms(b64, s64, iou_threshold), tv.nms(b64, s64, iou_threshold))


def test_nms_ties_duplicates_and_degenerate_boxes():
    boxes = rand_boxes(400, extent=80, degenerate=True)
    scores = (torch.rand(400, generator=GEN) * 5).floor() / 5          # only 5 distinct scores: many ties
    for t in (0.0, 0.2, 0.5, 0.9):
        assert torch.equal(B.nms(boxes, scores, t), tv.nms(boxes, scores, t))


def test_nms_threshold_compared_like_torchvision():
    # IoU exactly 0.5 is not > 0.5; float32 0.3f > 0.3 (double) is, as in the C++ kernel
    half = torch.tensor([[0.0, 0, 2, 1], [0, 0, 1, 1]])
    assert torch.equal(B.nms(half, torch.tensor([0.9, 0.8]), 0.5), tv.nms(half, torch.tensor([0.9, 0.8]), 0.5))
    b = torch.tensor([[0.0, 0, 10, 1], [0, 0, 3, 1]])
    s = torch.tensor([0.9, 0.8])
    for t in (0.3, 0.29999, 0.30001, float(torch.tensor(0.3).item())):
        assert torch.equal(B.nms(b, s, t), tv.nms(b, s, t)), t


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 60), st.floats(0, 1), st.integers(0, 2 ** 31 - 1))
def test_nms_property_matches_torchvision(n, t, seed):
    g = torch.Generator().manual_seed(seed)
    xy = (torch.rand(n, 2, generator=g) * 20).round()
    boxes = torch.cat([xy, xy + (torch.rand(n, 2, generator=g) * 10).round()], 1)   # integer grid: many exact IoUs
    scores = (torch.rand(n, generator=g) * 4).round()
    assert torch.equal(B.nms(boxes, scores, t), tv.nms(boxes, scores, t))


@pytest.mark.parametrize("n", [50, 1200])          # torchvision takes two code paths around 1000 boxes
def test_batched_nms_matches_torchvision(n):
    boxes, scores = clustered_scene(n)
    idxs = torch.randint(0, 5, (n,), generator=GEN)
    for t in (0.3, 0.5, 0.8):
        assert torch.equal(B.batched_nms(boxes, scores, idxs, t), tv.batched_nms(boxes, scores, idxs, t))


def _soft_nms_reference(boxes, scores, iou_threshold, sigma, score_threshold, method):
    """Bodla et al.'s pseudo-code, one box at a time in Python floats."""
    b, s = boxes.tolist(), scores.tolist()
    alive = [i for i in range(len(s)) if s[i] >= score_threshold]
    keep, kept = [], []
    while alive:
        m = max(alive, key=lambda i: (s[i], -i))
        keep.append(m)
        kept.append(s[m])
        alive.remove(m)
        for i in list(alive):
            iou = tv.box_iou(torch.tensor([b[m]]), torch.tensor([b[i]])).item()
            w = math.exp(-iou * iou / sigma) if method == "gaussian" else (1 - iou if iou > iou_threshold else 1.0)
            s[i] *= w
            if s[i] < score_threshold or w == 0:
                alive.remove(i)
    return keep, kept


@pytest.mark.parametrize("method", ["linear", "gaussian"])
def test_soft_nms_matches_reference_and_properties(method):
    boxes, scores = clustered_scene(60, objects=6)
    boxes = boxes.double()
    keep, kept = B.soft_nms(boxes, scores.double(), 0.3, 0.5, 0.01, method)
    ref_keep, ref_kept = _soft_nms_reference(boxes, scores.double(), 0.3, 0.5, 0.01, method)
    assert keep.tolist() == ref_keep
    assert_close(kept, torch.tensor(ref_kept, dtype=torch.float64))
    assert bool((kept[1:] <= kept[:-1]).all()) and bool((kept <= scores.double()[keep]).all())
    assert len(keep) >= len(B.nms(boxes, scores.double(), 0.3))        # soft-NMS never keeps fewer


def test_soft_nms_hard_limit_is_nms():
    boxes, scores = clustered_scene(500)
    scores = scores * 0.9 + 0.1
    for t in (0.3, 0.5, 0.7):
        keep, kept = B.soft_nms(boxes, scores, t, method="hard")
        assert torch.equal(keep, tv.nms(boxes, scores, t))
        assert torch.equal(kept, scores[keep])


def test_nms_empty_and_bad_input():
    e = torch.zeros(0, 4)
    assert B.nms(e, torch.zeros(0), 0.5).dtype == torch.int64 and B.nms(e, torch.zeros(0), 0.5).numel() == 0
    assert B.soft_nms(e, torch.zeros(0))[0].numel() == 0
    b = torch.tensor([[0.0, 0, 1, 1], [2, 2, 3, 3]])
    with pytest.raises(ValueError, match="x2 < x1"):
        B.nms(torch.tensor([[5.0, 0, 1, 1]]), torch.ones(1), 0.5)
    with pytest.raises(ValueError, match="last dimension 4"):
        B.box_iou(torch.zeros(3, 5), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="NaN"):
        B.nms(b, torch.tensor([0.5, float("nan")]), 0.5)
    with pytest.raises(ValueError, match=r"iou_threshold must be a number in \[0, 1\]"):
        B.nms(b, torch.ones(2), 1.5)
    with pytest.raises(ValueError, match="same length"):
        B.nms(b, torch.ones(3), 0.5)
    with pytest.raises(ValueError, match="idxs"):
        B.batched_nms(b, torch.ones(2), torch.zeros(3, dtype=torch.long), 0.5)
    with pytest.raises(ValueError, match="reduction"):
        B.generalized_box_iou_loss(b, b, reduction="avg")
    with pytest.raises(ValueError, match="same shape"):
        B.complete_box_iou_loss(b, b[:1])
    with pytest.raises(ValueError, match="fmt"):
        B.box_area(b, "yxyx")
    with pytest.raises(ValueError, match="method"):
        B.soft_nms(b, torch.ones(2), method="cubic")
    with pytest.raises(ValueError, match="sigma"):
        B.soft_nms(b, torch.ones(2), sigma=0)


# ----------------------------------------------------------------------------- ROI Pool / ROI Align
def rois_for(n_images, k, H, W, scale, dtype=torch.float64, device="cpu"):
    """Boxes in image coordinates (feature size / scale), some partly or wholly off the map, some 0-size."""
    ext = torch.tensor([W / scale, H / scale], dtype=torch.float64)
    xy = torch.rand(k, 2, generator=GEN, dtype=torch.float64) * ext * 1.2 - 0.1 * ext
    wh = torch.rand(k, 2, generator=GEN, dtype=torch.float64) * ext * 0.6
    wh[::7] = 0.0
    idx = torch.randint(0, n_images, (k, 1), generator=GEN).double()
    return torch.cat([idx, xy, xy + wh], 1).to(device, dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spatial_scale", [1.0, 0.5, 1 / 16])
@pytest.mark.parametrize("sampling_ratio", [-1, 0, 1, 2, 3])
@pytest.mark.parametrize("aligned", [False, True])
def test_roi_align_matches_torchvision(spatial_scale, sampling_ratio, aligned, device):
    x = torch.randn(2, 3, 13, 17, generator=GEN, dtype=torch.float64).to(device)
    rois = rois_for(2, 25, 13, 17, spatial_scale, device=device)
    for size in (7, (3, 5), 1):
        args = (size, spatial_scale, sampling_ratio, aligned)
        assert_close(R.roi_align(x, rois, *args), tv.roi_align(x, rois, *args))
    xf, rf = x.float(), rois.float()
    assert_close(R.roi_align(xf, rf, 4, spatial_scale, sampling_ratio, aligned),
                 tv.roi_align(xf, rf, 4, spatial_scale, sampling_ratio, aligned), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("aligned", [False, True])
def test_roi_align_gradient_matches_torchvision(aligned):
    x = torch.randn(2, 2, 9, 11, generator=GEN, dtype=torch.float64, requires_grad=True)
    rois = rois_for(2, 12, 9, 11, 0.5)
    g_out = torch.randn(12, 2, 3, 4, generator=GEN, dtype=torch.float64)
    (g1,) = torch.autograd.grad((R.roi_align(x, rois, (3, 4), 0.5, -1, aligned) * g_out).sum(), x)
    (g2,) = torch.autograd.grad((tv.roi_align(x, rois, (3, 4), 0.5, -1, aligned) * g_out).sum(), x)
    assert_close(g1, g2)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spatial_scale", [1.0, 0.5, 1 / 16])
@pytest.mark.parametrize("output_size", [7, (2, 5), 1])
def test_roi_pool_matches_torchvision(spatial_scale, output_size, device):
    x = torch.randn(2, 3, 13, 17, generator=GEN, dtype=torch.float64).to(device)
    rois = rois_for(2, 25, 13, 17, spatial_scale, device=device)
    assert_close(R.roi_pool(x, rois, output_size, spatial_scale), tv.roi_pool(x, rois, output_size, spatial_scale))
    half = torch.tensor([[0, 2.5, 0.5, 6.5, 3.5], [1, -1.5, -0.5, 1.5, 2.5]], dtype=torch.float64, device=device)
    assert_close(R.roi_pool(x, half, 3, 1.0), tv.roi_pool(x, half, 3, 1.0))   # C rounding: halves away from 0


def test_roi_pool_gradient_matches_torchvision():
    x = torch.randn(1, 2, 10, 10, generator=GEN, dtype=torch.float64, requires_grad=True)
    rois = rois_for(1, 8, 10, 10, 1.0)
    (g1,) = torch.autograd.grad(R.roi_pool(x, rois, 3).sum(), x)
    (g2,) = torch.autograd.grad(tv.roi_pool(x, rois, 3).sum(), x)
    assert_close(g1, g2)


def test_roi_ops_accept_box_lists_and_reject_bad_boxes():
    x = torch.randn(2, 2, 8, 8, generator=GEN)
    boxes = [torch.tensor([[0.0, 0, 4, 4], [1, 2, 7, 5]]), torch.tensor([[2.0, 2, 6, 7]])]
    for ours, ref in ((R.roi_align, tv.roi_align), (R.roi_pool, tv.roi_pool)):
        assert_close(ours(x, boxes, 2), ref(x, boxes, 2))
    assert R.roi_align(x, torch.zeros(0, 5), 3).shape == (0, 2, 3, 3)
    with pytest.raises(ValueError, match="x2 < x1"):
        R.roi_align(x, torch.tensor([[0.0, 5, 0, 1, 4]]), 2)
    with pytest.raises(ValueError, match=r"Tensor\[K, 5\]"):
        R.roi_pool(x, torch.zeros(3, 4), 2)
    with pytest.raises(ValueError, match="image indices"):
        R.roi_align(x, torch.tensor([[2.0, 0, 0, 1, 1]]), 2)
    with pytest.raises(TypeError, match="dtype"):
        R.roi_align(x, torch.zeros(1, 5, dtype=torch.float64), 2)
    with pytest.raises(ValueError, match="spatial_scale"):
        R.roi_align(x, torch.zeros(1, 5), 2, spatial_scale=0)
    with pytest.raises(ValueError, match="output_size"):
        R.roi_pool(x, torch.zeros(1, 5), 0)
