"""cvbook_lib.metrics against scikit-learn, and cvbook_lib.detection_metrics against pycocotools COCOeval."""

import contextlib
import io
import re
import warnings

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
    ours = M.precision_recall_fscore(torch.tensor(t), torch.tensor(p), beta, average, zero_division=0)
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
    if y.min() == y.max():                                           # one class: NaN with a warning, as sklearn
        with pytest.warns(M.UndefinedMetricWarning, match="Only one class is present in y_true"):
            assert np.isnan(M.roc_auc_score(torch.tensor(y), torch.tensor(s)))
        with pytest.warns(UserWarning, match="Only one class is present in y_true"):
            assert np.isnan(skm.roc_auc_score(y, s))
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
    with pytest.raises(ValueError, match="NaN"):
        M.roc_auc_score(torch.tensor([0, 1]), torch.tensor([0.1, float("nan")]))
    with pytest.raises(ValueError, match="Target is multiclass but average='binary'"):
        M.precision_recall_fscore(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="average"):
        M.precision_recall_fscore(torch.tensor([0, 1]), torch.tensor([0, 1]), average="samples")
    with pytest.raises(ValueError, match=r"pos_label=1 is not a valid label. It should be one of \[0 2\]"):
        M.average_precision(torch.tensor([0, 2]), torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="same non-empty shape"):
        M.r2_score([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="y_true must hold integer-valued class labels, got 0.5"):
        M.confusion_matrix(torch.tensor([0.5, 1.0]), torch.tensor([0, 1]))    # 'continuous' labels
    with pytest.raises(TypeError, match="y_true must hold class labels"):
        M.confusion_matrix(torch.tensor([0, 1], dtype=torch.complex64), torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="y_pred must be a tensor, a numpy array or a list"):
        M.confusion_matrix(torch.tensor([0, 1]), "01")
    with pytest.raises(TypeError, match="y_score must have a real dtype"):
        M.roc_curve(torch.tensor([0, 1]), torch.tensor([0.1, 0.2], dtype=torch.complex64))
    with pytest.raises(ValueError, match="recall must be non-decreasing"):
        M.interpolated_ap([1.0, 0.5], [0.5, 0.2], "voc12")
    with pytest.raises(ValueError, match="precision must hold values in"):
        M.interpolated_ap([1.0, float("nan")], [0.2, 0.5], "coco")
    assert M.interpolated_ap([], [], "coco") == 0.0                   # no point: an empty envelope
    with pytest.raises(ValueError, match="x2 < x1"):
        DM.evaluate_detections([dict(boxes=torch.tensor([[5.0, 0, 1, 1]]), scores=torch.ones(1), labels=[0])],
                               [dict(boxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))])
    with pytest.raises(ValueError, match="one entry per image"):
        DM.evaluate_detections([], [dict(boxes=torch.zeros(0, 4), labels=[])])


def _both_raise(ours, theirs, match):
    with pytest.raises(ValueError, match=match):
        ours()
    with pytest.raises(ValueError):
        theirs()


@pytest.mark.parametrize("average", ["binary", "micro", "macro", "weighted", None])
def test_fbeta_at_beta_inf_is_recall_and_at_zero_precision_like_sklearn(average):
    t, p = labels(80, 2 if average == "binary" else 4, 7)
    for beta in (np.inf, 0.0, 1e6):
        ours = M.precision_recall_fscore(torch.tensor(t), torch.tensor(p), beta, average)
        ref = skm.precision_recall_fscore_support(t, p, beta=beta, average=average, zero_division=0)
        for a, b in zip(ours[:3], ref[:3]):
            assert np.allclose(np.asarray(a), b) and not np.isnan(np.asarray(a)).any()
    ours = M.precision_recall_fscore(torch.tensor(t), torch.tensor(p), np.inf, average)
    assert np.allclose(np.asarray(ours[2]), np.asarray(ours[1]))       # F_inf = recall
    with pytest.raises(ValueError, match="beta"):
        M.precision_recall_fscore(torch.tensor(t), torch.tensor(p), float("nan"), average)


def test_pos_label_follows_sklearn():
    t, p = np.array([0, 1, 1, 0, 1, 0]), np.array([0, 1, 0, 0, 1, 1])
    _both_raise(lambda: M.precision_recall_fscore(torch.tensor(t), torch.tensor(p), pos_label=2),
                lambda: skm.precision_recall_fscore_support(t, p, average="binary", pos_label=2), "pos_label=2")
    ours = M.precision_recall_fscore(torch.tensor(t), torch.tensor(p), pos_label=0)
    assert np.allclose(ours[:3], skm.precision_recall_fscore_support(t, p, average="binary", pos_label=0)[:3])
    zeros = np.zeros(6, dtype=int)                                    # one label present: pos_label=1 scores 0
    ours, warned = _warned(M.precision_recall_fscore, torch.tensor(zeros), torch.tensor(zeros))   # 0/0: warns
    assert ours[:3] == (0.0, 0.0, 0.0) and [m.split()[0] for _, m in warned] == ["Precision", "Recall", "F-score"]
    assert skm.precision_recall_fscore_support(zeros, zeros, average="binary", zero_division=0)[:3] == (0, 0, 0)
    for average in ("macro", "micro", "weighted"):                    # ignored, with sklearn's warning
        with pytest.warns(UserWarning, match="pos_label") as ours_w:
            ours = M.precision_recall_fscore(torch.tensor(t), torch.tensor(p), average=average, pos_label=2)
        with pytest.warns(UserWarning, match="pos_label") as ref_w:
            ref = skm.precision_recall_fscore_support(t, p, average=average, pos_label=2, zero_division=0)
        assert np.allclose(ours[:3], ref[:3]) and ours_w[0].category is ref_w[0].category is UserWarning


@pytest.mark.parametrize("seed", range(6))
def test_topk_ties_follow_sklearn(seed):
    r = np.random.default_rng(seed)
    C = int(r.integers(3, 8))
    s = r.integers(0, 3, (60, C)).astype(np.float32)                  # few distinct values: ties everywhere
    y = r.integers(0, C, 60)
    ks = tuple(range(1, C))
    ours = M.topk_accuracy(torch.tensor(s), torch.tensor(y), ks)
    ref = [skm.top_k_accuracy_score(y, s, k=k, labels=np.arange(C)) for k in ks]
    assert ours == pytest.approx(ref)
    assert M.topk_accuracy(torch.tensor(s).long(), torch.tensor(y), ks) == pytest.approx(ref)   # integer scores
    assert M.topk_accuracy(s.tolist(), y.tolist(), ks) == pytest.approx(ref)                   # array-likes
    one_tie = torch.tensor([[1.0, 1.0, 0.0]])                          # the larger index wins a tie (sklearn)
    assert M.topk_accuracy(one_tie, torch.tensor([1]), (1,)) == [1.0]
    assert M.topk_accuracy(one_tie, torch.tensor([0]), (1,)) == [0.0]
    assert skm.top_k_accuracy_score([0], one_tie.numpy(), k=1, labels=[0, 1, 2]) == 0.0


def test_topk_bad_input_like_sklearn():
    s, y = torch.randn(5, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 3, 4])
    _both_raise(lambda: M.topk_accuracy(s, y, (1,)),
                lambda: skm.top_k_accuracy_score(y.numpy(), s.numpy(), k=1, labels=range(4)), "target must hold")
    _both_raise(lambda: M.topk_accuracy(s, -y, (1,)),
                lambda: skm.top_k_accuracy_score(-y.numpy(), s.numpy(), k=1, labels=range(4)), "target must hold")
    _both_raise(lambda: M.topk_accuracy(s[:0], y[:0], (1,)),
                lambda: skm.top_k_accuracy_score(y[:0].numpy(), s[:0].numpy(), k=1, labels=range(4)), "empty")
    bad = s.clone()
    bad[1, 2] = float("nan")
    _both_raise(lambda: M.topk_accuracy(bad, y % 4, (1,)),
                lambda: skm.top_k_accuracy_score(y.numpy() % 4, bad.numpy(), k=1, labels=range(4)), "finite")
    assert M.topk_accuracy(s, (y % 4).float(), (2,)) == M.topk_accuracy(s, y % 4, (2,))   # 0.0, 1.0, ... labels
    _both_raise(lambda: M.topk_accuracy(s, (y % 4) + 0.5, (1,)),
                lambda: skm.top_k_accuracy_score(y.numpy() % 4 + 0.5, s.numpy(), k=1, labels=range(4)),
                "y type must be 'binary' or 'multiclass', got 'continuous'")
    with pytest.raises(TypeError, match="topk"):
        M.topk_accuracy(s, y % 4, 1)
    with pytest.raises(ValueError, match=r"topk\[0\]"):
        M.topk_accuracy(s, y % 4, (0,))
    with pytest.warns(M.UndefinedMetricWarning, match="perfect score"):
        assert M.topk_accuracy(s, y % 4, (4, 6)) == [1.0, 1.0]        # k >= C: a perfect, meaningless score
    with pytest.warns(UserWarning, match="perfect score"):
        assert skm.top_k_accuracy_score(y.numpy() % 4, s.numpy(), k=6, labels=range(4)) == 1.0


def test_non_finite_and_empty_inputs_raise_like_sklearn():
    y, s = score_data(40, 0)
    for bad in (np.nan, np.inf, -np.inf):
        sb = s.copy()
        sb[3] = bad
        for ours, ref in ((M.roc_curve, skm.roc_curve), (M.roc_auc_score, skm.roc_auc_score),
                          (M.precision_recall_curve, skm.precision_recall_curve),
                          (M.average_precision, skm.average_precision_score)):
            _both_raise(lambda f=ours, sb=sb: f(torch.tensor(y), torch.tensor(sb)), lambda f=ref, sb=sb: f(y, sb),
                        "y_score must be finite")
        for ours, ref in ((M.mean_squared_error, skm.mean_squared_error), (M.r2_score, skm.r2_score),
                          (M.mean_absolute_error, skm.mean_absolute_error)):
            _both_raise(lambda f=ours, sb=sb: f(s, sb), lambda f=ref, sb=sb: f(s, sb), "y_pred must be finite")
    empty = np.zeros(0, dtype=int)
    _both_raise(lambda: M.confusion_matrix(empty, empty), lambda: skm.confusion_matrix(empty, empty), "empty")
    _both_raise(lambda: M.precision_recall_fscore(empty, empty),
                lambda: skm.precision_recall_fscore_support(empty, empty), "empty")
    _both_raise(lambda: M.roc_curve(empty, empty.astype(float)), lambda: skm.roc_curve(empty, empty.astype(float)),
                "empty")
    _both_raise(lambda: M.confusion_matrix([5, 6], [0, 1], num_classes=3),
                lambda: skm.confusion_matrix([5, 6], [0, 1], labels=[0, 1, 2]), "no label of y_true")


def test_scores_and_targets_accept_what_sklearn_accepts():
    y, s = score_data(50, 1, ties=True)
    si = np.round(s * 3).astype(int)                                  # integer scores with ties
    assert M.roc_auc_score(torch.tensor(y), torch.tensor(si)) == pytest.approx(skm.roc_auc_score(y, si))
    assert M.average_precision(y.tolist(), si.tolist()) == pytest.approx(skm.average_precision_score(y, si))
    s16 = torch.tensor(s, dtype=torch.float16)
    assert M.roc_auc_score(torch.tensor(y), s16) == pytest.approx(skm.roc_auc_score(y, s16.numpy()))
    r = np.random.default_rng(3)
    yt, yp = r.integers(-3, 4, 30), r.integers(-3, 4, 30)             # integer regression targets
    assert M.r2_score(yt, yp) == pytest.approx(skm.r2_score(yt, yp))
    assert M.mean_squared_error(yt[None], yp[None]) == pytest.approx(skm.mean_squared_error(yt[None], yp[None]))
    with pytest.warns(M.UndefinedMetricWarning, match="less than two samples"):
        ours = M.r2_score(yt[None], yp[None])                          # one sample, 30 outputs
    with pytest.warns(UserWarning, match="less than two samples"):
        ref = skm.r2_score(yt[None], yp[None])
    assert np.isnan(ours) and np.isnan(ref)
    prec, rec = np.array([1.0, 0.5, 0.6]), np.array([0.1, 0.2, 0.2])   # a float64 list stays float64
    assert M.interpolated_ap(prec.tolist(), rec.tolist(), "voc07") == M.interpolated_ap(prec, rec, "voc07")


def test_segmentation_scores_refuse_out_of_range_labels():
    target = torch.tensor([[0, 1], [2, 1]])
    for bad in (torch.tensor([[0, 1], [3, 1]]), torch.tensor([[0, -1], [2, 1]])):
        with pytest.raises(ValueError, match=r"pred must hold labels in \[0, num_classes=3\)"):
            M.segmentation_scores(bad, target, 3)
    with pytest.raises(ValueError, match="non-empty"):
        M.segmentation_scores(target[:0], target[:0], 3)
    with pytest.raises(TypeError, match="num_classes"):
        M.segmentation_scores(target, target, 3.0)
    assert M.segmentation_scores(target, target, np.int64(3))["miou"] == 1.0


# ----------------------------------------------------------------------------- sklearn's label and warning rules
def _warned(fn, *args, **kwargs):
    """fn's answer and the (category, message) of every warning it emits."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [(w.category, str(w.message)) for w in rec]


def _same(ours, ref):
    if isinstance(ref, tuple):
        assert len(ours) == len(ref)
        for a, b in zip(ours, ref):
            _same(a, b)
    elif ref is None:
        assert ours is None
    else:
        a = ours.numpy() if isinstance(ours, torch.Tensor) else np.asarray(ours)
        assert np.array_equal(a, np.asarray(ref), equal_nan=True), (a, ref)   # bit for bit, NaN where NaN


def _same_with_warnings(ours, ref):
    """Same values and the same warning messages; ours are UserWarnings (UndefinedMetricWarning where sklearn's)."""
    (a, wa), (b, wb) = ours, ref
    _same(a, b)
    assert len(wa) == len(wb), (wa, wb)
    assert all(mb.split(". ")[0] in ma for (_, ma), (_, mb) in zip(wa, wb)), (wa, wb)   # sklearn's first sentence
    for (ca, _), (cb, _) in zip(wa, wb):
        assert issubclass(ca, UserWarning) and (cb.__name__ != "UndefinedMetricWarning" or
                                                ca is M.UndefinedMetricWarning)


@pytest.mark.parametrize("kind", ["bool", "float", "list"])
def test_bool_and_integral_float_labels_like_sklearn(kind):
    r = np.random.default_rng(11)
    yt, yp, s = r.integers(0, 2, 40), r.integers(0, 2, 40), r.random(40)
    conv = {"bool": lambda a: a.astype(bool), "float": lambda a: a.astype(np.float64), "list": lambda a: a.tolist()}
    t, p = conv[kind](yt), conv[kind](yp)
    _same(M.confusion_matrix(t, p), skm.confusion_matrix(t, p))
    for pos in (True, 1.0, 1, np.int64(1)) if kind != "list" else (1,):
        _same(M.precision_recall_fscore(t, p, pos_label=pos), skm.precision_recall_fscore_support(
            t, p, average="binary", pos_label=pos))
    _same(M.roc_curve(t, s), skm.roc_curve(t, s, drop_intermediate=False))
    _same(M.precision_recall_curve(t, s), skm.precision_recall_curve(t, s))
    _same(M.roc_auc_score(t, s), skm.roc_auc_score(t, s))
    _same(M.average_precision(t, s), skm.average_precision_score(t, s))
    logits = r.random((40, 3))
    _same(M.topk_accuracy(logits, t, (1, 2)), [skm.top_k_accuracy_score(t, logits, k=k, labels=range(3))
                                               for k in (1, 2)])
    seg = M.segmentation_scores(np.reshape(p, (5, 8)) if kind != "list" else [p], np.reshape(t, (5, 8))
                                if kind != "list" else [t], 2)
    assert seg["pixel_accuracy"] == skm.accuracy_score(t, p)


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # sklearn on a NaN label
def test_continuous_labels_are_refused_like_sklearn():
    t, p = np.array([0.0, 0.5, 1.0]), np.array([0, 1, 1])
    _both_raise(lambda: M.confusion_matrix(t, p), lambda: skm.confusion_matrix(t, p), "continuous is not supported")
    _both_raise(lambda: M.precision_recall_fscore(p, t), lambda: skm.precision_recall_fscore_support(p, t),
                "y_pred must hold integer-valued")
    _both_raise(lambda: M.roc_curve(t, p), lambda: skm.roc_curve(t, p), "continuous format is not supported")
    _both_raise(lambda: M.confusion_matrix([0.0, np.nan], [0, 1]), lambda: skm.confusion_matrix([0.0, np.nan], [0, 1]),
                "y_true must be finite")
    with pytest.raises(ValueError, match="pos_label must be an integer class label"):
        M.precision_recall_fscore(p, p, pos_label=0.5)
    for bad in (["a", "b", "a"], np.array(["a", "b", "a"], dtype=object)):   # sklearn's string labels: not claimed
        with pytest.raises(TypeError, match="y_true .*string and object labels are not supported"):
            M.confusion_matrix(bad, p)
    with pytest.raises(ValueError, match="y_true must be 1-D"):               # multilabel indicators: not claimed
        M.precision_recall_fscore(np.eye(3, dtype=int), np.eye(3, dtype=int))
    with pytest.raises(ValueError, match="y_score must be 1-D"):              # 2-D multiclass scores: not claimed
        M.roc_auc_score(p, np.eye(3))


def test_curves_follow_sklearns_pos_label_rule():
    r = np.random.default_rng(12)
    y, s = r.integers(0, 2, 50), r.normal(size=50)
    pm = 2 * y - 1                                                    # {-1, 1}: 1 is positive without pos_label
    three = r.integers(0, 3, 50)
    for ours, ref in ((M.roc_curve, lambda a, b, **k: skm.roc_curve(a, b, drop_intermediate=False, **k)),
                      (M.precision_recall_curve, skm.precision_recall_curve)):
        _same(ours(pm, s), ref(pm, s))
        _same(ours(y + 2, s, pos_label=3), ref(y + 2, s, pos_label=3))
        _same(ours(pm, s, pos_label=-1), ref(pm, s, pos_label=-1))
        _both_raise(lambda f=ours: f(y + 2, s), lambda f=ref: f(y + 2, s),
                    r"y_true takes value in \{2, 3\} and pos_label is not specified")
        _both_raise(lambda f=ours: f(three, s), lambda f=ref: f(three, s), "multiclass format is not supported")
        _same(ours(three, s, pos_label=2), ref(three, s, pos_label=2))     # one class against the rest
    _same(M.roc_auc_score(pm, s), skm.roc_auc_score(pm, s))
    _same(M.roc_auc_score(y * 3 + 2, s), skm.roc_auc_score(y * 3 + 2, s))       # the larger label is positive
    _both_raise(lambda: M.roc_auc_score(y + (s > 1), s), lambda: skm.roc_auc_score(y + (s > 1), s),
                r"multi_class must be in \('ovo', 'ovr'\)")
    _same(M.average_precision(pm, s), skm.average_precision_score(pm, s))
    _same(M.average_precision(y + 2, s, pos_label=2), skm.average_precision_score(y + 2, s, pos_label=2))
    _both_raise(lambda: M.average_precision(y + 2, s), lambda: skm.average_precision_score(y + 2, s),
                r"pos_label=1 is not a valid label. It should be one of \[2 3\]")
    y3 = np.array([0, 1, 2, 0, 1, 2])
    _both_raise(lambda: M.average_precision(y3, s[:6]), lambda: skm.average_precision_score(y3, s[:6]),
                re.escape("`y_score` needs to be of shape `(n_samples, n_classes)`"))
    _both_raise(lambda: M.average_precision(y3, s[:6], pos_label=2),
                lambda: skm.average_precision_score(y3, s[:6], pos_label=2), "Parameter pos_label is fixed to 1")
    for out_of_scope in (dict(sample_weight=np.ones(50)), dict(drop_intermediate=True), dict(max_fpr=0.5)):
        with pytest.raises(TypeError):
            M.roc_curve(y, s, **out_of_scope)


@pytest.mark.parametrize("y", [[0, 0], [1, 1, 1], [-1, -1], [0], [1]])
def test_one_class_in_y_true_like_sklearn(y):
    s = np.linspace(0.2, 0.8, len(y))
    _same_with_warnings(_warned(M.roc_curve, y, s), _warned(skm.roc_curve, y, s, drop_intermediate=False))
    _same_with_warnings(_warned(M.roc_auc_score, y, s), _warned(skm.roc_auc_score, y, s))
    _same_with_warnings(_warned(M.precision_recall_curve, y, s), _warned(skm.precision_recall_curve, y, s))
    if set(y) != {-1}:
        _same_with_warnings(_warned(M.average_precision, y, s), _warned(skm.average_precision_score, y, s))
    _same_with_warnings(_warned(M.confusion_matrix, y, y), _warned(skm.confusion_matrix, y, y))   # 'A single label'


@pytest.mark.parametrize("zero_division", ["warn", 0.0, 1.0, np.nan])
@pytest.mark.parametrize("average", ["binary", "micro", "macro", "weighted", None])
def test_zero_division_values_and_warnings_like_sklearn(zero_division, average):
    cases = [([0], [0]), ([0, 1, 2], [1, 1, 2]), ([1, 1, 2], [0, 1, 2]), ([0, 0, 1], [0, 0, 0]),
             ([0, 1, 1, 0], [1, 1, 1, 1]), ([0, 1, 2, 3, 3], [0, 0, 0, 0, 0])]
    for t, p in cases:
        if average == "binary" and len(set(t) | set(p)) > 2:
            continue
        for beta in (1.0, 0.0, np.inf, 2.0):
            ours = _warned(M.precision_recall_fscore, t, p, beta, average, zero_division=zero_division)
            ref = _warned(skm.precision_recall_fscore_support, t, p, beta=beta, average=average,
                          zero_division=zero_division)
            _same_with_warnings(ours, ref)
    with pytest.raises(ValueError, match="zero_division must be 'warn', 0, 1 or nan"):
        M.precision_recall_fscore([0, 1], [0, 1], zero_division=0.5)


def test_prf_messages_and_pos_label_warning_like_sklearn():
    t, p = np.array([1, 2, 1]), np.array([1, 2, 2])
    ours, ref = (_warned(M.precision_recall_fscore, t, p, average="macro", pos_label=2),
                 _warned(skm.precision_recall_fscore_support, t, p, average="macro", pos_label=2))
    _same(ours[0], ref[0])
    assert ref[1][0][1] in ours[1][0][1] and ours[1][0][0] is ref[1][0][0] is UserWarning
    _both_raise(lambda: M.precision_recall_fscore([1, 2, 3, 3], [1, 2, 3, 1]),
                lambda: skm.precision_recall_fscore_support([1, 2, 3, 3], [1, 2, 3, 1], average="binary"),
                re.escape("Target is multiclass but average='binary'. Please choose another average setting, one of "
                          "[None, 'micro', 'macro', 'weighted']"))


def test_topk_warning_errors_and_binary_scores_like_sklearn():
    s = np.array([[0.4, 0.3, 0.2, 0.1], [0.1, 0.4, 0.3, 0.2], [0.2, 0.1, 0.4, 0.3], [0.3, 0.2, 0.1, 0.4]])
    y = np.array([0, 1, 2, 3])
    _same_with_warnings(_warned(M.topk_accuracy, s, y, (4,)), _warned(lambda: [skm.top_k_accuracy_score(y, s, k=4)]))
    _both_raise(lambda: M.topk_accuracy(s[:, :3], y, (2,)), lambda: skm.top_k_accuracy_score(y, s[:, :3], k=2),
                re.escape("Number of classes in 'y_true' (4) not equal to the number of classes in 'y_score' (3)."))
    _both_raise(lambda: M.topk_accuracy(s[:, 0], y, (1,)), lambda: skm.top_k_accuracy_score(y, s[:, 0], k=1),
                re.escape("`y_score` needs to be of shape `(n_samples, n_classes)`"))
    yb = [0, 0, 1, 1]                                                 # 1-D scores: sklearn's binary rule
    for scores in ([-1, -1, 1, 1], [-1, 1, -1, 1], [0.2, 0.2, 0.7, 0.7], [0.2, 0.7, 0.2, 0.7], [0.6, 0.4, 0.4, 0.6]):
        scores = np.array(scores, dtype=float)
        ours = _warned(M.topk_accuracy, scores, yb, (1, 2))
        ref = _warned(lambda sc=scores: [skm.top_k_accuracy_score(yb, sc, k=k) for k in (1, 2)])
        _same_with_warnings(ours, ref)


@pytest.mark.parametrize("n", [5, 8, 100, 129, 1000, 4321])
def test_sums_in_numpys_order_equal_sklearn_bit_for_bit(n):
    r = np.random.default_rng(n)
    y, yh = r.normal(size=n) * 7, r.normal(size=n) * 7 + 3
    for shape in ((n,), (n // 2, 2), (n, 1)):
        a, b = y[: np.prod(shape)].reshape(shape), yh[: np.prod(shape)].reshape(shape)
        for name in ("mean_squared_error", "root_mean_squared_error", "mean_absolute_error", "r2_score"):
            assert getattr(M, name)(a, b) == getattr(skm, name)(a, b), (name, shape)
    t, s = (r.random(n) < 0.3).astype(int), np.round(r.random(n), 2)
    t[:2] = [0, 1]
    assert M.roc_auc_score(t, s) == skm.roc_auc_score(t, s)
    assert M.average_precision(t, s) == skm.average_precision_score(t, s)
    k = r.integers(0, 11, n)
    p = np.where(r.random(n) < 0.6, k, r.integers(0, 11, n))
    for average in ("macro", "weighted", "micro"):
        ours = M.precision_recall_fscore(k, p, 0.5, average, zero_division=0)
        assert ours == skm.precision_recall_fscore_support(k, p, beta=0.5, average=average, zero_division=0)
    t, p = [0, 1] * 4 + [1] * 7, [1, 1] * 4 + [1] * 7                  # weighted: sum(w * x) / sum(w), np.average
    assert M.precision_recall_fscore(t, p, average="weighted", zero_division=0)[0] == \
        skm.precision_score(t, p, average="weighted", zero_division=0)


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
