"""Attention from scratch: scaled dot-product attention (= ``F.scaled_dot_product_attention``),
multi-head attention and a Transformer encoder layer with the constructor, defaults (``batch_first=False``)
and ``state_dict`` of ``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer`` and the same outputs,
and, re-exported from :mod:`cvbook_lib.position` and :mod:`cvbook_lib.channel_attention`, sinusoidal position
encodings (1-D and 2-D) and the SE and coordinate-attention blocks of CNNs.
The ViT lives in :mod:`cvbook_lib.vit`.

Integer, bool and complex tensors are refused where a floating tensor is needed (torch refuses them too).
References: Vaswani et al. 2017; Hu et al. 2018 (SE); Hou et al. 2021 (coordinate attention).
Tested in ``tests/test_attention.py``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ._checks import check_bool, check_choice, check_float, check_int, check_probability, check_same, check_tensor

__all__ = ["scaled_dot_product_attention", "MultiHeadAttention", "TransformerEncoderLayer",
           "sinusoidal_position_encoding", "sinusoidal_position_encoding_2d", "position_shift_matrix",
           "SEBlock", "CoordinateAttention", "tile_plan", "tile_count", "peak_memory_bytes"]


def _mask_dtype(mask, name, query_dtype, also=()):
    """A mask is bool or has the query's floating dtype (``also``: further dtypes torch accepts)."""
    if mask.dtype != torch.bool and mask.dtype != query_dtype and mask.dtype not in also:
        allowed = ", ".join(str(d) for d in (torch.bool, query_dtype, *also))
        raise TypeError(f"{name} must have dtype {allowed} (the query's), got {mask.dtype}")


def _as_additive(mask, dtype, keep_where_true: bool):
    """A bool mask → 0 / -inf (``keep_where_true``: True marks allowed pairs, as in F.sdpa; otherwise
    True marks masked pairs, as in nn.MultiheadAttention); a float mask is added as it is."""
    if mask.dtype == torch.bool:
        allowed = mask if keep_where_true else ~mask
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~allowed, -math.inf)
    return mask.to(dtype)


def _safe_softmax(scores):
    """Softmax over the last axis; a row that is entirely -inf gives zeros (F.sdpa's rule), not NaN.
    NaN and +inf propagate as in torch (a row holding one gives NaN)."""
    if scores.shape[-1] == 0:
        return scores.clone()
    m = scores.amax(-1, keepdim=True)
    m = torch.where(m == -math.inf, torch.zeros_like(m), m)
    e = torch.exp(scores - m)
    s = e.sum(-1, keepdim=True)
    return e / torch.where(s == 0, torch.ones_like(s), s)                  # s = 0 only where e is all 0


def _safe_softmax_(scores):
    """:func:`_safe_softmax` in place (the same ops, so the same values): no new [..., L, S] buffer. Only where
    autograd records nothing (the softmax's backward needs its output untouched)."""
    if scores.shape[-1] == 0:
        return scores
    m = scores.amax(-1, keepdim=True)
    scores.sub_(m.masked_fill_(m == -math.inf, 0.0)).exp_()
    s = scores.sum(-1, keepdim=True)
    return scores.div_(s.masked_fill_(s == 0, 1.0))


def _dropout(w, p):
    """Inverted dropout of the attention weights (drop probability ``p``)."""
    if p == 0.0:
        return w
    if p == 1.0:
        return torch.zeros_like(w)
    return w * torch.empty_like(w).bernoulli_(1 - p) / (1 - p)


def _attend(query, key, value, bias, dropout_p, q_factor, k_factor=1.0):
    """softmax(q_factor·Q (k_factor·K)ᵀ + bias) V. The scale is split between Q and K before the product, as
    torch does (√scale each in F.sdpa, 1/√d on Q in nn.MultiheadAttention), so overflow happens where it does.
    Without autograd the mask and the softmax work in place in the one [..., L, S] buffer of the scores: each
    fresh n² buffer costs page faults and a pass through memory, most of the time at ViT sizes."""
    inplace = _no_grad_needed(query, key, value, bias)
    if q_factor != 1.0:
        query = query * q_factor
    if k_factor != 1.0:
        key = key * k_factor
    scores = query @ key.transpose(-2, -1)                                   # [..., L, S]
    if bias is not None:
        fits = inplace and torch.broadcast_shapes(bias.shape, scores.shape) == scores.shape
        scores = scores.add_(bias) if fits else scores + bias
    weights = _dropout(_safe_softmax_(scores) if inplace else _safe_softmax(scores), dropout_p)
    return weights @ value, weights                                         # [..., L, Ev], [..., L, S]


_CHUNK_BYTES = 1 << 20                       # scores per chunk: about the L2 cache of one core


def _attend_lean(query, key, value, bias, q_factor, k_factor):
    """The output of :func:`_attend` without dropout, weights or autograd, in fewer passes over the [..., L, S]
    scores and fewer fresh buffers (page faults cost as much as the arithmetic here): a slice of the first batch
    dimension at a time, so a chunk's scores stay in cache; the max subtracted and the exponential taken in place;
    the normalization after the product with V (L·Ev divisions instead of L·S, as FlashAttention does)."""
    batch = torch.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2],
                                   *(() if bias is None else (bias.shape[:-2],)))
    L, S = query.shape[-2], key.shape[-2]
    per_row = math.prod(batch[1:]) * L * S * query.element_size()
    step = max(1, _CHUNK_BYTES // max(per_row, 1)) if batch else 1
    nd = len(batch) + 2

    def part(t, i):                        # rows i:i + step of the broadcast batch (size-1 / missing dims stay)
        return t if not batch or t.dim() != nd or t.shape[0] == 1 else t[i:i + step]

    out = query.new_empty(*batch, L, value.shape[-1])
    for i in range(0, batch[0] if batch else 1, step):
        q, k = part(query, i), part(key, i)
        q, k = (q * q_factor if q_factor != 1.0 else q), (k * k_factor if k_factor != 1.0 else k)
        scores = q @ k.transpose(-2, -1)
        if bias is not None:
            b = part(bias, i)
            scores = scores.add_(b) if torch.broadcast_shapes(b.shape, scores.shape) == scores.shape else scores + b
        m = scores.amax(-1, keepdim=True) if S else scores.new_zeros(*scores.shape[:-1], 1)
        scores.sub_(m.masked_fill_(m == -math.inf, 0.0)).exp_()          # e = exp(s - m), m = 0 on all -inf rows
        den = scores.sum(-1, keepdim=True)
        o = out[i:i + step] if batch else out
        torch.matmul(scores, part(value, i), out=o)
        o.div_(den.masked_fill_(den == 0, 1.0))                         # den = 0 only where e is all 0
    return out


def _check_sdpa(query, key, value, attn_mask, is_causal, enable_gqa):
    """Validate F.sdpa's inputs (nothing is computed); return (key, value) with the GQA heads repeated."""
    for name, t in (("query", query), ("key", key), ("value", value)):
        check_tensor(t, name, kind="float", min_ndim=2)
    check_same(query, "query", key, "key")
    check_same(query, "query", value, "value")
    if key.shape[-1] != query.shape[-1]:
        raise ValueError(f"query and key must have the same last dimension E, got {tuple(query.shape)} and "
                         f"{tuple(key.shape)}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"key and value must have the same length S (dim -2), got {tuple(key.shape)} and "
                         f"{tuple(value.shape)}")
    if enable_gqa and query.dim() >= 3:
        hq = query.shape[-3]
        for name, t in (("key", key), ("value", value)):
            if t.dim() < 3 or t.shape[-3] == 0 or hq % t.shape[-3]:
                raise ValueError(f"enable_gqa=True: the heads of {name} (dim -3) must divide the {hq} heads of "
                                 f"query, got {name} of shape {tuple(t.shape)}")
        key, value = (t.repeat_interleave(hq // t.shape[-3], -3) for t in (key, value))
    try:
        batch = torch.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except RuntimeError:
        raise ValueError(f"the batch dimensions of query, key and value do not broadcast: {tuple(query.shape)}, "
                         f"{tuple(key.shape)}, {tuple(value.shape)}") from None
    shape = batch + (query.shape[-2], key.shape[-2])
    if attn_mask is not None:
        if is_causal:
            raise ValueError("attn_mask must be None when is_causal=True (the causal mask replaces it)")
        check_tensor(attn_mask, "attn_mask", min_ndim=2)
        _mask_dtype(attn_mask, "attn_mask", query.dtype, also=(torch.float32,))
        try:
            ok = torch.broadcast_shapes(attn_mask.shape, shape) == shape
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(f"attn_mask of shape {tuple(attn_mask.shape)} does not broadcast to the attention "
                             f"scores of shape {tuple(shape)} (..., L, S)")
    return key, value


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False, tiled: bool = False,
                                 block_size: int | None = None) -> torch.Tensor:
    """softmax(Q Kᵀ · scale + mask) V, like ``F.scaled_dot_product_attention``.

    Args:
        query (Tensor[..., L, E]), key (Tensor[..., S, E]), value (Tensor[..., S, Ev]): one floating dtype;
            the batch dimensions broadcast (torch also answers for an empty value batch that does not; we
            refuse it).
        attn_mask: bool (True = may attend) or float (added to the scores; float32 or the query's dtype),
            at least 2-D and broadcastable to [..., L, S] without enlarging it (torch refuses a 1-D mask
            with 4-D inputs).
        dropout_p: drop probability of the attention weights, in [0, 1] (torch also takes a negative or NaN
            ``dropout_p`` as "no dropout"; we refuse it). is_causal: position i attends to j <= i (top-left
            aligned); exclusive with attn_mask. enable_gqa: key/value may have fewer heads (dim -3) than query.
        scale: default 1/√E — keeps var(q·k) at 1 when q, k have unit-variance entries. Finite (torch
            returns NaN for a NaN or infinite scale; we refuse it).
        tiled: compute by tiles (``block_size``: b for b × b tiles, or (queries per block, keys per tile);
            default (32, 256)) with an online
            softmax, as FlashAttention does (:mod:`cvbook_lib.flash_attention`): the [..., L, S] scores are never
            built, extra memory O(L·E + bq·bk + bk·E) instead of O(L·S) (with a mask, the mask itself is L×S), and
            with is_causal the tiles above the diagonal are skipped. Equal to the plain path up to rounding;
            dropout is drawn per tile (same distribution, other draws). ``block_size`` without ``tiled=True`` is
            refused.
    Returns:
        Tensor[*batch, L, Ev]. A query whose every key is masked gets zeros; S = 0 gives zeros; NaN and
        +inf in the scores propagate as in torch.
    """
    is_causal, enable_gqa = check_bool(is_causal, "is_causal"), check_bool(enable_gqa, "enable_gqa")
    tiled = check_bool(tiled, "tiled")
    if block_size is not None:
        if not tiled:
            raise ValueError(f"block_size applies only with tiled=True, got block_size={block_size!r} and tiled=False")
        block_size = _blocks(block_size)
    dropout_p = check_probability(dropout_p, "dropout_p")
    if scale is not None:
        scale = check_float(scale, "scale", allow_inf=False)
    key, value = _check_sdpa(query, key, value, attn_mask, is_causal, enable_gqa)
    L, S, E = query.shape[-2], key.shape[-2], query.shape[-1]
    if is_causal and not tiled:
        attn_mask = torch.ones(L, S, dtype=torch.bool, device=query.device).tril()
    bias = None if attn_mask is None else _as_additive(attn_mask, query.dtype, keep_where_true=True)
    if scale is None:
        scale = 1.0 / math.sqrt(E) if E else 1.0
    r = math.sqrt(abs(scale))                                 # torch's split: ±√|scale| on Q, √|scale| on K
    if tiled:
        return _tiled_attention(query, key, value, bias, dropout_p, is_causal, -r if scale < 0 else r, r,
                                DEFAULT_BLOCK if block_size is None else block_size)
    if dropout_p == 0.0 and _no_grad_needed(query, key, value, bias):
        return _attend_lean(query, key, value, bias, -r if scale < 0 else r, r)
    return _attend(query, key, value, bias, dropout_p, -r if scale < 0 else r, r)[0]


def _factory(device, dtype) -> dict:
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be None or a floating torch.dtype, got {dtype!r}")
    if device is not None:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError):
            raise TypeError(f"device must be None, a torch.device or a device string, got {device!r}") from None
    return dict(device=device, dtype=dtype)


class MultiHeadAttention(nn.Module):
    """Multi-head attention with the constructor, defaults, parameters and semantics of
    ``nn.MultiheadAttention`` (``in_proj_weight`` [3E, E] or ``q/k/v_proj_weight`` when kdim/vdim differ,
    ``in_proj_bias``, ``bias_k``/``bias_v``, ``out_proj``), so it loads that module's state_dict.

    Each of the ``num_heads`` heads attends in its own E/num_heads-dimensional subspace; the heads'
    outputs are concatenated and projected by ``out_proj``. Same parameters and FLOPs as one head of width E.
    ``batch_first=False`` (torch's default): inputs are [L, N, E]; True: [N, L, E].

    Deliberate differences: ``dropout`` must be in [0, 1] and ``kdim``/``vdim`` >= 1 (torch skips dropout for a
    NaN or negative value and projects 0-dimensional keys); a float mask must have the query's dtype (torch
    promotes a float16 attn_mask when a bool key_padding_mask is also given, and refuses it alone).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        embed_dim, num_heads = check_int(embed_dim, "embed_dim", 1), check_int(num_heads, "num_heads", 1)
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim must be divisible by num_heads, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads}")
        self.dropout = check_probability(dropout, "dropout")
        bias, add_bias_kv = check_bool(bias, "bias"), check_bool(add_bias_kv, "add_bias_kv")
        self.add_zero_attn, self.batch_first = check_bool(add_zero_attn, "add_zero_attn"), \
            check_bool(batch_first, "batch_first")
        self.kdim = embed_dim if kdim is None else check_int(kdim, "kdim", 1)
        self.vdim = embed_dim if vdim is None else check_int(vdim, "vdim", 1)
        fk = _factory(device, dtype)
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim, **fk))
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.q_proj_weight = nn.Parameter(torch.empty(embed_dim, embed_dim, **fk))
            self.k_proj_weight = nn.Parameter(torch.empty(embed_dim, self.kdim, **fk))
            self.v_proj_weight = nn.Parameter(torch.empty(embed_dim, self.vdim, **fk))
            self.in_proj_weight = None
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim, **fk)) if bias else None
        self.bias_k = nn.Parameter(torch.empty(1, 1, embed_dim, **fk)) if add_bias_kv else None
        self.bias_v = nn.Parameter(torch.empty(1, 1, embed_dim, **fk)) if add_bias_kv else None
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **fk)
        for w in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
            if w is not None:
                nn.init.xavier_uniform_(w)
        for b in (self.bias_k, self.bias_v):
            if b is not None:
                nn.init.xavier_normal_(b)
        if bias:
            nn.init.zeros_(self.out_proj.bias)

    def _project(self, x, i):
        """[N, T, E_in] → [N, H, T, Dh] (the i-th of the q, k, v projections)."""
        E = self.embed_dim
        w = self.in_proj_weight[i * E:(i + 1) * E] if self._qkv_same_embed_dim else \
            (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)[i]
        y = x @ w.T
        if self.in_proj_bias is not None:
            y = y + self.in_proj_bias[i * E:(i + 1) * E]
        if i and self.bias_k is not None:                                   # one learned key/value more
            y = torch.cat([y, (self.bias_k, self.bias_v)[i - 1].expand(y.shape[0], 1, E)], 1)
        N, T, _ = y.shape
        y = y.view(N, T, self.num_heads, self.head_dim).transpose(1, 2)
        if i and self.add_zero_attn:                                        # one all-zero key/value more
            y = torch.cat([y, y.new_zeros(N, self.num_heads, 1, self.head_dim)], 2)
        return y

    def attention_logits(self, query, key):
        """The scaled scores q·k/√d of every head before masking: Tensor[N, H, L, S] (for explorers).
        query/key in the module's layout (batch_first or not), batched."""
        if not self.batch_first:
            query, key = query.transpose(0, 1), key.transpose(0, 1)
        q, k = self._project(query, 0), self._project(key, 1)
        return (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)

    def _check(self, query, key, value, kpm, mask, is_causal, names=("query", "key", "value",
                                                                      "key_padding_mask", "attn_mask", "is_causal")):
        """Validate a forward call (``names``: the caller's argument names); nothing is computed."""
        qn, kn, vn, kpn, mn, cn = names
        ref = self.out_proj.weight
        for name, t, dim in ((qn, query, self.embed_dim), (kn, key, self.kdim), (vn, value, self.vdim)):
            check_tensor(t, name, (2, 3), kind="float")
            if t.dtype != ref.dtype or t.device != ref.device:
                raise TypeError(f"{name} must have the module's dtype {ref.dtype} on {ref.device} (convert one of "
                                f"them), got {t.dtype} on {t.device}")
            if t.dim() != query.dim():
                raise ValueError(f"{qn}, {kn} and {vn} must all be 3-D (batched) or all 2-D (unbatched), got "
                                 f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
            if t.shape[-1] != dim:
                raise ValueError(f"{name} must have last dimension {dim} (the module's), got {tuple(t.shape)}")
        b, s = (0, 1) if self.batch_first else (1, 0)
        unbatched = query.dim() == 2
        if key.shape[:-1] != value.shape[:-1] or (not unbatched and key.shape[b] != query.shape[b]):
            raise ValueError(f"{kn} and {vn} must have the same batch and length as each other and the batch of "
                             f"{qn}, got {kn} {tuple(key.shape)}, {vn} {tuple(value.shape)}, {qn} {tuple(query.shape)}")
        N, L, S = (1, query.shape[0], key.shape[0]) if unbatched else (query.shape[b], query.shape[s], key.shape[s])
        if kpm is not None:
            check_tensor(kpm, kpn, (1,) if unbatched else (2,))
            _mask_dtype(kpm, kpn, query.dtype)
            if tuple(kpm.shape) != ((S,) if unbatched else (N, S)):
                raise ValueError(f"{kpn} must have shape {'(S,)' if unbatched else '(N, S)'} = "
                                 f"{(S,) if unbatched else (N, S)} for {kn} of shape {tuple(key.shape)}, "
                                 f"got {tuple(kpm.shape)}")
        if mask is not None:
            check_tensor(mask, mn, (2, 3))
            _mask_dtype(mask, mn, query.dtype)
            allowed = [(L, S), (N * self.num_heads, L, S)]
            if tuple(mask.shape) not in allowed:
                raise ValueError(f"{mn} must have shape (L, S) = {allowed[0]} or (N·num_heads, L, S) = {allowed[1]} "
                                 f"for {qn} of shape {tuple(query.shape)} and {kn} of shape {tuple(key.shape)}, "
                                 f"got {tuple(mask.shape)}")
        elif is_causal:
            raise ValueError(f"{cn}=True is only a hint that {mn} is causal (as in torch): pass the causal {mn}")

    def _attention(self, query, key, value, kpm, mask, need_weights=True, average=True):
        unbatched = query.dim() == 2
        if unbatched:
            query, key, value = query[None], key[None], value[None]
            kpm = None if kpm is None else kpm[None]
        elif not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        N, L, S = query.shape[0], query.shape[1], key.shape[1]
        bias = None
        if mask is not None:
            bias = _as_additive(mask, query.dtype, keep_where_true=False)
            bias = bias.view(N, self.num_heads, L, S) if bias.dim() == 3 else bias
        if kpm is not None:
            pad = _as_additive(kpm, query.dtype, keep_where_true=False)[:, None, None, :]
            bias = pad if bias is None else bias + pad
        extra = int(self.bias_k is not None) + int(self.add_zero_attn)
        if bias is not None and extra:
            bias = nn.functional.pad(bias, (0, extra))                      # the added keys are never masked
        q, k, v = self._project(query, 0), self._project(key, 1), self._project(value, 2)
        p = self.dropout if self.training else 0.0
        out, weights = _attend(q, k, v, bias, p, math.sqrt(1.0 / self.head_dim))
        out = self.out_proj(out.transpose(1, 2).reshape(N, L, self.embed_dim))         # concat heads, project
        if unbatched:
            out, weights = out[0], weights[0]
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        return out, (weights.mean(-3) if average else weights)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        """query (Tensor[L, N, E]), key (Tensor[S, N, kdim]), value (Tensor[S, N, vdim]); [N, L, E] ... with
        batch_first; [L, E] ... unbatched.

        key_padding_mask (Tensor[N, S], or [S] unbatched): True = padding, ignored; or float, added.
        attn_mask (Tensor[L, S] or [N·H, L, S]): bool True = *not* allowed (nn.MultiheadAttention's convention,
        the opposite of F.sdpa) or float, added. Float masks have the query's dtype. is_causal is only a hint
        that attn_mask is causal, as in torch: attn_mask is required.
        Returns (output Tensor[L, N, E] (or the input's layout), weights Tensor[N, L, S] averaged over heads, or
        [N, H, L, S], or None). A query whose every key is masked gets zeros (F.sdpa's rule; nn.MultiheadAttention
        gives NaN with need_weights=True, zeros with need_weights=False).
        """
        need_weights = check_bool(need_weights, "need_weights")
        average_attn_weights = check_bool(average_attn_weights, "average_attn_weights")
        self._check(query, key, value, key_padding_mask, attn_mask, check_bool(is_causal, "is_causal"))
        return self._attention(query, key, value, key_padding_mask, attn_mask, need_weights, average_attn_weights)


class TransformerEncoderLayer(nn.Module):
    """Self-attention + feed-forward, each with a residual connection and LayerNorm, with the constructor,
    defaults (``batch_first=False``), submodules and state_dict of ``nn.TransformerEncoderLayer``.
    ``norm_first=False`` (post-LN, Vaswani et al.): x = LN(x + SA(x)); ``True`` (pre-LN): x = x + SA(LN(x)).
    ``bias=False`` drops every bias, the LayerNorms' included (torch's ``LayerNorm(bias=False)``).

    Deliberate differences: ``dim_feedforward`` must be >= 1 and ``layer_norm_eps`` a finite number > 0
    (torch builds a width-0 FFN and takes any eps).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        d_model, nhead = check_int(d_model, "d_model", 1), check_int(nhead, "nhead", 1)
        if d_model % nhead:
            raise ValueError(f"d_model must be divisible by nhead, got d_model={d_model} and nhead={nhead}")
        dim_feedforward = check_int(dim_feedforward, "dim_feedforward", 1)
        dropout = check_probability(dropout, "dropout")
        eps = check_float(layer_norm_eps, "layer_norm_eps", 0.0, min_open=True, allow_inf=False)
        batch_first, bias = check_bool(batch_first, "batch_first"), check_bool(bias, "bias")
        self.norm_first = check_bool(norm_first, "norm_first")
        if isinstance(activation, str):
            activation = check_choice(activation, "activation", ("relu", "gelu"))
            activation = nn.functional.relu if activation == "relu" else nn.functional.gelu
        elif not callable(activation):
            raise TypeError(f"activation must be 'relu', 'gelu' or a callable, got {activation!r}")
        fk = _factory(device, dtype)
        self.self_attn = MultiHeadAttention(d_model, nhead, dropout, bias, batch_first=batch_first, **fk)
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias, **fk)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias, **fk)
        self.norm1, self.norm2 = (nn.LayerNorm(d_model, eps, bias=bias, **fk) for _ in range(2))
        self.dropout, self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)
        self.activation, self.batch_first = activation, batch_first

    def _sa(self, x, mask, padding):
        return self.dropout1(self.self_attn._attention(x, x, x, padding, mask, need_weights=False)[0])

    def _ff(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        """src (Tensor[S, N, E], [N, S, E] with batch_first, or [S, E]); src_mask (Tensor[S, S] or [N·H, S, S])
        and src_key_padding_mask (Tensor[N, S]) as ``attn_mask``/``key_padding_mask`` of
        :class:`MultiHeadAttention`. Returns a tensor shaped like src."""
        is_causal = check_bool(is_causal, "is_causal")
        self.self_attn._check(src, src, src, src_key_padding_mask, src_mask, is_causal,
                              names=("src", "src", "src", "src_key_padding_mask", "src_mask", "is_causal"))
        x = src
        if self.norm_first:
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask)
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask))
        return self.norm2(x + self._ff(x))


# re-exported: the position encodings and the CNN attention blocks have their own modules
from .channel_attention import CoordinateAttention, SEBlock  # noqa: E402
from .flash_attention import (  # noqa: E402
    DEFAULT_BLOCK,
    _blocks,
    _no_grad_needed,
    _tiled_attention,
    peak_memory_bytes,
    tile_count,
    tile_plan,
)
from .position import position_shift_matrix, sinusoidal_position_encoding, sinusoidal_position_encoding_2d  # noqa: E402
