"""cvbook_lib.receptive_field: the notes' tables, Faster R-CNN's numbers, torch's shapes, backprop."""

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cvbook_lib import receptive_field as rf

# The tables the notes (seed 001) print: (name, output size, total stride, RF) per layer.
NOTES_VGG16 = [(224, 1, 3), (224, 1, 5), (112, 2, 6), (112, 2, 10), (112, 2, 14), (56, 4, 16), (56, 4, 24),
               (56, 4, 32), (56, 4, 40), (28, 8, 44), (28, 8, 60), (28, 8, 76), (28, 8, 92), (14, 16, 100),
               (14, 16, 132), (14, 16, 164), (14, 16, 196), (7, 32, 212)]
NOTES_ZF5 = [(112, 2, 7), (56, 4, 11), (28, 8, 27), (14, 16, 43), (14, 16, 75), (14, 16, 107), (14, 16, 139)]
NOTES_ALEXNET = [(54, 4, 11), (26, 8, 19), (26, 8, 51), (12, 16, 67), (12, 16, 99), (12, 16, 131), (12, 16, 163),
                 (5, 32, 195)]


@pytest.mark.parametrize("name,table", [("vgg16", NOTES_VGG16), ("zf5", NOTES_ZF5), ("alexnet_notes", NOTES_ALEXNET)])
def test_reproduces_the_notes_tables(name, table):
    rows = rf.receptive_field_table(*rf.preset(name))
    assert [(r.output_size, r.jump, r.rf) for r in rows] == table


def test_alexnet_real_input_and_seed000_chain():
    rows = rf.receptive_field_table(*rf.preset("alexnet"))
    assert [r.output_size for r in rows if r.layer.kind == "pool"] == [27, 13, 6]
    assert rows[0].output_size == 55
    layers, _ = rf.preset("seed000")
    assert rf.receptive_field_top_down(layers) == 31                     # the notes say 30
    assert rf.receptive_field_top_down(layers[1:]) == 29                 # seen from pool1's input: notes say 28


def test_faster_rcnn_receptive_fields():
    """Faster R-CNN: a 3x3 RPN window on conv5_3 (VGG16) / conv5 (ZF) sees 228 / 171 pixels."""
    rpn = rf.Layer("rpn", 3, 1, 1)
    vgg, _ = rf.preset("vgg16")
    zf, _ = rf.preset("zf5")
    upto = [layer.name for layer in vgg].index("conv5_3") + 1
    assert rf.receptive_field_table(vgg[:upto] + [rpn], 224)[-1].rf == 228
    assert rf.receptive_field_table(zf + [rpn], 224)[-1].rf == 171


layer_st = st.builds(lambda k, s, p, d, pool: rf.Layer("l", k, s, min(p, k // 2) if pool else p, 1 if pool else d,
                                                       "pool" if pool else "conv"),
                     st.integers(1, 5), st.integers(1, 3), st.integers(0, 2), st.integers(1, 3), st.booleans())


@settings(max_examples=200, deadline=None)
@given(st.lists(layer_st, min_size=1, max_size=6))
def test_top_down_equals_bottom_up(layers):
    rows = rf.receptive_field_table(layers, 10_000)
    for i, row in enumerate(rows):
        assert rf.receptive_field_top_down(layers[:i + 1]) == row.rf


def _sequential(layers, channels=2):
    mods = []
    for layer in layers:
        if layer.kind == "conv":
            mods += [nn.Conv2d(channels, channels, layer.kernel_size, layer.stride, layer.padding, layer.dilation),
                     nn.ReLU()]
        else:
            mods.append(nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding, ceil_mode=layer.ceil_mode))
    return nn.Sequential(*mods)


@settings(max_examples=40, deadline=None)
@given(st.lists(layer_st, min_size=1, max_size=5))
def test_output_sizes_are_torch_shapes_and_rf_is_measured_by_backprop(layers):
    model = _sequential(layers)
    assert rf.layers_from_module(model) == [rf.Layer(str(i), *(getattr(x, f) for f in
                                            ("kernel_size", "stride", "padding", "dilation", "kind", "ceil_mode")))
                                            for i, x in zip([i for i, m in enumerate(model) if not isinstance(
                                                m, nn.ReLU)], layers)]
    size = 160
    try:
        rows = rf.receptive_field_table(layers, size)
    except ValueError:  # the layers shrink the input to nothing: torch must refuse too
        with pytest.raises(RuntimeError):
            model(torch.zeros(1, 2, size, size))
        return
    y = model(torch.zeros(1, 2, size, size))
    assert y.shape[-1] == rows[-1].output_size
    if all(layer.padding == 0 for layer in layers):   # nothing clips the window: measured == analytic
        assert rf.empirical_receptive_field(model, size) == (rows[-1].rf, rows[-1].rf)


def test_start_is_the_centre_of_the_first_unit():
    layers = [rf.Layer("c1", 3, 2, 0), rf.Layer("p1", 2, 2, 0, kind="pool"), rf.Layer("c2", 5, 1, 0, dilation=2)]
    row = rf.receptive_field_table(layers, 64)[-1]
    probe = rf._geometry_copy(_sequential(layers))
    x = torch.ones(1, 1, 64, 64, dtype=torch.float64, requires_grad=True)
    probe(x)[0, 0, 0, 0].backward()
    cols = torch.nonzero(x.grad[0, 0, 0] != 0).flatten()  # first row of the input
    assert (cols.min() + cols.max()).item() / 2 == row.start
    assert (cols.max() - cols.min() + 1).item() == row.rf


@pytest.mark.parametrize("builder,size", [(torchvision.models.alexnet, 224), (torchvision.models.vgg16, 224)])
def test_torchvision_models(builder, size):
    features = builder(weights=None).features.eval()
    layers = rf.layers_from_module(features)
    rows = rf.receptive_field_table(layers, size)
    shapes, x = [], torch.zeros(1, 3, size, size)
    with torch.no_grad():
        for m in features:
            x = m(x)
            if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
                shapes.append(x.shape[-1])
    assert [r.output_size for r in rows] == shapes
    if builder is torchvision.models.vgg16:
        assert [r.rf for r in rows] == [t[2] for t in NOTES_VGG16]


def test_effective_receptive_field_is_concentrated():
    torch.manual_seed(0)
    model = nn.Sequential(*[m for _ in range(8) for m in (nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())])
    erf = rf.effective_receptive_field(model, (4, 33, 33), n_samples=8, generator=torch.Generator().manual_seed(0))
    assert torch.isclose(erf.sum(), torch.tensor(1.0))
    theoretical = rf.receptive_field_table(rf.layers_from_module(model), 33)[-1].rf            # 17
    c, h = 16, theoretical // 4                                                               # central half side
    central = erf[c - h:c + h + 1, c - h:c + h + 1].sum().item()
    area_fraction = (2 * h + 1) ** 2 / theoretical ** 2
    assert central > 2 * area_fraction   # far more than a uniform RF would put there
    r = theoretical // 2
    assert erf[c - r:c + r + 1, c - r:c + r + 1].sum().item() == pytest.approx(1.0)  # nothing outside the RF


def test_receptive_field_bad_input():
    with pytest.raises(ValueError, match="kind must be one of"):
        rf.Layer("x", 3, kind="fc")
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        rf.Layer("x", 3, 0)
    with pytest.raises(TypeError, match="layers must be a non-empty list of Layer"):
        rf.receptive_field_table([], 10)
    with pytest.raises(ValueError, match="layer 'big' does not fit"):
        rf.receptive_field_table([rf.Layer("big", 11)], 5)
    with pytest.raises(ValueError, match="has no known receptive-field geometry"):
        rf.layers_from_module(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(scale_factor=2)))
    with pytest.raises(TypeError, match="module must be an nn.Sequential"):
        rf.layers_from_module(nn.Conv2d(1, 1, 3))
    with pytest.raises(ValueError, match="name must be one of"):
        rf.preset("resnet50")


def test_parse_layers_and_unit_region():
    layers = rf.parse_layers("conv3, pool2, conv5s2p2, conv3d2, pool3s2p1")
    assert layers == [rf.Layer("conv1", 3), rf.Layer("pool1", 2, 2, kind="pool"), rf.Layer("conv2", 5, 2, 2),
                      rf.Layer("conv3", 3, 1, 0, 2), rf.Layer("pool2", 3, 2, 1, kind="pool")]
    rows = rf.receptive_field_table(layers, 64)
    probe = rf._geometry_copy(_sequential(layers))
    for index, unit in [(2, 0), (2, 3), (4, 1), (4, rows[4].output_size - 1)]:
        lo, hi = rf.unit_region(rows, index, unit)
        assert hi - lo + 1 == rows[index].rf
        x = torch.ones(1, 1, 64, 64, dtype=torch.float64, requires_grad=True)
        y = probe[: [i for i, m in enumerate(probe) if not isinstance(m, nn.Identity)][index] + 1](x)
        y[0, 0, 0, unit].backward()
        cols = torch.nonzero(x.grad[0, 0, 0] != 0).flatten()
        assert (cols.min().item(), cols.max().item()) == (max(lo, 0), min(hi, 63))  # clipped by the image
    with pytest.raises(ValueError, match="cannot read layer 'fc10'"):
        rf.parse_layers("conv3, fc10")
    with pytest.raises(ValueError, match="gives an option twice"):
        rf.parse_layers("conv3s2s1")
    assert rf.parse_layers("conv3d2p2")[0] == rf.Layer("conv1", 3, 1, 2, 2)
    with pytest.raises(ValueError, match="unit must be <"):
        rf.unit_region(rows, 0, 99)


def test_effective_receptive_field_refuses_all_zero_gradients():
    dead = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU())
    nn.init.zeros_(dead[0].weight)
    nn.init.constant_(dead[0].bias, -1.0)
    with pytest.raises(ValueError, match="every gradient was zero"):
        rf.effective_receptive_field(dead, (1, 9, 9), n_samples=2)
