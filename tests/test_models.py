"""cvbook_lib.models.classic, .densenet and .segmentation.

AlexNet, VGG-11/16 (± BN) and DenseNet-121 against torchvision: the same state_dict keys in the same order
with the same shapes, the same module tree (repr), the same initialisation under the same seed, strict
``load_state_dict(tv.state_dict())`` and equal logits (eval and train mode), parameter counts equal to
torchvision's published ``weights.meta["num_params"]``. The big models are built once each (module-scoped
fixture, one at a time); the variants are compared on the meta device (no memory, no init cost).
Highway, FCN-8s and UNet: the paper's formula by hand, parameter counts from the layer lists, the bilinear
upsampling against ``F.interpolate``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from cvbook_lib.models import classic as C
from cvbook_lib.models import densenet as D
from cvbook_lib.models import segmentation as S

OURS = {
    "alexnet": C.alexnet,
    "vgg11": C.vgg11,
    "vgg11_bn": C.vgg11_bn,
    "vgg16": C.vgg16,
    "vgg16_bn": C.vgg16_bn,
    "densenet121": D.densenet121,
}
# Built under the same seed by both libraries (the init scheme is compared); the others (the same VGG class)
# are built by torchvision only and loaded into ours made on the meta device, to keep the file fast.
SEEDED = ("alexnet", "vgg11_bn", "densenet121")


pytestmark = pytest.mark.usefixtures("one_thread")


def _tv(name, **kw):
    if name == "densenet121" and "growth_rate" in kw:  # torchvision's densenet121() sets growth_rate itself
        return torchvision.models.DenseNet(kw.pop("growth_rate"), (6, 12, 24, 16), 64, **kw)
    return getattr(torchvision.models, name)(**kw)


@pytest.fixture(scope="module")
def pair(request):
    """(ours, torchvision's, seeded) for one architecture; pytest builds one architecture at a time."""
    name = request.param
    if name in SEEDED:
        torch.manual_seed(0)
        ours = OURS[name]()
        torch.manual_seed(0)
        tv = _tv(name)
    else:  # init_weights=False: the constructors' default init only, half the cost of building VGG-16
        tv = _tv(name, init_weights=False)
        with torch.device("meta"):
            ours = OURS[name]()
        ours.to_empty(device="cpu")
    return ours, tv, name in SEEDED


def _randomise_norms(model: nn.Module, seed: int = 1) -> None:
    """Non-trivial BN affine parameters and running statistics (their defaults are 1, 0, 0, 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(1 + 0.2 * torch.randn(c, generator=g))
                m.bias.copy_(0.2 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.2 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))


@pytest.mark.parametrize("pair", list(OURS), indirect=True)
def test_state_dict_keys_order_and_shapes(pair):
    ours, tv, _ = pair
    a, b = ours.state_dict(), tv.state_dict()
    assert list(a) == list(b)
    assert [v.shape for v in a.values()] == [v.shape for v in b.values()]
    assert repr(ours) == repr(tv)  # the same module tree, layer for layer


@pytest.mark.parametrize("pair", SEEDED, indirect=True)
def test_same_initialisation_under_the_same_seed(pair):
    ours, tv, _ = pair
    b = tv.state_dict()
    for k, v in ours.state_dict().items():
        assert torch.equal(v, b[k]), k


@pytest.mark.parametrize("pair", list(OURS), indirect=True)
def test_strict_load_gives_equal_logits(pair):
    ours, tv, _ = pair
    _randomise_norms(tv)
    result = ours.load_state_dict(tv.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    size = 63 if isinstance(tv, torchvision.models.AlexNet) else 32  # the smallest images each network takes
    x = torch.randn(2, 3, size, size + 5, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours.eval(), tv.eval()
        expected = tv(x)
        assert expected.shape == (2, 1000) and expected.std() > 1e-3
        torch.testing.assert_close(ours(x), expected)
        ours.train(), tv.train()  # dropout masks drawn in the same order; BN batch statistics
        torch.manual_seed(3)
        expected = tv(x)
        torch.manual_seed(3)
        torch.testing.assert_close(ours(x), expected)


NUM_PARAMS = {
    "alexnet": "AlexNet_Weights",
    "vgg11": "VGG11_Weights",
    "vgg11_bn": "VGG11_BN_Weights",
    "vgg16": "VGG16_Weights",
    "vgg16_bn": "VGG16_BN_Weights",
    "densenet121": "DenseNet121_Weights",
}


@pytest.mark.parametrize("name", list(OURS))
def test_parameter_count_is_torchvisions_published_figure(name):
    with torch.device("meta"):
        model = OURS[name]()
    expected = getattr(torchvision.models, NUM_PARAMS[name]).IMAGENET1K_V1.meta["num_params"]
    assert sum(p.numel() for p in model.parameters()) == expected


VARIANTS = [(name, dict(num_classes=10)) for name in OURS] + [
    ("alexnet", dict(dropout=0.3)),
    ("vgg11", dict(init_weights=False, dropout=0.0)),
    ("vgg16_bn", dict(num_classes=10, dropout=0.2)),
    ("densenet121", dict(growth_rate=16, bn_size=2, num_classes=10)),
    ("densenet121", dict(drop_rate=0.2, memory_efficient=True)),
]


@pytest.mark.parametrize("name, kw", VARIANTS, ids=[f"{n}-{kw}" for n, kw in VARIANTS])
def test_variants_match_torchvision_on_meta(name, kw):
    with torch.device("meta"):
        ours, tv = OURS[name](**kw), _tv(name, **kw)
    assert repr(ours) == repr(tv)  # layer for layer, with the head's out_features and the dropout p
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [(k, v.shape) for k, v in tv.state_dict().items()]
    head = ours.classifier if name == "densenet121" else ours.classifier[-1]
    assert head.out_features == kw.get("num_classes", 1000)


@pytest.mark.parametrize("name", ["alexnet"])  # the small DenseNet below has 5 classes
def test_ten_classes_equal_logits(name):
    tv = _tv(name, num_classes=10).eval()
    _randomise_norms(tv)
    with torch.device("meta"):
        ours = OURS[name](num_classes=10)
    ours.to_empty(device="cpu").load_state_dict(tv.state_dict(), strict=True)
    x = torch.randn(3, 3, 63, 70, generator=torch.Generator().manual_seed(4))  # AlexNet's minimum is 63
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), tv(x))


SMALL = dict(growth_rate=4, block_config=(2, 3, 1), num_init_features=8, bn_size=2, num_classes=5)


def test_small_densenet_train_mode_with_dropout_equals_torchvision():
    torch.manual_seed(0)
    ours = D.DenseNet(**SMALL, drop_rate=0.3)
    torch.manual_seed(0)
    tv = torchvision.models.DenseNet(**SMALL, drop_rate=0.3)
    x = torch.randn(4, 3, 33, 40, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(1)
    expected = tv(x)
    torch.manual_seed(1)
    torch.testing.assert_close(ours(x), expected)


def test_memory_efficient_gives_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = D.DenseNet(**SMALL)
    torch.manual_seed(0)
    efficient = D.DenseNet(**SMALL, memory_efficient=True)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    plain(x).square().sum().backward()
    efficient(x).square().sum().backward()
    for (k, p), q in zip(plain.named_parameters(), efficient.parameters()):
        torch.testing.assert_close(q.grad, p.grad, msg=k)


def test_densenet_minimum_size_is_torchvisions_29():
    model = D.DenseNet(**SMALL).eval()  # 3 blocks: 2 transitions, minimum 13
    assert model.min_size() == 13 and D.DenseNet(block_config=(1, 1, 1, 1)).min_size() == 29
    with torch.no_grad():
        assert model(torch.randn(1, 3, 13, 13)).shape == (1, 5)
        with pytest.raises(RuntimeError):
            torchvision.models.DenseNet(**SMALL).eval()(torch.randn(1, 3, 12, 12))  # 12 really is too small
    with pytest.raises(ValueError, match=r"at least 13 x 13.*\(1, 3, 12, 12\)"):
        model(torch.randn(1, 3, 12, 12))


# ----------------------------------------------------------------------------- bad inputs
BAD_ARGS = [
    (C.alexnet, dict(num_classes=0), ValueError, "num_classes"),
    (C.alexnet, dict(num_classes=True), TypeError, "num_classes"),
    (C.alexnet, dict(dropout=1.5), ValueError, "dropout"),
    (C.vgg11, dict(num_classes=10.0), TypeError, "num_classes"),
    (C.vgg16, dict(init_weights=1), TypeError, "init_weights"),
    (C.vgg16_bn, dict(dropout=float("nan")), ValueError, "dropout"),
    (C.VGG, dict(features="vgg"), TypeError, "features"),
    (D.densenet121, dict(growth_rate=0), ValueError, "growth_rate"),
    (D.densenet121, dict(drop_rate=-0.1), ValueError, "drop_rate"),
    (D.densenet121, dict(memory_efficient="no"), TypeError, "memory_efficient"),
    (D.DenseNet, dict(block_config=()), TypeError, "block_config"),
    (D.DenseNet, dict(block_config=(6, 0)), ValueError, "block_config"),
    (C.HighwayLayer, dict(features=0), ValueError, "features"),
    (C.HighwayLayer, dict(features=3, gate_bias="-1"), TypeError, "gate_bias"),
    (C.HighwayLayer, dict(features=3, gate_bias=float("inf")), ValueError, "gate_bias"),
    (C.HighwayLayer, dict(features=3, activation="relu"), TypeError, "activation"),
    (S.FCN8s, dict(widths=(64, 128, 256, 512)), ValueError, "widths"),
    (S.FCN8s, dict(convs=(2, 2, 3, 3, 0)), ValueError, "convs"),
    (S.FCN8s, dict(fc_channels=True), TypeError, "fc_channels"),
    (S.UNet, dict(depth=0), ValueError, "depth"),
    (S.UNet, dict(skip=1), TypeError, "skip"),
    (S.UNet, dict(base_channels=2.0), TypeError, "base_channels"),
]


@pytest.mark.parametrize("fn, kw, exc, arg", BAD_ARGS, ids=[f"{f.__name__}-{kw}" for f, kw, _, _ in BAD_ARGS])
def test_bad_arguments_are_refused_before_building(fn, kw, exc, arg):
    with pytest.raises(exc, match=arg):
        with torch.device("meta"):
            fn(**kw)


def _meta(name):
    with torch.device("meta"):
        return OURS[name]()


BAD_X = [
    ("alexnet", torch.empty(3, 64, 64, device="meta"), ValueError, "4-D"),
    ("alexnet", torch.empty(2, 3, 62, 80, device="meta"), ValueError, r"at least 63 x 63.*\(2, 3, 62, 80\)"),
    ("vgg11", torch.empty(2, 3, 31, 32, device="meta"), ValueError, r"at least 32 x 32"),
    ("vgg16_bn", torch.empty(2, 1, 64, 64, device="meta"), ValueError, r"\[N, 3, H, W\]"),
    ("densenet121", torch.empty(2, 3, 28, 64, device="meta"), ValueError, r"at least 29 x 29"),
    ("densenet121", torch.empty(2, 3, 64, 64, device="meta", dtype=torch.int64), TypeError, "floating"),
    ("vgg11_bn", torch.empty(2, 3, 64, 64, device="meta", dtype=torch.float64), TypeError, "dtype"),
    ("alexnet", torch.empty(2, 3, 64, 64), TypeError, "on meta"),
]


@pytest.mark.parametrize("name, x, exc, match", BAD_X, ids=[f"{n}-{m}" for n, _, _, m in BAD_X])
def test_bad_images_are_refused(name, x, exc, match):
    with pytest.raises(exc, match=match):
        _meta(name)(x)


def test_vgg_features_must_give_512_channels():
    with torch.device("meta"):
        model = C.VGG(nn.Sequential(nn.Conv2d(3, 256, 3, padding=1), nn.MaxPool2d(2, 2)), init_weights=False)
        with pytest.raises(ValueError, match=r"Tensor\[N, 512, h, w\].*\(1, 256, 16, 16\)"):
            model(torch.empty(1, 3, 32, 32))
        with pytest.raises(ValueError, match="at least 2 x 2"):
            model(torch.empty(1, 3, 1, 5))


# ----------------------------------------------------------------------------- Highway
def test_highway_formula_by_hand():
    torch.manual_seed(0)
    layer = C.HighwayLayer(5, gate_bias=-2.0, activation=torch.tanh)
    assert torch.equal(layer.gate.bias, torch.full((5,), -2.0))
    x = torch.randn(3, 4, 5, dtype=torch.float32)
    h = torch.tanh(x @ layer.transform.weight.T + layer.transform.bias)
    t = torch.sigmoid(x @ layer.gate.weight.T + layer.gate.bias)
    torch.testing.assert_close(layer(x), h * t + x * (1 - t))
    relu = C.HighwayLayer(5)  # default: ReLU, gate bias -1
    h = torch.relu(F.linear(x[0, 0], relu.transform.weight, relu.transform.bias))
    t = torch.sigmoid(F.linear(x[0, 0], relu.gate.weight, relu.gate.bias))
    assert torch.equal(relu.gate.bias, torch.full((5,), -1.0))
    torch.testing.assert_close(relu(x[0, 0]), h * t + x[0, 0] * (1 - t))  # a 1-D input: [features]


def test_highway_with_a_very_negative_gate_bias_is_the_identity():
    layer = C.HighwayLayer(16, gate_bias=-40.0)
    x = torch.randn(8, 16)
    torch.testing.assert_close(layer(x), x, rtol=0, atol=1e-6)
    carry = C.HighwayLayer(16, gate_bias=-1.0)  # the paper's -1: mostly carried, not exactly
    with torch.no_grad():
        t = torch.sigmoid(carry.gate(x))
    assert 0.0 < t.mean() < 0.5


def test_highway_parameter_count_and_bad_inputs():
    for f in (1, 7, 64):
        assert sum(p.numel() for p in C.HighwayLayer(f).parameters()) == 2 * (f * f + f)
    layer = C.HighwayLayer(4)
    with pytest.raises(ValueError, match=r"\[\*, 4\]"):
        layer(torch.randn(2, 5))
    with pytest.raises(TypeError, match="floating"):
        layer(torch.ones(2, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="at least 1-D"):
        layer(torch.tensor(1.0))


# ----------------------------------------------------------------------------- FCN-8s
def _fcn_param_count(num_classes, in_channels, widths, convs, fc):
    """From the paper's layer list: 3×3 convs (+ bias), fc6 7×7, fc7 1×1, three 1×1 score layers (+ bias),
    three bias-free transposed convs K→K with kernels 4, 4, 16."""
    total, c = 0, in_channels
    for w, n in zip(widths, convs):
        for _ in range(n):
            total += 9 * c * w + w
            c = w
    total += 49 * widths[4] * fc + fc + fc * fc + fc
    total += sum(cin * num_classes + num_classes for cin in (fc, widths[3], widths[2]))
    return total + num_classes * num_classes * (4 * 4 + 4 * 4 + 16 * 16)


def test_fcn8s_parameter_count_is_the_papers_134M():
    with torch.device("meta"):
        model = S.FCN8s()
    n = sum(p.numel() for p in model.parameters())
    # VGG-16 convs 14,714,688 + fc6 102,764,544 + fc7 16,781,312 + scores 86,037 + 10,773 + 5,397
    # + upsampling 7,056 + 7,056 + 112,896 = 134,489,759
    assert n == _fcn_param_count(21, 3, (64, 128, 256, 512, 512), (2, 2, 3, 3, 3), 4096) == 134_489_759
    assert abs(n / 134e6 - 1) < 0.005  # Long et al. 2015, Table 1: FCN-VGG16, 134M parameters
    with torch.device("meta"):
        small = S.FCN8s(4, 1, (3, 4, 5, 6, 7), (1, 2, 1, 2, 1), 9)
    assert sum(p.numel() for p in small.parameters()) == _fcn_param_count(4, 1, (3, 4, 5, 6, 7), (1, 2, 1, 2, 1), 9)


@pytest.fixture(scope="module")
def fcn():
    torch.manual_seed(0)
    return S.FCN8s(num_classes=3, in_channels=2, widths=(4, 6, 8, 10, 12), convs=(1, 1, 2, 1, 1), fc_channels=16).eval()


def test_fcn8s_output_shape_and_zero_initialised_scores(fcn):
    x = torch.randn(2, 2, 64, 96)
    with torch.no_grad():
        out = fcn(x)
    assert out.shape == (2, 3, 64, 96)
    assert not out.any()  # the paper zero-initialises the score layers: all logits start at 0
    for score in (fcn.score_fr, fcn.score_pool4, fcn.score_pool3):
        assert not score.weight.any() and not score.bias.any()


def test_fcn8s_adds_the_upsampled_coarse_scores_to_the_finer_ones(fcn):
    model = S.FCN8s(num_classes=3, in_channels=2, widths=(4, 6, 8, 10, 12), convs=(1, 1, 2, 1, 1), fc_channels=16)
    model.load_state_dict(fcn.state_dict())
    model.eval()
    with torch.no_grad():
        for score in (model.score_fr, model.score_pool4, model.score_pool3):
            score.weight.normal_()
            score.bias.normal_()
        x = torch.randn(1, 2, 32, 64)
        p1 = model.stages[0](x)
        p3 = model.stages[2](model.stages[1](p1))
        p4 = model.stages[3](p3)
        fr = model.score_fr(model.fc7(model.fc6(model.stages[4](p4))))
        s16 = model.upscore2(fr) + model.score_pool4(p4)
        expected = model.upscore8(model.upscore_pool4(s16) + model.score_pool3(p3))
        torch.testing.assert_close(model(x), expected)


def test_bilinear_kernel_is_fcns_upsample_filt():
    for k in (1, 2, 3, 4, 5, 16):  # fcn.berkeleyvision.org surgery.upsample_filt
        factor = (k + 1) // 2
        centre = factor - 1 if k % 2 == 1 else factor - 0.5
        og = np.ogrid[:k, :k]
        filt = (1 - abs(og[0] - centre) / factor) * (1 - abs(og[1] - centre) / factor)
        w = S.bilinear_kernel(3, k)
        assert w.shape == (3, 3, k, k) and w.dtype == torch.float32
        for i in range(3):
            for j in range(3):
                expected = torch.from_numpy(filt).float() if i == j else torch.zeros(k, k)
                torch.testing.assert_close(w[i, j], expected)


def test_bilinear_upsampling_equals_interpolate_away_from_the_border(fcn):
    x = torch.randn(2, 3, 6, 9)
    with torch.no_grad():
        for up, s in ((fcn.upscore2, 2), (fcn.upscore_pool4, 2), (fcn.upscore8, 8)):
            ours = up(x)
            ref = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
            b = s // 2  # interpolate clamps to the edge pixel in the outer s/2 rows and columns
            assert ours.shape == ref.shape
            torch.testing.assert_close(ours[..., b:-b, b:-b], ref[..., b:-b, b:-b])
            assert not torch.allclose(ours[..., :b, :], ref[..., :b, :])  # and there it differs


@pytest.mark.parametrize("shape", [(1, 2, 48, 64), (1, 2, 64, 16), (1, 2, 0, 32)])
def test_fcn8s_refuses_sizes_that_are_not_multiples_of_32(fcn, shape):
    with pytest.raises(ValueError, match=r"multiples of 32.*" + r"\(" + ", ".join(map(str, shape)) + r"\)"):
        fcn(torch.randn(shape))
    with pytest.raises(ValueError, match=r"\[N, 2, H, W\]"):
        fcn(torch.randn(1, 3, 32, 32))


# ----------------------------------------------------------------------------- UNet
def _unet_param_count(in_channels, num_classes, base, depth, skip):
    """Per level c_i = base·2^i; a double conv cin→cout: two bias-free 3×3 convs and two BNs (γ, β)."""

    def double(cin, cout):
        return 9 * cin * cout + 9 * cout * cout + 4 * cout

    c = [base * 2**i for i in range(depth)]
    total = sum(double(cin, cout) for cin, cout in zip([in_channels] + c, c))
    for i in range(depth - 1):
        total += 4 * c[i + 1] * c[i] + c[i]  # ConvTranspose2d(c_{i+1}, c_i, 2, stride=2) with bias
        total += double((2 if skip else 1) * c[i], c[i])
    return total + c[0] * num_classes + num_classes


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("skip", [True, False])
def test_unet_shapes_and_parameter_count(depth, skip):
    torch.manual_seed(0)
    model = S.UNet(in_channels=2, num_classes=3, base_channels=4, depth=depth, skip=skip)
    m = 2 ** (depth - 1)
    with torch.no_grad():
        assert model(torch.randn(2, 2, 3 * m, 5 * m)).shape == (2, 3, 3 * m, 5 * m)
    assert sum(p.numel() for p in model.parameters()) == _unet_param_count(2, 3, 4, depth, skip)


def test_unet_default_count_and_the_skip_ablation():
    with torch.device("meta"):
        with_skip, without = S.UNet(), S.UNet(skip=False)
    n_skip, n_plain = (sum(p.numel() for p in m.parameters()) for m in (with_skip, without))
    assert n_skip == _unet_param_count(1, 2, 16, 4, True)
    # the only difference: each decoder's first conv reads c_i more (encoder) channels: 9·c_i·c_i weights
    assert n_skip - n_plain == sum(9 * c * c for c in (16, 32, 64))
    assert [conv[0].in_channels for conv in with_skip.up_convs] == [128, 64, 32]
    assert [conv[0].in_channels for conv in without.up_convs] == [64, 32, 16]


def test_unet_concatenates_the_encoder_features():
    torch.manual_seed(0)
    model = S.UNet(in_channels=1, num_classes=2, base_channels=2, depth=2).eval()
    x = torch.randn(1, 1, 8, 8)
    with torch.no_grad():
        enc = model.down[0](x)
        bottom = model.down[1](model.pool(enc))
        expected = model.head(model.up_convs[0](torch.cat([enc, model.up[0](bottom)], 1)))
        torch.testing.assert_close(model(x), expected)


def test_unet_bad_inputs():
    model = S.UNet(depth=3)
    with pytest.raises(ValueError, match=r"multiples of 2\*\*\(depth - 1\) = 4.*\(1, 1, 6, 8\)"):
        model(torch.randn(1, 1, 6, 8))
    with pytest.raises(ValueError, match=r"\[N, 1, H, W\]"):
        model(torch.randn(1, 3, 8, 8))
    with pytest.raises(TypeError, match="floating"):
        model(torch.ones(1, 1, 8, 8, dtype=torch.int64))
