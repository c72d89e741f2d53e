"""The threshold explorer (Chapter 9): move the decision threshold of a scorer and watch the confusion
matrix, precision, recall, F1 and the operating point on the ROC and PR curves."""

from __future__ import annotations

import torch

from ..metrics import confusion_matrix, precision_recall_curve, roc_curve
from ._html import animate

__all__ = ["scored_dataset", "threshold_view", "plot_threshold_view", "threshold_explorer", "threshold_animation"]


def scored_dataset(n: int = 1000, positive_fraction: float = 0.2, separation: float = 1.5, seed: int = 0):
    """Labels and scores of a binary classifier: positives' scores ~ N(separation, 1), negatives' ~ N(0, 1),
    squashed to (0, 1) with a sigmoid. Returns (y_true Tensor[n] int64, y_score Tensor[n] float64)."""
    if not 0 < positive_fraction < 1:
        raise ValueError(f"positive_fraction must be in (0, 1), got {positive_fraction!r}")
    g = torch.Generator().manual_seed(seed)
    n_pos = max(1, round(n * positive_fraction))
    y = torch.cat([torch.ones(n_pos, dtype=torch.long), torch.zeros(n - n_pos, dtype=torch.long)])
    z = torch.randn(n, generator=g, dtype=torch.float64) + separation * y
    return y, torch.sigmoid(z)


def threshold_view(y_true, y_score, threshold: float) -> dict:
    """Everything the explorer shows at one threshold (predict positive when score >= threshold)."""
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
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
    """Confusion matrix, ROC curve and PR curve with the current operating point."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(11, 3.3))
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
    """Live explorer: threshold slider and a choice among ``datasets`` {name: (y_true, y_score)}."""
    import ipywidgets as W
    import matplotlib.pyplot as plt

    controls = dict(name=W.Dropdown(options=list(datasets), description="data"),
                    threshold=W.FloatSlider(0.5, min=0.0, max=1.0, step=0.01, description="threshold"))
    out = W.Output()

    def redraw(_=None):
        with out:
            out.clear_output(wait=True)
            plot_threshold_view(threshold_view(*datasets[controls["name"].value], controls["threshold"].value))
            plt.show()

    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox(list(controls.values())), out])


def threshold_animation(y_true, y_score, thresholds=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)) -> str:
    """Kernel-free explorer: one frame per threshold."""
    return animate(lambda i, axes: plot_threshold_view(threshold_view(y_true, y_score, thresholds[i]), axes),
                   len(thresholds), 3, (11, 3.3), adjust=dict(wspace=0.35, bottom=0.18))
