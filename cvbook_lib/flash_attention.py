"""Tiled attention with an online softmax (the algorithm of FlashAttention), its tile plan and a peak-memory meter.

``scaled_dot_product_attention(..., tiled=True)`` (:mod:`cvbook_lib.attention`) runs :func:`_tiled_attention`:
for each block of ``block_size`` queries it loops over the key tiles and keeps, per query row, the running
maximum ``m``, the running denominator ``l`` and the unnormalized output ``O``; a new tile with scores ``s``
updates them as

    m' = max(m, max_j s_j),   l' = e^(m - m') l + sum_j e^(s_j - m'),   O' = e^(m - m') O + sum_j e^(s_j - m') v_j

and the block's output is ``O / l`` (Milakov & Gimelshein 2018, "Online normalizer calculation for softmax";
Dao et al. 2022, "FlashAttention"; Rabe & Staats 2021, "Self-attention does not need O(n²) memory"). The n×n
score matrix is never built: the live extra memory is O(n·d + block_size²) per (batch, head) instead of O(n²).
With ``is_causal`` the tiles entirely above the diagonal are not computed at all, and only the diagonal tiles
are masked (:func:`tile_plan`, :func:`tile_count`).

What this is not: FlashAttention's speed comes from one fused GPU kernel that keeps the tiles in on-chip SRAM and
never writes the scores to HBM. Here every tile is a few separate torch ops, so each tile still goes through
main memory, and the Python loop costs a few microseconds per tile: on a CPU this is slower than the plain path at
every length measured (its point is the memory). The running sums are kept in the input's dtype (FlashAttention
accumulates in float32), and with ``enable_gqa`` the caller repeats K and V per query head first (a real kernel
indexes the shared heads instead). The backward pass is torch's autograd through those ops, which saves every
tile (O(n²) memory again); FlashAttention recomputes the tiles in its backward instead.

Tested in ``tests/test_attention_tiled.py``.
"""

from __future__ import annotations

import math
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from ._checks import check_bool, check_int

__all__ = ["tile_plan", "tile_count", "peak_memory_bytes"]

DEFAULT_BLOCK = (32, 256)  # queries per block, keys per tile: few tiles (each costs a dozen torch ops on a CPU)


def _blocks(block_size) -> tuple[int, int]:
    """``block_size``: an int b (b × b tiles) or a pair (queries per block, keys per tile), each >= 1."""
    what = "an int >= 1 or a pair of ints >= 1 (queries per block, keys per tile)"
    if isinstance(block_size, (tuple, list)):
        if len(block_size) != 2:
            raise ValueError(f"block_size must be {what}, got {block_size!r}")
        return check_int(block_size[0], "block_size[0]", 1), check_int(block_size[1], "block_size[1]", 1)
    b = check_int(block_size, "block_size", 1)
    return b, b


def tile_plan(L: int, S: int, block_size=DEFAULT_BLOCK, is_causal: bool = False) -> list[tuple[int, int, int, bool]]:
    """The tiles that tiled attention computes, in order: ``(first query, first key, end key, diagonal)`` per tile.

    Queries are cut into blocks of ``bq`` and keys into tiles of ``bk`` (``block_size`` = b for b × b tiles, or
    (bq, bk)); the last ones may be shorter. Without ``is_causal`` every (query block, key tile) pair is computed.
    With it (top-left aligned, as in F.sdpa: query i sees the keys j <= i), the keys after the block's last query
    are never computed: a tile that starts after it is skipped, one that straddles it ends there, and a tile is
    ``diagonal`` (it needs the mask) when some of its keys come after some of its queries; the others are
    computed unmasked.
    """
    L, S = check_int(L, "L", 0), check_int(S, "S", 0)
    (bq, bk), is_causal = _blocks(block_size), check_bool(is_causal, "is_causal")
    plan = []
    for a in range(0, L, bq):
        last_q = min(a + bq, L) - 1
        for c in range(0, S, bk):
            if is_causal and c > last_q:
                break                                              # this tile and all to its right: j > i
            end = min(c + bk, S, last_q + 1) if is_causal else min(c + bk, S)
            plan.append((a, c, end, is_causal and end - 1 > a))
    return plan


def tile_count(L: int, S: int, block_size=DEFAULT_BLOCK, is_causal: bool = False) -> int:
    """How many tiles tiled attention computes (``len(tile_plan(...))``): ⌈L/bq⌉·⌈S/bk⌉ without ``is_causal``;
    with it, the tiles on and below the diagonal only (about half for b × b tiles and L = S large)."""
    return len(tile_plan(L, S, block_size, is_causal))


def _no_grad_needed(*tensors) -> bool:
    return not (torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors))


def _tiled_attention(query, key, value, bias, dropout_p: float, is_causal: bool, q_factor: float, k_factor: float,
                     block_size: tuple[int, int]):
    """softmax(q_factor·Q (k_factor·K)ᵀ + bias) V by tiles; the arguments are validated by the caller (bias: None
    or an additive mask of the query's dtype broadcastable to [..., L, S]). A row whose keys are all masked gets
    zeros, as in the plain path. Dropout (``dropout_p``) is applied per tile to the unnormalized weights that
    multiply V, while ``l`` sums the weights before dropout: the same distribution as dropping the normalized
    weights, not the same random draws as the plain path."""
    from .attention import _dropout

    fast = _no_grad_needed(query, key, value, bias)                 # in-place updates where autograd allows it
    L, S = query.shape[-2], key.shape[-2]
    bq, bk = _blocks(block_size)
    batch = torch.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    if bias is not None:
        bias = bias.expand(*batch, L, S)                            # a view: sliced per tile, never copied whole
    out = (query.new_empty if S else query.new_zeros)(*batch, L, value.shape[-1])   # S > 0: every row written
    if is_causal:                    # in tile (a, c), key c + y comes after query a + x where y - x > a - c
        diff = torch.arange(bk, device=query.device) - torch.arange(bq, device=query.device)[:, None]
        zero, minus_inf = (torch.tensor(v, dtype=query.dtype, device=query.device) for v in (0.0, -math.inf))
    block = m = l = acc = None
    for a, c, end, diagonal in tile_plan(L, S, (bq, bk), is_causal) + [(None, None, None, False)]:
        if block != a and m is not None:                            # the previous query block is complete
            den = l.masked_fill(l == 0, 1.0)                        # l = 0 only where every key was masked
            out[..., block:block + bq, :] = acc.div_(den) if fast else acc / den
        if a is None:
            break
        if block != a:
            block, m, qb = a, None, query[..., a:a + bq, :]
            qb = qb * q_factor if q_factor != 1.0 else qb             # the scale on small blocks: no n·d copies
        kt, vt = key[..., c:end, :], value[..., c:end, :]
        kt = kt * k_factor if k_factor != 1.0 else kt
        s = qb @ kt.transpose(-2, -1)                                # [..., bq, bk]: this tile's scores
        if bias is not None:
            s = s + bias[..., a:a + bq, c:end]
        if diagonal:                                                 # additive, as the plain path's mask
            t = torch.where(diff[:s.shape[-2], :end - c] > a - c, minus_inf, zero)
            s = s.add_(t) if fast else s + t
        m_new = s.amax(-1, keepdim=True)
        if m is not None:
            m_new = torch.maximum(m, m_new)
        m_safe = m_new.masked_fill(m_new == -math.inf, 0.0)          # all masked so far: e^(-inf - 0) = 0
        p = s.sub_(m_safe).exp_() if fast else torch.exp(s - m_safe)
        pv = _dropout(p, dropout_p) @ vt
        if m is None:
            l, acc = p.sum(-1, keepdim=True), pv
        else:
            corr = torch.exp(m - m_safe)                             # rescale what was summed under the old max
            if fast:
                l.mul_(corr).add_(p.sum(-1, keepdim=True))
                acc.mul_(corr).add_(pv)
            else:
                l, acc = l * corr + p.sum(-1, keepdim=True), acc * corr + pv
        m = m_new
        del s, p, pv                                                 # one tile of scores alive at a time
    return out


class _LiveBytes(TorchDispatchMode):
    """Counts the bytes of every tensor storage an aten op creates while the mode is on, until it is freed."""

    def __init__(self):
        super().__init__()
        self.live = self.peak = 0
        self._seen: dict[int, weakref.finalize] = {}

    def _free(self, key: int, nbytes: int) -> None:
        self.live -= nbytes
        self._seen.pop(key, None)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = {t.untyped_storage()._cdata for t in tree_leaves((args, kwargs))
                  if isinstance(t, torch.Tensor) and t.device.type != "meta"}
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                storage = t.untyped_storage()
                key = storage._cdata
                if key not in self._seen and key not in inputs:      # new (a view or an in-place op's: not)
                    n = storage.nbytes()
                    self._seen[key] = weakref.finalize(storage, self._free, key, n)
                    self.live += n
                    self.peak = max(self.peak, self.live)
        return out

    def __exit__(self, *exc):
        for fin in list(self._seen.values()):
            fin.detach()                                             # stop counting after the measurement
        return super().__exit__(*exc)


def peak_memory_bytes(fn, *args, **kwargs) -> int:
    """The peak, while ``fn(*args, **kwargs)`` runs, of the bytes held by the tensors it creates (its output
    included; its inputs and the tensors alive before the call are not counted).

    Every aten op is intercepted (a ``TorchDispatchMode``) and each new tensor storage is counted from its creation
    until it is freed, so the answer depends only on the ops and the shapes: the same on every machine and
    device. Scratch memory that a kernel allocates and frees inside one op (a matmul's packing buffers, the
    workspace of a fused attention kernel) is not seen; ``torch.profiler`` with ``profile_memory=True`` or
    ``torch.cuda.max_memory_allocated`` see the allocator itself.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__} {fn!r:.80}")
    with _LiveBytes() as meter:
        out = fn(*args, **kwargs)
    del out
    return meter.peak
