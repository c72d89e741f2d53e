"""cvbook_lib.norm against torch.nn.functional, nn.BatchNorm2d, autograd and properties."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from cvbook_lib import norm

G = torch.Generator().manual_seed(0)


def rand(*shape, scale=1.0, shift=0.0):
    return torch.randn(*shape, generator=G, dtype=torch.float64) * scale + shift


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 3, 4, 5), (2, 3, 2, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_torch_and_updates_running_stats(shape, training, affine):
    x = rand(*shape, scale=2, shift=1)
    C = shape[1]
    w, b = (rand(C), rand(C)) if affine else (None, None)
    rm, rv = rand(C), rand(C).abs() + 0.5
    rm2, rv2 = rm.clone(), rv.clone()
    want = F.batch_norm(x, rm2, rv2, w, b, training, 0.3, 1e-4)
    assert_close(norm.batch_norm(x, rm, rv, w, b, training, 0.3, 1e-4), want)
    assert_close(rm, rm2)
    assert_close(rv, rv2)


def test_batchnorm2d_module_loads_state_dict_and_tracks_torch():
    for momentum in (0.1, None):
        ref = nn.BatchNorm2d(4, momentum=momentum).double()
        with torch.no_grad():
            ref.weight.copy_(rand(4))
            ref.bias.copy_(rand(4))
        ours = norm.BatchNorm2d(4, momentum=momentum).double()
        ours.load_state_dict(ref.state_dict())
        for step in range(20):
            x = rand(6, 4, 5, 5, scale=1 + step / 10, shift=step / 5)
            assert_close(ours(x), ref(x))
        for key, value in ref.state_dict().items():
            assert_close(ours.state_dict()[key], value)
        ours.eval()
        ref.eval()
        x = rand(3, 4, 5, 5)
        assert_close(ours(x), ref(x))
    plain = norm.BatchNorm2d(3, affine=False, track_running_stats=False)
    assert set(plain.state_dict()) == set(nn.BatchNorm2d(3, affine=False, track_running_stats=False).state_dict())
    x = rand(4, 3, 2, 2).float()
    assert_close(plain.eval()(x), F.batch_norm(x, None, None, training=True))   # no running stats: batch stats


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("with_weight", [True, False])
def test_batch_norm_backward_matches_autograd(shape, with_weight):
    x = rand(*shape, scale=3).requires_grad_()
    w = (rand(shape[1]) if with_weight else torch.ones(shape[1], dtype=torch.float64)).requires_grad_()
    b = rand(shape[1]).requires_grad_()
    y = F.batch_norm(x, None, None, w, b, training=True, eps=1e-5)
    g = rand(*shape)
    y.backward(g)
    gx, gw, gb = norm.batch_norm_backward(g, x.detach(), w.detach() if with_weight else None)
    assert_close(gx, x.grad)
    assert_close(gw, w.grad)
    assert_close(gb, b.grad)


def test_layer_group_instance_norm_match_torch():
    x = rand(4, 6, 5, 3, scale=2, shift=-1)
    for shape in ((3,), (5, 3), (6, 5, 3)):
        w, b = rand(*shape), rand(*shape)
        assert_close(norm.layer_norm(x, shape, w, b), F.layer_norm(x, shape, w, b))
        assert_close(norm.layer_norm(x, shape), F.layer_norm(x, shape))
    for groups in (1, 2, 3, 6):
        w, b = rand(6), rand(6)
        assert_close(norm.group_norm(x, groups, w, b), F.group_norm(x, groups, w, b))
    rm, rv = rand(6), rand(6).abs() + 0.5
    rm2, rv2 = rm.clone(), rv.clone()
    w, b = rand(6), rand(6)
    assert_close(norm.instance_norm(x, rm, rv, w, b, True, 0.2), F.instance_norm(x, rm2, rv2, w, b, True, 0.2))
    assert_close(rm, rm2)
    assert_close(rv, rv2)
    assert_close(norm.instance_norm(x, rm, rv, w, b, False), F.instance_norm(x, rm2, rv2, w, b, False))
    assert_close(norm.instance_norm(x), F.instance_norm(x))
    assert_close(norm.group_norm(x, 6), norm.instance_norm(x))                 # GN with C groups = IN


def test_dropout():
    x = torch.ones(2000, 50, dtype=torch.float64)
    y = norm.dropout(x, 0.3, generator=torch.Generator().manual_seed(1))
    assert abs(y.mean().item() - 1.0) < 0.01                                    # expectation preserved
    assert set(torch.unique(y).tolist()) == {0.0, 1 / 0.7}
    assert abs((y == 0).double().mean().item() - 0.3) < 0.01                   # p is the DROP probability
    a = norm.dropout(x, 0.5, generator=torch.Generator().manual_seed(7))
    b = norm.dropout(x, 0.5, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    torch.manual_seed(3)
    ours = norm.dropout(x, 0.4)
    torch.manual_seed(3)
    assert torch.equal(ours, F.dropout(x, 0.4))                                 # torch's CPU zero pattern
    assert norm.dropout(x, 0.5, training=False) is x
    assert torch.equal(norm.dropout(x, 1.0), torch.zeros_like(x))


def test_sync_batch_stats_equal_the_concatenated_batch():
    shards = [rand(n, 5, 3, 3, shift=i) for i, n in enumerate((2, 7, 1, 4))]
    mean, var, count = norm.sync_batch_stats(shards)
    full = torch.cat(shards)
    assert count == full.numel() // 5
    assert_close(mean, full.mean(dim=(0, 2, 3)))
    assert_close(var, full.var(dim=(0, 2, 3), unbiased=False))


def test_whitening():
    A = torch.tensor([[2.0, 0.5, 0.0], [0.3, 1.0, 0.2], [0.0, 0.4, 0.5]], dtype=torch.float64)
    x = rand(5000, 3) @ A + torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    for fn in (norm.pca_whiten, norm.zca_whiten):
        w = fn(x, eps=1e-12)
        cov = w.T @ w / w.shape[0]
        assert_close(cov, torch.eye(3, dtype=torch.float64), atol=1e-8, rtol=0)
    xc = x - x.mean(0)
    zca, pca = norm.zca_whiten(x, 1e-12), norm.pca_whiten(x, 1e-12)
    q, _ = torch.linalg.qr(rand(3, 3))
    d_zca = (zca - xc).norm()
    assert d_zca < (pca - xc).norm() and d_zca < (zca @ q - xc).norm()         # ZCA: closest whitened data


def test_spectral_norm_converges():
    w = rand(6, 4, 3, 3)
    target = torch.linalg.matrix_norm(w.reshape(6, -1), ord=2)
    _, sigma1, u = norm.spectral_norm(w, 1, u=rand(6))
    wn, sigma, u = norm.spectral_norm(w, 500, u=u)
    assert_close(sigma, target)
    assert sigma1 <= target + 1e-9                                              # the estimate approaches from below
    assert_close(torch.linalg.matrix_norm(wn.reshape(6, -1), ord=2), torch.tensor(1.0, dtype=torch.float64))


def test_norm_bad_input():
    x = torch.zeros(4, 3, 2, 2)
    with pytest.raises(ValueError, match="running_mean must have 3 elements"):
        norm.batch_norm(x, torch.zeros(4), torch.ones(4), training=True)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        norm.batch_norm(torch.zeros(1, 3), torch.zeros(3), torch.ones(3), training=True)
    with pytest.raises(ValueError, match="required when training=False"):
        norm.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="p must be in"):
        norm.dropout(x, 1.5)
    with pytest.raises(ValueError, match="num_groups=2 must divide"):
        norm.group_norm(x, 2)
    with pytest.raises(ValueError, match="normalized_shape"):
        norm.layer_norm(x, (3,))
    with pytest.raises(ValueError, match="every shard must have 3 channels"):
        norm.sync_batch_stats([x, torch.zeros(2, 4, 2, 2)])
    with pytest.raises(ValueError, match="at least 2 samples"):
        norm.zca_whiten(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="input must be 4-D"):
        norm.BatchNorm2d(3)(torch.zeros(4, 3))
