"""cvbook_lib.mixture against sklearn.mixture.GaussianMixture started from the same weights, means and
precisions (n_init=1): the same parameters after every fit, the same number of iterations and the same
log-likelihood history, for every covariance type, on separated and overlapping data; EM never decreases
the log-likelihood (Dempster, Laird & Rubin 1977)."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from cvbook_lib import mixture as M

TYPES = ["full", "tied", "diag", "spherical"]


def _blobs(sep, d, n=240, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * sep
    parts = [rng.normal(size=(n // k, d)) @ rng.normal(size=(d, d)) * 0.5 + c for c in centres]
    return np.concatenate(parts)


def _digits_pca():
    x = load_digits().data[:400]
    return PCA(4, random_state=0).fit_transform(x) / 10.0


DATA = {
    "separated-2d": lambda: _blobs(5.0, 2),
    "overlapping-2d": lambda: _blobs(0.7, 2, seed=1),
    "separated-3d": lambda: _blobs(4.0, 3, seed=2),
    "overlapping-3d": lambda: _blobs(0.8, 3, seed=3),
    "digits-pca4": _digits_pca,
}


def _init(x, k, covariance_type, seed=0):
    rng = np.random.default_rng(seed)
    n, d = x.shape
    w = rng.dirichlet(np.full(k, 5.0))
    m = x[rng.choice(n, k, replace=False)]
    A = rng.normal(size=(k, d, d))
    cov = A @ A.transpose(0, 2, 1) / d + np.eye(d)
    p = {
        "full": np.linalg.inv(cov),
        "tied": np.linalg.inv(cov[0]),
        "diag": 1 / np.diagonal(cov, axis1=1, axis2=2),
        "spherical": d / np.trace(cov, axis1=1, axis2=2),
    }[covariance_type]
    return w, m, p


def _sklearn(x, k, covariance_type, w, m, p, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(
            k,
            covariance_type=covariance_type,
            weights_init=w,
            means_init=m,
            precisions_init=p,
            random_state=0,
            n_init=1,
            **kw,
        ).fit(x)


def _t(a):
    return torch.as_tensor(np.asarray(a), dtype=torch.float64)


def _assert_same(ours, ref):
    close = dict(rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(ours.weights, _t(ref.weights_), **close)
    torch.testing.assert_close(ours.means, _t(ref.means_), **close)
    torch.testing.assert_close(ours.covariances, _t(ref.covariances_), **close)
    torch.testing.assert_close(ours.precisions, _t(ref.precisions_), rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(ours.precisions_cholesky, _t(ref.precisions_cholesky_), rtol=1e-8, atol=1e-10)
    assert ours.n_iter == ref.n_iter_ and ours.converged == ref.converged_
    assert ours.lower_bound == pytest.approx(ref.lower_bound_, rel=1e-12, abs=1e-12)
    torch.testing.assert_close(ours.lower_bounds, _t(ref.lower_bounds_), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("data", list(DATA))
def test_em_equals_sklearn(data, covariance_type):
    x = DATA[data]()
    k = 3
    w, m, p = _init(x, k, covariance_type)
    ref = _sklearn(x, k, covariance_type, w, m, p)
    ours = M.gaussian_mixture_em(_t(x), k, _t(w), _t(m), _t(p), covariance_type=covariance_type)
    _assert_same(ours, ref)
    assert bool((ours.lower_bounds.diff() >= -1e-10).all())


@pytest.mark.parametrize("covariance_type", TYPES)
def test_tol_reg_covar_and_max_iter_follow_sklearn(covariance_type):
    x = _blobs(1.0, 2, seed=4)
    w, m, p = _init(x, 4, covariance_type, seed=4)
    for kw in (dict(tol=1e-6, max_iter=500), dict(tol=0.0, max_iter=7), dict(reg_covar=0.5), dict(max_iter=1)):
        ref = _sklearn(x, 4, covariance_type, w, m, p, **kw)
        _assert_same(M.gaussian_mixture_em(_t(x), 4, _t(w), _t(m), _t(p), covariance_type, **kw), ref)
    assert M.gaussian_mixture_em(_t(x), 4, _t(w), _t(m), _t(p), covariance_type, tol=0.0, max_iter=7).n_iter == 7


def _partition_precisions(x, m, k, covariance_type, reg_covar=1e-6):
    """The documented start without precisions_init, in numpy: covariances of the nearest-mean partition."""
    label = ((x[:, None, :] - m[None]) ** 2).sum(-1).argmin(1)
    resp = np.eye(k)[label]
    nk = resp.sum(0) + 10 * np.finfo(float).eps
    mu = resp.T @ x / nk[:, None]
    covs = np.stack([(resp[:, j, None] * (x - mu[j])).T @ (x - mu[j]) / nk[j] for j in range(k)])
    d = x.shape[1]
    if covariance_type == "full":
        return np.linalg.inv(covs + reg_covar * np.eye(d))
    if covariance_type == "tied":
        return np.linalg.inv((nk[:, None, None] * covs).sum(0) / nk.sum() + reg_covar * np.eye(d))
    diag = np.diagonal(covs, axis1=1, axis2=2) + reg_covar
    return 1 / diag if covariance_type == "diag" else 1 / diag.mean(1)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_start_without_precisions(covariance_type):
    x = _blobs(0.9, 2, seed=5)
    w, m, _ = _init(x, 3, covariance_type, seed=5)
    ours = M.gaussian_mixture_em(_t(x), 3, _t(w), _t(m), None, covariance_type)
    _assert_same(ours, _sklearn(x, 3, covariance_type, w, m, _partition_precisions(x, m, 3, covariance_type)))


@pytest.mark.parametrize("covariance_type", TYPES)
def test_log_likelihood_and_posterior_equal_score_and_predict_proba(covariance_type):
    x = _blobs(1.5, 3, seed=7)
    w, m, p = _init(x, 3, covariance_type, seed=7)
    ref = _sklearn(x, 3, covariance_type, w, m, p)
    fit = M.gaussian_mixture_em(_t(x), 3, _t(w), _t(m), _t(p), covariance_type)
    xt = _blobs(1.5, 3, n=30, seed=8)  # new samples
    # a fresh estimator given fitted parameters (precision Cholesky from numpy's inverse of chol(Σ))
    g = GaussianMixture(3, covariance_type=covariance_type)
    g.weights_, g.means_, g.covariances_ = ref.weights_, ref.means_, ref.covariances_
    cov = ref.covariances_
    if covariance_type in ("full", "tied"):
        g.precisions_cholesky_ = np.swapaxes(np.linalg.inv(np.linalg.cholesky(cov)), -1, -2)
    else:
        g.precisions_cholesky_ = 1 / np.sqrt(cov)
    g.n_features_in_ = 3
    args = (_t(xt), fit.weights, fit.means, fit.covariances, covariance_type)
    assert M.gmm_log_likelihood(*args).item() == pytest.approx(g.score(xt), rel=1e-12)
    proba = M.gmm_predict_proba(*args)
    torch.testing.assert_close(proba, _t(g.predict_proba(xt)), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(proba.sum(1), torch.ones(30, dtype=torch.float64))


_case = st.tuples(
    st.integers(8, 40), st.integers(1, 3), st.integers(1, 4), st.sampled_from(TYPES), st.integers(0, 10_000)
)


@settings(max_examples=25, deadline=None)
@given(_case)
def test_log_likelihood_never_decreases(case):
    """Exact EM (reg_covar=0) is monotone. Skipped: a component collapsing onto <= D points (a variance of 1e-14
    or an error): the likelihood is then unbounded and sklearn's expanded quadratic form loses all its digits."""
    n, d, k, covariance_type, seed = case
    x = np.random.default_rng(seed).normal(size=(n, d)) * np.random.default_rng(seed + 1).uniform(0.1, 3, size=d)
    w, m, p = _init(x, k, covariance_type, seed=seed)
    try:
        res = M.gaussian_mixture_em(_t(x), k, _t(w), _t(m), _t(p), covariance_type, tol=1e-8, reg_covar=0.0)
    except ValueError as err:
        assume("ill-defined" not in str(err))
        raise
    cov = res.covariances
    smallest = torch.linalg.eigvalsh(cov).min() if covariance_type in ("full", "tied") else cov.min()
    assume(smallest.item() > 1e-6)
    assert bool((res.lower_bounds.diff() >= -1e-10).all()), res.lower_bounds
    final = M.gmm_log_likelihood(_t(x), res.weights, res.means, res.covariances, covariance_type).item()
    assert final >= res.lower_bound - 1e-10  # the last M-step does not lower it either


def test_reg_covar_can_lower_the_log_likelihood_slightly():
    """reg_covar·I makes the M-step a little off the maximiser: the guarantee is then only approximate."""
    x = np.random.default_rng(3).normal(size=(6, 1)) * np.random.default_rng(4).uniform(0.1, 3, size=1)
    w, m, p = _init(x, 3, "full", seed=3)
    steps = {
        reg: M.gaussian_mixture_em(_t(x), 3, _t(w), _t(m), _t(p), tol=1e-8, reg_covar=reg).lower_bounds.diff()
        for reg in (0.0, 1e-3)
    }
    assert steps[0.0].min() > 0 and -1e-6 < steps[1e-3].min() < -1e-8


def test_float32_and_devices_of_results():
    x = _blobs(3.0, 2, seed=9)
    w, m, p = _init(x, 2, "full", seed=9)
    ref = M.gaussian_mixture_em(_t(x), 2, _t(w), _t(m), _t(p))
    low = M.gaussian_mixture_em(_t(x).float(), 2, _t(w).float(), _t(m).float(), _t(p).float())
    assert low.means.dtype == torch.float64 and low.lower_bounds.dtype == torch.float64
    torch.testing.assert_close(low.means, ref.means, rtol=1e-5, atol=1e-5)


def test_bad_inputs():
    x = _t(_blobs(2.0, 2, n=30))
    w, m, p = _t([0.5, 0.5]), x[:2].clone(), torch.eye(2, dtype=torch.float64).repeat(2, 1, 1)

    def em(**kw):
        args = dict(x=x, n_components=2, weights_init=w, means_init=m, precisions_init=p)
        return M.gaussian_mixture_em(**{**args, **kw})

    cases = [
        (dict(n_components=0), ValueError, "n_components"),
        (dict(n_components=31), ValueError, "n_components"),
        (dict(n_components=2.0), TypeError, "n_components"),
        (dict(weights_init=_t([0.5, 0.4])), ValueError, "sum to 1"),
        (dict(weights_init=_t([1.5, -0.5])), ValueError, r"weights_init must be in \[0, 1\]"),
        (dict(weights_init=_t([0.2, 0.3, 0.5])), ValueError, "weights_init must have shape"),
        (dict(means_init=x[:3]), ValueError, "means_init must have shape"),
        (dict(precisions_init=torch.eye(2, dtype=torch.float64)), ValueError, "precisions_init must have shape"),
        (dict(precisions_init=-p), ValueError, "positive-definite"),
        (
            dict(precisions_init=p + torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)),
            ValueError,
            "symmetric",
        ),
        (dict(precisions_init=_t([1.0, 0.0]), covariance_type="spherical"), ValueError, "positive"),
        (dict(covariance_type="Full"), ValueError, "covariance_type"),
        (dict(x=x[:, 0]), ValueError, "x must be 2-D"),
        (
            dict(x=x[:1], n_components=1, weights_init=_t([1.0]), means_init=m[:1], precisions_init=p[:1]),
            ValueError,
            "N >= 2",
        ),
        (dict(x=x.long()), TypeError, "x"),
        (dict(x=torch.full_like(x, float("nan"))), ValueError, "x must be finite"),
        (dict(tol=-1.0), ValueError, "tol"),
        (dict(reg_covar=-1e-6), ValueError, "reg_covar"),
        (dict(max_iter=0), ValueError, "max_iter"),
        (dict(weights_init=[0.5, 0.5]), TypeError, "weights_init"),
    ]
    for kw, err, match in cases:
        with pytest.raises(err, match=match):
            em(**kw)
    collapsed = torch.zeros(30, 2, dtype=torch.float64)  # one point repeated: Σ = 0 without reg_covar
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        em(x=collapsed, reg_covar=0.0)
    with pytest.raises(ValueError, match="covariances must be symmetric positive-definite"):
        M.gmm_log_likelihood(x, w, m, -p)
    with pytest.raises(ValueError, match="means must have x's D"):
        M.gmm_predict_proba(x, w, m[:, :1], p)
    with pytest.raises(ValueError, match="weights must sum to 1"):
        M.gmm_predict_proba(x, _t([0.7, 0.7]), m, p)
