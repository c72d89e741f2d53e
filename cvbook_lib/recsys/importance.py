"""Feature importance: permutation importance (Breiman 2001), drop-column importance and gradient × input.

:func:`permutation_importance` replicates ``sklearn.inspection.permutation_importance`` draw for draw (same
answers for the same scorer and ``random_state``). Not supported: ``n_jobs``, ``max_samples``, ``sample_weight``,
several scorers at once and pandas DataFrames (X is a 2-D numpy array or nested list). String scorers need
scikit-learn (imported only then); the estimator only needs ``score`` / what the scorer calls. Tested in
``tests/test_recsys.py``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np
import torch

from .._checks import _short, check_int, check_tensor

__all__ = ["permutation_importance", "drop_column_importance", "gradient_x_input"]


class _Bunch(dict):
    """A dict whose keys are also attributes (as ``sklearn.utils.Bunch``, without needing scikit-learn)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


def _matrix(X, name: str) -> np.ndarray:
    if not isinstance(X, (np.ndarray, list, tuple)):
        raise TypeError(f"{name} must be a 2-D numpy array (or nested list), got {type(X).__name__} {_short(X)}")
    a = np.asarray(X)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{name} must be 2-D [n_samples >= 1, n_features >= 1], got shape {a.shape}")
    return a


def _target(y, name: str, n: int) -> np.ndarray:
    if not isinstance(y, (np.ndarray, list, tuple, torch.Tensor)):
        raise TypeError(f"{name} must be a 1-D array-like of targets, got {type(y).__name__} {_short(y)}")
    a = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if a.ndim not in (1, 2) or len(a) != n:
        raise ValueError(f"{name} must have one target per sample ({n}), got shape {a.shape}")
    return a


def _scorer(scoring) -> Callable:
    """scorer(estimator, X, y): None → estimator.score(X, y); a string → sklearn.metrics.get_scorer; a callable."""
    if scoring is None:
        return lambda est, X, y: est.score(X, y)
    if isinstance(scoring, str):
        from sklearn.metrics import get_scorer, get_scorer_names

        if scoring not in get_scorer_names():
            raise ValueError(f"scoring must be None, a callable or a scikit-learn scorer name, got {scoring!r}")
        return get_scorer(scoring)
    if callable(scoring):
        return scoring
    raise TypeError(
        f"scoring must be None, a string or a callable(estimator, X, y), got {type(scoring).__name__} {_short(scoring)}"
    )


def _random_state(random_state) -> np.random.RandomState:
    """sklearn's check_random_state: None → numpy's global RandomState, an int → a new one, an instance itself."""
    if random_state is None:
        return np.random.mtrand._rand
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, numbers.Integral):
        raise TypeError(
            f"random_state must be None, an int in [0, 2**32 - 1] or a numpy RandomState, got "
            f"{type(random_state).__name__} {_short(random_state)}"
        )
    return np.random.RandomState(check_int(random_state, "random_state", 0, 2**32 - 1))


def permutation_importance(estimator, X, y, *, scoring=None, n_repeats: int = 5, random_state=None) -> _Bunch:
    """Permutation importance (Breiman 2001, "Random Forests", Mach. Learn. 45; Fisher, Rudin & Dominici 2019):
    importance[j, r] = score(X) − score(X with column j shuffled, r-th time), for a FITTED estimator.

    Seeding as scikit-learn: one seed ``random_state.randint(2**31)`` is drawn, and every column starts a fresh
    ``RandomState(seed)`` that shuffles an index array in place ``n_repeats`` times; each shuffle is applied to the
    already shuffled column of a copy of X (so all columns see the same index permutations).

    X: [n, d] numbers; y: [n] (or [n, k]) targets; scoring: None (``estimator.score``), a scikit-learn scorer name
    or a callable(estimator, X, y) → float (higher is better); n_repeats >= 1; random_state: None, int or
    ``np.random.RandomState`` (advanced, as in sklearn). Returns a Bunch (a dict with attribute access) with
    importances_mean [d], importances_std [d] (population std, ddof 0) and importances [d, n_repeats]."""
    if not hasattr(estimator, "predict") and not hasattr(estimator, "score") and not callable(scoring):
        raise TypeError(
            f"estimator must be a fitted estimator (with score or predict), got "
            f"{type(estimator).__name__} {_short(estimator)}"
        )
    X = _matrix(X, "X")
    y = _target(y, "y", len(X))
    scorer = _scorer(scoring)
    n_repeats = check_int(n_repeats, "n_repeats", 1)
    rs = _random_state(random_state)
    seed = rs.randint(np.iinfo(np.int32).max + 1)
    baseline = scorer(estimator, X, y)
    permuted = np.empty((X.shape[1], n_repeats))
    for j in range(X.shape[1]):
        col_rs = np.random.RandomState(seed)
        Xp = X.copy()
        idx = np.arange(len(X))
        for r in range(n_repeats):
            col_rs.shuffle(idx)
            Xp[:, j] = Xp[idx, j]
            permuted[j, r] = scorer(estimator, Xp, y)
    imp = baseline - permuted
    return _Bunch(importances_mean=np.mean(imp, axis=1), importances_std=np.std(imp, axis=1), importances=imp)


def drop_column_importance(make_estimator: Callable, X_train, y_train, X_test, y_test, *, scoring=None) -> np.ndarray:
    """Drop-column importance (Parr et al. 2018, "Beware Default Random Forest Importances"): for each column j,
    score(model trained on all columns) − score(model retrained without column j), both on the test set.

    make_estimator: a callable returning a fresh, unfitted estimator (with ``fit``); X_train [n, d], y_train [n],
    X_test [m, d], y_test [m] (d >= 2); scoring as in :func:`permutation_importance`. Trains d + 1 models. Returns
    float64 ndarray [d]."""
    if not callable(make_estimator):
        raise TypeError(
            f"make_estimator must be a callable returning a fresh estimator, got "
            f"{type(make_estimator).__name__} {_short(make_estimator)}"
        )
    X_train, X_test = _matrix(X_train, "X_train"), _matrix(X_test, "X_test")
    y_train, y_test = _target(y_train, "y_train", len(X_train)), _target(y_test, "y_test", len(X_test))
    if X_train.shape[1] != X_test.shape[1] or X_train.shape[1] < 2:
        raise ValueError(
            f"X_train and X_test must have the same number (>= 2) of columns, got {X_train.shape[1]} "
            f"and {X_test.shape[1]}"
        )
    scorer = _scorer(scoring)

    def score_without(cols):
        est = make_estimator()
        if not hasattr(est, "fit"):
            raise TypeError(f"make_estimator must return an estimator with fit, got {type(est).__name__}")
        est.fit(X_train[:, cols], y_train)
        return scorer(est, X_test[:, cols], y_test)

    d = X_train.shape[1]
    full = score_without(list(range(d)))
    return np.array([full - score_without([c for c in range(d) if c != j]) for j in range(d)], dtype=np.float64)


def gradient_x_input(model: Callable, x: torch.Tensor) -> torch.Tensor:
    """Gradient × input attribution (Shrikumar et al. 2016, "Not Just a Black Box", arXiv:1605.01713):
    x ⊙ ∂(Σ model(x)) / ∂x, for a differentiable torch model (for a linear model Σ_j w_j x_j it is w ⊙ x exactly).
    The mean of |·| over the samples is a per-feature importance.

    model: a callable (nn.Module) mapping x to a tensor; x: float Tensor [B, ...]. Neither x nor the model's
    parameters (their ``.grad``) nor its train/eval mode are changed. Returns Tensor of x's shape and dtype."""
    if not callable(model):
        raise TypeError(f"model must be a callable (a torch model), got {type(model).__name__} {_short(model)}")
    check_tensor(x, "x", kind="float")
    xg = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        try:
            out = model(xg)
        except RuntimeError as err:  # a shape / dtype the model does not take: say which argument
            raise ValueError(f"model(x) failed for x = {_short(x)}: {err}") from err
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            raise TypeError(f"model must return a floating tensor, got {_short(out)}")
        (grad,) = torch.autograd.grad(out.sum(), xg, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(xg)
    return (x.detach() * grad).to(x.dtype)
