"""cvbook_lib.cka against the HSIC formula with an explicit centring matrix, written here in numpy float64
(Kornblith et al. 2019), and the invariances the paper proves: orthogonal maps and isotropic scaling, but not
arbitrary invertible linear maps."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cvbook_lib import cka as C


def _np_hsic(K, L):
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    return np.trace(K @ H @ L @ H) / (n - 1) ** 2


def _np_cka(K, L):
    return _np_hsic(K, L) / np.sqrt(_np_hsic(K, K) * _np_hsic(L, L))


def _np_linear_cka(x, y):
    x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)
    return _np_cka(x @ x.T, y @ y.T)


def _np_rbf(x, threshold):
    x = x.reshape(len(x), -1)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2 / (2 * threshold**2 * np.median(d2)))


def _randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


SHAPES = [((20, 3), (20, 5)), ((6, 10), (6, 4)), ((9, 2, 3, 3), (9, 7)), ((2, 1), (2, 3)), ((50, 8), (50, 8))]


@pytest.mark.parametrize("sx,sy", SHAPES)
def test_linear_cka_is_the_hsic_formula(sx, sy):
    x, y = _randn(*sx, seed=1), _randn(*sy, seed=2)
    y = y + 0.5 * x.reshape(len(x), -1)[:, :1]  # some shared signal
    expected = _np_linear_cka(x.numpy(), y.numpy())
    assert C.linear_cka(x, y).item() == pytest.approx(expected, rel=1e-10)
    assert C.cka(C.gram_linear(x), C.gram_linear(y)).item() == pytest.approx(expected, rel=1e-10)


def test_both_routes_agree_and_float32_is_close():
    """n >= d1 + d2 takes the [d, d] route, otherwise the [n, n] one; float32 stays within 1e-5."""
    x, y = _randn(30, 4, seed=3), _randn(30, 6, seed=4) + _randn(30, 1, seed=3)
    wide_x, wide_y = torch.cat([x, x], 1).repeat(1, 3), torch.cat([y, y], 1).repeat(1, 3)  # d1 + d2 > n
    ref = _np_linear_cka(x.numpy(), y.numpy())
    assert C.linear_cka(x, y).item() == pytest.approx(ref, rel=1e-10)
    assert C.linear_cka(wide_x, wide_y).item() == pytest.approx(ref, rel=1e-10)  # duplicated columns: same CKA
    out = C.linear_cka(x.float(), y.float())
    assert out.dtype == torch.float32 and out.item() == pytest.approx(ref, abs=1e-5)
    assert C.linear_cka(x.half(), y.half()).dtype == torch.float16


@pytest.mark.parametrize("n", [2, 5, 12])
def test_hsic_and_kernel_cka_on_arbitrary_matrices(n):
    K, L = _randn(n, n, seed=5), _randn(n, n, seed=6)  # not symmetric: tr(K H L H) still defined
    assert C.hsic(K, L).item() == pytest.approx(_np_hsic(K.numpy(), L.numpy()), rel=1e-10, abs=1e-14)
    Kp, Lp = K @ K.T, L @ L.T + K @ K.T
    assert C.cka(Kp, Lp).item() == pytest.approx(_np_cka(Kp.numpy(), Lp.numpy()), rel=1e-10)


@pytest.mark.parametrize("threshold", [0.5, 1.0, 2.0])
def test_gram_rbf_uses_the_median_distance(threshold):
    for n in (7, 8):  # odd and even number n² of distances
        x = _randn(n, 3, seed=n)
        np.testing.assert_allclose(C.gram_rbf(x, threshold).numpy(), _np_rbf(x.numpy(), threshold), rtol=1e-12)
    x, y = _randn(15, 3, seed=7), _randn(15, 2, seed=8)
    expected = _np_cka(_np_rbf(x.numpy(), threshold), _np_rbf(y.numpy(), threshold))
    assert C.cka(C.gram_rbf(x, threshold), C.gram_rbf(y, threshold)).item() == pytest.approx(expected, rel=1e-10)


def test_gradcheck_float64():
    x, y = _randn(6, 3, seed=9).requires_grad_(), _randn(6, 4, seed=10).requires_grad_()
    assert torch.autograd.gradcheck(C.linear_cka, (x, y))
    K, L = _randn(5, 5, seed=11).requires_grad_(), _randn(5, 5, seed=12).requires_grad_()
    assert torch.autograd.gradcheck(C.hsic, (K, L))
    assert torch.autograd.gradcheck(lambda a, b: C.cka(a @ a.T, b @ b.T), (K, L))


_dims = st.tuples(st.integers(3, 25), st.integers(1, 6), st.integers(1, 6), st.integers(0, 10_000))


@settings(max_examples=25, deadline=None)
@given(_dims)
def test_properties(dims):
    n, d1, d2, seed = dims
    x, y = _randn(n, d1, seed=seed), _randn(n, d2, seed=seed + 1)
    value = C.linear_cka(x, y).item()
    assert -1e-12 <= value <= 1 + 1e-12
    assert C.linear_cka(y, x).item() == pytest.approx(value, rel=1e-9, abs=1e-12)  # symmetric
    assert C.linear_cka(x, x).item() == pytest.approx(1.0, rel=1e-12)
    Q = torch.linalg.qr(_randn(d1, d1, seed=seed + 2)).Q  # orthogonal
    assert C.linear_cka(x @ Q, y).item() == pytest.approx(value, rel=1e-8, abs=1e-12)
    assert C.linear_cka(3.7e3 * x, 1e-3 * y).item() == pytest.approx(value, rel=1e-8, abs=1e-12)
    assert C.linear_cka(x + 5.0, y - 2.0).item() == pytest.approx(value, rel=1e-8, abs=1e-12)  # centring


def test_not_invariant_to_an_invertible_linear_map():
    """Stretching one direction of X (an invertible, non-orthogonal map) changes CKA; CCA would not notice."""
    x = _randn(40, 2, seed=13)
    y = x[:, :1] + 0.1 * _randn(40, 1, seed=14)  # y follows the first feature of x
    A = torch.tensor([[1.0, 0.0], [0.0, 20.0]], dtype=torch.float64)  # det 20
    before, after = C.linear_cka(x, y).item(), C.linear_cka(x @ A, y).item()
    assert before > 0.6 and after < 0.05
    assert after == pytest.approx(_np_linear_cka((x @ A).numpy(), y.numpy()), rel=1e-10)


def test_independent_features_give_small_cka():
    """For n >> d the centred cross-covariance of independent features shrinks like 1/n."""
    values = [C.linear_cka(_randn(2000, 5, seed=s), _randn(2000, 5, seed=s + 100)).item() for s in range(3)]
    assert max(values) < 0.01
    assert C.linear_cka(_randn(2000, 5, seed=1), _randn(2000, 5, seed=1) @ _randn(5, 5, seed=2)).item() > 0.3


def test_layer_features_and_layerwise_cka():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    x = torch.randn(8, 1, 8, 8)
    feats = C.layer_features(net, x)
    assert list(feats) == ["0", "1", "2", "3"]
    assert [tuple(f.shape) for f in feats.values()] == [(8, 144), (8, 144), (8, 144), (8, 5)]
    with torch.no_grad():
        torch.testing.assert_close(feats["3"], net(x))
        torch.testing.assert_close(feats["1"], net[1](net[0](x)).flatten(1))
    assert not any(f.requires_grad for f in feats.values())
    some = C.layer_features(net, x, layers=[-1, "1"])
    assert list(some) == ["1", "3"]
    named = nn.Sequential()
    named.add_module("stem", nn.Linear(3, 4))
    named.add_module("head", nn.Linear(4, 2))
    assert list(C.layer_features(named, torch.randn(5, 3), layers=["head"])) == ["head"]
    assert C.linear_cka(feats["2"], feats["1"]).item() == pytest.approx(1.0)  # Flatten changes nothing


@pytest.mark.parametrize(
    "x,y,match",
    [
        (_randn(5, 3), _randn(6, 3), "same n"),
        (_randn(1, 3), _randn(1, 3), "n >= 2"),
        (torch.ones(5, 3, dtype=torch.float64), _randn(5, 3), "x is constant"),
        (_randn(5, 3), torch.ones(5, 2, dtype=torch.float64), "y is constant"),
        (_randn(5), _randn(5), "at least 2-D"),
        (_randn(5, 0), _randn(5, 2), "at least one feature"),
        (torch.full((4, 2), float("nan"), dtype=torch.float64), _randn(4, 2), "finite"),
    ],
)
def test_bad_linear_cka_inputs(x, y, match):
    with pytest.raises(ValueError, match=match):
        C.linear_cka(x, y)


def test_bad_types_and_kernels():
    with pytest.raises(TypeError, match="x"):
        C.linear_cka(torch.ones(4, 2, dtype=torch.long), _randn(4, 2))
    with pytest.raises(TypeError, match="same dtype"):
        C.linear_cka(_randn(4, 2).float(), _randn(4, 2))
    with pytest.raises(TypeError, match="y"):
        C.linear_cka(_randn(4, 2), np.ones((4, 2)))
    with pytest.raises(ValueError, match="square"):
        C.hsic(_randn(3, 4), _randn(3, 4))
    with pytest.raises(ValueError, match="same shape"):
        C.cka(_randn(3, 3), _randn(4, 4))
    with pytest.raises(ValueError, match="K has HSIC"):
        C.cka(torch.ones(4, 4, dtype=torch.float64), _randn(4, 4))
    with pytest.raises(ValueError, match="threshold"):
        C.gram_rbf(_randn(4, 2), 0.0)
    with pytest.raises(ValueError, match="median"):
        C.gram_rbf(torch.ones(5, 2))
    net = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(TypeError, match="model"):
        C.layer_features(nn.Linear(3, 2), torch.randn(2, 3))
    with pytest.raises(ValueError, match="layers"):
        C.layer_features(net, torch.randn(2, 3), layers=["nope"])
    with pytest.raises(ValueError, match="layers"):
        C.layer_features(net, torch.randn(2, 3), layers=[3])
    with pytest.raises(TypeError, match="layers"):
        C.layer_features(net, torch.randn(2, 3), layers="0")
    with pytest.raises(ValueError, match="x of shape"):
        C.layer_features(net, torch.randn(2, 4))
