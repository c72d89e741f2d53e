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
    with pytest.raises(ValueError, match="layers must hold at least one Layer"):
        rf.receptive_field_table([], 10)
    with pytest.raises(TypeError, match=r"layers\[1\] must be a Layer"):
        rf.receptive_field_table([rf.Layer("a", 3), (3, 1, 0)], 10)
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
    with pytest.raises(ValueError, match="unit must be an int >= 0 and <= 61"):
        rf.unit_region(rows, 0, 99)


def test_effective_receptive_field_refuses_all_zero_gradients():
    dead = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU())
    nn.init.zeros_(dead[0].weight)
    nn.init.constant_(dead[0].bias, -1.0)
    with pytest.raises(ValueError, match="every gradient was zero"):
        rf.effective_receptive_field(dead, (1, 9, 9), n_samples=2)


# ----------------------------------------------------------------------------- issue 15: the contract
def test_any_iterable_of_layers_works_a_generator_included():
    layers = rf.parse_layers("conv3, pool2, conv5s2p2")
    expected = rf.receptive_field_table(layers, 64)
    assert rf.receptive_field_table((layer for layer in layers), 64) == expected      # was [] (check consumed it)
    assert rf.receptive_field_table(tuple(layers), 64) == expected
    assert rf.receptive_field_top_down(iter(layers)) == expected[-1].rf
    assert rf.format_table(iter(expected)) == rf.format_table(expected)
    assert rf.unit_region(iter(expected), 2, 1) == rf.unit_region(expected, 2, 1)
    with pytest.raises(TypeError, match="layers must be an iterable of Layer"):
        rf.receptive_field_table("conv3", 64)
    with pytest.raises(TypeError, match="layers must be an iterable of Layer"):
        rf.receptive_field_top_down(rf.Layer("a", 3))


def test_numpy_ints_are_accepted_and_stored_as_ints():
    np = pytest.importorskip("numpy")
    layer = rf.Layer("c", np.int64(3), np.int32(2), np.int64(1), np.int64(1), "conv", np.bool_(False))
    assert layer == rf.Layer("c", 3, 2, 1) and type(layer.kernel_size) is int and layer.ceil_mode is False
    rows = rf.receptive_field_table([layer], np.int64(32))
    assert rows == rf.receptive_field_table([rf.Layer("c", 3, 2, 1)], 32)
    assert rf.unit_region(rows, np.int64(0), np.int64(3)) == rf.unit_region(rows, 0, 3)
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2))
    assert rf.layers_from_module(model, np.int64(1)) == rf.layers_from_module(model, 1)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(name="c", kernel_size=3.0), TypeError, "kernel_size must be an int"),
    (dict(name="c", kernel_size=True), TypeError, "kernel_size must be an int"),
    (dict(name="c", kernel_size=3, stride=0), ValueError, "stride must be an int >= 1"),
    (dict(name="c", kernel_size=3, padding=-1), ValueError, "padding must be an int >= 0"),
    (dict(name="c", kernel_size=3, dilation="2"), TypeError, "dilation must be an int"),
    (dict(name="c", kernel_size=3, ceil_mode="False"), TypeError, "ceil_mode must be a bool"),
    (dict(name="c", kernel_size=3, ceil_mode=1), TypeError, "ceil_mode must be a bool"),
    (dict(name=3, kernel_size=3), TypeError, "name must be a str"),
    (dict(name="p", kernel_size=3, padding=2, kind="pool"), ValueError, "padding of a pool must be at most"),
])
def test_layer_construction_checks(kwargs, error, match):
    with pytest.raises(error, match=match):
        rf.Layer(**kwargs)


def test_pool_padding_rule_is_torchs():
    for k, p in [(2, 1), (3, 1), (3, 2), (4, 2), (4, 3)]:
        try:
            nn.MaxPool2d(k, 1, p)(torch.zeros(1, 1, 9, 9))
            torch_ok = True
        except RuntimeError:
            torch_ok = False
        try:
            rf.Layer("p", k, 1, p, kind="pool")
            ours_ok = True
        except ValueError:
            ours_ok = False
        assert ours_ok == torch_ok, (k, p)


def test_layer_rf_construction_checks():
    layer = rf.Layer("c", 3)
    assert rf.LayerRF(layer, 8, 1, 3, 1.0).start == 1.0
    with pytest.raises(TypeError, match="layer must be a Layer"):
        rf.LayerRF("c", 8, 1, 3, 1.0)
    with pytest.raises(ValueError, match="output_size must be an int >= 1"):
        rf.LayerRF(layer, 0, 1, 3, 1.0)
    with pytest.raises(TypeError, match="jump must be an int"):
        rf.LayerRF(layer, 8, 1.5, 3, 1.0)
    with pytest.raises(ValueError, match="start must be a real number"):
        rf.LayerRF(layer, 8, 1, 3, float("nan"))


def test_layers_from_module_reads_string_padding_like_torch_and_names_what_it_cannot_read():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding="same"), nn.Conv2d(1, 1, (5, 3), padding="valid"),
                          nn.Conv2d(1, 1, 3, padding="same", dilation=2))
    for axis in (0, 1):
        rows = rf.receptive_field_table(rf.layers_from_module(model, axis), 20)
        assert rows[-1].output_size == model(torch.zeros(1, 1, 20, 20)).shape[2 + axis]
    with pytest.raises(ValueError, match=r"module: layer '0' \(Conv2d\) has padding='same' with an even"):
        rf.layers_from_module(nn.Sequential(nn.Conv2d(1, 1, 4, padding="same")))
    with pytest.raises(ValueError, match=r"module: layer '1' \(Flatten\) has no known receptive-field geometry"):
        rf.layers_from_module(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten(0), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match=r"module: layer '1' \(AdaptiveAvgPool2d\)"):
        rf.layers_from_module(nn.Sequential(nn.Conv2d(1, 1, 3), nn.AdaptiveAvgPool2d(1)))
    with pytest.raises(ValueError, match=r"axis must be an int >= 0 and <= 1"):
        rf.layers_from_module(model, 2)
    with pytest.raises(TypeError, match=r"axis must be an int"):
        rf.layers_from_module(model, True)


@pytest.mark.parametrize("spec,error,match", [
    ("conv0", ValueError, r"spec: layer 'conv0': kernel_size must be an int >= 1"),
    ("conv3d0", ValueError, r"spec: layer 'conv3d0': dilation must be an int >= 1"),
    ("pool3p2", ValueError, r"spec: layer 'pool3p2': padding of a pool"),
    ("conv3s0", ValueError, r"spec: layer 'conv3s0': stride must be an int >= 1"),
    ("", ValueError, r"spec: cannot read layer ''"),
    ("conv3,", ValueError, r"spec: cannot read layer ''"),
    ("conv3 pool2", ValueError, r"spec: cannot read layer 'conv3 pool2'"),
    ("Conv3", ValueError, r"spec: cannot read layer 'Conv3'"),
    ("conv3s2s1", ValueError, r"spec: layer 'conv3s2s1' gives an option twice"),
    (3, TypeError, r"spec must be a string"),
    (["conv3"], TypeError, r"spec must be a string"),
])
def test_parse_layers_errors_are_clear(spec, error, match):
    with pytest.raises(error, match=match):
        rf.parse_layers(spec)


def test_unit_region_and_format_table_checks():
    rows = rf.receptive_field_table(rf.parse_layers("conv3, pool2"), 16)
    with pytest.raises(ValueError, match="layer_index must be an int >= 0 and <= 1"):
        rf.unit_region(rows, 2)
    with pytest.raises(TypeError, match="layer_index must be an int"):
        rf.unit_region(rows, 1.0)
    with pytest.raises(TypeError, match=r"rows\[0\] must be a LayerRF"):
        rf.unit_region([rf.Layer("c", 3)], 0)
    with pytest.raises(TypeError, match=r"rows\[0\] must be a LayerRF"):
        rf.format_table([rf.Layer("c", 3)])
    assert rf.format_table([]).startswith("layer")


def test_empirical_receptive_field_checks_unit_and_size():
    net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2))
    assert rf.empirical_receptive_field(net, 16, unit=(0, 6)) == (4, 4)
    with pytest.raises(ValueError, match="unit must lie inside the 7 x 7 output map"):
        rf.empirical_receptive_field(net, 16, unit=(7, 0))
    with pytest.raises(ValueError, match="input_size=2 is too small for model"):
        rf.empirical_receptive_field(net, 2)
    with pytest.raises(TypeError, match="model must be an nn.Sequential"):
        rf.empirical_receptive_field(nn.Conv2d(1, 1, 3), 16)
    with pytest.raises(ValueError, match=r"model: layer '0' \(Upsample\)"):
        rf.empirical_receptive_field(nn.Sequential(nn.Upsample(scale_factor=2)), 16)


def test_effective_receptive_field_leaves_the_model_alone_and_checks_its_arguments():
    model = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 3, padding=1))
    erf = rf.effective_receptive_field(model, (2, 9, 9), n_samples=2, generator=torch.Generator().manual_seed(0))
    assert erf.shape == (9, 9) and all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match=r"input_shape must be \(C, H, W\)"):
        rf.effective_receptive_field(model, (9, 9))
    with pytest.raises(ValueError, match="input_shape must be an int >= 1"):
        rf.effective_receptive_field(model, (2, 0, 9))
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        rf.effective_receptive_field(lambda x: x, (2, 9, 9))
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        rf.effective_receptive_field(model, (2, 9, 9), generator=0)
    with pytest.raises(ValueError, match=r"model must map Tensor\[1, C, H, W\]"):
        rf.effective_receptive_field(nn.Sequential(nn.Flatten()), (2, 9, 9))
