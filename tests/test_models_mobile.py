"""cvbook_lib.models.inception, .mobilenet, .shufflenet against torchvision (same state_dict keys: strict load,
equal eval logits) and MobileNet v1 against the figures of its paper (Howard et al. 2017, Tables 6-8)."""

import importlib
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torchvision
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import inception as tv_inception
from torchvision.models import mobilenetv3 as tv_mnv3
from torchvision.models import shufflenetv2 as tv_shufflenet

from cvbook_lib.models import inception as I
from cvbook_lib.models import inception_v3 as I3
from cvbook_lib.models import mobilenet as M
from cvbook_lib.models import mobilenet_v3 as M3
from cvbook_lib.models import shufflenet as S

tv_googlenet = importlib.import_module("torchvision.models.googlenet")  # the module, not the builder


pytestmark = pytest.mark.usefixtures("one_thread")


def _randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN statistics and affine parameters (fresh BN layers are the identity in eval mode)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


def _load_and_compare(ours: nn.Module, theirs: nn.Module, x: torch.Tensor, **tol) -> None:
    """Same keys and shapes, strict load of torchvision's state_dict, equal eval outputs."""
    _randomize(theirs)
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    assert all(a[k].shape == b[k].shape for k in a)
    ours.load_state_dict(b, strict=True)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), **tol)


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- GoogLeNet
@pytest.fixture(scope="module", params=[False, True], ids=["no-aux", "aux"])
def googlenets(request):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torchvision.models.googlenet(weights=None, aux_logits=request.param, init_weights=True)
    return I.googlenet(aux_logits=request.param), theirs, request.param


def test_googlenet_loads_torchvision_and_gives_equal_logits(googlenets):
    ours, theirs, _ = googlenets
    _load_and_compare(ours, theirs, _randn(2, 3, 64, 64))


def test_googlenet_training_returns_torchvision_triple(googlenets):
    ours, theirs, aux = googlenets
    ours.load_state_dict(theirs.state_dict())
    ours.train(), theirs.train()
    x = _randn(2, 3, 32, 32, seed=1)
    torch.manual_seed(3)  # the three dropouts draw in the same order
    a = ours(x)
    torch.manual_seed(3)
    b = theirs(x)
    if aux:
        assert type(a).__name__ == "GoogLeNetOutputs" and a._fields == b._fields
        torch.testing.assert_close(tuple(a), tuple(b))
    else:
        assert isinstance(a, torch.Tensor)
        torch.testing.assert_close(a, b)
    ours.eval(), theirs.eval()


def test_googlenet_min_input_size_is_torchvisions(googlenets):
    ours, theirs, _ = googlenets
    ours.load_state_dict(theirs.state_dict())
    ours.eval(), theirs.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(_randn(1, 3, 15, 20)), theirs(_randn(1, 3, 15, 20)))
        with pytest.raises(RuntimeError):
            theirs(_randn(1, 3, 14, 20))
        with pytest.raises(ValueError, match="x must have H and W >= 15"):
            ours(_randn(1, 3, 14, 20))


def test_googlenet_defaults_and_transform_input():
    assert I.GoogLeNet.__init__.__defaults__[0:2] == (1000, True)  # torchvision's class default
    assert I.googlenet.__defaults__[1] is False  # ours: no aux heads unless asked
    ours = I.GoogLeNet(num_classes=7, aux_logits=False, transform_input=True, init_weights=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = tv_googlenet.GoogLeNet(num_classes=7, aux_logits=False, transform_input=True, init_weights=False)
    _load_and_compare(ours, theirs, _randn(2, 3, 32, 32, seed=2))


def test_googlenet_blocks_match_torchvision():
    _load_and_compare(
        I.Inception(192, 64, 96, 128, 16, 32, 32),
        tv_googlenet.Inception(192, 64, 96, 128, 16, 32, 32),
        _randn(2, 192, 7, 7),
    )
    _load_and_compare(I.InceptionAux(512, 10), tv_googlenet.InceptionAux(512, 10), _randn(2, 512, 6, 6))
    _load_and_compare(
        I.BasicConv2d(5, 7, (1, 7), stride=2, padding=(0, 3)),
        tv_googlenet.BasicConv2d(5, 7, kernel_size=(1, 7), stride=2, padding=(0, 3)),
        _randn(2, 5, 9, 9),
    )


# ----------------------------------------------------------------------------- Inception v3 blocks
@pytest.mark.parametrize(
    "name, args, size, channels",
    [
        ("InceptionA", (192, 32), 7, 256),
        ("InceptionA", (288, 64), 7, 288),
        ("InceptionB", (288,), 9, 768),
        ("InceptionC", (768, 128), 7, 768),
        ("InceptionC", (768, 160), 7, 768),
        ("InceptionD", (768,), 9, 1280),
        ("InceptionE", (1280,), 5, 2048),
        ("InceptionE", (2048,), 5, 2048),
    ],
)
def test_inception_v3_blocks_match_torchvision(name, args, size, channels):
    torch.manual_seed(0)
    ours, theirs = getattr(I3, name)(*args), getattr(tv_inception, name)(*args)
    x = _randn(2, args[0], size, size)
    _load_and_compare(ours, theirs, x)
    out = (size - 3) // 2 + 1 if name in ("InceptionB", "InceptionD") else size  # grid reduction or same size
    with torch.no_grad():
        assert ours(x).shape == (2, channels, out, out)  # torchvision's inception_v3 widths (288/768/1280/2048)


def test_inception_v3_reduction_blocks_need_3x3():
    block = I3.InceptionB(8).eval()
    with pytest.raises(ValueError, match="H and W >= 3"):
        block(_randn(1, 8, 2, 5))


# ----------------------------------------------------------------------------- MobileNet v1 against the paper
def _count(model: nn.Module, size: int) -> tuple[float, float]:
    """(parameters, mult-adds) in millions: conv = H_out·W_out·C_out·(C_in / groups)·k_h·k_w, fc = in·out."""
    macs = []

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            macs.append(out[0].numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])
        else:
            macs.append(m.in_features * m.out_features)

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    return sum(p.numel() for p in model.parameters()) / 1e6, sum(macs) / 1e6


@pytest.fixture(scope="module")
def v1_models():
    torch.manual_seed(0)
    return {a: M.mobilenet_v1(width_mult=a) for a in (1.0, 0.75, 0.5, 0.25)}


# Table 6 / 8: width multiplier α at 224 → (million parameters, million mult-adds)
@pytest.mark.parametrize("alpha, params, macs", [(1.0, 4.2, 569), (0.75, 2.6, 325), (0.5, 1.3, 149), (0.25, 0.5, 41)])
def test_mobilenet_v1_width_multiplier_matches_paper(v1_models, alpha, params, macs):
    p, m = _count(v1_models[alpha], 224)
    assert abs(p - params) <= 0.05  # the paper rounds to 0.1 M
    assert abs(m - macs) <= 1.0  # and to 1 M (568.7, 325.4, 149.5, 41.0)


# Table 7: resolution at α = 1 → million mult-adds (parameters stay 4.2 M)
@pytest.mark.parametrize("size, macs", [(224, 569), (192, 418), (160, 290), (128, 186)])
def test_mobilenet_v1_resolution_matches_paper(v1_models, size, macs):
    p, m = _count(v1_models[1.0], size)
    assert abs(p - 4.2) <= 0.05
    assert abs(m - macs) <= 1.0  # 160: 290.7 counted, 290 printed


def test_mobilenet_v1_structure_and_flop_counter(v1_models):
    model = v1_models[0.75]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    depthwise = [c for c in convs if c.groups == c.in_channels == c.out_channels > 1]
    assert len(convs) == 27 and len(depthwise) == 13  # stem + 13 × (dw, pw)
    assert convs[0].stride == (2, 2) and convs[0].out_channels == int(32 * 0.75)
    assert [c.out_channels for c in convs[2::2]] == [int(c * 0.75) for c, _ in M._V1_BLOCKS]
    assert sum(c.stride[0] == 2 for c in convs) == 5  # output stride 32
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model.eval()(torch.zeros(1, 3, 224, 224))
    assert out.shape == (1, 1000)
    assert counter.get_total_flops() / 2 / 1e6 == pytest.approx(_count(model, 224)[1], rel=1e-9)


def test_mobilenet_v1_any_input_size():
    model = M.mobilenet_v1(num_classes=3, width_mult=0.25).eval()
    with torch.no_grad():
        assert model(_randn(2, 3, 1, 1)).shape == model(_randn(2, 3, 37, 50)).shape == (2, 3)


# ----------------------------------------------------------------------------- MobileNet v2 / v3
@pytest.mark.parametrize("width_mult", [0.5, 1.0, 1.4])
def test_mobilenet_v2_matches_torchvision(width_mult):
    torch.manual_seed(0)
    ours = M.mobilenet_v2(num_classes=10, width_mult=width_mult)
    _load_and_compare(
        ours, torchvision.models.mobilenet_v2(num_classes=10, width_mult=width_mult), _randn(2, 3, 64, 64)
    )


def test_mobilenet_v2_custom_setting_and_round_nearest():
    setting = [[1, 8, 1, 1], [3, 12, 2, 2], [2, 20, 1, 1]]
    ours = M.MobileNetV2(num_classes=5, width_mult=0.75, inverted_residual_setting=setting, round_nearest=4)
    theirs = torchvision.models.MobileNetV2(
        num_classes=5, width_mult=0.75, inverted_residual_setting=setting, round_nearest=4
    )
    _load_and_compare(ours, theirs, _randn(2, 3, 17, 23))
    _load_and_compare(
        M.InvertedResidual(16, 16, 1, 6),
        torchvision.models.mobilenetv2.InvertedResidual(16, 16, 1, 6),
        _randn(2, 16, 5, 5),
    )


@pytest.mark.parametrize("arch", ["mobilenet_v3_small", "mobilenet_v3_large"])
def test_mobilenet_v3_matches_torchvision(arch):
    torch.manual_seed(0)
    _load_and_compare(
        getattr(M3, arch)(num_classes=10), getattr(torchvision.models, arch)(num_classes=10), _randn(2, 3, 64, 64)
    )


def test_mobilenet_v3_class_with_rows():
    rows = [(8, 3, 8, 8, True, "RE", 2, 1), (8, 5, 24, 16, False, "HS", 1, 1), (16, 3, 48, 16, True, "HS", 1, 2)]
    cfg = [tv_mnv3.InvertedResidualConfig(*r, width_mult=1.0) for r in rows]
    theirs = tv_mnv3.MobileNetV3(cfg, 32, num_classes=4, norm_layer=None)
    _load_and_compare(M3.MobileNetV3(rows, 32, num_classes=4), theirs, _randn(2, 3, 19, 19))


def test_make_divisible_is_torchvisions():
    from torchvision.models._utils import _make_divisible

    for v in np.linspace(0.1, 700, 997):
        for d in (1, 3, 8):
            assert M._make_divisible(v, d) == _make_divisible(v, d)


# ----------------------------------------------------------------------------- ShuffleNet v2
def test_shufflenet_v2_matches_torchvision():
    torch.manual_seed(0)
    _load_and_compare(
        S.shufflenet_v2_x1_0(num_classes=10),
        torchvision.models.shufflenet_v2_x1_0(num_classes=10),
        _randn(2, 3, 64, 64),
    )
    _load_and_compare(
        S.ShuffleNetV2([1, 2, 1], [8, 16, 32, 48, 40], 3),
        tv_shufflenet.ShuffleNetV2([1, 2, 1], [8, 16, 32, 48, 40], 3),
        _randn(2, 3, 13, 9),
    )
    for inp, oup, stride in ((12, 20, 2), (20, 20, 1), (6, 10, 3)):
        _load_and_compare(
            S.ShuffleV2Block(inp, oup, stride), tv_shufflenet.InvertedResidual(inp, oup, stride), _randn(2, inp, 7, 7)
        )


@pytest.mark.parametrize(
    "shape, groups",
    [
        ((2, 6, 3, 3), 3),
        ((2, 6, 5), 2),
        ((0, 4, 2, 2), 2),
        ((2, 0, 3), 5),
        ((1, 12, 2, 2, 2), 4),
        ((2, 8, 3, 3), 1),
        ((2, 8, 3, 3), 8),
    ],
)
def test_channel_shuffle_equals_nn_channel_shuffle(shape, groups):
    x = _randn(*shape).requires_grad_()
    y, z = S.channel_shuffle(x, groups), nn.ChannelShuffle(groups)(x)
    assert torch.equal(y, z) and y.is_contiguous()
    if x.numel():
        w = _randn(*shape, seed=1)
        torch.testing.assert_close(torch.autograd.grad((y * w).sum(), x)[0], torch.autograd.grad((z * w).sum(), x)[0])


@pytest.mark.parametrize(
    "dtype", [torch.bool, torch.uint8, torch.int64, torch.float16, torch.bfloat16, torch.float64, torch.complex64]
)
def test_channel_shuffle_dtypes(dtype):
    x = (_randn(2, 6, 3, 4) * 3).to(dtype)
    y = S.channel_shuffle(x.transpose(2, 3), 2)  # non-contiguous too
    assert y.dtype == dtype and torch.equal(y, nn.ChannelShuffle(2)(x.transpose(2, 3)))


def test_channel_shuffle_is_the_interleaving():
    x = torch.arange(6.0).view(1, 6, 1)
    assert S.channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    assert S.channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]


# ----------------------------------------------------------------------------- bad input
BAD = [
    (lambda: S.channel_shuffle(torch.zeros(2, 4, 3), 0), ValueError, "groups must be an int >= 1"),
    (lambda: S.channel_shuffle(torch.zeros(2, 4, 3), 3), ValueError, "groups must divide the 4 channels"),
    (lambda: S.channel_shuffle(torch.zeros(2, 4, 3), True), TypeError, "groups"),
    (lambda: S.channel_shuffle(torch.zeros(2, 4, 3), 2.0), TypeError, "groups"),
    (lambda: S.channel_shuffle(torch.zeros(2, 4), 2), ValueError, "x must be at least 3-D"),
    (lambda: S.channel_shuffle([[[1.0]]], 1), TypeError, "x must be a torch.Tensor"),
    (lambda: M.mobilenet_v1(num_classes=0), ValueError, "num_classes must be an int >= 1, got 0"),
    (lambda: M.mobilenet_v1(num_classes=True), TypeError, "num_classes"),
    (lambda: M.mobilenet_v1(width_mult=0.0), ValueError, "width_mult must be a real number > 0.0"),
    (lambda: M.mobilenet_v1(width_mult=-1.0), ValueError, "width_mult"),
    (lambda: M.mobilenet_v1(width_mult=math.nan), ValueError, "width_mult"),
    (lambda: M.mobilenet_v2(width_mult=math.inf), ValueError, "width_mult"),
    (lambda: M.mobilenet_v2(width_mult="1"), TypeError, "width_mult"),
    (lambda: M.mobilenet_v2(round_nearest=0), ValueError, "round_nearest"),
    (lambda: M.mobilenet_v2(dropout=1.5), ValueError, "dropout must be in [0, 1]"),
    (lambda: M3.mobilenet_v3_small(num_classes=8.0), TypeError, "num_classes"),
    (lambda: M3.mobilenet_v3_large(dropout=math.nan), ValueError, "dropout"),
    (lambda: M.InvertedResidual(8, 8, 3, 6), ValueError, "stride"),
    (lambda: M.InvertedResidual(8, 8, 1, 0), ValueError, "expand_ratio"),
    (lambda: M.MobileNetV2(inverted_residual_setting=[]), TypeError, "inverted_residual_setting"),
    (lambda: M.MobileNetV2(inverted_residual_setting=[[1, 16, 1]]), ValueError, "inverted_residual_setting[0]"),
    (lambda: M.MobileNetV2(inverted_residual_setting=[[1, 16, 1, 3]]), ValueError, "inverted_residual_setting[0] s"),
    (
        lambda: M3.MobileNetV3([(8, 3, 8, 8, True, "RE", 2, 1), (16, 3, 8, 8, True, "RE", 1, 1)], 32),
        ValueError,
        "inverted_residual_setting[1] input_channels must equal",
    ),
    (lambda: M3.MobileNetV3([(8, 3, 8, 8, 1, "RE", 2, 1)], 32), TypeError, "use_se"),
    (lambda: M3.MobileNetV3([(8, 3, 8, 8, True, "relu", 2, 1)], 32), ValueError, "activation"),
    (lambda: S.ShuffleV2Block(10, 20, 1), ValueError, "inp must equal"),
    (lambda: S.ShuffleV2Block(10, 20, 4), ValueError, "stride"),
    (lambda: S.ShuffleNetV2([4, 8], [24, 116, 232, 464, 1024]), TypeError, "stages_repeats"),
    (lambda: S.ShuffleNetV2([4, 8, 4], [24, 115, 232, 464, 1024]), ValueError, "stages_out_channels[1] must be even"),
    (lambda: S.shufflenet_v2_x1_0(num_classes=0), ValueError, "num_classes"),
    (lambda: I.googlenet(num_classes=-1), ValueError, "num_classes"),
    (lambda: I.googlenet(aux_logits=1), TypeError, "aux_logits"),
    (lambda: I.googlenet(dropout_aux=-0.1), ValueError, "dropout_aux"),
    (lambda: I3.InceptionA(192, 0), ValueError, "pool_features"),
    (lambda: I3.InceptionC(768, False), TypeError, "channels_7x7"),
    (lambda: I.BasicConv2d(3, 4, 0), ValueError, "kernel_size"),
    (lambda: I.BasicConv2d(3, 4, 3, padding=-1), ValueError, "padding"),
]


@pytest.mark.parametrize("call, error, message", BAD, ids=[b[2][:40] for b in BAD])
def test_bad_arguments_are_refused(call, error, message):
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        call()


@pytest.mark.parametrize(
    "x, error, message",
    [
        (torch.zeros(3, 8, 8), ValueError, "x must be 4-D"),
        (torch.zeros(1, 4, 8, 8), ValueError, r"\[N, 3, H, W\]"),
        (torch.zeros(1, 3, 8, 8, dtype=torch.float64), TypeError, "dtype"),
        (torch.zeros(1, 3, 8, 8).long(), TypeError, "x"),
        (torch.zeros(1, 3, 0, 8), ValueError, "H and W >= 1"),
    ],
)
def test_bad_inputs_are_refused(x, error, message):
    model = M3.mobilenet_v3_small(num_classes=2).eval()
    with pytest.raises(error, match=message):
        model(x)
    with pytest.raises(error, match=message):
        S.ShuffleNetV2([1, 1, 1], [4, 8, 8, 8, 8], 2).eval()(x)
