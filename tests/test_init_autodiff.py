"""cvbook_lib.init against torch.nn.init, and cvbook_lib.autodiff against torch.autograd."""

import math
import random

import pytest
import torch
import torch.nn.functional as F

from cvbook_lib import init
from cvbook_lib.autodiff import Value, numerical_gradient, relative_error


@pytest.mark.parametrize("nl,param", [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                                      ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)])
def test_calculate_gain(nl, param):
    assert init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param))


@pytest.mark.parametrize("shape", [(30, 20), (16, 8, 3, 3), (4, 6, 5), (8, 2, 1, 7, 7)])
def test_initializers_draw_exactly_what_torch_draws(shape):
    for ours, ref, kwargs in [(init.xavier_uniform_, torch.nn.init.xavier_uniform_, dict(gain=1.7)),
                              (init.xavier_normal_, torch.nn.init.xavier_normal_, dict(gain=0.5)),
                              (init.kaiming_uniform_, torch.nn.init.kaiming_uniform_, dict(a=math.sqrt(5))),
                              (init.kaiming_uniform_, torch.nn.init.kaiming_uniform_, dict(mode="fan_out",
                                                                                             nonlinearity="relu")),
                              (init.kaiming_normal_, torch.nn.init.kaiming_normal_, dict(nonlinearity="relu")),
                              (init.kaiming_normal_, torch.nn.init.kaiming_normal_, dict(mode="fan_out", a=0.1))]:
        a, b = torch.empty(shape), torch.empty(shape)
        ours(a, generator=torch.Generator().manual_seed(3), **kwargs)
        ref(b, generator=torch.Generator().manual_seed(3), **kwargs)
        assert torch.equal(a, b), (ours.__name__, kwargs)


def test_fans_and_statistics():
    w = torch.empty(64, 32, 3, 3)
    assert init.fan_in_and_fan_out(w) == (32 * 9, 64 * 9)
    init.kaiming_normal_(w, nonlinearity="relu", generator=torch.Generator().manual_seed(0))
    assert w.std().item() == pytest.approx(math.sqrt(2 / (32 * 9)), rel=0.02)
    init.xavier_uniform_(w, generator=torch.Generator().manual_seed(0))
    assert w.var().item() == pytest.approx(2 / (32 * 9 + 64 * 9), rel=0.02)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(torch.empty(5))
    with pytest.raises(ValueError, match="mode must be one of"):
        init.kaiming_uniform_(w, mode="fan_avg")
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        init.calculate_gain("gelu")


def _random_expression(rng, leaves_v, leaves_t, depth=4):
    if depth == 0:
        i = rng.randrange(len(leaves_v))
        return leaves_v[i], leaves_t[i]
    op = rng.choice(["+", "-", "*", "/", "pow", "exp", "log", "tanh", "relu"])
    a_v, a_t = _random_expression(rng, leaves_v, leaves_t, depth - 1)
    if op in ("+", "-", "*", "/"):
        b_v, b_t = _random_expression(rng, leaves_v, leaves_t, depth - 1)
        if op == "/":
            b_v, b_t = b_v * b_v + 1.0, b_t * b_t + 1.0
        ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}
        return ops[op](a_v, b_v), ops[op](a_t, b_t)
    if op == "pow":
        return a_v ** 2, a_t ** 2
    if op == "exp":
        return (a_v.tanh()).exp(), torch.exp(torch.tanh(a_t))
    if op == "log":
        return (a_v * a_v + 0.5).log(), torch.log(a_t * a_t + 0.5)
    return (a_v.tanh(), torch.tanh(a_t)) if op == "tanh" else (a_v.relu(), F.relu(a_t))


@pytest.mark.parametrize("seed", range(20))
def test_value_gradients_equal_torch_on_random_expressions(seed):
    rng = random.Random(seed)
    xs = [rng.uniform(-2, 2) for _ in range(4)]
    leaves_v = [Value(x) for x in xs]
    leaves_t = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    out_v, out_t = _random_expression(rng, leaves_v, leaves_t)
    out_v.backward()
    out_t.backward()
    assert out_v.data == pytest.approx(out_t.item(), rel=1e-12, abs=1e-12)
    for v, t in zip(leaves_v, leaves_t):
        assert v.grad == pytest.approx(0.0 if t.grad is None else t.grad.item(), rel=1e-9, abs=1e-12)


def test_numerical_gradient_and_relative_error():
    x = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    f = lambda t: (torch.sin(t) * t ** 2).sum()
    xr = x.clone().requires_grad_()
    f(xr).backward()
    assert relative_error(numerical_gradient(f, x), xr.grad) < 1e-8
    wrong = xr.grad * 1.01
    assert relative_error(numerical_gradient(f, x), wrong) > 1e-3
    with pytest.raises(TypeError, match="data must be a real number"):
        Value("3")
    with pytest.raises(ValueError, match="h must be > 0"):
        numerical_gradient(f, x, h=0)
