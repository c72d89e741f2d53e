"""The quantization explorer: its pure layer against torch's observers and fake quantization, and properties
(more bits → less error, per-channel beats per-tensor when channel ranges differ, the model left unchanged)."""

import math

import matplotlib
import pytest
import torch
import torch.nn as nn

from cvbook_lib.widgets import quantization as Q

matplotlib.use("Agg")


def _model():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    with torch.no_grad():
        m[0].weight[1] *= 20                      # one channel with a 20x larger range
    return m


def _data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(30, 1, 8, 8, generator=g), torch.arange(30) % 3


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("scheme", ["symmetric", "affine"])
@pytest.mark.parametrize("granularity", ["per-tensor", "per-channel"])
def test_quantize_weight_equals_torch_observer_and_fake_quantize(bits, scheme, granularity):
    w = _model()[0].weight.detach()
    qmin, qmax = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if scheme == "symmetric" else (0, 2**bits - 1)
    dtype = torch.qint8 if scheme == "symmetric" else torch.quint8
    ao = torch.ao.quantization
    if granularity == "per-tensor":
        qs = torch.per_tensor_symmetric if scheme == "symmetric" else torch.per_tensor_affine
        obs = ao.MinMaxObserver(dtype=dtype, qscheme=qs, quant_min=qmin, quant_max=qmax)
        obs(w)
        s, z = obs.calculate_qparams()
        ref = torch.fake_quantize_per_tensor_affine(w, float(s), int(z), qmin, qmax)
    else:
        qs = torch.per_channel_symmetric if scheme == "symmetric" else torch.per_channel_affine
        obs = ao.PerChannelMinMaxObserver(ch_axis=0, dtype=dtype, qscheme=qs, quant_min=qmin, quant_max=qmax)
        obs(w)
        s, z = obs.calculate_qparams()
        ref = torch.fake_quantize_per_channel_affine(w, s, z.int(), 0, qmin, qmax)
    out, scale, zp = Q.quantize_weight(w, bits, scheme, granularity)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    torch.testing.assert_close(scale, s)
    assert zp.tolist() == z.tolist()


def test_view_grid_error_and_accuracy():
    model, (x, y) = _model(), _data()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    views = {b: Q.quant_view(model, x, y, "0", b) for b in (2, 3, 4, 6, 8)}
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    for b, v in views.items():
        assert len(v["levels"]) == 2**b and v["clip"] == (float(v["levels"][0]), float(v["levels"][-1]))
        assert v["weight"].numel() == 36
        assert set(v["sqnr_db"]) == {"0", "3"}
    for name in ("0", "3"):
        sq = [views[b]["sqnr_db"][name] for b in (2, 3, 4, 6, 8)]
        assert all(a < b for a, b in zip(sq, sq[1:])), sq          # more bits, less error
        assert sq[-1] - sq[-2] > 8                                  # about 6 dB per bit
    with torch.no_grad():
        fp32 = int((model(x).argmax(1) == y).sum()) / len(y)
    assert all(v["accuracy_fp32"] == fp32 for v in views.values())


def test_per_channel_beats_per_tensor_when_ranges_differ():
    model, (x, y) = _model(), _data()
    t = Q.quant_view(model, x, y, "0", 4, granularity="per-tensor")["sqnr_db"]["0"]
    c = Q.quant_view(model, x, y, "0", 4, granularity="per-channel")["sqnr_db"]["0"]
    assert c > t


def test_percentile_clips_the_range():
    model, (x, y) = _model(), _data()
    mm = Q.quant_view(model, x, y, "3", 8, calibration="minmax")
    pc = Q.quant_view(model, x, y, "3", 8, calibration="percentile", percentile=99.0)
    assert pc["clip"][1] < mm["clip"][1]
    assert math.isclose(mm["clip"][1], model[3].weight.abs().max().item() * 127 / 127.5, rel_tol=1e-6)


def test_plot_and_animation_and_explorer():
    model, (x, y) = _model(), _data()
    axes = Q.plot_quant_view(Q.quant_view(model, x, y, "0", 3))
    assert len(axes) == 2
    html = Q.quant_animation(model, x, y, "0", bits=(8, 2))
    assert "<img" in html or "data:image" in html
    box = Q.quant_explorer(model, x, y)
    assert box.children


def test_bad_inputs():
    model, (x, y) = _model(), _data()
    with pytest.raises(ValueError, match="layer"):
        Q.quant_view(model, x, y, "1", 8)
    with pytest.raises(ValueError, match="bits"):
        Q.quant_view(model, x, y, "0", 9)
    with pytest.raises(ValueError, match="scheme"):
        Q.quant_view(model, x, y, "0", 8, scheme="log")
    with pytest.raises(ValueError, match="x and y"):
        Q.quant_view(model, x, y[:3], "0", 8)
    with pytest.raises(ValueError, match="model cannot take x"):
        Q.quant_view(model, torch.randn(30, 2, 8, 8), y, "0", 8)
    with pytest.raises(TypeError, match="model"):
        Q.quantizable_layers("model")
