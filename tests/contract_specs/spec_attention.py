"""Contract cases for cvbook_lib.attention (references: F.scaled_dot_product_attention, nn.MultiheadAttention,
nn.TransformerEncoderLayer, torchvision.ops.SqueezeExcitation; the modules are compared with the same weights)."""

import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from contract_specs import Case
from cvbook_lib import attention as At


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def fill(module, rename=lambda name: name):
    """Give every floating entry of the state_dict fixed values drawn from its (renamed) key, so our module
    and torch's, built from the same kwargs, hold the same weights."""
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                g = torch.Generator().manual_seed(zlib.crc32(rename(name).encode()))
                v = torch.randn(t.numel(), generator=g, dtype=torch.float64) * 0.5
                t.copy_((v.abs() + 0.5 if name.endswith("running_var") else v).view(t.shape))
    return module


# ----------------------------------------------------------------------------- scaled dot-product attention
q3, k3, v3 = _randn(2, 3, 4, seed=1), _randn(2, 5, 4, seed=2), _randn(2, 5, 6, seed=3)
q4, k4, v4 = _randn(2, 4, 3, 8, seed=4), _randn(2, 2, 5, 8, seed=5), _randn(2, 2, 5, 6, seed=6)
float_mask = _randn(3, 5, seed=7)
bool_mask = _randn(2, 1, 3, 5, seed=8) > -0.8
_MASK_1D = "a 1-D attn_mask is refused (torch broadcasts it with 3-D inputs but raises IndexError with 4-D ones)"
_DROPOUT = "dropout_p must be in [0, 1]; torch takes a negative or NaN dropout_p as no dropout"
_SCALE = "scale must be finite; torch returns NaN"
_EMPTY_V = "batch dimensions that do not broadcast are refused; torch returns a [2, 3, 6] answer for an empty value"

SDPA = [
    Case(At.scaled_dot_product_attention,
         dict(query=q3, key=k3, value=v3, dropout_p=0.0, is_causal=False, enable_gqa=False),
         ref=F.scaled_dot_product_attention,
         differs={("dropout_p", "nan"): _DROPOUT, ("dropout_p", "-inf"): _DROPOUT, ("value", "empty-first"): _EMPTY_V}),
    Case(At.scaled_dot_product_attention, dict(query=q3, key=k3, value=v3, attn_mask=float_mask, scale=0.5),
         ref=F.scaled_dot_product_attention, optional={"attn_mask", "scale"},
         differs={("attn_mask", "rank-"): _MASK_1D, ("scale", "nan"): _SCALE, ("scale", "inf"): _SCALE,
                  ("scale", "-inf"): _SCALE, ("value", "empty-first"): _EMPTY_V}),
    Case(At.scaled_dot_product_attention, dict(query=q4[:, :2], key=k4, value=v4, attn_mask=bool_mask),
         ref=F.scaled_dot_product_attention, optional={"attn_mask"}, differs={("value", "empty-first"): _EMPTY_V}),
    Case(At.scaled_dot_product_attention, dict(query=q4, key=k4, value=v4, is_causal=True, enable_gqa=True),
         ref=F.scaled_dot_product_attention, differs={("value", "empty-first"): _EMPTY_V}),
    Case(At.scaled_dot_product_attention, dict(query=q3[:1, :2], key=k3[:1, :3], value=v3[:1, :3, :2]),
         ref=F.scaled_dot_product_attention, any_values={"query", "key", "value"}, label="hypothesis values",
         rtol=1e-5,  # one ulp of the softmax weights, amplified when weights @ value cancels huge values
         skip={"query": "*", "key": "*", "value": "*"}),  # the battery runs on the cases above
]




def _sdpa_ref(query, key, value, tiled=False, block_size=None, **kw):
    """F.sdpa ignores the tiling: the tiled path must give its answer."""
    return F.scaled_dot_product_attention(query, key, value, **kw)


_BLOCK = "block_size must be an int >= 1 (F.sdpa has no block_size)"
SDPA += [
    Case(At.scaled_dot_product_attention, dict(query=q3, key=k3, value=v3, is_causal=True, tiled=True, block_size=2),
         ref=_sdpa_ref, differs={("value", "empty-first"): _EMPTY_V, ("block_size", "zero"): _BLOCK,
                                 ("block_size", "minus1"): _BLOCK}),
    Case(At.scaled_dot_product_attention, dict(query=q4[:, :2], key=k4, value=v4, attn_mask=bool_mask, scale=0.5,
                                               tiled=True), ref=_sdpa_ref, optional={"attn_mask", "scale"},
         differs={("value", "empty-first"): _EMPTY_V, ("scale", "nan"): _SCALE, ("scale", "inf"): _SCALE,
                  ("scale", "-inf"): _SCALE}),
]

TILES = {
    At.tile_plan: [Case(At.tile_plan, dict(L=7, S=5, block_size=2, is_causal=True))],
    At.tile_count: [Case(At.tile_count, dict(L=7, S=5, block_size=3, is_causal=False))],
    At.peak_memory_bytes: [Case(At.peak_memory_bytes, dict(fn=lambda: torch.zeros(3, 4)))],
}


# ----------------------------------------------------------------------------- multi-head attention
def _inputs(m, L=3, S=4, N=2, seed=10):
    dt = m.out_proj.weight.dtype

    def mk(T, E, s):
        return _randn(*((N, T, E) if m.batch_first else (T, N, E)), seed=s).to(dt)

    return mk(L, m.embed_dim, seed), mk(S, m.kdim, seed + 1), mk(S, m.vdim, seed + 2)


def run_mha(m):
    """A forward of a freshly built module with fixed weights on fixed inputs."""
    return fill(m)(*_inputs(m))


_MHA_DROPOUT = "dropout must be in [0, 1]; torch skips dropout when 'dropout > 0' is False (NaN, -inf)"
_ZERO_DIM = "kdim/vdim must be >= 1; torch projects 0-dimensional keys/values"
_MIXED = "a float mask must have the query's dtype; torch refuses a float16 mask alone but promotes it when a " \
         "bool padding mask is given too"
MHA_KW = dict(embed_dim=8, num_heads=2, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
              batch_first=False)
_OURS_MHA = fill(At.MultiHeadAttention(8, 2))
_TORCH_MHA = fill(nn.MultiheadAttention(8, 2))
_q, _k, _v = _inputs(_OURS_MHA, L=3, S=5)
_kpm = torch.tensor([[False, False, True, False, True], [False] * 5])
_am = -(_randn(3, 5, seed=11).abs())                # float mask; (mask > 0) masks no row entirely
_am[0, 1] = 0.5


def _mha_forward(module):
    def forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        return module(query, key, value, key_padding_mask=key_padding_mask, need_weights=need_weights,
                      attn_mask=attn_mask, average_attn_weights=average_attn_weights, is_causal=is_causal)

    return forward


MHA = [
    Case(At.MultiHeadAttention, MHA_KW, ref=nn.MultiheadAttention, out=run_mha,
         differs={("dropout", "nan"): _MHA_DROPOUT, ("dropout", "-inf"): _MHA_DROPOUT}),
    Case(At.MultiHeadAttention, dict(embed_dim=8, num_heads=4, bias=False, add_bias_kv=True, add_zero_attn=True,
                                     kdim=4, vdim=6, batch_first=True), ref=nn.MultiheadAttention, out=run_mha,
         optional={"kdim", "vdim"}, differs={("kdim", "zero"): _ZERO_DIM, ("vdim", "zero"): _ZERO_DIM}),
    Case(At.MultiHeadAttention, dict(embed_dim=6, num_heads=3, dtype=torch.float64), ref=nn.MultiheadAttention,
         out=run_mha),
    Case(_mha_forward(_OURS_MHA), dict(query=_q, key=_k, value=_v, key_padding_mask=_kpm, need_weights=True,
                                       attn_mask=_am, average_attn_weights=False, is_causal=False),
         ref=_mha_forward(_TORCH_MHA), state=lambda: [_OURS_MHA], optional={"key_padding_mask", "attn_mask"},
         differs={("attn_mask", "float16"): _MIXED}),
    Case(_mha_forward(_OURS_MHA), dict(query=_q[:, 0], key=_k[:, 1], value=_v[:, 1], need_weights=False),
         ref=_mha_forward(_TORCH_MHA), state=lambda: [_OURS_MHA],
         # torch's fused need_weights=False kernel drops a NaN/inf query (no NaN out) while its need_weights=True
         # path propagates it, as we do (checked by the case above): no single reference answer.
         skip={"query": {"nan", "inf", "-inf"}}),
]


# ----------------------------------------------------------------------------- encoder layer
def run_tel(m):
    fill(m)
    return m(_randn(3, 2, m.linear1.in_features, seed=12).to(m.linear1.weight.dtype))


_EPS = "layer_norm_eps must be a finite number > 0; torch takes any eps"
TEL_KW = dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, activation="relu", layer_norm_eps=1e-5,
              batch_first=False, norm_first=False, bias=True)
TEL_DIFFERS = {("dim_feedforward", "zero"): "dim_feedforward must be >= 1; torch builds a width-0 FFN",
               ("layer_norm_eps", "zero"): _EPS, ("layer_norm_eps", "negated"): _EPS,
               ("layer_norm_eps", "nan"): _EPS, ("layer_norm_eps", "inf"): _EPS, ("layer_norm_eps", "-inf"): _EPS}
_OURS_TEL = fill(At.TransformerEncoderLayer(8, 2, 16, dropout=0.0))
_TORCH_TEL = fill(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0))
_src = _randn(5, 2, 8, seed=13)
_pad = torch.tensor([[False] * 4 + [True], [False] * 5])
_causal = nn.Transformer.generate_square_subsequent_mask(5)


def _tel_forward(module):
    def forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        return module(src, src_mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=is_causal)

    return forward


TEL = [
    Case(At.TransformerEncoderLayer, TEL_KW, ref=nn.TransformerEncoderLayer, out=run_tel, differs=TEL_DIFFERS),
    Case(At.TransformerEncoderLayer, {**TEL_KW, "activation": "gelu", "batch_first": True, "norm_first": True,
                                      "bias": False}, ref=nn.TransformerEncoderLayer, out=run_tel,
         differs=TEL_DIFFERS),
    Case(_tel_forward(_OURS_TEL), dict(src=_src, src_mask=_causal, src_key_padding_mask=_pad, is_causal=True),
         ref=_tel_forward(_TORCH_TEL), state=lambda: [_OURS_TEL], optional={"src_mask", "src_key_padding_mask"},
         differs={("src_mask", "float16"): _MIXED},
         skip={"src_mask": {"bool"}}),  # (causal > 0) is not causal: is_causal=True would be a false hint
    Case(_tel_forward(_OURS_TEL), dict(src=_src[:, 1], src_key_padding_mask=_pad[1], is_causal=False),
         ref=_tel_forward(_TORCH_TEL), state=lambda: [_OURS_TEL], optional={"src_key_padding_mask"}),
]


# ----------------------------------------------------------------------------- position encodings (no reference)
POSITION = {
    At.sinusoidal_position_encoding: [Case(At.sinusoidal_position_encoding, dict(length=6, dim=8, base=10000.0))],
    At.position_shift_matrix: [Case(At.position_shift_matrix, dict(k=3, dim=8, base=100.0))],
    At.sinusoidal_position_encoding_2d: [
        Case(At.sinusoidal_position_encoding_2d, dict(height=2, width=3, dim=8, base=10000.0))],
}


# ----------------------------------------------------------------------------- SE and coordinate attention
def _se_ref(channels, reduction=16):
    return torchvision.ops.SqueezeExcitation(channels, channels // reduction)


def run_block(m):
    fill(m)
    return m(_randn(2, 16, 5, 3, seed=14).to(next(m.parameters()).dtype))


_OURS_SE = fill(At.SEBlock(16, 4).double())        # float64: x1e4 inputs saturate the gates, float32 rounding
_TORCH_SE = fill(_se_ref(16, 4).double())           # of Linear vs 1x1 conv would then show
_OURS_CA = fill(At.CoordinateAttention(16, 4))
_fmap = _randn(2, 16, 5, 3, seed=15)

BLOCKS = {
    At.SEBlock: [Case(At.SEBlock, dict(channels=16, reduction=4), ref=_se_ref, out=run_block),
                 Case(lambda x: _OURS_SE(x), dict(x=_fmap.double()), ref=lambda x: _TORCH_SE(x),
                      state=lambda: [_OURS_SE])],
    At.CoordinateAttention: [Case(At.CoordinateAttention, dict(channels=16, reduction=4), out=run_block),
                             Case(lambda x: _OURS_CA(x), dict(x=_fmap), state=lambda: [_OURS_CA])],
}

SPECS = {
    At.scaled_dot_product_attention: SDPA,
    At.MultiHeadAttention: MHA,
    At.TransformerEncoderLayer: TEL,
    **POSITION,
    **BLOCKS,
    **TILES,
}
