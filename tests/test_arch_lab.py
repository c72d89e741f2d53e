"""cvbook_lib.arch_lab: chapter 11's experiments, each against an independent computation."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
import torch.nn as nn
import torch.nn.functional as F

from cvbook_lib import arch_lab as L


def test_zero_init_residual_blocks_are_identities():
    torch.manual_seed(0)
    deep = L.ResidualMLP(6, 8, 5, 3, shortcut=True, zero_init_residual=True).eval()
    x = torch.randn(4, 6)
    with torch.no_grad():
        shallow = deep.fc(deep.stem(x))          # the stem ends in ReLU, so relu(0 + h) = h
        torch.testing.assert_close(deep(x), shallow)


def test_plain_and_residual_have_the_same_layers():
    plain, res = L.ResidualMLP(6, 8, 3, 3, shortcut=False), L.ResidualMLP(6, 8, 3, 3, shortcut=True)
    assert [(n, p.shape) for n, p in plain.named_parameters()] == [(n, p.shape) for n, p in res.named_parameters()]
    linear = sum(isinstance(m, nn.Linear) for m in plain.modules())
    assert linear == 2 * 3 + 2


def test_train_classifier_equals_a_torch_loop():
    x, y = torch.randn(40, 5, generator=torch.Generator().manual_seed(1)), torch.arange(40) % 3
    torch.manual_seed(0)
    ours = L.ResidualMLP(5, 6, 1, 3)
    theirs = L.ResidualMLP(5, 6, 1, 3)
    theirs.load_state_dict(ours.state_dict())
    history = L.train_classifier(ours, x, y, epochs=3, lr=1e-2, batch_size=16, seed=4)
    opt, gen, expected = torch.optim.Adam(theirs.parameters(), lr=1e-2), torch.Generator().manual_seed(4), []
    for _ in range(3):
        perm, wrong = torch.randperm(40, generator=gen), 0
        for i in range(0, 40, 16):
            idx = perm[i:i + 16]
            out = theirs(x[idx])
            loss = F.cross_entropy(out, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            wrong += (out.argmax(1) != y[idx]).sum().item()
        expected.append(wrong / 40)
    assert history == expected
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b)


def test_train_classifier_refuses_labels_the_model_cannot_have():
    model = L.ResidualMLP(5, 6, 1, 3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"y must hold class indices in \[0, 3\)"):
        L.train_classifier(model, torch.randn(4, 5), torch.tensor([0, 1, 2, 3]), epochs=1)
    with pytest.raises(ValueError, match="model cannot take x"):
        L.train_classifier(model, torch.randn(4, 7), torch.tensor([0, 1, 2, 0]), epochs=1)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("seed", [0, 3])
def test_relu_recovery_equals_a_point_by_point_rank_test(seed):
    out = L.relu_recovery([2, 3, 7], n_points=60, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    x = out["x"]
    for n in (2, 3, 7):
        T = torch.randn(n, 2, generator=gen, dtype=torch.float64)    # the same draws, in the same order
        y = torch.relu(x @ T.T)
        frac, rec = out[n]
        ok = []
        for p in range(len(x)):
            rows = T[y[p] > 0]
            ok.append(len(rows) >= 2 and np.linalg.matrix_rank(rows.numpy()) == 2)
        assert frac == pytest.approx(np.mean(ok))
        good = torch.tensor(ok)
        torch.testing.assert_close(rec[good], x[good])
        assert rec[~good].isnan().all()


def test_channel_jacobian_of_a_pointwise_group_conv_is_its_block_diagonal_weight():
    conv = nn.Conv2d(6, 6, 1, groups=3, bias=False)
    jac = L.channel_jacobian(conv, 6)
    w = conv.weight.detach().double().abs().view(6, 2)
    expected = torch.block_diag(*[w[2 * g:2 * g + 2] for g in range(3)])
    torch.testing.assert_close(jac, expected)


def test_synthetic_shapes_images_follow_their_masks():
    images, masks = L.synthetic_shapes(8, size=20, noise=0.0, seed=2)
    assert images.shape == (8, 1, 20, 20) and masks.shape == (8, 20, 20) and set(masks.unique().tolist()) <= {0, 1}
    torch.testing.assert_close(images[:, 0], masks.float() * 0.6 + 0.2)
    assert (masks.flatten(1).sum(1) > 0).all()


@pytest.mark.parametrize("width", [1, 2])
def test_boundary_band_equals_scipy_dilation_minus_erosion(width):
    _, masks = L.synthetic_shapes(3, size=24, seed=5)
    band = L.boundary_band(masks, width)
    size = (1, 2 * width + 1, 2 * width + 1)
    m = masks.numpy()
    expected = ndi.grey_dilation(m, size=size, mode="nearest") != ndi.grey_erosion(m, size=size, mode="nearest")
    assert np.array_equal(band.numpy(), expected)


def test_arch_view_stages_add_up_and_equal_a_real_model_profile():
    from cvbook_lib.models import mobilenet_v2
    from cvbook_lib.profile import profile
    from cvbook_lib.widgets import arch_view

    view = arch_view("mobilenet_v2", 96, 0.5)
    real = profile(mobilenet_v2(width_mult=0.5), 96)         # real weights on the CPU, not the meta device
    assert (view["params"], view["macs"], view["activation_bytes"]) == (real.params, real.macs,
                                                                        real.activation_bytes)
    assert sum(s["params"] for s in view["stages"]) == real.params
    assert sum(s["macs"] for s in view["stages"]) == real.macs
    with pytest.raises(ValueError, match="width_mult must be 1.0 for resnet18"):
        arch_view("resnet18", 224, 0.5)


def test_arch_view_fast_paths_give_the_reference_profile():
    """The explorer's models are built without initialising their meta weights, and profile() uses shapes-only
    kernels for slow meta ops: the profiles equal those of freshly built models without them."""
    import torch

    from cvbook_lib import profile as P
    from cvbook_lib.widgets import architectures as WA

    for name, width, size in (("mobilenet_v2", 0.5, 96), ("densenet121", 1.0, 64), ("mobilenet_v3_large", 1.0, 64),
                              ("googlenet", 1.0, 96), ("shufflenet_v2_x1_0", 1.0, 64)):
        build, takes_width, _ = WA.ARCHITECTURES[name]
        with torch.device("meta"):
            fresh = build(width_mult=width) if takes_width else build()
        fast = P.profile(WA._model(name, width), size)
        saved, P._META_FAST = P._META_FAST, {}
        try:
            assert P.profile(fresh, size) == fast, name
        finally:
            P._META_FAST = saved
