"""Profile any ``nn.Module`` in one forward pass: per-module output shapes, parameters, MACs/FLOPs,
activation memory and receptive field.

MACs vs FLOPs. A multiply-accumulate (MAC) ``a * b + c`` is two floating-point operations, so for conv,
linear, matmul and attention FLOPs = 2 * MACs. Papers mix the two: MobileNets (Howard et al. 2017,
arXiv:1704.04861) report "Mult-Adds" (MACs), and torchvision's ``weights.meta["_ops"]``, labelled "GFLOPS",
are GMACs: resnet18's 1.814 is 3.628e9 FLOPs / 2 (checked in ``tests/test_profile.py``). Only these ops'
multiply-adds count (not bias, norm, activation or pooling arithmetic), as in ``FlopCounterMode``:

    conv:  MACs = N * C_out * prod(out spatial) * (C_in / groups) * prod(kernel)
           (transposed: N * C_in * prod(in spatial) * (C_out / groups) * prod(kernel))
    mm, addmm [m, k] @ [k, n]: m * k * n      bmm, baddbmm: batch * m * k * n
    scaled dot-product attention q [.., L, E], k [.., S, E], v [.., S, Ev]: batch * L * S * (E + Ev)

The aten ops are intercepted (a ``TorchDispatchMode``), so ``q @ k.transpose(-2, -1)`` in a custom forward
counts, for the innermost module running. Unlike ``FlopCounterMode`` on CPU, torch's fused CPU attention kernel
is counted, and the fused fast path of ``nn.MultiheadAttention``/``nn.TransformerEncoderLayer`` is switched off
for the pass (``torch.backends.mha.set_fastpath_enabled``) so that its matmuls are seen.

Receptive field (Araujo, Norris & Sim, Distill 2019; :mod:`cvbook_lib.receptive_field`): along the first
spatial axis, for as long as the leaf modules form a chain (each takes the previous leaf's output, untouched).
At the first branch, residual add or module of unknown geometry the RF is reported as None from there on,
and ``rf_stopped_at`` says where and why: never guessed.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from ._checks import check_bool, check_int
from .receptive_field import layers_from_module, receptive_field_table

__all__ = ["LayerProfile", "ModelProfile", "profile"]

aten = torch.ops.aten


def _mm(args, out):  # mm(a, b), addmm(bias, a, b): [m, k] @ [k, n]; bmm, baddbmm: the same with a batch dimension
    a, b = [t for t in args if isinstance(t, torch.Tensor)][-2:]  # (the .dtype overloads end with an out_dtype)
    return math.prod(a.shape) * b.shape[-1]  # every (batch, m, k) entry of a meets n entries of b


def _conv(args, out):  # x, weight [C_out, C_in/groups, *k] (transposed: [C_in, C_out/groups, *k]), ..., transposed
    x, w, transposed = args[0], args[1], args[6]
    pixels = (x if transposed else out).shape  # each output (transposed: input) pixel meets a whole kernel
    return pixels[0] * math.prod(pixels[2:]) * math.prod(w.shape)


def _sdpa(args, out):  # q [..., L, E], k [..., S, E], v [..., S, Ev]: q @ k^T, then softmax(.) @ v
    q, k, v = args[:3]
    return math.prod(q.shape[:-2]) * q.shape[-2] * k.shape[-2] * (q.shape[-1] + v.shape[-1])


_MACS = dict.fromkeys([aten.mm, aten.addmm, aten.bmm, aten.baddbmm], _mm)
_MACS |= dict.fromkeys([aten.convolution, aten._convolution], _conv)
for (
    _kernel
) in "flash_attention flash_attention_for_cpu efficient_attention cudnn_attention fused_attention_overrideable".split():
    if hasattr(aten, f"_scaled_dot_product_{_kernel}"):  # the fused attention kernels of this torch build
        _MACS[getattr(aten, f"_scaled_dot_product_{_kernel}")] = _sdpa


def _on_meta(*tensors) -> bool:
    return all(t.device.type == "meta" and t.is_contiguous() for t in tensors)


def _meta_bn(x, weight, bias, mean, var, training, momentum, eps):  # eval: out like x, the statistics [C]
    if training or x.dim() < 2 or x.dtype != torch.float32 or not _on_meta(x):
        return NotImplemented
    return torch.empty_like(x), x.new_empty(x.shape[1]), x.new_empty(x.shape[1])


def _meta_cat(tensors, dim=0):  # the shapes add up along dim
    first = tensors[0] if tensors else None
    if first is None or first.dim() == 0 or not _on_meta(*tensors) or any(
            t.dtype != first.dtype or t.dim() != first.dim() for t in tensors):
        return NotImplemented
    d, shape = dim % first.dim(), list(first.shape)
    if any(list(t.shape[:d]) + list(t.shape[d + 1:]) != shape[:d] + shape[d + 1:] for t in tensors):
        return NotImplemented
    shape[d] = sum(t.shape[d] for t in tensors)
    return first.new_empty(shape)


def _meta_pointwise(x, *args):  # out of place: a new tensor like x
    return torch.empty_like(x) if _on_meta(x) and x.is_floating_point() else NotImplemented


def _meta_pointwise_(x, *args):  # in place: x itself, its version bumped as the op bumps it
    return x.mul_(1) if _on_meta(x) and x.is_floating_point() else NotImplemented


# Shapes-only kernels for meta-device ops whose torch meta kernels run as Python decompositions (about 1 ms each:
# most of a meta-device pass of a BN or MobileNet model); they give the same shapes, dtypes and strides, and
# none of these ops holds a counted one (tests/test_arch_lab.py compares whole profiles with and without them).
_META_FAST = {aten.native_batch_norm.default: _meta_bn, aten.cat.default: _meta_cat}
_META_FAST |= dict.fromkeys([aten.hardtanh_.default, aten.hardswish_.default, aten.hardsigmoid_.default],
                            _meta_pointwise_)
_META_FAST |= dict.fromkeys([aten.hardtanh.default, aten.hardswish.default, aten.hardsigmoid.default],
                            _meta_pointwise)


class _Counter(TorchDispatchMode):
    """Sees every aten op: ``on_op`` before it runs, ``on_macs`` with the MACs of a counted one; a composite op
    (einsum, linear under inference mode ...) is seen as the ops it is made of, as FlopCounterMode sees it."""

    def __init__(self, on_macs, on_op):
        super().__init__()
        self.on_macs, self.on_op = on_macs, on_op

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.on_op(func, args, kwargs)
        fast = _META_FAST.get(func)
        if fast is not None and not kwargs:
            out = fast(*args)
            if out is not NotImplemented:
                return out
        formula = _MACS.get(func._overloadpacket)
        if formula is None and func is not torch.ops.prim.device.default:
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
        out = func(*args, **kwargs)
        if formula is not None:
            self.on_macs(formula(args, out))
        return out


def _shape(value, name: str, minimum: int, what: str) -> tuple[int, ...]:
    if isinstance(value, (bool, str)) or not isinstance(value, (tuple, list)) or not value:
        raise TypeError(f"{name} must be {what}, got {type(value).__name__} {value!r:.80}")
    try:
        return tuple(check_int(v, name, minimum) for v in value)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{name} must be {what}, got {value!r:.80}") from None


@dataclass(frozen=True)
class LayerProfile:
    """One call of one module (or, from :meth:`ModelProfile.summary`, one group of modules).

    name: qualified name ('' is the model itself); type: its class name; output_shape: shape of the first
    tensor it returned (batch included), None if none; params: parameters it owns directly that no earlier row
    counted; macs: multiply-accumulates of the ops it ran itself (``flops`` = 2 * macs); activation_bytes: bytes of
    the tensors it returned; rf: receptive field along the first spatial axis, in input pixels (None where
    unknown); leaf: a module without submodules.
    """

    name: str
    type: str
    output_shape: tuple[int, ...] | None
    params: int = 0
    macs: int = 0
    activation_bytes: int = 0
    rf: int | None = None
    leaf: bool = True

    def __post_init__(self):
        for field in ("name", "type"):
            if not isinstance(getattr(self, field), str):
                raise TypeError(f"{field} must be a str, got {type(getattr(self, field)).__name__}")
        if self.output_shape is not None:
            what = "a tuple of ints >= 0 or None"
            object.__setattr__(self, "output_shape", _shape(self.output_shape, "output_shape", 0, what))
        for field in ("params", "macs", "activation_bytes"):
            object.__setattr__(self, field, check_int(getattr(self, field), field, 0))
        if self.rf is not None:
            object.__setattr__(self, "rf", check_int(self.rf, "rf", 1))
        object.__setattr__(self, "leaf", check_bool(self.leaf, "leaf"))

    flops = property(lambda self: 2 * self.macs)


def _si(n: int) -> str:
    return next((f"{n / s:.2f}{u}" for u, s in (("G", 1e9), ("M", 1e6), ("K", 1e3)) if n >= s), str(n))


@dataclass(frozen=True)
class ModelProfile:
    """What :func:`profile` measured: ``rows`` (a LayerProfile per module call in execution order, the model
    itself first), ``params`` (the model's parameters, shared ones once), ``input_size`` and ``batch_size`` of the
    pass, ``rf_stopped_at`` ((layer name, reason) where the receptive field stopped being known, or None).
    Totals: ``macs``, ``flops`` (= 2 * macs), ``activation_bytes`` (the leaf modules' outputs: a container's
    output is its last child's, not counted twice), ``output_shape`` (the model's first output tensor)."""

    rows: tuple[LayerProfile, ...]
    params: int
    input_size: tuple[int, ...]
    batch_size: int = 1
    rf_stopped_at: tuple[str, str] | None = None

    def __post_init__(self):
        rows = tuple(self.rows) if isinstance(self.rows, (tuple, list)) else ()
        if not rows or not all(isinstance(r, LayerProfile) for r in rows):
            raise TypeError(f"rows must be a non-empty tuple of LayerProfile, got {self.rows!r:.80}")
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "params", check_int(self.params, "params", 0))
        object.__setattr__(self, "input_size", _shape(self.input_size, "input_size", 1, "a tuple of ints >= 1"))
        object.__setattr__(self, "batch_size", check_int(self.batch_size, "batch_size", 1))
        stop = self.rf_stopped_at
        if not (stop is None or (isinstance(stop, tuple) and len(stop) == 2 and all(isinstance(s, str) for s in stop))):
            raise TypeError(f"rf_stopped_at must be None or a (layer name, reason) pair of str, got {stop!r:.80}")

    macs = property(lambda self: sum(r.macs for r in self.rows))
    flops = property(lambda self: 2 * self.macs)
    activation_bytes = property(lambda self: sum(r.activation_bytes for r in self.rows if r.leaf))
    output_shape = property(lambda self: self.rows[0].output_shape)

    def summary(self, depth: int = 1) -> list[LayerProfile]:
        """The rows grouped by the first ``depth`` (int >= 0) parts of their names ('layer1', 'features' ...):
        each group sums params, MACs and its leaves' activation bytes, with the output shape of the group's module
        and the RF of its last leaf. Every row falls in one group, so the groups add up to the totals; a container
        whose content all lies deeper is left out."""
        depth = check_int(depth, "depth", 0)
        groups: dict[str, list[LayerProfile]] = {}
        for r in self.rows:
            groups.setdefault(".".join(r.name.split(".")[:depth]) if r.name else "", []).append(r)
        out = []
        for key, rows in groups.items():
            own, leaves = [r for r in rows if r.name == key], [r for r in rows if r.leaf]
            if not leaves and not any(r.params or r.macs for r in rows):
                continue
            kind, shape, rf = own[-1].type if own else "", (own or rows)[-1].output_shape, (leaves or rows)[-1].rf
            params, macs = sum(r.params for r in rows), sum(r.macs for r in rows)
            act = sum(r.activation_bytes for r in leaves)
            out.append(LayerProfile(key, kind, shape, params, macs, act, rf, bool(own) and own[0].leaf))
        return out

    def table(self, depth: int | None = None) -> str:
        """A printable table: every row (``depth=None``) or :meth:`summary` at ``depth``, then the totals."""
        rows = self.rows if depth is None else self.summary(depth)
        names = [("  " * r.name.count(".") if depth is None and r.name else "") + (r.name or "(model)") for r in rows]
        cells = [("layer", "type", "output shape", "params", "MACs", "FLOPs", "act.", "RF")]
        for name, r in zip(names, rows):
            shape = "-" if r.output_shape is None else str(list(r.output_shape))
            numbers = f"{r.params:,}", _si(r.macs), _si(r.flops), _si(r.activation_bytes) + "B"
            cells.append((name, r.type, shape, *numbers, "-" if r.rf is None else str(r.rf)))
        widths = [max(len(c[i]) for c in cells) for i in range(8)]
        just = [str.ljust] * 3 + [str.rjust] * 5  # text left, numbers right
        lines = ["  ".join(f(c, w) for f, c, w in zip(just, row, widths)) for row in cells]
        totals = f"{self.params:,} params, {_si(self.macs)} MACs, {_si(self.flops)} FLOPs"
        size = [self.batch_size, *self.input_size]
        lines.append(f"total: {totals}, {_si(self.activation_bytes)}B of activations for input {size}")
        if self.rf_stopped_at is not None:
            lines.append(f"receptive field unknown from {self.rf_stopped_at[0]!r} on: {self.rf_stopped_at[1]}")
        return "\n".join(lines)


_BRANCH = "its input is not the previous layer's output (a branch, a skip connection or an op outside any module)"
_IN_PLACE = "its input was changed in place after the previous layer (e.g. a residual 'out += identity')"


class _Recorder:
    """Forward hooks on every module: a row per call, the stack of modules running (for MAC attribution and
    error messages) and the receptive-field chain: its earlier links (``old``) and its end (``chain``)."""

    def __init__(self, model: nn.Module, x: torch.Tensor):
        self.names = {m: n for n, m in model.named_modules()}
        self.rows, self.stack, self.seen, self.old, self.layers = [], [], set(), {}, []
        self.chain, self.last, self.rf, self.stop = (x, x._version), "the input", 1, None
        self.size = x.shape[2] if x.dim() > 2 else None  # the first spatial axis of Tensor[N, C, H, W]
        self.handles = [m.register_forward_pre_hook(self.pre, with_kwargs=True) for m in self.names]
        self.handles += [m.register_forward_hook(self.post, with_kwargs=True) for m in self.names]

    def add_macs(self, n: int):
        self.rows[self.stack[-1][1] if self.stack else 0]["macs"] += n

    def where(self) -> str:
        """The innermost module running (where a failing forward failed)."""
        m = self.stack[-1][0] if self.stack else next(iter(self.names))  # the model, first of named_modules
        return f"{f'layer {self.names[m]!r}' if self.names[m] else 'the model itself'} ({type(m).__name__})"

    def halt(self, name: str, reason: str):
        self.stop, self.old = (name or "(model)", reason), {}

    def on_op(self, func, args, kwargs):
        """An op that reads an earlier link of the chain again (a residual add, a concatenation) ends it."""
        for t in tree_leaves((args, kwargs)) if self.old else ():
            made_by = self.old.get(id(t))
            if made_by is not None and made_by[0]() is t and t is not self.chain[0]:
                name = self.names[self.stack[-1][0]] if self.stack else ""
                op = func._overloadpacket.__name__
                return self.halt(name, f"{op} reads the output of {made_by[1]} again (a skip connection or a branch)")

    def pre(self, m, args, kwargs):
        name, own = self.names[m], [p for p in m.parameters(recurse=False) if id(p) not in self.seen]
        self.seen.update(map(id, own))
        leaf = next(m.children(), None) is None
        self.stack.append((m, len(self.rows), len(self.layers)))
        n = sum(p.numel() for p in own)
        self.rows.append(dict(name=name, type=type(m).__name__, output_shape=None, params=n, macs=0, leaf=leaf))
        if leaf and self.stop is None:
            x = next((t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)), None)
            if x is not self.chain[0] or x._version != self.chain[1]:
                return self.halt(name, _BRANCH if x is not self.chain[0] else _IN_PLACE)
            try:
                self.layers += layers_from_module(nn.Sequential(m))  # [] for activations, norms, dropout
            except (TypeError, ValueError) as err:
                self.halt(name, f"{type(m).__name__} {str(err).split(') ', 1)[-1]}")

    def post(self, m, args, kwargs, output):
        while self.stack:  # a submodule whose error its parent caught never reached its post hook
            mod, i, n_layers = self.stack.pop()
            if mod is m:
                break
        row, tensors = self.rows[i], [t for t in tree_leaves(output) if isinstance(t, torch.Tensor)]
        row["output_shape"] = tuple(tensors[0].shape) if tensors else None
        row["activation_bytes"] = sum(t.numel() * t.element_size() for t in tensors)
        if self.stop is None and row["leaf"]:
            if not tensors:
                return self.halt(row["name"], "it returned no tensor")
            y = tensors[0]
            if y is not self.chain[0]:
                self.old[id(self.chain[0])] = weakref.ref(self.chain[0]), self.last  # not kept alive
            self.chain, self.last = (y, y._version), repr(row["name"])
            if len(self.layers) > n_layers:  # a conv or pool: one more row of the RF table
                last = receptive_field_table(self.layers, self.size)[-1] if self.size else None
                if last is None or y.dim() != 4 or last.output_size != y.shape[2]:
                    return self.halt(row["name"], f"its output {list(y.shape)} is not what its geometry predicts")
                self.rf = last.rf
        if self.stop is None and tensors and tensors[0] is self.chain[0] and tensors[0]._version == self.chain[1]:
            row["rf"] = self.rf


def profile(
    model: nn.Module, input_size, *, batch_size: int = 1, device=None, dtype: torch.dtype = torch.float32
) -> ModelProfile:
    """Run ``model`` once on Tensor[batch_size, *input_size] and record every module call.

    model: any ``nn.Module``; it runs in eval mode under ``torch.no_grad()`` and comes back unchanged (each
    module's training flag restored, parameters and buffers untouched). input_size: an int n, meaning (3, n, n),
    or a tuple of ints >= 1 without the batch dimension: (3, 224, 224), (16, 40) for a 1-D model. batch_size:
    int >= 1. device: the input's (default: the model's first parameter or buffer's, else CPU). dtype: the input's;
    a floating input is N(0, 1) drawn with seed 0 (the global RNG untouched), an integer one zeros.
    Returns a :class:`ModelProfile`; raises ``ValueError`` naming the layer, with its error, if the model fails.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    what = "an int n (meaning (3, n, n)) or a tuple of ints >= 1 without the batch dimension, e.g. (3, 224, 224)"
    if isinstance(input_size, (tuple, list)):
        input_size = _shape(input_size, "input_size", 1, what)
    else:
        try:
            input_size = (3,) + (check_int(input_size, "input_size", 1),) * 2
        except (TypeError, ValueError) as err:
            raise type(err)(f"input_size must be {what}, got {type(input_size).__name__} {input_size!r:.80}") from None
    batch_size = check_int(batch_size, "batch_size", 1)
    if not isinstance(dtype, torch.dtype) or dtype == torch.bool or dtype.is_complex:
        raise TypeError(f"dtype must be a floating or integer torch.dtype, got {dtype!r:.80}")
    if device is None:
        device = next((t.device for t in (*model.parameters(), *model.buffers())), torch.device("cpu"))
    elif not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be None, a str or a torch.device, got {type(device).__name__} {device!r:.80}")
    x = torch.randn(batch_size, *input_size, generator=torch.Generator().manual_seed(0))
    try:
        x = x.to(device, dtype) if dtype.is_floating_point else torch.zeros_like(x, dtype=dtype, device=device)
    except (RuntimeError, AssertionError) as err:  # an unknown device; CUDA where torch has none
        raise ValueError(f"device must name an available device, got {device!r}: {err}") from None

    rec, training = _Recorder(model, x), {m: m.training for m in model.modules()}
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        model.eval()
        torch.backends.mha.set_fastpath_enabled(False)  # the fused MHA kernel hides its matmuls from the counter
        with torch.no_grad(), _Counter(rec.add_macs, rec.on_op):
            model(x)
    except Exception as err:
        where = f"input_size={input_size}: the model cannot take an input of shape {list(x.shape)}: it failed in"
        raise ValueError(f"{where} {rec.where()}: {type(err).__name__}: {err}") from err
    finally:
        for h in rec.handles:
            h.remove()
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for m, flag in training.items():
            m.training = flag
    rows = tuple(LayerProfile(**r) for r in rec.rows)
    return ModelProfile(rows, sum(p.numel() for p in model.parameters()), input_size, batch_size, rec.stop)
