"""A tiny scalar reverse-mode automatic differentiation engine, and numerical gradients.

``Value`` records the computational graph as expressions are built; ``backward()`` visits it in
reverse topological order and applies the chain rule (each node adds ``local derivative × upstream
gradient`` to its inputs). In the spirit of Karpathy's micrograd; tested against torch.autograd.
Arithmetic follows IEEE floats as torch does (overflow gives inf, 0 ** -1 gives inf, (-8) ** 0.5 gives
NaN, NaN propagates); ``log`` of a value <= 0 is refused with a clear error.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from ._checks import check_float, check_tensor

__all__ = ["Value", "numerical_gradient", "relative_error"]


def _real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def _ieee(fn, *args) -> float:
    """fn on numpy float64 with IEEE results (inf, NaN) instead of Python's exceptions."""
    with np.errstate(all="ignore"):
        return float(fn(*(np.float64(a) for a in args)))


class Value:
    """A scalar in a computational graph: ``data``, accumulated ``grad``, and how it was made.
    data: a real number (int or float, numpy scalars included; not a bool)."""

    def __init__(self, data, _children=(), _op=""):
        if not _real(data):
            raise TypeError(f"data must be a real number (int or float), got {type(data).__name__} {data!r}")
        self.data, self.grad = float(data), 0.0
        self._prev, self._op = tuple(_children), _op
        self._backward = lambda: None

    def __repr__(self):
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    @staticmethod
    def _wrap(other, op: str):
        if isinstance(other, Value):
            return other
        if not _real(other):
            raise TypeError(f"unsupported operand for Value {op}: the other operand must be a Value or a real number "
                            f"(int or float, not bool), got {type(other).__name__} {other!r}")
        return Value(other)

    def __add__(self, other):
        other = self._wrap(other, "+")
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = self._wrap(other, "*")
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, k):
        if not _real(k):
            raise TypeError(f"the exponent must be a constant int or float (not bool, not a Value), "
                            f"got {type(k).__name__} {k!r}")
        k = float(k)
        out = Value(_ieee(np.power, self.data, k), (self,), f"**{k:g}")

        def _backward():
            self.grad += k * _ieee(np.power, self.data, k - 1) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        out = Value(_ieee(np.exp, self.data), (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def log(self):
        if self.data <= 0:
            raise ValueError(f"log needs a positive value, got {self.data}")
        out = Value(math.log(self.data), (self,), "log")

        def _backward():
            self.grad += out.grad / self.data
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():
            self.grad += (1 - t * t) * out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = Value(0.0 if self.data <= 0 else self.data, (self,), "relu")          # NaN stays NaN, as in torch

        def _backward():
            self.grad += (0.0 if self.data <= 0 else 1.0) * out.grad                  # torch: 1 at NaN too
        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-self._wrap(other, "-"))

    def __truediv__(self, other):
        return self * self._wrap(other, "/") ** -1

    def __radd__(self, other):
        return self._wrap(other, "+") + self

    def __rmul__(self, other):
        return self._wrap(other, "*") * self

    def __rsub__(self, other):
        return self._wrap(other, "-") - self

    def __rtruediv__(self, other):
        return self._wrap(other, "/") / self

    def backward(self):
        """Reverse-mode sweep from this node: d(self)/d(node) into every node's ``grad``. The topological
        order comes from a depth-first search with an explicit stack (no recursion limit on long chains):
        a node is appended after all of its inputs."""
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            v, inputs_done = stack.pop()
            if inputs_done:
                order.append(v)
            elif id(v) not in seen:
                seen.add(id(v))
                stack.append((v, True))
                stack.extend((child, False) for child in v._prev)
        for v in order:
            v.grad = 0.0
        self.grad = 1.0
        for v in reversed(order):
            v._backward()


def numerical_gradient(f, x: torch.Tensor, h: float = 1e-5) -> torch.Tensor:
    """Centred differences (f(x + h·e_i) - f(x - h·e_i)) / 2h for every element i of ``x``.

    Args: f (callable: Tensor of x's shape -> a scalar or one-element tensor); x (Tensor, float32 or
    float64, any shape and layout; float16/bfloat16 are refused: h is below their resolution); h (> 0,
    finite). Returns: a contiguous Tensor of x's shape and dtype."""
    if not callable(f):
        raise TypeError(f"f must be a callable returning a scalar, got {type(f).__name__}")
    check_tensor(x, "x", kind="float")
    if x.dtype in (torch.float16, torch.bfloat16):
        raise TypeError(f"x must be float32 or float64 (h={h!r} is below the resolution of {x.dtype})")
    h = check_float(h, "h", 0.0, min_open=True, allow_inf=False)
    grad = torch.zeros(x.shape, dtype=x.dtype, device=x.device)
    flat = x.detach().clone(memory_format=torch.contiguous_format).reshape(-1)   # views of contiguous memory
    gflat = grad.view(-1)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + h
        fp = _scalar(f(flat.view(x.shape)))
        flat[i] = old - h
        fm = _scalar(f(flat.view(x.shape)))
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * h)
    return grad


def _scalar(y) -> float:
    if isinstance(y, torch.Tensor) and y.numel() == 1 and not y.is_complex():
        return float(y)
    if _real(y):
        return float(y)
    raise TypeError(f"f must return a real scalar (a number or a one-element tensor), got {type(y).__name__}"
                    + (f" of shape {tuple(y.shape)}" if isinstance(y, torch.Tensor) else ""))


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max(|a| + |b|) (cs231n's check): ~1e-7 or less means the analytic gradient is right.
    Args: a, b (real Tensors of one shape; dtypes promote as in torch). Returns: a float (0.0 for empty
    tensors, NaN if either holds NaN)."""
    for name, t in (("a", a), ("b", b)):
        check_tensor(t, name, kind="real")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.device != b.device:
        raise ValueError(f"a and b must be on the same device, got {a.device} and {b.device}")
    if a.numel() == 0:
        return 0.0
    a, b = (t.detach() if t.is_floating_point() else t.detach().double() for t in (a, b))
    return ((a - b).abs().max() / (a.abs() + b.abs()).max().clamp_min(1e-12)).item()
