"""Evaluation metrics from scratch, equal to scikit-learn: confusion matrix, precision / recall / F-beta,
ROC and PR curves, AUC, average precision (plus the VOC 11-point, VOC all-point and COCO 101-point
interpolations), top-k accuracy and the regression metrics. Detection mAP (COCO's AP@[.5:.95], AP50, AP75)
is in :mod:`cvbook_lib.detection_metrics`. Tested in ``tests/test_metrics.py``.

Inputs are tensors, numpy arrays or (nested) lists (read as numpy reads them: float64), as in scikit-learn.
Class labels are integer, bool or integral float (0.0/1.0) values, as sklearn reads them; non-integral floats
('continuous'), NaN, complex and strings are refused. Scores and regression targets may be floating or integer;
bool and complex tensors are refused (sklearn reads bool scores as 0/1: a deliberate difference). NaN/±inf scores
or targets and empty inputs raise, as in sklearn. Ill-defined scores warn as sklearn does, with UserWarning or
:class:`UndefinedMetricWarning` (a UserWarning subclass named like sklearn's). Sums follow numpy's order: the
answers equal sklearn's to the last bit on CPU. Not supported (a TypeError): string labels, multilabel and 2-D
scores for the ranking metrics, sample_weight, labels=, normalize=, drop_intermediate, max_fpr, multioutput.
"""

from __future__ import annotations

import warnings

import torch

from . import _metrics_checks as _v
from ._checks import check_choice
from ._metrics_checks import np_sum

__all__ = ["confusion_matrix", "precision_recall_fscore", "roc_curve", "roc_auc_score", "precision_recall_curve",
           "average_precision", "interpolated_ap", "topk_accuracy", "mean_squared_error", "root_mean_squared_error",
           "mean_absolute_error", "r2_score", "segmentation_scores"]


class UndefinedMetricWarning(UserWarning):
    """A score is ill-defined (0/0 precision, one class in y_true, k >= classes), as sklearn's warning class."""


def _confusion(y_true, y_pred, num_classes=None) -> torch.Tensor:
    labels = (torch.unique(torch.cat([y_true, y_pred])) if num_classes is None
              else torch.arange(num_classes, device=y_true.device))
    K = len(labels)
    t, p = torch.searchsorted(labels, y_true), torch.searchsorted(labels, y_pred)
    valid = (t < K) & (p < K)
    valid &= (labels[t.clamp(max=K - 1)] == y_true) & (labels[p.clamp(max=K - 1)] == y_pred)
    return torch.bincount(t[valid] * K + p[valid], minlength=K * K).reshape(K, K)


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> torch.Tensor:
    """C[i, j] = number of samples of true class i predicted as class j (rows: truth, columns: prediction).

    y_true, y_pred: Tensor[n] class labels (or arrays / lists). Classes are 0 … num_classes - 1 when given
    (samples with a label outside are left out, as sklearn's ``labels=range(num_classes)``), else the sorted
    labels present in either input (as sklearn; a single label warns as in sklearn). Returns Tensor[K, K] int64.
    """
    y_true, y_pred, num_classes = _v.confusion_inputs(y_true, y_pred, num_classes)
    cm = _confusion(y_true, y_pred, num_classes)
    if cm.shape == (1, 1):
        warnings.warn("A single label was found in 'y_true' and 'y_pred'. For the confusion matrix to have the "
                      "correct shape, pass num_classes (sklearn: the 'labels' parameter).", UserWarning, stacklevel=2)
    return cm


def _prf_divide(num, den, zero_division, warn, what, size):
    """num / den, and ``zero_division`` where den == 0, with sklearn's warning when ``warn``."""
    zero = den == 0
    if warn and bool(zero.any()):
        where = "due to" if size == 1 else "in labels with"
        warnings.warn(f"{what[0]} is ill-defined and being set to 0.0 {where} no {what[1]} samples. Use "
                      "`zero_division` parameter to control this behavior.", UndefinedMetricWarning, stacklevel=3)
    return torch.where(zero, zero_division, num / torch.where(zero, 1.0, den))


def _average(v, w=None) -> float:
    """sklearn's ``_nanaverage``: NaN entries left out; weights summing to 0 are ignored."""
    keep = ~torch.isnan(v)
    if not bool(keep.any()):
        return float("nan")
    v = v[keep]
    if w is not None and bool(w[keep].sum() > 0):
        return (np_sum(v * w[keep]) / np_sum(w[keep])).item()
    return (np_sum(v) / len(v)).item()


def precision_recall_fscore(y_true, y_pred, beta: float = 1.0, average: str | None = "binary", pos_label: int = 1,
                            *, zero_division="warn"):
    """Precision TP/(TP+FP), recall TP/(TP+FN), F_β = (1+β²)·P·R / (β²·P + R) = (1+β²)TP / ((1+β²)TP + β²FN + FP),
    like ``sklearn.metrics.precision_recall_fscore_support`` (β = 0: precision, β = inf: recall).

    average: 'binary' (the class ``pos_label``, a label that must be present when two are), 'micro' (pool all
    counts), 'macro' (unweighted mean over classes), 'weighted' (mean weighted by support) or None (per class);
    other averages ignore a pos_label other than 1 with sklearn's UserWarning. β > 1 weighs recall more.
    zero_division: the value of a 0/0 score, 'warn' (0.0 and an :class:`UndefinedMetricWarning`), 0, 1 or NaN
    (left out of the averages), as sklearn. Returns (precision, recall, fbeta, support): floats and None when
    averaging, as in sklearn; else Tensor[K] float64 ×3 and Tensor[K] int64 over the sorted labels present.
    """
    y_true, y_pred, beta, pos_label, zd = _v.prf_inputs(y_true, y_pred, beta, average, pos_label, zero_division)
    warn = isinstance(zero_division, str)
    if average == "binary":
        t, p = y_true == pos_label, y_pred == pos_label
        tp, pred, true = ((t & p).sum()[None].double(), p.sum()[None].double(), t.sum()[None].double())
    else:
        if pos_label != 1:
            warnings.warn(f"Note that pos_label (set to {pos_label}) is ignored when average != 'binary' (got "
                          f"{average!r}). You may use labels=[pos_label] to specify a single positive class. (That "
                          "is sklearn's advice; here use average='binary'.)", UserWarning, stacklevel=2)
        cm = _confusion(y_true, y_pred).double()
        tp, pred, true = cm.diagonal(), cm.sum(0), cm.sum(1)
        if average == "micro":
            tp, pred, true = tp.sum()[None], pred.sum()[None], true.sum()[None]
    p = _prf_divide(tp, pred, zd, warn, ("Precision", "predicted"), len(tp))
    r = _prf_divide(tp, true, zd, warn, ("Recall", "true"), len(tp))
    f = r if beta == float("inf") else p if beta == 0 else _prf_divide(
        (1 + beta**2) * tp, beta**2 * true + pred, zd, warn, ("F-score", "true nor predicted"), len(tp))
    if average is None:
        return p, r, f, true.long()
    w = true if average == "weighted" else None
    return _average(p, w), _average(r, w), _average(f, w), None


def _clf_curve(y, s):
    """Cumulative (FP, TP) counts at each distinct threshold, highest first: a threshold counts every
    sample with score >= it as positive, so tied scores enter together."""
    order = torch.sort(s, descending=True, stable=True).indices
    s, y = s[order], y[order]
    last = torch.cat([torch.nonzero(s[1:] != s[:-1]).flatten(), torch.tensor([len(s) - 1], device=s.device)])
    tps = torch.cumsum(y, 0)[last]
    return (last + 1).to(torch.float64) - tps, tps, s[last]


def _rates(y, s, drop=False):
    """(fpr, tpr, thresholds) from (0, 0) at +inf; NaN rates with sklearn's warning when a class is absent."""
    fps, tps, thr = _clf_curve(y, s)
    if drop and len(fps) > 2:          # sklearn's drop_intermediate: collinear points (same area, fewer terms)
        keep = torch.ones(len(fps), dtype=torch.bool, device=fps.device)
        keep[1:-1] = (fps.diff(2) != 0) | (tps.diff(2) != 0)
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    zero = fps.new_zeros(1)
    fpr, tpr = _rate(torch.cat([zero, fps]), "negative", "false"), _rate(torch.cat([zero, tps]), "positive", "true")
    return fpr, tpr, torch.cat([torch.full_like(thr[:1], torch.inf), thr])


def _rate(counts, kind, which):  # counts / total, NaN with sklearn's warning without samples of that kind
    if counts[-1] <= 0:
        warnings.warn(f"No {kind} samples in y_true, {which} positive value should be meaningless",
                      UndefinedMetricWarning, stacklevel=4)
        return torch.full_like(counts, float("nan"))
    return counts / counts[-1]


def roc_curve(y_true, y_score, *, pos_label=None):
    """(fpr, tpr, thresholds) at every distinct score, like ``sklearn.metrics.roc_curve(drop_intermediate=False)``:
    first point (0, 0) at threshold +inf. y_true Tensor[n] labels, y_score Tensor[n]; returns three Tensor[m]
    float64. pos_label None: y_true in {0, 1} or {-1, 1} and 1 is positive, as sklearn. Without negatives
    (positives) fpr (tpr) is NaN, with an :class:`UndefinedMetricWarning`, as sklearn."""
    return _rates(*_v.curve_inputs(y_true, y_score, pos_label, "roc_curve"))


def roc_auc_score(y_true, y_score) -> float:
    """Area under the ROC curve (trapezoids) = P(score of a random positive > that of a random negative),
    ties counted 1/2. y_true: two labels, the larger is positive; one class gives NaN with an
    :class:`UndefinedMetricWarning`; more classes are refused (multiclass AUC is not supported), as sklearn."""
    y, y_score = _v.auc_inputs(y_true, y_score)
    if y is None:
        warnings.warn("Only one class is present in y_true. ROC AUC score is not defined in that case.",
                      UndefinedMetricWarning, stacklevel=2)
        return float("nan")
    fpr, tpr, _ = _rates(y, y_score, drop=True)
    return np_sum(fpr.diff() * (tpr[1:] + tpr[:-1]) / 2.0).item()          # numpy's trapezoid


def _pr_curve(y, s):
    fps, tps, thr = _clf_curve(y, s)
    precision = tps / (tps + fps)                        # tps + fps >= 1 at every threshold
    if tps[-1] == 0:
        warnings.warn("No positive class found in y_true, recall is set to one for all thresholds.", UserWarning,
                      stacklevel=3)
        recall = torch.ones_like(tps)
    else:
        recall = tps / tps[-1]
    one = tps.new_ones(1)
    return torch.cat([precision.flip(0), one]), torch.cat([recall.flip(0), 0 * one]), thr.flip(0)


def precision_recall_curve(y_true, y_score, *, pos_label=None):
    """(precision, recall, thresholds) like ``sklearn.metrics.precision_recall_curve``: thresholds increasing,
    recall decreasing, and a final point (precision 1, recall 0) with no threshold. pos_label as in
    :func:`roc_curve`. Without positives recall is set to 1 with a UserWarning, as sklearn."""
    return _pr_curve(*_v.curve_inputs(y_true, y_score, pos_label, "precision_recall_curve"))


def interpolated_ap(precision, recall, method: str) -> float:
    """AP of a PR curve (recall non-decreasing along the given points) by one of the detection definitions:

    - 'voc07': mean over r ∈ {0, 0.1, …, 1} of max{p : recall ≥ r} (11 points, PASCAL VOC 2007);
    - 'voc12': area under the precision envelope p_interp(r) = max{p : recall ≥ r} (all points, VOC 2010+);
    - 'coco': mean of the envelope at r ∈ {0, 0.01, …, 1} (101 points), 0 beyond the last recall.

    precision, recall: Tensor[n] in [0, 1] (n = 0 gives 0).
    """
    check_choice(method, "method", ("voc07", "voc12", "coco"))
    p, r = _v.pr_points(precision, recall)
    env = torch.flip(torch.cummax(torch.flip(p, [0]), 0).values, [0])       # max precision at recall >= r_i
    if method == "voc12":
        rr = torch.cat([torch.zeros(1, dtype=torch.float64, device=r.device), r])
        return ((rr[1:] - rr[:-1]) * env).sum().item()
    n = 11 if method == "voc07" else 101
    points = torch.arange(n, dtype=torch.float64, device=r.device) * (1.0 / (n - 1))  # numpy's linspace arithmetic
    points[-1] = 1.0
    idx = torch.searchsorted(r.contiguous(), points, side="left")          # first point with recall >= r
    padded = torch.cat([env, torch.zeros(1, dtype=torch.float64, device=r.device)])
    return padded[idx.clamp(max=len(env))].mean().item()


def average_precision(y_true, y_score, method: str = "sklearn", *, pos_label=1) -> float:
    """AP of binary scores. 'sklearn': Σ (R_n − R_{n−1}) P_n, no interpolation
    (``sklearn.metrics.average_precision_score``); 'voc07', 'voc12', 'coco': see :func:`interpolated_ap`.
    pos_label: the positive label (1 by default; it must be one of the labels when two are present, as sklearn).
    Without positives AP is 0 with sklearn's UserWarning."""
    check_choice(method, "method", ("sklearn", "voc07", "voc12", "coco"))
    precision, recall, _ = _pr_curve(*_v.ap_inputs(y_true, y_score, pos_label))
    if method == "sklearn":
        return max(0.0, -np_sum(recall.diff() * precision[:-1]).item())
    return interpolated_ap(precision[:-1].flip(0), recall[:-1].flip(0), method)


def topk_accuracy(logits, target, topk=(1, 5)) -> list[float]:
    """Fraction of samples whose true class is among the k highest logits, for each k (top-5 error = 1 − top-5),
    equal to ``sklearn.metrics.top_k_accuracy_score(target, logits, k=k, labels=range(C))``.

    logits: Tensor[N, C] finite scores, or Tensor[N] scores of class 1 (sklearn's binary rule: top-1 predicts 1
    when the score > 0.5 for scores in [0, 1], else > 0); target: Tensor[N] labels in [0, C); topk: ints >= 1.
    Ties follow sklearn (a stable ascending sort, reversed): the true class ranks behind every higher score and
    every tied class with a larger index. k >= C gives 1 with an :class:`UndefinedMetricWarning`, as sklearn.
    Deliberate differences: the classes are the C columns (sklearn's labels=range(C); its default labels=None
    wants all C classes in the batch), and [N, 2] logits follow the top-k rule (sklearn refuses them).
    """
    logits, target, ks = _v.topk_inputs(logits, target, topk)
    C = logits.shape[1] if logits.dim() == 2 else 2
    for k in ks:
        if k >= C:
            warnings.warn(f"'k' ({k}) greater than or equal to 'n_classes' ({C}) will result in a perfect score "
                          "and is therefore meaningless.", UndefinedMetricWarning, stacklevel=2)
    if logits.dim() == 1:
        thr = 0.5 if bool((logits.min() >= 0) & (logits.max() <= 1)) else 0
        top1 = ((logits > thr).long() == target).double().mean().item()
        return [top1 if k == 1 else 1.0 for k in ks]
    t = target[:, None]
    s_t = logits.gather(1, t)
    idx = torch.arange(C, device=logits.device)
    rank = ((logits > s_t) | ((logits == s_t) & (idx > t))).sum(1)     # classes ranked before the truth
    return [(rank < k).double().mean().item() for k in ks]


def _columns(y_true, y_pred):
    y, yh = _v.regression_pair(y_true, y_pred)
    return y.reshape(len(y), -1), yh.reshape(len(y), -1)              # [n, outputs], as sklearn


def _mean0(x):  # numpy's mean over dim 0
    return np_sum(x) / x.shape[0]


def mean_squared_error(y_true, y_pred) -> float:
    """MSE = mean (y − ŷ)² (averaged over outputs for 2-D input). y_true, y_pred: Tensor[n] or [n, outputs]."""
    y, yh = _columns(y_true, y_pred)
    return _mean0(_mean0((y - yh) ** 2)).item()


def root_mean_squared_error(y_true, y_pred) -> float:
    """RMSE = √MSE per output, averaged over outputs (as sklearn)."""
    y, yh = _columns(y_true, y_pred)
    return _mean0(_mean0((y - yh) ** 2).sqrt()).item()


def mean_absolute_error(y_true, y_pred) -> float:
    """MAE = mean |y − ŷ|."""
    y, yh = _columns(y_true, y_pred)
    return _mean0(_mean0((yh - y).abs())).item()


def r2_score(y_true, y_pred) -> float:
    """R² = 1 − SS_res / SS_tot = 1 − MSE / Var(y) per output, averaged. A constant y_true gives 1 for a
    perfect prediction and 0 otherwise (sklearn's force_finite); one sample gives NaN with an
    :class:`UndefinedMetricWarning`, as sklearn."""
    y, yh = _columns(y_true, y_pred)
    if len(y) < 2:
        warnings.warn("R^2 score is not well-defined with less than two samples.", UndefinedMetricWarning,
                      stacklevel=2)
        return float("nan")
    ss_res, ss_tot = np_sum((y - yh) ** 2), np_sum((y - _mean0(y)) ** 2)
    r2 = torch.where(ss_tot > 0, 1 - ss_res / torch.where(ss_tot > 0, ss_tot, 1.0), (ss_res == 0).double())
    return _mean0(r2).item()


def segmentation_scores(pred, target, num_classes: int) -> dict:
    """Semantic-segmentation metrics from the pixel confusion matrix: pixel accuracy = Σ TP / #pixels,
    IoU_c = TP / (TP + FP + FN), mIoU = mean over classes present in pred or target, Dice_c = 2TP / (2TP + FP + FN)
    (= the pixel F1 of class c; sklearn's ``jaccard_score`` / ``f1_score`` per class, NaN for an absent class).

    pred, target: label maps of the same shape (integer, bool or integral float), every label in
    [0, num_classes) (out-of-range labels are refused, not ignored). Returns dict(pixel_accuracy, iou Tensor[K],
    miou, dice Tensor[K]).
    """
    pred, target, num_classes = _v.segmentation_inputs(pred, target, num_classes)
    cm = _confusion(target.reshape(-1), pred.reshape(-1), num_classes).double()
    tp, fp, fn = cm.diagonal(), cm.sum(0) - cm.diagonal(), cm.sum(1) - cm.diagonal()
    present = (tp + fp + fn) > 0
    iou = torch.where(present, tp / (tp + fp + fn).clamp(min=1), torch.full_like(tp, float("nan")))
    dice = torch.where(present, 2 * tp / (2 * tp + fp + fn).clamp(min=1), torch.full_like(tp, float("nan")))
    return dict(pixel_accuracy=(tp.sum() / cm.sum()).item(), iou=iou, miou=_mean0(iou[present]).item(), dice=dice)
