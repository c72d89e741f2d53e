"""Contract cases for cvbook_lib.activations (references: torch.nn.functional, autograd and torch's
softmax backward kernels). The module refuses integer, bool and complex tensors (``float_only`` where
torch would compute with them) and NaN parameters (``differs``); both are said in its docstrings."""

import math

import torch
import torch.nn.functional as F

from contract_specs import Case
from cvbook_lib import activations as A

x = torch.randn(3, 5, generator=torch.Generator().manual_seed(0)) * 2
x[0, :3] = torch.tensor([0.0, -3.0, 3.0])                         # the kinks
g = torch.randn(3, 5, generator=torch.Generator().manual_seed(1))
NAN_PARAM = "NaN parameters are refused (torch computes NaN outputs with them); see the docstring"


def nan_as_float32(f, input, grad, **kw):
    """torch's gradient at a NaN input depends on the SIMD path: elu and hardswish give NaN in the float64
    AVX2 kernel and 1 in float32 (and on other CPUs); the reference at NaN is torch's float32 answer."""
    if not (input.is_floating_point() and input.isnan().any()):
        return grad
    t = torch.full((1,), math.nan, requires_grad=True)
    (at_nan,) = torch.autograd.grad(f(t, **kw).sum(), t)
    return torch.where(input.isnan(), at_nan.to(grad.dtype), grad)


def _grad_of(f):
    def ref(input, **kw):
        t = input.detach().clone().requires_grad_(True)
        f(t, **kw).sum().backward()
        return nan_as_float32(f, input, t.grad, **kw)

    return ref


def _gelu64(input, approximate="none"):
    # torch's float32 CPU kernel returns NaN for gelu(+inf) (float64: +inf, the limit); ours gives +inf
    return F.gelu(input.double(), approximate=approximate).to(input.dtype)


def _unary(fn, ref, base=None, inf_alpha=False, promotes=False, **kw):
    """promotes: torch computes on int64/bool/complex input (ours refuses); otherwise torch raises too."""
    differs = {(k, "nan"): NAN_PARAM for k, v in kw.items() if isinstance(v, float)}
    if inf_alpha:
        differs.update({("alpha", m): "an infinite alpha is refused (torch: 0 at x = 0, -inf below)"
                        for m in ("inf", "-inf")})
    base = x if base is None else base
    return Case(fn, dict(input=base, **kw), ref=ref, float_only={"input"} if promotes else set(), differs=differs)


def _softmax_bw_ref(grad_output, output, dim):
    return torch.ops.aten._softmax_backward_data(grad_output, output, dim, output.dtype)


def _log_softmax_bw_ref(grad_output, output, dim):
    return torch.ops.aten._log_softmax_backward_data(grad_output, output, dim, output.dtype)


# torch's _log_softmax_backward_data does not check that grad_output and output agree in shape (it answers
# with whatever it reads); ours refuses mismatched shapes, as torch's _softmax_backward_data does
SHAPES = {(arg, m): "mismatched shapes are refused" for arg in ("grad_output", "output")
          for m in ("rank-", "rank+", "empty-first", "empty-last") if (arg, m) != ("grad_output", "rank-")}
# with dtype=, torch casts a complex input (dropping the imaginary part); ours refuses complex input
COMPLEX = {("input", "complex"): "complex input is refused"}
y_soft = F.softmax(x, 1)
y_log = F.log_softmax(x, 1)
x_special = x.clone()                                              # NaN, ±inf and the kinks in one input
x_special[1, 1:] = torch.tensor([math.nan, math.inf, -math.inf, 0.0])



def _two(fn, ref, **kw):
    """A random input with the kinks, and the same with NaN, ±inf and 0 in it; on the second, hypothesis
    also draws every float32 value (tests/test_contract.py::test_any_values_match_the_reference)."""
    special = _unary(fn, ref, base=x_special, **kw)
    special.any_values = {"input"}
    return [_unary(fn, ref, **kw), special]


SPECS = {
    A.relu: _two(A.relu, F.relu, promotes=True),
    A.relu_grad: _two(A.relu_grad, _grad_of(F.relu)),
    A.sigmoid: _two(A.sigmoid, torch.sigmoid, promotes=True),
    A.sigmoid_grad: _two(A.sigmoid_grad, _grad_of(torch.sigmoid)),
    A.tanh: _two(A.tanh, torch.tanh, promotes=True),
    A.tanh_grad: _two(A.tanh_grad, _grad_of(torch.tanh)),
    A.leaky_relu: _two(A.leaky_relu, F.leaky_relu, negative_slope=0.01)
    + [_unary(A.leaky_relu, F.leaky_relu, negative_slope=-0.3)],
    A.leaky_relu_grad: _two(A.leaky_relu_grad, _grad_of(F.leaky_relu), negative_slope=0.2),
    A.elu: _two(A.elu, F.elu, alpha=1.5, inf_alpha=True),
    A.elu_grad: _two(A.elu_grad, _grad_of(F.elu), alpha=0.7, inf_alpha=True),
    A.gelu: _two(A.gelu, _gelu64, approximate="none", promotes=True)
    + _two(A.gelu, _gelu64, approximate="tanh", promotes=True),
    A.gelu_grad: _two(A.gelu_grad, _grad_of(F.gelu), approximate="none")
    + _two(A.gelu_grad, _grad_of(F.gelu), approximate="tanh"),
    A.silu: _two(A.silu, F.silu, promotes=True),
    A.silu_grad: _two(A.silu_grad, _grad_of(F.silu)),
    A.hardswish: _two(A.hardswish, F.hardswish),
    A.hardswish_grad: _two(A.hardswish_grad, _grad_of(F.hardswish)),
    A.softmax: [Case(A.softmax, dict(input=x, dim=1), ref=F.softmax),
                Case(A.softmax, dict(input=x_special, dim=0), ref=F.softmax),
                Case(A.softmax, dict(input=x, dim=1, dtype=torch.float64), ref=F.softmax, differs=COMPLEX)],
    A.log_softmax: [Case(A.log_softmax, dict(input=x, dim=1), ref=F.log_softmax),
                    Case(A.log_softmax, dict(input=x_special, dim=-1), ref=F.log_softmax),
                    Case(A.log_softmax, dict(input=x, dim=0, dtype=torch.float64), ref=F.log_softmax, differs=COMPLEX)],
    A.softmax_backward: [Case(A.softmax_backward, dict(grad_output=g, output=y_soft, dim=1), ref=_softmax_bw_ref)],
    A.log_softmax_backward: [Case(A.log_softmax_backward, dict(grad_output=g, output=y_log, dim=1),
                                  ref=_log_softmax_bw_ref, differs=SHAPES)],
}
