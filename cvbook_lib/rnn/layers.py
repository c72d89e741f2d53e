"""Multi-layer, optionally bidirectional ``RNN``, ``LSTM`` and ``GRU`` with the constructor, defaults, parameter
names (``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``, LSTM's ``weight_hr_l{k}``, the
``_reverse`` ones), shapes, default init and outputs of ``torch.nn.RNN/LSTM/GRU``: ``load_state_dict`` works both
ways with ``strict=True``. Each layer projects its whole input sequence at once (``x W_ihᵀ + b_ih``, one matmul)
and then loops over time with the step functions of :mod:`cvbook_lib.rnn.cells`.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from .._checks import _short, check_bool, check_choice, check_int, check_probability, check_tensor
from ..norm import dropout as _dropout
from .cells import _check_features, _check_like, _check_state, _factory, _gru_step, _lstm_step, _rnn_step, _uniform_init

__all__ = ["RNN", "LSTM", "GRU"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class _RNNBase(nn.Module):
    """The shared constructor and forward; ``mode`` is torch's: 'RNN_TANH', 'RNN_RELU', 'LSTM' or 'GRU'."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):  # fmt: skip
        super().__init__()
        self.mode = mode
        self.input_size = check_int(input_size, "input_size", 1)
        self.hidden_size = H = check_int(hidden_size, "hidden_size", 1)
        self.num_layers = check_int(num_layers, "num_layers", 1)
        self.bias = check_bool(bias, "bias")
        self.batch_first = check_bool(batch_first, "batch_first")
        self.dropout = check_probability(dropout, "dropout")
        self.bidirectional = check_bool(bidirectional, "bidirectional")
        self.proj_size = check_int(proj_size, "proj_size", 0)
        if self.proj_size >= H:
            raise ValueError(f"proj_size must be smaller than hidden_size={H}, got {proj_size!r}")
        if self.dropout > 0 and self.num_layers == 1:  # torch's warning: dropout acts between layers only
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                stacklevel=3,
            )
        fk, G, H_out, D = _factory(device, dtype), _GATES[mode] * H, self.proj_size or H, self.num_directions
        for layer in range(self.num_layers):
            for d in range(D):  # registered in torch's order, so parameters() and the init draws line up
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                H_in = self.input_size if layer == 0 else H_out * D
                self.register_parameter("weight_ih" + sfx, nn.Parameter(torch.empty(G, H_in, **fk)))
                self.register_parameter("weight_hh" + sfx, nn.Parameter(torch.empty(G, H_out, **fk)))
                if self.bias:
                    self.register_parameter("bias_ih" + sfx, nn.Parameter(torch.empty(G, **fk)))
                    self.register_parameter("bias_hh" + sfx, nn.Parameter(torch.empty(G, **fk)))
                if self.proj_size:
                    self.register_parameter("weight_hr" + sfx, nn.Parameter(torch.empty(self.proj_size, H, **fk)))
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def reset_parameters(self) -> None:
        _uniform_init(self, self.hidden_size)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        defaults = dict(proj_size=0, num_layers=1, bias=True, batch_first=False, dropout=0.0, bidirectional=False)
        return s + "".join(f", {k}={getattr(self, k)}" for k, v in defaults.items() if getattr(self, k) != v)

    def _weights(self, layer: int, d: int):
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        return [getattr(self, n + sfx, None) for n in ("weight_ih", "bias_ih", "weight_hh", "bias_hh", "weight_hr")]

    def _step(self, gi, s, w_hh, b_hh, w_hr):
        """One time step of one direction; s is the state tuple ((h,) or (h, c))."""
        if self.mode == "LSTM":
            return _lstm_step(gi, s, w_hh, b_hh, w_hr)
        if self.mode == "GRU":
            return (_gru_step(gi, s[0], w_hh, b_hh),)
        return (_rnn_step(gi, s[0], w_hh, b_hh, relu=self.mode == "RNN_RELU"),)

    def _prepare(self, input, hx):
        """→ (x [T, N, H_in], initial states [(D·L, N, ·)] × 1 or 2, batched)."""
        if isinstance(input, PackedSequence):
            raise TypeError(
                "input must be a padded Tensor; PackedSequence is not supported here (unpack it with "
                "torch.nn.utils.rnn.pad_packed_sequence and run the sequences of equal length together)"
            )
        check_tensor(input, "input", (2, 3), kind="float")
        ref = self.weight_ih_l0
        _check_like(input, "input", ref)
        _check_features(input, self.input_size)
        batched = input.dim() == 3
        x = input.transpose(0, 1) if batched and self.batch_first else input  # [T, N, H_in]
        x = x if batched else x.unsqueeze(1)
        if x.shape[0] == 0:
            raise ValueError(f"input must hold a sequence of length >= 1, got shape {tuple(input.shape)}")
        DL, N, H = self.num_layers * self.num_directions, x.shape[1], self.hidden_size
        shapes = [(DL, N, self.proj_size or H)] + ([(DL, N, H)] if self.mode == "LSTM" else [])
        if hx is None:
            return x, [x.new_zeros(s) for s in shapes], batched
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"hx must be None or a pair (h_0, c_0) of tensors, got {_short(hx)}")
            states, names = list(hx), ["hx[0] (h_0)", "hx[1] (c_0)"]
        else:
            states, names = [hx], ["hx"]
        what = "num_layers * num_directions, batch, hidden" + ("" if batched else "; 2-D for an unbatched input")
        states = [
            _check_state(s, nm, shp if batched else (shp[0], shp[2]), input, what)
            for s, nm, shp in zip(states, names, shapes)
        ]
        return x, [s if batched else s.unsqueeze(1) for s in states], batched

    def forward(self, input, hx=None):
        x, h0, batched = self._prepare(input, hx)
        T, D, L = x.shape[0], self.num_directions, self.num_layers
        finals = []  # the last state of every (layer, direction), in torch's order layer·D + d
        for layer in range(L):
            outs = []
            for d in range(D):
                w_ih, b_ih, w_hh, b_hh, w_hr = self._weights(layer, d)
                gi = F.linear(x, w_ih, b_ih)  # [T, N, G·H]: the input projections of every step at once
                s = tuple(h[layer * D + d] for h in h0)
                ys = [None] * T
                for t in reversed(range(T)) if d else range(T):  # the reverse direction reads the sequence backwards
                    s = self._step(gi[t], s, w_hh, b_hh, w_hr)
                    ys[t] = s[0]
                outs.append(torch.stack(ys))  # [T, N, H_out]
                finals.append(s)
            x = torch.cat(outs, dim=-1)  # [T, N, D·H_out]: both directions side by side
            if self.training and self.dropout > 0 and layer < L - 1:
                x = _dropout(x, self.dropout)  # between layers, never after the last one
        h_n = [torch.stack([s[k] for s in finals]) for k in range(len(h0))]  # [D·L, N, ·]
        if not batched:
            x, h_n = x.squeeze(1), [h.squeeze(1) for h in h_n]
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, (tuple(h_n) if self.mode == "LSTM" else h_n[0])


class RNN(_RNNBase):
    """A multi-layer Elman RNN as ``nn.RNN``: layer k at step t computes
    h_t = tanh(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh) (``nonlinearity='relu'``: ReLU), x_t being the input for
    k = 0 and the output of layer k − 1 (both directions) above. Elman 1990, "Finding structure in time".

    forward(input, hx=None): input (Tensor[L, N, H_in]; Tensor[N, L, H_in] if batch_first; unbatched
    Tensor[L, H_in]); hx (Tensor[D·num_layers, N, H]; 2-D unbatched; zeros if None).
    Returns: (output, h_n). output (Tensor[L, N, D·H]; Tensor[N, L, D·H] if batch_first; Tensor[L, D·H] unbatched)
    is the last layer's hidden state at every step, the D directions side by side (forward first); h_n
    (Tensor[D·num_layers, N, H]; 2-D unbatched) is the last hidden state of every layer and direction, in torch's
    order layer·D + direction (never batch_first).
    Dropout (``dropout`` > 0) acts on the output of every layer but the last, in training mode only.
    A ``PackedSequence`` input is refused with a TypeError (pad the sequences instead).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):  # fmt: skip
        nl = check_choice(nonlinearity, "nonlinearity", ("tanh", "relu"))
        mode = "RNN_TANH" if nl == "tanh" else "RNN_RELU"
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)  # fmt: skip
        self.nonlinearity = nl


class LSTM(_RNNBase):
    """A multi-layer LSTM as ``nn.LSTM``: every layer runs :class:`~cvbook_lib.rnn.LSTMCell`'s equations over time
    (gates i, f, g, o; c_t = f ⊙ c_{t−1} + i ⊙ g; h_t = o ⊙ tanh(c_t)). ``proj_size`` = P > 0 adds LSTMP's
    projection h_t = W_hr (o ⊙ tanh(c_t)) with ``weight_hr_l{k}`` [P, H] (Sak et al. 2014, arXiv 1402.1128):
    then H_out = P, ``weight_hh_l{k}`` is [4H, P] and the layers above the first read D·P features (H_out = H
    without it). Hochreiter & Schmidhuber 1997, "Long short-term memory"; Gers et al. 2000 (the forget gate).

    forward(input, hx=None): input (Tensor[L, N, H_in]; Tensor[N, L, H_in] if batch_first; unbatched
    Tensor[L, H_in]); hx = (h_0 Tensor[D·num_layers, N, H_out], c_0 Tensor[D·num_layers, N, H]), 2-D each
    unbatched; zeros if None.
    Returns: (output, (h_n, c_n)). output (Tensor[L, N, D·H_out]; Tensor[N, L, D·H_out] if batch_first;
    Tensor[L, D·H_out] unbatched) is the last layer's h at every step, the D directions side by side (forward
    first); h_n (Tensor[D·num_layers, N, H_out]) and c_n (Tensor[D·num_layers, N, H]), 2-D unbatched, are the last
    states of every layer and direction, in torch's order layer·D + direction (never batch_first).
    Dropout (``dropout`` > 0) acts on the output of every layer but the last, in training mode only.
    A ``PackedSequence`` input is refused with a TypeError (pad the sequences instead).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):  # fmt: skip
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)  # fmt: skip


class GRU(_RNNBase):
    """A multi-layer GRU as ``nn.GRU``: every layer runs :class:`~cvbook_lib.rnn.GRUCell`'s equations over time
    (gates r, z, n; h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}). Cho et al. 2014 (arXiv 1406.1078).

    forward(input, hx=None): input (Tensor[L, N, H_in]; Tensor[N, L, H_in] if batch_first; unbatched
    Tensor[L, H_in]); hx (Tensor[D·num_layers, N, H]; 2-D unbatched; zeros if None).
    Returns: (output, h_n), shaped as :class:`RNN`'s: output (Tensor[L, N, D·H]; Tensor[N, L, D·H] if batch_first;
    Tensor[L, D·H] unbatched), h_n (Tensor[D·num_layers, N, H]; 2-D unbatched), order layer·D + direction.
    Dropout (``dropout`` > 0) acts on the output of every layer but the last, in training mode only.
    A ``PackedSequence`` input is refused with a TypeError (pad the sequences instead).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):  # fmt: skip
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)  # fmt: skip
