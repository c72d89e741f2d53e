"""cvbook_lib.profile against torchvision's weights.meta (num_params, _ops), torch's FlopCounterMode (totals
and per module), activation sizes and receptive fields computed independently, and bad input."""

import functools
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from cvbook_lib import attention as At
from cvbook_lib import receptive_field as R
from cvbook_lib.profile import LayerProfile, ModelProfile, profile


# ----------------------------------------------------------------------------- references
def flop_counter(model, x):
    """FlopCounterMode's FLOPs per module path ('ResNet.layer1.0.conv1', ..., 'Global'), with the ops made
    visible to it: the MHA fast path off and the math SDPA kernel (on CPU it counts 0 for the fused kernels)."""
    fastpath, training = torch.backends.mha.get_fastpath_enabled(), model.training
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            model.eval()(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        model.train(training)
    return {k: sum(v.values()) for k, v in counter.get_flop_counts().items() if sum(v.values())}


def per_module(p: ModelProfile, root: str) -> dict:
    """Our rows' FLOPs summed per module path, each module counting its descendants (FlopCounterMode's way)."""
    out, called = {"Global": p.flops}, {r.name for r in p.rows}  # a ModuleList that is iterated never runs
    for r in p.rows:
        parts = r.name.split(".") if r.name else []
        for i in range(len(parts) + 1):
            if ".".join(parts[:i]) in called:
                key = ".".join([root, *parts[:i]])
                out[key] = out.get(key, 0) + r.flops
    return {k: v for k, v in out.items() if v}


def meta(name):
    return torchvision.models.get_model_weights(name).DEFAULT.meta


def decimals(x: float) -> int:
    return len(repr(x).split(".")[1]) if "." in repr(x) else 0


def seeded(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- torchvision's figures
TV = ["resnet18", "mobilenet_v2", "shufflenet_v2_x1_0", "mobilenet_v3_small", "alexnet"]


@functools.cache
def tv_measure(name):
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None)
    return model, profile(model, 224)


@functools.cache
def tv_counts(name):
    return flop_counter(tv_measure(name)[0], seeded(1, 3, 224, 224))


def test_meta_ops_are_gmacs():
    """The claim in the module docstring: torchvision's "GFLOPS" (meta['_ops']) are FlopCounterMode's FLOPs / 2."""
    flops = tv_counts("resnet18")["Global"]
    assert round(flops / 1e9, 3) == 3.628 and round(flops / 2e9, 3) == meta("resnet18")["_ops"] == 1.814


@pytest.mark.parametrize("name", TV)
def test_torchvision_params_and_macs_equal_meta(name):
    model, p = tv_measure(name)
    m = meta(name)
    assert p.params == sum(q.numel() for q in model.parameters()) == m["num_params"]
    assert round(p.macs / 1e9, decimals(m["_ops"])) == m["_ops"]
    assert p.flops == 2 * p.macs and p.output_shape == (1, 1000) and p.input_size == (3, 224, 224)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torchvision_flops_per_module_equal_flop_counter(name):
    model, p = tv_measure(name)
    assert per_module(p, type(model).__name__) == tv_counts(name)


# ----------------------------------------------------------------------------- our builders (cvbook_lib.models)
OURS = [
    "alexnet",
    "vgg11",
    "vgg11_bn",
    "vgg16",
    "vgg16_bn",
    "resnet18",
    "resnet34",
    "resnet50",
    "densenet121",
    "googlenet",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "shufflenet_v2_x1_0",
]


@functools.cache
def ours_measure(name):
    """(profile at 224, profile at 64, FlopCounterMode at 64, parameter count); the model is not kept."""
    from cvbook_lib import models

    torch.manual_seed(0)
    model = getattr(models, name)()
    x = seeded(1, 3, 64, 64)
    return profile(model, 224), profile(model, 64), flop_counter(model, x), sum(q.numel() for q in model.parameters())


@pytest.mark.parametrize("name", OURS)
def test_our_builders_params_and_macs_equal_torchvision_meta(name):
    p, _, _, n = ours_measure(name)
    m = meta(name)
    assert p.params == n == m["num_params"]
    assert round(p.macs / 1e9, decimals(m["_ops"])) == m["_ops"]


@pytest.mark.parametrize("name", OURS)
def test_our_builders_flops_per_module_equal_flop_counter(name):
    _, p, counts, _ = ours_measure(name)
    assert per_module(p, p.rows[0].type) == counts  # rows[0] is the model itself


@pytest.mark.parametrize(
    "build,size", [("mobilenet_v1", 64), ("cifar_resnet", 32), ("UNet", (1, 32, 32)), ("FCN8s", 64)]
)
def test_our_other_models_flops_equal_flop_counter(build, size):
    from cvbook_lib import models

    torch.manual_seed(0)
    model = getattr(models, build)()
    p = profile(model, size)
    assert per_module(p, type(model).__name__) == flop_counter(model, seeded(1, *p.input_size))
    assert p.params == sum(q.numel() for q in model.parameters())


def test_mobilenet_v1_paper_figures():
    """Howard et al. 2017 (arXiv:1704.04861), Table 8: 1.0 MobileNet-224 has 569M Mult-Adds and 4.2M parameters."""
    from cvbook_lib import models

    p = profile(models.mobilenet_v1(), 224)
    assert round(p.macs / 1e6) == 569 and round(p.params / 1e6, 1) == 4.2


# ----------------------------------------------------------------------------- the counted ops, one by one
class MatmulAttention(nn.Module):
    """Attention written out with '@' in the forward (no submodule runs the matmuls)."""

    def __init__(self, d=16):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, -1)
        return (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1) @ v


class Sdpa(nn.Module):
    def forward(self, x):  # [N, L, 16] → 4 heads of 4
        q = x.unflatten(-1, (4, 4)).transpose(1, 2)
        return F.scaled_dot_product_attention(q, q, q, is_causal=True)


class SelfAttention(nn.Module):
    def __init__(self, attn, need_weights=True):
        super().__init__()
        self.attn, self.need_weights = attn, need_weights

    def forward(self, x):
        return self.attn(x, x, x, need_weights=self.need_weights)[0]


class Einsum(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(seeded(16, 8))

    def forward(self, x):
        return torch.einsum("nld,de->nle", x, self.w) + torch.baddbmm(x[..., :8], x, x.transpose(1, 2)[..., :8])


def conv1d_model():
    return nn.Sequential(
        nn.Conv1d(16, 8, 5, padding=2, groups=2),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Conv1d(8, 4, 3, dilation=2),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )


SMALL = {
    "grouped conv": (lambda: nn.Conv2d(8, 12, 3, groups=4, bias=False), (8, 9, 7)),
    "dilated conv": (lambda: nn.Sequential(nn.Conv2d(3, 6, 3, dilation=3, padding=2, stride=2), nn.ReLU()), 17),
    "depthwise conv": (lambda: nn.Conv2d(6, 6, (3, 5), padding=(1, 2), groups=6), (6, 10, 12)),
    "conv transpose": (lambda: nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, output_padding=1, groups=2), (4, 5, 6)),
    "conv3d": (lambda: nn.Conv3d(2, 4, 3, padding=1), (2, 4, 5, 6)),
    "conv1d model": (conv1d_model, (16, 40)),
    "linear on 3-D": (lambda: nn.Sequential(nn.Linear(40, 7), nn.GELU(), nn.Linear(7, 2, bias=False)), (16, 40)),
    "nn.MultiheadAttention": (lambda: SelfAttention(nn.MultiheadAttention(16, 4, batch_first=True)), (10, 16)),
    "nn.MultiheadAttention, no weights": (
        lambda: SelfAttention(nn.MultiheadAttention(16, 4, batch_first=True), need_weights=False),
        (10, 16),
    ),
    "nn.MultiheadAttention, sequence first": (lambda: nn.MultiheadAttention(16, 2), (5, 16)),
    "cvbook MultiHeadAttention": (lambda: SelfAttention(At.MultiHeadAttention(16, 4, batch_first=True)), (10, 16)),
    "nn.TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(16, 4, 32, batch_first=True), (10, 16)),
    "@ in forward": (MatmulAttention, (10, 16)),
    "F.scaled_dot_product_attention": (Sdpa, (10, 16)),
    "einsum, baddbmm": (Einsum, (10, 16)),
}


class _FirstOutput(nn.Module):
    """nn.MultiheadAttention called as query = key = value by the profiler's single input."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x, x, x)[0]


@pytest.mark.parametrize("name", list(SMALL))
def test_flops_total_and_per_module_equal_flop_counter(name):
    build, size = SMALL[name]
    torch.manual_seed(0)
    model = build()
    model = _FirstOutput(model) if isinstance(model, nn.MultiheadAttention) else model
    p = profile(model, size, batch_size=2)
    theirs = flop_counter(model, seeded(2, *p.input_size))
    assert theirs["Global"] > 0 and per_module(p, type(model).__name__) == theirs


def test_conv_macs_formula_by_hand():
    """MACs = N * C_out * H_out * W_out * (C_in / groups) * k_h * k_w; transposed: per input pixel."""
    p = profile(nn.Conv2d(8, 12, (3, 5), stride=2, groups=4), (8, 11, 13), batch_size=3)
    assert p.output_shape == (3, 12, 5, 5) and p.macs == 3 * 12 * 5 * 5 * 2 * 3 * 5
    p = profile(nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2), (4, 5, 7))
    assert p.macs == 4 * 5 * 7 * 3 * 3 * 3


@settings(max_examples=25, deadline=None)
@given(
    k=st.integers(1, 4),
    s=st.integers(1, 3),
    p=st.integers(0, 2),
    d=st.integers(1, 2),
    g=st.sampled_from([1, 2]),
    transposed=st.booleans(),
    size=st.integers(6, 12),
)
def test_conv_counts_equal_flop_counter_for_any_geometry(k, s, p, d, g, transposed, size):
    conv = (nn.ConvTranspose2d if transposed else nn.Conv2d)(
        4, 6, k, s, p if not transposed else 0, dilation=d, groups=g
    )
    ours = profile(conv, (4, size, size + 1))
    assert ours.flops == flop_counter(conv, seeded(1, 4, size, size + 1))["Global"]


def test_sdpa_fused_cpu_kernel_is_counted():
    """On CPU torch runs the fused kernel, which FlopCounterMode's registry misses (0); we count it, and the
    count equals FlopCounterMode's on the math kernel: 2 * N * H * L * S * (E + Ev)."""
    p = profile(Sdpa(), (10, 16), batch_size=2)
    with torch.no_grad(), FlopCounterMode(display=False) as fused:
        Sdpa()(seeded(2, 10, 16))
    assert fused.get_total_flops() in (0, p.flops)
    assert p.flops == flop_counter(Sdpa(), seeded(2, 10, 16))["Global"] == 2 * 2 * 4 * 10 * 10 * (4 + 4)


def test_integer_input_and_ops_in_the_models_own_forward():
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))
    p = profile(model, (5,), dtype=torch.long)
    assert p.macs == 5 * 4 * 2 and p.output_shape == (1, 5, 2)
    p = profile(MatmulAttention(), (10, 16))
    own = {r.name: r.macs for r in p.rows}
    assert own == {"": 2 * 10 * 10 * 16, "qkv": 10 * 16 * 48}  # the matmuls are the root's, the projection qkv's


# ----------------------------------------------------------------------------- activations, shapes, params
class TupleOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.pool = nn.Conv2d(3, 4, 3), nn.MaxPool2d(2, return_indices=True)

    def forward(self, x):
        return self.pool(self.conv(x))[0]


def leaf_outputs(model, x):
    """(name, output shapes, bytes) of every leaf call, by plain forward hooks."""
    seen, handles = [], []
    for name, m in model.named_modules():
        if next(m.children(), None) is None:

            def hook(mod, args, out, name=name):
                ts = [t for t in (out if isinstance(out, tuple) else (out,)) if isinstance(t, torch.Tensor)]
                seen.append((name, tuple(ts[0].shape), sum(t.numel() * t.element_size() for t in ts)))

            handles.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model.eval()(x)
    for h in handles:
        h.remove()
    return seen


@pytest.mark.parametrize("case", ["resnet18", "tuple output", "float64"])
def test_activation_bytes_and_shapes(case):
    if case == "resnet18":
        model, size, dtype = tv_measure("resnet18")[0], (3, 64, 64), torch.float32
    else:
        model, size, dtype = TupleOut(), (3, 10, 10), torch.float64 if case == "float64" else torch.float32
        model = model.to(dtype)
    p = profile(model, size, dtype=dtype, batch_size=2)
    expected = leaf_outputs(model, torch.zeros(2, *size, dtype=dtype))
    assert [(r.name, r.output_shape, r.activation_bytes) for r in p.rows if r.leaf] == expected
    assert p.activation_bytes == sum(b for _, _, b in expected)
    if case != "resnet18":  # the pool returns values and int64 indices
        assert p.rows[-1].activation_bytes == 2 * 4 * 4 * 4 * (dtype.itemsize + 8)


def test_params_shared_and_per_row():
    lin = nn.Linear(4, 4)
    model = nn.Sequential(lin, nn.ReLU(), lin)  # one Linear called twice
    p = profile(model, (4,))
    assert p.params == 20 == sum(r.params for r in p.rows)
    assert [(r.name, r.params) for r in p.rows] == [("", 0), ("0", 20), ("1", 0), ("0", 0)]
    assert p.macs == 2 * 16


def test_summary_adds_up_and_matches_the_stages():
    model, p = tv_measure("resnet18")
    names = [n for n, _ in model.named_children()]
    assert [r.name for r in p.summary(1)] == names
    for depth in (0, 1, 2, 3):
        rows = p.summary(depth)
        assert sum(r.macs for r in rows) == p.macs and sum(r.params for r in rows) == p.params
        assert sum(r.activation_bytes for r in rows) == p.activation_bytes
    x = torch.zeros(1, 3, 224, 224)
    with torch.no_grad():
        for name, child in model.named_children():
            x = child(x.flatten(1) if name == "fc" else x)
            row = next(r for r in p.summary(1) if r.name == name)
            assert row.output_shape == tuple(x.shape)
            assert row.params == sum(q.numel() for q in child.parameters())
    assert p.summary(0)[0].name == "" and p.summary(0)[0].macs == p.macs
    text = p.table(1)
    assert isinstance(text, str) and "layer3" in text and "1.81G" in text and "layer1.0" in text
    assert len(p.table().splitlines()) == len(p.rows) + 3  # header, rows, totals, where the RF stopped


# ----------------------------------------------------------------------------- receptive field
def plain_chain():
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 4, (5, 3), stride=2, padding=(2, 1)),
        nn.ReLU(inplace=True),
        nn.Conv2d(4, 6, 3, dilation=2),
        nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True),
        nn.Dropout(),
    )


def test_rf_of_a_plain_chain_equals_the_table_and_the_gradient():
    model = plain_chain()
    p = profile(model, 48)
    table = R.receptive_field_table(R.layers_from_module(model, axis=0), 48)
    spatial = [r for r in p.rows if r.type in ("Conv2d", "MaxPool2d", "AvgPool2d")]
    assert [r.rf for r in spatial] == [t.rf for t in table]
    assert p.rf_stopped_at is None and p.rows[0].rf == p.rows[-1].rf == table[-1].rf  # the model's own row too
    assert R.empirical_receptive_field(model, 48)[0] == table[-1].rf
    assert [r.rf for r in p.rows[1:4]] == [3, 3, 3]  # BN, ReLU pass the conv's RF through


def test_rf_of_torchvision_features_equals_the_notes():
    """The notes' tables (tests/test_receptive_field.py): VGG16's pool5 sees 212 pixels, AlexNet's 195."""
    vgg16_features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
    assert profile(vgg16_features, 32).rows[0].rf == 212
    p = tv_measure("alexnet")[1]
    assert next(r for r in p.summary(1) if r.name == "features").rf == 195
    assert p.rf_stopped_at[0] == "avgpool" and "AdaptiveAvgPool2d" in p.rf_stopped_at[1]


def test_rf_stops_at_the_first_residual_block():
    p = tv_measure("resnet18")[1]
    stem = R.receptive_field_table([R.Layer("conv1", 7, 2, 3), R.Layer("maxpool", 3, 2, 1, kind="pool")], 224)
    assert (
        [(r.name, r.rf) for r in p.rows[1:5]]
        == [("conv1", stem[0].rf), ("bn1", 7), ("relu", 7), ("maxpool", stem[1].rf)]
        == [("conv1", 7), ("bn1", 7), ("relu", 7), ("maxpool", 11)]
    )
    name, reason = p.rf_stopped_at
    assert name == "layer1.0" and "skip connection" in reason and "'maxpool'" in reason
    after = p.rows[[r.name for r in p.rows].index("layer1.0.bn2") + 1 :]
    assert all(r.rf is None for r in after) and p.rows[0].rf is None


class Branches(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 2, 3, padding=1), nn.Conv2d(3, 2, 1)

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], 1)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return self.conv(x) + x


class Gate(nn.Module):
    """A custom leaf op: each pixel scaled by its channel's mean (the whole map)."""

    def forward(self, x):
        return x * x.mean((2, 3), keepdim=True).sigmoid()


class Tokens(nn.Module):
    """Self-attention over the pixels of a feature map."""

    def __init__(self):
        super().__init__()
        self.attn = At.MultiHeadAttention(3, 1, batch_first=True)

    def forward(self, x):
        t = x.flatten(2).transpose(1, 2)
        return self.attn(t, t, t)[0]


@pytest.mark.parametrize(
    "model,size,where,words",
    [
        (Branches(), 12, "b", "not the previous layer's output"),
        (Residual(), 12, "(model)", "skip connection"),
        (conv1d_model(), (16, 40), "0", "Conv1d has no known receptive-field"),
        (nn.Sequential(nn.Conv2d(3, 3, 3), nn.Flatten(2), nn.Conv1d(3, 3, 3)), 12, "1", "Flatten has no known"),
        (nn.Sequential(nn.Conv2d(3, 3, 3), Gate()), 12, "1", "Gate has no known receptive-field geometry"),
        (nn.Sequential(nn.Conv2d(3, 3, 3), Tokens()), 12, "1.attn.out_proj", "not the previous layer's output"),
        (nn.Sequential(nn.Conv2d(3, 3, 3, padding="same"), nn.Conv2d(3, 3, 2, padding="same")), 12, "1", "asymmetric"),
    ],
)
def test_rf_stops_and_says_why(model, size, where, words):
    p = profile(model, size)
    assert p.rf_stopped_at[0] == where and words in p.rf_stopped_at[1]
    assert p.rows[1].rf == (None if where == "0" else 3) and p.rows[0].rf is None


# ----------------------------------------------------------------------------- the model comes back unchanged
def test_training_flags_buffers_and_global_state_unchanged():
    model = torchvision.models.resnet18(num_classes=10)
    model.train()
    model.layer2.eval()  # a frozen stage: its flags must come back as they were, not as model.train() sets them
    flags = {n: m.training for n, m in model.named_modules()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng, fastpath = torch.get_rng_state(), torch.backends.mha.get_fastpath_enabled()
    for size in (32, 1):  # a good pass and a failing one
        try:
            profile(model, size, batch_size=2)
        except ValueError:
            assert size == 1
    assert {n: m.training for n, m in model.named_modules()} == flags
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng) and torch.backends.mha.get_fastpath_enabled() == fastpath
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_the_input_is_seeded():
    a, b = profile(nn.Conv2d(3, 2, 3), 5), profile(nn.Conv2d(3, 2, 3), 5)
    assert a == b


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs,error,words",
    [
        (dict(input_size=0), ValueError, "input_size"),
        (dict(input_size=(3, -1, 5)), ValueError, "input_size"),
        (dict(input_size="abc"), TypeError, "input_size"),
        (dict(input_size=True), TypeError, "input_size"),
        (dict(input_size=8.0), TypeError, "input_size"),
        (dict(input_size=()), TypeError, "input_size"),
        (dict(input_size=(3, True, 8)), TypeError, "input_size"),
        (dict(input_size=8, batch_size=0), ValueError, "batch_size"),
        (dict(input_size=8, batch_size=True), TypeError, "batch_size"),
        (dict(input_size=8, dtype="float32"), TypeError, "dtype"),
        (dict(input_size=8, dtype=torch.bool), TypeError, "dtype"),
        (dict(input_size=8, device="no-such-device"), ValueError, "device"),
        (dict(input_size=8, device=0), TypeError, "device"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, words):
    with pytest.raises(error, match=words):
        profile(nn.Conv2d(3, 2, 3), **kwargs)


def test_a_model_must_be_a_module():
    with pytest.raises(TypeError, match="model"):
        profile("resnet18", 224)


def unpadded_residual():
    model = Residual()
    model.conv = nn.Conv2d(3, 3, 3)  # no padding: the residual add fails in the model's own forward
    return model


@pytest.mark.parametrize(
    "build,size,layer,torch_words",
    [
        (lambda: tv_measure("alexnet")[0], 32, "'features.12' (MaxPool2d)", "Output size is too small"),
        (lambda: nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(4, 2, 3)), 8, "'2' (Conv2d)", "4 channels"),
        (lambda: nn.Sequential(nn.Flatten(), nn.Linear(10, 2)), (3, 2, 2), "'1' (Linear)", "cannot be multiplied"),
        (unpadded_residual, (3, 4, 5), "the model itself (Residual)", "must match"),
    ],
)
def test_a_size_the_model_cannot_take_names_the_layer(build, size, layer, torch_words):
    model = build()
    with pytest.raises(ValueError, match="input_size") as info:
        profile(model, size)
    assert layer in str(info.value) and torch_words in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError) and str(info.value.__cause__) in str(info.value)


def test_result_types_validate():
    row = LayerProfile("conv", "Conv2d", (1, 2, 3, 3), 56, 1008, 72, 3, True)
    assert row.flops == 2016 and ModelProfile((row,), 56, (3, 5, 5)).macs == 1008
    with pytest.raises(ValueError, match="params"):
        LayerProfile("conv", "Conv2d", None, -1)
    with pytest.raises(TypeError, match="rows"):
        ModelProfile([], 0, (3, 5, 5))
    with pytest.raises(TypeError, match="rf_stopped_at"):
        ModelProfile((row,), 56, (3, 5, 5), 1, "conv")
    with pytest.raises(ValueError, match="depth"):
        ModelProfile((row,), 56, (3, 5, 5)).summary(-1)


# ----------------------------------------------------------------------------- CUDA
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_counts_equal_cpu_and_flop_counter():
    """On CUDA torch's fused attention kernels are in FlopCounterMode's registry: the plain counter agrees."""
    model = torchvision.models.resnet18()
    cpu = profile(model, 64)
    gpu = profile(model.cuda(), 64)
    assert (gpu.macs, gpu.params, gpu.rows[1].rf) == (cpu.macs, cpu.params, cpu.rows[1].rf)
    sdpa = Sdpa().cuda()
    x = seeded(2, 10, 16).cuda().half()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        sdpa(x)
    assert profile(sdpa, (10, 16), batch_size=2, dtype=torch.half).flops == counter.get_total_flops() > 0
