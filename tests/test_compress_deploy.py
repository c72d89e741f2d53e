"""cvbook_lib.compress.deploy and .lab: the exported ONNX graph against the torch model it came from (ONNX
Runtime's outputs, the checker), ONNX Runtime's BN folding against torch.nn.utils.fusion.fuse_conv_bn_eval,
the int8 models (ONNX Runtime's and torch.ao.quantization's) against the fp32 model, sizes against the bytes
on disk, and the digits lab (split, model, training with masks) against its definitions."""

import copy
import os
import time

import numpy as np
import onnx
import pytest
import torch
import torch.ao.nn.intrinsic as nni
import torch.ao.nn.quantized as nnq
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from cvbook_lib.compress import channel_masked, prune_channels
from cvbook_lib.compress import deploy as D
from cvbook_lib.compress import lab as L

pytestmark = pytest.mark.usefixtures("one_thread")

CONVS, BNS = ["features.0", "features.3", "features.7"], ["features.1", "features.4", "features.8"]


@pytest.fixture(scope="module")
def data():
    return L.load_digits_split(seed=0)


@pytest.fixture(scope="module")
def trained(data, one_thread):
    x_tr, y_tr, _, _ = data
    torch.manual_seed(0)
    model = L.DigitsCNN(width=8)
    history = L.train(model, x_tr, y_tr, epochs=8, lr=1e-2, batch_size=64, seed=0)
    return model.eval(), history


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "digits.onnx"
    proto = D.export_onnx(copy.deepcopy(trained[0]), torch.rand(1, 1, 8, 8), path)
    return path, proto


# ----------------------------------------------------------------------------- the lab
def test_load_digits_split_is_a_stratified_partition():
    from sklearn.datasets import load_digits

    x_tr, y_tr, x_te, y_te = L.load_digits_split(seed=0, test_size=0.3)
    assert x_tr.shape == (1257, 1, 8, 8) and x_te.shape == (540, 1, 8, 8) and x_tr.dtype == torch.float32
    assert y_tr.dtype == torch.int64 and float(x_tr.min()) == 0.0 and float(x_tr.max()) == 1.0
    digits = load_digits()
    # a partition of the whole set: the rows of train ∪ test are the images / 16, each once
    rows = torch.cat([x_tr, x_te]).flatten(1).numpy()
    full = (digits.images.reshape(len(digits.target), -1) / 16).astype("float32")
    assert np.array_equal(np.unique(rows, axis=0), np.unique(full, axis=0)) and len(rows) == len(full)
    # stratified: each class's test share is 30 % of its count, up to rounding
    for c in range(10):
        n = int((digits.target == c).sum())
        assert abs(int((y_te == c).sum()) - 0.3 * n) <= 1
    again = L.load_digits_split(seed=0, test_size=0.3)
    assert all(torch.equal(a, b) for a, b in zip(again, (x_tr, y_tr, x_te, y_te)))
    assert not torch.equal(L.load_digits_split(seed=1)[1], y_tr)


@pytest.mark.parametrize("width", [1, 4, 16])
def test_digits_cnn_shapes_and_parameter_count(width):
    m = L.DigitsCNN(width=width)
    w = width  # conv 9w, BN 2w, conv 18w², BN 4w, conv 36w², BN 4w, linear 20w + 10
    assert sum(p.numel() for p in m.parameters()) == 54 * w * w + 39 * w + 10
    assert m(torch.rand(5, 1, 8, 8)).shape == (5, 10)
    q = L.DigitsCNN(width=width, quantizable=True)
    assert isinstance(q.quant, torch.ao.quantization.QuantStub) and isinstance(m.quant, nn.Identity)
    assert q.state_dict().keys() == m.state_dict().keys()
    q.load_state_dict(m.state_dict())
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(q.eval()(x), m.eval()(x), rtol=0, atol=0)


@pytest.mark.parametrize("conv", CONVS)
def test_digits_cnn_channels_can_be_pruned(conv):
    torch.manual_seed(1)
    m = L.DigitsCNN(width=4).eval()
    keep = [0, 2, 3] if conv == "features.0" else [1, 4, 6]
    small, masked = prune_channels(m, conv, keep), channel_masked(m, conv, keep)
    assert small.get_submodule(conv).out_channels == len(keep)
    x = torch.rand(6, 1, 8, 8)
    torch.testing.assert_close(small.eval()(x), masked.eval()(x), rtol=1e-5, atol=1e-6)


def test_fuse_for_quantization_eval_and_train():
    torch.manual_seed(2)
    m = L.DigitsCNN(width=4).eval()
    with torch.no_grad():
        for name in BNS:
            m.get_submodule(name).running_var.uniform_(0.5, 2)
            m.get_submodule(name).running_mean.normal_()
    x = torch.rand(4, 1, 8, 8)
    fused = copy.deepcopy(m).fuse_for_quantization()
    assert all(isinstance(fused.get_submodule(c), nni.ConvReLU2d) for c in CONVS)
    torch.testing.assert_close(fused(x), m(x), rtol=1e-5, atol=1e-5)
    qat = copy.deepcopy(m).train().fuse_for_quantization()
    assert all(isinstance(qat.get_submodule(c), nni.ConvBnReLU2d) for c in CONVS)


def test_train_reaches_the_accuracy_and_is_reproducible(trained, data):
    model, history = trained
    _, _, x_te, y_te = data
    assert len(history["loss"]) == len(history["accuracy"]) == 8 and history["loss"][-1] < history["loss"][0] / 4
    acc = L.accuracy(model, x_te, y_te)
    with torch.no_grad():
        manual = float((model.eval()(x_te).argmax(1) == y_te).float().mean())
    assert acc == pytest.approx(manual) and acc >= 0.95
    x_tr, y_tr = data[0][:200], data[1][:200]
    a, b = (L.DigitsCNN(width=2) for _ in range(2))
    b.load_state_dict(a.state_dict())
    ha = L.train(a, x_tr, y_tr, epochs=2, lr=1e-2, batch_size=32, seed=5)
    hb = L.train(b, x_tr, y_tr, epochs=2, lr=1e-2, batch_size=32, seed=5)
    assert ha == hb and all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_train_keeps_masks_and_adds_the_penalty(data):
    x, y = data[0][:256], data[1][:256]
    torch.manual_seed(3)
    m = L.DigitsCNN(width=4)
    start = copy.deepcopy(m)
    g = torch.Generator().manual_seed(0)
    masks = {f"{c}.weight": torch.rand(m.get_submodule(c).weight.shape, generator=g) > 0.5 for c in CONVS}
    masks["classifier.2.weight"] = (torch.rand(10, 8, generator=g) > 0.3).float()
    L.train(m, x, y, epochs=2, lr=1e-2, batch_size=64, seed=0, masks=masks)
    params = dict(m.named_parameters())
    for name, mask in masks.items():
        assert torch.all(params[name][mask == 0] == 0), name
        moved = params[name][mask == 1] != dict(start.named_parameters())[name][mask == 1]
        assert moved.float().mean() > 0.9, name  # the kept weights were trained
    calls = []
    pen = copy.deepcopy(start)

    def penalty(model):
        calls.append(1)
        return 10.0 * sum(b.weight.abs().sum() for b in model.modules() if isinstance(b, nn.BatchNorm2d))

    L.train(pen, x, y, epochs=1, lr=1e-2, batch_size=64, seed=0, penalty=penalty)
    plain = copy.deepcopy(start)
    L.train(plain, x, y, epochs=1, lr=1e-2, batch_size=64, seed=0)
    gam = lambda mod: torch.cat([mod.get_submodule(b).weight.detach().abs() for b in BNS])
    assert len(calls) == 4 and gam(pen).sum() < gam(plain).sum()


def test_ptq_and_qat_int8_accuracy_and_types(trained, data):
    model, _ = trained
    x_tr, y_tr, x_te, y_te = data
    before = copy.deepcopy(model.state_dict())
    fp32 = L.accuracy(model, x_te, y_te)
    ptq = L.ptq_int8(model, x_tr[:256])
    qat = L.qat_int8(model, x_tr[:512], y_tr[:512], epochs=1, lr=1e-4, seed=0)
    for q in (ptq, qat):
        assert all(isinstance(q.get_submodule(c), nni.quantized.ConvReLU2d) for c in CONVS)
        assert isinstance(q.classifier[2], nnq.Linear) and q.get_submodule(CONVS[1]).weight().dtype == torch.qint8
        assert L.accuracy(q, x_te, y_te) > fp32 - 0.03
        with torch.no_grad():
            agree = (q(x_te).argmax(1) == model(x_te).argmax(1)).float().mean()
        assert agree > 0.95
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the fp32 model is untouched
    assert isinstance(model.quant, nn.Identity) and model.features[0].__class__ is nn.Conv2d


# ----------------------------------------------------------------------------- ONNX and ONNX Runtime
def test_export_round_trip_equals_torch(trained, exported, data):
    model, _ = trained
    path, proto = exported
    onnx.checker.check_model(onnx.load(path), full_check=True)
    dim0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param == "batch" and not dim0.HasField("dim_value")
    sess = D.ort_session(path, optimization="extended")
    for n in (1, 64):
        x = data[2][:n]
        with torch.no_grad():
            ref = model.eval()(x)
        torch.testing.assert_close(D.ort_run(sess, x), ref, rtol=1e-5, atol=1e-5)
    out = D.ort_run(D.ort_session(proto, optimization="disabled"), data[2][:3])
    torch.testing.assert_close(out, model(data[2][:3]).detach(), rtol=1e-5, atol=1e-5)


def test_export_restores_flags_and_prints_nothing(tmp_path, capfd):
    torch.manual_seed(5)
    m = L.DigitsCNN(width=2).train()
    m.features[1].eval()  # mixed flags come back as they were
    stats, flags = copy.deepcopy(m.state_dict()), [x.training for x in m.modules()]
    proto = D.export_onnx(m, torch.rand(2, 1, 8, 8), tmp_path / "a.onnx", dynamic_batch=False)
    assert [x.training for x in m.modules()] == flags and flags.count(False) == 1
    assert all(torch.equal(stats[k], v) for k, v in m.state_dict().items())  # no BN statistics moved
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [2, 1, 8, 8]
    sess = D.ort_session(tmp_path / "a.onnx")
    with pytest.raises(ValueError, match="x must have shape"):
        D.ort_run(sess, torch.rand(3, 1, 8, 8))
    D.quantize_onnx(tmp_path / "a.onnx", tmp_path / "q.onnx", torch.rand(4, 1, 8, 8))
    D.optimized_graph(tmp_path / "a.onnx", "all")
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_export_float64_linear(tmp_path):
    torch.manual_seed(6)
    m = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()
    x = torch.randn(9, 5, dtype=torch.float64)
    D.export_onnx(m, x, tmp_path / "lin.onnx", optimize=True)
    sess = D.ort_session(str(tmp_path / "lin.onnx"))
    torch.testing.assert_close(D.ort_run(sess, x), m(x).detach(), rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="x must have dtype torch.float64"):
        D.ort_run(sess, x.float())


def test_ort_folds_bn_and_fuses_relu(trained, exported, data):
    model, _ = trained
    path, proto = exported
    counts = {k: D.op_counts(D.optimized_graph(path, k)) for k in ("disabled", "basic", "extended")}
    raw = D.op_counts(proto)
    assert raw["Conv"] == raw["BatchNormalization"] == raw["Relu"] == 3 and list(raw) == sorted(raw)
    assert counts["disabled"]["BatchNormalization"] == 3
    assert "BatchNormalization" not in counts["basic"] and counts["basic"]["Conv"] == 3
    assert counts["extended"].get("FusedConv") == 3 and "Relu" not in counts["extended"]
    assert "Conv" not in counts["extended"]
    folded = D.folded_conv_weights(D.optimized_graph(path, "basic"))
    assert len(folded) == 3
    for (w, b), c, n in zip(folded, CONVS, BNS):
        ref = fuse_conv_bn_eval(copy.deepcopy(model.get_submodule(c)), copy.deepcopy(model.get_submodule(n)))
        torch.testing.assert_close(w, ref.weight.detach(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(b, ref.bias.detach(), rtol=1e-5, atol=1e-6)
    extended = D.folded_conv_weights(D.optimized_graph(path, "extended"))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(extended, folded))
    raw_weights = D.folded_conv_weights(proto)  # before ORT: the unfolded conv weights, zero bias
    torch.testing.assert_close(raw_weights[0][0], model.features[0].weight.detach(), rtol=0, atol=0)
    assert not raw_weights[0][1].any()


def test_ort_int8_static_and_dynamic(trained, exported, data, tmp_path):
    model, _ = trained
    path, _ = exported
    x_tr, _, x_te, y_te = data
    with torch.no_grad():
        ref = model(x_te).argmax(1)
    q = D.quantize_onnx(path, tmp_path / "q.onnx", x_tr[:256])
    assert q == tmp_path / "q.onnx"
    ops = D.op_counts(q)
    assert ops["QuantizeLinear"] >= 3 and ops["DequantizeLinear"] >= 6 and "BatchNormalization" not in ops
    out = D.ort_run(D.ort_session(q), x_te)
    assert (out.argmax(1) == ref).float().mean() >= 0.95
    assert float((out.argmax(1) == y_te).float().mean()) > L.accuracy(model, x_te, y_te) - 0.03
    again = D.quantize_onnx(path, tmp_path / "q2.onnx", x_tr[:256])
    init = lambda p: {t.name: t.SerializeToString() for t in onnx.load(p).graph.initializer}
    assert init(q) == init(again)  # deterministic
    w8 = [t for t in onnx.load(q).graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4]
    assert len(w8) == 3  # the three conv weights are stored as int8
    assert D.file_size(q) < D.file_size(path) / 2
    dyn = D.quantize_onnx(path, tmp_path / "d.onnx", mode="dynamic", per_channel=False)
    assert D.op_counts(dyn).get("ConvInteger") == 3
    assert (D.ort_run(D.ort_session(dyn), x_te).argmax(1) == ref).float().mean() >= 0.95


def test_file_size(exported, tmp_path):
    path, proto = exported
    assert D.file_size(path) == os.path.getsize(path) == D.file_size(str(path))
    assert D.file_size(proto) == len(proto.SerializeToString())
    torch.manual_seed(7)
    m = L.DigitsCNN(width=32).eval()
    # torch.save's zip records are named after the file's stem ("archive" for a buffer): same size as archive.pt
    (tmp_path / "q").mkdir()
    torch.save(m.state_dict(), tmp_path / "archive.pt")
    assert D.file_size(m) == os.path.getsize(tmp_path / "archive.pt")
    q = L.ptq_int8(m, torch.rand(32, 1, 8, 8))
    torch.save(q.state_dict(), tmp_path / "q" / "archive.pt")
    assert D.file_size(q) == os.path.getsize(tmp_path / "q" / "archive.pt")
    ratio = D.file_size(m) / D.file_size(q)  # 4 bytes -> 1 per weight, plus per-channel scales and zip headers
    assert 3.0 < ratio < 4.0, ratio


def test_measure_latency_interleaves_and_ranks():
    order = []

    def make(name, delay):
        def fn(x):
            order.append(name)
            time.sleep(delay)
            return x

        return fn

    fns = {"a": make("a", 0.002), "b": make("b", 0.0), "c": make("c", 0.004)}
    r = D.measure_latency(fns, torch.zeros(2), rounds=5, warmup=2)
    assert order[:6] == ["a"] * 2 + ["b"] * 2 + ["c"] * 2
    rounds = [order[6 + 3 * r: 9 + 3 * r] for r in range(5)]
    assert len(order) == 21 and all(sorted(r) == ["a", "b", "c"] for r in rounds)   # each once per round
    assert len({tuple(r) for r in rounds}) > 1                                       # in changing orders
    assert set(r) == {"medians", "ratios"} and list(r["medians"]) == ["a", "b", "c"]
    assert r["ratios"]["a"] == 1.0 and r["ratios"]["b"] < 0.5 < 1.5 < r["ratios"]["c"]
    assert r["medians"]["a"] >= 0.002
    grads = D.measure_latency({"m": nn.Linear(2, 2)}, torch.zeros(1, 2), rounds=1, warmup=0)
    assert grads["ratios"] == {"m": 1.0}


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs(exported, tmp_path, data):
    path, proto = exported
    m = L.DigitsCNN(width=2)
    x = torch.rand(1, 1, 8, 8)
    with pytest.raises(TypeError, match="model"):
        D.export_onnx("net", x, tmp_path / "a.onnx")
    with pytest.raises(TypeError, match="example_input"):
        D.export_onnx(m, [[1.0]], tmp_path / "a.onnx")
    with pytest.raises(ValueError, match="example_input"):
        D.export_onnx(m, torch.rand(1, 3, 8, 8), tmp_path / "a.onnx")
    with pytest.raises(TypeError, match="path"):
        D.export_onnx(m, x, 3)
    with pytest.raises(ValueError, match="path must be in an existing folder"):
        D.export_onnx(m, x, tmp_path / "no" / "a.onnx")
    with pytest.raises(ValueError, match="opset_version"):
        D.export_onnx(m, x, tmp_path / "a.onnx", opset_version=7)
    assert not (tmp_path / "a.onnx").exists()
    with pytest.raises(ValueError, match="optimization"):
        D.ort_session(path, optimization="max")
    with pytest.raises(ValueError, match="threads"):
        D.ort_session(path, threads=0)
    with pytest.raises(ValueError, match="model_or_path"):
        D.ort_session(tmp_path / "missing.onnx")
    with pytest.raises(TypeError, match="model_or_path"):
        D.op_counts(m)
    with pytest.raises(TypeError, match="session"):
        D.ort_run(path, x)
    with pytest.raises(ValueError, match="calibration"):
        D.quantize_onnx(path, tmp_path / "q.onnx")
    with pytest.raises(ValueError, match="calibration"):
        D.quantize_onnx(path, tmp_path / "q.onnx", x, mode="dynamic")
    with pytest.raises(ValueError, match="calibration"):
        D.quantize_onnx(path, tmp_path / "q.onnx", torch.full((2, 1, 8, 8), float("nan")))
    with pytest.raises(ValueError, match="mode"):
        D.quantize_onnx(path, tmp_path / "q.onnx", x, mode="int4")
    with pytest.raises(ValueError, match="dst"):
        D.quantize_onnx(path, path, x)
    with pytest.raises(TypeError, match="model_or_path"):
        D.file_size(3)
    with pytest.raises(TypeError, match="fns"):
        D.measure_latency({}, x)
    with pytest.raises(ValueError, match="rounds"):
        D.measure_latency({"m": m}, x, rounds=0)
    with pytest.raises(ValueError, match="x of shape"):
        D.measure_latency({"m": m}, torch.rand(3))
    with pytest.raises(ValueError, match="not initializers"):
        D.folded_conv_weights(D.quantize_onnx(path, tmp_path / "q.onnx", x))
    x_tr, y_tr = data[0][:8], data[1][:8]
    with pytest.raises(ValueError, match="width"):
        L.DigitsCNN(width=0)
    with pytest.raises(TypeError, match="quantizable"):
        L.DigitsCNN(quantizable=1)
    with pytest.raises(ValueError, match="test_size"):
        L.load_digits_split(test_size=1.5)
    with pytest.raises(ValueError, match="masks"):
        L.train(m, x_tr, y_tr, 1, masks={"nope": torch.ones(1)})
    with pytest.raises(ValueError, match="masks"):
        L.train(m, x_tr, y_tr, 1, masks={"features.0.weight": torch.ones(3)})
    with pytest.raises(ValueError, match="y must hold"):
        L.train(m, x_tr, y_tr + 10, 1)
    with pytest.raises(ValueError, match="x must be finite"):
        L.train(m, x_tr * float("nan"), y_tr, 1)
    with pytest.raises(TypeError, match="model"):
        L.ptq_int8(nn.Conv2d(1, 2, 3), x_tr)
    with pytest.raises(ValueError, match="backend"):
        L.ptq_int8(m, x_tr, backend="tensorrt")
    with pytest.raises(ValueError, match="already"):
        L.ptq_int8(L.ptq_int8(m, x_tr), x_tr)
    with pytest.raises(ValueError, match="lr"):
        L.qat_int8(m, x_tr, y_tr, lr=-1.0)
