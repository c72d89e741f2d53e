"""cvbook_lib.activations against torch.nn.functional and autograd."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from contract_specs.spec_activations import nan_as_float32
from torch.testing import assert_close

from cvbook_lib import activations as A

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
X = torch.cat([torch.linspace(-30, 30, 601, dtype=torch.float64), torch.tensor([0.0, -3.0, 3.0, 1e-12, -1e-12],
                                                                              dtype=torch.float64)])

CASES = [
    ("sigmoid", {}, torch.sigmoid), ("tanh", {}, torch.tanh), ("relu", {}, F.relu),
    ("leaky_relu", {"negative_slope": 0.2}, F.leaky_relu), ("leaky_relu", {}, F.leaky_relu),
    ("elu", {"alpha": 1.5}, F.elu), ("gelu", {}, F.gelu), ("gelu", {"approximate": "tanh"}, F.gelu),
    ("silu", {}, F.silu), ("hardswish", {}, F.hardswish),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,kwargs,ref", CASES)
def test_activation_and_derivative_match_torch(name, kwargs, ref, device):
    f, fgrad = getattr(A, name), getattr(A, f"{name}_grad")
    x = X.to(device).clone().requires_grad_()
    y = ref(x, **kwargs)
    (g,) = torch.autograd.grad(y.sum(), x)
    assert_close(f(x.detach(), **kwargs), y.detach())
    assert_close(fgrad(x.detach(), **kwargs), g)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_log_softmax_and_backward(dim, device):
    x = (torch.randn(4, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 5).to(device)
    assert_close(A.softmax(x, dim), F.softmax(x, dim))
    assert_close(A.log_softmax(x, dim), F.log_softmax(x, dim))
    g = torch.randn_like(x)
    xs = x.clone().requires_grad_()
    for ours, ref, back in ((A.softmax, F.softmax, A.softmax_backward), (A.log_softmax, F.log_softmax,
                                                                         A.log_softmax_backward)):
        (want,) = torch.autograd.grad(ref(xs, dim), xs, g)
        assert_close(back(g, ours(x, dim), dim), want)


def test_extreme_logits_stay_finite():
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -5.0]])
    for fn in (A.softmax, A.log_softmax):
        out = fn(x, 1)
        ref = (F.softmax if fn is A.softmax else F.log_softmax)(x, 1)
        assert torch.isfinite(out).all() and torch.equal(torch.isfinite(out), torch.isfinite(ref))
        assert_close(out, ref)
    naive = torch.exp(x) / torch.exp(x).sum(1, keepdim=True)          # what the max-subtraction prevents
    assert torch.isnan(naive).any()
    big = torch.tensor([-1e4, -100.0, 0.0, 100.0, 1e4])
    for name in ("sigmoid", "tanh", "silu", "elu", "gelu"):
        assert torch.isfinite(getattr(A, name)(big)).all() and torch.isfinite(getattr(A, f"{name}_grad")(big)).all()


def test_activation_bad_input():
    with pytest.raises(TypeError, match="input must be a torch.Tensor"):
        A.relu([1.0, -1.0])
    with pytest.raises(TypeError, match="floating dtype"):
        A.sigmoid(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="approximate must be one of"):
        A.gelu(torch.zeros(3), approximate="fast")
    with pytest.raises(ValueError, match="dim must be in"):
        A.softmax(torch.zeros(2, 3), dim=2)
    with pytest.raises(TypeError, match="dim must be an int"):
        A.log_softmax(torch.zeros(2, 3), dim=None)


@pytest.mark.parametrize("name,kwargs,ref", CASES)
def test_autograd_through_ours_equals_torchs_everywhere(name, kwargs, ref):
    """Backprop through our formulas (not only the hand-written derivative) is right, kinks and 0 included."""
    x = X.clone().requires_grad_()
    (ours,) = torch.autograd.grad(getattr(A, name)(x, **kwargs).sum(), x)
    (want,) = torch.autograd.grad(ref(x, **kwargs).sum(), x)
    assert_close(ours, want)
    assert torch.autograd.gradcheck(lambda t: getattr(A, name)(t, **kwargs), (torch.tensor([-2.5, -0.3, 0.4, 1.7],
                                    dtype=torch.float64, requires_grad=True),))


# ----------------------------------------------------------------------------- issue 15: NaN, inf, empty, arguments
SPECIAL = torch.tensor([math.nan, math.inf, -math.inf, 0.0, -0.0, -3.0, 3.0, 1.0, -1.0, 1e-30, -1e4, 1e4])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name,kwargs,ref", CASES)
def test_nan_and_inf_give_torchs_values_and_gradients(name, kwargs, ref, dtype):
    """relu(NaN) = NaN (not 0), sigmoid(NaN) = NaN (not 0.5), relu'(NaN) = 1 as autograd ... for every
    where-based formula; the derivative functions and autograd through ours both equal torch's autograd."""
    f, fgrad = getattr(A, name), getattr(A, f"{name}_grad")
    x = SPECIAL.to(dtype)
    want_x = x.double() if name == "gelu" else x      # torch's float32 gelu kernel gives NaN at +inf (float64: +inf)
    assert_close(f(x, **kwargs), ref(want_x, **kwargs).to(dtype), equal_nan=True)
    xs = x.clone().requires_grad_()
    (want,) = torch.autograd.grad(ref(xs, **kwargs).sum(), xs)
    want = nan_as_float32(ref, x, want, **kwargs)     # torch's answer at NaN depends on its SIMD path
    assert_close(fgrad(x, **kwargs), want, equal_nan=True)
    finite = torch.isfinite(x)                         # autograd through our formula, off the infinities
    xo = x[finite].clone().requires_grad_()
    (ours,) = torch.autograd.grad(f(xo, **kwargs).sum(), xo)
    assert_close(ours, want[finite], equal_nan=True)


def test_relu_sigmoid_tanh_of_nan_are_nan():
    nan = torch.tensor([math.nan])
    for fn in (A.relu, A.sigmoid, A.tanh, A.leaky_relu, A.elu, A.gelu, A.silu, A.hardswish):
        assert torch.isnan(fn(nan)).all(), fn.__name__


@pytest.mark.parametrize("fn,ref", [(A.softmax, F.softmax), (A.log_softmax, F.log_softmax)])
@pytest.mark.parametrize("shape,dim", [((3, 0), 1), ((0, 3), 0), ((0, 3), 1), ((2, 0, 4), -2), ((), 0), ((), -1)])
def test_softmax_over_empty_and_zero_d_like_torch(fn, ref, shape, dim):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    out = fn(x, dim)
    assert out.shape == ref(x, dim).shape
    assert_close(out, ref(x, dim))


def test_softmax_backward_over_empty_and_nan_like_torch():
    g, y = torch.randn(3, 0), torch.randn(3, 0)
    assert A.softmax_backward(g, y, 1).shape == torch.ops.aten._softmax_backward_data(g, y, 1, y.dtype).shape
    x = torch.tensor([[0.0, math.nan, 1.0], [1.0, 2.0, -math.inf]])
    assert_close(A.softmax(x, 1), F.softmax(x, 1), equal_nan=True)
    assert_close(A.log_softmax(x, 1), F.log_softmax(x, 1), equal_nan=True)


def test_activation_arguments_checked():
    x = torch.randn(4)
    for bad in (math.nan, "0.1", True, None):
        with pytest.raises((TypeError, ValueError), match="negative_slope"):
            A.leaky_relu(x, bad)
        with pytest.raises((TypeError, ValueError), match="negative_slope"):
            A.leaky_relu_grad(x, negative_slope=bad)
    for bad in (math.nan, math.inf, "1", False):
        with pytest.raises((TypeError, ValueError), match="alpha"):
            A.elu(x, bad)
        with pytest.raises((TypeError, ValueError), match="alpha"):
            A.elu_grad(x, bad)
    assert_close(A.leaky_relu(x, np.float64(0.2)), F.leaky_relu(x, 0.2))
    assert_close(A.softmax(x, np.int64(0)), F.softmax(x, 0))
    with pytest.raises(TypeError, match="dim must be an int"):
        A.softmax(x, True)
    with pytest.raises(TypeError, match="input must have a floating dtype"):
        A.relu(torch.tensor([True, False]))
    with pytest.raises(TypeError, match="input must have a floating dtype"):
        A.tanh(torch.ones(2, dtype=torch.complex64))
    with pytest.raises(ValueError, match="grad_output and output must have the same shape"):
        A.log_softmax_backward(torch.zeros(0, 3), torch.zeros(2, 3), 1)
    with pytest.raises(TypeError, match="grad_output and output must have the same dtype"):
        A.softmax_backward(torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, 3), 1)
    with pytest.raises(TypeError, match="grad_output must be a torch.Tensor"):
        A.softmax_backward([0.0], torch.zeros(1), 0)


@pytest.mark.parametrize("fn,ref", [(A.softmax, F.softmax), (A.log_softmax, F.log_softmax)])
def test_softmax_dtype_argument_like_torch(fn, ref):
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(0)) * 30
    for dtype in (torch.float64, torch.float16, torch.float32):
        out = fn(x, 1, dtype=dtype)
        assert out.dtype == ref(x, 1, dtype=dtype).dtype
        tol = dict(rtol=1e-2, atol=1e-2) if dtype == torch.float16 else {}  # half arithmetic, not the same order
        assert_close(out, ref(x, 1, dtype=dtype), **tol)
    assert fn(torch.zeros(5, 0, 0), -1, dtype=torch.float64).shape == (5, 0, 0)
    ints = torch.arange(5)                                            # cast first: integer input is fine
    assert_close(fn(ints, 0, dtype=torch.float64), ref(ints, 0, dtype=torch.float64))
    with pytest.raises(TypeError, match="input must have a floating dtype"):
        fn(ints, 0)
    with pytest.raises(TypeError, match="input must have a real dtype"):
        fn(ints.to(torch.complex64), 0, dtype=torch.float64)
    for bad in ("float64", torch.int64, 1):
        with pytest.raises(TypeError, match="dtype must be None or a floating torch.dtype"):
            fn(x, 1, dtype=bad)
