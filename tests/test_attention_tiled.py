"""Tiled (FlashAttention-style) attention: cvbook_lib.attention.scaled_dot_product_attention(tiled=True) against
the plain path and F.scaled_dot_product_attention; the causal tile plan; the peak-memory meter."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close
from torch.utils.flop_counter import FlopCounterMode

from cvbook_lib import attention as At
from cvbook_lib import flash_attention as FA

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
sdpa = At.scaled_dot_product_attention


def rand(*shape, seed=0, dtype=torch.float64, device="cpu"):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype).to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("L,S", [(37, 29), (29, 37), (64, 64), (1, 5)])
@pytest.mark.parametrize("block", [1, 7, 64, 1000, (5, 3), (3, 11)])
@pytest.mark.parametrize("causal", [False, True])
def test_tiled_equals_plain_and_torch(L, S, block, causal, dtype, device):
    q, k, v = rand(2, 3, L, 8, seed=1, dtype=dtype, device=device), rand(2, 3, S, 8, seed=2, dtype=dtype,
                                                                         device=device), \
        rand(2, 3, S, 5, seed=3, dtype=dtype, device=device)
    out = sdpa(q, k, v, is_causal=causal, tiled=True, block_size=block)
    tol = dict(atol=1e-12, rtol=1e-12) if dtype == torch.float64 else {}
    assert_close(out, sdpa(q, k, v, is_causal=causal), **tol)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=causal), **tol)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mask", ["bool", "float", "bool-broadcast", "float32-on-float64"])
def test_masks_scale_gqa_unbatched(mask, device):
    q, k, v = rand(2, 4, 9, 8, seed=1, device=device), rand(2, 2, 13, 8, seed=2, device=device), \
        rand(2, 2, 13, 6, seed=3, device=device)
    m = {"bool": rand(2, 4, 9, 13, seed=4, device=device) > -0.3, "float": rand(9, 13, seed=5, device=device),
         "bool-broadcast": rand(1, 4, 1, 13, seed=6, device=device) > 0.0,
         "float32-on-float64": rand(9, 13, seed=7, dtype=torch.float32, device=device)}[mask]
    kw = dict(attn_mask=m, scale=0.3, enable_gqa=True)
    ref = F.scaled_dot_product_attention(q, k, v, **kw)
    assert_close(sdpa(q, k, v, tiled=True, block_size=4, **kw), ref, atol=1e-12, rtol=1e-12)
    assert_close(sdpa(q, k, v, **kw), ref, atol=1e-12, rtol=1e-12)
    q2, k2, v2 = q[0, 0], k[0, 0], v[0, 0]                                    # unbatched [L, E]
    assert_close(sdpa(q2, k2, v2, tiled=True, block_size=(2, 5), scale=-0.7),
                 F.scaled_dot_product_attention(q2, k2, v2, scale=-0.7))


def test_fully_masked_rows_and_empty_keys_match_plain():
    q, k, v = rand(1, 2, 6, 4, seed=1), rand(1, 2, 10, 4, seed=2), rand(1, 2, 10, 3, seed=3)
    m = rand(1, 2, 6, 10, seed=4) > 0
    m[..., 2, :] = False                                                     # row 2 sees no key at all
    m[..., 4, :7] = False                                                    # row 4: only the last tile
    for block in (1, 3, 16):
        out = sdpa(q, k, v, attn_mask=m, tiled=True, block_size=block)
        assert_close(out, sdpa(q, k, v, attn_mask=m), atol=1e-12, rtol=1e-12)
        assert torch.equal(out[..., 2, :], torch.zeros_like(out[..., 2, :]))
    f = torch.zeros(6, 10, dtype=torch.float64)
    f[3] = -math.inf                                                         # an additive -inf row
    assert torch.equal(sdpa(q, k, v, attn_mask=f, tiled=True, block_size=4)[..., 3, :], torch.zeros(1, 2, 3,
                       dtype=torch.float64))
    e = sdpa(q, k[..., :0, :], v[..., :0, :], tiled=True)                    # S = 0: zeros, as the plain path
    assert torch.equal(e, sdpa(q, k[..., :0, :], v[..., :0, :])) and not e.any()
    nan_q = q.clone()
    nan_q[0, 0, 1, 0] = math.nan                                             # NaN propagates to its row only
    out = sdpa(nan_q, k, v, tiled=True, block_size=3)
    assert out[0, 0, 1].isnan().all() and not out[0, 0, 0].isnan().any()


def test_gradients_match_plain_float64():
    q, k, v = (rand(2, 2, n, 4, seed=s).requires_grad_() for s, n in ((1, 11), (2, 9), (3, 9)))
    mask = rand(11, 9, seed=4)
    for kw in (dict(is_causal=True), dict(attn_mask=mask), {}):
        gt = torch.autograd.grad(sdpa(q, k, v, tiled=True, block_size=(4, 3), **kw).square().sum(), (q, k, v))
        gp = torch.autograd.grad(sdpa(q, k, v, **kw).square().sum(), (q, k, v))
        for a, b in zip(gt, gp):
            assert_close(a, b, atol=1e-12, rtol=1e-10)
    small = [t.detach()[:1, :1, :5].clone().requires_grad_() for t in (q, k, v)]
    assert torch.autograd.gradcheck(lambda a, b, c: sdpa(a, b, c, is_causal=True, tiled=True, block_size=2), small)


def test_dropout_per_tile():
    q, k = rand(1, 1, 12, 4, seed=1), rand(1, 1, 12, 4, seed=2)
    v = torch.eye(12, dtype=torch.float64)[None, None]                      # the output is the weights themselves
    w = sdpa(q, k, v)
    torch.manual_seed(0)
    d = sdpa(q, k, v, dropout_p=0.5, tiled=True, block_size=5)
    ratio = d / w                                                           # every weight dropped or doubled
    assert torch.all((ratio.sub(0).abs() < 1e-12) | (ratio.sub(2).abs() < 1e-12))
    assert 0.2 < (ratio < 1).double().mean() < 0.8
    assert not sdpa(q, k, v, dropout_p=1.0, tiled=True).any()
    torch.manual_seed(0)
    assert torch.equal(sdpa(q, k, v, dropout_p=0.5, tiled=True, block_size=5), d)   # seeded: reproducible


@pytest.mark.parametrize("L,S,block", [(256, 256, 64), (100, 100, 7), (40, 90, (8, 16)), (90, 40, (16, 8))])
def test_causal_skips_the_tiles_above_the_diagonal(L, S, block):
    bq, bk = (block, block) if isinstance(block, int) else block
    plan = FA.tile_plan(L, S, block, is_causal=True)
    full = FA.tile_plan(L, S, block)
    assert len(full) == math.ceil(L / bq) * math.ceil(S / bk) == FA.tile_count(L, S, block)
    # the computed keys of each query block end right after its last query
    keys = sum(end - c for _, c, end, _ in plan)
    assert keys == sum(min(min(a + bq, L), S) for a in range(0, L, bq))
    for a, c, end, diagonal in plan:
        assert c <= min(a + bq, L) - 1 and diagonal == (end - 1 > a)
    if isinstance(block, int) and L == S:
        nb = math.ceil(L / block)
        assert len(plan) == nb * (nb + 1) // 2                               # about half of nb² for large nb
    # the matmuls the tiled path really runs: the FLOPs of exactly the planned tiles
    q, k, v = rand(1, 2, L, 8, seed=1), rand(1, 2, S, 8, seed=2), rand(1, 2, S, 8, seed=3)
    with FlopCounterMode(display=False) as fc:
        sdpa(q, k, v, is_causal=True, tiled=True, block_size=block)
    flops = sum(2 * 2 * (min(a + bq, L) - a) * (end - c) * 8 * 2 for a, c, end, _ in plan)
    assert fc.get_total_flops() == flops


def test_peak_memory_linear_vs_quadratic():
    x = rand(1, 2, 1024, 64, dtype=torch.float32)
    plain = FA.peak_memory_bytes(sdpa, x, x, x)
    tiled = FA.peak_memory_bytes(sdpa, x, x, x, tiled=True)
    assert plain >= 2 * 1024 * 1024 * 4                                      # the scores of both heads
    assert tiled < plain / 4
    x2 = rand(1, 2, 2048, 64, dtype=torch.float32)                          # doubling n: x4 vs about x2
    assert FA.peak_memory_bytes(sdpa, x2, x2, x2) > 3.5 * plain
    assert FA.peak_memory_bytes(sdpa, x2, x2, x2, tiled=True) < 2.5 * tiled


def test_peak_memory_meter_on_known_allocations():
    def f():
        a = torch.empty(1000, 1000)                                          # 4 MB
        b = torch.empty(500, 1000)                                           # 2 MB
        del a
        torch.empty(250, 1000)                                               # 1 MB, freed at once
        return b.add_(1)[:10]                                                # in place, a view: nothing new

    assert FA.peak_memory_bytes(f) == 6_000_000
    x = torch.zeros(1000, 1000)                                               # alive before the call
    assert FA.peak_memory_bytes(lambda t: t[1:].transpose(0, 1), x) == 0     # views of an input
    assert FA.peak_memory_bytes(lambda t: t.add_(1), x) == 0                  # in place on an input
    assert FA.peak_memory_bytes(lambda: x[:500].mul_(2)) == 0                 # a captured tensor: the same
    assert FA.peak_memory_bytes(lambda t: t + 1, x) == 4_000_000
    assert FA.peak_memory_bytes(torch.zeros, 0) == 0
    with pytest.raises(TypeError, match="fn"):
        FA.peak_memory_bytes(3)


def test_bad_inputs():
    q = rand(1, 4, 3)
    for bad, err in (("yes", TypeError), (1, TypeError), (None, TypeError)):
        with pytest.raises(err, match="tiled"):
            sdpa(q, q, q, tiled=bad)
    for bad, err in ((0, ValueError), (-2, ValueError), (2.5, TypeError), (True, TypeError), ("8", TypeError),
                     ((4, 0), ValueError), ((4, 2, 1), ValueError)):
        with pytest.raises(err, match="block_size"):
            sdpa(q, q, q, tiled=True, block_size=bad)
    with pytest.raises(ValueError, match="block_size.*tiled"):
        sdpa(q, q, q, block_size=8)
    with pytest.raises(ValueError, match="L"):
        FA.tile_plan(-1, 4)
    with pytest.raises(TypeError, match="is_causal"):
        FA.tile_count(4, 4, 2, is_causal="no")
