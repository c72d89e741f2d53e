"""Input checks of :mod:`cvbook_lib.metrics` (private), following scikit-learn's rules, and numpy's summation order.

Class labels are read as sklearn's ``type_of_target`` reads them: integer, bool and integral floating values
(``0.0``/``1.0``) are labels; non-integral floats are 'continuous' and refused, NaN/inf refused, complex and
strings refused. Every check raises before anything is computed; messages name the argument and quote sklearn's
phrase where sklearn's own tests match one.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from ._checks import _short, check_choice, check_finite, check_float, check_int, check_optional_int, check_tensor


def as_tensor(x, name: str, kind: str, ndims=None) -> torch.Tensor:
    """A tensor from a tensor, numpy array or nested list, of dtype ``kind`` and rank in ``ndims``."""
    if isinstance(x, (np.ndarray, list, tuple)):
        try:
            a = np.ascontiguousarray(x)                                 # lists as numpy reads them (float64)
            if a.dtype.kind in "USO":
                raise TypeError("string and object labels are not supported")
            x = torch.as_tensor(a)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a tensor, a numpy array or a list of numbers, got "
                            f"{type(x).__name__} {_short(x)} ({err})") from None
    elif not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, a numpy array or a list of numbers, got {type(x).__name__} "
                        f"{_short(x)}")
    return check_tensor(x, name, ndims, kind=kind)


def as_labels(x, name: str, ndims=None, sklearn_says="Unknown label type: continuous") -> torch.Tensor:
    """Class labels as int64: integer, bool or integral floating values (sklearn's 'binary'/'multiclass')."""
    x = as_tensor(x, name, "any", ndims)
    if x.is_complex():
        raise TypeError(f"{name} must hold class labels (integer, bool or integral float), got {x.dtype}")
    if x.is_floating_point():
        check_finite(x, name)
        v = x.double()
        bad = (v != v.round()) | (v.abs() > 2.0 ** 53)
        if bool(bad.any()):
            raise ValueError(f"{name} must hold integer-valued class labels, got {v[bad][0].item()!r} (sklearn: "
                             f"{sklearn_says})")
    return x.long()


def label_value(value, name: str) -> int:
    """One class label (pos_label): an int, a bool or an integral float, as sklearn compares labels."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        if not (math.isfinite(value) and float(value).is_integer()):
            raise ValueError(f"{name} must be an integer class label, got {value!r}")
        return int(value)
    try:
        return check_int(value, name)
    except TypeError:
        raise TypeError(f"{name} must be an integer class label (int, bool or integral float), got "
                        f"{type(value).__name__} {_short(value)}") from None


def labels_pair(y_true, y_pred, names=("y_true", "y_pred")):
    """Two 1-D label tensors of the same non-zero length (int64, on y_true's device)."""
    y_true, y_pred = (as_labels(y, n, (1,), "continuous is not supported") for y, n in zip((y_true, y_pred), names))
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same length, got {len(y_true)} and {len(y_pred)}")
    if not len(y_true):
        raise ValueError(f"{names[0]} and {names[1]} are empty: a metric needs at least one sample (as sklearn)")
    return y_true, y_pred.to(y_true.device)


def zero_division_value(zero_division) -> float:
    """sklearn's zero_division: 'warn' (0.0 with a warning), 0, 1 or NaN."""
    if isinstance(zero_division, str) and zero_division == "warn":
        return 0.0
    if isinstance(zero_division, numbers.Real) and not isinstance(zero_division, (bool, np.bool_)) and (
            math.isnan(zero_division) or zero_division in (0, 1)):
        return float(zero_division)
    raise (TypeError if not isinstance(zero_division, (str, numbers.Real)) else ValueError)(
        f"zero_division must be 'warn', 0, 1 or nan (as sklearn), got {_short(zero_division)}")


def scores(y_true, y_score):
    """(labels int64, finite float64 scores), both 1-D of the same non-zero length, on y_score's device."""
    y_true = as_labels(y_true, "y_true", (1,), "continuous format is not supported")
    y_score = as_tensor(y_score, "y_score", "real")
    if y_score.dim() != 1:
        raise ValueError(f"y_score must be 1-D scores, got shape {tuple(y_score.shape)} (2-D multiclass or "
                         "multilabel scores are not supported)")
    if y_true.shape != y_score.shape:
        raise ValueError(f"y_true and y_score must be 1-D of the same length, got shapes {tuple(y_true.shape)} "
                         f"and {tuple(y_score.shape)}")
    if not len(y_true):
        raise ValueError("y_true and y_score are empty: a curve needs at least one sample (as sklearn)")
    if y_score.is_floating_point() and not bool(torch.isfinite(y_score).all()):
        raise ValueError("y_score must be finite scores, got NaN or inf (sklearn: 'Input contains NaN')")
    return y_true.to(y_score.device), y_score.to(torch.float64)


def positives(y_true: torch.Tensor, pos_label, fn: str) -> torch.Tensor:
    """y_true == pos_label as float64, by sklearn's rule: with pos_label None the labels must be {0, 1} or
    {-1, 1} (or one of them) and 1 is positive; otherwise pos_label names the positive class."""
    classes = torch.unique(y_true).tolist()
    if pos_label is None:
        if len(classes) > 2:
            raise ValueError(f"y_true holds {len(classes)} classes {classes[:10]}: multiclass format is not "
                             f"supported by {fn} without pos_label")
        if not any(classes == ok for ok in ([0, 1], [-1, 1], [0], [-1], [1])):
            raise ValueError(f"y_true takes value in {{{', '.join(map(str, classes))}}} and pos_label is not "
                             "specified: either make y_true take value in {0, 1} or {-1, 1} or pass pos_label "
                             "explicitly.")
        pos_label = 1
    return (y_true == pos_label).double()


def pr_points(precision, recall):
    """Check a PR curve: 1-D, same length, values in [0, 1], recall non-decreasing; float64 tensors."""
    p = as_tensor(precision, "precision", "real", (1,)).to(torch.float64)
    r = as_tensor(recall, "recall", "real", (1,)).to(device=p.device, dtype=torch.float64)
    if p.shape != r.shape:
        raise ValueError(f"precision and recall must have the same length, got {len(p)} and {len(r)}")
    for name, v in (("precision", p), ("recall", r)):
        if not bool(((v >= 0) & (v <= 1)).all()):
            raise ValueError(f"{name} must hold values in [0, 1] (no NaN), got min {v.min().item()}, "
                             f"max {v.max().item()}")
    if bool((r[1:] < r[:-1]).any()):
        raise ValueError("recall must be non-decreasing along the points")
    return p, r


def topk_inputs(logits, target, topk):
    """Check top-k accuracy's inputs; returns (logits [N, C] or [N], target int64, ks)."""
    logits = as_tensor(logits, "logits", "real", (1, 2))
    target = as_labels(target, "target", (1,), "y type must be 'binary' or 'multiclass', got 'continuous' instead.")
    if isinstance(topk, (str, bytes)) or not isinstance(topk, (tuple, list)):
        raise TypeError(f"topk must be a tuple of ints >= 1, got {type(topk).__name__} {_short(topk)}")
    ks = [check_int(k, f"topk[{i}]", 1) for i, k in enumerate(topk)]
    if not ks:
        raise ValueError("topk must hold at least one k, got ()")
    N, C = logits.shape[0], (logits.shape[1] if logits.dim() == 2 else 2)
    if target.shape[0] != N:
        raise ValueError(f"logits and target must have the same length, got {N} and {target.shape[0]}")
    if N == 0 or C == 0:
        raise ValueError(f"logits must be non-empty [N, C] scores, got shape {tuple(logits.shape)}")
    check_finite(logits, "logits")
    target = target.to(logits.device)
    n = len(torch.unique(target))
    if logits.dim() == 1 and n > 2:
        raise ValueError(f"logits must be [N, C] scores since target holds {n} classes: `y_score` needs to be of "
                         f"shape `(n_samples, n_classes)` (sklearn), got {tuple(logits.shape)}")
    if bool(((target < 0) | (target >= C)).any()):
        hint = (f"Number of classes in 'y_true' ({n}) not equal to the number of classes in 'y_score' ({C})."
                if n != C else "'y_true' contains labels not in parameter 'labels'.")
        raise ValueError(f"target must hold class indices in [0, {C}) (one per column of logits), got min "
                         f"{target.min().item()}, max {target.max().item()} (sklearn: {hint})")
    return logits, target, ks


def regression_pair(y_true, y_pred):
    """Two finite real tensors of the same non-empty shape [n] or [n, outputs], as float64."""
    y_true, y_pred = as_tensor(y_true, "y_true", "real", (1, 2)), as_tensor(y_pred, "y_pred", "real", (1, 2))
    if y_true.shape != y_pred.shape or y_true.numel() == 0:
        raise ValueError(f"y_true and y_pred must have the same non-empty shape [n] or [n, outputs], got "
                         f"{tuple(y_true.shape)} and {tuple(y_pred.shape)}")
    check_finite(y_true, "y_true")
    check_finite(y_pred, "y_pred")
    return y_true.to(torch.float64), y_pred.to(y_true.device, torch.float64)


def np_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum over dim 0 in numpy's order, so results equal sklearn's to the last bit on CPU float64: numpy adds
    the rows of an [n, k >= 2] array one after another (``cumsum`` is sequential on CPU) and a 1-D (or [n, 1])
    array pairwise: blocks of <= 128 values (halved recursively at multiples of 8) summed with 8 accumulators."""
    if x.dim() == 2 and x.shape[1] > 1:
        return x.cumsum(0)[-1] if len(x) else x.sum(0)
    v, leaves = x.reshape(-1), []
    _blocks(0, len(v), leaves)
    sums = {}
    for size in {n for _, n in leaves}:                              # the blocks of one size at once
        starts = torch.tensor([s for s, n in leaves if n == size], device=v.device)
        block = v[starts[:, None] + torch.arange(size, device=v.device)]
        if size < 8:
            total = block.cumsum(1)[:, -1] if size else block.sum(1)
        else:
            m = size - size % 8
            r = block[:, :m].reshape(len(block), -1, 8).cumsum(1)[:, -1]
            head = ((r[:, 0] + r[:, 1]) + (r[:, 2] + r[:, 3])) + ((r[:, 4] + r[:, 5]) + (r[:, 6] + r[:, 7]))
            total = torch.cat([head[:, None], block[:, m:]], 1).cumsum(1)[:, -1]
        sums.update(zip(starts.tolist(), total.tolist()))
    return torch.tensor(_combine(0, len(v), sums), dtype=v.dtype, device=v.device).reshape(x.shape[1:])


def _blocks(start: int, n: int, out: list) -> None:
    if n <= 128:
        out.append((start, n))
        return
    half = n // 2 - (n // 2) % 8
    _blocks(start, half, out)
    _blocks(start + half, n - half, out)


def _combine(start: int, n: int, sums: dict) -> float:
    """The block sums added as numpy's recursion adds them (Python floats are IEEE doubles: the same bits)."""
    if n <= 128:
        return sums[start]
    half = n // 2 - (n // 2) % 8
    return _combine(start, half, sums) + _combine(start + half, n - half, sums)


def _np_repr(labels) -> str:
    """A list of labels as sklearn's messages print it (a numpy array): [0 1]."""
    return "[" + " ".join(map(str, labels)) + "]"


def confusion_inputs(y_true, y_pred, num_classes):
    """Labels and num_classes of a confusion matrix (sklearn: at least one label of y_true among the classes)."""
    y_true, y_pred = labels_pair(y_true, y_pred)
    num_classes = check_optional_int(num_classes, "num_classes", 1)
    if num_classes is not None and not bool(((y_true >= 0) & (y_true < num_classes)).any()):
        raise ValueError(f"no label of y_true is in [0, num_classes={num_classes}) (sklearn: 'At least one "
                         "label specified must be in y_true')")
    return y_true, y_pred, num_classes


def prf_inputs(y_true, y_pred, beta, average, pos_label, zero_division):
    """Checked (y_true, y_pred, beta, pos_label, zero-division value) of precision_recall_fscore."""
    y_true, y_pred = labels_pair(y_true, y_pred)
    beta = check_float(beta, "beta", 0.0)
    check_choice(average, "average", ("binary", "micro", "macro", "weighted", None))
    pos_label, zd = label_value(pos_label, "pos_label"), zero_division_value(zero_division)
    labels = torch.unique(torch.cat([y_true, y_pred])).tolist()
    if average == "binary" and len(labels) > 2:
        raise ValueError("Target is multiclass but average='binary'. Please choose another average setting, "
                         f"one of [None, 'micro', 'macro', 'weighted'] (y_true and y_pred hold {labels[:10]})")
    if average == "binary" and len(labels) == 2 and pos_label not in labels:
        raise ValueError(f"pos_label={pos_label} is not a valid label. It should be one of {_np_repr(labels)} "
                         "(the labels of y_true and y_pred)")
    return y_true, y_pred, beta, pos_label, zd


def curve_inputs(y_true, y_score, pos_label, fn: str):
    """(y_true == positive class as float64, float64 scores) of roc_curve / precision_recall_curve."""
    y_true, y_score = scores(y_true, y_score)
    pos_label = None if pos_label is None else label_value(pos_label, "pos_label")
    return positives(y_true, pos_label, fn), y_score


def auc_inputs(y_true, y_score):
    """(y_true == the larger label as float64 or None for one class, scores): sklearn's binary ROC AUC rule."""
    y_true, y_score = scores(y_true, y_score)
    classes = torch.unique(y_true)
    if len(classes) > 2:
        raise ValueError(f"y_true holds {len(classes)} classes: multiclass ROC AUC is not supported (sklearn: "
                         "multi_class must be in ('ovo', 'ovr'))")
    return (y_true == classes[1]).double() if len(classes) == 2 else None, y_score


def ap_inputs(y_true, y_score, pos_label):
    """(y_true == pos_label as float64, scores) of average_precision, by sklearn's label rules."""
    y_true, y_score = scores(y_true, y_score)
    pos_label = label_value(pos_label, "pos_label")
    classes = torch.unique(y_true).tolist()
    if len(classes) == 2 and pos_label not in classes:
        raise ValueError(f"pos_label={pos_label} is not a valid label. It should be one of {_np_repr(classes)} "
                         "(the labels of y_true)")
    if len(classes) > 2 and pos_label != 1:
        raise ValueError(f"pos_label={pos_label} with y_true holding {len(classes)} classes: Parameter pos_label "
                         "is fixed to 1 for multiclass y_true. Do not set pos_label or set pos_label to 1.")
    if len(classes) > 2:
        raise ValueError(f"y_true holds {len(classes)} classes, but y_score has shape {tuple(y_score.shape)}: "
                         "`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` contains multiple "
                         "classes (sklearn; multiclass AP is not supported here)")
    return (y_true == pos_label).double(), y_score


def segmentation_inputs(pred, target, num_classes):
    """Label maps of the same non-empty shape with every label in [0, num_classes)."""
    pred, target = as_labels(pred, "pred"), as_labels(target, "target")
    num_classes = check_int(num_classes, "num_classes", 1)
    if pred.shape != target.shape or pred.numel() == 0:
        raise ValueError(f"pred and target must have the same non-empty shape, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    for name, v in (("pred", pred), ("target", target)):
        if bool(((v < 0) | (v >= num_classes)).any()):
            raise ValueError(f"{name} must hold labels in [0, num_classes={num_classes}), got min "
                             f"{v.min().item()}, max {v.max().item()}")
    return pred.to(target.device), target, num_classes
