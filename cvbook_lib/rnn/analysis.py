"""Two measurements for the chapter: how much gradient reaches each input of a sequence (vanishing gradients in a
tanh RNN vs an LSTM) and the parameter count of a recurrent stack (independent of the sequence length)."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import _short, check_bool, check_choice, check_int
from .layers import _RNNBase

__all__ = ["gradient_over_time", "rnn_param_count"]

_GATES = {"RNN": 1, "RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def gradient_over_time(model: nn.Module, seq_len: int, batch_size: int = 1, seed: int = 0) -> torch.Tensor:
    """The gradient that reaches each step of a sequence from a loss on the **last** output only.

    Runs ``x`` ~ N(0, 1) of shape [seq_len, batch_size, input_size] (drawn on the CPU from ``seed``, then moved to
    the model's device and dtype; transposed for a batch_first model) through ``model`` and returns
    ``g_t = ‖∂L/∂x_t‖_F`` for every t, with L = Σ output[T − 1] (the sum of the last step's outputs over the batch
    and the features; h_0 = 0). Backpropagation through time multiplies one Jacobian ∂h_t/∂h_{t−1} per step: for a
    tanh RNN ``diag(1 − h_t²) W_hh``, so g_t shrinks geometrically towards t = 0 when ‖W_hh‖ < 1 (Bengio, Simard &
    Frasconi 1994; Pascanu, Mikolov & Bengio 2013, arXiv 1211.5063); along the LSTM's cell path the factor is the forget
    gate, ∂c_t/∂c_{t−1} = diag(f_t), which stays near 1 when the forget bias is large (Gers et al. 2000;
    Jozefowicz et al. 2015 set it to 1).

    model (an RNN/LSTM/GRU of cvbook_lib.rnn or torch.nn, used in its current train/eval mode: call ``.eval()`` to
    switch its dropout off; torch's modules on CUDA need training mode, as cuDNN's RNN backward does);
    seq_len (int >= 1); batch_size (int >= 1); seed (int). The model's parameters and their ``.grad`` are left as
    they were. For a bidirectional model the last output's reverse half has seen x_{T−1} only.
    Returns: Tensor[seq_len], g_0 ... g_{T−1}, on the model's device, with its dtype.
    """
    if not isinstance(model, (_RNNBase, nn.RNNBase)):
        raise TypeError(
            "model must be an RNN, LSTM or GRU module (cvbook_lib.rnn or torch.nn), "
            f"got {type(model).__name__} {_short(model)}"
        )
    T = check_int(seq_len, "seq_len", 1)
    N = check_int(batch_size, "batch_size", 1)
    seed = check_int(seed, "seed")
    p = next(model.parameters())
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, N, model.input_size, generator=g, dtype=torch.float64).to(p.device, p.dtype)  # [T, N, H_in]
    x.requires_grad_(True)
    out = model(x.transpose(0, 1) if model.batch_first else x)[0]
    last = out[:, -1] if model.batch_first else out[-1]  # [N, D·H_out]
    (grad,) = torch.autograd.grad(last.sum(), x)  # [T, N, H_in]; no parameter's .grad is touched
    return grad.flatten(1).norm(dim=1)  # [T]


def rnn_param_count(mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                    bidirectional: bool = False, proj_size: int = 0) -> int:  # fmt: skip
    """The number of parameters of ``nn.RNN/LSTM/GRU(input_size, hidden_size, num_layers, bias=bias,
    bidirectional=bidirectional, proj_size=proj_size)``: every layer and direction holds

        G·H·H_in + G·H·H_out + 2·G·H (biases) + P·H (LSTM's projection W_hr, if proj_size = P > 0)

    with G gates (RNN 1, GRU 3, LSTM 4), H = hidden_size, H_out = P or H, and H_in = input_size for the first layer,
    D·H_out for the others (D = 2 if bidirectional). The sequence length appears nowhere: the same weights serve
    every step.

    mode ('RNN', 'LSTM', 'GRU', or torch's ``module.mode`` 'RNN_TANH' / 'RNN_RELU'); input_size, hidden_size,
    num_layers (int >= 1); bias, bidirectional (bool); proj_size (int, 0 <= proj_size < hidden_size; LSTM only).
    Returns: int.
    """
    mode = check_choice(mode, "mode", tuple(_GATES))
    H_in, H = check_int(input_size, "input_size", 1), check_int(hidden_size, "hidden_size", 1)
    L = check_int(num_layers, "num_layers", 1)
    b, D = check_bool(bias, "bias"), 2 if check_bool(bidirectional, "bidirectional") else 1
    P = check_int(proj_size, "proj_size", 0, H - 1)
    if P and mode != "LSTM":
        raise ValueError(f"proj_size is for LSTM only, got proj_size={proj_size!r} with mode={mode!r}")
    G, H_out = _GATES[mode], P or H
    total = 0
    for layer in range(L):
        fan_in = H_in if layer == 0 else D * H_out
        total += D * (G * H * fan_in + G * H * H_out + (2 * G * H if b else 0) + P * H)
    return total
