"""Evaluation metrics from scratch, equal to scikit-learn: confusion matrix, precision / recall / F-beta,
ROC and PR curves, AUC, average precision (plus the VOC 11-point, VOC all-point and COCO 101-point
interpolations), top-k accuracy and the regression metrics. Detection mAP (COCO's AP@[.5:.95], AP50, AP75)
is in :mod:`cvbook_lib.detection_metrics`. Tested in ``tests/test_metrics.py``.
"""

from __future__ import annotations

import torch

from ._checks import check_choice, check_tensor

__all__ = ["confusion_matrix", "precision_recall_fscore", "roc_curve", "roc_auc_score", "precision_recall_curve",
           "average_precision", "interpolated_ap", "topk_accuracy", "mean_squared_error", "root_mean_squared_error",
           "mean_absolute_error", "r2_score", "segmentation_scores"]


def _labels_pair(y_true, y_pred):
    y_true, y_pred = torch.as_tensor(y_true), torch.as_tensor(y_pred)
    if y_true.dim() != 1 or y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must be 1-D of the same length, got shapes {tuple(y_true.shape)} "
                         f"and {tuple(y_pred.shape)}")
    if y_true.is_floating_point() or y_pred.is_floating_point():
        raise TypeError(f"y_true and y_pred must hold integer class labels, got {y_true.dtype} and {y_pred.dtype}")
    return y_true, y_pred.to(y_true.device)


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> torch.Tensor:
    """C[i, j] = number of samples of true class i predicted as class j (rows: truth, columns: prediction).

    Classes are 0 … num_classes - 1 when given, else the sorted labels present in either input (as sklearn).
    Returns Tensor[K, K] int64.
    """
    y_true, y_pred = _labels_pair(y_true, y_pred)
    labels = (torch.unique(torch.cat([y_true, y_pred])) if num_classes is None
              else torch.arange(num_classes, device=y_true.device))
    K = len(labels)
    t, p = torch.searchsorted(labels, y_true), torch.searchsorted(labels, y_pred)
    valid = (t < K) & (p < K)
    valid &= (labels[t.clamp(max=K - 1)] == y_true) & (labels[p.clamp(max=K - 1)] == y_pred)
    return torch.bincount(t[valid] * K + p[valid], minlength=K * K).reshape(K, K)


def _safe_div(a, b):
    return torch.where(b > 0, a / b.clamp(min=1e-300), torch.zeros_like(a))


def precision_recall_fscore(y_true, y_pred, beta: float = 1.0, average: str | None = "binary", pos_label: int = 1):
    """Precision TP/(TP+FP), recall TP/(TP+FN), F_β = (1+β²)·P·R / (β²·P + R), like
    ``sklearn.metrics.precision_recall_fscore_support`` with zero_division=0.

    average: 'binary' (the class ``pos_label``), 'micro' (pool all counts), 'macro' (unweighted mean over
    classes), 'weighted' (mean weighted by support) or None (per class). β > 1 weighs recall more.
    Returns (precision, recall, fbeta, support); support is None when averaging, as in sklearn.
    """
    y_true, y_pred = _labels_pair(y_true, y_pred)
    check_choice(average, "average", ("binary", "micro", "macro", "weighted", None))
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta < 0:
        raise ValueError(f"beta must be a number >= 0, got {beta!r}")
    cm = confusion_matrix(y_true, y_pred).double()
    labels = torch.unique(torch.cat([y_true, y_pred]))
    tp, pred, true = cm.diagonal(), cm.sum(0), cm.sum(1)
    if average == "binary":
        if len(labels) > 2:
            raise ValueError(f"average='binary' needs two classes, got labels {labels.tolist()}; "
                             "choose 'micro', 'macro', 'weighted' or None")
        sel = labels == pos_label
        tp, pred, true = tp[sel].sum(), pred[sel].sum(), true[sel].sum()
    elif average == "micro":
        tp, pred, true = tp.sum(), pred.sum(), true.sum()
    p, r = _safe_div(tp, pred), _safe_div(tp, true)
    b2 = beta * beta
    f = _safe_div((1 + b2) * p * r, b2 * p + r)
    if average in ("macro", "weighted"):
        w = true / true.sum() if average == "weighted" else torch.full_like(true, 1 / len(true))
        p, r, f = (w * p).sum(), (w * r).sum(), (w * f).sum()
    if average is None:
        return p, r, f, true.long()
    return p.item(), r.item(), f.item(), None


def _binary_scores(y_true, y_score):
    y_true, y_score = torch.as_tensor(y_true), torch.as_tensor(y_score)
    if y_true.dim() != 1 or y_true.shape != y_score.shape:
        raise ValueError(f"y_true and y_score must be 1-D of the same length, got shapes {tuple(y_true.shape)} "
                         f"and {tuple(y_score.shape)}")
    if not y_score.is_floating_point() or bool(torch.isnan(y_score).any()):
        raise ValueError("y_score must be floating scores without NaN")
    if bool(((y_true != 0) & (y_true != 1)).any()):
        raise ValueError(f"y_true must hold 0/1 labels, got {torch.unique(y_true).tolist()}")
    return y_true.to(torch.float64), y_score.to(torch.float64)


def _clf_curve(y_true, y_score):
    """Cumulative (FP, TP) counts at each distinct threshold, highest first: a threshold counts every
    sample with score >= it as positive, so tied scores enter together."""
    order = torch.sort(y_score, descending=True, stable=True).indices
    s, y = y_score[order], y_true[order]
    last = torch.cat([torch.nonzero(s[1:] != s[:-1]).flatten(), torch.tensor([len(s) - 1], device=s.device)])
    tps = torch.cumsum(y, 0)[last]
    return (last + 1).to(torch.float64) - tps, tps, s[last]


def roc_curve(y_true, y_score):
    """(fpr, tpr, thresholds) at every distinct score, like ``sklearn.metrics.roc_curve(drop_intermediate=False)``:
    first point (0, 0) at threshold +inf. Needs both classes (a clear ValueError otherwise)."""
    y_true, y_score = _binary_scores(y_true, y_score)
    n_pos = int(y_true.sum())
    if n_pos == 0 or n_pos == len(y_true):
        raise ValueError("Only one class present in y_true: a ROC curve needs positives and negatives")
    fps, tps, thr = _clf_curve(y_true, y_score)
    zero = torch.zeros(1, dtype=torch.float64, device=fps.device)
    fps, tps = torch.cat([zero, fps]), torch.cat([zero, tps])
    thr = torch.cat([torch.full((1,), torch.inf, dtype=torch.float64, device=thr.device), thr])
    return fps / fps[-1], tps / tps[-1], thr


def roc_auc_score(y_true, y_score) -> float:
    """Area under the ROC curve (trapezoids) = P(score of a random positive > that of a random negative),
    ties counted 1/2."""
    fpr, tpr, _ = roc_curve(y_true, y_score)
    return torch.trapezoid(tpr, fpr).item()


def precision_recall_curve(y_true, y_score):
    """(precision, recall, thresholds) like ``sklearn.metrics.precision_recall_curve``: thresholds increasing,
    recall decreasing, and a final point (precision 1, recall 0) with no threshold."""
    y_true, y_score = _binary_scores(y_true, y_score)
    if int(y_true.sum()) == 0:
        raise ValueError("y_true has no positive sample: recall is undefined")
    fps, tps, thr = _clf_curve(y_true, y_score)
    precision, recall = _safe_div(tps, tps + fps), tps / tps[-1]
    one = torch.ones(1, dtype=torch.float64, device=tps.device)
    return torch.cat([precision.flip(0), one]), torch.cat([recall.flip(0), 0 * one]), thr.flip(0)


def interpolated_ap(precision, recall, method: str) -> float:
    """AP of a PR curve (recall non-decreasing along the given points) by one of the detection definitions:

    - 'voc07': mean over r ∈ {0, 0.1, …, 1} of max{p : recall ≥ r} (11 points, PASCAL VOC 2007);
    - 'voc12': area under the precision envelope p_interp(r) = max{p : recall ≥ r} (all points, VOC 2010+);
    - 'coco': mean of the envelope at r ∈ {0, 0.01, …, 1} (101 points), 0 beyond the last recall.
    """
    check_choice(method, "method", ("voc07", "voc12", "coco"))
    p, r = torch.as_tensor(precision, dtype=torch.float64), torch.as_tensor(recall, dtype=torch.float64)
    env = torch.flip(torch.cummax(torch.flip(p, [0]), 0).values, [0])       # max precision at recall >= r_i
    if method == "voc12":
        rr = torch.cat([torch.zeros(1, dtype=torch.float64), r])
        return ((rr[1:] - rr[:-1]) * env).sum().item()
    n = 11 if method == "voc07" else 101
    points = torch.arange(n, dtype=torch.float64) * (1.0 / (n - 1))       # numpy's linspace arithmetic
    points[-1] = 1.0
    idx = torch.searchsorted(r.contiguous(), points, side="left")          # first point with recall >= r
    padded = torch.cat([env, torch.zeros(1, dtype=torch.float64)])
    return padded[idx.clamp(max=len(env))].mean().item()


def average_precision(y_true, y_score, method: str = "sklearn") -> float:
    """AP of binary scores. 'sklearn': Σ (R_n − R_{n−1}) P_n, no interpolation
    (``sklearn.metrics.average_precision_score``); 'voc07', 'voc12', 'coco': see :func:`interpolated_ap`."""
    check_choice(method, "method", ("sklearn", "voc07", "voc12", "coco"))
    precision, recall, _ = precision_recall_curve(y_true, y_score)
    if method == "sklearn":
        return -torch.sum((recall[1:] - recall[:-1]) * precision[:-1]).item()
    return interpolated_ap(precision[:-1].flip(0), recall[:-1].flip(0), method)


def topk_accuracy(logits, target, topk=(1, 5)) -> list[float]:
    """Fraction of samples whose true class is among the k highest logits, for each k (top-5 error = 1 − top-5)."""
    check_tensor(logits, "logits", (2,))
    check_tensor(target, "target", (1,))
    if target.shape[0] != logits.shape[0]:
        raise ValueError(f"logits and target must have the same length, got {logits.shape[0]} and {target.shape[0]}")
    if any(not 1 <= k <= logits.shape[1] for k in topk):
        raise ValueError(f"every k must be in [1, {logits.shape[1]}], got {topk!r}")
    top = logits.topk(max(topk), dim=1).indices
    hit = top == target[:, None]
    return [hit[:, :k].any(1).double().mean().item() for k in topk]


def _regression_pair(y_true, y_pred):
    y_true, y_pred = torch.as_tensor(y_true, dtype=torch.float64), torch.as_tensor(y_pred, dtype=torch.float64)
    if y_true.shape != y_pred.shape or y_true.dim() not in (1, 2) or y_true.shape[0] == 0:
        raise ValueError(f"y_true and y_pred must have the same non-empty shape [n] or [n, outputs], got "
                         f"{tuple(y_true.shape)} and {tuple(y_pred.shape)}")
    if bool(torch.isnan(y_true).any()) or bool(torch.isnan(y_pred).any()):
        raise ValueError("y_true and y_pred must not contain NaN")
    return y_true, y_pred.to(y_true.device)


def mean_squared_error(y_true, y_pred) -> float:
    """MSE = mean (y − ŷ)² (averaged over outputs for 2-D input)."""
    y, yh = _regression_pair(y_true, y_pred)
    return ((y - yh) ** 2).mean().item()


def root_mean_squared_error(y_true, y_pred) -> float:
    """RMSE = √MSE per output, averaged over outputs (as sklearn)."""
    y, yh = _regression_pair(y_true, y_pred)
    return ((y - yh) ** 2).mean(0).sqrt().mean().item()


def mean_absolute_error(y_true, y_pred) -> float:
    """MAE = mean |y − ŷ|."""
    y, yh = _regression_pair(y_true, y_pred)
    return (y - yh).abs().mean().item()


def r2_score(y_true, y_pred) -> float:
    """R² = 1 − SS_res / SS_tot = 1 − MSE / Var(y) per output, averaged. A constant y_true gives 1 for a
    perfect prediction and 0 otherwise (sklearn's force_finite)."""
    y, yh = _regression_pair(y_true, y_pred)
    ss_res = ((y - yh) ** 2).sum(0)
    ss_tot = ((y - y.mean(0)) ** 2).sum(0)
    r2 = torch.where(ss_tot > 0, 1 - ss_res / ss_tot.clamp(min=1e-300),
                     torch.where(ss_res == 0, torch.ones_like(ss_res), torch.zeros_like(ss_res)))
    return r2.mean().item()


def segmentation_scores(pred, target, num_classes: int) -> dict:
    """Semantic-segmentation metrics from the pixel confusion matrix: pixel accuracy = Σ TP / #pixels,
    IoU_c = TP / (TP + FP + FN), mIoU = mean over classes present in pred or target, Dice_c = 2TP / (2TP + FP + FN)
    (= the pixel F1 of class c). pred, target: integer label maps of the same shape."""
    pred, target = torch.as_tensor(pred), torch.as_tensor(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    cm = confusion_matrix(target.reshape(-1), pred.reshape(-1), num_classes=num_classes).double()
    tp, fp, fn = cm.diagonal(), cm.sum(0) - cm.diagonal(), cm.sum(1) - cm.diagonal()
    present = (tp + fp + fn) > 0
    iou = torch.where(present, tp / (tp + fp + fn).clamp(min=1), torch.full_like(tp, float("nan")))
    dice = torch.where(present, 2 * tp / (2 * tp + fp + fn).clamp(min=1), torch.full_like(tp, float("nan")))
    return dict(pixel_accuracy=(tp.sum() / cm.sum()).item(), iou=iou, miou=iou[present].mean().item(), dice=dice)
