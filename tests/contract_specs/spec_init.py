"""Contract cases for cvbook_lib.init (reference: torch.nn.init, same random draws under the same seed)."""

import math

import torch
import torch.nn.init as I

from contract_specs import Case
from cvbook_lib import init

W = torch.zeros(8, 6)
WC = torch.zeros(4, 3, 2, 2)


def _copy(t):
    """The filled values (the fills return their argument, which later calls refill)."""
    return t.clone() if isinstance(t, torch.Tensor) else t


_GAIN_INF = {("gain", "inf"): "gain must be finite (torch's xavier_normal_ fills with ±inf)"}

SPECS = {
    init.calculate_gain: [
        Case(init.calculate_gain, dict(nonlinearity="leaky_relu", param=0.2), ref=I.calculate_gain,
             optional={"param"}, differs={("param", "nan"): "param must not be NaN (torch returns a NaN gain)"}),
        Case(init.calculate_gain, dict(nonlinearity="tanh"), ref=I.calculate_gain, label="tanh"),
    ],
    init.fan_in_and_fan_out: [
        Case(init.fan_in_and_fan_out, dict(tensor=WC), ref=I._calculate_fan_in_and_fan_out),
    ],
    init.xavier_uniform_: [
        Case(init.xavier_uniform_, dict(tensor=W, gain=1.5), ref=I.xavier_uniform_, out=_copy),
    ],
    init.xavier_normal_: [
        Case(init.xavier_normal_, dict(tensor=WC, gain=0.5), ref=I.xavier_normal_, out=_copy, differs=_GAIN_INF),
    ],
    init.kaiming_uniform_: [
        Case(init.kaiming_uniform_, dict(tensor=W, a=math.sqrt(5), mode="fan_in", nonlinearity="leaky_relu"),
             ref=I.kaiming_uniform_, out=_copy),
        Case(init.kaiming_uniform_, dict(tensor=WC, a=0.0, mode="fan_out", nonlinearity="relu"),
             ref=I.kaiming_uniform_, out=_copy, label="relu, fan_out",
             differs={("a", "nan"): "a must not be NaN (torch ignores a unless nonlinearity='leaky_relu')"}),
    ],
    init.kaiming_normal_: [
        Case(init.kaiming_normal_, dict(tensor=WC, a=0.1, mode="fan_out", nonlinearity="leaky_relu"),
             ref=I.kaiming_normal_, out=_copy),
    ],
}
