"""One time step of an Elman RNN, an LSTM and a GRU: ``RNNCell``, ``LSTMCell``, ``GRUCell`` with the constructor,
parameter names (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``), shapes and default init of ``torch.nn``'s
cells, and the step functions that :mod:`cvbook_lib.rnn.layers` loops over time.

The step functions take the input projection ``gi = x W_ihᵀ + b_ih`` already computed: a cell computes it for one
step, a multi-layer module for a whole sequence at once (one matmul), as torch and cuDNN do.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import _short, check_bool, check_choice, check_int, check_same, check_tensor

__all__ = ["RNNCell", "LSTMCell", "GRUCell"]


# ----------------------------------------------------------------------------- the math of one step
def _rnn_step(gi, h, w_hh, b_hh, relu: bool = False):
    """Elman (1990): h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (ReLU in place of tanh if ``relu``). gi, h: [N, *]."""
    pre = gi + F.linear(h, w_hh, b_hh)  # [N, H]
    return torch.relu(pre) if relu else torch.tanh(pre)


def _lstm_step(gi, state, w_hh, b_hh, w_hr=None):
    """Hochreiter & Schmidhuber (1997) with the forget gate of Gers et al. (2000); gi: [N, 4H] in torch's chunk
    order (i, f, g, o): ``W_ih = (W_ii|W_if|W_ig|W_io)`` stacked along dim 0. state = (h [N, H_out], c [N, H]).
    With ``w_hr`` [P, H] (LSTMP, Sak et al. 2014) the hidden state is projected: h' = W_hr (o ⊙ tanh(c'))."""
    h, c = state
    i, f, g, o = (gi + F.linear(h, w_hh, b_hh)).chunk(4, dim=-1)  # 4 × [N, H]
    i = torch.sigmoid(i)  # input gate    i = σ(W_ii x + b_ii + W_hi h + b_hi)
    f = torch.sigmoid(f)  # forget gate   f = σ(W_if x + b_if + W_hf h + b_hf)
    g = torch.tanh(g)  # candidate     g = tanh(W_ig x + b_ig + W_hg h + b_hg)
    o = torch.sigmoid(o)  # output gate   o = σ(W_io x + b_io + W_ho h + b_ho)
    c = f * c + i * g  # cell state    c' = f ⊙ c + i ⊙ g
    h = o * torch.tanh(c)  # hidden state  h' = o ⊙ tanh(c')
    if w_hr is not None:
        h = F.linear(h, w_hr)  # projection    h' = W_hr (o ⊙ tanh(c'))   [N, P]
    return h, c


def _gru_step(gi, h, w_hh, b_hh):
    """Cho et al. (2014), torch's variant (the reset gate multiplies W_hn h + b_hn); gi: [N, 3H] in the chunk
    order (r, z, n): ``W_ih = (W_ir|W_iz|W_in)``. h: [N, H]."""
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)  # reset gate   r = σ(W_ir x + b_ir + W_hr h + b_hr)
    z = torch.sigmoid(i_z + h_z)  # update gate  z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = torch.tanh(i_n + r * h_n)  # candidate    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    return n + z * (h - n)  # h' = (1 − z) ⊙ n + z ⊙ h, rearranged as torch computes it


# ----------------------------------------------------------------------------- shared checks
def _factory(device, dtype) -> dict:
    """``device``/``dtype`` for the parameters, checked (a floating dtype; a device torch understands)."""
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be None or a floating torch.dtype, got {_short(dtype)}")
    if device is not None:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError):
            raise TypeError(f"device must be None, a torch.device or a device string, got {_short(device)}") from None
    return dict(device=device, dtype=dtype)


def _check_like(x, name: str, param: torch.Tensor) -> None:
    """``x`` must sit on the parameters' device with their dtype (torch refuses a mismatch, so do we)."""
    if x.device != param.device:
        raise ValueError(f"{name} must be on the module's device {param.device}, got {x.device}")
    if x.dtype != param.dtype:
        raise TypeError(
            f"{name} must have the module's dtype {param.dtype} (its parameters'), got {x.dtype}; "
            f"convert the input with .to({param.dtype}) or the module with .to({x.dtype})"
        )


def _check_state(s, name: str, expected: tuple, ref: torch.Tensor, what: str) -> torch.Tensor:
    """A hidden/cell state: a floating tensor of exactly ``expected`` shape on ``ref``'s device and dtype."""
    check_tensor(s, name, kind="float")
    check_same(s, name, ref, "input")
    if tuple(s.shape) != tuple(expected):
        raise ValueError(
            f"{name} must have shape {tuple(expected)} ({what}) for input of shape {tuple(ref.shape)}, "
            f"got {tuple(s.shape)}"
        )
    return s


def _check_features(input: torch.Tensor, input_size: int) -> None:
    if input.shape[-1] != input_size:
        raise ValueError(
            f"input must have input_size={input_size} features in its last dimension, "
            f"got a tensor of shape {tuple(input.shape)}"
        )


def _uniform_init(module: nn.Module, hidden_size: int) -> None:
    """torch's default: every parameter ~ U(−1/√hidden_size, 1/√hidden_size), drawn in ``parameters()`` order."""
    stdv = 1.0 / math.sqrt(hidden_size)
    with torch.no_grad():
        for w in module.parameters():
            w.uniform_(-stdv, stdv)


# ----------------------------------------------------------------------------- the cells
class _CellBase(nn.Module):
    """Parameters ``weight_ih`` [G·H, H_in], ``weight_hh`` [G·H, H], ``bias_ih``/``bias_hh`` [G·H] (or None)."""

    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.input_size = check_int(input_size, "input_size", 1)
        self.hidden_size = check_int(hidden_size, "hidden_size", 1)
        self.bias = check_bool(bias, "bias")
        fk, G, H = _factory(device, dtype), self._gates * self.hidden_size, self.hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G, self.input_size, **fk))
        self.weight_hh = nn.Parameter(torch.empty(G, H, **fk))
        self.bias_ih = nn.Parameter(torch.empty(G, **fk)) if self.bias else None
        self.bias_hh = nn.Parameter(torch.empty(G, **fk)) if self.bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _uniform_init(self, self.hidden_size)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        s += "" if self.bias else ", bias=False"
        return s + ("" if getattr(self, "nonlinearity", "tanh") == "tanh" else f", nonlinearity={self.nonlinearity}")

    def _prepare(self, input, hx, n_states: int):
        """input [N, H_in] or [H_in] → (x [N, H_in], states [N, H] × n_states, batched)."""
        check_tensor(input, "input", (1, 2), kind="float")
        _check_like(input, "input", self.weight_ih)
        _check_features(input, self.input_size)
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        shape = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        if hx is None:
            return x, [x.new_zeros(x.shape[0], self.hidden_size)] * n_states, batched
        if n_states == 1:
            states, names = [hx], ["hx"]
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"hx must be None or a pair (h_0, c_0) of tensors, got {_short(hx)}")
            states, names = list(hx), ["hx[0] (h_0)", "hx[1] (c_0)"]
        what = "batch, hidden_size" if batched else "hidden_size, for an unbatched 1-D input"
        states = [_check_state(s, nm, shape, input, what) for s, nm in zip(states, names)]
        return x, [s if batched else s.unsqueeze(0) for s in states], batched


class RNNCell(_CellBase):
    """An Elman RNN cell, ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (``nonlinearity='relu'``: ReLU), as
    ``nn.RNNCell`` (same constructor, parameters, init and outputs). Elman 1990, "Finding structure in time".

    forward(input, hx=None): input (Tensor[N, H_in] or unbatched Tensor[H_in]); hx (Tensor[N, H] / Tensor[H],
    zeros if None). Returns: h' (Tensor[N, H] / Tensor[H]).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None):  # fmt: skip
        nl = check_choice(nonlinearity, "nonlinearity", ("tanh", "relu"))
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nl

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        x, (h,), batched = self._prepare(input, hx, 1)
        gi = F.linear(x, self.weight_ih, self.bias_ih)  # x W_ihᵀ + b_ih   [N, H]
        h = _rnn_step(gi, h, self.weight_hh, self.bias_hh, relu=self.nonlinearity == "relu")
        return h if batched else h.squeeze(0)


class LSTMCell(_CellBase):
    """An LSTM cell as ``nn.LSTMCell`` (same constructor, parameters, init and outputs); the gates, in torch's order::

        i = σ(W_ii x + b_ii + W_hi h + b_hi)        input gate
        f = σ(W_if x + b_if + W_hf h + b_hf)        forget gate
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)     candidate cell
        o = σ(W_io x + b_io + W_ho h + b_ho)        output gate
        c' = f ⊙ c + i ⊙ g,    h' = o ⊙ tanh(c')

    ``weight_ih`` [4H, H_in] is (W_ii|W_if|W_ig|W_io) stacked, ``weight_hh`` [4H, H] likewise. Hochreiter &
    Schmidhuber 1997, "Long short-term memory"; the forget gate: Gers, Schmidhuber & Cummins 2000.

    forward(input, hx=None): input (Tensor[N, H_in] or Tensor[H_in]); hx = (h_0, c_0), each Tensor[N, H] /
    Tensor[H] (zeros if None). Returns: (h', c'), each Tensor[N, H] / Tensor[H].
    """

    _gates = 4

    def forward(self, input: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None):
        x, (h, c), batched = self._prepare(input, hx, 2)
        h, c = _lstm_step(F.linear(x, self.weight_ih, self.bias_ih), (h, c), self.weight_hh, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(_CellBase):
    """A GRU cell as ``nn.GRUCell`` (same constructor, parameters, init and outputs); the gates, in torch's order::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)              reset gate
        z = σ(W_iz x + b_iz + W_hz h + b_hz)              update gate
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))     candidate
        h' = (1 − z) ⊙ n + z ⊙ h

    ``weight_ih`` [3H, H_in] is (W_ir|W_iz|W_in) stacked. Cho et al. 2014, "Learning phrase representations using
    RNN encoder-decoder" (arXiv 1406.1078); the reset gate applied after W_hn h is cuDNN's and torch's form.

    forward(input, hx=None): input (Tensor[N, H_in] or Tensor[H_in]); hx (Tensor[N, H] / Tensor[H], zeros if None).
    Returns: h' (Tensor[N, H] / Tensor[H]).
    """

    _gates = 3

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        x, (h,), batched = self._prepare(input, hx, 1)
        h = _gru_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)
