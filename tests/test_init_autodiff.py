"""cvbook_lib.init against torch.nn.init, and cvbook_lib.autodiff against torch.autograd."""

import math
import random

import numpy as np
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
    with pytest.raises(ValueError, match="h must be a real number > 0"):
        numerical_gradient(f, x, h=0)


# ----------------------------------------------------------------------------- issue 15
@pytest.mark.parametrize("fn", [init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_, init.kaiming_normal_])
def test_initializers_refuse_bad_arguments_before_drawing(fn):
    w = torch.zeros(4, 3)
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    bad = [(dict(generator="abc"), TypeError, "generator"), (dict(tensor=torch.zeros(4, 3, dtype=torch.long)),
                                                              TypeError, "tensor"),
           (dict(tensor=[[0.0]]), TypeError, "tensor"), (dict(tensor=torch.zeros(5)), ValueError, "fewer than 2")]
    if fn in (init.xavier_uniform_, init.xavier_normal_):
        bad += [(dict(gain=g), ValueError, "gain") for g in (-1.0, math.nan, math.inf)] + [
            (dict(gain="1"), TypeError, "gain"), (dict(gain=True), TypeError, "gain")]
    else:
        bad += [(dict(mode="fan_avg"), ValueError, "mode"), (dict(mode=1), TypeError, "mode"),
                (dict(nonlinearity="gelu"), ValueError, "nonlinearity"), (dict(a=math.nan), ValueError, "a"),
                (dict(a="0"), TypeError, "a")]
    for kw, err, word in bad:
        call = {"tensor": w, "generator": gen, **kw}
        with pytest.raises(err, match=word):
            fn(**call)
        assert torch.equal(w, torch.zeros(4, 3)) and torch.equal(gen.get_state(), state), kw
    for t in (torch.zeros(5), torch.tensor(1.0)):                               # torch raises ValueError too
        with pytest.raises(ValueError):
            getattr(torch.nn.init, fn.__name__)(t)


def test_kaiming_accepts_numpy_numbers_and_upper_case_mode():
    a, b = torch.empty(6, 5), torch.empty(6, 5)
    init.kaiming_uniform_(a, a=np.int64(1), mode="FAN_OUT", generator=torch.Generator().manual_seed(2))
    torch.nn.init.kaiming_uniform_(b, a=1, mode="FAN_OUT", generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)                                     # torch itself refuses np.int64 as a
    with pytest.raises(ValueError):
        torch.nn.init.kaiming_uniform_(b, a=np.int64(1))
    assert init.calculate_gain("leaky_relu", np.float32(0.2)) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", 0.2))
    with pytest.raises(TypeError, match="param"):
        init.calculate_gain("leaky_relu", "0.2")
    with pytest.raises(TypeError, match="nonlinearity"):
        init.calculate_gain(1)


def test_initializers_on_empty_and_noncontiguous_tensors():
    with pytest.warns(UserWarning, match="no-op"):
        assert init.kaiming_normal_(torch.empty(0, 3)).shape == (0, 3)
    assert init.xavier_uniform_(torch.empty(0, 3)).shape == (0, 3)
    with pytest.raises(ZeroDivisionError):
        torch.nn.init.xavier_uniform_(torch.empty(0, 0))
    with pytest.raises(ValueError, match="fan_in \\+ fan_out > 0"):
        init.xavier_uniform_(torch.empty(0, 0))
    t = torch.zeros(6, 4, 2)[..., 0]                                            # a non-contiguous view
    init.kaiming_normal_(t, generator=torch.Generator().manual_seed(5))
    c = torch.zeros(6, 4)
    init.kaiming_normal_(c, generator=torch.Generator().manual_seed(5))
    assert torch.equal(t, c)


def test_numerical_gradient_handles_any_layout():
    f = lambda t: (torch.sin(t) * t ** 2 * torch.arange(t.numel(), dtype=t.dtype).view(t.shape)).sum()
    base = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for x in (base.T, base[:, ::2], torch.zeros(3, 4, 2, dtype=torch.float64)[..., 0].copy_(base.T)):
        assert not x.is_contiguous()
        xr = x.detach().clone().requires_grad_()
        f(xr).backward()
        got = numerical_gradient(f, x)
        assert got.shape == x.shape
        assert relative_error(got, xr.grad) < 1e-8


def test_numerical_gradient_and_relative_error_checks():
    x = torch.randn(3, dtype=torch.float64)
    f = lambda t: t.sum()
    with pytest.raises(TypeError, match="f must be a callable"):
        numerical_gradient("sum", x)
    with pytest.raises(TypeError, match="f must return a real scalar"):
        numerical_gradient(lambda t: t * 2, x)
    with pytest.raises(TypeError, match="x must be float32 or float64"):
        numerical_gradient(f, x.half())
    for h in (0.0, -1e-5, math.nan, math.inf):
        with pytest.raises(ValueError, match="h must be"):
            numerical_gradient(f, x, h=h)
    assert numerical_gradient(f, x[:0]).shape == (0,)
    assert relative_error(x[:0], x[:0]) == 0.0
    assert math.isnan(relative_error(torch.tensor([math.nan]), torch.tensor([1.0])))
    with pytest.raises(ValueError, match="same shape"):
        relative_error(x, x[:2])
    with pytest.raises(TypeError, match="b must"):
        relative_error(x, x > 0)


def test_value_arithmetic_with_wrong_types_names_the_operand():
    v = Value(2.0)
    for bad in ("3", None, [1.0], True, torch.tensor(1.0)):
        for op in (lambda b: v + b, lambda b: b + v, lambda b: v * b, lambda b: v - b, lambda b: b / v):
            with pytest.raises(TypeError, match="other operand must be a Value or a real number"):
                op(bad)
    with pytest.raises(TypeError, match="exponent"):
        v ** Value(2.0)
    assert (v * np.float32(1.5)).data == 3.0 and Value(np.int64(4)).data == 4.0
    with pytest.raises(TypeError, match="data must be a real number"):
        Value(True)


def test_value_follows_ieee_like_torch():
    relu = lambda x: x.relu() if isinstance(x, Value) else torch.relu(x)
    cases = [(0.0, lambda x: 1 / x), (0.0, lambda x: x ** -1), (-8.0, lambda x: x ** 0.5), (800.0, lambda x: x.exp()),
             (1e200, lambda x: x * x), (math.nan, relu), (math.inf, lambda x: x.tanh())]
    for data, fn in cases:
        x, t = Value(data), torch.tensor(data, dtype=torch.float64, requires_grad=True)
        y, yt = fn(x), fn(t)
        y.backward()
        yt.backward()
        assert y.data == pytest.approx(yt.item(), nan_ok=True), data
        assert x.grad == pytest.approx(t.grad.item(), nan_ok=True), data


def test_value_backward_on_a_long_chain():
    x = Value(1.0)
    y = x
    for _ in range(5000):                                        # deeper than Python's recursion limit
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001 ** 5000)
