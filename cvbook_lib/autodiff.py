"""A tiny scalar reverse-mode automatic differentiation engine, and numerical gradients.

``Value`` records the computational graph as expressions are built; ``backward()`` visits it in
reverse topological order and applies the chain rule (each node adds ``local derivative × upstream
gradient`` to its inputs). In the spirit of Karpathy's micrograd; tested against torch.autograd.
"""

from __future__ import annotations

import math

import torch

__all__ = ["Value", "numerical_gradient", "relative_error"]


class Value:
    """A scalar in a computational graph: ``data``, accumulated ``grad``, and how it was made."""

    def __init__(self, data, _children=(), _op=""):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise TypeError(f"data must be a real number, got {data!r}")
        self.data, self.grad = float(data), 0.0
        self._prev, self._op = tuple(_children), _op
        self._backward = lambda: None

    def __repr__(self):
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    @staticmethod
    def _wrap(other):
        return other if isinstance(other, Value) else Value(other)

    def __add__(self, other):
        other = self._wrap(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = self._wrap(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, k):
        if isinstance(k, bool) or not isinstance(k, (int, float)):
            raise TypeError(f"the exponent must be a constant int or float, got {k!r}")
        out = Value(self.data ** k, (self,), f"**{k}")

        def _backward():
            self.grad += k * self.data ** (k - 1) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,), "exp")

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
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward():
            self.grad += (self.data > 0) * out.grad
        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-self._wrap(other))

    def __truediv__(self, other):
        return self * self._wrap(other) ** -1

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return self._wrap(other) - self

    def __rtruediv__(self, other):
        return self._wrap(other) / self

    def backward(self):
        """Reverse-mode sweep from this node: d(self)/d(node) into every node's ``grad``."""
        order, seen = [], set()

        def visit(v):
            if id(v) not in seen:
                seen.add(id(v))
                for child in v._prev:
                    visit(child)
                order.append(v)
        visit(self)
        for v in order:
            v.grad = 0.0
        self.grad = 1.0
        for v in reversed(order):
            v._backward()


def numerical_gradient(f, x: torch.Tensor, h: float = 1e-5) -> torch.Tensor:
    """Centred differences (f(x + h·e_i) - f(x - h·e_i)) / 2h for every element i of ``x`` (f returns a scalar)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating torch.Tensor, got {type(x).__name__}")
    if not h > 0:
        raise ValueError(f"h must be > 0, got {h!r}")
    grad = torch.zeros_like(x)
    flat, gflat = x.detach().clone().reshape(-1), grad.reshape(-1)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + h
        fp = float(f(flat.view_as(x)))
        flat[i] = old - h
        fm = float(f(flat.view_as(x)))
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * h)
    return grad


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max(|a| + |b|) (cs231n's check): ~1e-7 or less means the analytic gradient is right."""
    return ((a - b).abs().max() / (a.abs() + b.abs()).max().clamp_min(1e-12)).item()
