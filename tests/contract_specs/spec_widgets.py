"""Contract cases for the explorers (cvbook_lib.widgets.*): their pure functions, plots, live explorers
and kernel-free animations.

References where one exists: scikit-learn for the threshold view, torchvision's sigmoid_focal_loss for
the loss shares, F.max_pool2d / F.avg_pool2d for the pooling view, the ViT's own attention maps for the
attention view, F.conv2d / F.conv_transpose2d output sizes for the convolution geometry,
F.batch_norm for the batch-norm trace and torch.optim for the optimizer race. The explorers' own
parameters (ranges of seeds, sizes, thresholds, temperatures ...) are checked where the reference
computes anything: those refusals are listed in ``differs``. Plots, live explorers and animations are
``light`` (only the changes that must be refused are run: they are refused before any figure is drawn).
"""

from types import SimpleNamespace

import numpy as np
import sklearn.metrics as skm
import torch
import torch.nn.functional as F
import torchvision.ops as tvops

from contract_specs import Case
from cvbook_lib import receptive_field as rf
from cvbook_lib.vit import VisionTransformer
from cvbook_lib.widgets import activations as WA
from cvbook_lib.widgets import attention as WT
from cvbook_lib.widgets import conv as WC
from cvbook_lib.widgets import focal as WF
from cvbook_lib.widgets import init as WI
from cvbook_lib.widgets import metrics as WM
from cvbook_lib.widgets import nms as WN
from cvbook_lib.widgets import norm as WB
from cvbook_lib.widgets import optim as WO
from cvbook_lib.widgets import pooling as WP
from cvbook_lib.widgets import receptive_field as WR


def _refused(arg, *mutations, why):
    """``differs`` entries: the explorer refuses these changes of ``arg`` where the reference computes."""
    return {(arg, m): why for m in mutations}


_NON_FINITE = ("nan", "inf", "-inf")


def _comparable(x):
    """``x`` with every string leaf as a tensor of its bytes: the comparison (assert_close) cannot compare a
    dict that holds both tensors and strings."""
    if isinstance(x, str):
        return torch.tensor(list(x.encode()))
    if isinstance(x, dict):
        return {k: _comparable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_comparable(v) for v in x)
    return x


# ----------------------------------------------------------------------------- attention
torch.manual_seed(0)
_VIT = VisionTransformer(4, 2, 1, 2, 8, 1, 2, 1.0)       # 4x4 image, 2x2 patches, one layer of two heads: fast
_IMAGE = torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(1))


def _attention_ref(model, image, layer=0, head=0, query=0, temperature=1.0):
    """The ViT's attention maps (its MultiHeadAttention's weights), re-tempered: softmax(log w / T)."""
    w = model.eval().attention_maps(image[None])[layer][0, head, query].detach()
    w = torch.softmax(w.log() / temperature, -1)
    h, wd = model.patch_embed.grid
    grid = w[1:].reshape(h, wd)
    top = int(grid.argmax())
    return dict(grid=grid, cls=w[0].item(), entropy=(-(w * w.clamp(min=1e-30).log()).sum()).item(),
                top=(top // wd, top % wd), layer=layer, head=head, query=query, temperature=temperature)


_ATTN_DIFFERS = {**_refused("layer", "minus1", why="a negative layer is refused, not counted from the end"),
                 **_refused("head", "minus1", why="a negative head is refused, not counted from the end"),
                 **_refused("query", "minus1", why="a negative query is refused, not counted from the end"),
                 **_refused("temperature", "nan", "zero", "negated", "-inf", why="temperature must be > 0")}
_ATTN_VIEW = WT.attention_view(_VIT, _IMAGE, 0, 1, 3)

# ----------------------------------------------------------------------------- conv geometry


def _geometry_ref(size, kernel_size, stride=1, padding=0, dilation=1, transposed=False):
    """The output side torch's (transposed) convolution produces."""
    x, w = torch.zeros(1, 1, size, size), torch.zeros(1, 1, kernel_size, kernel_size)
    conv = F.conv_transpose2d if transposed else F.conv2d
    return SimpleNamespace(out=conv(x, w, stride=stride, padding=padding, dilation=dilation).shape[-1])


_GEOM = WC.conv_geometry(5, 3, 2, 1)

# ----------------------------------------------------------------------------- focal
_LOGITS, _TARGETS = (t.float() for t in WF.imbalanced_batch(200, 0.05, 0.1))


def _shares_ref(logits, targets, gamma, alpha, easy=0.9):
    loss = tvops.sigmoid_focal_loss(logits, targets, alpha, gamma, reduction="none")
    p = torch.sigmoid(logits)
    p_t = torch.where(targets > 0, p, 1 - p)
    total, pos = loss.sum(), targets > 0
    return dict(positives=(loss[pos].sum() / total).item(),
                hard_negatives=(loss[~pos & (p_t < easy)].sum() / total).item(),
                easy_negatives=(loss[~pos & (p_t >= easy)].sum() / total).item(),
                easy_count=int((~pos & (p_t >= easy)).sum()), total=total.item())


_GAMMA_WHY = "gamma must be a finite number >= 0 (torchvision computes with any)"
_SHARES_DIFFERS = {**_refused("gamma", *_NON_FINITE, "negated", why=_GAMMA_WHY),
                   **_refused("alpha", "nan", "inf", why="alpha must be <= 1 (negative: no weighting), not NaN"),
                   **_refused("easy", *_NON_FINITE, "negated", why="easy is a probability in [0, 1]"),
                   **_refused("targets", *_NON_FINITE, "x1e4", why="targets must be in [0, 1]"),
                   **_refused("targets", "float16", "float64", why="logits and targets must share a dtype"),
                   **_refused("logits", "float16", "float64", why="logits and targets must share a dtype")}

# ----------------------------------------------------------------------------- init


def _stats():
    return WI.layer_statistics("He (Kaiming) normal", "relu", depth=3, width=8, batch=6)


# ----------------------------------------------------------------------------- metrics
_Y, _S = WM.scored_dataset(40, 0.3, 1.0, seed=1)
_S = _S.float()


def _threshold_ref(y_true, y_score, threshold):
    """The same view from scikit-learn."""
    yt, ys = y_true.numpy(), y_score.numpy()
    pred = (ys >= threshold).astype(np.int64)
    tn, fp, fn, tp = (int(v) for v in skm.confusion_matrix(yt, pred, labels=[0, 1]).ravel())
    p, r, f, _ = skm.precision_recall_fscore_support(yt, pred, average="binary", zero_division=0)
    fpr, tpr, _ = skm.roc_curve(yt, ys, drop_intermediate=False)
    prec, rec, _ = skm.precision_recall_curve(yt, ys)
    return dict(threshold=threshold, tp=tp, fp=fp, fn=fn, tn=tn, precision=p, recall=r, f1=f, fpr=fp / (fp + tn),
                accuracy=(tp + tn) / len(yt), roc=(fpr, tpr), pr=(rec, prec))


_THRESHOLD_DIFFERS = {**_refused("threshold", *_NON_FINITE, "negated", why="threshold is a probability in [0, 1]"),
                      **_refused("y_score", "x1e4", why="y_score must hold probabilities in [0, 1]"),
                      **_refused("y_true", "float", why="labels must be integer (or bool), not float")}

# ----------------------------------------------------------------------------- nms
_SCENE = WN.crowded_scene(per_object=2)
_NMS_VIEW = WN.nms_view(scene=_SCENE)

# ----------------------------------------------------------------------------- norm


def _bn_trace_ref(batch_size, momentum, steps=200, seed=0):
    """The same trace with F.batch_norm updating the running statistics."""
    g = torch.Generator().manual_seed(seed)
    rm, rv = torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    rows = []
    for _ in range(steps):
        x = torch.randn(batch_size, 1, generator=g, dtype=torch.float64) * WB.TRUE_STD + WB.TRUE_MEAN
        F.batch_norm(x, rm, rv, training=True, momentum=momentum)
        rows.append((x.mean().item(), x.var().item(), rm.item(), rv.item()))
    probe = torch.randn(batch_size, 1, generator=g, dtype=torch.float64) * WB.TRUE_STD + WB.TRUE_MEAN
    cols = torch.tensor(rows, dtype=torch.float64).T
    return dict(batch_means=cols[0], batch_vars=cols[1], running_means=cols[2], running_vars=cols[3],
                train_out=F.batch_norm(probe, None, None, training=True).flatten(),
                eval_out=F.batch_norm(probe, rm.clone(), rv.clone(), training=False).flatten(),
                batch_size=batch_size, momentum=momentum)


_BN_DIFFERS = {**_refused("batch_size", "zero", why="batch_size must be >= 2 (one value has no variance)"),
               **_refused("momentum", *_NON_FINITE, "zero", "negated", why="momentum must be in (0, 1]"),
               **_refused("steps", "zero", "minus1", why="steps must be >= 1"),
               **_refused("seed", "minus1", why="seeds are ints in [0, 2**64 - 1]")}

# ----------------------------------------------------------------------------- optimizer race


def _race_ref(surface, lr_scale=1.0, momentum=0.9, beta1=0.9, steps=150):
    """The same race with torch.optim."""
    f, start, (lr, alr), _ = WO.SURFACES[surface]
    lr, alr = lr * lr_scale, alr * lr_scale
    makers = {"SGD": lambda ps: torch.optim.SGD(ps, lr=lr),
              f"momentum {momentum:g}": lambda ps: torch.optim.SGD(ps, lr=lr, momentum=momentum),
              "Nesterov": lambda ps: torch.optim.SGD(ps, lr=lr, momentum=momentum, nesterov=momentum > 0),
              "AdaGrad": lambda ps: torch.optim.Adagrad(ps, lr=alr * 3),
              "RMSProp": lambda ps: torch.optim.RMSprop(ps, lr=alr / 3),
              "Adam": lambda ps: torch.optim.Adam(ps, lr=alr, betas=(beta1, 0.999))}
    out = {}
    for name, make in makers.items():
        p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        opt, path = make([p]), [p.detach().clone()]
        for _ in range(steps):
            opt.zero_grad()
            f(p).backward()
            opt.step()
            path.append(p.detach().clone())
            if not torch.isfinite(p).all() or p.abs().max() > 1e6:
                break
        traj = torch.stack(path)
        out[name] = dict(path=traj, loss=float(f(traj[-1])) if torch.isfinite(traj[-1]).all() else float("inf"))
    return out


_RACE_DIFFERS = {**_refused("lr_scale", "nan", "inf", "zero", why="lr_scale must be a finite number > 0"),
                 **_refused("momentum", "nan", "inf", why="momentum must be in [0, 1)"),
                 **_refused("steps", "zero", "minus1", why="steps must be >= 1")}

# ----------------------------------------------------------------------------- pooling
_X = (torch.arange(36.0).reshape(6, 6) * 7 % 11) - 5.0


def _pool_ref(x, kernel_size, stride, mode="max", position=0):
    x4 = x[None, None]
    if mode == "max":
        out, idx = F.max_pool2d(x4, kernel_size, stride, return_indices=True)
        argmax = [divmod(int(i), x.shape[1]) for i in idx.flatten()]
    else:
        out, argmax = F.avg_pool2d(x4, kernel_size, stride), None
    r, c = divmod(position, out.shape[-1])
    window = (r * stride, r * stride + kernel_size, c * stride, c * stride + kernel_size)
    return dict(x=x, out=out[0, 0], mode=mode, kernel_size=kernel_size, stride=stride, position=(r, c),
                window=window, argmax=argmax)


_POOL_DIFFERS = _refused("position", "minus1", why="position is a row-major unit index >= 0")

# ----------------------------------------------------------------------------- receptive field
_VGG, _VGG_SIZE = rf.preset("vgg16")
_RF_VIEW = WR.rf_view(_VGG, _VGG_SIZE, 12, (7, 3))


SPECS = {
    # activations
    WA.activation_curves: [Case(WA.activation_curves, dict(name="tanh", lo=-2.0, hi=2.0, n=5))],
    WA.gradient_through_depth: [Case(WA.gradient_through_depth, dict(name="relu", depth=3, width=4, batch=5,
                                                                     gain=1.0, seed=0))],
    WA.plot_activation: [Case(WA.plot_activation, dict(name="tanh", lo=-2.0, hi=2.0, depth=3), light=True)],
    WA.activation_explorer: [Case(WA.activation_explorer, {}, light=True)],
    WA.activation_animation: [Case(WA.activation_animation, dict(depth=3), light=True)],
    # attention
    WT.attention_view: [Case(WT.attention_view, dict(model=_VIT, image=_IMAGE, layer=0, head=1, query=3,
                                                     temperature=1.0),
                             ref=_attention_ref, differs=_ATTN_DIFFERS, state=lambda: [_VIT], atol=1e-5)],
    WT.plot_attention_view: [Case(WT.plot_attention_view, dict(view=_ATTN_VIEW, image=_IMAGE), light=True)],
    WT.attention_explorer: [Case(WT.attention_explorer, dict(model=_VIT, images=[_IMAGE]), light=True)],
    WT.attention_animation: [Case(WT.attention_animation, dict(model=_VIT, image=_IMAGE, layer=0, head=0,
                                                               queries=(0, 3), temperature=1.0), light=True)],
    # conv
    WC.ConvGeometry: [Case(WC.ConvGeometry, dict(vars(_GEOM)))],
    WC.conv_geometry: [
        Case(WC.conv_geometry, dict(size=5, kernel_size=3, stride=2, padding=1, dilation=1, transposed=False),
             ref=_geometry_ref, out=lambda g: g.out),
        Case(WC.conv_geometry, dict(size=3, kernel_size=3, stride=2, padding=1, dilation=2, transposed=True),
             ref=_geometry_ref, out=lambda g: g.out),
    ],
    WC.plot_conv_geometry: [Case(WC.plot_conv_geometry, dict(geom=_GEOM, position=0), light=True)],
    WC.conv_explorer: [Case(WC.conv_explorer, dict(size=5, kernel_size=3, stride=1, padding=0, dilation=1),
                            light=True)],
    WC.conv_animation: [Case(WC.conv_animation, dict(size=4, kernel_size=3, stride=1, padding=0, dilation=1,
                                                     transposed=False), light=True)],
    WC.conv_sweep_animation: [Case(WC.conv_sweep_animation, dict(parameter="stride", values=(1, 2), size=5,
                                                                 kernel_size=3, stride=1, padding=0, dilation=1,
                                                                 transposed=False), light=True)],
    # focal
    WF.focal_curves: [Case(WF.focal_curves, dict(gamma=2.0, alpha=0.25, n=7))],
    WF.imbalanced_batch: [Case(WF.imbalanced_batch, dict(n=200, positive_fraction=0.05, hard_fraction=0.1,
                                                         seed=0))],
    WF.loss_shares: [Case(WF.loss_shares, dict(logits=_LOGITS, targets=_TARGETS, gamma=2.0, alpha=0.25, easy=0.9),
                          ref=_shares_ref, differs=_SHARES_DIFFERS, float_only={"logits", "targets"},
                          any_values={"logits"}, rtol=1e-5, atol=1e-6)],
    WF.plot_focal: [Case(WF.plot_focal, dict(gamma=2.0, alpha=0.25), light=True)],
    WF.focal_explorer: [Case(WF.focal_explorer, {}, light=True)],
    WF.focal_animation: [Case(WF.focal_animation, dict(gammas=(0.0, 2.0), alpha=0.25), light=True)],
    # init
    WI.layer_statistics: [Case(WI.layer_statistics, dict(init="He (Kaiming) normal", activation="relu", depth=3,
                                                         width=8, batch=6, seed=0), out=_comparable)],
    WI.plot_layer_statistics: [Case(WI.plot_layer_statistics, dict(stats=_stats(), layers=[0, 2]), light=True)],
    WI.init_explorer: [Case(WI.init_explorer, {}, light=True)],
    WI.init_animation: [Case(WI.init_animation, dict(depth=3), light=True)],
    # metrics
    WM.scored_dataset: [Case(WM.scored_dataset, dict(n=50, positive_fraction=0.2, separation=1.5, seed=0))],
    WM.threshold_view: [Case(WM.threshold_view, dict(y_true=_Y, y_score=_S, threshold=0.6), ref=_threshold_ref,
                             differs=_THRESHOLD_DIFFERS, float_only={"y_score"}, rtol=1e-5, atol=1e-6)],
    WM.plot_threshold_view: [Case(WM.plot_threshold_view, dict(view=WM.threshold_view(_Y, _S, 0.5)), light=True)],
    WM.threshold_explorer: [Case(WM.threshold_explorer, dict(datasets={"a": (_Y, _S)}), light=True)],
    WM.threshold_animation: [Case(WM.threshold_animation, dict(y_true=_Y, y_score=_S, thresholds=(0.3, 0.7)),
                                  light=True)],
    # nms
    WN.crowded_scene: [Case(WN.crowded_scene, dict(seed=0, per_object=2))],
    WN.nms_view: [Case(WN.nms_view, dict(method="hard", iou_threshold=0.5, sigma=0.5, score_cut=0.25, scene=_SCENE),
                       out=_comparable),
                  Case(WN.nms_view, dict(method="gaussian", iou_threshold=0.3, sigma=0.5, score_cut=0.1,
                                         scene=_SCENE), out=_comparable)],
    WN.plot_nms_view: [Case(WN.plot_nms_view, dict(view=_NMS_VIEW, scene=_SCENE), light=True)],
    WN.nms_explorer: [Case(WN.nms_explorer, {}, light=True)],
    WN.nms_animation: [Case(WN.nms_animation, dict(method="hard", values=(0.3, 0.7)), light=True)],
    # norm
    WB.bn_trace: [Case(WB.bn_trace, dict(batch_size=4, momentum=0.1, steps=3, seed=0), ref=_bn_trace_ref,
                       differs=_BN_DIFFERS)],
    WB.plot_bn_trace: [Case(WB.plot_bn_trace, dict(trace=WB.bn_trace(4, 0.1, 3)), light=True)],
    WB.bn_explorer: [Case(WB.bn_explorer, {}, light=True)],
    WB.bn_animation: [Case(WB.bn_animation, dict(batch_sizes=(2, 4), momentum=0.1), light=True)],
    # optimizer race
    WO.race: [Case(WO.race, dict(surface="saddle", lr_scale=1.0, momentum=0.9, beta1=0.9, steps=5), ref=_race_ref,
                   differs=_RACE_DIFFERS)],
    WO.plot_race: [Case(WO.plot_race, dict(surface="saddle", result=WO.race("saddle", steps=3)), light=True)],
    WO.race_explorer: [Case(WO.race_explorer, {}, light=True)],
    WO.race_animation: [Case(WO.race_animation, dict(lr_scales=(1.0,)), light=True)],
    # pooling
    WP.pool_view: [Case(WP.pool_view, dict(x=_X, kernel_size=2, stride=2, mode="max", position=1), ref=_pool_ref,
                        differs=_POOL_DIFFERS, float_only={"x"}, any_values={"x"}, out=_comparable),
                   # no any_values for 'avg': with values near ±3.4e38 cvbook_lib.pooling.avg_pool2d sums in float32
                   # (inf, then NaN) where F.avg_pool2d accumulates in float64 on the CPU (pooling's owner knows)
                   Case(WP.pool_view, dict(x=_X, kernel_size=3, stride=1, mode="avg", position=5), ref=_pool_ref,
                        differs=_POOL_DIFFERS, float_only={"x"}, out=_comparable)],
    WP.plot_pool_view: [Case(WP.plot_pool_view, dict(view=WP.pool_view(_X, 2, 2)), light=True)],
    WP.pool_explorer: [Case(WP.pool_explorer, dict(x=_X), light=True)],
    WP.pool_animation: [Case(WP.pool_animation, dict(x=_X, kernel_size=2, stride=2, mode="max"), light=True)],
    # receptive field
    WR.rf_view: [Case(WR.rf_view, dict(layers=_VGG, input_size=_VGG_SIZE, layer_index=12, unit=(7, 3)))],
    WR.plot_rf_view: [Case(WR.plot_rf_view, dict(view=_RF_VIEW), light=True)],
    WR.rf_explorer: [Case(WR.rf_explorer, dict(preset="alexnet"), light=True)],
    WR.rf_animation: [Case(WR.rf_animation, dict(preset="zf5"), light=True)],
}
