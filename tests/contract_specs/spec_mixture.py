"""Contract cases for cvbook_lib.mixture (reference: sklearn.mixture.GaussianMixture with n_init=1 and the same
weights_init / means_init / precisions_init; ``score`` and ``predict_proba`` of an estimator given the parameters).

Deliberate differences (module docstring): tensors only (sklearn also reads lists); int/bool/complex tensors are
refused (``float_only``; sklearn casts ints and bools to float64); the fitted-model
functions validate weights and covariances as ``gaussian_mixture_em`` validates its start (sklearn's ``score``
uses whatever attributes are set).
"""

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from contract_specs import Case
from cvbook_lib import mixture as M

_rng = np.random.default_rng(0)
_X = torch.from_numpy(np.concatenate([_rng.normal(size=(15, 2)) + c for c in ([0, 0], [4, 1], [1, 4])]))
_W = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
_MU = _X[[0, 20, 40]].clone()
_A = torch.from_numpy(_rng.normal(size=(3, 2, 2)))
_COV = _A @ _A.mT / 2 + torch.eye(2, dtype=torch.float64)
_PREC = {
    "full": torch.linalg.inv(_COV),
    "tied": torch.linalg.inv(_COV[0]),
    "diag": 1 / _COV.diagonal(dim1=1, dim2=2),
    "spherical": 2 / _COV.diagonal(dim1=1, dim2=2).sum(1),
}
_COVS = {
    "full": _COV,
    "tied": _COV[0],
    "diag": _COV.diagonal(dim1=1, dim2=2).clone(),
    "spherical": _COV.diagonal(dim1=1, dim2=2).mean(1),
}
_PREC = {k: v.contiguous() for k, v in _PREC.items()}  # the fuzzer writes into flat views of clones
_COVS = {k: v.contiguous() for k, v in _COVS.items()}


def _np(t):
    return None if t is None else t.numpy() if isinstance(t, torch.Tensor) else t


def _em_ref(
    x,
    n_components,
    weights_init,
    means_init,
    precisions_init=None,
    covariance_type="full",
    tol=1e-3,
    reg_covar=1e-6,
    max_iter=100,
):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        g = GaussianMixture(
            n_components,
            covariance_type=covariance_type,
            tol=tol,
            reg_covar=reg_covar,
            max_iter=max_iter,
            n_init=1,
            weights_init=_np(weights_init),
            means_init=_np(means_init),
            precisions_init=_np(precisions_init),
            random_state=0,
        ).fit(_np(x))
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
    return dict(
        weights=t(g.weights_),
        means=t(g.means_),
        covariances=t(g.covariances_),
        precisions=t(g.precisions_),
        precisions_cholesky=t(g.precisions_cholesky_),
        lower_bound=float(g.lower_bound_),
        lower_bounds=t(g.lower_bounds_),
        n_iter=g.n_iter_,
        converged=g.converged_,
    )


def _fitted_ref(x, weights, means, covariances, covariance_type="full"):
    g = GaussianMixture(len(weights), covariance_type=covariance_type)
    cov = covariances.double().numpy()
    if covariance_type in ("full", "tied"):
        chol = np.swapaxes(np.linalg.inv(np.linalg.cholesky(cov)), -1, -2)
    else:
        chol = 1 / np.sqrt(cov)
    g.weights_, g.means_, g.covariances_, g.precisions_cholesky_ = (
        weights.double().numpy(),
        means.double().numpy(),
        cov,
        chol,
    )
    g.n_features_in_ = means.shape[1]
    return g, x.numpy()


def _score_ref(x, weights, means, covariances, covariance_type="full"):
    g, xn = _fitted_ref(x, weights, means, covariances, covariance_type)
    return torch.tensor(g.score(xn), dtype=torch.float64)


def _proba_ref(x, weights, means, covariances, covariance_type="full"):
    g, xn = _fitted_ref(x, weights, means, covariances, covariance_type)
    return torch.from_numpy(g.predict_proba(xn))


_TENSORS = ("x", "weights_init", "means_init", "precisions_init")
_LISTS = {(a, "list"): "tensors only" for a in (*_TENSORS, "weights", "means", "covariances")}
# weights / means / covariances of a fitted model: checked (weights in [0, 1] summing to 1, finite values, exact
# shapes, positive-definite covariances) as the start of gaussian_mixture_em; sklearn's score uses any attributes
# that broadcast
_WHY = "validated as the start of gaussian_mixture_em; sklearn's score takes any attributes set"
_CHECKED = {(a, m): _WHY for a in ("weights", "means", "covariances") for m in ("nan", "inf", "-inf", "empty-last")}
_CHECKED.update({(a, m): _WHY for a in ("weights", "covariances") for m in ("rank+", "rank-")})
_CHECKED.update({("weights", m): _WHY for m in ("x1e4", "x1e-30")})
_FLOAT = set(_TENSORS)


def _em_case(covariance_type, **kw):
    kwargs = dict(
        x=_X,
        n_components=3,
        weights_init=_W,
        means_init=_MU,
        precisions_init=_PREC[covariance_type],
        covariance_type=covariance_type,
        **kw,
    )
    return Case(M.gaussian_mixture_em, kwargs, ref=_em_ref, float_only=_FLOAT, differs=_LISTS, rtol=1e-7, atol=1e-9)


def _fit_cases(fn, ref):
    cases = []
    for ct in ("full", "tied", "diag", "spherical"):
        kwargs = dict(x=_X, weights=_W, means=_MU, covariances=_COVS[ct], covariance_type=ct)
        cases.append(
            Case(
                fn,
                kwargs,
                ref=ref,
                float_only={"x", "weights", "means", "covariances"},
                differs={**_LISTS, **_CHECKED},
                rtol=1e-9,
                atol=1e-12,
            )
        )
    return cases


SPECS = {
    M.gaussian_mixture_em: [
        _em_case("full", tol=1e-3, reg_covar=1e-6, max_iter=100),
        _em_case("tied", tol=1e-4, reg_covar=1e-3, max_iter=20),
        _em_case("diag"),
        _em_case("spherical", max_iter=5),
    ],
    M.gmm_log_likelihood: _fit_cases(M.gmm_log_likelihood, _score_ref),
    M.gmm_predict_proba: _fit_cases(M.gmm_predict_proba, _proba_ref),
}
