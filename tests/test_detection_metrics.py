"""cvbook_lib.detection_metrics on the inputs of issue 15, against pycocotools COCOeval: degenerate
boxes, NaN IoUs, argument checks (the main comparison on synthetic datasets is in tests/test_metrics.py)."""

import numpy as np
import pytest
import torch
from contract_specs.spec_detection_metrics import cocoeval

from cvbook_lib import detection_metrics as DM


def _close(ours, ref):
    assert torch.equal(ours["classes"], ref["classes"])
    for key in ("ap", "recall"):
        assert torch.allclose(ours[key], ref[key], atol=1e-9, equal_nan=True), key
    for key in ("map", "mar", "map_50", "map_75"):
        assert (key in ours) == (key in ref)
        if key in ours:
            assert ours[key] == pytest.approx(ref[key], abs=1e-9, nan_ok=True), key


def _image(boxes, labels, scores=None):
    out = dict(boxes=torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4), labels=torch.tensor(labels))
    if scores is not None:
        out["scores"] = torch.tensor(scores, dtype=torch.float64)
    return out


def test_zero_area_ground_truth_is_never_matched_like_pycocotools():
    # an identical detection of a zero-width ground truth: box_iou gives 0/0 = NaN, pycocotools 0
    gts = [_image([[1.0, 1, 1, 5], [10, 10, 20, 20]], [0, 0])]
    preds = [_image([[1.0, 1, 1, 5], [10, 10, 20, 20]], [0, 0], [0.9, 0.8])]
    ref = cocoeval(preds, gts)
    assert ref["map_50"] == pytest.approx(0.5 * 51 / 101)             # the copy is a FP; recall stops at 1/2
    _close(DM.evaluate_detections(preds, gts), ref)
    # zero-area detections and ground truths of every kind, mixed with real ones
    rng = np.random.default_rng(3)
    preds, gts = [], []
    for _ in range(8):
        g = np.concatenate([(xy := rng.uniform(0, 50, (5, 2))), xy + rng.uniform(0, 20, (5, 2))], 1)
        flat = rng.random(5) < 0.4
        g[flat, 2] = g[flat, 0]                                                # some zero widths
        d = np.concatenate([g + rng.normal(0, 1, g.shape), g[:2]])            # jittered and exact copies
        d[:, 2:] = np.maximum(d[:, 2:], d[:, :2])
        gts.append(_image(g.tolist(), rng.integers(0, 2, 5).tolist()))
        preds.append(_image(d.tolist(), rng.integers(0, 2, 7).tolist(), rng.random(7).tolist()))
    _close(DM.evaluate_detections(preds, gts), cocoeval(preds, gts))
    _close(DM.evaluate_detections(preds, gts, (0.5, 0.75), 2), cocoeval(preds, gts, (0.5, 0.75), 2))


def test_greedy_match_treats_nan_as_no_match():
    iou = torch.tensor([[float("nan"), 0.7], [0.8, float("nan")], [float("nan"), float("nan")]])
    assert DM.greedy_match(iou, 0.5).tolist() == [1, 0, -1]
    assert DM.match_detections(iou, 0.5).tolist() == [True, True, False]
    with pytest.raises(TypeError, match="iou must have a floating dtype"):
        DM.greedy_match(iou > 0, 0.5)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "100", None])
def test_max_detections_must_be_a_positive_int(bad):
    preds, gts = [_image([[0.0, 0, 2, 2]], [0], [0.5])], [_image([[0.0, 0, 2, 2]], [0])]
    with pytest.raises((ValueError, TypeError), match="max_detections"):
        DM.evaluate_detections(preds, gts, max_detections=bad)
    with pytest.raises((ValueError, TypeError), match="max_detections"):
        DM.detection_pr_curve(preds, gts, 0, max_detections=bad)


def test_iou_thresholds_are_checked_and_numpy_values_accepted():
    preds, gts = [_image([[0.0, 0, 2, 2], [0, 0, 2, 3]], [0, 0], [0.5, 0.4])], [_image([[0.0, 0, 2, 2]], [0])]
    for bad in ((0.5, float("nan")), (1.5,), (-0.1,), (), "0.5", (True,)):
        with pytest.raises((ValueError, TypeError), match="iou_thresholds"):
            DM.evaluate_detections(preds, gts, iou_thresholds=bad)
    ref = cocoeval(preds, gts, (0.5, 0.7), 2)
    _close(DM.evaluate_detections(preds, gts, np.array([0.5, 0.7]), np.int64(2)), ref)
    _close(DM.evaluate_detections(preds, gts, torch.tensor([0.5, 0.7]), 2), ref)
    for bad in (float("nan"), 2.0):
        with pytest.raises(ValueError, match="iou_threshold"):
            DM.greedy_match(torch.zeros(2, 2), bad)
        with pytest.raises(ValueError, match="iou_threshold"):
            DM.detection_pr_curve(preds, gts, 0, bad)
    with pytest.raises(TypeError, match="label"):
        DM.detection_pr_curve(preds, gts, 0.0)
    with pytest.raises(ValueError, match="label=3 has no ground-truth box"):
        DM.detection_pr_curve(preds, gts, 3)


def test_bad_entries_are_refused_clearly():
    good_p, good_g = _image([[0.0, 0, 2, 2]], [0], [0.5]), _image([[0.0, 0, 2, 2]], [0])
    cases = [
        (dict(good_p, boxes=torch.tensor([[0.0, 0, float("nan"), 2]])), r"predictions\[0\]\['boxes'\] must be finite"),
        (dict(good_p, scores=torch.tensor([float("nan")])), r"predictions\[0\]\['scores'\] must not contain NaN"),
        (dict(good_p, labels=torch.tensor([0.5])), r"predictions\[0\]\['labels'\] must have an integer dtype"),
        (dict(good_p, scores=torch.tensor([0.5, 0.4])), r"predictions\[0\]: boxes, labels and scores differ"),
        ({"boxes": good_p["boxes"]}, r"predictions\[0\] must be a dict with boxes, labels, scores"),
    ]
    for entry, match in cases:
        with pytest.raises((ValueError, TypeError), match=match):
            DM.evaluate_detections([entry], [good_g])
    with pytest.raises(TypeError, match="predictions must be a list"):
        DM.evaluate_detections("abc", [good_g])
    # lists are fine, as in the chapters: boxes, labels and scores as plain Python lists
    as_lists = dict(boxes=[[0.0, 0, 2, 2]], labels=[0], scores=[0.5])
    _close(DM.evaluate_detections([as_lists], [dict(boxes=[[0.0, 0, 2, 2]], labels=[0])]),
           cocoeval([good_p], [good_g]))
    empty = DM.evaluate_detections([dict(boxes=[], labels=[], scores=[])], [good_g])
    _close(empty, DM.evaluate_detections([dict(good_p, boxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long),
                                                scores=torch.zeros(0))], [good_g]))
    assert empty["map"] == 0.0


def test_an_image_without_detections_may_have_float_empty_labels():
    """``torch.tensor([])`` is float32: an image with no detections built from empty lists is accepted
    (it holds no label to be wrong): nothing detected, AP 0. A non-integer label is still refused."""
    empty = dict(boxes=torch.zeros(0, 4), scores=torch.tensor([]), labels=torch.tensor([]))
    out = DM.evaluate_detections([empty], [dict(boxes=torch.tensor([[0.0, 0.0, 1.0, 1.0]]), labels=torch.tensor([0]))])
    assert out["map"] == 0.0
    with pytest.raises(TypeError, match=r"predictions\[0\]\['labels'\]"):
        DM.evaluate_detections([dict(boxes=torch.tensor([[0.0, 0.0, 1.0, 1.0]]), scores=torch.tensor([0.5]),
                                     labels=torch.tensor([0.5]))],
                               [dict(boxes=torch.tensor([[0.0, 0.0, 1.0, 1.0]]), labels=torch.tensor([0]))])
