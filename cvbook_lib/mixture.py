"""EM for a Gaussian mixture, step for step as ``sklearn.mixture.GaussianMixture`` (n_init=1, given init).

Dempster, Laird & Rubin 1977, "Maximum Likelihood from Incomplete Data via the EM Algorithm". The model
``p(x) = Σ_k π_k N(x; μ_k, Σ_k)`` with ``K`` components on ``x [N, D]``. Each iteration:

- E-step: ``log r_nk = log π_k + log N(x_n; μ_k, Σ_k) − logsumexp_j(log π_j + log N(x_n; μ_j, Σ_j))``
  (log domain; the mean of the logsumexp over n is the log-likelihood per sample of the current parameters);
- M-step: ``N_k = Σ_n r_nk + 10·eps``, ``π_k = N_k / Σ_j N_j``, ``μ_k = Σ_n r_nk x_n / N_k`` and
  ``Σ_k = Σ_n r_nk (x_n − μ_k)(x_n − μ_k)ᵀ / N_k + reg_covar·I`` ('full'); 'tied' shares one
  ``Σ = (XᵀX − Σ_k N_k μ_k μ_kᵀ) / N + reg_covar·I``; 'diag' keeps the diagonal; 'spherical' its mean.

EM never decreases the log-likelihood (but see reg_covar below). As in sklearn, ``lower_bound`` is the
log-likelihood per sample computed in the E-step of the *last* iteration (so of the parameters before the
last M-step), the iteration stops once it changes by less than ``tol``, and the log-densities use the Cholesky factor
``P`` of the precision (``Σ⁻¹ = P Pᵀ``): ``log N = −(D log 2π + ‖(x − μ)ᵀP‖²)/2 + log det P``.

With weights, means and precisions given, sklearn's first step is an E-step with them; so here.
sklearn has no deterministic rule when ``precisions_init`` is None (it runs a seeded k-means and pairs
its clusters' covariances with ``means_init`` in k-means' label order). Here the initial covariances are
then those of the hard partition of ``x`` by the nearest initial mean (an M-step on one-hot
responsibilities, with reg_covar): equal to sklearn given the precisions of that partition.

With ``reg_covar > 0`` the M-step is slightly off the maximiser, so the log-likelihood may drop by a hair
(about 1e-8 with reg_covar=1e-3 on tiny data); with ``reg_covar = 0`` EM never lowers it.
Everything is computed in float64 on x's device (inputs must be floating tensors; int/bool/complex are
refused); results are float64. Only tensors are taken (no lists).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._checks import check_choice, check_finite, check_float, check_int, check_tensor

__all__ = ["gaussian_mixture_em", "gmm_log_likelihood", "gmm_predict_proba"]

_TYPES = ("full", "tied", "diag", "spherical")
_FAILED = (
    "Fitting the mixture model failed because some components have ill-defined empirical covariance "
    "(for instance caused by singleton or collapsed samples). Try to decrease the number of components, "
    "increase reg_covar, or scale the input data."
)


@dataclass
class GaussianMixtureResult:
    """What :func:`gaussian_mixture_em` returns (sklearn's fitted attributes without the trailing underscore).

    weights [K]; means [K, D]; covariances and precisions: [K, D, D] 'full', [D, D] 'tied', [K, D] 'diag',
    [K] 'spherical'; precisions_cholesky (same shape); lower_bound: the last log-likelihood per sample;
    lower_bounds [n_iter]: the history, one value per iteration (non-decreasing); n_iter; converged.
    """

    weights: torch.Tensor
    means: torch.Tensor
    covariances: torch.Tensor
    precisions: torch.Tensor
    precisions_cholesky: torch.Tensor
    lower_bound: float
    lower_bounds: torch.Tensor
    n_iter: int
    converged: bool


def _shape(covariance_type: str, k: int, d: int) -> tuple[int, ...]:
    return {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[covariance_type]


def _data(x) -> torch.Tensor:
    check_tensor(x, "x", ndims=(2,), kind="float")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"x must be [N, D] with N >= 1 samples and D >= 1 features, got shape {tuple(x.shape)}")
    check_finite(x, "x")
    return x.to(torch.float64)


def _param(t, name: str, shape: tuple[int, ...], x: torch.Tensor) -> torch.Tensor:
    check_tensor(t, name, kind="float")
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
    if t.device != x.device:
        raise ValueError(f"{name} must be on x's device {x.device}, got {t.device}")
    check_finite(t, name)
    return t.to(torch.float64)


def _weights(w, name: str, k: int, x: torch.Tensor) -> torch.Tensor:
    w64 = _param(w, name, (k,), x)
    atol = 1e-6 if w.dtype == torch.float32 else 1e-8  # sklearn: 1e-6 for float32, else (cast to float64) 1e-8
    if bool((w64 < 0).any() | (w64 > 1).any()):
        raise ValueError(f"{name} must be in [0, 1], got min {w64.min().item():.5g}, max {w64.max().item():.5g}")
    if abs(1.0 - w64.sum().item()) > atol:
        raise ValueError(f"{name} must sum to 1 (within {atol:g}), got sum {w64.sum().item():.10g}")
    return w64


def _check_spd(m: torch.Tensor, name: str) -> None:
    """Symmetric (numpy's isclose) with positive eigenvalues, as sklearn's _check_precision_matrix."""
    sym = torch.isclose(m, m.mT, rtol=1e-5, atol=1e-8).all()
    if not bool(sym) or not bool((torch.linalg.eigvalsh(m) > 0).all()):
        raise ValueError(f"{name} must be symmetric positive-definite")


def _check_cov_like(t: torch.Tensor, name: str, covariance_type: str) -> None:
    if covariance_type in ("full", "tied"):
        _check_spd(t, name)
    elif bool((t <= 0).any()):
        raise ValueError(f"{name} must be positive for covariance_type={covariance_type!r}")


def _chol_from_cov(cov: torch.Tensor, covariance_type: str) -> torch.Tensor:
    """Cholesky factor of the precision from the covariance: ``L = chol(Σ)``, ``P = (L⁻¹)ᵀ`` (upper)."""
    if covariance_type in ("full", "tied"):
        low, info = torch.linalg.cholesky_ex(cov)
        if bool((info != 0).any()):
            raise ValueError(_FAILED)
        eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device).expand_as(cov)
        return torch.linalg.solve_triangular(low, eye, upper=False).mT
    if bool((cov <= 0).any()):
        raise ValueError(_FAILED)
    return 1.0 / cov.sqrt()


def _chol_from_prec(prec: torch.Tensor, covariance_type: str) -> torch.Tensor:
    """Upper ``P`` with ``P Pᵀ = Λ`` from the precision: flip rows and columns, Cholesky, flip back."""
    if covariance_type in ("full", "tied"):
        return torch.linalg.cholesky(prec.flip(-1, -2)).flip(-1, -2)
    return prec.sqrt()


def _prec_from_chol(pc: torch.Tensor, covariance_type: str) -> torch.Tensor:
    return pc @ pc.mT if covariance_type in ("full", "tied") else pc * pc


def _log_gauss(x: torch.Tensor, means: torch.Tensor, pc: torch.Tensor, covariance_type: str) -> torch.Tensor:
    """``log N(x_n; μ_k, Σ_k)`` as Tensor[N, K] from the precision Cholesky factors (sklearn's formulas)."""
    n, d = x.shape
    if covariance_type in ("full", "tied"):
        pk = pc if covariance_type == "full" else pc.expand(means.shape[0], d, d)  # [K, D, D]
        log_det = pk.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # [K]
        y = x @ pk - (means[:, None, :] @ pk)  # [K, N, D]: (x − μ_k)ᵀ P_k
        maha = y.square().sum(-1).T  # [N, K]
    elif covariance_type == "diag":
        prec = pc * pc  # [K, D]
        log_det = pc.log().sum(1)
        maha = (means**2 * prec).sum(1) - 2.0 * (x @ (means * prec).T) + (x**2) @ prec.T
    else:
        prec = pc * pc  # [K]
        log_det = d * pc.log()
        maha = (means**2).sum(1) * prec - 2 * (x @ means.T * prec) + (x * x).sum(1)[:, None] * prec[None, :]
    return -0.5 * (d * math.log(2 * math.pi) + maha) + log_det


def _e_step(x, weights, means, pc, covariance_type):
    weighted = _log_gauss(x, means, pc, covariance_type) + weights.log()  # [N, K]
    norm = torch.logsumexp(weighted, dim=1)  # [N]: log p(x_n)
    return norm.mean(), weighted - norm[:, None]


def _m_step(x, resp, reg_covar: float, covariance_type: str):
    n, d = x.shape
    nk = resp.sum(0) + 10 * torch.finfo(resp.dtype).eps  # [K]
    means = (resp.T @ x) / nk[:, None]  # [K, D]
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    if covariance_type == "full":
        diff = x[None, :, :] - means[:, None, :]  # [K, N, D]
        cov = (resp.T[:, None, :] * diff.mT) @ diff / nk[:, None, None] + reg_covar * eye
    elif covariance_type == "tied":
        cov = (x.T @ x - (nk * means.T) @ means) / nk.sum() + reg_covar * eye
    else:
        cov = (resp.T @ (x * x)) / nk[:, None] - means**2 + reg_covar  # [K, D]
        if covariance_type == "spherical":
            cov = cov.mean(1)
    return nk / nk.sum(), means, cov


def gaussian_mixture_em(
    x: torch.Tensor,
    n_components: int,
    weights_init: torch.Tensor,
    means_init: torch.Tensor,
    precisions_init: torch.Tensor | None = None,
    covariance_type: str = "full",
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
    max_iter: int = 100,
) -> GaussianMixtureResult:
    """Fit a Gaussian mixture by EM from a given start: ``GaussianMixture(n_components, covariance_type=...,
    tol=..., reg_covar=..., max_iter=..., weights_init=..., means_init=..., precisions_init=...).fit(x)``.

    x (Tensor[N, D], floating, finite, N >= 2); n_components (int K, 1 <= K <= N); weights_init (Tensor[K] in
    [0, 1] summing to 1); means_init (Tensor[K, D]); precisions_init (the inverse covariances: [K, D, D]
    'full', [D, D] 'tied' (symmetric positive-definite), [K, D] 'diag', [K] 'spherical' (positive); None:
    from the nearest-mean partition, see the module docstring); covariance_type ('full', 'tied', 'diag',
    'spherical'); tol (finite float >= 0): stop once the log-likelihood per sample changes by less; reg_covar
    (float >= 0) added to every covariance diagonal; max_iter (int >= 1; sklearn fails at 0 with a given
    precisions_init).

    Returns: :class:`GaussianMixtureResult` (float64 on x's device): sklearn's ``weights_``, ``means_``,
    ``covariances_``, ``precisions_``, ``precisions_cholesky_``, ``lower_bound_``, ``lower_bounds_``,
    ``n_iter_``, ``converged_``. Raises ValueError when a covariance stops being positive-definite.
    """
    covariance_type = check_choice(covariance_type, "covariance_type", _TYPES)
    xd = _data(x)
    n, d = xd.shape
    if n < 2:
        raise ValueError(f"x must hold N >= 2 samples, got shape {tuple(x.shape)}")
    k = check_int(n_components, "n_components", 1, n)
    weights = _weights(weights_init, "weights_init", k, x)
    means = _param(means_init, "means_init", (k, d), x)
    tol = check_float(tol, "tol", 0.0, allow_inf=False)
    reg_covar = check_float(reg_covar, "reg_covar", 0.0, allow_inf=False)
    max_iter = check_int(max_iter, "max_iter", 1)
    if precisions_init is None:
        nearest = torch.cdist(xd, means).argmin(1)  # [N]: the hard partition by the nearest initial mean
        resp = torch.nn.functional.one_hot(nearest, k).to(xd.dtype)
        pc = _chol_from_cov(_m_step(xd, resp, reg_covar, covariance_type)[2], covariance_type)
    else:
        prec = _param(precisions_init, "precisions_init", _shape(covariance_type, k, d), x)
        _check_cov_like(prec, "precisions_init", covariance_type)
        pc = _chol_from_prec(prec, covariance_type)
    history, lower_bound, converged = [], -math.inf, False
    for _ in range(max_iter):
        previous = lower_bound
        log_norm, log_resp = _e_step(xd, weights, means, pc, covariance_type)
        weights, means, cov = _m_step(xd, log_resp.exp(), reg_covar, covariance_type)
        pc = _chol_from_cov(cov, covariance_type)
        lower_bound = log_norm.item()
        history.append(lower_bound)
        if abs(lower_bound - previous) < tol:
            converged = True
            break
    return GaussianMixtureResult(
        weights,
        means,
        cov,
        _prec_from_chol(pc, covariance_type),
        pc,
        lower_bound,
        torch.tensor(history, dtype=torch.float64, device=x.device),
        len(history),
        converged,
    )


def _fitted(x, weights, means, covariances, covariance_type):
    covariance_type = check_choice(covariance_type, "covariance_type", _TYPES)
    xd = _data(x)
    check_tensor(means, "means", ndims=(2,), kind="float")
    k, d = means.shape
    if d != xd.shape[1]:
        raise ValueError(f"means must have x's D = {xd.shape[1]} columns, got shape {tuple(means.shape)}")
    if k < 1:
        raise ValueError(f"means must hold K >= 1 components, got shape {tuple(means.shape)}")
    w = _weights(weights, "weights", k, x)
    mu = _param(means, "means", (k, d), x)
    cov = _param(covariances, "covariances", _shape(covariance_type, k, d), x)
    _check_cov_like(cov, "covariances", covariance_type)
    pc = _chol_from_cov(cov, covariance_type)
    return _log_gauss(xd, mu, pc, covariance_type) + w.log()  # [N, K]


def gmm_log_likelihood(
    x: torch.Tensor,
    weights: torch.Tensor,
    means: torch.Tensor,
    covariances: torch.Tensor,
    covariance_type: str = "full",
) -> torch.Tensor:
    """Mean log-likelihood per sample ``(1/N) Σ_n log Σ_k π_k N(x_n; μ_k, Σ_k)`` (``GaussianMixture.score``).

    x (Tensor[N, D]); weights (Tensor[K], in [0, 1], summing to 1); means (Tensor[K, D]); covariances (the
    shapes of :class:`GaussianMixtureResult`, positive-definite); covariance_type as in
    :func:`gaussian_mixture_em`. Returns: 0-d float64 tensor on x's device.
    """
    return torch.logsumexp(_fitted(x, weights, means, covariances, covariance_type), dim=1).mean()


def gmm_predict_proba(
    x: torch.Tensor,
    weights: torch.Tensor,
    means: torch.Tensor,
    covariances: torch.Tensor,
    covariance_type: str = "full",
) -> torch.Tensor:
    """Posterior responsibilities by Bayes' rule, ``r_nk = π_k N(x_n; μ_k, Σ_k) / Σ_j π_j N(x_n; μ_j, Σ_j)``
    (``GaussianMixture.predict_proba``), computed as ``exp(log π_k + log N − logsumexp)``.

    Arguments as :func:`gmm_log_likelihood`. Returns: Tensor[N, K] float64, rows summing to 1.
    """
    weighted = _fitted(x, weights, means, covariances, covariance_type)
    return (weighted - torch.logsumexp(weighted, dim=1, keepdim=True)).exp()
