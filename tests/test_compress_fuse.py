"""cvbook_lib.compress.fuse against torch.nn.utils.fusion, torch.fx.experimental.optimization.fuse and the
unfused layers (bn(conv(x)) in eval mode); RIFormer's reparameterization against its training form and an
explicit F.group_norm / F.layer_norm expression, in float64."""

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.fx.experimental.optimization import fuse as fx_fuse
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from cvbook_lib.compress import fuse as FU


def _bn(kind, C, dtype=torch.float32, affine=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    bn = kind(C, affine=affine, eps=1e-3).to(dtype)
    bn.running_mean.copy_(torch.randn(C, generator=g))
    bn.running_var.copy_(torch.rand(C, generator=g) + 0.3)
    if affine:
        with torch.no_grad():
            bn.weight.copy_(torch.randn(C, generator=g))
            bn.bias.copy_(torch.randn(C, generator=g))
    return bn.eval()


def _state(*mods):
    return [{k: v.clone() for k, v in m.state_dict().items()} for m in mods]


def _same_state(a, b):
    return all(x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x) for x, y in zip(a, b))


CONVS = {
    "conv1d": (lambda: nn.Conv1d(3, 4, 3, padding=1), nn.BatchNorm1d, (2, 3, 9)),
    "conv2d-nobias-groups": (lambda: nn.Conv2d(4, 6, 3, stride=2, groups=2, bias=False), nn.BatchNorm2d, (2, 4, 9, 9)),
    "conv3d": (lambda: nn.Conv3d(2, 3, 2), nn.BatchNorm3d, (1, 2, 5, 5, 5)),
    "convT2d": (lambda: nn.ConvTranspose2d(3, 5, 3, stride=2), nn.BatchNorm2d, (2, 3, 4, 4)),
    "convT1d-nobias": (lambda: nn.ConvTranspose1d(3, 2, 4, bias=False), nn.BatchNorm1d, (2, 3, 6)),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("name", list(CONVS))
def test_fuse_conv_bn_equals_torch(name, affine, dtype):
    make, kind, shape = CONVS[name]
    torch.manual_seed(0)
    conv = make().to(dtype).eval()
    bn = _bn(kind, conv.out_channels, dtype, affine)
    transpose = isinstance(conv, nn.modules.conv._ConvTransposeNd)
    before = _state(conv, bn)
    ours, theirs = FU.fuse_conv_bn(conv, bn, transpose=transpose), fuse_conv_bn_eval(conv, bn, transpose=transpose)
    assert type(ours) is type(conv) and ours is not conv and ours.weight.dtype == dtype == ours.bias.dtype
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(ours.weight, theirs.weight, **tol)
    torch.testing.assert_close(ours.bias, theirs.bias, **tol)
    x = torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), bn(conv(x)), **tol)
    assert ours.stride == conv.stride and ours.padding == conv.padding and ours.groups == conv.groups
    assert _same_state(before, _state(conv, bn))


def test_grouped_transposed_conv_is_fused_where_torch_fails():
    torch.manual_seed(0)
    conv, bn = nn.ConvTranspose2d(4, 6, 3, groups=2).eval(), _bn(nn.BatchNorm2d, 6)
    with pytest.raises(RuntimeError):  # torch scales [in, out/g, k, k] by a [1, out, 1, 1] tensor
        fuse_conv_bn_eval(conv, bn, transpose=True)
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(FU.fuse_conv_bn(conv, bn, transpose=True)(x), bn(conv(x)), rtol=1e-5, atol=1e-5)


def test_torchs_default_transpose_flag_is_silently_wrong_for_transposed_convs():
    torch.manual_seed(0)
    conv, bn = nn.ConvTranspose2d(4, 4, 3).eval(), _bn(nn.BatchNorm2d, 4)
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        assert (fuse_conv_bn_eval(conv, bn)(x) - bn(conv(x))).abs().max() > 0.1  # torch: no error, wrong answer
    with pytest.raises(ValueError, match="transpose"):
        FU.fuse_conv_bn(conv, bn)
    with pytest.raises(ValueError, match="transpose"):
        FU.fuse_conv_bn(nn.Conv2d(4, 4, 3).eval(), bn, transpose=True)


def test_new_bias_follows_the_weights_requires_grad():
    conv, bn = nn.Conv2d(3, 4, 3, bias=False).eval(), _bn(nn.BatchNorm2d, 4)
    assert fuse_conv_bn_eval(conv, bn).bias.requires_grad is False  # torch: a frozen bias, surprisingly
    assert FU.fuse_conv_bn(conv, bn).bias.requires_grad is True
    conv.weight.requires_grad_(False)
    assert FU.fuse_conv_bn(conv, bn).bias.requires_grad is False


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_fuse_linear_bn_equals_torch(bias, dtype):
    torch.manual_seed(0)
    lin, bn = nn.Linear(5, 4, bias=bias).to(dtype).eval(), _bn(nn.BatchNorm1d, 4, dtype)
    ours, theirs = FU.fuse_linear_bn(lin, bn), fuse_linear_bn_eval(lin, bn)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(ours.weight, theirs.weight, **tol)
    torch.testing.assert_close(ours.bias, theirs.bias, **tol)
    x = torch.randn(6, 5, dtype=dtype)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), bn(lin(x)), **tol)


def test_fuse_linear_with_a_one_feature_bn_and_with_affine_false():
    torch.manual_seed(0)
    lin, bn1 = nn.Linear(5, 4).eval(), _bn(nn.BatchNorm1d, 1)
    x = torch.randn(6, 1, 5)  # [N, C=1, L=in]: the layout a 1-feature BatchNorm1d needs
    with torch.no_grad():
        torch.testing.assert_close(FU.fuse_linear_bn(lin, bn1)(x), bn1(lin(x)))
        torch.testing.assert_close(FU.fuse_linear_bn(lin, bn1).weight, fuse_linear_bn_eval(lin, bn1).weight)
    bn = _bn(nn.BatchNorm1d, 4, affine=False)
    with pytest.raises(TypeError):  # torch multiplies bn.weight = None
        fuse_linear_bn_eval(lin, bn)
    with torch.no_grad():
        torch.testing.assert_close(FU.fuse_linear_bn(lin, bn)(x[:, 0]), bn(lin(x[:, 0])))


def test_bad_inputs_are_refused_before_anything_changes():
    conv, bn = nn.Conv2d(3, 4, 3).eval(), _bn(nn.BatchNorm2d, 4)
    with pytest.raises(ValueError, match="bn must be in eval mode"):
        FU.fuse_conv_bn(conv, copy.deepcopy(bn).train())
    with pytest.raises(ValueError, match="conv must be in eval mode"):
        FU.fuse_conv_bn(copy.deepcopy(conv).train(), bn)
    with pytest.raises(ValueError, match="num_features"):
        FU.fuse_conv_bn(conv, _bn(nn.BatchNorm2d, 5))
    with pytest.raises(ValueError, match="num_features"):
        FU.fuse_conv_bn(conv, _bn(nn.BatchNorm2d, 1))  # torch broadcasts it over the 4 channels
    with pytest.raises(ValueError, match="running statistics"):
        FU.fuse_conv_bn(conv, nn.BatchNorm2d(4, track_running_stats=False).eval())
    bad_var = _bn(nn.BatchNorm2d, 4)
    bad_var.running_var[0] = -1.0
    with pytest.raises(ValueError, match="running_var"):
        FU.fuse_conv_bn(conv, bad_var)
    with pytest.raises(TypeError, match="conv"):
        FU.fuse_conv_bn(nn.Linear(3, 4).eval(), bn)
    with pytest.raises(TypeError, match="bn"):
        FU.fuse_conv_bn(conv, nn.LayerNorm(4))
    with pytest.raises(TypeError, match="transpose"):
        FU.fuse_conv_bn(conv, bn, transpose=0)
    lin = nn.Linear(3, 4).eval()
    with pytest.raises(ValueError, match="num_features"):
        FU.fuse_linear_bn(lin, _bn(nn.BatchNorm1d, 3))
    with pytest.raises(ValueError, match="linear must be in eval mode"):
        FU.fuse_linear_bn(copy.deepcopy(lin).train(), _bn(nn.BatchNorm1d, 4))
    with pytest.raises(TypeError, match="linear"):
        FU.fuse_linear_bn(conv, bn)


def _model():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        _bn(nn.BatchNorm2d, 4, seed=1),
        nn.ReLU(),
        nn.Sequential(
            nn.Conv2d(4, 4, 3, groups=2, bias=False),
            _bn(nn.BatchNorm2d, 4, seed=2),
            nn.ReLU(),
            nn.Sequential(nn.Conv2d(4, 5, 1), _bn(nn.BatchNorm2d, 5, seed=3)),
        ),
        nn.BatchNorm2d(5, track_running_stats=False),  # not foldable: left alone
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(5, 6),
        _bn(nn.BatchNorm1d, 6, seed=4),
        nn.Linear(6, 3),
    )
    return model.eval()


def test_fuse_model_equals_the_model_and_torch_fx_fuse():
    model = _model()
    before = _state(model)
    fused = FU.fuse_model(model)
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), model(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(fused(x), fx_fuse(model)(x), rtol=1e-5, atol=1e-5)
    bns = [m for m in fused.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert len(bns) == 1 and bns[0].running_mean is None  # only the stat-less one is left
    assert isinstance(fused[1], nn.Identity) and isinstance(fused[3][3][1], nn.Identity)
    assert _same_state(before, _state(model)) and isinstance(model[1], nn.BatchNorm2d)


def test_fuse_model_on_a_torchvision_network():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v3_small(num_classes=10)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        model.train()(torch.randn(8, 3, 64, 64))  # give the BNs non-trivial running statistics
        model.eval()
        fused = FU.fuse_model(model)
        torch.testing.assert_close(fused(x), model(x), rtol=1e-4, atol=1e-4)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())


def test_fuse_model_refuses_training_mode_and_non_modules():
    model = _model().train()
    with pytest.raises(ValueError, match="model must be in eval mode"):
        FU.fuse_model(model)
    with pytest.raises(TypeError, match="model"):
        FU.fuse_model("model")
    assert isinstance(FU.fuse_model(nn.Conv2d(3, 4, 3).eval()), nn.Conv2d)  # nothing to fuse: a copy


# ----------------------------------------------------------------------------- RIFormer
def _block(norm, seed=0):
    torch.manual_seed(seed)
    block = FU.AffineMixerBlock(6, norm=norm, eps=1e-6).double()
    for p in block.parameters():
        nn.init.normal_(p)
    return block


def _explicit(block, x):
    """x + ℓ(a·n(x) + b - n(x)) with torch's own F.group_norm / F.layer_norm."""
    n = block.norm1
    if block.norm == "group":
        y = F.group_norm(x, 1, n.weight, n.bias, n.eps)
    else:
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), n.weight, n.bias, n.eps).permute(0, 3, 1, 2)
    a, b, ls = (p.view(1, -1, 1, 1) for p in (block.token_mixer.weight, block.token_mixer.bias, block.layer_scale_1))
    return x + ls * (a * y + b - y)


@pytest.mark.parametrize("norm", ["group", "layer"])
def test_training_form_is_the_riformer_formula(norm):
    block = _block(norm)
    x = torch.randn(3, 6, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(block(x), _explicit(block, x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("norm", ["group", "layer"])
def test_reparameterized_block_gives_the_same_outputs(norm, mode):
    block = _block(norm)
    getattr(block, mode)()
    before = _state(block)
    deployed = FU.reparameterize_affine(block)
    assert deployed.training == block.training and deployed.deploy and not block.deploy
    assert not hasattr(deployed, "token_mixer") and not hasattr(deployed, "layer_scale_1")
    assert sum(p.numel() for p in deployed.parameters()) == 2 * 6
    assert sum(p.numel() for p in block.parameters()) == 5 * 6
    x = torch.randn(3, 6, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(deployed(x), block(x), rtol=0, atol=1e-12)
    assert _same_state(before, _state(block))


def test_default_block_starts_as_the_identity_and_reparameterizes_to_a_zero_norm():
    block = FU.AffineMixerBlock(4)
    x = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(block(x), x)  # a = 1, b = 0: the mixer branch is zero
    deployed = FU.reparameterize_affine(block)
    assert torch.equal(deployed.norm_reparam.weight, torch.zeros(4))


def test_affine_block_bad_inputs():
    with pytest.raises(ValueError, match="dim"):
        FU.AffineMixerBlock(0)
    with pytest.raises(ValueError, match="norm"):
        FU.AffineMixerBlock(4, norm="batch")
    with pytest.raises(ValueError, match="eps"):
        FU.AffineMixerBlock(4, eps=0.0)
    with pytest.raises(ValueError, match="layer_scale_init_value"):
        FU.AffineMixerBlock(4, layer_scale_init_value=float("nan"))
    with pytest.raises(ValueError, match="channels"):
        FU.AffineMixerBlock(4)(torch.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match="x must be 4-D"):
        FU.AffineMixerBlock(4)(torch.randn(4, 5, 5))
    with pytest.raises(ValueError, match="already reparameterized"):
        FU.reparameterize_affine(FU.AffineMixerBlock(4, deploy=True))
    with pytest.raises(TypeError, match="block"):
        FU.reparameterize_affine(nn.GroupNorm(1, 4))
