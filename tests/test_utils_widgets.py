"""cvbook_lib.utils, the Chapter 1 explorer's pure layer and the exercise checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cvbook_lib import exercises, utils, widgets
from cvbook_lib.conv import conv2d_macs, conv2d_params, conv_output_size, separable_conv2d_macs


def test_fmt_rounds_and_has_no_negative_zero():
    assert utils.fmt(torch.tensor([1.23456, -0.00001])) == "[1.2346, 0.0]"
    assert utils.fmt(np.array([[0.5, 2.0]]), 1) == "[[0.5, 2.0]]"
    assert utils.fmt(torch.tensor(3.14159), 2) == "3.14"
    assert utils.fmt(7) == "7"
    with pytest.raises(TypeError, match="x must be a tensor"):
        utils.fmt({1: 2})
    with pytest.raises(ValueError, match="decimals must be an int >= 0"):
        utils.fmt(1.0, -1)


def test_seed_and_randn_are_reproducible_and_drawn_on_cpu():
    g1, g2 = utils.seed_everything(3), utils.seed_everything(3)
    assert torch.equal(utils.randn(4, generator=g1), utils.randn(4, generator=g2))
    device, gen = utils.setup_notebook(0)
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert torch.backends.cudnn.allow_tf32 is False
    assert torch.equal(utils.randn(2, 3, generator=gen, device=device).cpu(),
                       torch.randn(2, 3, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        utils.seed_everything(-1)
    with pytest.raises(ValueError, match=r"size\[1\] must be an int >= 0"):
        utils.randn(2, -3)


@pytest.mark.parametrize("size,k,s,p,d", [(7, 3, 2, 1, 1), (5, 3, 1, 0, 2), (9, 4, 3, 2, 1), (4, 1, 1, 0, 1)])
def test_conv_geometry_windows_reproduce_the_convolution(size, k, s, p, d):
    """Summing the input over each window the explorer draws gives F.conv2d with an all-ones kernel."""
    g = widgets.conv_geometry(size, k, s, p, d)
    assert g.out == conv_output_size(size, k, s, p, d)
    x = torch.arange(float(size * size)).reshape(1, 1, size, size)
    padded = F.pad(x, (p, p, p, p))[0, 0]
    drawn = torch.tensor([[padded[list(r)][:, list(c)].sum() for c in g.windows] for r in g.windows])
    assert torch.allclose(drawn, F.conv2d(x, torch.ones(1, 1, k, k), stride=s, padding=p, dilation=d)[0, 0])


@pytest.mark.parametrize("size,k,s,p,d", [(3, 3, 2, 1, 1), (4, 4, 2, 1, 1), (2, 3, 3, 0, 2), (5, 2, 1, 1, 1)])
def test_transposed_geometry_is_the_equivalent_direct_convolution(size, k, s, p, d):
    """Stride-1 windows over the zero-inserted grid, with the flipped kernel, give F.conv_transpose2d."""
    g = widgets.conv_geometry(size, k, s, p, d, transposed=True)
    x = torch.randn(1, 1, size, size, dtype=torch.float64)
    w = torch.randn(1, 1, k, k, dtype=torch.float64)
    grid = torch.zeros(g.grid, g.grid, dtype=torch.float64)
    grid[np.ix_(g.data, g.data)] = x[0, 0]
    wf = w[0, 0].flip(0, 1)
    drawn = torch.stack([torch.stack([(grid[np.ix_(r, c)] * wf).sum() for c in g.windows]) for r in g.windows])
    assert torch.allclose(drawn, F.conv_transpose2d(x, w, stride=s, padding=p, dilation=d)[0, 0])


def test_geometry_and_plot_bad_input():
    with pytest.raises(ValueError, match="larger than the padded input"):
        widgets.conv_geometry(3, 5)
    with pytest.raises(ValueError, match="padding <= dilation"):
        widgets.conv_geometry(5, 3, 2, 3, transposed=True)
    with pytest.raises(ValueError, match="position must be < out"):
        widgets.plot_conv_geometry(widgets.conv_geometry(5, 3), position=9)


def test_animation_is_offline_and_explorer_builds():
    for html in (widgets.conv_animation(4, 3, 1, 0), widgets.conv_sweep_animation("stride", [1, 2], size=5)):
        assert "<input" in html and "http://" not in html and "https://" not in html
    with pytest.raises(ValueError, match="parameter must be one of"):
        widgets.conv_sweep_animation("groups", [1, 2])
    with pytest.raises(ValueError, match="larger than the padded input"):
        widgets.conv_sweep_animation("kernel_size", [3, 9], size=5)
    box = widgets.conv_explorer()
    sliders = [w for row in box.children[:2] for w in row.children]
    assert len(sliders) == 7
    sliders[1].value = 7          # kernel larger than the input: the explorer explains instead of failing
    sliders[1].value = 3


def test_exercise_checks():
    assert exercises.check_conv_output_size(conv_output_size(227, 11, 4))
    assert not exercises.check_conv_output_size(54)
    assert "give a number" in repr(exercises.check_conv_output_size("55"))
    assert repr(exercises.check_transpose_output_size(14)).startswith("✓")
    assert not exercises.check_conv_params(conv2d_params(128, 256, 3))
    assert exercises.check_conv_params(256 * 32 * 9 + 256)
    assert exercises.check_separable_ratio(separable_conv2d_macs(64, 128, 3, 8) / conv2d_macs(64, 128, 3, 8))
