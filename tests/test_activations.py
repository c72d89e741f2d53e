"""cvbook_lib.activations against torch.nn.functional and autograd."""

import pytest
import torch
import torch.nn.functional as F
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
