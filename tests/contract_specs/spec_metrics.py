"""Contract cases for cvbook_lib.metrics (reference: scikit-learn, called on numpy copies of the inputs).

Class labels may be integer, bool or integral float tensors, as sklearn reads them, so the float and bool
changes of a label argument are compared with sklearn. Deliberate differences (declared below, documented in the
module docstring): bool scores / regression targets are refused (sklearn reads them as 0/1); segmentation labels
outside [0, num_classes) are refused.
"""

import numpy as np
import sklearn.metrics as skm
import torch

from contract_specs import Case
from cvbook_lib import metrics as M

g = torch.Generator().manual_seed(0)
y_true = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0])
y_pred = torch.tensor([0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0])
y3_true = torch.tensor([0, 1, 2, 2, 1, 0, 2, 1, 0, 2, 1, 0])
y3_pred = torch.tensor([0, 2, 2, 1, 1, 0, 2, 1, 0, 0, 1, 2])
score = torch.rand(12, generator=g)
logits = torch.randn(10, 4, generator=g)
target = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0, 1, 2])
reg_true = torch.randn(9, generator=g, dtype=torch.float64)
reg_pred = torch.randn(9, generator=g, dtype=torch.float64)
reg2_true = torch.randn(9, 2, generator=g, dtype=torch.float64)
reg2_pred = torch.randn(9, 2, generator=g, dtype=torch.float64)
seg_pred = torch.randint(0, 3, (2, 4, 4), generator=g)
seg_target = torch.randint(0, 3, (2, 4, 4), generator=g)
rec = torch.tensor([0.1, 0.2, 0.2, 0.5, 0.7, 0.9], dtype=torch.float64)
prec = torch.tensor([1.0, 0.9, 0.7, 0.8, 0.6, 0.5], dtype=torch.float64)


def _np(x):
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _ref_cm(y_true, y_pred, num_classes=None):
    labels = None if num_classes is None else np.arange(num_classes)
    return skm.confusion_matrix(_np(y_true), _np(y_pred), labels=labels)


def _ref_prf(y_true, y_pred, beta=1.0, average="binary", pos_label=1, zero_division="warn"):
    return skm.precision_recall_fscore_support(_np(y_true), _np(y_pred), beta=beta, average=average,
                                               pos_label=pos_label, zero_division=zero_division)


def _ref_roc(y_true, y_score, pos_label=None):
    return skm.roc_curve(_np(y_true), _np(y_score), pos_label=pos_label, drop_intermediate=False)


def _ref_auc(y_true, y_score):
    return skm.roc_auc_score(_np(y_true), _np(y_score))


def _ref_pr(y_true, y_score, pos_label=None):
    return skm.precision_recall_curve(_np(y_true), _np(y_score), pos_label=pos_label)


def _ref_ap(y_true, y_score, method="sklearn", pos_label=1):
    assert method == "sklearn"
    return skm.average_precision_score(_np(y_true), _np(y_score), pos_label=pos_label)


def _ref_topk(logits, target, topk=(1, 5)):
    s = _np(logits)
    return [skm.top_k_accuracy_score(_np(target), s, k=k, labels=np.arange(s.shape[1])) for k in topk]


def _ref_topk_binary(logits, target, topk=(1, 5)):
    """1-D scores of class 1: sklearn's binary rule, with labels=[0, 1] (cvbook's classes are the columns)."""
    return [skm.top_k_accuracy_score(_np(target), _np(logits), k=k, labels=[0, 1]) for k in topk]


def _ref_seg(pred, target, num_classes):
    t, p, labels = _np(target).ravel(), _np(pred).ravel(), np.arange(num_classes)
    absent = ~np.isin(labels, np.union1d(t, p))  # 0/0: a class in neither map has no IoU (NaN)
    iou = np.where(absent, np.nan, skm.jaccard_score(t, p, labels=labels, average=None, zero_division=0))
    dice = np.where(absent, np.nan, skm.f1_score(t, p, labels=labels, average=None, zero_division=0))
    return dict(pixel_accuracy=skm.accuracy_score(t, p), iou=iou, miou=np.nanmean(iou), dice=dice)


def _sk(fn):
    def ref(y_true, y_pred):
        return fn(_np(y_true), _np(y_pred))
    return ref


_SCORES = dict(arraylike={"y_true", "y_score"}, differs={("y_score", "bool"): "bool scores are refused"})
# pos_label is a class label: like sklearn, a bool label (True == 1) is accepted, so the 'bool' change is no error
_POS = dict(skip={"pos_label": {"bool"}}, **_SCORES)
_LABELS = dict(arraylike={"y_true", "y_pred"})
_PRF = dict(skip={"pos_label": {"bool"}}, **_LABELS)  # as above: pos_label=True is the label 1, as in sklearn
_REG = dict(arraylike={"y_true", "y_pred"},
            differs={("y_true", "bool"): "bool targets are refused", ("y_pred", "bool"): "bool targets are refused"})

SPECS = {
    M.confusion_matrix: [
        Case(M.confusion_matrix, dict(y_true=y3_true, y_pred=y3_pred), ref=_ref_cm, **_LABELS),
        Case(M.confusion_matrix, dict(y_true=y3_true, y_pred=y3_pred, num_classes=4), ref=_ref_cm,
             optional={"num_classes"},  # None is the default (the machinery does not infer it from the signature)
             **_LABELS),
    ],
    M.precision_recall_fscore: [
        Case(M.precision_recall_fscore, dict(y_true=y_true, y_pred=y_pred, beta=1.0, average="binary", pos_label=1),
             ref=_ref_prf, **_PRF),
        Case(M.precision_recall_fscore, dict(y_true=y_true, y_pred=y_pred, average="binary", pos_label=0),
             ref=_ref_prf, **_PRF),
        Case(M.precision_recall_fscore, dict(y_true=y3_true, y_pred=y3_pred, beta=2.0, average="macro", pos_label=1),
             ref=_ref_prf, **_PRF),
        Case(M.precision_recall_fscore, dict(y_true=y3_true, y_pred=y3_pred, beta=0.5, average="weighted"),
             ref=_ref_prf, **_LABELS),
        Case(M.precision_recall_fscore, dict(y_true=y3_true, y_pred=y3_pred, average=None), ref=_ref_prf, **_LABELS),
        Case(M.precision_recall_fscore, dict(y_true=y3_true, y_pred=y3_pred, average="micro"), ref=_ref_prf, **_LABELS),
        # class 2 never predicted: a 0/0 precision, set to zero_division (sklearn: 'warn', 0, 1 or nan)
        *[Case(M.precision_recall_fscore, dict(y_true=y3_true, y_pred=y3_pred.clamp(max=1), average=a,
                                               zero_division=z), ref=_ref_prf,
               skip={"zero_division": {"int"}},  # 1 is a valid zero_division (as sklearn), not a wrong type
               **_LABELS)
          for a, z in (("macro", "warn"), ("weighted", 1.0), (None, 0.0), ("macro", float("nan")))],
    ],
    M.roc_curve: [Case(M.roc_curve, dict(y_true=y_true, y_score=score), ref=_ref_roc, **_SCORES),
                  Case(M.roc_curve, dict(y_true=y3_true, y_score=score, pos_label=2), ref=_ref_roc, **_POS)],
    M.roc_auc_score: [Case(M.roc_auc_score, dict(y_true=y_true, y_score=score), ref=_ref_auc, **_SCORES),
                      Case(M.roc_auc_score, dict(y_true=y_true * 3 + 2, y_score=score), ref=_ref_auc, **_SCORES)],
    M.precision_recall_curve: [
        Case(M.precision_recall_curve, dict(y_true=y_true, y_score=score), ref=_ref_pr, **_SCORES),
        Case(M.precision_recall_curve, dict(y_true=2 * y_true - 1, y_score=score, pos_label=-1), ref=_ref_pr, **_POS),
    ],
    M.average_precision: [
        Case(M.average_precision, dict(y_true=y_true, y_score=score, method="sklearn"), ref=_ref_ap, **_SCORES),
        Case(M.average_precision, dict(y_true=y_true, y_score=score, method="sklearn", pos_label=0), ref=_ref_ap,
             **_POS),
        Case(M.average_precision, dict(y_true=y_true, y_score=score, method="coco"), arraylike={"y_true", "y_score"}),
    ],
    M.interpolated_ap: [
        Case(M.interpolated_ap, dict(precision=prec, recall=rec, method=m), arraylike={"precision", "recall"})
        for m in ("voc07", "voc12", "coco")
    ],
    M.topk_accuracy: [
        Case(M.topk_accuracy, dict(logits=logits, target=target, topk=(1, 2)), ref=_ref_topk,
             arraylike={"logits", "target"}, differs={("logits", "bool"): "bool scores are refused"}),
        Case(M.topk_accuracy, dict(logits=score, target=y_true, topk=(1, 2)), ref=_ref_topk_binary,
             arraylike={"logits", "target"}, differs={("logits", "bool"): "bool scores are refused"}),
    ],
    M.mean_squared_error: [Case(M.mean_squared_error, dict(y_true=reg_true, y_pred=reg_pred),
                                ref=_sk(skm.mean_squared_error), **_REG),
                           Case(M.mean_squared_error, dict(y_true=reg2_true, y_pred=reg2_pred),
                                ref=_sk(skm.mean_squared_error), **_REG)],
    M.root_mean_squared_error: [Case(M.root_mean_squared_error, dict(y_true=reg2_true, y_pred=reg2_pred),
                                     ref=_sk(skm.root_mean_squared_error), **_REG)],
    M.mean_absolute_error: [Case(M.mean_absolute_error, dict(y_true=reg_true, y_pred=reg_pred),
                                 ref=_sk(skm.mean_absolute_error), **_REG)],
    M.r2_score: [Case(M.r2_score, dict(y_true=reg_true, y_pred=reg_pred), ref=_sk(skm.r2_score), **_REG),
                 Case(M.r2_score, dict(y_true=reg2_true, y_pred=reg2_pred), ref=_sk(skm.r2_score), **_REG)],
    M.segmentation_scores: [
        Case(M.segmentation_scores, dict(pred=seg_pred, target=seg_target, num_classes=4), ref=_ref_seg,
             arraylike={"pred", "target"},
             differs={**{(n, m): "labels outside [0, num_classes) are refused (sklearn counts them as misses)"
                         for n in ("pred", "target") for m in ("too-big", "negative")},
                      **{(n, "rank+"): "pred and target must have the same shape (the reference flattens both)"
                         for n in ("pred", "target")},
                      **{("num_classes", m): "num_classes must be >= 1 (the reference has no classes to score)"
                         for m in ("zero", "minus1")}}),
    ],
}
