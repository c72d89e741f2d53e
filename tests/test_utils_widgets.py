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
    with pytest.raises(ValueError, match="gamma must be >= 0"):
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
    with pytest.raises(ValueError, match="momentum must be in"):
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
    with pytest.raises(ValueError, match="need lr_scale > 0"):
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
    with pytest.raises(ValueError, match="query must be in"):
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
