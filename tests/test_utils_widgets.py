"""cvbook_lib.utils, the Chapter 1 explorer's pure layer and the exercise checks."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cvbook_lib import exercises, utils, widgets
from cvbook_lib.conv import conv2d_macs, conv2d_params, conv_output_size, separable_conv2d_macs


def test_show_source_is_a_highlighted_block_of_the_real_source():
    import inspect

    from cvbook_lib import conv

    shown = utils.show_source(conv.conv_output_size)
    assert shown.data.startswith("```python\ndef conv_output_size(") and shown.data.endswith("\n```")
    assert inspect.getsource(conv.conv_output_size).rstrip() in shown.data
    with pytest.raises(TypeError, match="obj must be a function or class, got int"):
        utils.show_source(3)


def test_fmt_rounds_and_has_no_negative_zero():
    assert utils.fmt(torch.tensor([1.23456, -0.00001])) == "[1.2346, 0.0]"
    assert utils.fmt(np.array([[0.5, 2.0]]), 1) == "[[0.5, 2.0]]"
    assert utils.fmt(torch.tensor(3.14159), 2) == "3.14"
    assert utils.fmt(7) == "7"
    with pytest.raises(TypeError, match="x must be a tensor"):
        utils.fmt({1: 2})
    with pytest.raises(ValueError, match="decimals must be an int >= 0"):
        utils.fmt(1.0, -1)


def test_seed_and_randn_are_reproducible_and_drawn_on_cpu():
    g1, g2 = utils.seed_everything(3), utils.seed_everything(3)
    assert torch.equal(utils.randn(4, generator=g1), utils.randn(4, generator=g2))
    device, gen = utils.setup_notebook(0)
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert torch.backends.cudnn.allow_tf32 is False
    assert torch.equal(utils.randn(2, 3, generator=gen, device=device).cpu(),
                       torch.randn(2, 3, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        utils.seed_everything(-1)
    with pytest.raises(ValueError, match=r"size\[1\] must be an int >= 0"):
        utils.randn(2, -3)


@pytest.mark.parametrize("size,k,s,p,d", [(7, 3, 2, 1, 1), (5, 3, 1, 0, 2), (9, 4, 3, 2, 1), (4, 1, 1, 0, 1)])
def test_conv_geometry_windows_reproduce_the_convolution(size, k, s, p, d):
    """Summing the input over each window the explorer draws gives F.conv2d with an all-ones kernel."""
    g = widgets.conv_geometry(size, k, s, p, d)
    assert g.out == conv_output_size(size, k, s, p, d)
    x = torch.arange(float(size * size)).reshape(1, 1, size, size)
    padded = F.pad(x, (p, p, p, p))[0, 0]
    drawn = torch.tensor([[padded[list(r)][:, list(c)].sum() for c in g.windows] for r in g.windows])
    assert torch.allclose(drawn, F.conv2d(x, torch.ones(1, 1, k, k), stride=s, padding=p, dilation=d)[0, 0])


@pytest.mark.parametrize("size,k,s,p,d", [(3, 3, 2, 1, 1), (4, 4, 2, 1, 1), (2, 3, 3, 0, 2), (5, 2, 1, 1, 1)])
def test_transposed_geometry_is_the_equivalent_direct_convolution(size, k, s, p, d):
    """Stride-1 windows over the zero-inserted grid, with the flipped kernel, give F.conv_transpose2d."""
    g = widgets.conv_geometry(size, k, s, p, d, transposed=True)
    x = torch.randn(1, 1, size, size, dtype=torch.float64)
    w = torch.randn(1, 1, k, k, dtype=torch.float64)
    grid = torch.zeros(g.grid, g.grid, dtype=torch.float64)
    grid[np.ix_(g.data, g.data)] = x[0, 0]
    wf = w[0, 0].flip(0, 1)
    drawn = torch.stack([torch.stack([(grid[np.ix_(r, c)] * wf).sum() for c in g.windows]) for r in g.windows])
    assert torch.allclose(drawn, F.conv_transpose2d(x, w, stride=s, padding=p, dilation=d)[0, 0])


def test_geometry_and_plot_bad_input():
    with pytest.raises(ValueError, match="larger than the padded input"):
        widgets.conv_geometry(3, 5)
    with pytest.raises(ValueError, match="padding <= dilation"):
        widgets.conv_geometry(5, 3, 2, 3, transposed=True)
    with pytest.raises(ValueError, match="position must be < out"):
        widgets.plot_conv_geometry(widgets.conv_geometry(5, 3), position=9)


def test_animation_is_offline_and_explorer_builds():
    for html in (widgets.conv_animation(4, 3, 1, 0), widgets.conv_sweep_animation("stride", [1, 2], size=5)):
        assert "<input" in html and "http://" not in html and "https://" not in html
        assert 'title="播放"' in html and ">循环</label>" in html and 'title="Play"' not in html
        frames = re.findall(r'"data:image/png;base64,([^"]+)"', html)
        assert frames and all(Image.open(io.BytesIO(base64.b64decode(f))).mode == "P" for f in frames)
    with pytest.raises(ValueError, match="parameter must be one of"):
        widgets.conv_sweep_animation("groups", [1, 2])
    with pytest.raises(ValueError, match="larger than the padded input"):
        widgets.conv_sweep_animation("kernel_size", [3, 9], size=5)
    box = widgets.conv_explorer()
    sliders = [w for row in box.children[:2] for w in row.children]
    assert len(sliders) == 7
    sliders[1].value = 7          # kernel larger than the input: the explorer explains instead of failing
    sliders[1].value = 3


def test_exercise_checks():
    assert exercises.check_conv_output_size(conv_output_size(227, 11, 4))
    assert not exercises.check_conv_output_size(54)
    assert "请给出一个数" in repr(exercises.check_conv_output_size("55"))
    assert repr(exercises.check_transpose_output_size(14)).startswith("✓")
    assert not exercises.check_conv_params(conv2d_params(128, 256, 3))
    assert exercises.check_conv_params(256 * 32 * 9 + 256)
    assert exercises.check_separable_ratio(separable_conv2d_macs(64, 128, 3, 8) / conv2d_macs(64, 128, 3, 8))


@pytest.mark.parametrize("answer", [np.int64(55), np.float32(55.0), np.array(55), np.array([[55]]),
                                    torch.tensor(55), torch.tensor([55.0]), torch.tensor(55.0, requires_grad=True)])
def test_exercise_checks_take_numpy_and_torch_numbers(answer):
    result = exercises.check_conv_output_size(answer)
    assert result, repr(result)
    assert repr(result) in ("✓ AlexNet conv1 的输出边长 = 55", "✓ AlexNet conv1 的输出边长 = 55.0")


@pytest.mark.parametrize("answer", [None, True, np.bool_(True), torch.tensor(True), "55", [55],
                                    np.array([55, 55]), torch.tensor([55, 55]), 55j, float("nan"),
                                    torch.tensor(55.0, device="meta"), np.array("55")])
def test_exercise_checks_reject_what_is_not_one_number(answer):
    result = exercises.check_conv_output_size(answer)
    assert not result and repr(result).startswith("✗")
    if answer is None:
        assert "还没有作答" in repr(result)


def test_every_exercise_check_is_exported_and_rejects_a_placeholder():
    names = [n for n in exercises.__all__ if n.startswith("check_")]
    assert len(names) == len({n for n in dir(exercises) if n.startswith("check_")})
    for name in names:
        result = getattr(exercises, name)(None)
        assert not result and "还没有作答" in repr(result), name


def test_rf_view_matches_the_table_and_pool_view_matches_torch():
    from cvbook_lib import receptive_field as rf

    layers, size = rf.preset("vgg16")
    view = widgets.rf_view(layers, size, 12, (7, 3))
    row = view["rows"][12]
    r0, r1, c0, c1 = view["region"]
    assert (r1 - r0 + 1, c1 - c0 + 1) == (row.rf, row.rf)
    assert c0 == r0 - 4 * row.jump                              # 4 units to the left, jump pixels each
    assert view["clipped"] == (max(r0, 0), min(r1, size - 1), max(c0, 0), min(c1, size - 1))
    x = torch.arange(36.0).reshape(6, 6) % 7
    for k, s, mode in [(2, 2, "max"), (3, 1, "avg"), (3, 3, "max")]:
        v = widgets.pool_view(x, k, s, mode, 1)
        ref = (F.max_pool2d if mode == "max" else F.avg_pool2d)(x[None, None], k, s)[0, 0]
        assert torch.allclose(v["out"], ref)
        if mode == "max":
            assert all(x[i, j] == v["out"].flatten()[n] for n, (i, j) in enumerate(v["argmax"]))
    with pytest.raises(ValueError, match="position must be <"):
        widgets.pool_view(x, 2, 2, "max", 9)
    with pytest.raises(ValueError, match="mode must be one of"):
        widgets.pool_view(x, 2, 2, "median")
    for html in (widgets.rf_animation("zf5"), widgets.pool_animation(x, 2, 2, "avg")):
        assert "<input" in html and "https://" not in html
    assert len(widgets.rf_explorer("alexnet").children) == 3
    assert len(widgets.pool_explorer(x).children) == 3


def test_chapter_2_and_3_exercise_checks():
    from torch import nn

    from cvbook_lib import receptive_field as rf

    assert exercises.check_chain_rf(rf.receptive_field_top_down(rf.parse_layers("conv3, conv3, pool2, conv3, conv3")))
    assert not exercises.check_chain_rf(10)
    assert exercises.check_vgg_jump(2 ** 4) and not exercises.check_vgg_jump(32)
    assert exercises.check_seed000_rf(31) and not exercises.check_seed000_rf(30)
    assert exercises.check_pool_output_size(F.max_pool2d(torch.zeros(1, 1, 112, 112), 3, 2, ceil_mode=True).shape[-1])
    assert exercises.check_gap_head_params(sum(p.numel() for p in nn.Linear(512, 1000).parameters()))
    spp = torch.cat([F.adaptive_max_pool2d(torch.zeros(1, 256, 13, 13), lv).flatten(1) for lv in (1, 2, 3, 6)], 1)
    assert exercises.check_spp_length(spp.shape[1]) and not exercises.check_spp_length(256 * 12)


def test_activation_and_focal_explorers():
    import math

    from cvbook_lib import activations as A

    x, y, dy = widgets.activation_curves("tanh", -2, 2, 5)
    assert torch.allclose(y, torch.tanh(x)) and torch.allclose(dy, 1 - torch.tanh(x) ** 2)
    sig = widgets.gradient_through_depth("sigmoid", 12)
    assert sig.shape == (12,) and sig[0] < 1e-4 * sig[-1]               # vanishing through depth
    he = widgets.gradient_through_depth("relu", 12, gain=math.sqrt(2))
    assert 0.1 < (he[0] / he[-1]).item() < 10                           # He gain keeps it in range
    c = widgets.focal_curves(2.0, 0.25, n=7)
    logit = torch.log(c["p_t"] / (1 - c["p_t"]))
    assert torch.allclose(c["focal"], 0.25 * (1 - c["p_t"]) ** 2 * -torch.log(c["p_t"]))
    assert torch.allclose(c["ce"], -torch.log(A.sigmoid(logit)))
    shares = widgets.loss_shares(*widgets.imbalanced_batch(2000), 2.0, 0.25)
    assert abs(shares["positives"] + shares["hard_negatives"] + shares["easy_negatives"] - 1) < 1e-9
    ce_shares = widgets.loss_shares(*widgets.imbalanced_batch(2000), 0.0, -1)
    assert shares["easy_negatives"] < ce_shares["easy_negatives"] / 10
    for html in (widgets.activation_animation(depth=5), widgets.focal_animation(gammas=(0.0, 2.0))):
        assert "<input" in html and "https://" not in html
    assert len(widgets.activation_explorer().children) == 2 and len(widgets.focal_explorer().children) == 2
    with pytest.raises(ValueError, match="name must be one of"):
        widgets.activation_curves("swish")
    with pytest.raises(ValueError, match="gamma must be a real number >= 0"):
        widgets.focal_curves(-1.0, 0.25)


def test_imbalanced_batch_is_retinanet_like():
    """~100k anchors, ~100 positives: under CE the easy negatives carry most of the loss, under FL
    (γ=2, α=0.25) almost none; the shares are those of an independent per-group sum."""
    logits, targets = widgets.imbalanced_batch()
    assert logits.shape == targets.shape == (100_000,) and int(targets.sum()) == 100
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p = torch.sigmoid(logits)
    p_t = torch.where(targets > 0, p, 1 - p)
    easy = (targets == 0) & (p_t >= 0.9)
    shares = widgets.loss_shares(logits, targets, 0.0, -1)
    assert shares["easy_count"] == int(easy.sum())
    assert shares["easy_negatives"] == pytest.approx((ce[easy].sum() / ce.sum()).item(), rel=1e-9)
    assert shares["easy_negatives"] > 0.5
    assert widgets.loss_shares(logits, targets, 2.0, 0.25)["easy_negatives"] < 0.05
    with pytest.raises(ValueError, match="must leave easy negatives"):
        widgets.imbalanced_batch(100, 0.5, 0.5)
    with pytest.raises(ValueError, match="hard_fraction must be in"):
        widgets.imbalanced_batch(hard_fraction=1.5)


def test_chapter_4_and_5_exercise_checks():
    import math

    assert exercises.check_sigmoid_grad_max(0.25) and not exercises.check_sigmoid_grad_max(1.0)
    assert exercises.check_tanh_grad_at_zero(1.0) and not exercises.check_tanh_grad_at_zero(0.25)
    p = torch.softmax(torch.tensor([1000.0, 1001.0, 1002.0], dtype=torch.float64), 0)
    assert exercises.check_softmax_value(round(p[0].item(), 4))
    q = torch.softmax(torch.tensor([2.0, 0.0, -1.0], dtype=torch.float64), 0)
    assert exercises.check_ce_gradient(q[0].item() - 1) and not exercises.check_ce_gradient(q[0].item())
    assert exercises.check_focal_factor(0.01) and not exercises.check_focal_factor(0.1)
    assert exercises.check_label_smoothing_target(0.91) and not exercises.check_label_smoothing_target(0.9)
    assert exercises.check_prior_bias(math.log(0.01 / 0.99)) and not exercises.check_prior_bias(4.595)


def test_bn_explorer_and_chapter_6_checks():
    from cvbook_lib import norm

    t = widgets.bn_trace(32, 0.1, steps=300)
    # the running estimates are exactly the EMA of the batch statistics (unbiased variance)
    ema_m, ema_v = 0.0, 1.0
    for m, v in zip(t["batch_means"].tolist(), t["batch_vars"].tolist()):
        ema_m, ema_v = 0.9 * ema_m + 0.1 * m, 0.9 * ema_v + 0.1 * v
    assert abs(ema_m - t["running_means"][-1].item()) < 1e-9 and abs(ema_v - t["running_vars"][-1].item()) < 1e-9
    assert abs(t["running_means"][-1].item() - 2.0) < 1.0
    big, small = widgets.bn_trace(256, 0.1), widgets.bn_trace(2, 0.1)
    assert big["batch_means"].std() < small["batch_means"].std() / 5
    with pytest.raises(ValueError, match="batch_size must be an int >= 2"):
        widgets.bn_trace(1, 0.1)
    with pytest.raises(ValueError, match="momentum must be a real number > 0"):
        widgets.bn_trace(8, 0.0)
    assert "<input" in widgets.bn_animation(batch_sizes=(2, 8)) and len(widgets.bn_explorer().children) == 2
    assert exercises.check_bn_params(sum(p.numel() for p in torch.nn.BatchNorm2d(256).parameters()))
    assert not exercises.check_bn_params(1024)
    assert exercises.check_dropout_scale(1 / 0.8) and not exercises.check_dropout_scale(0.8)
    rm = torch.zeros(1)
    for _ in range(3):
        norm.batch_norm(torch.tensor([[1.0], [3.0]]), rm, torch.ones(1), training=True)
    assert exercises.check_running_mean(rm.item()) and not exercises.check_running_mean(2.0)


def test_optimizer_race_and_chapter_7_checks():
    r = widgets.race("ill-conditioned quadratic", steps=200)
    assert set(r) == {"SGD", "momentum 0.9", "Nesterov", "AdaGrad", "RMSProp", "Adam"}
    assert all(v["path"].shape[1] == 2 for v in r.values())
    assert r["Nesterov"]["loss"] < r["SGD"]["loss"]                 # momentum helps on the ill-conditioned bowl
    diverged = widgets.race("ill-conditioned quadratic", lr_scale=10.0, steps=50)
    assert diverged["SGD"]["loss"] > 1e10 and len(diverged["SGD"]["path"]) < 51   # lr beyond 2/L: blows up, cut off
    saddle = widgets.race("saddle", steps=300)
    assert all(v["loss"] < -0.9 for k, v in saddle.items() if k != "SGD")
    with pytest.raises(ValueError, match="surface must be one of"):
        widgets.race("himmelblau")
    with pytest.raises(ValueError, match="momentum must be a real number >= 0.0 and < 1.0"):
        widgets.race("saddle", momentum=1.0)
    assert "<input" in widgets.race_animation(lr_scales=(1.0,)) and len(widgets.race_explorer().children) == 3
    assert exercises.check_adam_first_step(-0.01) and not exercises.check_adam_first_step(-0.05)
    assert exercises.check_momentum_velocity(10) and not exercises.check_momentum_velocity(1)
    assert exercises.check_linear_scaling_lr(0.4) and not exercises.check_linear_scaling_lr(0.2)


def test_init_explorer_and_chapter_8_checks():
    he = widgets.layer_statistics("He (Kaiming) normal", "relu", depth=12, width=128, batch=256)
    tiny = widgets.layer_statistics("N(0, 0.01^2)", "relu", depth=12, width=128, batch=256)
    assert 0.5 < (he["act_std"][-1] / he["act_std"][0]).item() < 2          # He keeps the scale through ReLU layers
    assert (tiny["act_std"][-1] / tiny["act_std"][0]).item() < 1e-6          # a tiny init collapses it
    assert len(he["acts"]) == 12 and torch.allclose(he["grads"][-1], torch.ones_like(he["grads"][-1]))
    with pytest.raises(ValueError, match="init must be one of"):
        widgets.layer_statistics("orthogonal", "relu")
    assert "<input" in widgets.init_animation(depth=3) and len(widgets.init_explorer().children) == 2
    import math

    assert exercises.check_xavier_bound(math.sqrt(6 / 400)) and not exercises.check_xavier_bound(math.sqrt(3 / 400))
    assert exercises.check_he_std(math.sqrt(2 / 4608)) and not exercises.check_he_std(math.sqrt(1 / 4608))
    assert exercises.check_linear_grad(-0.8) and not exercises.check_linear_grad(-0.4)


def test_nms_explorer_and_chapter_10_checks():
    import torchvision.ops as tv

    scene = widgets.crowded_scene()
    view = widgets.nms_view("hard", 0.5, scene=scene)
    kept = tv.nms(scene["boxes"], scene["scores"], 0.5)
    assert torch.equal(view["keep"], kept[scene["scores"][kept] >= 0.25])     # the explorer shows torchvision's NMS
    assert view["n_tp"] + view["n_fp"] == len(view["keep"]) and view["n_tp"] + view["n_missed"] == view["n_gt"]
    loose = widgets.nms_view("hard", 0.8, scene=scene)
    assert loose["n_fp"] > view["n_fp"] and loose["missed_at_any_cut"] <= view["missed_at_any_cut"]
    soft = widgets.nms_view("gaussian", sigma=0.5, score_cut=0.0, scene=scene)
    assert soft["missed_at_any_cut"] == 0 and len(soft["keep"]) > 3 * len(kept)   # decayed, not deleted
    html = widgets.nms_animation(values=(0.3, 0.7))
    assert "<input" in html and "https://" not in html
    assert len(widgets.nms_explorer().children) == 3
    assert exercises.check_iou_value(25 / 175) and not exercises.check_iou_value(0.25)
    assert exercises.check_anchor_count(62 * 37 * 9) and not exercises.check_anchor_count(20000)
    assert exercises.check_roi_pool_start(3) and not exercises.check_roi_pool_start(2)
    assert exercises.check_box_delta_th(0.6931) and not exercises.check_box_delta_th(2.0)


def test_attention_explorer_and_chapter_12_checks():
    import math

    from cvbook_lib.vit import VisionTransformer

    torch.manual_seed(0)
    model = VisionTransformer(8, 2, 1, 10, 16, 2, 2, 2.0)
    image = torch.rand(1, 8, 8)
    v = widgets.attention_view(model, image, layer=1, head=1, query=5)
    ref = model.attention_maps(image[None])[1][0, 1, 5]
    assert torch.allclose(torch.cat([torch.tensor([v["cls"]]), v["grid"].flatten()]), ref, atol=1e-6)
    hot = widgets.attention_view(model, image, query=3, temperature=1e-3)
    cold = widgets.attention_view(model, image, query=3, temperature=1e3)
    assert hot["entropy"] < 0.05 and abs(cold["entropy"] - math.log(17)) < 1e-3     # T → 0 argmax, T → ∞ uniform
    with pytest.raises(ValueError, match="query must be an int >= 0 and <= 16"):
        widgets.attention_view(model, image, query=17)
    assert "<input" in widgets.attention_animation(model, image, queries=(0, 5))
    assert len(widgets.attention_explorer(model, [image, image]).children) == 3
    assert exercises.check_vit_tokens(577) and not exercises.check_vit_tokens(576)
    assert exercises.check_mha_params(4 * 512 * 512 + 4 * 512) and not exercises.check_mha_params(4 * 512 * 512)
    assert exercises.check_qk_variance(64) and not exercises.check_qk_variance(8)
    assert exercises.check_pe_value(math.cos(2)) and not exercises.check_pe_value(math.sin(2))


def test_threshold_explorer_and_chapter_9_checks():
    import sklearn.metrics as skm

    y, s = widgets.scored_dataset(400, 0.25, 1.5, seed=3)
    v = widgets.threshold_view(y, s, 0.6)
    pred = (s >= 0.6).long()
    p, r, f, _ = skm.precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
    assert abs(v["precision"] - p) < 1e-12 and abs(v["recall"] - r) < 1e-12 and abs(v["f1"] - f) < 1e-12
    assert v["tp"] + v["fp"] + v["fn"] + v["tn"] == 400
    low, high = widgets.threshold_view(y, s, 0.0), widgets.threshold_view(y, s, 1.0)
    assert low["recall"] == 1.0 and high["recall"] == 0.0 and low["fpr"] == 1.0
    with pytest.raises(ValueError, match="threshold must be in"):
        widgets.threshold_view(y, s, 1.5)
    assert "<input" in widgets.threshold_animation(y, s, (0.3, 0.7))
    assert len(widgets.threshold_explorer({"a": (y, s)}).children) == 2
    assert exercises.check_imbalanced_accuracy(0.99) and not exercises.check_imbalanced_accuracy(0.5)
    assert exercises.check_f1_value(2 / 3) and not exercises.check_f1_value(0.75)
    assert exercises.check_fbeta_value(2 / 2.8) and not exercises.check_fbeta_value(0.4)
    assert exercises.check_r2_value(0.75) and not exercises.check_r2_value(0.25)


# ----------------------------------------------------------------------------- issue 15: the contract on every input
def _shown(box):
    """The outputs of an explorer's Output widget (the last child of its VBox): (kinds, text)."""
    outputs = box.children[-1].outputs
    return ([o.get("output_type") for o in outputs], "".join(o.get("text", "") for o in outputs))


def test_explorers_write_nothing_to_stdout_and_leave_no_figure(capsys):
    """Outside a kernel an explorer's table and figure go into its Output widget (a PNG), not to stdout:
    rf_explorer used to print its table, and every redraw left a figure open."""
    import matplotlib.pyplot as plt

    from cvbook_lib import utils

    open_before = set(plt.get_fignums())
    box = widgets.rf_explorer("alexnet")
    kinds, text = _shown(box)
    assert kinds == ["stream", "display_data"] and text.startswith("layer") and "conv1" in text
    assert box.children[-1].outputs[1]["data"]["image/png"]
    box.children[0].children[0].value = "custom"
    box.children[0].children[1].value = "conv3, nonsense"           # a typo: the explanation is shown, not raised
    assert _shown(box) == (["stream"], _shown(box)[1]) and "cannot read layer" in _shown(box)[1]
    conv = widgets.conv_explorer(size=5)
    conv.children[0].children[1].value = 7                          # kernel larger than the input
    assert _shown(conv)[0] == ["stream"] and "larger than the padded input" in _shown(conv)[1]
    utils.glue("some_number", 1.5)                                  # outside a kernel: nothing to glue into
    assert utils.show_source(utils.fmt).data.startswith("```python")
    assert capsys.readouterr().out == ""
    assert set(plt.get_fignums()) == open_before


@pytest.mark.parametrize("call, arg", [
    (lambda: widgets.scored_dataset(seed=-1), "seed"),
    (lambda: widgets.scored_dataset(n=-5), "n"),
    (lambda: widgets.scored_dataset(n=True), "n"),
    (lambda: widgets.scored_dataset(separation=float("nan")), "separation"),
    (lambda: widgets.scored_dataset(positive_fraction="0.2"), "positive_fraction"),
    (lambda: widgets.threshold_view(*widgets.scored_dataset(20), float("nan")), "threshold"),
    (lambda: widgets.threshold_view(torch.ones(4, dtype=torch.long), torch.rand(4), 0.5), "y_true"),
    (lambda: widgets.threshold_view(torch.tensor([0, 1]), torch.tensor([0.5, 2.0]), 0.5), "y_score"),
    (lambda: widgets.threshold_view(torch.tensor([0.0, 1.0]), torch.tensor([0.5, 0.2]), 0.5), "y_true"),
    (lambda: widgets.crowded_scene(seed=-1), "seed"),
    (lambda: widgets.crowded_scene(per_object=0), "per_object"),
    (lambda: widgets.nms_view(iou_threshold=1.5), "iou_threshold"),
    (lambda: widgets.nms_view(sigma=0.0), "sigma"),
    (lambda: widgets.nms_view(method="soft"), "method"),
    (lambda: widgets.nms_view(scene="scene"), "scene"),
    (lambda: widgets.layer_statistics("N(0, 1)", "tanh", seed=-3), "seed"),
    (lambda: widgets.layer_statistics("N(0, 1)", "tanh", batch=0), "batch"),
    (lambda: widgets.race("saddle", lr_scale=float("nan")), "lr_scale"),
    (lambda: widgets.race("saddle", beta1=1.0), "beta1"),
    (lambda: widgets.race("saddle", steps=2.0), "steps"),
    (lambda: widgets.bn_trace(8, float("nan")), "momentum"),
    (lambda: widgets.bn_trace(8, True), "momentum"),
    (lambda: widgets.bn_trace(8, 0.1, seed=-1), "seed"),
    (lambda: widgets.focal_curves(2.0, float("nan")), "alpha"),
    (lambda: widgets.focal_curves(float("inf"), 0.25), "gamma"),
    (lambda: widgets.focal_curves(2.0, 1.5), "alpha"),
    (lambda: widgets.imbalanced_batch(seed=-1), "seed"),
    (lambda: widgets.loss_shares(torch.zeros(3), torch.full((3,), 2.0), 2.0, 0.25), "targets"),
    (lambda: widgets.loss_shares(torch.zeros(3), torch.zeros(3, dtype=torch.float64), 2.0, 0.25), "logits"),
    (lambda: widgets.loss_shares(torch.zeros(3, dtype=torch.long), torch.zeros(3), 2.0, 0.25), "logits"),
    (lambda: widgets.activation_curves("relu", lo=float("-inf")), "lo"),
    (lambda: widgets.activation_curves("relu", n=1), "n"),
    (lambda: widgets.gradient_through_depth("relu", seed=-1), "seed"),
    (lambda: widgets.gradient_through_depth("relu", gain=float("nan")), "gain"),
    (lambda: widgets.gradient_through_depth("relu", batch=-2), "batch"),
    (lambda: widgets.conv_geometry(-3, 3), "size"),
    (lambda: widgets.conv_geometry(5, 3, transposed="False"), "transposed"),
    (lambda: widgets.conv_geometry(5, 3, transposed=1), "transposed"),
    (lambda: widgets.conv_sweep_animation("stride", [1, True]), "values"),
    (lambda: widgets.pool_view(torch.zeros(0, 4), 2, 2), "x"),
    (lambda: widgets.pool_view(torch.zeros(4, 4), 5, 1), "kernel_size"),
    (lambda: widgets.pool_view(torch.zeros(4, 4, dtype=torch.long), 2, 2), "x"),
    (lambda: widgets.rf_view("conv3", 32, 0), "layers"),
    (lambda: widgets.rf_view(widgets.receptive_field.rf.preset("zf5")[0], 224, -1), "layer_index"),
    (lambda: widgets.rf_view(widgets.receptive_field.rf.preset("zf5")[0], 224, 0, (0, 500)), "unit"),
    (lambda: widgets.rf_animation("resnet"), "preset"),
    (lambda: widgets.rf_explorer("resnet"), "preset"),
    (lambda: widgets.bn_animation(batch_sizes=(2, 1)), "batch_sizes"),
    (lambda: widgets.race_animation(lr_scales="fast"), "lr_scales"),
    (lambda: widgets.nms_animation("gaussian", values=(0.5, -1.0)), "values"),
    (lambda: widgets.focal_animation(gammas=(0.0, float("nan"))), "gammas"),
    (lambda: widgets.threshold_animation(*widgets.scored_dataset(20), thresholds=(0.5, 2.0)), "thresholds"),
    (lambda: widgets.plot_threshold_view({"tp": 1}), "view"),
    (lambda: widgets.plot_pool_view(widgets.pool_view(torch.zeros(4, 4), 2, 2), axes="ax"), "axes"),
    (lambda: widgets.plot_conv_geometry((5, 3)), "geom"),
    (lambda: widgets.plot_race("saddle", {"SGD": 1.0}), "result"),
])
def test_explorer_functions_refuse_bad_arguments_by_name(call, arg):
    with pytest.raises((ValueError, TypeError)) as err:
        call()
    assert arg in str(err.value), str(err.value)


def test_explorer_functions_take_numpy_ints_and_floats():
    a = widgets.scored_dataset(np.int64(30), np.float64(0.2), 1.5, seed=np.int64(2))
    b = widgets.scored_dataset(30, 0.2, 1.5, seed=2)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert widgets.conv_geometry(np.int64(5), np.int32(3), transposed=np.bool_(False)) == widgets.conv_geometry(5, 3)
    assert widgets.race("saddle", np.float64(1.0), steps=np.int64(3))["Adam"]["path"].shape == (4, 2)
    assert widgets.crowded_scene(seed=2 ** 64 - 1)["boxes"].shape == (45, 4)      # torch's whole seed range


def test_conv_geometry_is_checked_when_built_by_hand():
    g = widgets.conv_geometry(5, 3, 2, 1)
    assert widgets.ConvGeometry(**vars(g)) == g
    with pytest.raises(TypeError, match="transposed must be a bool"):
        widgets.ConvGeometry(**{**vars(g), "transposed": "no"})
    with pytest.raises(ValueError, match=r"data\[0\] must be an int >= 0 and <= 6"):
        widgets.ConvGeometry(**{**vars(g), "data": (9,)})
    with pytest.raises(ValueError, match="windows must be a tuple of out=3 windows"):
        widgets.ConvGeometry(**{**vars(g), "windows": g.windows[:2]})


def _torch_race(surface, momentum, steps):
    """The race's trajectories with torch.optim (same optimizers, same learning rates)."""
    f, start, (lr, alr), _ = widgets.SURFACES[surface]
    makers = [lambda ps: torch.optim.SGD(ps, lr=lr),
              lambda ps: torch.optim.SGD(ps, lr=lr, momentum=momentum),
              lambda ps: torch.optim.SGD(ps, lr=lr, momentum=momentum, nesterov=momentum > 0),
              lambda ps: torch.optim.Adagrad(ps, lr=alr * 3), lambda ps: torch.optim.RMSprop(ps, lr=alr / 3),
              lambda ps: torch.optim.Adam(ps, lr=alr, betas=(0.9, 0.999))]
    paths = []
    for make in makers:
        p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        opt, path = make([p]), [p.detach().clone()]
        for _ in range(steps):
            opt.zero_grad()
            f(p).backward()
            opt.step()
            path.append(p.detach().clone())
        paths.append(torch.stack(path))
    return paths


def test_race_runs_at_zero_momentum_and_matches_torch_optim():
    """The slider's momentum 0 used to fail (Nesterov needs momentum > 0: it is plain SGD there); every
    trajectory equals torch.optim's, step for step."""
    for momentum in (0.0, 0.9):
        ours = widgets.race("ill-conditioned quadratic", momentum=momentum, steps=20)
        for (name, r), path in zip(ours.items(), _torch_race("ill-conditioned quadratic", momentum, 20)):
            torch.testing.assert_close(r["path"], path, msg=name)


def test_bn_trace_is_f_batch_norm():
    t = widgets.bn_trace(6, 0.3, steps=5, seed=4)
    g = torch.Generator().manual_seed(4)
    rm, rv = torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    for i in range(5):
        x = torch.randn(6, 1, generator=g, dtype=torch.float64) * 3.0 + 2.0
        F.batch_norm(x, rm, rv, training=True, momentum=0.3)
        assert t["running_means"][i].item() == pytest.approx(rm.item(), rel=1e-12)
        assert t["running_vars"][i].item() == pytest.approx(rv.item(), rel=1e-12)
    probe = torch.randn(6, 1, generator=g, dtype=torch.float64) * 3.0 + 2.0
    torch.testing.assert_close(t["eval_out"], F.batch_norm(probe, rm, rv, training=False).flatten())
    torch.testing.assert_close(t["train_out"], F.batch_norm(probe, None, None, training=True).flatten())


def test_loss_shares_are_torchvision_focal_loss_shares():
    import torchvision.ops as tv

    logits, targets = widgets.imbalanced_batch(500, 0.02, 0.1, seed=3)
    for gamma, alpha in ((2.0, 0.25), (0.0, -1.0), (1.0, 0.5)):
        shares = widgets.loss_shares(logits, targets, gamma, alpha)
        loss = tv.sigmoid_focal_loss(logits, targets, alpha, gamma)
        assert shares["total"] == pytest.approx(loss.sum().item(), rel=1e-12)
        assert shares["positives"] == pytest.approx((loss[targets > 0].sum() / loss.sum()).item(), rel=1e-12)
    nan = widgets.loss_shares(torch.tensor([float("nan"), 0.0]), torch.tensor([1.0, 0.0]), 2.0, 0.25)
    assert np.isnan(nan["total"]) and np.isnan(nan["positives"])        # NaN logits give NaN, as the loss does


def test_gradient_through_depth_and_layer_statistics_are_autograd_with_torch_init():
    g = torch.Generator().manual_seed(5)
    h = torch.randn(7, 6, generator=g, dtype=torch.float64).requires_grad_()
    out, inputs = h, []
    for _ in range(4):
        inputs.append(out)
        out = torch.tanh(out @ (torch.randn(6, 6, generator=g, dtype=torch.float64) * 1.5 / 6 ** 0.5))
    grads = torch.autograd.grad(out.sum(), inputs)
    ours = widgets.gradient_through_depth("tanh", depth=4, width=6, batch=7, gain=1.5, seed=5)
    torch.testing.assert_close(ours, torch.stack([gr.abs().mean() for gr in grads]))
    stats = widgets.layer_statistics("He (Kaiming) normal", "relu", depth=3, width=8, batch=5, seed=1)
    g = torch.Generator().manual_seed(1)
    h = torch.randn(5, 8, generator=g, dtype=torch.float64)
    for i in range(3):
        w = torch.nn.init.kaiming_normal_(torch.empty(8, 8, dtype=torch.float64), nonlinearity="relu", generator=g)
        h = torch.relu(h @ w.T)
        torch.testing.assert_close(stats["acts"][i], h)


def test_pool_view_follows_f_max_pool2d_on_nan():
    x = torch.arange(16.0).reshape(4, 4)
    x[1, 0] = float("nan")
    v = widgets.pool_view(x, 2, 2)
    out, idx = F.max_pool2d(x[None, None], 2, 2, return_indices=True)
    torch.testing.assert_close(v["out"], out[0, 0], equal_nan=True)
    assert v["argmax"] == [divmod(int(i), 4) for i in idx.flatten()]


def test_attention_view_restores_the_mode_and_refuses_the_wrong_image():
    from cvbook_lib.vit import VisionTransformer

    model = VisionTransformer(8, 2, 1, 10, 16, 2, 2, 2.0).train()
    with pytest.raises(ValueError, match=r"image must have shape \(1, 8, 8\)"):
        widgets.attention_view(model, torch.rand(3, 8, 8))
    with pytest.raises(TypeError, match="image must have the model's dtype torch.float32"):
        widgets.attention_view(model, torch.rand(1, 8, 8, dtype=torch.float64))
    with pytest.raises(TypeError, match="model must be a cvbook_lib.vit.VisionTransformer"):
        widgets.attention_view(torch.nn.Linear(2, 2), torch.rand(1, 8, 8))
    widgets.attention_view(model, torch.rand(1, 8, 8), temperature=float("inf"))
    assert model.training


def test_nms_animation_sweeps_the_threshold_for_linear_soft_nms():
    html = widgets.nms_animation("linear", values=(0.3, 0.7))
    assert "<input" in html


def test_seed_everything_checks_before_seeding_like_numpy():
    import random

    state = random.getstate()
    for bad in (-1, 2 ** 32, True, 1.0, "3"):
        with pytest.raises((ValueError, TypeError), match="seed must be an int"):
            utils.seed_everything(bad)
        assert random.getstate() == state                              # nothing was seeded
    with pytest.raises(ValueError):
        np.random.seed(2 ** 32)                                        # numpy's own bound
    utils.seed_everything(np.int64(2 ** 32 - 1))
    np.random.seed(2 ** 32 - 1)


def test_randn_and_fmt_and_show_source_contract():
    g = torch.Generator().manual_seed(0)
    assert torch.equal(utils.randn((2, 3), generator=g), torch.randn(2, 3, generator=torch.Generator().manual_seed(0)))
    assert utils.randn(np.int64(2), 0).shape == (2, 0)
    with pytest.raises(TypeError, match="dtype must be a floating or complex dtype"):
        utils.randn(2, dtype=torch.long)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        utils.randn(2, generator=0)
    with pytest.raises(ValueError, match="device must be"):
        utils.randn(2, device="gpu0")
    with pytest.raises(TypeError, match=r"size\[0\] must be an int"):
        utils.randn(2.0)
    assert utils.fmt(torch.tensor([1 + 1e-7j, -0.00001 + 2.123456j])) == "[(1+0j), 2.1235j]"
    assert utils.fmt([torch.tensor(1.23456), np.float32(0.5), (1.0, 2.55555)], 2) == "[1.23, 0.5, (1.0, 2.56)]"
    assert utils.fmt(float("nan")) == "nan" and utils.fmt(torch.tensor([float("inf")])) == "[inf]"
    namespace: dict = {}
    exec("def made_up():\n    return 1\n", namespace)
    with pytest.raises(ValueError, match="obj has no source to show"):
        utils.show_source(namespace["made_up"])
    with pytest.raises(TypeError, match="display must be a bool"):
        utils.glue("x", 1, display="no")
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        utils.glue(3, 1)


class _BrokenRepr:
    def __repr__(self):
        raise RuntimeError("no repr")


_ODD_ANSWERS = [None, "55", "", [55], (55,), {55: 1}, float("nan"), float("inf"), -float("inf"), 10 ** 400,
                -10 ** 400, True, False, np.bool_(True), np.float64("nan"), np.int8(-3), np.array([]),
                np.zeros((2, 2)), np.array(None, dtype=object), np.array("x"), torch.tensor([]), torch.zeros(2, 2),
                torch.tensor(1 + 2j), torch.tensor([True]), torch.tensor(float("nan")), torch.empty(1, device="meta"),
                torch.tensor([123.0]).to_sparse(), 1 + 2j, _BrokenRepr(), object(), print, Ellipsis, b"55"]


@pytest.mark.parametrize("name", [n for n in exercises.__all__ if n.startswith("check_")])
def test_every_exercise_check_answers_every_input(name):
    check = getattr(exercises, name)
    for answer in _ODD_ANSWERS:
        result = check(answer)
        assert isinstance(result, exercises.CheckResult) and not result, (name, answer)
        assert repr(result).startswith("✗") and len(repr(result)) < 300


def test_exercise_checks_take_any_real_number():
    from decimal import Decimal
    from fractions import Fraction

    assert exercises.check_focal_factor(Fraction(1, 100)) and exercises.check_focal_factor(Decimal("0.01"))
    assert exercises.check_conv_output_size(np.uint8(55)) and exercises.check_f1_value(np.float16(2 / 3))
    assert not exercises.check_conv_output_size(Decimal("NaN"))
    with pytest.raises(TypeError, match="ok must be a bool"):
        exercises.CheckResult(1, "right")
    with pytest.raises(TypeError, match="message must be a string"):
        exercises.CheckResult(True, None)
    assert exercises.CheckResult(np.bool_(True), "right").ok is True


def test_fast_explorer_paths_equal_the_reference_computations():
    """The explorers' speed-ups compute the same thing: the written-out surface gradients are autograd's, the
    init stds are what INITS draws with, the batch-split focal shares are sigmoid_focal_loss's, bit for bit."""
    from cvbook_lib.losses import sigmoid_focal_loss
    from cvbook_lib.widgets import focal as WF
    from cvbook_lib.widgets import init as WI
    from cvbook_lib.widgets import optim as WO

    assert set(WO._GRADIENTS) == set(widgets.SURFACES)
    for name, (f, *_) in widgets.SURFACES.items():
        p = torch.tensor([[0.3, -1.2], [-1.5, 2.0], [1.7, 0.4]], dtype=torch.float64, requires_grad=True)
        (auto,) = torch.autograd.grad(f(p.T).sum(), p)
        torch.testing.assert_close(torch.stack(WO._GRADIENTS[name](*p.detach().unbind(1)), 1), auto, msg=name)
    assert set(WI._STD) == set(widgets.INITS)
    for name, init in widgets.INITS.items():
        w = init(torch.empty(16, 16, dtype=torch.float64), torch.Generator().manual_seed(2))
        z = torch.randn(16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        assert torch.equal(w, z * WI._STD[name](w)), name
    logits, targets = widgets.imbalanced_batch(3000, 0.02, 0.1, seed=4)
    terms = WF._batch_terms(logits, targets, 0.9)
    for gamma, alpha in ((0.0, -1), (2.0, 0.25), (1.5, 0.0), (5.0, 1.0)):
        loss = sigmoid_focal_loss(logits, targets, alpha, gamma)
        pos, p_t = targets > 0, torch.where(targets > 0, torch.sigmoid(logits), 1 - torch.sigmoid(logits))
        want = dict(positives=(loss[pos].sum() / loss.sum()).item(),
                    hard_negatives=(loss[~pos & (p_t < 0.9)].sum() / loss.sum()).item(),
                    easy_negatives=(loss[~pos & (p_t >= 0.9)].sum() / loss.sum()).item(),
                    easy_count=int((~pos & (p_t >= 0.9)).sum()), total=loss.sum().item())
        assert WF._shares(terms, gamma, alpha) == want == widgets.loss_shares(logits, targets, gamma, alpha)
    # the cached draws are the ones a fresh generator gives, whatever depth came first
    shallow = widgets.layer_statistics("N(0, 1)", "tanh", depth=3, width=8, batch=4, seed=11)
    deep = widgets.layer_statistics("N(0, 1)", "tanh", depth=5, width=8, batch=4, seed=11)
    torch.testing.assert_close(shallow["acts"], deep["acts"][:3])
