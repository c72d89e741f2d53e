"""cvbook_lib.boxes / cvbook_lib.roi against torchvision.ops: same values, same kept indices in the same order."""

import math

import numpy as np
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
            iou = 0.0 if math.isnan(iou) else iou                       # 0/0 (two empty boxes): no overlap, as nms
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
    with pytest.raises(ValueError, match=r"iou_threshold must be in \[0, 1\]"):
        B.nms(b, torch.ones(2), 1.5)
    with pytest.raises(ValueError, match="same length"):
        B.nms(b, torch.ones(3), 0.5)
    with pytest.raises(ValueError, match="idxs"):
        B.batched_nms(b, torch.ones(2), torch.zeros(3, dtype=torch.long), 0.5)
    with pytest.raises(ValueError, match="reduction"):
        B.generalized_box_iou_loss(b, b, reduction="avg")
    with pytest.raises(ValueError, match="must broadcast"):
        B.complete_box_iou_loss(b, torch.zeros(3, 4))
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
    inverted = torch.tensor([[0.0, 5, 0, 1, 4]])                          # x2 < x1: defined, as in torchvision
    assert_close(R.roi_align(x, inverted, 2), tv.roi_align(x, inverted, 2))
    with pytest.raises(ValueError, match=r"Tensor\[K, 5\]"):
        R.roi_pool(x, torch.zeros(3, 4), 2)
    with pytest.raises(ValueError, match="image indices"):
        R.roi_align(x, torch.tensor([[2.0, 0, 0, 1, 1]]), 2)
    with pytest.raises(TypeError, match="dtype"):
        R.roi_align(x, torch.zeros(1, 5, dtype=torch.float64), 2)
    with pytest.raises(ValueError, match="spatial_scale"):
        R.roi_align(x, torch.zeros(1, 5), 2, spatial_scale=0)
    with pytest.raises(ValueError, match="output_size"):
        R.roi_pool(x, torch.zeros(1, 5), -1)
    for ours, ref in ((R.roi_align, tv.roi_align), (R.roi_pool, tv.roi_pool)):      # output_size 0: empty, as tv
        assert ours(x, torch.zeros(2, 5), 0).shape == ref(x, torch.zeros(2, 5), 0).shape == (2, 2, 0, 0)


# ----------------------------------------------------------------------------- issue 15: the contract on every input
def test_zero_area_boxes_iou_is_nan_like_torchvision_and_soft_nms_keeps_them():
    # torchvision: IoU of two zero-area boxes is 0/0 = NaN, and nms never suppresses on a NaN IoU
    boxes = torch.tensor([[1.0, 1, 1, 5], [1, 1, 1, 5], [3, 3, 3, 3], [0, 0, 4, 4], [0.5, 0, 4, 4]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5])
    assert_close(B.box_iou(boxes, boxes), tv.box_iou(boxes, boxes), equal_nan=True)
    assert math.isnan(tv.box_iou(boxes[:1], boxes[1:2]).item())
    ref = tv.nms(boxes, scores, 0.3)
    assert ref.tolist() == [0, 1, 2, 3]                                   # the duplicates survive; box 4 does not
    assert torch.equal(B.nms(boxes, scores, 0.3), ref)
    keep, kept = B.soft_nms(boxes, scores, 0.3, method="hard")
    assert torch.equal(keep, ref) and torch.equal(kept, scores[ref])
    for method in ("linear", "gaussian"):                                # a 0/0 IoU is no overlap: no decay
        keep, kept = B.soft_nms(boxes, scores, 0.3, method=method)
        assert keep[:3].tolist() == [0, 1, 2] and torch.equal(kept[:3], scores[:3])
        ref_keep, ref_kept = _soft_nms_reference(boxes, scores, 0.3, 0.5, 0.001, method)
        assert keep.tolist() == ref_keep and kept.tolist() == pytest.approx(ref_kept)


@pytest.mark.parametrize("bad", ["False", None, 1, 0])
def test_roi_align_aligned_must_be_a_bool(bad):
    x = torch.randn(1, 2, 6, 6, generator=GEN)
    boxes = torch.tensor([[0.0, 1, 1, 4, 4]])
    with pytest.raises(TypeError, match="aligned must be a bool"):
        R.roi_align(x, boxes, 2, aligned=bad)
    assert_close(R.roi_align(x, boxes, 2, aligned=np.bool_(True)), tv.roi_align(x, boxes, 2, aligned=True))


def test_numpy_scalars_are_accepted_like_python_numbers():
    x = torch.randn(2, 3, 9, 11, generator=GEN, dtype=torch.float64)
    rois = rois_for(2, 6, 9, 11, 0.5)
    ours = R.roi_align(x, rois, (np.int64(2), np.int32(3)), np.float64(0.5), np.int64(2), np.bool_(False))
    assert_close(ours, tv.roi_align(x, rois, (2, 3), 0.5, 2, False))
    assert_close(R.roi_pool(x, rois, np.int64(3), np.float32(0.5)), tv.roi_pool(x, rois, 3, 0.5))
    boxes, scores = clustered_scene(40)
    assert torch.equal(B.nms(boxes, scores, np.float64(0.5)), tv.nms(boxes, scores, 0.5))


@pytest.mark.parametrize("bad", [float("nan"), -0.1, 1.5, float("inf"), True, "0.5", None])
def test_iou_thresholds_outside_unit_interval_are_refused(bad):
    boxes, scores = clustered_scene(10)
    err = TypeError if isinstance(bad, (bool, str)) or bad is None else ValueError
    for call in (lambda: B.nms(boxes, scores, bad), lambda: B.soft_nms(boxes, scores, bad),
                 lambda: B.batched_nms(boxes, scores, torch.zeros(10, dtype=torch.long), bad)):
        with pytest.raises(err, match="iou_threshold"):
            call()
    assert tv.nms(boxes, scores, 1.5).numel() == 10                     # torchvision takes it: a documented difference


def test_mixed_dtypes_are_refused_as_torchvision_refuses_them():
    boxes, scores = clustered_scene(20)
    for s in (scores.half(), scores.double()):
        with pytest.raises(RuntimeError):
            tv.nms(boxes, s, 0.5)
        with pytest.raises(TypeError, match="boxes and scores must have the same dtype"):
            B.nms(boxes, s, 0.5)
    with pytest.raises(TypeError, match="floating"):
        B.nms(boxes.long(), scores, 0.5)                                  # torchvision: not implemented for Long
    assert torch.equal(B.nms(boxes.double(), scores.double(), 0.5), tv.nms(boxes.double(), scores.double(), 0.5))
    b1 = rand_boxes(6)
    assert_close(B.box_iou(b1.half(), b1), tv.box_iou(b1.half(), b1), atol=1e-3, rtol=1e-3)   # promoted, as tv
    assert_close(B.box_iou(b1.long(), b1.long()), tv.box_iou(b1.long(), b1.long()))


def test_batched_nms_idxs_must_be_integer():
    boxes, scores = clustered_scene(30)
    idxs = torch.randint(0, 3, (30,), generator=GEN)
    assert torch.equal(B.batched_nms(boxes, scores, idxs.int(), 0.5), tv.batched_nms(boxes, scores, idxs, 0.5))
    assert torch.equal(B.batched_nms(boxes, scores, idxs - 5, 0.5), tv.batched_nms(boxes, scores, idxs - 5, 0.5))
    for bad in (idxs.float(), idxs > 0):
        tv.batched_nms(boxes, scores, bad, 0.5)                          # torchvision casts them
        with pytest.raises(TypeError, match="idxs must have an integer dtype"):
            B.batched_nms(boxes, scores, bad, 0.5)
    with pytest.raises(TypeError, match="idxs"):
        B.batched_nms(boxes, scores, None, 0.5)


def test_nan_and_inf_boxes_follow_torchvision_where_it_answers():
    b = rand_boxes(12, extent=20)
    b[3, 2], b[7, 1] = float("nan"), -float("inf")
    scores = torch.rand(12, generator=GEN)
    assert_close(B.box_iou(b, b[:5]), tv.box_iou(b, b[:5]), equal_nan=True)
    assert_close(B.generalized_box_iou(b, b[:5]), tv.generalized_box_iou(b, b[:5]), equal_nan=True)
    assert_close(B.box_area(b), tv.box_area(b), equal_nan=True)
    assert_close(B.generalized_box_iou_loss(b, b.flip(0)), tv.generalized_box_iou_loss(b, b.flip(0)), equal_nan=True)
    for t in (0.1, 0.5):
        assert torch.equal(B.nms(b, scores, t), tv.nms(b, scores, t))
    idxs = torch.zeros(12, dtype=torch.long)
    assert tv.batched_nms(b, scores, idxs, 0.1).numel() == 12             # the coordinate trick: all NaN, none removed
    with pytest.raises(ValueError, match="boxes must be finite"):
        B.batched_nms(b, scores, idxs, 0.1)
    x = torch.randn(1, 2, 8, 8, generator=GEN)
    with pytest.raises(ValueError, match="boxes must be finite"):
        R.roi_align(x, torch.tensor([[0.0, 1, float("nan"), 4, 4]]), 2)
    with pytest.raises(ValueError, match="input must be finite"):
        R.roi_pool(x.masked_fill(x > 1, float("nan")), torch.tensor([[0.0, 1, 1, 4, 4]]), 2)


def test_degenerate_boxes_are_refused_where_torchvision_computes():
    bad = torch.tensor([[4.0, 0, 1, 3]])
    assert tv.box_area(bad).item() == -9.0
    for call in (lambda: B.box_area(bad), lambda: B.box_iou(bad, bad), lambda: B.nms(bad, torch.ones(1), 0.5),
                 lambda: B.generalized_box_iou_loss(bad, bad), lambda: B.box_convert(bad, "xyxy", "cxcywh")):
        with pytest.raises(ValueError, match="x2 < x1"):
            call()
    with pytest.raises(ValueError, match="negative width"):
        B.box_area(torch.tensor([[0.0, 0, -1, 2]]), "xywh")
    with pytest.raises(TypeError, match="boxes must have a real dtype"):
        B.box_area(torch.ones(2, 4, dtype=torch.bool))


def test_empty_inputs_give_torchvision_empty_outputs():
    e, b = torch.zeros(0, 4), rand_boxes(3)
    for ours, ref in ((B.nms(e, torch.zeros(0), 0.5), tv.nms(e, torch.zeros(0), 0.5)),
                      (B.batched_nms(e, torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5),
                       tv.batched_nms(e, torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5)),
                      (B.box_iou(e, b), tv.box_iou(e, b)), (B.box_iou(b, e), tv.box_iou(b, e)),
                      (B.complete_box_iou(e, b), tv.complete_box_iou(e, b)), (B.box_area(e), tv.box_area(e)),
                      (B.box_convert(e, "xyxy", "cxcywh"), tv.box_convert(e, "xyxy", "cxcywh"))):
        assert ours.shape == ref.shape and ours.dtype == ref.dtype
    x = torch.randn(2, 3, 6, 6, generator=GEN)
    for ours, ref in ((R.roi_align, tv.roi_align), (R.roi_pool, tv.roi_pool)):
        assert ours(x, torch.zeros(0, 5), (2, 3)).shape == ref(x, torch.zeros(0, 5), (2, 3)).shape == (0, 3, 2, 3)
        assert ours(x[:, :0], torch.tensor([[0.0, 1, 1, 3, 3]]), 2).shape == (1, 0, 2, 2)
    assert_close(R.roi_pool(x[..., :0], torch.tensor([[1.0, 1, 1, 3, 3]]), 2),
                 tv.roi_pool(x[..., :0], torch.tensor([[1.0, 1, 1, 3, 3]]), 2))   # an empty map pools to 0
    with pytest.raises(ValueError, match="H > 0 and W > 0"):
        R.roi_align(x[..., :0], torch.tensor([[1.0, 1, 1, 3, 3]]), 2)     # torchvision segfaults here


def test_box_losses_broadcast_like_torchvision():
    pred = rand_boxes(6, dtype=torch.float64)
    one = rand_boxes(1, dtype=torch.float64)
    for name in ("generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss"):
        assert_close(getattr(B, name)(pred, one), getattr(tv, name)(pred, one))
        assert_close(getattr(B, name)(pred, pred + 1, eps=0.5), getattr(tv, name)(pred, pred + 1, eps=0.5))
        with pytest.raises(TypeError, match="wider dtype"):
            getattr(B, name)(pred.float(), pred)                          # torchvision: index_put dtype mismatch


# ----------------------------------------------------------------------------- torchvision's own test cases
ROIS_TV = [[0, 0, 0, 9, 9], [0, 0, 5, 4, 9], [0, 5, 5, 9, 9], [1, 0, 0, 9, 9]]   # torchvision test_ops.py


def _inverted_rois(k, H, W, scale, dtype=torch.float64):
    """Random corners in any order: most boxes have x2 < x1 or y2 < y1 (or both), some barely."""
    a = torch.rand(k, 2, generator=GEN, dtype=torch.float64) * torch.tensor([W + 2.0, H + 2.0]) / scale - 1
    b = torch.rand(k, 2, generator=GEN, dtype=torch.float64) * torch.tensor([W + 2.0, H + 2.0]) / scale - 1
    b[:4] = a[:4] - torch.tensor([0.3, 0.1])
    idx = torch.randint(0, 2, (k, 1), generator=GEN).double()
    return torch.cat([idx, a, b], 1).to(dtype)


def _tv_cpu_allocates(rois, scale, P, Q, aligned, sampling_ratio):
    """torchvision's CPU ROI Align allocates grid_h·grid_w·P·Q samples: a negative product (one axis of an
    aligned box inverted by a bin or more, adaptive sampling) fails there (its CUDA kernel gives 0)."""
    if sampling_ratio > 0 or not aligned:
        return torch.ones(len(rois), dtype=torch.bool)
    size = rois[:, 3:5] * scale - rois[:, 1:3] * scale
    grid = torch.ceil(size / torch.tensor([Q, P], dtype=size.dtype))
    return grid.prod(1) >= 0


@pytest.fixture
def one_thread():
    """Small float64 max-reductions: a busy thread pool costs ~10 ms a call, the arithmetic microseconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_roi_ops_take_inverted_boxes_like_torchvision(one_thread):
    """torchvision's test_jit_boxes_list passes its ROI table transposed: boxes with y2 < y1 are valid there."""
    x = torch.rand(2, 1, 10, 10, generator=GEN)
    roi = torch.tensor(ROIS_TV, dtype=torch.float).t()
    for ours, ref in ((R.roi_pool, tv.roi_pool), (lambda *a: R.roi_align(*a, -1), lambda *a: tv.roi_align(*a, -1))):
        y = ours(x, [roi, roi], [3, 3], 1.0)
        assert y.shape == (10, 1, 3, 3)
        assert_close(y, ref(x, [roi, roi], [3, 3], 1.0))
    x = torch.randn(2, 3, 11, 9, generator=GEN, dtype=torch.float64)
    for scale in (1.0, 0.5, 2.0):
        rois = _inverted_rois(40, 11, 9, scale)
        for size in ((3, 4), 1, 5):
            assert_close(R.roi_pool(x, rois, size, scale), tv.roi_pool(x, rois, size, scale))
            P, Q = (size, size) if isinstance(size, int) else size
            for aligned in (False, True):
                for sr in (-1, 0, 1, 3):
                    ok = _tv_cpu_allocates(rois, scale, P, Q, aligned, sr)
                    ours = R.roi_align(x, rois, size, scale, sr, aligned)
                    assert_close(ours[ok], tv.roi_align(x, rois[ok], size, scale, sr, aligned))
                    assert not ours[~ok].any()                          # no sample: 0, as torchvision's CUDA kernel


def test_roi_ops_gradient_through_inverted_and_sampleless_boxes_matches_torchvision():
    x = torch.rand(2, 3, 11, 9, dtype=torch.float64, generator=GEN, requires_grad=True)
    rois = torch.tensor([[0, 5.0, 6, 2, 1], [1, 3, 3, 3, 1], [0, 8, 9.5, 1, 2]], dtype=torch.float64)
    g_out = torch.rand(3, 3, 2, 3, dtype=torch.float64, generator=GEN)
    for ours, ref in ((lambda r: R.roi_pool(x, r, (2, 3))), lambda r: tv.roi_pool(x, r, (2, 3))), *[
            ((lambda r, a=a, s=s: R.roi_align(x, r, (2, 3), 1.0, s, a)),
             (lambda r, a=a, s=s: tv.roi_align(x, r, (2, 3), 1.0, s, a))) for a in (False, True) for s in (-1, 2)]:
        (g1,) = torch.autograd.grad((ours(rois) * g_out).sum(), x)      # aligned, adaptive: no sample in any box
        (g2,) = torch.autograd.grad((ref(rois) * g_out).sum(), x)
        assert_close(g1, g2)


FLOAT_BOXES_TV = [[285.3538, 185.5758, 1193.5110, 851.4551], [285.1472, 188.7374, 1192.4984, 851.0669],
                  [279.2440, 197.9812, 1189.4746, 849.2019]]               # torchvision test_nms_float16


def test_nms_float16_boxes_give_the_float32_answer():
    """float16 areas overflow (908 × 666 > 65504): the IoU is computed in float32, so keep(float16) = keep(float32)
    as torchvision's test_nms_float16 expects (its CPU kernel refuses float16; its CUDA kernel accumulates in float)."""
    boxes, scores = torch.tensor(FLOAT_BOXES_TV), torch.tensor([0.6370, 0.7569, 0.3966])
    keep32 = tv.nms(boxes, scores, 0.2)
    assert torch.equal(B.nms(boxes.half(), scores.half(), 0.2), keep32)
    assert torch.equal(B.nms(boxes, scores, 0.2), keep32)
    xy = torch.rand(300, 2, generator=GEN) * 800
    big = torch.cat([xy, xy + 250 + torch.rand(300, 2, generator=GEN) * 700], 1).half()
    s = torch.rand(300, generator=GEN).half()
    labels = torch.randint(0, 3, (300,), generator=GEN)
    for t in (0.2, 0.5, 0.8):
        assert torch.equal(B.nms(big, s, t), tv.nms(big.float(), s.float(), t))
        assert torch.equal(B.batched_nms(big, s, labels, t), tv.batched_nms(big.float(), s.float(), labels, t))
    assert torch.isfinite(B.soft_nms(big, s)[1]).all()
    if torch.cuda.is_available():
        b, sc = boxes.half().cuda(), scores.half().cuda()
        assert torch.equal(B.nms(b, sc, 0.2).cpu(), tv.nms(b, sc, 0.2).cpu())


def test_batched_nms_of_empty_boxes_is_empty_whatever_the_other_arguments():
    """torchvision's test_batched_nms_implementations: batched_nms(empty, None, None, None) == empty (int64)."""
    empty = torch.empty((0,), dtype=torch.int64)
    for boxes in (empty, torch.zeros(0, 4), torch.zeros(3, 0), torch.zeros(0, 4, dtype=torch.float16)):
        ours, ref = B.batched_nms(boxes, None, None, None), tv.batched_nms(boxes, None, None, None)
        assert ours.dtype == ref.dtype == torch.int64 and ours.shape == ref.shape == (0,)
    b = torch.tensor([[0.0, 0, 1, 1], [2, 2, 3, 3]])
    with pytest.raises(TypeError, match="scores"):                        # non-empty: every argument checked
        B.batched_nms(b, None, torch.zeros(2, dtype=torch.long), 0.5)
    with pytest.raises(ValueError, match=r"boxes must have shape \[N, 4\]"):
        B.batched_nms(b[0], torch.ones(1), torch.zeros(1, dtype=torch.long), 0.5)
    with pytest.raises(TypeError, match="boxes must have a floating dtype"):
        B.batched_nms(b.long(), torch.ones(2), torch.zeros(2, dtype=torch.long), 0.5)
