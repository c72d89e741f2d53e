"""Attention from scratch: scaled dot-product attention (= ``F.scaled_dot_product_attention``),
multi-head attention and a Transformer encoder layer that load the ``state_dict`` of
``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer`` and give the same outputs, sinusoidal
position encodings (1-D and 2-D), and the SE and coordinate-attention blocks of CNNs.
The ViT lives in :mod:`cvbook_lib.vit`.

References: Vaswani et al. 2017; Hu et al. 2018 (SE); Hou et al. 2021 (coordinate attention).
Tested in ``tests/test_attention.py``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ._checks import check_int, check_probability, check_tensor
from .norm import dropout as _dropout

__all__ = ["scaled_dot_product_attention", "MultiHeadAttention", "TransformerEncoderLayer",
           "sinusoidal_position_encoding", "sinusoidal_position_encoding_2d", "position_shift_matrix",
           "SEBlock", "CoordinateAttention"]


def _broadcastable(mask, shape, name):
    try:
        torch.broadcast_shapes(mask.shape, shape)
    except RuntimeError:
        raise ValueError(f"{name} of shape {tuple(mask.shape)} does not broadcast to the attention scores "
                         f"of shape {tuple(shape)} (..., L, S)") from None


def _as_additive(mask, dtype, keep_where_true: bool):
    """A bool mask → 0 / -inf (``keep_where_true``: True marks allowed pairs, as in F.sdpa; otherwise
    True marks masked pairs, as in nn.MultiheadAttention); a float mask is added as it is."""
    if mask.dtype == torch.bool:
        allowed = mask if keep_where_true else ~mask
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~allowed, -math.inf)
    return mask.to(dtype)


def _safe_softmax(scores):
    """Softmax over the last axis; a row that is entirely -inf gives zeros (F.sdpa's rule), not NaN."""
    m = scores.amax(-1, keepdim=True)
    m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    e = torch.exp(scores - m)
    s = e.sum(-1, keepdim=True)
    return torch.where(s > 0, e / s.clamp(min=torch.finfo(e.dtype).tiny), torch.zeros_like(e))


def _attend(query, key, value, bias, dropout_p, scale, training=True):
    scores = (query @ key.transpose(-2, -1)) * scale                       # [..., L, S]
    if bias is not None:
        scores = scores + bias
    weights = _dropout(_safe_softmax(scores), dropout_p, training and dropout_p > 0)
    return weights @ value, weights                                         # [..., L, Ev], [..., L, S]


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None) -> torch.Tensor:
    """softmax(Q Kᵀ · scale + mask) V, like ``F.scaled_dot_product_attention``.

    Args:
        query (Tensor[..., L, E]), key (Tensor[..., S, E]), value (Tensor[..., S, Ev]).
        attn_mask: bool (True = may attend) or float (added to the scores), broadcastable to [..., L, S].
        is_causal: position i attends to j <= i (top-left aligned); exclusive with attn_mask.
        scale: default 1/√E — keeps var(q·k) at 1 when q, k have unit-variance entries.
    Returns:
        Tensor[..., L, Ev]. A query whose every key is masked gets zeros.
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        check_tensor(t, name, floating=True)
        if t.dim() < 2:
            raise ValueError(f"{name} must have shape [..., length, dim], got {tuple(t.shape)}")
    if key.shape[-1] != query.shape[-1]:
        raise ValueError(f"query and key must have the same last dimension, got {query.shape[-1]} and {key.shape[-1]}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"key and value must have the same length, got {key.shape[-2]} and {value.shape[-2]}")
    dropout_p = check_probability(dropout_p, "dropout_p")
    L, S = query.shape[-2], key.shape[-2]
    shape = torch.broadcast_shapes(query.shape[:-2], key.shape[:-2]) + (L, S)
    if is_causal:
        if attn_mask is not None:
            raise ValueError("attn_mask must be None when is_causal=True (the causal mask replaces it)")
        attn_mask = torch.ones(L, S, dtype=torch.bool, device=query.device).tril()
    bias = None
    if attn_mask is not None:
        check_tensor(attn_mask, "attn_mask")
        _broadcastable(attn_mask, shape, "attn_mask")
        bias = _as_additive(attn_mask, query.dtype, keep_where_true=True)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    return _attend(query, key, value, bias, dropout_p, scale)[0]


class MultiHeadAttention(nn.Module):
    """Multi-head attention with the parameters and semantics of ``nn.MultiheadAttention``
    (``in_proj_weight`` [3E, E], ``in_proj_bias``, ``out_proj``), so it loads that module's state_dict.

    Each of the ``num_heads`` heads attends in its own E/num_heads-dimensional subspace; the heads'
    outputs are concatenated and projected by ``out_proj``. Same parameters and FLOPs as one head of width E.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = True):
        super().__init__()
        check_int(embed_dim, "embed_dim", 1)
        check_int(num_heads, "num_heads", 1)
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim must be divisible by num_heads, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads}")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.dropout, self.batch_first = check_probability(dropout, "dropout"), batch_first
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim)) if bias else None
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        nn.init.xavier_uniform_(self.in_proj_weight)
        if bias:
            nn.init.zeros_(self.out_proj.bias)

    def _project(self, x, i):
        w = self.in_proj_weight[i * self.embed_dim:(i + 1) * self.embed_dim]
        y = x @ w.T
        if self.in_proj_bias is not None:
            y = y + self.in_proj_bias[i * self.embed_dim:(i + 1) * self.embed_dim]
        N, T, _ = y.shape
        return y.view(N, T, self.num_heads, self.head_dim).transpose(1, 2)     # [N, H, T, Dh]

    def attention_logits(self, query, key):
        """The scaled scores q·k/√d of every head before masking: Tensor[N, H, L, S] (for explorers)."""
        q, k = self._project(query, 0), self._project(key, 1)
        return (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)

    def _mask(self, attn_mask, key_padding_mask, N, L, S, dtype):
        bias = None
        if attn_mask is not None:
            check_tensor(attn_mask, "attn_mask", (2, 3))
            allowed = [(L, S), (N * self.num_heads, L, S)]
            if tuple(attn_mask.shape) not in allowed:
                raise ValueError(f"attn_mask must have shape {allowed[0]} or {allowed[1]}, "
                                 f"got {tuple(attn_mask.shape)}")
            bias = _as_additive(attn_mask, dtype, keep_where_true=False)
            bias = bias.view(N, self.num_heads, L, S) if bias.dim() == 3 else bias
        if key_padding_mask is not None:
            check_tensor(key_padding_mask, "key_padding_mask", (2,))
            if tuple(key_padding_mask.shape) != (N, S):
                raise ValueError(f"key_padding_mask must have shape {(N, S)}, got {tuple(key_padding_mask.shape)}")
            pad = _as_additive(key_padding_mask, dtype, keep_where_true=False)[:, None, None, :]
            bias = pad if bias is None else bias + pad
        return bias

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        """query (Tensor[N, L, E]), key/value (Tensor[N, S, E]) with batch_first (else [L, N, E]).

        key_padding_mask (Tensor[N, S]): True = padding, ignored. attn_mask (Tensor[L, S] or [N·H, L, S]):
        bool True = *not* allowed (nn.MultiheadAttention's convention, the opposite of F.sdpa) or float,
        added. is_causal is only a hint that attn_mask is causal, as in torch: attn_mask is required.
        Returns (output Tensor[N, L, E], weights Tensor[N, L, S] averaged over heads, or [N, H, L, S], or None).
        """
        unbatched = query.dim() == 2
        for name, t in (("query", query), ("key", key), ("value", value)):
            check_tensor(t, name, (2,) if unbatched else (3,), floating=True)
            if t.shape[-1] != self.embed_dim:
                raise ValueError(f"{name} must have last dimension embed_dim={self.embed_dim}, "
                                 f"got {tuple(t.shape)}")
        if unbatched:
            query, key, value = query[None], key[None], value[None]
            key_padding_mask = None if key_padding_mask is None else key_padding_mask[None]
        elif not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            raise ValueError(f"key and value must have the same batch and length as each other and the batch of "
                             f"query, got key {tuple(key.shape)}, value {tuple(value.shape)}, "
                             f"query {tuple(query.shape)}")
        if is_causal and attn_mask is None:
            raise ValueError("is_causal=True is a hint about attn_mask: pass the causal attn_mask as well")
        N, L, S = query.shape[0], query.shape[1], key.shape[1]
        bias = self._mask(attn_mask, key_padding_mask, N, L, S, query.dtype)
        q, k, v = self._project(query, 0), self._project(key, 1), self._project(value, 2)
        out, weights = _attend(q, k, v, bias, self.dropout, 1 / math.sqrt(self.head_dim), self.training)
        out = self.out_proj(out.transpose(1, 2).reshape(N, L, self.embed_dim))         # concat heads, project
        if unbatched:
            out, weights = out[0], weights[0]
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        return out, (weights.mean(-3) if average_attn_weights else weights)


class TransformerEncoderLayer(nn.Module):
    """Self-attention + feed-forward, each with a residual connection and LayerNorm, with the submodules
    and state_dict of ``nn.TransformerEncoderLayer``. ``norm_first=False`` (post-LN, Vaswani et al.):
    x = LN(x + SA(x)); ``True`` (pre-LN): x = x + SA(LN(x))."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = True,
                 norm_first: bool = False, bias: bool = True):
        super().__init__()
        if isinstance(activation, str):
            if activation not in ("relu", "gelu"):
                raise ValueError(f"activation must be 'relu', 'gelu' or a callable, got {activation!r}")
            activation = torch.relu if activation == "relu" else nn.functional.gelu
        self.self_attn = MultiHeadAttention(d_model, nhead, dropout, bias, batch_first)
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias)
        self.norm1, self.norm2 = nn.LayerNorm(d_model, layer_norm_eps), nn.LayerNorm(d_model, layer_norm_eps)
        self.dropout, self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)
        self.activation, self.norm_first = activation, norm_first

    def _sa(self, x, mask, padding, is_causal):
        return self.dropout1(self.self_attn(x, x, x, padding, False, mask, is_causal=is_causal)[0])

    def _ff(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        x = src
        if self.norm_first:
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff(x))


def _frequencies(dim, base, dtype=torch.float64):
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2 or dim % 2:
        raise ValueError(f"dim must be an even int >= 2, got {dim!r}")
    return base ** (-torch.arange(0, dim, 2, dtype=dtype) / dim)             # ω_i = 1 / base^(2i/d)


def sinusoidal_position_encoding(length: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """PE[p, 2i] = sin(p ω_i), PE[p, 2i+1] = cos(p ω_i), ω_i = base^(-2i/dim) (Vaswani et al. 2017).
    Returns Tensor[length, dim] (float32)."""
    check_int(length, "length", 1)
    angles = torch.arange(length, dtype=torch.float64)[:, None] * _frequencies(dim, base)
    return torch.stack([angles.sin(), angles.cos()], -1).flatten(1).float()


def position_shift_matrix(k: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """The fixed matrix M_k with PE(p + k) = M_k PE(p) for every p: one 2×2 rotation by k ω_i per
    (sin, cos) pair. It depends on k only, which is why attention can read relative positions."""
    M = torch.zeros(dim, dim, dtype=torch.float64)
    for i, w in enumerate(_frequencies(dim, base).tolist()):
        c, s = math.cos(k * w), math.sin(k * w)
        M[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor([[c, s], [-s, c]], dtype=torch.float64)
    return M


def sinusoidal_position_encoding_2d(height: int, width: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """2-D encoding for a grid of patches: the first dim/2 channels encode the row, the last dim/2 the
    column (each a 1-D sinusoidal encoding). Returns Tensor[height·width, dim], row-major."""
    if dim % 4:
        raise ValueError(f"dim must be a multiple of 4 for a 2-D encoding, got {dim!r}")
    rows = sinusoidal_position_encoding(height, dim // 2, base)
    cols = sinusoidal_position_encoding(width, dim // 2, base)
    return torch.cat([rows[:, None, :].expand(-1, width, -1), cols[None].expand(height, -1, -1)], -1).reshape(-1, dim)


class SEBlock(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): global average pool → FC (C → C/r) → ReLU → FC → sigmoid,
    then rescale each channel. Works for any input size."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        check_int(channels, "channels", 1)
        check_int(reduction, "reduction", 1)
        squeeze = max(1, channels // reduction)
        self.fc1, self.fc2 = nn.Linear(channels, squeeze), nn.Linear(squeeze, channels)

    def forward(self, x):
        check_tensor(x, "x", (4,), floating=True)
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))       # [N, C]
        return x * s[:, :, None, None]


class CoordinateAttention(nn.Module):
    """Coordinate attention (Hou et al. 2021): pool along W and along H separately (keeping positions on
    the other axis), a shared 1×1 conv → BN → h-swish on the concatenation, then two 1×1 convs and sigmoids
    give a per-row and a per-column gate: out = x · a_h · a_w. Any H, W."""

    def __init__(self, channels: int, reduction: int = 32):
        super().__init__()
        check_int(channels, "channels", 1)
        check_int(reduction, "reduction", 1)
        mip = max(8, channels // reduction)
        self.conv1, self.bn1 = nn.Conv2d(channels, mip, 1), nn.BatchNorm2d(mip)
        self.conv_h, self.conv_w = nn.Conv2d(mip, channels, 1), nn.Conv2d(mip, channels, 1)

    def forward(self, x):
        check_tensor(x, "x", (4,), floating=True)
        H = x.shape[2]
        pooled = torch.cat([x.mean(3, keepdim=True), x.mean(2, keepdim=True).transpose(2, 3)], 2)  # [N, C, H+W, 1]
        y = nn.functional.hardswish(self.bn1(self.conv1(pooled)))
        a_h = torch.sigmoid(self.conv_h(y[:, :, :H]))                                # [N, C, H, 1]
        a_w = torch.sigmoid(self.conv_w(y[:, :, H:].transpose(2, 3)))                # [N, C, 1, W]
        return x * a_h * a_w
