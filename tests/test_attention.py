"""cvbook_lib.attention / vit / contrastive against torch.nn and torchvision."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torch.testing import assert_close

from cvbook_lib import attention as At
from cvbook_lib import contrastive as Ct
from cvbook_lib import vit as V

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def rand(*shape, seed=0, device="cpu"):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(device)


# ----------------------------------------------------------------------------- scaled dot-product attention
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mask", ["none", "bool", "float", "bool-broadcast", "causal"])
@pytest.mark.parametrize("scale", [None, 0.3])
def test_sdpa_matches_torch(mask, scale, device):
    q, k, v = rand(2, 3, 5, 8, seed=1, device=device), rand(2, 3, 7, 8, seed=2, device=device), \
        rand(2, 3, 7, 6, seed=3, device=device)
    kw = dict(scale=scale)
    if mask == "bool":
        kw["attn_mask"] = rand(2, 3, 5, 7, seed=4, device=device) > -0.5
    elif mask == "float":
        kw["attn_mask"] = rand(5, 7, seed=5, device=device)
    elif mask == "bool-broadcast":
        kw["attn_mask"] = rand(1, 1, 5, 7, seed=6, device=device) > 0.0
    elif mask == "causal":
        kw["is_causal"] = True
    assert_close(At.scaled_dot_product_attention(q, k, v, **kw), F.scaled_dot_product_attention(q, k, v, **kw))


def test_sdpa_fully_masked_rows_and_gradients():
    q, k, v = (rand(1, 4, 6, seed=s).requires_grad_() for s in (1, 2, 3))
    m = torch.ones(4, 4, dtype=torch.bool)
    m[2] = False                                                         # query 2 sees nothing
    ours, ref = At.scaled_dot_product_attention(q, k, v, m), F.scaled_dot_product_attention(q, k, v, attn_mask=m)
    assert_close(ours, ref)
    assert float(ours[0, 2].detach().abs().sum()) == 0.0
    g1 = torch.autograd.grad(At.scaled_dot_product_attention(q, k, v).sum(), (q, k, v))
    g2 = torch.autograd.grad(F.scaled_dot_product_attention(q, k, v).sum(), (q, k, v))
    for a, b in zip(g1, g2):
        assert_close(a, b)


def test_sdpa_dropout_is_inverted_dropout_on_the_weights():
    q, k, v = rand(1, 50, 4, seed=1), rand(1, 50, 4, seed=2), torch.eye(50, dtype=torch.float64)[None]
    torch.manual_seed(0)
    w = At.scaled_dot_product_attention(q, k, v, dropout_p=0.5)          # value = I: the output is the weights
    w0 = At.scaled_dot_product_attention(q, k, v)
    dropped = w == 0
    assert 0.4 < dropped.float().mean().item() < 0.6
    assert_close(w[~dropped], 2 * w0[~dropped])


def test_sdpa_bad_input():
    q = rand(2, 5, 8)
    with pytest.raises(ValueError, match="same length"):
        At.scaled_dot_product_attention(q, rand(2, 6, 8), rand(2, 7, 8))
    with pytest.raises(ValueError, match="does not broadcast"):
        At.scaled_dot_product_attention(q, q, q, attn_mask=torch.ones(4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="is_causal"):
        At.scaled_dot_product_attention(q, q, q, attn_mask=torch.ones(5, 5, dtype=torch.bool), is_causal=True)
    with pytest.raises(ValueError, match="last dimension"):
        At.scaled_dot_product_attention(q, rand(2, 5, 4), rand(2, 5, 4))
    with pytest.raises(ValueError, match="dropout_p"):
        At.scaled_dot_product_attention(q, q, q, dropout_p=1.5)


# ----------------------------------------------------------------------------- multi-head attention
def pair(embed_dim=16, heads=4, bias=True):
    ref = nn.MultiheadAttention(embed_dim, heads, bias=bias, batch_first=True).double()
    ours = At.MultiHeadAttention(embed_dim, heads, bias=bias, batch_first=True).double()
    ours.load_state_dict(ref.state_dict())
    return ours, ref


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("average", [True, False])
@pytest.mark.parametrize("masks", ["none", "padding", "bool-attn", "float-attn", "per-head", "both"])
def test_mha_matches_nn_multiheadattention(bias, average, masks):
    ours, ref = pair(bias=bias)
    x, y = rand(2, 5, 16, seed=1), rand(2, 9, 16, seed=2)                # cross-attention: L=5, S=9
    kw = dict(average_attn_weights=average)
    if masks in ("padding", "both"):
        kw["key_padding_mask"] = torch.tensor([[False] * 7 + [True] * 2, [False] * 9])
    if masks in ("bool-attn", "both"):
        kw["attn_mask"] = rand(5, 9, seed=3) > 0.8
    if masks == "float-attn":
        kw["attn_mask"] = rand(5, 9, seed=4)
    if masks == "per-head":
        kw["attn_mask"] = rand(8, 5, 9, seed=5) > 0.8
    (o1, w1), (o2, w2) = ours(x, y, y, **kw), ref(x, y, y, **kw)
    assert_close(o1, o2)
    assert_close(w1, w2)
    assert ours(x, y, y, need_weights=False)[1] is None


def test_mha_self_attention_causal_unbatched_seq_first_and_gradients():
    ours, ref = pair()
    x = rand(2, 6, 16, seed=7).requires_grad_()
    causal = torch.ones(6, 6, dtype=torch.bool).triu(1)
    assert_close(ours(x, x, x, attn_mask=causal, is_causal=True)[0], ref(x, x, x, attn_mask=causal, is_causal=True)[0])
    assert_close(ours(x[0], x[0], x[0])[0], ref(x[0], x[0], x[0])[0])
    g1 = torch.autograd.grad(ours(x, x, x)[0].sum(), (x, ours.in_proj_weight))
    g2 = torch.autograd.grad(ref(x, x, x)[0].sum(), (x, ref.in_proj_weight))
    for a, b in zip(g1, g2):
        assert_close(a, b)
    seq_first_ref = nn.MultiheadAttention(16, 4, batch_first=False).double()
    seq_first = At.MultiHeadAttention(16, 4, batch_first=False).double()
    seq_first.load_state_dict(seq_first_ref.state_dict())
    xt = x.detach().transpose(0, 1)
    assert_close(seq_first(xt, xt, xt)[0], seq_first_ref(xt, xt, xt)[0])


def test_mha_heads_share_the_parameter_budget_and_bad_input():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(At.MultiHeadAttention(64, 1)) == count(At.MultiHeadAttention(64, 8)) == 4 * 64 * 64 + 4 * 64
    with pytest.raises(ValueError, match="divisible by num_heads"):
        At.MultiHeadAttention(10, 3)
    m, x = At.MultiHeadAttention(8, 2, batch_first=True), torch.randn(2, 4, 8)
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        m(x, x, x, key_padding_mask=torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="attn_mask must have shape"):
        m(x, x, x, attn_mask=torch.zeros(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="same batch and length"):
        m(x, x, torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="is_causal"):
        m(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match="query must have last dimension 8"):
        m(torch.randn(2, 4, 6), x, x)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_nn_transformer_encoder_layer(norm_first, activation):
    ref = nn.TransformerEncoderLayer(16, 4, 40, activation=activation, batch_first=True, norm_first=norm_first)
    ours = At.TransformerEncoderLayer(16, 4, 40, activation=activation, batch_first=True, norm_first=norm_first)
    ref, ours = ref.double().eval(), ours.double().eval()
    ours.load_state_dict(ref.state_dict())
    x = rand(3, 7, 16, seed=8)
    pad = torch.zeros(3, 7, dtype=torch.bool)
    pad[1, 5:] = True
    causal = nn.Transformer.generate_square_subsequent_mask(7, dtype=torch.float64)
    assert_close(ours(x), ref(x))
    assert_close(ours(x, src_key_padding_mask=pad), ref(x, src_key_padding_mask=pad))
    assert_close(ours(x, src_mask=causal, is_causal=True), ref(x, src_mask=causal, is_causal=True))
    ours.train()
    ref.train()
    assert ours(x).shape == x.shape                                      # dropout active, shapes kept


# ----------------------------------------------------------------------------- position encodings
def test_sinusoidal_position_encoding_formula_and_relative_shift():
    pe = At.sinusoidal_position_encoding(50, 16)
    p, i = 13, 3
    assert pe[p, 2 * i].item() == pytest.approx(math.sin(p / 10000 ** (2 * i / 16)), abs=1e-6)
    assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(p / 10000 ** (2 * i / 16)), abs=1e-6)
    pe64 = At.sinusoidal_position_encoding(60, 16).double()
    for k in (1, 5, 17):
        M = At.position_shift_matrix(k, 16)
        assert_close(pe64[k:], pe64[:-k] @ M.T, atol=1e-6, rtol=1e-6)   # PE(p + k) = M_k PE(p) for every p
        assert_close(M @ M.T, torch.eye(16, dtype=torch.float64))        # a rotation
    pe2 = At.sinusoidal_position_encoding_2d(3, 4, 8)
    assert pe2.shape == (12, 8) and torch.equal(pe2[5, :4], At.sinusoidal_position_encoding(3, 4)[1])
    with pytest.raises(ValueError, match="even"):
        At.sinusoidal_position_encoding(4, 7)
    with pytest.raises(ValueError, match="multiple of 4"):
        At.sinusoidal_position_encoding_2d(2, 2, 6)


# ----------------------------------------------------------------------------- ViT
def _torchvision_to_ours(sd, depth):
    new = {"cls_token": sd["class_token"], "pos_embed": sd["encoder.pos_embedding"],
           "patch_embed.proj.weight": sd["conv_proj.weight"], "patch_embed.proj.bias": sd["conv_proj.bias"],
           "norm.weight": sd["encoder.ln.weight"], "norm.bias": sd["encoder.ln.bias"],
           "head.weight": sd["heads.head.weight"], "head.bias": sd["heads.head.bias"]}
    for i in range(depth):
        p = f"encoder.layers.encoder_layer_{i}."
        for ours, theirs in (("norm1", "ln_1"), ("norm2", "ln_2"), ("linear1", "mlp.0"), ("linear2", "mlp.3")):
            for w in ("weight", "bias"):
                new[f"blocks.{i}.{ours}.{w}"] = sd[f"{p}{theirs}.{w}"]
        for w in ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"):
            new[f"blocks.{i}.self_attn.{w}"] = sd[f"{p}self_attention.{w}"]
    return new


def test_vit_runs_torchvision_weights_identically():
    ref = torchvision.models.VisionTransformer(32, 8, 2, 4, 64, 128, num_classes=10).double().eval()
    ours = V.VisionTransformer(32, 8, 3, 10, 64, 2, 4, 2.0).double().eval()
    ours.load_state_dict(_torchvision_to_ours(ref.state_dict(), 2))
    img = rand(2, 3, 32, 32, seed=9)
    assert_close(ours(img), ref(img))
    maps = ours.attention_maps(img)
    assert len(maps) == 2 and maps[0].shape == (2, 4, 17, 17)
    assert_close(maps[0].sum(-1), torch.ones(2, 4, 17, dtype=torch.float64))


def test_vit_b16_shapes_and_position_interpolation():
    pe = V.PatchEmbedding()
    assert pe(torch.zeros(1, 3, 224, 224)).shape == (1, 196, 768) and pe.num_patches == 196
    assert sum(p.numel() for p in pe.parameters()) == 16 * 16 * 3 * 768 + 768
    tiny = V.VisionTransformer(32, 8, 3, 10, 32, 1, 2)
    assert tiny.tokens(torch.zeros(2, 3, 32, 32)).shape == (2, 17, 32)
    assert tiny.tokens(torch.zeros(2, 3, 48, 48)).shape == (2, 37, 32)   # 6 x 6 patches, interpolated
    pos = torch.randn(1, 1 + 16, 8)
    same = V.interpolate_pos_embed(pos, 4, 4)
    assert_close(same, pos)                                              # identity at the same grid
    smooth = At.sinusoidal_position_encoding_2d(14, 14, 64, base=100.0)[None]
    big = V.interpolate_pos_embed(torch.cat([torch.zeros(1, 1, 64), smooth], 1), 14, 24)
    assert big.shape == (1, 577, 64)
    with pytest.raises(ValueError, match="divisible"):
        V.PatchEmbedding(30, 16)
    with pytest.raises(ValueError, match="pos_dim"):
        V.VisionTransformer(32, 8, position="concat")
    no_pos = V.VisionTransformer(16, 4, 1, 3, 16, 1, 2, position="none").eval()
    img = torch.randn(1, 1, 16, 16)
    shuffled = img.reshape(1, 1, 4, 4, 4, 4).permute(0, 1, 4, 3, 2, 5).reshape(1, 1, 16, 16)   # transpose patch grid
    assert_close(no_pos(img), no_pos(shuffled), atol=1e-5, rtol=1e-5)     # no positions: patch order is invisible
    concat = V.VisionTransformer(16, 4, 1, 3, 16, 1, 2, position="concat", pos_dim=4)
    assert concat.tokens(img).shape == (1, 17, 16)


# ----------------------------------------------------------------------------- SE, coordinate attention
def test_se_block_matches_torchvision_squeeze_excitation():
    ours = At.SEBlock(32, reduction=8).double()
    ref = torchvision.ops.SqueezeExcitation(32, 4).double()
    ref.fc1.weight.data, ref.fc1.bias.data = ours.fc1.weight.data[:, :, None, None].clone(), ours.fc1.bias.data.clone()
    ref.fc2.weight.data, ref.fc2.bias.data = ours.fc2.weight.data[:, :, None, None].clone(), ours.fc2.bias.data.clone()
    for shape in ((2, 32, 7, 7), (1, 32, 3, 11)):
        x = rand(*shape, seed=10)
        assert_close(ours(x), ref(x))


def _ca_reference(m, x):
    """Hou et al.'s formulas, one direction at a time, with the module's weights."""
    N, C, H, W = x.shape
    z_h, z_w = x.mean(3), x.mean(2)                                       # [N, C, H], [N, C, W]
    def shared(z):
        f = torch.einsum("mc,ncl->nml", m.conv1.weight[:, :, 0, 0], z) + m.conv1.bias[None, :, None]
        return F.hardswish(F.batch_norm(f, m.bn1.running_mean, m.bn1.running_var, m.bn1.weight, m.bn1.bias,
                                        False, 0.0, m.bn1.eps))
    def gate(conv, z):
        return torch.sigmoid(torch.einsum("cm,nml->ncl", conv.weight[:, :, 0, 0], shared(z)) + conv.bias[None, :, None])

    g_h, g_w = gate(m.conv_h, z_h), gate(m.conv_w, z_w)
    return x * g_h[:, :, :, None] * g_w[:, :, None, :]


def test_coordinate_attention_any_size_and_uses_its_bn():
    m = At.CoordinateAttention(64, reduction=32).double()
    assert m.conv1.out_channels == 8                                      # mip = max(8, C // r)
    with torch.no_grad():
        m.bn1.running_mean.normal_()
        m.bn1.running_var.uniform_(0.5, 2.0)
    m.eval()
    for shape in ((2, 64, 5, 9), (1, 64, 12, 3)):
        x = rand(*shape, seed=11)
        assert_close(m(x), _ca_reference(m, x))
    m.train()
    assert not torch.allclose(m(rand(2, 64, 5, 9, seed=11)), _ca_reference(m.eval(), rand(2, 64, 5, 9, seed=11)))


# ----------------------------------------------------------------------------- contrastive losses
def test_clip_and_info_nce_losses_match_the_definition():
    a, b = rand(6, 5, seed=12).requires_grad_(), rand(6, 5, seed=13)
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / 0.07
    labels = torch.arange(6)
    ref = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    assert_close(Ct.clip_loss(a, b, 0.07), ref)
    assert_close(Ct.info_nce_loss(a, b, 0.07), F.cross_entropy(logits, labels))
    g1 = torch.autograd.grad(Ct.clip_loss(a, b, 0.07), a)[0]
    g2 = torch.autograd.grad(ref, a)[0]
    assert_close(g1, g2)
    assert Ct.clip_loss(b * 3, b, 0.07) < Ct.clip_loss(a, b, 0.07)        # aligned pairs: lower loss
    with pytest.raises(ValueError, match="same shape"):
        Ct.clip_loss(a, b[:3])
    with pytest.raises(ValueError, match="temperature"):
        Ct.info_nce_loss(a, b, 0.0)


# ----------------------------------------------------------------------------- issue 15: the contract
def _load(ours, ref):
    ours.load_state_dict(ref.state_dict())          # strict: same keys, same shapes
    return ours.double().eval(), ref.double().eval()


def test_default_layout_is_torchs_seq_first():
    """The same constructor call gives the same module: batch_first=False by default, as in torch."""
    ours, ref = _load(At.MultiHeadAttention(16, 4), nn.MultiheadAttention(16, 4))
    assert ours.batch_first is False
    x, y = rand(5, 2, 16, seed=1), rand(7, 2, 16, seed=2)                 # [L, N, E], [S, N, E]
    for a, b in zip(ours(x, y, y), ref(x, y, y)):
        assert_close(a, b)
    ours, ref = _load(At.TransformerEncoderLayer(16, 4, 40, dropout=0.0),
                      nn.TransformerEncoderLayer(16, 4, 40, dropout=0.0))
    assert_close(ours(x), ref(x))
    pad = torch.zeros(2, 5, dtype=torch.bool)
    pad[0, 3:] = True
    assert_close(ours(x, src_key_padding_mask=pad), ref(x, src_key_padding_mask=pad))


@pytest.mark.parametrize("kw", [dict(add_bias_kv=True), dict(add_zero_attn=True), dict(kdim=6, vdim=10),
                                dict(kdim=6, vdim=10, add_bias_kv=True, add_zero_attn=True, bias=False)])
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_options_match_torch(kw, batch_first):
    torch.manual_seed(0)
    ours, ref = _load(At.MultiHeadAttention(16, 4, batch_first=batch_first, **kw),
                      nn.MultiheadAttention(16, 4, batch_first=batch_first, **kw))
    kdim, vdim = kw.get("kdim", 16), kw.get("vdim", 16)
    shape = (lambda n, t, e: (n, t, e)) if batch_first else (lambda n, t, e: (t, n, e))
    q, k, v = rand(*shape(2, 5, 16), seed=1), rand(*shape(2, 7, kdim), seed=2), rand(*shape(2, 7, vdim), seed=3)
    pad = torch.tensor([[False] * 5 + [True] * 2, [False] * 7])
    mask = rand(5, 7, seed=4) > 0.5
    for call in (dict(), dict(key_padding_mask=pad), dict(attn_mask=mask, average_attn_weights=False)):
        (o1, w1), (o2, w2) = ours(q, k, v, **call), ref(q, k, v, **call)
        assert_close(o1, o2)
        assert_close(w1, w2)
    positional = At.MultiHeadAttention(16, 4, 0.0, True, True, False, None, None, batch_first)   # torch's order
    assert positional.bias_k is not None and positional.batch_first is batch_first


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_bias_false_loads_torchs_state_dict(bias, norm_first):
    ref = nn.TransformerEncoderLayer(16, 4, 40, dropout=0.0, norm_first=norm_first, bias=bias)
    ours = At.TransformerEncoderLayer(16, 4, 40, dropout=0.0, norm_first=norm_first, bias=bias)
    assert set(ours.state_dict()) == set(ref.state_dict())
    assert ("norm1.bias" in ours.state_dict()) is bias and ("norm2.bias" in ours.state_dict()) is bias
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_()                                                   # non-trivial LayerNorm weights too
    ours, ref = _load(ours, ref)
    x = rand(6, 3, 16, seed=5)
    assert_close(ours(x), ref(x))


def test_encoder_layer_messages_name_its_own_arguments():
    with pytest.raises(ValueError, match="d_model must be divisible by nhead, got d_model=10 and nhead=3"):
        At.TransformerEncoderLayer(10, 3)
    with pytest.raises(ValueError, match="d_model must be an int >= 1"):
        At.TransformerEncoderLayer(0, 1)
    with pytest.raises(TypeError, match="nhead must be an int"):
        At.TransformerEncoderLayer(8, 2.0)
    with pytest.raises(ValueError, match="dim_feedforward must be an int >= 1"):
        At.TransformerEncoderLayer(8, 2, 0)
    with pytest.raises(ValueError, match="layer_norm_eps must be"):
        At.TransformerEncoderLayer(8, 2, layer_norm_eps=0.0)
    with pytest.raises(ValueError, match="activation must be one of"):
        At.TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(TypeError, match="norm_first must be a bool"):
        At.TransformerEncoderLayer(8, 2, norm_first="False")
    layer = At.TransformerEncoderLayer(8, 2, 16)
    x = torch.randn(4, 2, 8)
    with pytest.raises(ValueError, match="src must have last dimension 8"):
        layer(torch.randn(4, 2, 6))
    with pytest.raises(TypeError, match="src must have the module's dtype"):
        layer(x.double())
    with pytest.raises(ValueError, match=r"src_key_padding_mask must have shape \(N, S\) = \(2, 4\)"):
        layer(x, src_key_padding_mask=torch.zeros(4, 2, dtype=torch.bool))
    with pytest.raises(TypeError, match="src_mask must have dtype"):
        layer(x, src_mask=torch.zeros(4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="is_causal=True is only a hint that src_mask is causal"):
        layer(x, is_causal=True)
    with pytest.raises(TypeError, match="is_causal must be a bool"):
        layer(x, is_causal=1)
    with pytest.raises(ValueError, match="embed_dim must be divisible by num_heads"):
        At.MultiHeadAttention(10, 3)
    with pytest.raises(TypeError, match="batch_first must be a bool"):
        At.MultiHeadAttention(8, 2, batch_first="True")


def test_mha_forward_refuses_what_torch_refuses_clearly():
    m, x = At.MultiHeadAttention(8, 2), torch.randn(4, 2, 8)
    ref = nn.MultiheadAttention(8, 2)
    bad = [dict(query=x.double()), dict(key_padding_mask=torch.zeros(2, 4, dtype=torch.long)),
           dict(attn_mask=torch.zeros(4, 4, dtype=torch.float64)), dict(query=x[0])]
    for kw in bad:
        call = {**dict(query=x, key=x, value=x), **kw}
        with pytest.raises((RuntimeError, AssertionError)):
            ref(**call)
        with pytest.raises((TypeError, ValueError), match=next(iter(kw))):
            m(**call)
    for flag in ("need_weights", "average_attn_weights", "is_causal"):
        with pytest.raises(TypeError, match=flag):
            m(x, x, x, **{flag: "False"})


def _sdpa_pair(**kw):
    q, k, v = rand(2, 3, 4, 8, seed=1), rand(2, 3, 6, 8, seed=2), rand(2, 3, 6, 5, seed=3)
    args = dict(query=q, key=k, value=v)
    args.update(kw)
    return At.scaled_dot_product_attention(**args), F.scaled_dot_product_attention(**args)


@pytest.mark.parametrize("kw", [
    dict(scale=0.0), dict(scale=-1.0), dict(scale=2), dict(scale=torch.tensor(0.5)),
    dict(attn_mask=torch.zeros(4, 6)), dict(attn_mask=rand(4, 6, seed=9)), dict(attn_mask=rand(1, 6, seed=9) > 0),
    dict(attn_mask=torch.zeros(4, 6, dtype=torch.bool)), dict(dropout_p=1.0),
    dict(query=rand(2, 3, 0, 8)), dict(key=rand(2, 3, 0, 8), value=rand(2, 3, 0, 5)),
    dict(key=rand(2, 3, 0, 8), value=rand(2, 3, 0, 5), is_causal=True),
    dict(query=rand(2, 3, 4, 0), key=rand(2, 3, 6, 0)), dict(value=rand(2, 3, 6, 0)),
    dict(query=rand(0, 3, 4, 8), key=rand(0, 3, 6, 8), value=rand(0, 3, 6, 5)),
    dict(query=rand(3, 4, 8)), dict(key=rand(1, 3, 6, 8)), dict(query=rand(7, 8), is_causal=True),
    dict(query=rand(2, 6, 4, 8), enable_gqa=True),
])
def test_sdpa_matches_torch_on_edge_cases(kw):
    ours, ref = _sdpa_pair(**kw)
    assert ours.shape == ref.shape
    assert_close(ours, ref)


@pytest.mark.parametrize("which", ["query", "key", "value", "attn_mask"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_sdpa_nan_and_inf_propagate_like_torch(which, bad):
    q, k, v, m = rand(2, 4, 8, seed=1), rand(2, 6, 8, seed=2), rand(2, 6, 5, seed=3), rand(4, 6, seed=4)
    args = dict(query=q, key=k, value=v, attn_mask=m)
    args[which] = args[which].clone()
    args[which].view(-1)[5] = bad
    ours, ref = At.scaled_dot_product_attention(**args), F.scaled_dot_product_attention(**args)
    assert torch.equal(ours.isnan(), ref.isnan())
    assert_close(ours, ref, equal_nan=True)


def test_sdpa_flags_dtypes_and_ranges():
    q = rand(2, 4, 8)
    for flag in ("is_causal", "enable_gqa"):
        for bad in ("False", None, 1, 0):
            with pytest.raises(TypeError, match=flag):
                At.scaled_dot_product_attention(q, q, q, **{flag: bad})
    for p in (-0.1, 1.5, math.nan, math.inf):       # torch takes -0.1 and NaN as "no dropout": refused here
        with pytest.raises(ValueError, match="dropout_p"):
            At.scaled_dot_product_attention(q, q, q, dropout_p=p)
    for s in (math.nan, math.inf):                  # torch returns NaN: refused here
        with pytest.raises(ValueError, match="scale"):
            At.scaled_dot_product_attention(q, q, q, scale=s)
    with pytest.raises(TypeError, match="scale"):
        At.scaled_dot_product_attention(q, q, q, scale="1")
    for name in ("query", "key", "value"):         # torch: RuntimeError on mixed dtypes
        args = dict(query=q, key=q, value=q)
        args[name] = q.float()
        with pytest.raises(RuntimeError):
            F.scaled_dot_product_attention(**args)
        with pytest.raises(TypeError, match=name):
            At.scaled_dot_product_attention(**args)
    for dtype in (torch.long, torch.float16, torch.bfloat16):
        mask = torch.zeros(4, 4, dtype=dtype)
        with pytest.raises(RuntimeError):
            F.scaled_dot_product_attention(q, q, q, attn_mask=mask)
        with pytest.raises(TypeError, match="attn_mask"):
            At.scaled_dot_product_attention(q, q, q, attn_mask=mask)
    with pytest.raises(ValueError, match="attn_mask of shape"):   # would enlarge the output: torch raises
        At.scaled_dot_product_attention(q, q, q, attn_mask=torch.ones(3, 2, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="do not broadcast"):
        At.scaled_dot_product_attention(q, rand(3, 4, 8), rand(3, 4, 8))
    with pytest.raises(ValueError, match="enable_gqa"):
        At.scaled_dot_product_attention(rand(2, 3, 4, 8), rand(2, 2, 4, 8), rand(2, 2, 4, 8), enable_gqa=True)
    for t in (q.long(), q > 0, q.to(torch.complex128)):
        with pytest.raises(TypeError, match="query"):
            At.scaled_dot_product_attention(t, t, t)


@pytest.mark.parametrize("fn,args", [
    (At.sinusoidal_position_encoding, (8, 16)), (At.position_shift_matrix, (3, 16)),
    (At.sinusoidal_position_encoding_2d, (2, 3, 16)),
])
def test_position_encodings_refuse_bad_bases_and_sizes(fn, args):
    assert torch.isfinite(fn(*args)).all()
    for base in (0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="base"):
            fn(*args, base=base)
    with pytest.raises(TypeError, match="base"):
        fn(*args, base="10000")
    for dim in (7, 0, -2) + ((6,) if fn is At.sinusoidal_position_encoding_2d else ()):
        with pytest.raises(ValueError, match="dim"):
            fn(*args[:-1], dim)
    with pytest.raises(TypeError, match="dim"):
        fn(*args[:-1], 16.0)
    np = pytest.importorskip("numpy")
    assert torch.equal(fn(*(np.int64(a) for a in args)), fn(*args))


def test_position_encodings_empty_and_bad_lengths():
    assert At.sinusoidal_position_encoding(0, 8).shape == (0, 8)
    assert At.sinusoidal_position_encoding_2d(0, 3, 8).shape == (0, 8)
    with pytest.raises(ValueError, match="length must be an int >= 0"):
        At.sinusoidal_position_encoding(-1, 8)
    with pytest.raises(TypeError, match="length"):
        At.sinusoidal_position_encoding(2.0, 8)
    with pytest.raises(TypeError, match="k must be an int"):
        At.position_shift_matrix(True, 8)
    assert_close(At.position_shift_matrix(-3, 8), At.position_shift_matrix(3, 8).T)   # a shift back


def test_vit_and_patch_embedding_checks():
    with pytest.raises(TypeError, match="mlp_ratio"):                  # was a 71-PB allocation
        V.VisionTransformer(mlp_ratio="4")
    for r in (0.0, -1.0, math.nan, math.inf, 0.001):
        with pytest.raises(ValueError, match="mlp_ratio"):
            V.VisionTransformer(32, 8, embed_dim=64, depth=1, num_heads=4, mlp_ratio=r)
    with pytest.raises(ValueError, match="embed_dim must be divisible by num_heads"):
        V.VisionTransformer(32, 8, embed_dim=64, num_heads=5)
    with pytest.raises(ValueError, match="pos_dim is only used with position='concat'"):
        V.VisionTransformer(32, 8, embed_dim=64, depth=1, num_heads=4, pos_dim=4)
    with pytest.raises(ValueError, match="embed_dim must be a multiple of 4"):
        V.VisionTransformer(32, 8, embed_dim=66, depth=1, num_heads=3, position="sinusoidal2d")
    with pytest.raises(ValueError, match="img_size .* must be divisible by patch_size"):
        V.PatchEmbedding((32, 30), 8)
    with pytest.raises(ValueError, match="patch_size must be >= 1"):
        V.PatchEmbedding(32, 0)
    with pytest.raises(TypeError, match="img_size"):
        V.PatchEmbedding(32.0, 8)
    pe = V.PatchEmbedding((32, 16), (8, 4), 3, 12)
    assert pe.grid == (4, 4) and pe(torch.zeros(2, 3, 32, 16)).shape == (2, 16, 12)
    assert pe(torch.zeros(0, 3, 8, 4)).shape == (0, 1, 12)
    for shape in ((1, 3, 30, 16), (1, 2, 32, 16), (1, 3, 0, 16)):
        with pytest.raises(ValueError, match="x must have shape"):
            pe(torch.zeros(shape))
    with pytest.raises(TypeError, match="x must have the module's dtype"):
        pe(torch.zeros(1, 3, 32, 16, dtype=torch.float64))


def test_interpolate_pos_embed_matches_torchvision():
    from torchvision.models.vision_transformer import interpolate_embeddings

    pos = rand(1, 1 + 7 * 7, 12, seed=3)
    ref = interpolate_embeddings(80, 8, {"encoder.pos_embedding": pos})["encoder.pos_embedding"]   # 7x7 -> 10x10
    assert_close(V.interpolate_pos_embed(pos, 7, 10, align_corners=True), ref)
    plain = F.interpolate(pos[:, 1:].reshape(1, 7, 7, 12).permute(0, 3, 1, 2), size=(10, 4), mode="bicubic")
    assert_close(V.interpolate_pos_embed(pos, 7, (10, 4))[:, 1:], plain.permute(0, 2, 3, 1).reshape(1, 40, 12))
    assert_close(V.interpolate_pos_embed(pos[:, 1:], 7, 7, num_prefix_tokens=0), pos[:, 1:])
    with pytest.raises(ValueError, match="pos_embed must have shape"):
        V.interpolate_pos_embed(pos, 6, 10)
    with pytest.raises(ValueError, match="mode must be one of"):
        V.interpolate_pos_embed(pos, 7, 10, mode="area")
    with pytest.raises(TypeError, match="align_corners must be a bool"):
        V.interpolate_pos_embed(pos, 7, 10, align_corners=None)


def test_se_and_coordinate_attention_checks():
    for cls in (At.SEBlock, At.CoordinateAttention):
        with pytest.raises(ValueError, match="reduction must be an int >= 1"):
            cls(16, 0)
        with pytest.raises(ValueError, match="channels must be an int >= 1"):
            cls(0)
        with pytest.raises(TypeError, match="channels must be an int"):
            cls(16.0)
        m = cls(16, 4)
        with pytest.raises(ValueError, match=r"x must have shape \[N, 16, H, W\]"):
            m(torch.randn(2, 8, 5, 5))
        with pytest.raises(TypeError, match="x must have the module's dtype"):
            m(torch.randn(2, 16, 5, 5, dtype=torch.float64))
        before = {k: v.clone() for k, v in m.state_dict().items()}
        for shape in ((2, 16, 0, 5), (0, 16, 3, 3)):                    # empty in, empty out (torchvision's SE too)
            assert m(torch.randn(shape)).shape == shape
        assert all(torch.equal(v, m.state_dict()[k]) for k, v in before.items())
    ref = torchvision.ops.SqueezeExcitation(16, 1)
    assert ref(torch.randn(2, 16, 0, 5)).shape == (2, 16, 0, 5)
