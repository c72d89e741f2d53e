"""cvbook_lib.anchors against torchvision's AnchorGenerator / BoxCoder and scipy's linear_sum_assignment."""

import itertools

import numpy as np
import pytest
import scipy.optimize
import torch
import torchvision.ops as tv
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.testing import assert_close
from torchvision.models.detection._utils import BoxCoder as TvBoxCoder
from torchvision.models.detection.anchor_utils import AnchorGenerator as TvAnchorGenerator
from torchvision.models.detection.image_list import ImageList

from cvbook_lib import anchors as A

GEN = torch.Generator().manual_seed(0)


@pytest.mark.parametrize("scales,ratios",
                         [((128, 256, 512), (0.5, 1.0, 2.0)), ((32,), (0.25, 1.0, 3.0)), ((17, 45), (1.7,))])
def test_generate_anchors_matches_torchvision(scales, ratios):
    ours = A.generate_anchors(scales, ratios)
    assert torch.equal(ours, TvAnchorGenerator().generate_anchors(list(scales), list(ratios)))
    w, h = ours[:, 2] - ours[:, 0], ours[:, 3] - ours[:, 1]
    s = torch.tensor(scales, dtype=torch.float32).repeat(len(ratios))
    r = torch.tensor(ratios, dtype=torch.float32).repeat_interleave(len(scales))
    # before rounding w·h = s² and h/w = r exactly; rounding moves each edge by at most 0.5
    assert bool(((w - s / r.sqrt()).abs() <= 1).all()) and bool(((h - s * r.sqrt()).abs() <= 1).all())


def test_anchor_generator_matches_torchvision_on_several_feature_maps():
    sizes = ((32,), (64,), (128,), (256,), (512,))
    ratios = ((0.5, 1.0, 2.0),) * 5
    image = torch.zeros(1, 3, 256, 320)
    fmaps = [torch.zeros(1, 8, 256 // s, 320 // s) for s in (4, 8, 16, 32, 64)]
    ref = TvAnchorGenerator(sizes, ratios)(ImageList(image, [(256, 320)]), fmaps)[0]
    ours = A.AnchorGenerator(sizes, ratios)((256, 320), fmaps)
    assert torch.equal(ours, ref)
    assert ours.shape[0] == sum(f.shape[-1] * f.shape[-2] * 3 for f in fmaps)
    assert A.AnchorGenerator(sizes, ratios).num_anchors_per_location() == [3] * 5


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_box_coder_matches_torchvision_and_round_trips(weights):
    xy = torch.rand(50, 2, generator=GEN, dtype=torch.float64) * 200
    anchors = torch.cat([xy, xy + torch.rand(50, 2, generator=GEN, dtype=torch.float64) * 90 + 5], 1)
    gt = anchors + torch.randn(50, 4, generator=GEN, dtype=torch.float64) * 4
    gt[:, 2:] = torch.maximum(gt[:, 2:], gt[:, :2] + 1)
    ours, ref = A.BoxCoder(weights), TvBoxCoder(weights)
    codes = ours.encode_single(gt, anchors)
    assert_close(codes, ref.encode_single(gt, anchors))
    assert_close(ours.decode_single(codes, anchors), ref.decode_single(codes, anchors))
    assert_close(ours.decode_single(codes, anchors), gt)                  # decode ∘ encode = identity
    big = torch.full((3, 8), 20.0, dtype=torch.float64)                    # clipped log-sizes, 2 classes
    assert_close(ours.decode_single(big, anchors[:3]), ref.decode_single(big, anchors[:3]))


def test_wh_iou_and_kmeans_anchors():
    sizes = torch.tensor([[10.0, 20.0], [40.0, 40.0], [120.0, 60.0]])
    wh = sizes.repeat(30, 1)
    anchors, mean_iou = A.kmeans_anchors(wh, 3, seed=1)
    assert_close(anchors, sizes[sizes.prod(1).argsort()])
    assert mean_iou == pytest.approx(1.0)
    assert_close(A.wh_iou(sizes, sizes).diagonal(), torch.ones(3))
    boxes = torch.cat([torch.zeros(3, 2), sizes], 1)                     # corner-aligned boxes: same IoU
    assert_close(A.wh_iou(sizes, sizes), tv.box_iou(boxes, boxes))
    rng = torch.Generator().manual_seed(3)
    wh = torch.exp(torch.randn(400, 2, generator=rng) * 0.6 + 3.5)
    for distance in ("iou", "euclidean"):
        anchors, mean_iou = A.kmeans_anchors(wh, 5, distance=distance)
        assert anchors.shape == (5, 2) and 0 < mean_iou <= 1
        assert bool((anchors.prod(1)[1:] >= anchors.prod(1)[:-1]).all())
        assert mean_iou == pytest.approx(A.wh_iou(wh, anchors).max(1).values.mean().item())
    with pytest.raises(ValueError, match="k must be <="):
        A.kmeans_anchors(wh[:3], 5)
    with pytest.raises(ValueError, match="positive"):
        A.kmeans_anchors(-wh, 2)


def _check_assignment(cost, rows, cols):
    n, m = cost.shape
    assert len(rows) == len(cols) == min(n, m)
    assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)
    assert rows.tolist() == sorted(rows.tolist())


@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (6, 9), (9, 6), (25, 25), (30, 12)])
@pytest.mark.parametrize("kind", ["float", "ties", "maximize"])
def test_linear_sum_assignment_optimal_like_scipy(shape, kind):
    rng = np.random.default_rng(sum(shape))
    cost = rng.integers(0, 4, size=shape).astype(float) if kind == "ties" else rng.random(shape) * 10
    maximize = kind == "maximize"
    rows, cols = A.linear_sum_assignment(torch.tensor(cost), maximize=maximize)
    _check_assignment(cost, rows, cols)
    r, c = scipy.optimize.linear_sum_assignment(cost, maximize=maximize)
    assert cost[rows.numpy(), cols.numpy()].sum() == pytest.approx(cost[r, c].sum(), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 2 ** 31 - 1))
def test_linear_sum_assignment_equals_brute_force(n, m, seed):
    cost = np.random.default_rng(seed).integers(-5, 6, size=(n, m)).astype(float)
    rows, cols = A.linear_sum_assignment(cost)
    _check_assignment(cost, rows, cols)
    k = min(n, m)
    if n <= m:
        best = min(sum(cost[i, p[i]] for i in range(n)) for p in itertools.permutations(range(m), k))
    else:
        best = min(sum(cost[p[j], j] for j in range(m)) for p in itertools.permutations(range(n), k))
    assert cost[rows.numpy(), cols.numpy()].sum() == pytest.approx(best)


def test_linear_sum_assignment_forbidden_pairs_and_bad_input():
    cost = np.array([[1.0, np.inf, 3.0], [np.inf, 2.0, np.inf], [4.0, np.inf, 1.0]])
    rows, cols = A.linear_sum_assignment(cost)
    r, c = scipy.optimize.linear_sum_assignment(cost)
    assert cost[rows.numpy(), cols.numpy()].sum() == cost[r, c].sum() == 4.0
    with pytest.raises(ValueError, match="infeasible"):
        A.linear_sum_assignment(np.array([[np.inf, 1.0], [np.inf, 2.0]]))
    with pytest.raises(ValueError, match="NaN"):
        A.linear_sum_assignment(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="2-D"):
        A.linear_sum_assignment(np.zeros(3))


def test_hungarian_match_cost_and_optimum():
    Q, T, C = 8, 3, 4
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(Q, C + 1, generator=g, dtype=torch.float64)
    pred = torch.cat([torch.rand(Q, 2, generator=g, dtype=torch.float64) * 0.6 + 0.2,
                      torch.rand(Q, 2, generator=g, dtype=torch.float64) * 0.3 + 0.05], 1)
    labels = torch.tensor([0, 2, 2])
    tgt = pred[[5, 1, 6]] + 0.01
    q, t, cost = A.hungarian_match(logits, pred, labels, tgt)
    # the DETR cost, written out with torchvision's ops
    ref = (5 * torch.cdist(pred, tgt, p=1) - logits.softmax(-1)[:, labels]
           - 2 * tv.generalized_box_iou(tv.box_convert(pred, "cxcywh", "xyxy"), tv.box_convert(tgt, "cxcywh", "xyxy")))
    assert_close(cost, ref)
    best = min(itertools.permutations(range(Q), T), key=lambda p: sum(ref[p[j], j].item() for j in range(T)))
    assert sorted(zip(t.tolist(), q.tolist())) == sorted(zip(range(T), best))
    assert sorted(zip(t.tolist(), q.tolist())) == [(0, 5), (1, 1), (2, 6)]   # each target finds its near copy
