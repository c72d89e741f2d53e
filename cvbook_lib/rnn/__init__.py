"""cvbook_lib.rnn: recurrent networks from scratch, each equal to the torch module it re-implements
(tests/test_rnn.py).

- ``cells``: ``RNNCell``, ``LSTMCell``, ``GRUCell`` (= ``torch.nn.RNNCell/LSTMCell/GRUCell``: constructor,
  parameters ``weight_ih`` [G·H, H_in], ``weight_hh`` [G·H, H], ``bias_ih``/``bias_hh`` [G·H], init
  U(−1/√H, 1/√H), batched [N, H_in] and unbatched [H_in] input); the gates are written one per line, in torch's
  chunk order: LSTM (i, f, g, o), GRU (r, z, n).
- ``layers``: ``RNN``, ``LSTM`` (with ``proj_size``), ``GRU`` (= ``torch.nn.RNN/LSTM/GRU``: num_layers,
  bidirectional, batch_first, bias, dropout between layers, unbatched 2-D input; the same ``state_dict`` keys and
  shapes, so ``load_state_dict`` works both ways with ``strict=True``, and the same outputs and gradients).
  Each layer loops over time with the cells' step functions; no ``torch._VF`` / ``nn.LSTM`` inside.
- ``analysis``: ``gradient_over_time`` (the gradient reaching each input from a loss on the last output: vanishing
  in a tanh RNN, carried by an LSTM's cell) and ``rnn_param_count`` (the parameter count, independent of the
  sequence length).

Deliberate differences from torch: bad arguments are refused up front with a ValueError/TypeError naming them
(torch accepts ``bidirectional=1``, ``bias`` of any type in the cells, a non-positive size in the cells, and
raises RuntimeError for a wrong input or hx shape); ``PackedSequence`` input is refused (TypeError); an input
whose dtype or device differs from the parameters' is refused as in torch, and so is a state (h_0, c_0) whose
dtype differs from the input's (torch's LSTMCell, and nn.LSTM with proj_size, promote a c_0 of another dtype).
References: Elman 1990; Hochreiter & Schmidhuber 1997; Gers, Schmidhuber & Cummins 2000; Cho et al. 2014;
Sak, Senior & Beaufays 2014 (LSTMP); Bengio, Simard & Frasconi 1994 and Pascanu et al. 2013 (vanishing gradients).
"""

from . import analysis, cells, layers
from .analysis import *  # noqa: F403
from .cells import *  # noqa: F403
from .layers import *  # noqa: F403

__all__ = cells.__all__ + layers.__all__ + analysis.__all__
