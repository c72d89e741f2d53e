"""Contract cases for cvbook_lib.receptive_field (no library reference: the analytic table is checked against
torch's shapes and backprop in tests/test_receptive_field.py; here only the rules on bad input)."""

import torch
from torch import nn

from contract_specs import Case
from cvbook_lib import receptive_field as rf

_layers = rf.parse_layers("conv3, pool2, conv5s2p2")
_rows = rf.receptive_field_table(_layers, 32)
_net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3, padding=1))


def _table_of_generator(layers, input_size):
    return rf.receptive_field_table((layer for layer in layers), input_size)   # any iterable, a generator too


def _erf_seeded(model, input_shape, n_samples, seed):
    """A fresh generator per call, so that equal calls give equal answers."""
    return rf.effective_receptive_field(model, input_shape, n_samples, torch.Generator().manual_seed(seed))


SPECS = {
    rf.Layer: [
        Case(rf.Layer, dict(name="c", kernel_size=3, stride=2, padding=1, dilation=1, kind="conv", ceil_mode=False),
             skip={"name": {"unknown"}}),  # a name is free text, not a choice
        Case(rf.Layer, dict(name="p", kernel_size=3, stride=2, padding=1, dilation=2, kind="pool", ceil_mode=True),
             skip={"name": {"unknown"}}),
    ],
    rf.LayerRF: [Case(rf.LayerRF, dict(layer=_layers[0], output_size=30, jump=1, rf=3, start=1.0))],
    rf.receptive_field_table: [Case(rf.receptive_field_table, dict(layers=_layers, input_size=32)),
                               Case(_table_of_generator, dict(layers=_layers, input_size=32))],
    rf.receptive_field_top_down: [Case(rf.receptive_field_top_down, dict(layers=_layers))],
    rf.layers_from_module: [Case(rf.layers_from_module, dict(module=_net, axis=1))],
    rf.parse_layers: [Case(rf.parse_layers, dict(spec="conv3, pool2, conv3d2p2, conv5s2p2"))],
    rf.unit_region: [Case(rf.unit_region, dict(rows=_rows, layer_index=2, unit=1))],
    rf.format_table: [Case(rf.format_table, dict(rows=_rows))],
    rf.empirical_receptive_field: [Case(rf.empirical_receptive_field, dict(model=_net, input_size=16, unit=(1, 2)))],
    rf.effective_receptive_field: [
        Case(rf.effective_receptive_field, dict(model=_net, input_shape=(1, 9, 9), n_samples=2)),
        Case(_erf_seeded, dict(model=_net, input_shape=(1, 9, 9), n_samples=2, seed=3),
             skip={"seed": "*"}),  # the spec's own argument (it builds the generator), not the library's
    ],
    rf.preset: [Case(rf.preset, dict(name="vgg16"))],
}
