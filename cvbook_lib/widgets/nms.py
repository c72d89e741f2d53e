"""The NMS explorer (Chapter 10): a crowded synthetic scene, its raw detections, and what NMS or
Soft-NMS keeps at a given IoU threshold / σ — with true positives, duplicates and missed people counted."""

from __future__ import annotations

import torch

from .._checks import check_choice, check_float, check_int, check_probability, check_tensor
from ..boxes import box_iou, nms, soft_nms
from ..detection_metrics import greedy_match
from ._html import animate, axes_or_new, check_axes, check_seed, check_sequence, check_view, show

_METHODS = ("hard", "linear", "gaussian")

__all__ = ["crowded_scene", "nms_view", "plot_nms_view", "nms_explorer", "nms_animation"]


def crowded_scene(seed: int = 0, per_object: int = 6):
    """A row of pedestrians, some standing close behind each other (IoU up to ~0.6), and the jittered,
    scored detections a detector would emit around each (plus a few background false alarms).

    ``seed``: an int in [0, 2**64 - 1]; ``per_object`` >= 1 detections per person.
    Returns: dict(gt Tensor[G, 4], boxes Tensor[N, 4], scores Tensor[N], owner Tensor[N] (-1 = background)).
    """
    g = torch.Generator().manual_seed(check_seed(seed))
    per_object = check_int(per_object, "per_object", 1)
    xs = torch.tensor([20.0, 70.0, 85.0, 150.0, 175.0, 230.0, 236.0])      # left edges: close pairs overlap
    ys = torch.tensor([30.0, 34.0, 40.0, 28.0, 36.0, 30.0, 40.0])
    gt = torch.stack([xs, ys, xs + 40, ys + 100], 1)
    boxes, scores, owner = [], [], []
    for i, b in enumerate(gt):
        jitter = torch.randn(per_object, 4, generator=g) * 4.0
        boxes.append(b + jitter)
        scores.append((0.95 - 0.08 * torch.arange(per_object) - 0.04 * torch.rand(per_object, generator=g)) *
                      (0.75 if i in (2, 6) else 1.0))                     # people half hidden score lower
        owner += [i] * per_object
    bg = torch.rand(3, 2, generator=g) * torch.tensor([250.0, 60.0])
    boxes.append(torch.cat([bg, bg + torch.tensor([35.0, 80.0])], 1))
    scores.append(torch.tensor([0.35, 0.3, 0.25]))
    owner += [-1] * 3
    boxes = torch.cat(boxes)
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    return dict(gt=gt, boxes=boxes, scores=torch.cat(scores), owner=torch.tensor(owner))


def _match(boxes, scores, gt, iou_match=0.5):
    """COCO's greedy matching (by score; each person matched once, by the unmatched one with the highest
    IoU >= 0.5). Returns (tp Tensor[N] bool in the input order, matched Tensor[G] bool)."""
    order = torch.sort(scores, descending=True, stable=True).indices
    match = greedy_match(box_iou(boxes[order], gt) if len(boxes) else torch.zeros(0, len(gt)), iou_match)
    tp = torch.zeros(len(boxes), dtype=torch.bool)
    tp[order] = match >= 0
    matched = torch.zeros(len(gt), dtype=torch.bool)
    matched[match[match >= 0]] = True
    return tp, matched


def _check_scene(scene, name: str = "scene") -> dict:
    """A dict like :func:`crowded_scene`'s: gt (Tensor[G, 4]), boxes (Tensor[N, 4]), scores (Tensor[N])."""
    check_view(scene, name, ("gt", "boxes", "scores"))
    check_tensor(scene["gt"], f"{name}['gt']", ndims=(2,), kind="float")
    check_tensor(scene["boxes"], f"{name}['boxes']", ndims=(2,), kind="float")
    check_tensor(scene["scores"], f"{name}['scores']", ndims=(1,), kind="float")
    if scene["gt"].shape[-1] != 4 or scene["boxes"].shape[-1] != 4 or len(scene["scores"]) != len(scene["boxes"]):
        raise ValueError(f"{name} must hold gt Tensor[G, 4], boxes Tensor[N, 4] and scores Tensor[N], got shapes "
                         f"{[tuple(scene[k].shape) for k in ('gt', 'boxes', 'scores')]}")
    return scene


def nms_view(method: str = "hard", iou_threshold: float = 0.5, sigma: float = 0.5, score_cut: float = 0.25,
             scene=None) -> dict:
    """Everything the explorer shows: the boxes kept (score >= score_cut after NMS / Soft-NMS), which are
    true positives, and the counts. method: 'hard' (NMS), 'linear' or 'gaussian' (Soft-NMS);
    ``iou_threshold`` and ``score_cut`` in [0, 1], ``sigma`` > 0; ``scene``: a dict like :func:`crowded_scene`'s
    (None: the default scene)."""
    check_choice(method, "method", _METHODS)
    iou_threshold = check_probability(iou_threshold, "iou_threshold")
    sigma = check_float(sigma, "sigma", 0.0, min_open=True)
    score_cut = check_probability(score_cut, "score_cut")
    scene = _check_scene(scene) if scene is not None else crowded_scene()
    boxes, scores, gt = scene["boxes"], scene["scores"], scene["gt"]
    if method == "hard":
        keep = nms(boxes, scores, iou_threshold)
        new_scores = scores[keep]
    else:
        keep, new_scores = soft_nms(boxes, scores, iou_threshold, sigma, 0.001, method)
    missed_at_any_cut = int((~_match(boxes[keep], new_scores, gt)[1]).sum())   # gone for good, whatever the cut
    shown = new_scores >= score_cut
    keep, new_scores = keep[shown], new_scores[shown]
    tp, matched = _match(boxes[keep], new_scores, gt)
    return dict(keep=keep, scores=new_scores, tp=tp, matched=matched, n_tp=int(tp.sum()),
                n_fp=int((~tp).sum()), n_missed=int((~matched).sum()), missed_at_any_cut=missed_at_any_cut,
                n_gt=len(gt), n_raw=len(boxes),
                method=method, iou_threshold=iou_threshold, sigma=sigma, score_cut=score_cut)


def plot_nms_view(view: dict, scene=None, axes=None):
    """Left: the raw detections (shade = score). Right: what survives, green = true positive, red = duplicate
    or false alarm; dashed black = the people (ground truth). ``view``: what :func:`nms_view` returned for
    ``scene`` (None: the default scene); ``axes``: two Axes or None. Returns the axes."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    check_view(view, "view", ("keep", "scores", "tp", "n_raw", "n_tp", "n_fp", "n_missed", "n_gt", "method",
                              "iou_threshold", "sigma", "score_cut"))
    scene = _check_scene(scene) if scene is not None else crowded_scene()
    check_axes(axes, "axes", 2)
    axes = axes_or_new(axes, 2, (11, 3.6))
    for ax in axes:
        ax.clear()
        for b in scene["gt"].tolist():
            ax.add_patch(Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, ls="--", lw=1.2, ec="black"))
        ax.set_xlim(0, 300)
        ax.set_ylim(160, 0)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    cmap = plt.get_cmap("viridis")
    for b, s in zip(scene["boxes"].tolist(), scene["scores"].tolist()):
        axes[0].add_patch(Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, lw=0.8, ec=cmap(s)))
    axes[0].set_title(f"before: {view['n_raw']} detections", fontsize=9)
    for i, s, ok in zip(view["keep"].tolist(), view["scores"].tolist(), view["tp"].tolist()):
        b = scene["boxes"][i].tolist()
        color = "tab:green" if ok else "tab:red"
        axes[1].add_patch(Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, lw=1.6, ec=color))
        axes[1].text(b[0] + 1, b[1] + 7, f"{s:.2f}", fontsize=6, color=color)
    name = "NMS" if view["method"] == "hard" else f"Soft-NMS ({view['method']}, sigma={view['sigma']:g})"
    if view["method"] != "gaussian":                                 # the Gaussian decay has no threshold
        name += f", IoU thr={view['iou_threshold']:g}"
    axes[1].set_title(f"{name}: TP {view['n_tp']}, FP {view['n_fp']}, "
                      f"missed {view['n_missed']}/{view['n_gt']} (score >= {view['score_cut']:g})", fontsize=9)
    return axes


def nms_explorer():
    """Live explorer (an ``ipywidgets.VBox``): method, IoU threshold, σ and the score cut-off for display."""
    import ipywidgets as W

    scene = crowded_scene()
    controls = dict(method=W.Dropdown(options=["hard", "linear", "gaussian"], value="hard", description="method"),
                    iou_threshold=W.FloatSlider(0.5, min=0.0, max=1.0, step=0.05, description="IoU thr"),
                    sigma=W.FloatSlider(0.5, min=0.05, max=2.0, step=0.05, description="sigma"),
                    score_cut=W.FloatSlider(0.25, min=0.0, max=0.9, step=0.05, description="show >="))
    out = W.Output()

    def redraw(_=None):
        view = nms_view(scene=scene, **{k: c.value for k, c in controls.items()})
        show(out, plot_nms_view(view, scene)[0].figure)

    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox(list(controls.values())[:2]), W.HBox(list(controls.values())[2:]), out])


def nms_animation(method: str = "hard", values=(0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)) -> str:
    """Kernel-free explorer: one frame per IoU threshold (``values`` in [0, 1]; methods 'hard' and 'linear')
    or per σ (``values`` > 0; Soft-NMS 'gaussian'). Returns self-contained HTML."""
    check_choice(method, "method", _METHODS)
    key = "sigma" if method == "gaussian" else "iou_threshold"
    values = check_sequence(values, "values", (lambda v, name: check_float(v, name, 0.0, min_open=True))
                            if key == "sigma" else check_probability)
    scene = crowded_scene()

    def draw(i, axes):
        kw = {key: values[i]}
        plot_nms_view(nms_view(method, scene=scene, **kw), scene, axes)

    return animate(draw, len(values), 2, (11, 3.6), adjust=dict(wspace=0.05, left=0.02, right=0.98))
