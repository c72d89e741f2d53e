"""cvbook_lib.rnn against torch.nn.RNN/LSTM/GRU and their cells: the same state_dict (both ways, strict), outputs,
final states and gradients over a grid of layers, directions, layouts, biases, batched/unbatched input, given or
zero hx and dtypes; gradcheck in float64; dropout's properties; the gradient-over-time helper and the parameter
count; bad input."""

import itertools
import math

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence
from torch.testing import assert_close

from cvbook_lib import rnn as R

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
MODES = {  # name: (ours, torch's, extra constructor kwargs)
    "rnn_tanh": (R.RNN, nn.RNN, {}),
    "rnn_relu": (R.RNN, nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (R.LSTM, nn.LSTM, {}),
    "gru": (R.GRU, nn.GRU, {}),
}
CELLS = {"rnn_tanh": (R.RNNCell, nn.RNNCell, {}), "rnn_relu": (R.RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
         "lstm": (R.LSTMCell, nn.LSTMCell, {}), "gru": (R.GRUCell, nn.GRUCell, {})}  # fmt: skip


def rand(*shape, seed=0, dtype=torch.float64, device="cpu"):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype).to(device)


def pair(table, mode, *args, dtype=torch.float32, device="cpu", seed=0, **kw):
    """torch's module with its default init (seeded) and ours with torch's state_dict loaded strictly."""
    ours_cls, ref_cls, extra = table[mode]
    torch.manual_seed(seed)
    ref = ref_cls(*args, **extra, **kw).to(device, dtype)
    ours = ours_cls(*args, **extra, **kw).to(device, dtype)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ours, ref


def states(mode, shape_h, shape_c=None, seed=1, **kw):
    h = rand(*shape_h, seed=seed, **kw)
    return (h, rand(*(shape_c or shape_h), seed=seed + 1, **kw)) if mode == "lstm" else h


def flat(x):
    return list(x) if isinstance(x, tuple) else [x]


def compare(ours, ref, args, hx_leaves):
    """Same outputs; same gradients of a random linear function of every output w.r.t. the input, hx and every
    parameter (by name)."""
    got, want = ours(*args), ref(*args)
    out_o, out_r = [got[0], *flat(got[1])], [want[0], *flat(want[1])]
    for a, b in zip(out_o, out_r, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert_close(a, b)
    weights = [rand(*o.shape, seed=10 + i, dtype=o.dtype, device=o.device) for i, o in enumerate(out_r)]
    leaves = [args[0], *hx_leaves]
    grads = []
    for m, outs in ((ours, out_o), (ref, out_r)):
        names, params = zip(*m.named_parameters())
        loss = sum((o * w).sum() for o, w in zip(outs, weights))
        g = torch.autograd.grad(loss, [*leaves, *params])
        grads.append(dict(zip([f"leaf{i}" for i in range(len(leaves))] + list(names), g)))
    assert grads[0].keys() == grads[1].keys()
    for k in grads[1]:
        assert_close(grads[0][k], grads[1][k], msg=lambda m, k=k: f"gradient of {k}: {m}")


# ----------------------------------------------------------------------------- modules vs torch
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("mode", list(MODES))
def test_modules_match_torch(mode, num_layers, bidirectional, dtype):
    """Both modules in training mode (torch's default) with dropout = 0: equal outputs, states and gradients."""
    T, N, H_in, H, D = 4, 2, 3, 4, 2 if bidirectional else 1
    # half of the 16 flag combinations per dtype (a 2^(4-1) design: every pair of flags meets in all four ways),
    # the other half in the other dtype, so each (mode, num_layers, bidirectional) sees all 16
    odd = dtype == torch.float64
    combos = [c for c in itertools.product([False, True], repeat=4) if sum(c) % 2 == odd]
    for batch_first, bias, batched, with_hx in combos:
        ours, ref = pair(MODES, mode, H_in, H, num_layers, bias=bias, batch_first=batch_first,
                         bidirectional=bidirectional, dtype=dtype)  # fmt: skip
        shape = ((N, T, H_in) if batch_first else (T, N, H_in)) if batched else (T, H_in)
        x = rand(*shape, seed=2, dtype=dtype).requires_grad_()
        hx = states(mode, (D * num_layers, N, H) if batched else (D * num_layers, H), dtype=dtype) if with_hx else None
        leaves = [h.requires_grad_() for h in flat(hx)] if with_hx else []
        compare(ours, ref, (x, hx), leaves)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_lstm_proj_size_matches_torch(num_layers, bidirectional):
    D, P = 2 if bidirectional else 1, 2
    ours, ref = pair(MODES, "lstm", 3, 5, num_layers, proj_size=P, bidirectional=bidirectional, batch_first=True,
                     dtype=torch.float64)  # fmt: skip
    assert ours.weight_hr_l0.shape == (P, 5) and ours.weight_hh_l0.shape == (20, P)
    x = rand(2, 4, 3, seed=2).requires_grad_()
    hx = tuple(h.requires_grad_() for h in states("lstm", (D * num_layers, 2, P), (D * num_layers, 2, 5)))
    compare(ours, ref, (x, hx), list(hx))
    compare(ours, ref, (x[0].detach().requires_grad_(), None), [])  # unbatched, zero state


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", list(MODES))
def test_modules_on_device_and_empty_batch(mode, device):
    ours, ref = pair(MODES, mode, 3, 4, 2, bidirectional=True, device=device)
    x = rand(5, 3, 3, seed=2, dtype=torch.float32, device=device).requires_grad_()
    compare(ours, ref, (x, None), [])
    empty = rand(5, 0, 3, dtype=torch.float32, device=device)  # a batch of 0 sequences: empty outputs, as torch
    for a, b in zip(flat(ours(empty)[1]) + [ours(empty)[0]], flat(ref(empty)[1]) + [ref(empty)[0]]):
        assert a.shape == b.shape and a.device == b.device


# ----------------------------------------------------------------------------- cells vs torch
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mode", list(CELLS))
def test_cells_match_torch(mode, dtype):
    for bias, batched, with_hx in itertools.product([False, True], repeat=3):
        ours, ref = pair(CELLS, mode, 3, 5, bias=bias, dtype=dtype)
        x = rand(*((4, 3) if batched else (3,)), seed=2, dtype=dtype).requires_grad_()
        hx = states(mode, (4, 5) if batched else (5,), dtype=dtype) if with_hx else None
        leaves = [h.requires_grad_() for h in flat(hx)] if with_hx else []
        got, want = ours(x, hx), ref(x, hx)
        for a, b in zip(flat(got), flat(want), strict=True):
            assert_close(a, b)
        weights = [rand(*o.shape, seed=9 + i, dtype=dtype) for i, o in enumerate(flat(want))]
        g_o = torch.autograd.grad(
            sum((o * w).sum() for o, w in zip(flat(got), weights)), [x, *leaves, *ours.parameters()]
        )
        g_r = torch.autograd.grad(
            sum((o * w).sum() for o, w in zip(flat(want), weights)), [x, *leaves, *ref.parameters()]
        )
        for a, b in zip(g_o, g_r, strict=True):
            assert_close(a, b)


def test_lstm_cell_gates_by_hand():
    """The docstring's equations, gate by gate, on weights split in torch's (i, f, g, o) order."""
    cell = R.LSTMCell(3, 2).double()
    x, h, c = rand(4, 3, seed=1), rand(4, 2, seed=2), rand(4, 2, seed=3)
    Wi, Wh = cell.weight_ih.detach().chunk(4), cell.weight_hh.detach().chunk(4)
    b = (cell.bias_ih + cell.bias_hh).detach().chunk(4)
    i, f, g, o = (x @ Wi[k].T + h @ Wh[k].T + b[k] for k in range(4))
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new = torch.sigmoid(o) * torch.tanh(c_new)
    got = cell(x, (h, c))
    assert_close(got[0], h_new)
    assert_close(got[1], c_new)


# ----------------------------------------------------------------------------- state_dict and init
@pytest.mark.parametrize("mode", [*MODES, "lstm_proj"])
def test_state_dict_round_trip_both_ways(mode):
    kw = dict(num_layers=2, bidirectional=True, **({"proj_size": 2} if mode == "lstm_proj" else {}))
    m = "lstm" if mode == "lstm_proj" else mode
    ours, ref = pair(MODES, m, 3, 4, **kw)  # torch → ours (strict)
    assert list(ours.state_dict()) == list(ref.state_dict())
    torch.manual_seed(5)
    ours2 = MODES[m][0](3, 4, **MODES[m][2], **kw)
    ref.load_state_dict(ours2.state_dict(), strict=True)  # ours → torch (strict)
    for k, v in ours2.state_dict().items():
        assert torch.equal(ref.state_dict()[k], v)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]


@pytest.mark.parametrize("mode", [*MODES, "lstm_proj", *(f"cell_{c}" for c in CELLS)])
def test_default_init_draws_what_torch_draws(mode):
    """Same seed, same parameters (torch's U(−1/√H, 1/√H) in parameters() order)."""
    if mode.startswith("cell_"):
        (ours_cls, ref_cls, extra), args = CELLS[mode[5:]], (3, 9)
    else:
        ours_cls, ref_cls, extra = MODES["lstm" if mode == "lstm_proj" else mode]
        extra = {**extra, "num_layers": 2, "bidirectional": True, **({"proj_size": 2} if mode == "lstm_proj" else {})}
        args = (3, 9)
    torch.manual_seed(3)
    ours = ours_cls(*args, **extra)
    torch.manual_seed(3)
    ref = ref_cls(*args, **extra)
    for (k, a), (k2, b) in zip(ours.state_dict().items(), ref.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)
        assert a.abs().max() <= 1 / math.sqrt(9)


def test_wrong_state_dict_is_refused():
    ours = R.LSTM(3, 4, 2)
    sd = nn.LSTM(3, 4, 2).state_dict()
    with pytest.raises(RuntimeError, match="Missing key"):
        ours.load_state_dict({k: v for k, v in sd.items() if k != "bias_hh_l1"})
    with pytest.raises(RuntimeError, match="size mismatch"):
        ours.load_state_dict(nn.LSTM(3, 5, 2).state_dict())
    with pytest.raises(RuntimeError, match="Unexpected key"):
        ours.load_state_dict(nn.LSTM(3, 4, 2, bidirectional=True).state_dict())
    with pytest.raises(RuntimeError, match="size mismatch"):
        R.GRU(3, 4).load_state_dict(nn.LSTM(3, 4).state_dict())  # 3 gates vs 4
    with pytest.raises(RuntimeError, match="Missing key"):
        R.RNN(3, 4).load_state_dict(nn.RNN(3, 4, bias=False).state_dict())


# ----------------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("mode", list(CELLS))
def test_gradcheck_cells(mode):
    cell = CELLS[mode][0](3, 2, **CELLS[mode][2]).double()
    names = [n for n, _ in cell.named_parameters()]
    x = rand(2, 3, seed=1) + (0.5 if mode == "rnn_relu" else 0.0)  # away from relu's kink
    hx = [h.requires_grad_() for h in flat(states(mode, (2, 2)))]

    def f(x, *rest):
        h, params = rest[: len(hx)], dict(zip(names, rest[len(hx) :]))
        return torch.func.functional_call(cell, params, (x, tuple(h) if mode == "lstm" else h[0]))

    params = [p.detach().clone().requires_grad_() for p in cell.parameters()]
    assert torch.autograd.gradcheck(f, (x.requires_grad_(), *hx, *params))


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_gradcheck_two_layer_bidirectional(mode):
    m = MODES[mode][0](2, 2, num_layers=2, bidirectional=True).double()
    x = rand(3, 2, 2, seed=1).requires_grad_()
    hx = [h.requires_grad_() for h in flat(states(mode, (4, 2, 2)))]
    w = m.weight_hh_l1_reverse.detach().clone().requires_grad_()

    def f(x, w, *h):
        out, h_n = torch.func.functional_call(m, {"weight_hh_l1_reverse": w}, (x, tuple(h) if mode == "lstm" else h[0]))
        return out, *flat(h_n)

    assert torch.autograd.gradcheck(f, (x, w, *hx))


# ----------------------------------------------------------------------------- dropout
def test_dropout_eval_equals_torch_and_train_differs():
    ours, ref = pair(MODES, "lstm", 3, 4, 3, dropout=0.5)
    x = rand(5, 2, 3, dtype=torch.float32)
    ours.eval(), ref.eval()
    assert_close(ours(x)[0], ref(x)[0])  # eval: no dropout, equal
    ours.train()
    torch.manual_seed(0)
    a = ours(x)[0]
    torch.manual_seed(1)
    b = ours(x)[0]
    assert not torch.allclose(a, b) and not torch.allclose(a, ref(x)[0])  # train: random masks between layers
    ref.train()
    torch.manual_seed(0)  # torch's CPU kernel draws the same Bernoulli(1 − p) mask of each layer's output
    assert_close(a, ref(x)[0])


def test_dropout_acts_between_layers_only():
    m = R.RNN(3, 4, 2, bias=False, dropout=1.0)  # layer 2 reads zeros: its states stay 0 from h_0 = 0
    x = rand(5, 2, 3, dtype=torch.float32)
    out, h_n = m(x)
    assert torch.equal(out, torch.zeros_like(out)) and torch.equal(h_n[1], torch.zeros_like(h_n[1]))
    assert h_n[0].abs().sum() > 0  # the first layer is not dropped
    with pytest.warns(UserWarning, match="num_layers greater than 1"):  # as torch: no layer to drop between
        single = R.GRU(3, 4, 1, dropout=0.5)
    ref = nn.GRU(3, 4, 1)
    ref.load_state_dict(single.state_dict())
    assert_close(single(x)[0], ref(x)[0])  # training mode, one layer: dropout changes nothing


# ----------------------------------------------------------------------------- gradient over time
def test_gradient_over_time_equals_autograd_on_torch_module():
    for mode, batch_first in itertools.product(MODES, [False, True]):
        ours, ref = pair(MODES, mode, 3, 5, 2, batch_first=batch_first, dtype=torch.float64)
        x = torch.randn(7, 2, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64).requires_grad_()
        out = ref(x.transpose(0, 1) if batch_first else x)[0]
        (g,) = torch.autograd.grad((out[:, -1] if batch_first else out[-1]).sum(), x)
        want = g.flatten(1).norm(dim=1)
        for model in (ours, ref):
            got = R.gradient_over_time(model, 7, batch_size=2, seed=4)
            assert got.shape == (7,)
            assert_close(got, want)
        assert all(p.grad is None for p in ref.parameters())


@pytest.mark.parametrize("seed", range(5))
def test_rnn_gradient_vanishes_lstm_gradient_survives(seed):
    """T = 50, torch's default init, the LSTM's forget bias set to 1 (Jozefowicz et al. 2015): the tanh RNN's
    g_0/g_{T−1} is at least 10⁵ times smaller than the LSTM's (at default init the forget gate is σ(0) ≈ 0.5 and
    the LSTM's gradient decays as well)."""
    H = 32
    torch.manual_seed(seed)
    rnn, lstm = R.RNN(8, H), R.LSTM(8, H)
    with torch.no_grad():
        lstm.bias_ih_l0[H : 2 * H] = 1.0  # b_if (the forget gate's slice of (b_ii|b_if|b_ig|b_io))
        lstm.bias_hh_l0[H : 2 * H] = 0.0
    g_rnn = R.gradient_over_time(rnn, 50, batch_size=4, seed=seed)
    g_lstm = R.gradient_over_time(lstm, 50, batch_size=4, seed=seed)
    r_rnn, r_lstm = (g_rnn[0] / g_rnn[-1]).item(), (g_lstm[0] / g_lstm[-1]).item()
    assert r_rnn < 1e-9 < 1e-6 < r_lstm and r_lstm / r_rnn > 1e5
    assert g_rnn[0] < g_rnn[25] < g_rnn[-1]  # geometric decay towards the first step


def test_gradient_over_time_bad_input():
    m = R.LSTM(3, 4)
    with pytest.raises(TypeError, match="model"):
        R.gradient_over_time(nn.Linear(3, 4), 5)
    with pytest.raises(ValueError, match="seq_len"):
        R.gradient_over_time(m, 0)
    with pytest.raises(TypeError, match="batch_size"):
        R.gradient_over_time(m, 5, batch_size=2.0)
    with pytest.raises(TypeError, match="seed"):
        R.gradient_over_time(m, 5, seed="0")


# ----------------------------------------------------------------------------- parameter count
def _torch_count(mode, *args, **kw):
    cls = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[mode]
    return sum(p.numel() for p in cls(*args, **kw).parameters())


def test_rnn_param_count_grid():
    for mode, L, bias, bi in itertools.product(["RNN", "LSTM", "GRU"], [1, 2, 3], [False, True], [False, True]):
        kw = dict(num_layers=L, bias=bias, bidirectional=bi)
        assert R.rnn_param_count(mode, 5, 7, **kw) == _torch_count(mode, 5, 7, **kw)
        ours = {"RNN": R.RNN, "LSTM": R.LSTM, "GRU": R.GRU}[mode](5, 7, **kw)
        assert R.rnn_param_count(mode, 5, 7, **kw) == sum(p.numel() for p in ours.parameters())
        if mode == "LSTM":
            assert R.rnn_param_count(mode, 5, 7, proj_size=3, **kw) == _torch_count(mode, 5, 7, proj_size=3, **kw)
    assert R.rnn_param_count(nn.RNN(2, 3, nonlinearity="relu").mode, 2, 3) == 1 * (3 * 2 + 3 * 3 + 2 * 3)


@settings(max_examples=25, deadline=None)
@given(mode=st.sampled_from(["RNN", "LSTM", "GRU"]), H_in=st.integers(1, 20), H=st.integers(2, 20),
       L=st.integers(1, 4), bias=st.booleans(), bi=st.booleans(), proj=st.integers(0, 1))  # fmt: skip
def test_rnn_param_count_is_torchs(mode, H_in, H, L, bias, bi, proj):
    kw = dict(num_layers=L, bias=bias, bidirectional=bi, **({"proj_size": H - 1} if proj and mode == "LSTM" else {}))
    assert R.rnn_param_count(mode, H_in, H, **kw) == _torch_count(mode, H_in, H, **kw)


def test_rnn_param_count_bad_input():
    with pytest.raises(ValueError, match="mode"):
        R.rnn_param_count("Transformer", 3, 4)
    with pytest.raises(ValueError, match="hidden_size"):
        R.rnn_param_count("LSTM", 3, 0)
    with pytest.raises(ValueError, match="proj_size"):
        R.rnn_param_count("GRU", 3, 4, proj_size=2)
    with pytest.raises(ValueError, match="proj_size"):
        R.rnn_param_count("LSTM", 3, 4, proj_size=4)
    with pytest.raises(TypeError, match="bidirectional"):
        R.rnn_param_count("LSTM", 3, 4, bidirectional=1)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("cls", [R.RNN, R.LSTM, R.GRU, R.RNNCell, R.LSTMCell, R.GRUCell])
def test_constructor_bad_input(cls):
    cell = cls in (R.RNNCell, R.LSTMCell, R.GRUCell)
    bad = [
        ({"input_size": 0}, ValueError, "input_size"),
        ({"hidden_size": -1}, ValueError, "hidden_size"),
        ({"input_size": 3.0}, TypeError, "input_size"),
        ({"hidden_size": True}, TypeError, "hidden_size"),
        ({"bias": 1}, TypeError, "bias"),
        ({"dtype": torch.int64}, TypeError, "dtype"),
    ]
    if not cell:
        bad += [
            ({"num_layers": 0}, ValueError, "num_layers"),
            ({"dropout": 1.5}, ValueError, "dropout"),
            ({"dropout": -0.1}, ValueError, "dropout"),
            ({"dropout": math.nan}, ValueError, "dropout"),
            ({"dropout": "0.1"}, TypeError, "dropout"),
            ({"bidirectional": 1}, TypeError, "bidirectional"),
            ({"batch_first": "False"}, TypeError, "batch_first"),
        ]
    for kw, err, name in bad:
        with pytest.raises(err, match=name):
            cls(**{"input_size": 3, "hidden_size": 4, **kw})
    if cls in (R.RNN, R.RNNCell):
        with pytest.raises(ValueError, match="nonlinearity"):
            cls(3, 4, nonlinearity="sigmoid")
    if cls is R.LSTM:
        with pytest.raises(ValueError, match="proj_size"):
            R.LSTM(3, 4, proj_size=4)
        with pytest.raises(ValueError, match="proj_size"):
            R.LSTM(3, 4, proj_size=-1)
    if cls in (R.RNN, R.GRU):
        with pytest.raises(TypeError, match="proj_size"):  # LSTM only, as in torch
            cls(3, 4, proj_size=2)


@pytest.mark.parametrize("mode", list(MODES))
def test_forward_bad_input(mode):
    m = MODES[mode][0](3, 4, 2, **MODES[mode][2])
    x = torch.randn(5, 2, 3)
    with pytest.raises(ValueError, match=r"input must have input_size=3 .*\(5, 2, 4\)"):
        m(torch.randn(5, 2, 4))
    for bad in (torch.randn(3), torch.randn(5, 2, 1, 3)):  # 1-D and 4-D
        with pytest.raises(ValueError, match="input must be 2-D or 3-D"):
            m(bad)
    with pytest.raises(ValueError, match="length >= 1"):
        m(torch.randn(0, 2, 3))
    with pytest.raises(TypeError, match="input"):
        m(x.double())
    with pytest.raises(TypeError, match="input"):
        m(x.long())
    with pytest.raises(TypeError, match="PackedSequence"):
        m(pack_padded_sequence(x, torch.tensor([5, 3])))
    h_good, h_bad = torch.randn(2, 2, 4), torch.randn(1, 2, 4)  # 2 layers, 1 direction: (2, N, 4)
    if mode == "lstm":
        with pytest.raises(ValueError, match=r"hx\[0\] \(h_0\) must have shape \(2, 2, 4\)"):
            m(x, (h_bad, h_good))
        with pytest.raises(ValueError, match=r"hx\[1\] \(c_0\)"):
            m(x, (h_good, torch.randn(2, 3, 4)))
        with pytest.raises(TypeError, match="hx must be None or a pair"):
            m(x, h_good)
        with pytest.raises(ValueError, match=r"hx\[0\] \(h_0\) must have shape \(2, 4\)"):
            m(x[:, 0], (h_good, h_good))  # unbatched input, 3-D states
    else:
        with pytest.raises(ValueError, match=r"hx must have shape \(2, 2, 4\)"):
            m(x, h_bad)
        with pytest.raises(ValueError, match=r"hx must have shape \(2, 4\)"):
            m(x[:, 0], h_good)
        with pytest.raises(TypeError, match="hx"):
            m(x, h_good.double())


@pytest.mark.parametrize("mode", list(CELLS))
def test_cell_bad_input(mode):
    cell = CELLS[mode][0](3, 4, **CELLS[mode][2])
    with pytest.raises(ValueError, match=r"input must have input_size=3"):
        cell(torch.randn(2, 4))
    with pytest.raises(ValueError, match="input must be 1-D or 2-D"):
        cell(torch.randn(1, 2, 3))
    h = torch.randn(3, 4)
    with pytest.raises(ValueError, match=r"must have shape \(2, 4\)"):
        cell(torch.randn(2, 3), (h, h) if mode == "lstm" else h)
    with pytest.raises(ValueError, match=r"must have shape \(4,\)"):  # unbatched input, batched state
        cell(torch.randn(3), (h, h) if mode == "lstm" else h)
    if mode == "lstm":
        with pytest.raises(TypeError, match="pair"):
            cell(torch.randn(2, 3), h)
