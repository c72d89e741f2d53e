"""The blocked bit-mask NMS core (cvbook_lib._nms) against torchvision.ops.nms / batched_nms: block
boundaries, chains of suppression inside a block, ties, dtypes, devices and the block size itself."""

import pytest
import torch
import torchvision.ops as tv

from cvbook_lib import boxes as B
from cvbook_lib._nms import _scan, greedy_nms

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def scene(n, seed, objects=8, extent=200.0):
    g = torch.Generator().manual_seed(seed)
    centre = torch.rand(objects, 2, generator=g) * extent
    size = torch.rand(objects, 2, generator=g) * 40 + 5
    i = torch.randint(0, objects, (n,), generator=g)
    c = centre[i] + torch.randn(n, 2, generator=g) * size[i] * 0.2
    wh = size[i] * (1 + 0.3 * torch.randn(n, 2, generator=g)).clamp(min=0.2)
    scores = (torch.rand(n, generator=g) * 6).floor() / 6              # few distinct scores: many ties
    return torch.cat([c - wh / 2, c + wh / 2], 1), scores


def chain(n):
    """Boxes shifted step by step: each overlaps its neighbours only, so keep/suppress alternates."""
    x = torch.arange(n, dtype=torch.float32) * 0.4
    return torch.stack([x, torch.zeros(n), x + 1, torch.ones(n)], 1), torch.linspace(1, 0, n)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [1, 127, 128, 129, 300, 700])
def test_nms_equals_torchvision_across_block_boundaries(n, dtype, device):
    for seed in range(2):
        b, s = (t.to(device=device, dtype=dtype) for t in scene(n, seed))
        for t in (0.0, 0.3, 0.5, 0.8):
            assert torch.equal(B.nms(b, s, t), tv.nms(b, s, t)), (seed, t)
    b, s = (t.to(device=device, dtype=dtype) for t in chain(n))
    assert torch.equal(B.nms(b, s, 0.3), tv.nms(b, s, 0.3))


@pytest.mark.parametrize("block", [1, 2, 7, 64, 1000])
def test_block_size_does_not_change_the_result(block):
    b, s = scene(400, 3)
    for t in (0.2, 0.5):
        assert torch.equal(greedy_nms(b, s, t, block=block), tv.nms(b, s, t))
    b, s = chain(150)
    assert torch.equal(greedy_nms(b, s, 0.3, block=block), tv.nms(b, s, 0.3))
    idxs = torch.randint(0, 3, (400,), generator=torch.Generator().manual_seed(0))
    b, s = scene(400, 4)
    assert torch.equal(greedy_nms(b, s, 0.5, labels=idxs, block=block), tv.batched_nms(b, s, idxs, 0.5))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n", [200, 1500])                # torchvision: coordinate trick / per-class loop
def test_batched_nms_equals_torchvision(n, device):
    b, s = (t.to(device) for t in scene(n, 5))
    if n > 1000:                      # torchvision's per-class loop sorts unstably: tied scores come in any order
        s = torch.rand(n, generator=torch.Generator().manual_seed(2)).to(device)
    idxs = torch.randint(0, 4, (n,), generator=torch.Generator().manual_seed(1)).to(device)
    for t in (0.3, 0.6):
        assert torch.equal(B.batched_nms(b, s, idxs, t), tv.batched_nms(b, s, idxs, t))


def test_nan_iou_never_suppresses_inside_and_across_blocks():
    b, s = scene(300, 6)
    b[::7] = b[::7, :1].repeat(1, 4)                       # zero-area boxes: IoU 0/0 = NaN among them
    b[5, 2] = float("nan")
    for t in (0.0, 0.5):
        assert torch.equal(B.nms(b, s, t), tv.nms(b, s, t))
        assert torch.equal(greedy_nms(b, s, t, block=16), tv.nms(b, s, t))


def test_scan_is_the_sequential_greedy_rule():
    g = torch.Generator().manual_seed(0)
    for k in (1, 5, 70, 128):
        mask = torch.rand(k, k, generator=g) < 0.1
        keep, removed = [], set()
        for i in range(k):
            if i not in removed:
                keep.append(i)
                removed |= {j for j in range(i + 1, k) if mask[i, j]}
        got = _scan(mask)
        assert (list(range(k)) if got is None else got) == keep
