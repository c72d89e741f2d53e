"""Contract cases for cvbook_lib.rnn (references: torch.nn.RNN/LSTM/GRU and RNNCell/LSTMCell/GRUCell with the same
weights; autograd on torch's module for gradient_over_time; the parameters of torch's module for rnn_param_count)."""

import zlib

import torch
from torch import nn

from contract_specs import Case
from cvbook_lib import rnn as R


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def fill(module):
    """Fixed weights drawn from each state_dict key (ours and torch's have the same keys), in eval mode."""
    with torch.no_grad():
        for name, t in module.state_dict().items():
            g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
            t.copy_((torch.randn(t.numel(), generator=g, dtype=torch.float64) * 0.5).view(t.shape))
    return module.eval()


def run(m):
    """A forward of a freshly built module (fixed weights, eval mode) on a fixed input in its layout."""
    fill(m)
    x = _randn(4, 2, m.input_size, seed=1).to(m.weight_ih_l0.dtype)
    return m(x.transpose(0, 1) if m.batch_first else x)


def run_cell(m):
    fill(m)
    return m(_randn(3, m.input_size, seed=1).to(m.weight_ih.dtype))


_POSITIVE = "input_size must be >= 1; torch's cells build a weight with 0 columns"
# torch's LSTMCell (and nn.LSTM with proj_size, which leaves oneDNN) promote a c_0 of another dtype, even int64
# or bool, and return c' in the promoted dtype; ours requires the input's floating dtype for every state
_C0 = {("c_0", m): "c_0 must have input's floating dtype (torch promotes it)"
       for m in ("float64", "float16", "int64", "bool", "complex")}  # fmt: skip
_CELL_DIFFERS = {("input_size", "zero"): _POSITIVE, ("hidden_size", "zero"): "hidden_size must be >= 1 (the same)"}


def _forward(module, lstm=False):
    """forward(input, hx) of a module; an LSTM's state given as h_0, c_0 so the fuzzer changes one at a time."""
    if lstm:

        def call(input, h_0=None, c_0=None):
            return module(input, None if h_0 is None and c_0 is None else (h_0, c_0))
    else:

        def call(input, hx=None):
            return module(input, hx)

    return call


_KW = dict(input_size=3, hidden_size=4, num_layers=2, bias=True, batch_first=False, dropout=0.0, bidirectional=True)
_x = _randn(5, 2, 3, seed=2)
_h = _randn(4, 2, 4, seed=3)  # D·num_layers = 4
_c = _randn(4, 2, 4, seed=4)

_OURS = {k: fill(c(3, 4, 2, bidirectional=True)) for k, c in (("RNN", R.RNN), ("LSTM", R.LSTM), ("GRU", R.GRU))}
_TORCH = {k: fill(c(3, 4, 2, bidirectional=True)) for k, c in (("RNN", nn.RNN), ("LSTM", nn.LSTM), ("GRU", nn.GRU))}
_OURS_BF = fill(R.GRU(3, 4, batch_first=True))
_TORCH_BF = fill(nn.GRU(3, 4, batch_first=True))
_OURS_P, _TORCH_P = fill(R.LSTM(3, 4, proj_size=2)), fill(nn.LSTM(3, 4, proj_size=2))


def _module_cases(name, ours_cls, ref_cls, extra):
    return [
        Case(ours_cls, {**_KW, **extra}, ref=ref_cls, out=run),
        Case(ours_cls, dict(input_size=2, hidden_size=3, num_layers=3, bias=False, batch_first=True, dropout=0.5,
                            bidirectional=False, dtype=torch.float64), ref=ref_cls, out=run),  # eval: no dropout
        Case(_forward(_OURS[name], name == "LSTM"),
             dict(input=_x, h_0=_h, c_0=_c) if name == "LSTM" else dict(input=_x, hx=_h),
             ref=_forward(_TORCH[name], name == "LSTM"), state=lambda: [_OURS[name]]),
    ]  # fmt: skip


# ----------------------------------------------------------------------------- cells
_CELL_OURS = {k: fill(c(3, 4)) for k, c in (("RNN", R.RNNCell), ("LSTM", R.LSTMCell), ("GRU", R.GRUCell))}
_CELL_TORCH = {k: fill(c(3, 4)) for k, c in (("RNN", nn.RNNCell), ("LSTM", nn.LSTMCell), ("GRU", nn.GRUCell))}
_xc, _hc, _cc = _randn(2, 3, seed=5), _randn(2, 4, seed=6), _randn(2, 4, seed=7)


def _cell_cases(name, ours_cls, ref_cls, extra):
    kw = dict(input_size=3, hidden_size=4, bias=True, **extra)
    return [
        Case(ours_cls, kw, ref=ref_cls, out=run_cell, differs=_CELL_DIFFERS),
        Case(ours_cls, {**kw, "bias": False, "dtype": torch.float64}, ref=ref_cls, out=run_cell, differs=_CELL_DIFFERS),
        Case(_forward(_CELL_OURS[name], name == "LSTM"),
             dict(input=_xc, h_0=_hc, c_0=_cc) if name == "LSTM" else dict(input=_xc, hx=_hc),
             ref=_forward(_CELL_TORCH[name], name == "LSTM"), state=lambda: [_CELL_OURS[name]],
             differs=_C0 if name == "LSTM" else {}),
    ]  # fmt: skip


# ----------------------------------------------------------------------------- analysis
_GOT_OURS = fill(R.LSTM(3, 4))


def _gradient_ref(model, seq_len, batch_size=1, seed=0):
    """d(Σ last output)/dx_t by autograd on torch's twin of the module (its state_dict loaded), then ‖·‖ per step."""
    twin = nn.LSTM(3, 4)
    twin.load_state_dict(model.state_dict())
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(seq_len, batch_size, 3, generator=g, dtype=torch.float64).float().requires_grad_()
    (grad,) = torch.autograd.grad(twin(x)[0][-1].sum(), x)
    return grad.flatten(1).norm(dim=1)


def _count_ref(mode, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False, proj_size=0):
    cls = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[mode]
    kw = {"proj_size": proj_size} if proj_size else {}
    m = cls(input_size, hidden_size, num_layers, bias=bias, bidirectional=bidirectional, **kw)
    return sum(p.numel() for p in m.parameters())


SPECS = {
    R.RNN: [
        *_module_cases("RNN", R.RNN, nn.RNN, {"nonlinearity": "tanh"}),
        Case(R.RNN, {**_KW, "nonlinearity": "relu"}, ref=nn.RNN, out=run),
    ],
    R.LSTM: [
        *_module_cases("LSTM", R.LSTM, nn.LSTM, {}),
        Case(R.LSTM, {**_KW, "proj_size": 2}, ref=nn.LSTM, out=run),
        Case(
            _forward(_OURS_P, True),
            dict(input=_x[:, 0], h_0=_randn(1, 2, seed=8), c_0=_randn(1, 4, seed=9)),
            ref=_forward(_TORCH_P, True),
            state=lambda: [_OURS_P],
            differs=_C0,
        ),
    ],
    R.GRU: [
        *_module_cases("GRU", R.GRU, nn.GRU, {}),
        Case(
            _forward(_OURS_BF),
            dict(input=_x.transpose(0, 1).contiguous()),
            ref=_forward(_TORCH_BF),
            state=lambda: [_OURS_BF],
        ),
    ],
    R.RNNCell: [*_cell_cases("RNN", R.RNNCell, nn.RNNCell, {"nonlinearity": "relu"})],
    R.LSTMCell: _cell_cases("LSTM", R.LSTMCell, nn.LSTMCell, {}),
    R.GRUCell: _cell_cases("GRU", R.GRUCell, nn.GRUCell, {}),
    R.gradient_over_time: [
        Case(
            R.gradient_over_time,
            dict(model=_GOT_OURS, seq_len=6, batch_size=2, seed=0),
            ref=_gradient_ref,
            state=lambda: [_GOT_OURS],
            differs={("batch_size", "zero"): "batch_size must be >= 1: an empty batch has no gradient to show"},
        ),
    ],
    R.rnn_param_count: [
        Case(
            R.rnn_param_count,
            dict(mode="LSTM", input_size=3, hidden_size=5, num_layers=2, bias=True, bidirectional=True, proj_size=2),
            ref=_count_ref,
        ),
        Case(
            R.rnn_param_count,
            dict(mode="GRU", input_size=3, hidden_size=5, num_layers=3, bias=False, bidirectional=False),
            ref=_count_ref,
        ),
    ],
}
