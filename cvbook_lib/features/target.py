"""Target (mean) encoding with empirical-Bayes smoothing and cross-fitting (Micci-Barreca 2001).

A category ``c`` seen ``n_c`` times with target mean ``ȳ_c`` is encoded as a blend of ``ȳ_c`` and the global
mean ``ȳ`` (Micci-Barreca, "A preprocessing scheme for high-cardinality categorical attributes in
classification and prediction problems", SIGKDD Explorations 3(1), 2001):

    enc(c) = λ_c ȳ_c + (1 - λ_c) ȳ,
    smooth = m (a number):  λ_c = n_c / (n_c + m)                      (eq. 7: (Σ_{i∈c} y_i + m ȳ) / (n_c + m)),
    smooth = 'auto':        λ_c = n_c σ² / (n_c σ² + σ_c²)             (eq. 5-6, empirical Bayes),

with ``σ²`` the variance of ``y`` and ``σ_c² = (1/n_c) Σ_{i∈c} (y_i - ȳ_c)²`` the variance within ``c``
(``λ_c`` undefined, 0/0, gives ``ȳ``). Encoding a training row with statistics that include its own target
leaks the target; **cross-fitting** encodes each of ``cv`` folds with the statistics of the other folds only.
A binary target is read as 0/1 (the larger class label is 1); a multiclass target (K > 2 classes) is encoded
one class against the rest, one column per class in sorted class order.

Reference: ``sklearn.preprocessing.TargetEncoder(...).fit_transform(X, y)`` for one categorical column ``X``
(equal answers, the same folds: ``KFold`` for a continuous target, ``StratifiedKFold`` otherwise, both with
``shuffle`` and ``random_state``; rebuilt here from numpy's ``RandomState``). ``cv=None`` is the leaky
``TargetEncoder(...).fit(X, y).transform(X)`` (in sklearn ``cv=None`` means 5 folds: a deliberate difference).
Numpy code: the answer is a CPU float64 tensor, as from :func:`cvbook_lib.features.hash_encode`.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from .._checks import _short, check_bool, check_choice, check_float, check_int

__all__ = ["target_encode"]

_TARGET_TYPES = ("auto", "continuous", "binary", "multiclass")


def _int_dtype(dtype: torch.dtype) -> bool:
    return not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)


def _categories(categories) -> np.ndarray:
    """Integer codes ``[N]`` of a 1-D sequence of strings or of ints."""
    if isinstance(categories, torch.Tensor):
        if categories.dim() != 1:
            raise ValueError(f"categories must be 1-D, got a tensor of shape {tuple(categories.shape)}")
        if not _int_dtype(categories.dtype):
            raise TypeError(f"categories must be a 1-D sequence of strings or ints, got {_short(categories)}")
        values = categories.detach().cpu().numpy()
    elif isinstance(categories, (str, bytes)) or not isinstance(categories, (Sequence, np.ndarray)):
        raise TypeError(f"categories must be a 1-D sequence of strings or ints, got {_short(categories)}")
    else:
        if isinstance(categories, np.ndarray) and categories.ndim != 1:
            raise ValueError(f"categories must be 1-D, got an array of shape {categories.shape}")
        items = list(categories)
        if all(isinstance(c, str) for c in items):
            values = np.array(items, dtype=object)
        elif all(isinstance(c, numbers.Integral) and not isinstance(c, (bool, np.bool_)) for c in items):
            values = np.array([int(c) for c in items], dtype=np.int64)
        else:
            raise TypeError(
                f"categories must all be strings or all be ints (not bools or floats), got {_short(categories)}"
            )
    return np.unique(values, return_inverse=True)[1].reshape(-1)


def _target(target, n: int) -> np.ndarray:
    if isinstance(target, torch.Tensor):
        if target.dtype.is_complex:
            raise TypeError(f"target must be real, got {target.dtype}")
        target = target.detach().cpu().numpy()
    y = np.asarray(target)
    if y.dtype.kind not in "biufUO" or y.dtype.kind == "c":
        raise TypeError(f"target must hold numbers or class labels, got dtype {y.dtype}")
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"target must be 1-D with one value per entry of categories ({n}), got shape {y.shape}")
    if y.dtype.kind == "O" and not all(isinstance(v, (str, numbers.Real)) for v in y):
        raise TypeError("target must hold numbers or class labels (strings)")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError("target must be finite, got NaN or inf")
    return y


def _type_of_target(y: np.ndarray) -> str:
    """sklearn's ``type_of_target`` for a 1-D target: non-integral floats are continuous, else classes."""
    if y.dtype.kind == "f" and np.any(y != y.astype(np.int64)):
        return "continuous"
    return "multiclass" if len(np.unique(y)) > 2 else "binary"


def _random_state(random_state):
    """sklearn's ``check_random_state``: None is numpy's global RandomState, an int seeds a new one."""
    if random_state is None:
        return np.random.mtrand._rand
    if isinstance(random_state, np.random.RandomState):
        return random_state
    seed = check_int(random_state, "random_state", 0, 2**32 - 1)
    return np.random.RandomState(seed)


def _folds(y: np.ndarray, cv: int, stratified: bool, shuffle: bool, random_state) -> np.ndarray:
    """Test-fold number ``[N]`` of every sample: ``KFold`` or ``StratifiedKFold(cv, shuffle, random_state)``."""
    n = len(y)
    if cv > n:
        raise ValueError(f"cv={cv} folds cannot exceed the number of samples, {n}")
    if not stratified:
        order = np.arange(n)
        if shuffle:
            _random_state(random_state).shuffle(order)
        sizes = np.full(cv, n // cv)
        sizes[: n % cv] += 1
        folds = np.empty(n, dtype=np.int64)
        folds[order] = np.repeat(np.arange(cv), sizes)  # consecutive chunks of the (shuffled) order
        return folds
    rng = _random_state(random_state)
    _, first, inverse = np.unique(y, return_index=True, return_inverse=True)
    y_enc = np.unique(first, return_inverse=True)[1][inverse.reshape(-1)]  # classes by first appearance
    counts = np.bincount(y_enc)
    if np.all(cv > counts):
        raise ValueError(f"cv={cv} cannot be greater than the number of members in each class of target")
    if cv > counts.min():
        warnings.warn(
            f"The least populated class in target has only {counts.min()} members, fewer than cv={cv}",
            UserWarning,
            stacklevel=3,
        )
    y_sorted = np.sort(y_enc)
    allocation = np.stack([np.bincount(y_sorted[i::cv], minlength=len(counts)) for i in range(cv)])  # [cv, K]
    folds = np.empty(n, dtype=np.int64)
    for k in range(len(counts)):  # round robin over the sorted labels, then shuffled within each class
        folds_k = np.arange(cv).repeat(allocation[:, k])
        if shuffle:
            rng.shuffle(folds_k)
        folds[y_enc == k] = folds_k
    return folds


def _encoding(codes: np.ndarray, y: np.ndarray, n_cat: int, smooth) -> tuple[np.ndarray, float]:
    """Smoothed encoding ``[n_cat]`` of each category from ``(codes, y)``, and the mean ``ȳ`` of ``y``."""
    y_mean = np.mean(y)
    counts = np.bincount(codes, minlength=n_cat).astype(np.float64)
    sums = np.bincount(codes, weights=y, minlength=n_cat)
    with np.errstate(divide="ignore", invalid="ignore"):
        if smooth == "auto":
            means = sums / counts
            ssd = np.bincount(codes, weights=(y - means[codes]) ** 2, minlength=n_cat)
            var = np.var(y)
            lam = var * counts / (var * counts + ssd / counts)
            return np.where(np.isnan(lam), y_mean, lam * means + (1 - lam) * y_mean), y_mean
        den = counts + smooth
        return np.where(den == 0, y_mean, (sums + smooth * y_mean) / den), y_mean


def target_encode(
    categories,
    target,
    smooth="auto",
    cv: int | None = 5,
    shuffle: bool = True,
    random_state=None,
    target_type: str = "auto",
) -> torch.Tensor:
    """Encode one categorical column by the smoothed mean of the target per category (Micci-Barreca 2001).

    categories (sequence or 1-D tensor of N strings or ints); target (N numbers, or N class labels; a tensor,
    array or list); smooth ('auto' for the empirical-Bayes ``λ_c``, or a number m >= 0); cv (int >= 2 folds
    of cross-fitting, or None for none: every row encoded with statistics that include it); shuffle (bool:
    shuffle before splitting into folds); random_state (None for numpy's global RandomState, an int seed, or a
    ``numpy.random.RandomState``; with ``shuffle=False`` it must be None, as in sklearn); target_type ('auto',
    'continuous', 'binary' or 'multiclass'; 'auto' follows sklearn's ``type_of_target``).

    Each row ``i`` of test fold ``f`` gets ``enc(c_i)`` computed from the rows outside ``f`` (their mean ``ȳ``
    and variance ``σ²`` included); see the module docstring for ``enc``.

    Returns: Tensor[N] (continuous or binary target) or Tensor[N, K] (K > 2 classes, in sorted class order),
    float64 on the CPU.
    """
    codes = _categories(categories)
    y = _target(target, len(codes))
    if len(codes) == 0:
        raise ValueError("categories must hold at least one sample, got 0")
    if not (isinstance(smooth, str) and smooth == "auto"):
        if isinstance(smooth, str):
            raise ValueError(f"smooth must be 'auto' or a real number >= 0, got {smooth!r}")
        smooth = check_float(smooth, "smooth", 0.0, allow_inf=False)
    if cv is not None:
        cv = check_int(cv, "cv", 2)
    shuffle = check_bool(shuffle, "shuffle")
    if random_state is not None and not isinstance(random_state, np.random.RandomState):
        check_int(random_state, "random_state", 0, 2**32 - 1)
    check_choice(target_type, "target_type", _TARGET_TYPES)
    inferred = _type_of_target(y)
    kind = inferred if target_type == "auto" else target_type
    if kind == "continuous":
        if y.dtype.kind not in "biuf":
            raise TypeError(f"target must be numeric for target_type='continuous', got dtype {y.dtype}")
        Y = y.astype(np.float64)[:, None]  # [N, 1]
    else:
        classes, y_int = np.unique(y, return_inverse=True)
        if (kind == "binary") != (len(classes) <= 2):
            raise ValueError(f"target_type={target_type!r} does not fit a target with {len(classes)} classes")
        Y = y_int.reshape(-1, 1) if kind == "binary" else np.eye(len(classes), dtype=np.int64)[y_int]  # [N, K']
    n_cat = int(codes.max()) + 1
    out = np.empty(Y.shape, dtype=np.float64)
    if cv is None:
        for k in range(Y.shape[1]):
            out[:, k] = _encoding(codes, Y[:, k], n_cat, smooth)[0][codes]
    else:
        if not shuffle and random_state is not None:
            raise ValueError(
                f"random_state must be None when shuffle=False (it would have no effect), got {random_state!r}"
            )
        stratified = kind != "continuous" and inferred != "continuous"
        folds = _folds(y, cv, stratified, shuffle, random_state)
        for f in range(cv):
            test, train = folds == f, folds != f
            for k in range(Y.shape[1]):
                enc, _ = _encoding(codes[train], Y[train, k], n_cat, smooth)
                out[test, k] = enc[codes[test]]
    out_t = torch.from_numpy(out)
    return out_t[:, 0] if kind != "multiclass" else out_t
