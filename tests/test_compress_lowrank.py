"""cvbook_lib.compress.lowrank against numpy's SVD in float64 (Eckart–Young), the layers it replaces, and its
own parameter-count formula checked against the modules it builds."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from cvbook_lib.compress import lowrank as LR

LAYERS = {
    "linear-wide": lambda: nn.Linear(9, 4),
    "linear-tall": lambda: nn.Linear(4, 9, bias=False),
    "linear-square": lambda: nn.Linear(6, 6),
    "conv2d": lambda: nn.Conv2d(3, 5, 3, stride=2, padding=1, dilation=1),
    "conv2d-dilated-reflect": lambda: nn.Conv2d(2, 7, (3, 2), padding=2, dilation=2, padding_mode="reflect"),
    "conv1d": lambda: nn.Conv1d(3, 4, 5, padding=2, bias=False),
    "conv3d": lambda: nn.Conv3d(2, 3, 2, stride=(1, 2, 1)),
}


def _layer(name, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return LAYERS[name]().to(dtype)


def _input(layer, dtype=torch.float64):
    g = torch.Generator().manual_seed(1)
    if isinstance(layer, nn.Linear):
        return torch.randn(5, layer.in_features, generator=g, dtype=dtype)
    spatial = (7,) * (layer.weight.dim() - 2)
    return torch.randn(2, layer.in_channels, *spatial, generator=g, dtype=dtype)


def _np_matrix(layer):
    w = layer.weight.detach().double().numpy()
    return w.reshape(w.shape[0], -1)


@pytest.mark.parametrize("name", list(LAYERS))
def test_eckart_young_error_is_the_tail_of_the_singular_values(name):
    layer = _layer(name)
    sigma = np.linalg.svd(_np_matrix(layer), compute_uv=False)
    for r in range(1, len(sigma) + 1):
        expected = float((sigma[r:] ** 2).sum())
        assert LR.svd_error(layer, r).item() == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", list(LAYERS))
def test_factored_weight_is_numpys_truncated_svd(name):
    layer = _layer(name)
    U, S, Vt = np.linalg.svd(_np_matrix(layer), full_matrices=False)
    r = max(1, len(S) // 2)
    first, second = LR.low_rank(layer, r)
    product = second.weight.detach().reshape(second.weight.shape[0], -1) @ first.weight.detach().reshape(r, -1)
    np.testing.assert_allclose(product.numpy(), (U[:, :r] * S[:r]) @ Vt[:r], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(LAYERS))
def test_full_rank_reproduces_the_layer(name):
    layer = _layer(name)
    x = _input(layer)
    full = min(_np_matrix(layer).shape)
    torch.testing.assert_close(LR.low_rank(layer, full)(x), layer(x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(LAYERS))
def test_structure_keeps_the_layers_settings(name):
    layer = _layer(name, torch.float32)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    first, second = LR.low_rank(layer, 2)
    assert first.bias is None and (second.bias is None) == (layer.bias is None)
    if layer.bias is not None:
        assert torch.equal(second.bias, layer.bias)
    if isinstance(layer, nn.Linear):
        assert (first.in_features, first.out_features, second.out_features) == (
            layer.in_features,
            2,
            layer.out_features,
        )
    else:
        assert type(first) is type(layer) is type(second)
        for attr in ("kernel_size", "stride", "padding", "dilation", "padding_mode"):
            assert getattr(first, attr) == getattr(layer, attr)
        assert second.kernel_size == (1,) * len(layer.kernel_size) and second.stride == (1,) * len(layer.stride)
        assert (first.out_channels, second.in_channels, second.out_channels) == (2, 2, layer.out_channels)
        x = _input(layer, torch.float32)
        assert LR.low_rank(layer, 2)(x).shape == layer(x).shape
    assert all(p.dtype == torch.float32 for p in (*first.parameters(), *second.parameters()))
    assert all(torch.equal(before[k], v) for k, v in layer.state_dict().items())


def test_float16_layer_is_factored_through_float32():
    layer = _layer("linear-wide", torch.float16)
    ref = _layer("linear-wide", torch.float32)
    first, second = LR.low_rank(layer, 4)
    assert first.weight.dtype == second.weight.dtype == torch.float16
    expected = second.weight.float() @ first.weight.float()
    torch.testing.assert_close(expected, ref.weight.detach().half().float(), rtol=0, atol=5e-3)


def test_a_random_rank_r_factorization_is_never_closer():
    """Eckart–Young as an inequality: perturbed factors of the same rank are farther from W."""
    layer = _layer("linear-square")
    W = layer.weight.detach()
    g = torch.Generator().manual_seed(3)
    best = LR.svd_error(layer, 3).item()
    first, second = LR.low_rank(layer, 3)
    for _ in range(20):
        B = second.weight.detach() + 0.1 * torch.randn(6, 3, generator=g, dtype=torch.float64)
        A = first.weight.detach() + 0.1 * torch.randn(3, 6, generator=g, dtype=torch.float64)
        assert ((W - B @ A) ** 2).sum().item() > best


@pytest.mark.parametrize("name", list(LAYERS))
def test_parameter_count_and_break_even_rank(name):
    layer = _layer(name)
    m, n = _np_matrix(layer).shape
    bias = 0 if layer.bias is None else layer.bias.numel()
    original = sum(p.numel() for p in layer.parameters())
    be = LR.break_even_rank(layer)
    assert be == int(np.ceil(m * n / (m + n))) - 1  # the largest integer strictly below mn / (m + n)
    for r in range(1, min(m, n) + 1):
        built = sum(p.numel() for p in LR.low_rank(layer, r).parameters())
        assert LR.low_rank_params(layer, r) == built == r * (m + n) + bias
        assert (built < original) == (r <= be)


def test_break_even_examples_from_the_docstring():
    assert LR.break_even_rank(nn.Linear(512, 256)) == 170
    assert LR.break_even_rank(nn.Conv2d(64, 64, 3)) == 57
    assert LR.break_even_rank(nn.Linear(10, 1)) == 0  # a single row: no rank saves anything


@pytest.mark.parametrize("fn", [LR.low_rank, LR.svd_error, LR.low_rank_params])
def test_bad_rank_is_refused(fn):
    layer = nn.Linear(5, 3)
    for bad in (0, -1, 4):
        with pytest.raises(ValueError, match="rank"):
            fn(layer, bad)
    for bad in (True, 2.0, "2", None):
        with pytest.raises(TypeError, match="rank"):
            fn(layer, bad)
    assert fn(layer, np.int64(3)) is not None


@pytest.mark.parametrize("fn", [LR.low_rank, LR.svd_error, LR.low_rank_params, LR.break_even_rank])
def test_unsupported_modules_are_refused(fn):
    args = () if fn is LR.break_even_rank else (1,)
    with pytest.raises(ValueError, match="groups"):
        fn(nn.Conv2d(4, 4, 3, groups=2), *args)
    for bad in (nn.ConvTranspose2d(3, 4, 3), nn.BatchNorm2d(3), "linear", None):
        with pytest.raises(TypeError, match="module"):
            fn(bad, *args)
    layer = nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="module.weight"):
        fn(layer, *args)
