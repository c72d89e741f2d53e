"""Contract cases for cvbook_lib.autodiff (reference: torch.autograd in float64)."""

import torch

from contract_specs import Case
from cvbook_lib.autodiff import Value, numerical_gradient, relative_error

_g = torch.Generator().manual_seed(0)
X = torch.randn(3, 4, generator=_g, dtype=torch.float64)
A = torch.randn(3, 4, generator=_g)
B = A + 1e-3 * torch.randn(3, 4, generator=_g)


def _data(v):
    return v.data if isinstance(v, Value) else v.item()


def _expression(x, other):
    """Every operation of Value, mixing Values with the plain number ``other``."""
    return (x * other + other / x + (other - x) * x - x / other + x ** 3 + (x * x + 1).log() + (x - other).tanh()
            + (x * 0.1).exp() + (x + other).relu() - (-x) + 2 * x - 1)


def _ours(data, other):
    x = Value(data)
    y = _expression(x, other)
    y.backward()
    return y.data, x.grad


def _torch(data, other):
    x = torch.tensor(data, dtype=torch.float64, requires_grad=True)
    y = _expression(x, other)
    y.backward()
    return y.item(), x.grad.item()


def _f(t):
    return (torch.sin(t) * t ** 2).sum()


def _autograd(f, x, h=1e-5):
    t = x.detach().clone().requires_grad_(True)
    f(t).backward()
    return t.grad


def _relative_error_ref(a, b):
    """cs231n's max |a - b| / max(|a| + |b|) in numpy (0 for empty tensors, as ours documents)."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
        raise TypeError("a and b must be tensors of one shape")
    if a.numel() == 0:
        return 0.0
    a, b = a.numpy(), b.numpy()
    return float(abs(a - b).max() / max((abs(a) + abs(b)).max(), 1e-12))


# NaN/±inf in x make f NaN/inf at every probe, so every central difference is NaN: autograd's gradient is
# local (finite away from the bad element), the numerical one cannot be
_NONFINITE = {"nan", "inf", "-inf"}
_H = {("h", m): "h must be finite and > 0 (the autograd reference takes no step)"
      for m in ("zero", "negated", "nan", "inf", "-inf")}

SPECS = {
    Value: [
        Case(Value, dict(data=0.7), ref=lambda data: torch.tensor(data, dtype=torch.float64), out=_data),
        Case(_ours, dict(data=0.7, other=-1.3), ref=_torch, label="arithmetic and backward"),
    ],
    numerical_gradient: [
        Case(numerical_gradient, dict(f=_f, x=X, h=1e-5), ref=_autograd, float_only={"x"}, skip={"x": _NONFINITE},
             differs={**_H, ("x", "float16"): "float16 is refused: h is below its resolution"},
             rtol=1e-6, atol=1e-6),
    ],
    relative_error: [
        Case(relative_error, dict(a=A, b=B), ref=_relative_error_ref,
             differs={(arg, kind): "bool and complex tensors are refused" for arg in "ab"
                      for kind in ("bool", "complex")}),
    ],
}
