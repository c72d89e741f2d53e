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
    ours = At.MultiHeadAttention(embed_dim, heads, bias=bias).double()
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
    m, x = At.MultiHeadAttention(8, 2), torch.randn(2, 4, 8)
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        m(x, x, x, key_padding_mask=torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="attn_mask must have shape"):
        m(x, x, x, attn_mask=torch.zeros(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="same batch and length"):
        m(x, x, torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="is_causal"):
        m(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match="embed_dim=8"):
        m(torch.randn(2, 4, 6), x, x)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_nn_transformer_encoder_layer(norm_first, activation):
    ref = nn.TransformerEncoderLayer(16, 4, 40, activation=activation, batch_first=True, norm_first=norm_first)
    ours = At.TransformerEncoderLayer(16, 4, 40, activation=activation, norm_first=norm_first)
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
