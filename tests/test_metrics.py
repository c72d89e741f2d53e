"""cvbook_lib.metrics against scikit-learn, and cvbook_lib.detection_metrics against pycocotools COCOeval."""

import contextlib
import io

import numpy as np
import pytest
import sklearn.metrics as skm
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from cvbook_lib import detection_metrics as DM
from cvbook_lib import metrics as M

RNG = np.random.default_rng(0)


def labels(n, k, seed):
    r = np.random.default_rng(seed)
    return r.integers(0, k, n), r.integers(0, k, n)


# ----------------------------------------------------------------------------- classification
@pytest.mark.parametrize("k,seed", [(2, 0), (3, 1), (5, 2), (7, 3)])
def test_confusion_matrix_matches_sklearn(k, seed):
    t, p = labels(200, k, seed)
    assert np.array_equal(M.confusion_matrix(torch.tensor(t), torch.tensor(p)).numpy(), skm.confusion_matrix(t, p))
    assert np.array_equal(M.confusion_matrix(torch.tensor(t), torch.tensor(p), num_classes=k + 2).numpy(),
                          skm.confusion_matrix(t, p, labels=list(range(k + 2))))
    gaps = np.where(t == 1, 4, t)                                   # label 1 absent, 4 present: sorted labels
    ours = M.confusion_matrix(torch.tensor(gaps), torch.tensor(p)).numpy()
    assert np.array_equal(ours, skm.confusion_matrix(gaps, p))


@pytest.mark.parametrize("average", ["binary", "micro", "macro", "weighted", None])
@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_precision_recall_fscore_matches_sklearn(average, beta, seed):
    k = 2 if average == "binary" else 4
    t, p = labels(60, k, seed)
    if seed == 2 and k > 2:
        p = np.where(p == 3, 0, p)                                  # class 3 never predicted: zero division
    ours = M.precision_recall_fscore(torch.tensor(t), torch.tensor(p), beta, average)
    ref = skm.precision_recall_fscore_support(t, p, beta=beta, average=average, zero_division=0)
    for a, b in zip(ours[:3], ref[:3]):
        assert np.allclose(np.asarray(a), b)
    if average is None:
        assert np.array_equal(ours[3].numpy(), ref[3])
    else:
        assert ours[3] is None and ref[3] is None


def score_data(n, seed, ties=False, ratio=0.3):
    r = np.random.default_rng(seed)
    y = (r.random(n) < ratio).astype(int)
    y[0], y[1] = 0, 1
    s = r.normal(size=n) + y
    if ties:
        s = np.round(s, 1)
    return y, s


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_roc_pr_auc_ap_match_sklearn(ties, seed):
    y, s = score_data(300, seed, ties)
    fpr, tpr, thr = M.roc_curve(torch.tensor(y), torch.tensor(s))
    rf, rt, rth = skm.roc_curve(y, s, drop_intermediate=False)
    assert np.allclose(fpr.numpy(), rf) and np.allclose(tpr.numpy(), rt) and np.allclose(thr.numpy(), rth)
    assert M.roc_auc_score(torch.tensor(y), torch.tensor(s)) == pytest.approx(skm.roc_auc_score(y, s))
    pr, rc, th = M.precision_recall_curve(torch.tensor(y), torch.tensor(s))
    rp, rr, rth = skm.precision_recall_curve(y, s)
    assert np.allclose(pr.numpy(), rp) and np.allclose(rc.numpy(), rr) and np.allclose(th.numpy(), rth)
    assert M.average_precision(torch.tensor(y), torch.tensor(s)) == pytest.approx(skm.average_precision_score(y, s))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 5)), min_size=2, max_size=40))
def test_auc_is_the_probability_a_positive_outranks_a_negative(pairs):
    y = np.array([a for a, _ in pairs])
    s = np.array([b for _, b in pairs], dtype=float)                # small integers: many ties
    if y.min() == y.max():
        with pytest.raises(ValueError, match="one class"):
            M.roc_auc_score(torch.tensor(y), torch.tensor(s))
        return
    pos, neg = s[y == 1], s[y == 0]
    mann_whitney = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg))
    assert M.roc_auc_score(torch.tensor(y), torch.tensor(s)) == pytest.approx(mann_whitney)
    assert M.roc_auc_score(torch.tensor(y), torch.tensor(s)) == pytest.approx(skm.roc_auc_score(y, s))


def voc07_reference(rec, prec):
    """The VOC devkit's 11-point AP (voc_eval.py), written out."""
    ap = 0.0
    for t in np.arange(0.0, 1.1, 0.1):
        ap += (np.max(prec[rec >= t]) if np.sum(rec >= t) else 0) / 11.0
    return ap


def voc12_reference(rec, prec):
    mrec, mpre = np.concatenate(([0.0], rec, [1.0])), np.concatenate(([0.0], prec, [0.0]))
    for i in range(len(mpre) - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_interpolated_ap_matches_the_devkit_definitions(seed):
    y, s = score_data(80, seed)
    order = np.argsort(-s, kind="mergesort")
    tp = y[order]
    rec, prec = np.cumsum(tp) / tp.sum(), np.cumsum(tp) / np.arange(1, len(tp) + 1)
    assert M.interpolated_ap(prec, rec, "voc07") == pytest.approx(voc07_reference(rec, prec))
    assert M.interpolated_ap(prec, rec, "voc12") == pytest.approx(voc12_reference(rec, prec))
    coco = np.mean([np.maximum.accumulate(prec[::-1])[::-1][rec >= t].max() if (rec >= t).any() else 0
                    for t in np.linspace(0, 1, 101)])
    assert M.interpolated_ap(prec, rec, "coco") == pytest.approx(coco)
    ap = {m: M.average_precision(torch.tensor(y), torch.tensor(s), m) for m in ("sklearn", "voc07", "voc12", "coco")}
    assert ap["sklearn"] <= ap["voc12"] + 1e-12                      # the envelope never lowers precision


def test_topk_and_regression_metrics():
    logits = torch.randn(500, 10, generator=torch.Generator().manual_seed(0))
    target = torch.randint(0, 10, (500,), generator=torch.Generator().manual_seed(1))
    ranks = (logits > logits.gather(1, target[:, None])).sum(1)      # how many classes beat the truth
    assert M.topk_accuracy(logits, target, (1, 3, 5)) == pytest.approx([(ranks < k).double().mean().item()
                                                                         for k in (1, 3, 5)])
    assert M.topk_accuracy(logits, target, (1,))[0] == pytest.approx(skm.accuracy_score(target, logits.argmax(1)))
    for shape in ((50,), (50, 3)):
        y, yh = RNG.normal(size=shape), RNG.normal(size=shape)
        assert M.mean_squared_error(y, yh) == pytest.approx(skm.mean_squared_error(y, yh))
        assert M.root_mean_squared_error(y, yh) == pytest.approx(skm.root_mean_squared_error(y, yh))
        assert M.mean_absolute_error(y, yh) == pytest.approx(skm.mean_absolute_error(y, yh))
        assert M.r2_score(y, yh) == pytest.approx(skm.r2_score(y, yh))
        assert M.r2_score(y, y * 0.9 + 0.1) == pytest.approx(skm.r2_score(y, y * 0.9 + 0.1))
    const = np.ones(5)
    assert M.r2_score(const, const) == skm.r2_score(const, const) == 1.0
    assert M.r2_score(const, const + 1) == skm.r2_score(const, const + 1) == 0.0
    y = RNG.normal(size=40)
    assert M.r2_score(y, y + 0.3) == pytest.approx(1 - M.mean_squared_error(y, y + 0.3) / y.var())


def test_segmentation_scores_match_sklearn():
    r = np.random.default_rng(5)
    target = r.integers(0, 4, (2, 16, 16))
    pred = np.where(r.random((2, 16, 16)) < 0.7, target, r.integers(0, 4, (2, 16, 16)))
    out = M.segmentation_scores(torch.tensor(pred), torch.tensor(target), 5)       # class 4 absent: NaN, not in mIoU
    t, p = target.ravel(), pred.ravel()
    assert out["pixel_accuracy"] == pytest.approx(skm.accuracy_score(t, p))
    assert np.allclose(out["iou"][:4].numpy(), skm.jaccard_score(t, p, average=None))
    assert np.allclose(out["dice"][:4].numpy(), skm.f1_score(t, p, average=None))
    assert out["miou"] == pytest.approx(skm.jaccard_score(t, p, average="macro")) and np.isnan(out["iou"][4].item())


def test_metrics_bad_input():
    with pytest.raises(ValueError, match="same length"):
        M.confusion_matrix(torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(ValueError, match="one class"):
        M.roc_curve(torch.tensor([1, 1, 1]), torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="NaN"):
        M.roc_auc_score(torch.tensor([0, 1]), torch.tensor([0.1, float("nan")]))
    with pytest.raises(ValueError, match="two classes"):
        M.precision_recall_fscore(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="average"):
        M.precision_recall_fscore(torch.tensor([0, 1]), torch.tensor([0, 1]), average="samples")
    with pytest.raises(ValueError, match="0/1"):
        M.average_precision(torch.tensor([0, 2]), torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="every k"):
        M.topk_accuracy(torch.zeros(3, 4), torch.zeros(3, dtype=torch.long), (5,))
    with pytest.raises(ValueError, match="same non-empty shape"):
        M.r2_score([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="x2 < x1"):
        DM.evaluate_detections([dict(boxes=torch.tensor([[5.0, 0, 1, 1]]), scores=torch.ones(1), labels=[0])],
                               [dict(boxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))])
    with pytest.raises(ValueError, match="one entry per image"):
        DM.evaluate_detections([], [dict(boxes=torch.zeros(0, 4), labels=[])])


# ----------------------------------------------------------------------------- detection vs pycocotools
def synthetic_detections(seed, n_images=30, n_classes=3, max_det=None):
    r = np.random.default_rng(seed)
    preds, gts = [], []
    for _ in range(n_images):
        n_gt = r.integers(0, 6)
        xy = r.uniform(0, 200, (n_gt, 2))
        wh = r.uniform(10, 80, (n_gt, 2))
        gt = np.concatenate([xy, xy + wh], 1)
        gl = r.integers(0, n_classes, n_gt)
        boxes, scores, lab = [], [], []
        for b, c in zip(gt, gl):                                     # hits of varying quality, some duplicates
            for _ in range(r.integers(0, 3)):
                boxes.append(b + r.normal(0, 0.12, 4) * np.r_[b[2:] - b[:2], b[2:] - b[:2]])
                scores.append(r.uniform(0.2, 1.0))
                lab.append(c if r.random() > 0.1 else r.integers(0, n_classes))
        for _ in range(r.integers(0, 4)):                            # background false positives
            p = r.uniform(0, 200, 2)
            boxes.append(np.r_[p, p + r.uniform(10, 60, 2)])
            scores.append(r.uniform(0.0, 0.7))
            lab.append(r.integers(0, n_classes))
        boxes = np.array(boxes).reshape(-1, 4)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        preds.append(dict(boxes=torch.tensor(boxes), scores=torch.tensor(scores, dtype=torch.float64),
                          labels=torch.tensor(lab, dtype=torch.long)))
        gts.append(dict(boxes=torch.tensor(gt), labels=torch.tensor(gl, dtype=torch.long)))
    return preds, gts


def coco_stats(preds, gts, n_classes, max_dets=(1, 10, 100)):
    images, anns, dets = [], [], []
    for i, (p, g) in enumerate(zip(preds, gts)):
        images.append(dict(id=i, width=300, height=300))
        for b, c in zip(g["boxes"].tolist(), g["labels"].tolist()):
            w, h = b[2] - b[0], b[3] - b[1]
            anns.append(dict(id=len(anns) + 1, image_id=i, category_id=c, bbox=[b[0], b[1], w, h], area=w * h,
                             iscrowd=0))
        for b, s, c in zip(p["boxes"].tolist(), p["scores"].tolist(), p["labels"].tolist()):
            dets.append(dict(image_id=i, category_id=c, bbox=[b[0], b[1], b[2] - b[0], b[3] - b[1]], score=s))
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dict(images=images, annotations=anns, categories=[dict(id=c) for c in range(n_classes)])
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_evaluate_detections_equals_pycocotools(seed):
    preds, gts = synthetic_detections(seed)
    ev = coco_stats(preds, gts, 3)
    ours = DM.evaluate_detections(preds, gts)
    assert ours["map"] == pytest.approx(ev.stats[0], abs=1e-6)
    assert ours["map_50"] == pytest.approx(ev.stats[1], abs=1e-6)
    assert ours["map_75"] == pytest.approx(ev.stats[2], abs=1e-6)
    assert ours["mar"] == pytest.approx(ev.stats[8], abs=1e-6)     # AR@100
    # per class and threshold: COCOeval's precision table, area 'all', maxDets 100
    coco_ap = ev.eval["precision"][:, :, :, 0, -1]                   # [T, R, K]
    for k in range(3):
        for t in range(10):
            q = coco_ap[t, :, k]
            expected = np.nan if (q == -1).all() else q.mean()
            assert np.isclose(ours["ap"][t, k].item(), expected, atol=1e-6, equal_nan=True)
    for k in range(3):
        if not np.isnan(ours["ap"][0, k].item()):
            pr, rc = DM.detection_pr_curve(preds, gts, k, 0.5)
            assert M.interpolated_ap(pr, rc, "coco") == pytest.approx(ours["ap"][0, k].item())


def test_evaluate_detections_max_detections_and_a_class_without_ground_truth():
    preds, gts = synthetic_detections(7, n_images=12)
    for p in preds:
        p["labels"][p["labels"] == 2] = 5                            # class 5 has detections but no ground truth
    ev = coco_stats(preds, gts, 6, max_dets=(1, 2, 2))              # keep at most 2 per image and class
    ours = DM.evaluate_detections(preds, gts, max_detections=2)
    table = ev.eval["precision"][:, :, :, 0, -1]                     # (summarize()'s stats[0] is -1 with these maxDets)
    assert ours["map"] == pytest.approx(table[table > -1].mean(), abs=1e-6)
    assert ours["map"] != pytest.approx(DM.evaluate_detections(preds, gts)["map"], abs=1e-6)   # the cut matters
    assert bool(torch.isnan(ours["ap"][:, ours["classes"].tolist().index(5)]).all())


def test_greedy_match_follows_cocoeval_rules():
    iou = torch.tensor([[0.6, 0.6, 0.2],      # tie: COCOeval keeps the later ground truth
                        [0.9, 0.0, 0.4],      # the best is free
                        [0.0, 0.55, 0.45],    # 0.55 is taken by detection 0; 0.45 is below 0.5
                        [0.5, 0.0, 0.0]])     # IoU exactly at the threshold matches, but 0 is taken
    assert DM.greedy_match(iou, 0.5).tolist() == [1, 0, -1, -1]
    assert DM.match_detections(iou, 0.5).tolist() == [True, True, False, False]
    assert DM.greedy_match(torch.zeros(0, 3), 0.5).numel() == 0
