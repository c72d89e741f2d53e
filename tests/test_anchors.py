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


def _boxes_per_image(counts, dtype=torch.float64):
    out = []
    for n in counts:
        xy = torch.rand(n, 2, generator=GEN, dtype=torch.float64) * 200
        out.append(torch.cat([xy, xy + torch.rand(n, 2, generator=GEN, dtype=torch.float64) * 90 + 5], 1).to(dtype))
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_box_coder_list_api_matches_torchvision(dtype):
    """torchvision's BoxCoder.encode(list, list) -> tuple and decode(rel_codes, list) -> Tensor[K, k, 4]."""
    counts = (5, 0, 3)                                                    # an image without boxes, too
    anchors, gt = _boxes_per_image(counts, dtype), _boxes_per_image(counts, dtype)
    ours, ref = A.BoxCoder((10.0, 10.0, 5.0, 5.0)), TvBoxCoder((10.0, 10.0, 5.0, 5.0))
    codes, want = ours.encode(gt, anchors), ref.encode(gt, anchors)
    assert isinstance(codes, tuple) and [c.shape for c in codes] == [w.shape for w in want] == [(n, 4) for n in counts]
    for c, w in zip(codes, want):
        assert_close(c, w)
    assert_close(ours.encode(tuple(gt), tuple(anchors))[0], want[0])
    K = sum(counts)
    for rel in (torch.cat(codes), torch.randn(K, 12, generator=GEN, dtype=torch.float64).to(dtype),
                torch.randn(K * 3, 4, generator=GEN, dtype=torch.float64).to(dtype),    # RPN: [K·A, 4]
                torch.randn(K * 8, generator=GEN, dtype=torch.float64).to(dtype)):
        out, exp = ours.decode(rel, anchors), ref.decode(rel, anchors)
        assert out.shape == exp.shape and out.dtype == exp.dtype
        assert_close(out, exp)
    assert_close(ours.decode(torch.cat(codes), anchors)[:, 0], torch.cat(gt))   # decode ∘ encode = identity
    empty = [torch.zeros(0, 4, dtype=dtype)] * 2                           # K = 0: decode_single's Tensor[0, 4k]
    for rel in (torch.zeros(0, 4, dtype=dtype), torch.zeros(0, 8, dtype=dtype)):
        assert ours.decode(rel, empty).shape == ref.decode(rel, empty).shape
    assert [c.shape for c in ours.encode(empty, empty)] == [c.shape for c in ref.encode(empty, empty)]


def test_box_coder_list_api_checks_its_arguments():
    coder, anchors = A.BoxCoder(), _boxes_per_image((2, 3))
    with pytest.raises(TypeError, match="reference_boxes must be a list"):
        coder.encode(torch.cat(anchors), anchors)
    with pytest.raises(ValueError, match="proposals must be a non-empty list"):
        coder.encode(anchors, [])
    with pytest.raises(ValueError, match="same number of boxes per image"):   # torchvision: only equal totals
        coder.encode(anchors, anchors[::-1])
    with pytest.raises(ValueError, match=r"proposals\[1\] must have shape \[L, 4\]"):
        coder.encode(anchors, [anchors[0], anchors[1][:, :3]])
    with pytest.raises(TypeError, match=r"boxes\[0\] must have a floating dtype"):
        coder.decode(torch.zeros(5, 4), [anchors[0].long(), anchors[1]])
    with pytest.raises(ValueError, match="4k values per box"):
        coder.decode(torch.zeros(5, 6, dtype=torch.float64), anchors)
    with pytest.raises(TypeError, match="rel_codes must be a torch.Tensor"):
        coder.decode(anchors, anchors)


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
    with pytest.raises(ValueError, match="negative"):
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


# ----------------------------------------------------------------------------- issue 15: the contract on every input
def _scipy_pairs(cost, maximize=False):
    r, c = scipy.optimize.linear_sum_assignment(cost, maximize=maximize)
    return r.tolist(), c.tolist()


def _ours_pairs(cost, maximize=False):
    r, c = A.linear_sum_assignment(cost, maximize=maximize)
    assert r.dtype == c.dtype == torch.int64
    return r.tolist(), c.tolist()


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 7), st.integers(0, 7), st.integers(0, 3), st.booleans(), st.integers(0, 2 ** 31 - 1))
def test_linear_sum_assignment_gives_scipys_pairs_even_on_ties(n, m, levels, maximize, seed):
    rng = np.random.default_rng(seed)
    cost = rng.integers(0, levels + 1, size=(n, m)).astype(float)          # few levels: many tied optima
    if n * m and seed % 3 == 0:
        cost[rng.random((n, m)) < 0.3] = -np.inf if maximize else np.inf    # forbidden pairs
    try:
        expected = _scipy_pairs(cost, maximize)
    except ValueError as err:                                               # infeasible: scipy raises, so do we
        with pytest.raises(ValueError, match="infeasible"):
            A.linear_sum_assignment(torch.tensor(cost), maximize=maximize)
        assert "infeasible" in str(err)
        return
    assert _ours_pairs(torch.tensor(cost), maximize) == expected
    assert _ours_pairs(cost.tolist() if n else cost, maximize) == expected    # array-likes


def test_linear_sum_assignment_rectangular_empty_bool_and_bad_entries_like_scipy():
    rng = np.random.default_rng(4)
    for shape in ((5, 9), (9, 5), (1, 6), (6, 1), (30, 12)):
        cost = rng.random(shape)
        assert _ours_pairs(torch.tensor(cost)) == _scipy_pairs(cost)
        assert _ours_pairs(torch.tensor(cost), True) == _scipy_pairs(cost, True)
    b = rng.random((5, 4)) > 0.5
    assert _ours_pairs(torch.tensor(b)) == _scipy_pairs(b)
    assert _ours_pairs(torch.tensor(cost).half()) == _scipy_pairs(torch.tensor(cost).half().numpy())
    for shape in ((0, 3), (3, 0), (0, 0)):
        assert _ours_pairs(torch.zeros(shape)) == _scipy_pairs(np.zeros(shape)) == ([], [])
    for bad, maximize in (([[np.nan, 1.0]], False), ([[-np.inf, 1.0]], False), ([[np.inf, 1.0]], True)):
        with pytest.raises(ValueError, match="invalid numeric entries"):
            scipy.optimize.linear_sum_assignment(np.array(bad), maximize=maximize)
        with pytest.raises(ValueError, match="cost must not contain"):
            A.linear_sum_assignment(torch.tensor(bad), maximize=maximize)
    assert _ours_pairs(torch.tensor([[-np.inf, 1.0]]), True) == _scipy_pairs(np.array([[-np.inf, 1.0]]), True)
    with pytest.raises(TypeError, match="maximize must be a bool"):
        A.linear_sum_assignment(torch.zeros(2, 2), maximize=1)
    with pytest.raises(TypeError, match="cost must be real"):
        A.linear_sum_assignment(torch.zeros(2, 2, dtype=torch.complex64))
    with pytest.raises(TypeError, match="cost"):
        A.linear_sum_assignment("abc")


def test_anchor_generator_and_box_coder_arguments_are_checked():
    for bad in (((0, 32),), ((-8,),), ((float("nan"),),), ((True,),), (("32",),), ()):
        with pytest.raises((ValueError, TypeError), match="sizes"):
            A.AnchorGenerator(bad, ((1.0,),) * max(len(bad), 1))
    with pytest.raises(ValueError, match=r"aspect_ratios\[0\]\[1\]"):
        A.AnchorGenerator(((32,),), ((1.0, 0.0),))
    with pytest.raises(ValueError, match="one entry per feature map"):
        A.AnchorGenerator(((32,), (64,)), ((1.0,), (1.0,), (2.0,)))
    # a flat tuple of sizes means one size per feature map, as in torchvision
    image = torch.zeros(1, 3, 64, 64)
    fmaps = [torch.zeros(1, 2, 8, 8), torch.zeros(1, 2, 4, 4)]
    ref = TvAnchorGenerator((16, 32), (0.5, 1.0))(ImageList(image, [(64, 64)]), fmaps)[0]
    assert torch.equal(A.AnchorGenerator((16, 32), (0.5, 1.0))((64, 64), fmaps), ref)
    assert torch.equal(A.AnchorGenerator((np.int64(16), 32), (0.5, 1.0))((np.int64(64), 64), fmaps), ref)
    with pytest.raises(TypeError, match=r"feature_maps\[1\]"):
        A.AnchorGenerator((16, 32), (0.5, 1.0))((64, 64), [fmaps[0], fmaps[1].long()])
    with pytest.raises(ValueError, match="non-zero height"):
        A.AnchorGenerator((16, 32), (0.5, 1.0))((64, 64), [fmaps[0], fmaps[1][..., :0]])
    for weights in ((1.0, 1.0, 1.0), (1.0, 0.0, 1.0, 1.0), (1.0, float("nan"), 1.0, 1.0), "abcd"):
        with pytest.raises((ValueError, TypeError), match="weights"):
            A.BoxCoder(weights)
    with pytest.raises(ValueError, match="bbox_xform_clip"):
        A.BoxCoder(bbox_xform_clip=float("nan"))
    codes = torch.full((2, 4), 30.0, dtype=torch.float64)
    boxes = torch.tensor([[0.0, 0, 10, 10], [5, 5, 9, 20]], dtype=torch.float64)
    for clip in (float("inf"), 0.0, -1.0):
        assert_close(A.BoxCoder(bbox_xform_clip=clip).decode_single(codes, boxes),
                     TvBoxCoder((1.0, 1.0, 1.0, 1.0), clip).decode_single(codes, boxes))
    with pytest.raises(TypeError, match="rel_codes must have a floating dtype"):
        A.BoxCoder().decode_single(codes.long(), boxes)


def test_kmeans_and_generate_anchors_arguments_are_checked():
    wh = torch.exp(torch.randn(50, 2, generator=GEN) * 0.5 + 3)
    base = A.kmeans_anchors(wh, 4, seed=2)
    same = A.kmeans_anchors(wh, np.int64(4), iters=np.int64(100), seed=np.int64(2))
    assert torch.equal(base[0], same[0]) and base[1] == same[1]
    for kwargs, match in ((dict(k=0), "k must be an int >= 1"), (dict(k=True), "k must be"), (dict(k=2.0), "k must"),
                          (dict(k=2, seed=-1), "seed must be an int >= 0"), (dict(k=2, seed=1.5), "seed"),
                          (dict(k=2, iters=0), "iters"), (dict(k=2, distance="l1"), "distance")):
        with pytest.raises((ValueError, TypeError), match=match):
            A.kmeans_anchors(wh, **kwargs)
    with pytest.raises(ValueError, match="wh must be finite"):
        A.kmeans_anchors(wh.masked_fill(wh > 30, float("nan")), 2)
    with pytest.raises(TypeError, match="wh must have a floating dtype"):
        A.kmeans_anchors(wh.long(), 2)
    ref = TvAnchorGenerator().generate_anchors([32, 64], [0.5, 1.0], torch.float64)
    assert torch.equal(A.generate_anchors(torch.tensor([32, 64]), np.array([0.5, 1.0]), torch.float64), ref)
    for bad, match in (((32, 0), "scales"), ((32, float("inf")), "scales"), ([], "scales")):
        with pytest.raises(ValueError, match=match):
            A.generate_anchors(bad, (1.0,))
    with pytest.raises(TypeError, match="dtype"):
        A.generate_anchors((32,), (1.0,), dtype=torch.int64)
    with pytest.raises(ValueError, match="device"):
        A.generate_anchors((32,), (1.0,), device="no-such-device")


def _detr_reference(logits, pred, labels, tgt, wc=1.0, wb=5.0, wg=2.0):
    to_xyxy = lambda b: tv.box_convert(b, "cxcywh", "xyxy")  # noqa: E731
    C = (wb * torch.cdist(pred, tgt, p=1) - wc * logits.softmax(-1)[:, labels]
         - wg * tv.generalized_box_iou(to_xyxy(pred), to_xyxy(tgt)))
    q, t = scipy.optimize.linear_sum_assignment(C.numpy())
    return q.tolist(), t.tolist(), C


def test_hungarian_match_equals_detr_with_scipy_and_checks_its_inputs():
    g = torch.Generator().manual_seed(1)
    for Q, T in ((8, 3), (3, 5), (6, 0)):
        logits = torch.randn(Q, 5, generator=g, dtype=torch.float64)
        pred = torch.cat([torch.rand(Q, 2, generator=g, dtype=torch.float64) * 0.6 + 0.2,
                          torch.rand(Q, 2, generator=g, dtype=torch.float64) * 0.3 + 0.05], 1)
        labels = torch.randint(0, 4, (T,), generator=g)
        tgt = torch.cat([torch.rand(T, 2, generator=g, dtype=torch.float64) * 0.6 + 0.2,
                         torch.rand(T, 2, generator=g, dtype=torch.float64) * 0.3 + 0.05], 1)
        for w in ((1.0, 5.0, 2.0), (2.0, np.float64(1.0), 0)):
            q, t, C = A.hungarian_match(logits, pred, labels, tgt, *w)
            rq, rt, rC = _detr_reference(logits, pred, labels, tgt, *map(float, w))
            assert (q.tolist(), t.tolist()) == (rq, rt) and C.shape == (Q, T)
            assert_close(C, rC)
    logits, pred = torch.randn(4, 3, dtype=torch.float64), torch.full((4, 4), 0.3, dtype=torch.float64)
    tgt = pred[:2].clone()
    for labels, match in ((torch.tensor([0, 2]), r"tgt_labels must be class indices in \[0, 2\)"),
                          (torch.tensor([-1, 0]), "tgt_labels"), (torch.tensor([0.0, 1.0]), "tgt_labels")):
        with pytest.raises((ValueError, TypeError), match=match):
            A.hungarian_match(logits, pred, labels, tgt)
    with pytest.raises(TypeError, match="pred_boxes and tgt_boxes must have the same dtype"):
        A.hungarian_match(logits, pred, torch.tensor([0, 1]), tgt.float())
    with pytest.raises(ValueError, match="cost_bbox must be finite"):
        A.hungarian_match(logits, pred, torch.tensor([0, 1]), tgt, cost_bbox=float("inf"))
    with pytest.raises(ValueError, match="pred_logits"):
        A.hungarian_match(logits.masked_fill(logits > 0, float("inf")), pred, torch.tensor([0, 1]), tgt)
