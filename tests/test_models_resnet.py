"""cvbook_lib.models.resnet against torchvision (state_dict keys and order, initialisation, eval logits,
training gradients) and cvbook_lib.models.resnet_v2 against the papers (parameter and layer counts, the
pre-activation order, the clean identity path, plain versus residual)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
import torchvision
from torch.testing import assert_close
from torchvision.models import resnet as tvr

from cvbook_lib.models import resnet as R
from cvbook_lib.models import resnet_v2 as V

pytestmark = pytest.mark.usefixtures("one_thread")


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _perturb_running_stats(model: nn.Module) -> None:
    """Move every BN's running statistics and bias away from (0, 1, 0), so eval-mode BN is not the identity."""
    g = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)


# ----------------------------------------------------------------------------- ResNet against torchvision
CONFIGS = [
    ("resnet18", {}),
    ("resnet34", {}),
    ("resnet50", {}),
    ("resnet18", dict(num_classes=10, zero_init_residual=True)),
    ("resnet50", dict(num_classes=10, zero_init_residual=True, groups=2, width_per_group=32)),
    ("resnet50", dict(replace_stride_with_dilation=[False, True, True])),
]


@pytest.fixture(
    scope="module", params=CONFIGS, ids=[f"{n}-{'-'.join(map(str, kw.values())) or 'default'}" for n, kw in CONFIGS]
)
def pair(request):
    """(torchvision's model with perturbed BN statistics, ours built from another seed), both in eval mode."""
    name, kw = request.param
    torch.manual_seed(0)
    tv = getattr(torchvision.models, name)(**kw)
    torch.manual_seed(1)
    ours = getattr(R, name)(**kw)
    _perturb_running_stats(tv)
    return tv.eval(), ours.eval()


def test_same_state_dict_keys_order_and_shapes(pair):
    tv, ours = pair
    theirs, mine = tv.state_dict(), ours.state_dict()
    assert list(mine) == list(theirs)
    assert [t.shape for t in mine.values()] == [t.shape for t in theirs.values()]
    assert n_params(ours) == n_params(tv)


def test_loads_torchvision_weights_and_gives_its_logits(pair):
    tv, ours = pair
    x = randn(2, 3, 64, 64, seed=1)
    assert not torch.equal(ours.conv1.weight, tv.conv1.weight)  # built from another seed: the load matters
    result = ours.load_state_dict(tv.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    with torch.no_grad():
        assert_close(ours(x), tv(x))


def test_resnet18_at_224():
    torch.manual_seed(0)
    tv = torchvision.models.resnet18()
    _perturb_running_stats(tv)
    ours = R.resnet18()
    ours.load_state_dict(tv.state_dict(), strict=True)
    x = randn(1, 3, 224, 224, seed=2)
    with torch.no_grad():
        got, expected = ours.eval()(x), tv.eval()(x)
    assert got.shape == (1, 1000)
    assert_close(got, expected)


@pytest.mark.parametrize(
    "name,kw",
    [
        ("resnet18", dict(num_classes=10, zero_init_residual=True)),
        ("resnet50", dict(zero_init_residual=True, groups=2, width_per_group=32)),
    ],
)
def test_same_initialisation_as_torchvision(name, kw):
    """Built under the same seed, every tensor equals torchvision's: the same scheme, drawn in the same order."""
    torch.manual_seed(0)
    tv = getattr(torchvision.models, name)(**kw)
    torch.manual_seed(0)
    ours = getattr(R, name)(**kw)
    for (k, a), b in zip(ours.state_dict().items(), tv.state_dict().values()):
        assert torch.equal(a, b), k
    # the scheme itself: kaiming_normal_(fan_out, relu) → std sqrt(2 / (out · k · k)); BN (1, 0); zero-init
    assert ours.conv1.weight.std().item() == pytest.approx((2 / (64 * 7 * 7)) ** 0.5, rel=0.05)
    last = {"resnet18": "bn2", "resnet50": "bn3"}[name]
    for mod_name, m in ours.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.bias == 0)
            assert torch.all(m.weight == (0 if mod_name.endswith(last) else 1)), mod_name


def _projection(inplanes, out, stride):
    return nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))


@pytest.mark.parametrize("which", ["resnet", "bottleneck"])
def test_training_mode_outputs_and_gradients_match(which):
    """Batch statistics, the running-stat update and the backward pass: a [1, 1, 1, 1] BasicBlock ResNet and a
    strided, grouped Bottleneck with a projection, against torchvision's."""
    torch.manual_seed(0)
    if which == "resnet":
        tv = tvr.ResNet(tvr.BasicBlock, [1, 1, 1, 1], num_classes=5)
        ours = R.ResNet(R.BasicBlock, [1, 1, 1, 1], num_classes=5)
        x = randn(4, 3, 32, 32, seed=3)
    else:
        kw = dict(inplanes=32, planes=16, stride=2, groups=2, base_width=32)
        tv = tvr.Bottleneck(downsample=_projection(32, 64, 2), **kw)
        ours = R.Bottleneck(downsample=_projection(32, 64, 2), **kw)
        x = randn(4, 32, 9, 9, seed=3)
    ours.load_state_dict(tv.state_dict(), strict=True)
    out_tv, out_ours = tv(x), ours(x)
    assert_close(out_ours, out_tv)
    (out_tv**2).sum().backward()
    (out_ours**2).sum().backward()
    for (k, a), b in zip(ours.named_parameters(), tv.parameters()):
        assert_close(a.grad, b.grad, msg=k)
    for (k, a), b in zip(ours.state_dict().items(), tv.state_dict().values()):
        assert_close(a, b, msg=k)  # running statistics updated alike


def test_stride_in_1x1_is_v1():
    """v1 (stride on the first 1×1) against v1.5 (stride on the 3×3, torchvision's): same parameters and the same
    shapes through the network, the stride on the other conv, and torchvision's model with its strides moved
    to conv1 as the independent reference."""
    torch.manual_seed(0)
    v1 = R.resnet50(stride_in_1x1=True).eval()
    torch.manual_seed(0)
    tv15 = torchvision.models.resnet50().eval()
    for (k, a), b in zip(v1.state_dict().items(), tv15.state_dict().values()):
        assert torch.equal(a, b), k  # same keys, shapes and (same seed) values
    tv_v1 = copy.deepcopy(tv15)
    for m in tv_v1.modules():
        if isinstance(m, tvr.Bottleneck) and m.stride != 1:
            m.conv1.stride, m.conv2.stride = m.conv2.stride, m.conv1.stride
    for name in ("layer2.0", "layer3.0", "layer4.0"):  # the downsampling blocks
        ours, theirs = v1.get_submodule(name), tv15.get_submodule(name)
        assert (ours.conv1.stride, ours.conv2.stride) == ((2, 2), (1, 1))
        assert (theirs.conv1.stride, theirs.conv2.stride) == ((1, 1), (2, 2))
        assert ours.downsample[0].stride == theirs.downsample[0].stride == (2, 2)
    for m in v1.modules():
        if isinstance(m, R.Bottleneck) and m.stride == 1:
            assert m.conv1.stride == m.conv2.stride == (1, 1)

    shapes = {id(v1): [], id(tv15): []}
    hooks = [
        m.register_forward_hook(lambda mod, i, o, model=model: shapes[id(model)].append(tuple(o.shape)))
        for model in (v1, tv15)
        for m in model.modules()
        if isinstance(m, (R.Bottleneck, tvr.Bottleneck))
    ]
    x = randn(2, 3, 64, 64, seed=4)
    with torch.no_grad():
        out_v1, out_v15, out_ref = v1(x), tv15(x), tv_v1(x)
    for h in hooks:
        h.remove()
    assert shapes[id(v1)] == shapes[id(tv15)] and len(shapes[id(v1)]) == 16
    assert out_v1.shape == out_v15.shape == (2, 1000)
    assert_close(out_v1, out_ref)
    assert not torch.allclose(out_v1, out_v15)  # a different network, not a relabelling


def test_empty_batch_and_small_images_as_torchvision():
    torch.manual_seed(0)
    tv = torchvision.models.resnet18(num_classes=4).eval()
    ours = R.resnet18(num_classes=4).eval()
    ours.load_state_dict(tv.state_dict())
    with torch.no_grad():
        for x in (torch.zeros(0, 3, 16, 16), randn(2, 3, 1, 1, seed=5), randn(1, 3, 9, 30, seed=6)):
            assert_close(ours(x), tv(x))


# ----------------------------------------------------------------------------- bad input
BAD_ARGS = [
    (R.resnet18, dict(num_classes=0), ValueError, "num_classes"),
    (R.resnet18, dict(num_classes=-1), ValueError, "num_classes"),
    (R.resnet18, dict(num_classes=True), TypeError, "num_classes"),
    (R.resnet18, dict(num_classes=2.5), TypeError, "num_classes"),
    (R.resnet50, dict(groups=0), ValueError, "groups"),
    (R.resnet18, dict(groups=2), ValueError, "groups"),
    (R.resnet34, dict(width_per_group=32), ValueError, "width_per_group"),
    (R.resnet50, dict(width_per_group=1.5), TypeError, "width_per_group"),
    (R.resnet50, dict(zero_init_residual="False"), TypeError, "zero_init_residual"),
    (R.resnet50, dict(replace_stride_with_dilation=[False, True]), ValueError, "replace_stride_with_dilation"),
    (R.resnet50, dict(replace_stride_with_dilation="abc"), ValueError, "replace_stride_with_dilation"),
    (R.resnet50, dict(replace_stride_with_dilation=[0, 1, 1]), TypeError, "replace_stride_with_dilation"),
    (R.resnet18, dict(replace_stride_with_dilation=[False, False, True]), ValueError, "replace_stride_with_dilation"),
    (R.resnet50, dict(norm_layer="bn"), TypeError, "norm_layer"),
    (R.resnet50, dict(norm_layer=lambda c: 3), TypeError, "norm_layer"),
    (R.resnet50, dict(stride_in_1x1=1), TypeError, "stride_in_1x1"),
    (R.ResNet, dict(block=nn.Conv2d, layers=[2, 2, 2, 2]), TypeError, "block"),
    (R.ResNet, dict(block=R.BasicBlock, layers=[2, 2, 2]), ValueError, "layers"),
    (R.ResNet, dict(block=R.BasicBlock, layers=[2, 0, 2, 2]), ValueError, "layers"),
    (R.ResNet, dict(block=R.BasicBlock, layers=[2, 2, 2, 2], stride_in_1x1=True), ValueError, "stride_in_1x1"),
    (R.BasicBlock, dict(inplanes=64, planes=128, stride=2), ValueError, "downsample"),
    (R.BasicBlock, dict(inplanes=64, planes=64, downsample="x"), TypeError, "downsample"),
    (R.BasicBlock, dict(inplanes=64, planes=64, dilation=2), ValueError, "dilation"),
    (R.Bottleneck, dict(inplanes=256, planes=64, base_width=0), ValueError, "base_width"),
    (R.Bottleneck, dict(inplanes=16, planes=4, base_width=8), ValueError, "base_width"),  # width int(4·8/64) = 0
    (R.Bottleneck, dict(inplanes=256, planes=64, stride=0), ValueError, "stride"),
    (V.preact_resnet18, dict(num_classes=0), ValueError, "num_classes"),
    (V.PreActBlock, dict(inplanes=0, planes=4), ValueError, "inplanes"),
    (V.PreActBlock, dict(inplanes=4, planes=4, shortcut=1), TypeError, "shortcut"),
    (V.cifar_resnet, dict(depth=21), ValueError, "depth"),
    (V.cifar_resnet, dict(depth=2), ValueError, "depth"),
    (V.cifar_resnet, dict(depth=True), TypeError, "depth"),
    (V.cifar_resnet, dict(depth=20.0), TypeError, "depth"),
    (V.cifar_resnet, dict(width=0), ValueError, "width"),
    (V.cifar_resnet, dict(in_channels=0), ValueError, "in_channels"),
    (V.cifar_resnet, dict(num_classes=0), ValueError, "num_classes"),
    (V.cifar_resnet, dict(shortcut="yes"), TypeError, "shortcut"),
    (V.cifar_resnet, dict(preact=None), TypeError, "preact"),
]


@pytest.mark.parametrize("fn,kwargs,exc,word", BAD_ARGS, ids=[f"{f.__name__}-{kw}" for f, kw, _, _ in BAD_ARGS])
def test_bad_arguments_are_refused(fn, kwargs, exc, word):
    with pytest.raises(exc, match=word):
        fn(**kwargs)


SMALL_MODELS = {
    "resnet": lambda: R.ResNet(R.BasicBlock, [1, 1, 1, 1], num_classes=3),
    "cifar": lambda: V.cifar_resnet(8),
    "preact18": lambda: V.preact_resnet18(num_classes=3),
}


@pytest.fixture(scope="module", params=list(SMALL_MODELS))
def model(request):
    return SMALL_MODELS[request.param]()


@pytest.mark.parametrize(
    "x,exc",
    [
        ([[1.0]], TypeError),
        (torch.randn(3, 16, 16), ValueError),
        (torch.ones(1, 3, 16, 16, dtype=torch.long), TypeError),
        (torch.randn(1, 1, 16, 16), ValueError),
        (torch.randn(1, 3, 16, 0), ValueError),
        (torch.randn(1, 3, 16, 16, dtype=torch.float64), TypeError),
    ],
    ids=["list", "3-D", "int", "1-channel", "empty-W", "float64"],
)
def test_bad_inputs_are_refused(model, x, exc):
    with pytest.raises(exc, match="x"):
        model(x)


# ----------------------------------------------------------------------------- pre-activation ResNet-18
def test_preact_resnet18_parameters_by_hand():
    """The convs and the fc are resnet18's; only the BNs differ. Channels normalised (each BN has 2 per channel):
    resnet18: stem 64; layer1 2·(64 + 64) = 256; layer2 (128 + 128 + 128 projection BN) + 2·128 = 640;
              layer3 3·256 + 2·256 = 1280; layer4 3·512 + 2·512 = 2560 → 4800 channels.
    v2:       stem 64; layer1 2·(64 + 64) = 256; layer2 (64 + 128) + (128 + 128) = 448 (bn1 sees the block's
              input; the 1×1 projection has no BN); layer3 (128 + 256) + 512 = 896; layer4 (256 + 512) + 1024 =
              1792; final BN 512 → 3968 channels.
    So v2 has 2 · (4800 − 3968) = 1664 parameters fewer than resnet18's."""
    tv, ours = torchvision.models.resnet18(), V.preact_resnet18()
    bn_channels = [sum(m.num_features for m in net.modules() if isinstance(m, nn.BatchNorm2d)) for net in (tv, ours)]
    assert bn_channels == [4800, 3968]
    convs = [sorted(tuple(m.weight.shape) for m in net.modules() if isinstance(m, nn.Conv2d)) for net in (tv, ours)]
    assert convs[0] == convs[1]
    assert ours.fc.weight.shape == tv.fc.weight.shape
    assert (ours.conv1.weight.shape, ours.bn1.num_features) == (tv.conv1.weight.shape, 64)  # resnet18's stem
    assert n_params(ours) == n_params(tv) - 2 * (4800 - 3968) == 11_687_848


def test_preact_resnet18_forward_and_final_bn_relu():
    model = V.preact_resnet18(num_classes=7).eval()
    seen = []
    model.avgpool.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    with torch.no_grad():
        out = model(randn(2, 3, 64, 64, seed=7))
    assert out.shape == (2, 7)
    assert seen[0].shape == (2, 512, 2, 2) and bool((seen[0] >= 0).all())  # BN + ReLU before the pooling


def test_preact_block_order():
    """BN → ReLU → conv, twice; the projection takes the pre-activated input; nothing after the last conv."""
    for block, expected in (
        (V.PreActBlock(8, 8), ["bn1", "relu", "conv1", "bn2", "relu", "conv2"]),
        (V.PreActBlock(8, 16, 2), ["bn1", "relu", "conv1", "bn2", "relu", "conv2", "downsample"]),
    ):
        order = []
        for name, m in block.named_children():
            m.register_forward_hook(lambda mod, i, o, name=name, order=order: order.append(name))
        block(randn(2, 8, 6, 6, seed=8))
        assert order == expected
    assert isinstance(block.downsample, nn.Conv2d) and block.downsample.kernel_size == (1, 1)


def test_preact_identity_path_is_clean():
    """With its residual branch silenced a v2 block passes x through unchanged, negative values included; a v1
    block still applies its ReLU after the addition."""
    x = randn(2, 8, 5, 5, seed=9)
    v2 = V.PreActBlock(8, 8).eval()
    v1 = R.BasicBlock(8, 8).eval()
    with torch.no_grad():
        v2.conv2.weight.zero_()
        v1.bn2.weight.zero_()
        assert torch.equal(v2(x), x)
        assert torch.equal(v1(x), torch.relu(x)) and not torch.equal(v1(x), x)


# ----------------------------------------------------------------------------- CIFAR ResNets (He et al. 2015 §4.2)
def cifar_params_option_a(n: int, w: int = 16, classes: int = 10) -> int:
    """The paper's count (identity / zero-padding shortcuts): 3×3 convs without bias, a BN (2 per channel)
    after each, the fc."""
    convs = 9 * (
        3 * w + 2 * n * w * w + (w * 2 * w + (2 * n - 1) * 4 * w * w) + (2 * w * 4 * w + (2 * n - 1) * 16 * w * w)
    )
    bns = 2 * (w + 2 * n * (w + 2 * w + 4 * w))
    return convs + bns + 4 * w * classes + classes


def option_b_extra(w: int = 16) -> int:
    """Two 1×1 projections (w → 2w, 2w → 4w) and their BNs: 512 + 2048 + 64 + 128 = 2752 for w = 16."""
    return w * 2 * w + 2 * w * 4 * w + 2 * (2 * w + 4 * w)


@pytest.mark.parametrize("depth,paper", [(20, "0.27"), (56, "0.85"), (110, "1.7")])
def test_cifar_parameter_counts_match_table_6(depth, paper):
    n = (depth - 2) // 6
    a = cifar_params_option_a(n)  # 269,722 / 853,018 / 1,727,962
    assert f"{a / 1e6:.{len(paper) - 2}f}" == paper
    assert option_b_extra() == 2752
    assert n_params(V.cifar_resnet(depth)) == a + 2752  # 272,474 / 855,770 / 1,730,714 (option B)
    assert n_params(V.cifar_resnet(depth, shortcut=False)) == a


def _convs(model, k):
    return {
        name: tuple(m.weight.shape)
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d) and m.kernel_size == (k, k)
    }


@pytest.mark.parametrize("depth", [20, 56, 110])
@pytest.mark.parametrize("preact", [False, True])
def test_cifar_layer_count_and_plain_vs_residual(depth, preact):
    """depth = the 3×3 convs + the fc (the paper does not count shortcut projections); the plain net has the same
    3×3 convs (names and shapes), and the residual one only adds the two 1×1 projections."""
    res, plain = V.cifar_resnet(depth, preact=preact), V.cifar_resnet(depth, shortcut=False, preact=preact)
    for model in (res, plain):
        linears = sum(isinstance(m, nn.Linear) for m in model.modules())
        assert len(_convs(model, 3)) + linears == depth
    assert _convs(res, 3) == _convs(plain, 3)
    assert len(_convs(res, 1)) == 2 and not _convs(plain, 1)
    extra = set(res.state_dict()) - set(plain.state_dict())
    assert set(plain.state_dict()) <= set(res.state_dict()) and all("downsample" in k for k in extra)


def test_plain_blocks_have_no_shortcut():
    """Silence the residual branch (last BN to zero): the residual block gives relu(x), the plain one 0."""
    x = randn(2, 16, 8, 8, seed=10)
    res, plain = V.cifar_resnet(20).eval(), V.cifar_resnet(20, shortcut=False).eval()
    with torch.no_grad():
        for model in (res, plain):
            model.layer1[0].bn2.weight.zero_()
            model.layer1[0].bn2.bias.zero_()
        assert torch.equal(res.layer1[0](x), torch.relu(x))
        assert torch.equal(plain.layer1[0](x), torch.zeros_like(x))
    assert isinstance(res.layer2[0].downsample[0], nn.Conv2d) and res.layer2[0].downsample[0].stride == (2, 2)
    assert isinstance(res.layer2[0].downsample[1], nn.BatchNorm2d)


@pytest.mark.parametrize("shortcut,preact", [(True, False), (False, False), (True, True), (False, True)])
@pytest.mark.parametrize("size", [32, 8])
def test_cifar_forward_shapes_and_backward(shortcut, preact, size):
    model = V.cifar_resnet(14, num_classes=5, width=4, in_channels=1, shortcut=shortcut, preact=preact)
    out = model(randn(3, 1, size, size, seed=11))
    assert out.shape == (3, 5)
    out.square().sum().backward()  # no in-place op breaks autograd
    assert all(p.grad is not None for p in model.parameters())
    with torch.no_grad():
        assert model.eval()(randn(2, 1, size, size, seed=12)).shape == (2, 5)
