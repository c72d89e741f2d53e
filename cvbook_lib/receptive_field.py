"""Receptive fields: the analytic per-layer table (output size, jump, RF, centre of the first unit),
the top-down formula of the notes, the RF measured by backpropagation, and the effective
receptive field.

Bottom-up recurrences (Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural
Networks", Distill 2019), with k' = d(k-1)+1 the effective kernel:
    n_out = floor((n_in + 2p - k') / s) + 1      j_out = j_in * s
    r_out = r_in + (k' - 1) * j_in               start_out = start_in + ((k' - 1)/2 - p) * j_in
Effective receptive field: Luo, Li, Urtasun & Zemel, NeurIPS 2016.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import torch
from torch import nn

from ._checks import as_pair, check_bool, check_choice, check_float, check_int
from .conv_arith import conv_output_size

__all__ = ["Layer", "LayerRF", "receptive_field_table", "receptive_field_top_down", "layers_from_module",
           "parse_layers", "unit_region", "format_table", "empirical_receptive_field", "effective_receptive_field",
           "PRESETS", "preset"]


@dataclass(frozen=True)
class Layer:
    """One conv or pooling layer along one axis: ``name`` (str), ``kernel_size``, ``stride``, ``dilation``
    ints >= 1, ``padding`` int >= 0 (numpy ints accepted, stored as int), ``kind`` 'conv' or 'pool'
    (a pool's padding is at most kernel_size // 2, as torch requires), ``ceil_mode`` a bool."""

    name: str
    kernel_size: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    kind: str = "conv"
    ceil_mode: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, got {type(self.name).__name__} {self.name!r}")
        for field, minimum in (("kernel_size", 1), ("stride", 1), ("padding", 0), ("dilation", 1)):
            object.__setattr__(self, field, check_int(getattr(self, field), field, minimum))
        check_choice(self.kind, "kind", ("conv", "pool"))
        object.__setattr__(self, "ceil_mode", check_bool(self.ceil_mode, "ceil_mode"))
        if self.kind == "pool" and self.padding > self.kernel_size // 2:
            raise ValueError(f"padding of a pool must be at most kernel_size // 2 = {self.kernel_size // 2} (as in "
                             f"torch), got padding={self.padding}")


@dataclass(frozen=True)
class LayerRF:
    """A row of the receptive-field table: the layer and where its units look in the input."""

    layer: Layer
    output_size: int   # number of units along the axis (>= 1)
    jump: int          # distance in input pixels between adjacent units (cumulative stride, >= 1)
    rf: int            # receptive field size in input pixels (>= 1)
    start: float       # centre of the first unit, in input pixel coordinates (pixel i has centre i)

    def __post_init__(self):
        if not isinstance(self.layer, Layer):
            raise TypeError(f"layer must be a Layer, got {type(self.layer).__name__} {self.layer!r}")
        for field in ("output_size", "jump", "rf"):
            object.__setattr__(self, field, check_int(getattr(self, field), field, 1))
        object.__setattr__(self, "start", check_float(self.start, "start", allow_inf=False))


def _as_list(items, name: str, kind: type, empty_ok: bool = False) -> list:
    """Any iterable (a generator too, consumed once) of ``kind`` as a list; raise a clear error otherwise."""
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise TypeError(f"{name} must be an iterable of {kind.__name__}, got {type(items).__name__} {items!r:.80}")
    items = list(items)
    bad = next((i for i, x in enumerate(items) if not isinstance(x, kind)), None)
    if bad is not None:
        raise TypeError(f"{name}[{bad}] must be a {kind.__name__}, got {type(items[bad]).__name__} {items[bad]!r:.80}")
    if not items and not empty_ok:
        raise ValueError(f"{name} must hold at least one {kind.__name__}, got none")
    return items


def receptive_field_table(layers, input_size: int) -> list[LayerRF]:
    """Bottom-up pass over ``layers`` (any non-empty iterable of ``Layer``) for an input of ``input_size``
    pixels (int >= 1). Returns one ``LayerRF`` per layer."""
    input_size = check_int(input_size, "input_size", 1)
    layers = _as_list(layers, "layers", Layer)
    n, jump, rf, start, rows = input_size, 1, 1, 0.0, []
    for layer in layers:
        k_eff = layer.dilation * (layer.kernel_size - 1) + 1
        try:
            n = conv_output_size(n, layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.ceil_mode)
        except ValueError as err:
            raise ValueError(f"layers: layer {layer.name!r} does not fit its {n}-pixel input (input_size="
                             f"{input_size}): {err}") from None
        rf += (k_eff - 1) * jump
        start += ((k_eff - 1) / 2 - layer.padding) * jump
        jump *= layer.stride
        rows.append(LayerRF(layer, n, jump, rf, start))
    return rows


def receptive_field_top_down(layers) -> int:
    """The notes' formula, from the top layer down: ``RF = (RF - 1) * stride + k'`` starting at 1
    (``layers``: any non-empty iterable of ``Layer``)."""
    rf = 1
    for layer in reversed(_as_list(layers, "layers", Layer)):
        rf = (rf - 1) * layer.stride + layer.dilation * (layer.kernel_size - 1) + 1
    return rf


_PASS_THROUGH = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Mish, nn.Sigmoid,
                 nn.Hardsigmoid, nn.Tanh, nn.Hardswish, nn.Softplus, nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d,
                 nn.LocalResponseNorm, nn.Dropout, nn.Dropout2d, nn.Identity)


def _conv_padding(m, axis, where):
    """A Conv2d's padding along ``axis``: numbers, 'valid' (0) or a symmetric 'same' (d(k-1) even)."""
    if m.padding == "valid":
        return 0
    if m.padding == "same":
        total = m.dilation[axis] * (m.kernel_size[axis] - 1)
        if total % 2:
            raise ValueError(f"module: {where} has padding='same' with an even effective kernel: the padding is "
                             f"asymmetric, which a Layer cannot describe")
        return total // 2
    return m.padding[axis]


def layers_from_module(module: nn.Module, axis: int = 0) -> list[Layer]:
    """Read the conv/pool geometry of an ``nn.Sequential`` (nested ones too) along ``axis`` (0 = H, 1 = W).

    Activations, normalisation and dropout do not move pixels and are skipped; any other module
    (a Linear, an upsampling, an adaptive pool, a residual block ...) raises a ValueError naming it,
    because its effect on the receptive field is unknown.
    """
    axis = check_int(axis, "axis", 0, 1)
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"module must be an nn.Sequential, got {type(module).__name__}")

    def pick(v):
        return v[axis] if isinstance(v, (tuple, list)) else v

    layers = []
    for name, m in module.named_children():
        where = f"layer {name!r} ({type(m).__name__})"
        if isinstance(m, nn.Sequential):
            layers += [Layer(**{**vars(x), "name": f"{name}.{x.name}"}) for x in layers_from_module(m, axis)]
        elif isinstance(m, nn.Conv2d):
            layers.append(Layer(name, m.kernel_size[axis], m.stride[axis], _conv_padding(m, axis, where),
                                m.dilation[axis]))
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            dilation = pick(m.dilation) if isinstance(m, nn.MaxPool2d) else 1
            stride = pick(m.stride) if m.stride not in (None, ()) else pick(m.kernel_size)
            layers.append(Layer(name, pick(m.kernel_size), stride, pick(m.padding), dilation, "pool", m.ceil_mode))
        elif not isinstance(m, _PASS_THROUGH):
            raise ValueError(f"module: {where} has no known receptive-field geometry (conv2d, max/avg pool, "
                             f"activations, norms and dropout are understood)")
    return layers


_SPEC = re.compile(r"^(conv|pool)(\d+)((?:[spd]\d+)*)$")


def parse_layers(spec: str) -> list[Layer]:
    """Layers from a short text, e.g. ``"conv3, conv3, pool2, conv3d2, conv5s2p2"``.

    Each comma-separated item is ``conv<k>`` or ``pool<k>`` followed by optional ``s<stride>``, ``p<padding>``,
    ``d<dilation>`` in any order; a conv's stride defaults to 1, a pool's to its kernel (as in PyTorch).
    """
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a string such as 'conv3, pool2', got {type(spec).__name__} {spec!r:.80}")
    layers, counts = [], {"conv": 0, "pool": 0}
    for item in (t.strip() for t in spec.split(",")):
        match = _SPEC.match(item)
        if not match:
            raise ValueError(f"spec: cannot read layer {item!r} in {spec!r:.80}: write conv<k> or pool<k>, then "
                             f"optional s<stride>, p<padding>, d<dilation>, e.g. 'conv3', 'pool2', 'conv5s2p2', "
                             f"'conv3d2'")
        kind, k, rest = match.groups()
        opts = re.findall(r"([spd])(\d+)", rest)
        if len({o for o, _ in opts}) != len(opts):
            raise ValueError(f"spec: layer {item!r} gives an option twice")
        s, p, d = (dict(opts).get(o) for o in "spd")
        counts[kind] += 1
        stride = int(s) if s else (int(k) if kind == "pool" else 1)
        try:
            layers.append(Layer(f"{kind}{counts[kind]}", int(k), stride, int(p or 0), int(d or 1), kind))
        except ValueError as err:
            raise ValueError(f"spec: layer {item!r}: {err}") from None
    return layers


def unit_region(rows: list[LayerRF], layer_index: int, unit: int = 0) -> tuple[int, int]:
    """Input pixels ``[lo, hi]`` seen by unit ``unit`` of row ``layer_index`` of ``rows`` (a table from
    :func:`receptive_field_table`), before clipping to the image: ``lo = start - (RF - 1)/2 + unit * jump``
    and ``hi = lo + RF - 1``."""
    rows = _as_list(rows, "rows", LayerRF)
    layer_index = check_int(layer_index, "layer_index", 0, len(rows) - 1)
    row = rows[layer_index]
    unit = check_int(unit, "unit", 0, row.output_size - 1)
    lo = row.start - (row.rf - 1) / 2 + unit * row.jump
    return int(lo), int(lo) + row.rf - 1


def format_table(rows: list[LayerRF]) -> str:
    """The table ``rows`` (from :func:`receptive_field_table`) as aligned text (what the chapters print)."""
    rows = _as_list(rows, "rows", LayerRF, empty_ok=True)
    lines = [f"{'layer':10s} {'k':>3s} {'s':>3s} {'p':>3s} {'d':>3s} {'out':>5s} {'jump':>5s} {'RF':>5s} {'start':>7s}"]
    for r in rows:
        L = r.layer
        lines.append(f"{L.name:10s} {L.kernel_size:3d} {L.stride:3d} {L.padding:3d} {L.dilation:3d} "
                     f"{r.output_size:5d} {r.jump:5d} {r.rf:5d} {r.start:7.1f}")
    return "\n".join(lines)


def _geometry_copy(model: nn.Sequential) -> nn.Sequential:
    """Same geometry, but no path is ever cut: 1-channel convs of ones, max pools -> average pools,
    everything that does not move pixels -> identity."""
    def convert(m):
        if isinstance(m, nn.Sequential):
            return nn.Sequential(*[convert(c) for c in m.children()])
        if isinstance(m, nn.Conv2d):
            c = nn.Conv2d(1, 1, m.kernel_size, m.stride, m.padding, m.dilation, bias=False)
            nn.init.ones_(c.weight)
            return c
        if isinstance(m, nn.MaxPool2d):
            if m.dilation not in (1, (1, 1)):
                raise ValueError("model: a dilated max pool has no average-pool twin; measure it on a network "
                                 "without one")
            return nn.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode, count_include_pad=True)
        if isinstance(m, nn.AvgPool2d):
            return copy.deepcopy(m)
        return nn.Identity()

    try:
        layers_from_module(model)  # raises on modules of unknown geometry
    except (TypeError, ValueError) as err:
        raise type(err)(str(err).replace("module", "model", 1)) from None
    return convert(model).double()


def empirical_receptive_field(model: nn.Sequential, input_size: int, unit=None) -> tuple[int, int]:
    """Receptive field measured by backpropagation: the (height, width) of the input region whose
    gradient w.r.t. one output unit is non-zero.

    The gradient flows through a copy of ``model`` (an ``nn.Sequential`` that :func:`layers_from_module`
    reads) with the same geometry in which no path can be cut (all-ones 1-channel convs, max pools as
    average pools, activations removed), so the non-zero region is exactly the set of input pixels that can
    influence the unit. ``input_size`` (int >= 1): the side of the square input. ``unit`` = (row, col) of the
    output map (ints >= 0 inside it), default its centre. Padding can clip the region at the border.
    """
    input_size = check_int(input_size, "input_size", 1)
    probe = _geometry_copy(model)
    sides = []
    for axis in (0, 1):
        layers = layers_from_module(model, axis)
        try:
            sides.append(receptive_field_table(layers, input_size)[-1].output_size if layers else input_size)
        except ValueError as err:
            raise ValueError(f"input_size={input_size} is too small for model: {err}") from None
    r, c = (sides[0] // 2, sides[1] // 2) if unit is None else as_pair(unit, "unit", 0)
    if r >= sides[0] or c >= sides[1]:
        raise ValueError(f"unit must lie inside the {sides[0]} x {sides[1]} output map (0-based), got {unit!r}")
    x = torch.ones(1, 1, input_size, input_size, dtype=torch.float64, requires_grad=True)
    y = probe(x)
    (grad,) = torch.autograd.grad(y[0, 0, r, c], x)
    rows, cols = torch.nonzero(grad[0, 0] != 0, as_tuple=True)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def effective_receptive_field(model: nn.Module, input_shape, n_samples: int = 16,
                              generator: torch.Generator | None = None) -> torch.Tensor:
    """Effective receptive field (Luo et al. 2016): mean |d y_centre / d x| over random inputs.

    Args:
        model: an ``nn.Module`` mapping Tensor[1, C, H, W] to Tensor[1, C', H', W'] (used as it is, ReLUs
            included; its parameters' ``.grad`` are left untouched).
        input_shape: (C, H, W), ints >= 1. n_samples: random inputs to average over (int >= 1).
        generator: a CPU ``torch.Generator`` for the random inputs, or None.
    Returns:
        Tensor[H, W] that sums to 1: where the centre output unit's gradient mass lies.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {input_shape!r:.80}")
    input_shape = tuple(check_int(v, "input_shape", 1) for v in input_shape)
    n_samples = check_int(n_samples, "n_samples", 1)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    total = None
    param = next(model.parameters(), None)
    device, dtype = (param.device, param.dtype) if param is not None else ("cpu", torch.float32)
    for _ in range(n_samples):
        x = torch.randn(1, *input_shape, generator=generator).to(device, dtype).requires_grad_()
        try:
            y = model(x)
        except RuntimeError as err:
            raise ValueError(f"model cannot take an input of input_shape {input_shape}: {err}") from None
        if not isinstance(y, torch.Tensor) or y.dim() != 4 or y.shape[0] != 1 or y.shape[-1] * y.shape[-2] == 0:
            raise ValueError(f"model must map Tensor[1, C, H, W] to Tensor[1, C', H' >= 1, W' >= 1], got "
                             f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__} for input_shape "
                             f"{input_shape}")
        (g,) = torch.autograd.grad(y[0, :, y.shape[-2] // 2, y.shape[-1] // 2].sum(), x, allow_unused=True)
        g = torch.zeros_like(x) if g is None else g
        total = g[0].abs().sum(0) if total is None else total + g[0].abs().sum(0)
    if not total.sum() > 0:
        raise ValueError("every gradient was zero (dead ReLUs or vanished signal): the ERF is undefined here")
    return total / total.sum()


def _notes_layers(spec, names):
    return [Layer(n, k, s, p, kind="pool" if n.startswith("pool") else "conv") for (k, s, p), n in zip(spec, names)]


_ALEXNET = ([[11, 4, 0], [3, 2, 0], [5, 1, 2], [3, 2, 0], [3, 1, 1], [3, 1, 1], [3, 1, 1], [3, 2, 0]],
            ["conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5"])
_VGG16 = ([[3, 1, 1], [3, 1, 1], [2, 2, 0]] * 2 + [[3, 1, 1], [3, 1, 1], [3, 1, 1], [2, 2, 0]] * 3,
          ["conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2", "conv3_1", "conv3_2", "conv3_3", "pool3",
           "conv4_1", "conv4_2", "conv4_3", "pool4", "conv5_1", "conv5_2", "conv5_3", "pool5"])
_ZF5 = ([[7, 2, 3], [3, 2, 1], [5, 2, 2], [3, 2, 1], [3, 1, 1], [3, 1, 1], [3, 1, 1]],
        ["conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5"])
_SEED000 = ([[3, 1, 0], [3, 2, 0], [3, 1, 0], [2, 2, 0], [3, 1, 0], [3, 1, 0], [2, 2, 0]],
            ["conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "pool3"])

PRESETS = {
    # name: (layers, input size); the notes' definitions of 001 ([kernel, stride, padding]) and 000
    "alexnet_notes": (_notes_layers(*_ALEXNET), 224),
    "alexnet": (_notes_layers(*_ALEXNET), 227),   # the input size of Krizhevsky et al. 2012
    "vgg16": (_notes_layers(*_VGG16), 224),
    "zf5": (_notes_layers(*_ZF5), 224),
    "seed000": (_notes_layers(*_SEED000), 64),
}


def preset(name: str) -> tuple[list[Layer], int]:
    """(layers, input size) of a named network: ``alexnet_notes``, ``alexnet``, ``vgg16``, ``zf5``, ``seed000``."""
    check_choice(name, "name", tuple(PRESETS))
    layers, size = PRESETS[name]
    return list(layers), size
