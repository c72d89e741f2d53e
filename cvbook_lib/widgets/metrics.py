"""The threshold explorer (Chapter 9): move the decision threshold of a scorer and watch the confusion
matrix, precision, recall, F1 and the operating point on the ROC and PR curves.

Integer, bool and complex tensors are refused where floating scores are needed; labels are integer
(or bool) tensors."""

from __future__ import annotations

import torch

from .._checks import check_float, check_int, check_probability, check_tensor
from ..metrics import confusion_matrix, precision_recall_curve, roc_curve
from ._html import animate, axes_or_new, check_axes, check_seed, check_sequence, check_view, show

__all__ = ["scored_dataset", "threshold_view", "plot_threshold_view", "threshold_explorer", "threshold_animation"]


def scored_dataset(n: int = 1000, positive_fraction: float = 0.2, separation: float = 1.5, seed: int = 0):
    """Labels and scores of a binary classifier: positives' scores ~ N(separation, 1), negatives' ~ N(0, 1),
    squashed to (0, 1) with a sigmoid. Returns (y_true Tensor[n] int64, y_score Tensor[n] float64).
    ``n >= 2`` (both classes are always present), ``positive_fraction`` in (0, 1), ``separation`` finite,
    ``seed`` an int in [0, 2**64 - 1]."""
    n = check_int(n, "n", 2)
    positive_fraction = check_float(positive_fraction, "positive_fraction", 0.0, 1.0, min_open=True, max_open=True)
    separation = check_float(separation, "separation", allow_inf=False)
    g = torch.Generator().manual_seed(check_seed(seed))
    n_pos = min(n - 1, max(1, round(n * positive_fraction)))
    y = torch.cat([torch.ones(n_pos, dtype=torch.long), torch.zeros(n - n_pos, dtype=torch.long)])
    z = torch.randn(n, generator=g, dtype=torch.float64) + separation * y
    return y, torch.sigmoid(z)


def _check_scores(y_true, y_score, names=("y_true", "y_score")):
    """y_true: Tensor[n] of 0/1 labels (integer or bool), both classes present; y_score: Tensor[n] of
    probabilities in [0, 1] (floating, no NaN). Returns (y_true as int64, y_score)."""
    check_tensor(y_true, names[0], ndims=(1,))
    if y_true.dtype.is_floating_point or y_true.dtype.is_complex:
        raise TypeError(f"{names[0]} must hold integer (or bool) 0/1 labels, got {y_true.dtype}")
    check_tensor(y_score, names[1], ndims=(1,), kind="float")
    if y_true.shape != y_score.shape or y_true.device != y_score.device:
        raise ValueError(f"{names[0]} and {names[1]} must have the same length and device, got shapes "
                         f"{tuple(y_true.shape)} and {tuple(y_score.shape)}")
    y_true = y_true.long()
    if bool(((y_true != 0) & (y_true != 1)).any()) or int(y_true.sum()) in (0, len(y_true)):
        raise ValueError(f"{names[0]} must hold 0/1 labels with both classes present, got the labels "
                         f"{torch.unique(y_true).tolist()}")
    if not bool(((y_score >= 0) & (y_score <= 1)).all()):
        raise ValueError(f"{names[1]} must hold probabilities in [0, 1] (no NaN)")
    return y_true, y_score


def threshold_view(y_true, y_score, threshold: float) -> dict:
    """Everything the explorer shows at one threshold (predict positive when score >= threshold).

    Args: y_true (Tensor[n] of 0/1 labels, integer or bool, both classes present), y_score (Tensor[n] of
    probabilities in [0, 1]), threshold in [0, 1]. Precision/recall/F1 are those of
    ``sklearn.metrics.precision_recall_fscore_support(zero_division=0)``, the curves those of
    ``roc_curve(drop_intermediate=False)`` and ``precision_recall_curve``. Scores outside [0, 1], NaN
    scores and float labels are refused (scikit-learn takes them).
    """
    y_true, y_score = _check_scores(y_true, y_score)
    threshold = check_probability(threshold, "threshold")
    pred = (y_score >= threshold).long()
    (tn, fp), (fn, tp) = confusion_matrix(y_true, pred, num_classes=2).tolist()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    fpr, tpr, _ = roc_curve(y_true, y_score)
    prec_c, rec_c, _ = precision_recall_curve(y_true, y_score)
    return dict(threshold=threshold, tp=tp, fp=fp, fn=fn, tn=tn, precision=precision, recall=recall, f1=f1,
                fpr=fp / (fp + tn), accuracy=(tp + tn) / len(y_true), roc=(fpr, tpr), pr=(rec_c, prec_c))


def plot_threshold_view(view: dict, axes=None):
    """Confusion matrix, ROC curve and PR curve with the current operating point. ``view``: what
    :func:`threshold_view` returned; ``axes``: three Axes or None. Returns the axes."""
    check_view(view, "view", ("threshold", "tp", "fp", "fn", "tn", "precision", "recall", "f1", "fpr", "roc", "pr"))
    check_axes(axes, "axes", 3)
    axes = axes_or_new(axes, 3, (11, 3.3))
    for ax in axes:
        ax.clear()
    cm = [[view["tn"], view["fp"]], [view["fn"], view["tp"]]]
    axes[0].imshow(cm, cmap="Blues")
    for i in range(2):
        for j in range(2):
            name = ["TN", "FP", "FN", "TP"][2 * i + j]
            axes[0].text(j, i, f"{name}\n{cm[i][j]}", ha="center", va="center", fontsize=9)
    axes[0].set_xticks([0, 1], ["pred 0", "pred 1"])
    axes[0].set_yticks([0, 1], ["true 0", "true 1"])
    axes[0].set_title(f"threshold {view['threshold']:.2f}", fontsize=9)
    axes[1].plot(*view["roc"], color="tab:blue")
    axes[1].plot([0, 1], [0, 1], "k:", lw=0.8)
    axes[1].plot(view["fpr"], view["recall"], "o", color="tab:red")
    axes[1].set_xlabel("FPR")
    axes[1].set_ylabel("TPR (recall)")
    axes[1].set_title("ROC", fontsize=9)
    axes[2].plot(*view["pr"], color="tab:green")
    axes[2].plot(view["recall"], view["precision"], "o", color="tab:red")
    axes[2].set_xlabel("recall")
    axes[2].set_ylabel("precision")
    axes[2].set_ylim(0, 1.05)
    axes[2].set_title(f"PR: P={view['precision']:.2f} R={view['recall']:.2f} F1={view['f1']:.2f}", fontsize=9)
    return axes


def threshold_explorer(datasets: dict):
    """Live explorer (an ``ipywidgets.VBox``): threshold slider and a choice among ``datasets``
    {name: (y_true, y_score)} (each pair as :func:`threshold_view` takes it)."""
    import ipywidgets as W

    if not isinstance(datasets, dict):
        raise TypeError(f"datasets must be a dict {{name: (y_true, y_score)}}, got {type(datasets).__name__}")
    if not datasets:
        raise ValueError("datasets must hold at least one (y_true, y_score) pair, got an empty dict")
    for name, pair in datasets.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"datasets[{name!r}] must be a pair (y_true, y_score), got {type(pair).__name__}")
        _check_scores(*pair, names=(f"datasets[{name!r}][0]", f"datasets[{name!r}][1]"))

    controls = dict(name=W.Dropdown(options=list(datasets), description="data"),
                    threshold=W.FloatSlider(0.5, min=0.0, max=1.0, step=0.01, description="threshold"))
    out = W.Output()

    def redraw(_=None):
        view = threshold_view(*datasets[controls["name"].value], controls["threshold"].value)
        show(out, plot_threshold_view(view)[0].figure)

    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox(list(controls.values())), out])


def threshold_animation(y_true, y_score, thresholds=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)) -> str:
    """Kernel-free explorer: one frame per threshold (each in [0, 1]). Returns self-contained HTML."""
    _check_scores(y_true, y_score)
    thresholds = check_sequence(thresholds, "thresholds", check_probability)
    return animate(lambda i, axes: plot_threshold_view(threshold_view(y_true, y_score, thresholds[i]), axes),
                   len(thresholds), 3, (11, 3.3), adjust=dict(wspace=0.35, bottom=0.18))
