"""A/B testing arithmetic: the two-proportion z-test, the sample size per group, the sample-ratio-mismatch (SRM)
check and a simulation of the false positives that peeking causes (Kohavi, Tang & Xu 2020, "Trustworthy Online
Controlled Experiments", ch. 17-21). From scratch: the normal and chi-square tails come from ``math.erfc``,
``statistics.NormalDist`` and ``torch.special.gammaincc``. Tested against scipy in ``tests/test_recsys.py``.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
import torch

from .._checks import check_choice, check_float, check_int
from .bandits import _as_array

__all__ = ["ZTestResult", "two_proportion_ztest", "sample_size", "srm_test", "peeking_false_positive_rate"]

_ALTERNATIVES = ("two-sided", "greater", "less")
_N = NormalDist()


class _ZFields(NamedTuple):
    z: float
    p_value: float
    diff: float


class ZTestResult(_ZFields):
    """z: the pooled z statistic (finite); p_value: its p-value under the chosen alternative, in [0, 1];
    diff: p̂2 − p̂1, in [−1, 1]."""

    __slots__ = ()

    def __new__(cls, z: float, p_value: float, diff: float):
        return super().__new__(
            cls,
            check_float(z, "z", allow_inf=False),
            check_float(p_value, "p_value", 0.0, 1.0),
            check_float(diff, "diff", -1.0, 1.0),
        )


def _counts(x, name: str, length: int | None = None) -> np.ndarray:
    a = _as_array(x, name)
    if not np.all(np.isfinite(a) & (a >= 0) & (a == np.round(a))):
        raise ValueError(f"{name} must hold non-negative integer counts, got {a.tolist()!r}")
    if length is not None and len(a) != length:
        raise ValueError(f"{name} must hold {length} counts, got {len(a)}: {a.tolist()!r}")
    return a


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def two_proportion_ztest(successes, trials, *, alternative: str = "two-sided") -> ZTestResult:
    """Pooled two-proportion z-test of H0: p1 = p2 (group 1 = control, group 2 = treatment):

        z = (p̂2 − p̂1) / sqrt(p̄ (1 − p̄) (1/n1 + 1/n2)),   p̂i = s_i / n_i,   p̄ = (s1 + s2) / (n1 + n2).

    z² is Pearson's chi-square of the 2×2 table without Yates' correction. alternative: ``"two-sided"``
    (p = 2·Φ(−|z|)), ``"greater"`` (H1: p2 > p1, p = Φ(−z)) or ``"less"`` (H1: p2 < p1, p = Φ(z)), scipy's names.

    successes, trials: length-2 integer counts (lists / numpy / tensors), 0 <= s_i <= n_i, n_i >= 1; a pooled rate
    of 0 or 1 leaves z undefined (ValueError, as scipy's chi2_contingency). Returns :class:`ZTestResult`."""
    check_choice(alternative, "alternative", _ALTERNATIVES)
    s, n = _counts(successes, "successes", 2), _counts(trials, "trials", 2)
    if np.any(n < 1):
        raise ValueError(f"trials must be >= 1 in each group, got {n.tolist()!r}")
    if np.any(s > n):
        raise ValueError(f"successes must not exceed trials, got successes={s.tolist()!r} and trials={n.tolist()!r}")
    pooled = s.sum() / n.sum()
    if pooled in (0.0, 1.0):
        raise ValueError(
            f"successes={s.tolist()!r} of trials={n.tolist()!r}: the pooled rate is {pooled}, so the "
            "z statistic is undefined (no variance)"
        )
    p1, p2 = s / n
    z = float((p2 - p1) / math.sqrt(pooled * (1.0 - pooled) * (1.0 / n[0] + 1.0 / n[1])))
    p = {"two-sided": min(1.0, 2.0 * _norm_sf(abs(z))), "greater": _norm_sf(z), "less": _norm_sf(-z)}[alternative]
    return ZTestResult(z, p, float(p2 - p1))


def sample_size(p: float, mde: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Samples per group for a two-sided two-proportion z-test at level ``alpha`` to detect p → p + mde
    (absolute lift) with probability ``power`` (normal approximation, e.g. Chow, Shao & Wang, "Sample Size
    Calculations in Clinical Research", sec. 4.2):

        n = ⌈(z_{1−α/2} √(2 p̄ q̄) + z_{power} √(p1 q1 + p2 q2))² / mde²⌉,  p1 = p, p2 = p + mde, p̄ = (p1 + p2)/2.

    p, p + mde in (0, 1); mde > 0; alpha, power in (0, 1). Returns an int."""
    p = check_float(p, "p", 0.0, 1.0, min_open=True, max_open=True)
    mde = check_float(mde, "mde", 0.0, min_open=True, allow_inf=False)
    alpha = check_float(alpha, "alpha", 0.0, 1.0, min_open=True, max_open=True)
    power = check_float(power, "power", 0.0, 1.0, min_open=True, max_open=True)
    p2 = p + mde
    if not p2 < 1.0:
        raise ValueError(f"p + mde must be < 1, got p={p!r}, mde={mde!r} (p + mde = {p2!r})")
    pbar = (p + p2) / 2.0
    za, zb = _N.inv_cdf(1.0 - alpha / 2.0), _N.inv_cdf(power)
    root = za * math.sqrt(2.0 * pbar * (1.0 - pbar)) + zb * math.sqrt(p * (1.0 - p) + p2 * (1.0 - p2))
    return int(math.ceil(root**2 / mde**2))


def srm_test(counts, expected=(0.5, 0.5)) -> tuple[float, float]:
    """Sample-ratio-mismatch check: Pearson's chi-square goodness of fit of the observed group sizes to the
    designed split (Fabijan et al. 2019, "Diagnosing Sample Ratio Mismatch in Online Controlled Experiments", KDD):

        χ² = Σ_i (o_i − e_i)² / e_i,  e_i = N · r_i / Σ r,   p = P(χ²_{k−1} >= χ²) = Q((k−1)/2, χ²/2).

    counts: [k] non-negative integer group sizes (k >= 2, N = Σ counts >= 1); expected: [k] positive ratios (any
    scale). Returns (chi2, p_value) as floats, equal to ``scipy.stats.chisquare(counts, N·r/Σr)``."""
    o = _counts(counts, "counts")
    if len(o) < 2:
        raise ValueError(f"counts must hold at least 2 groups, got {len(o)}")
    r = _as_array(expected, "expected")
    if len(r) != len(o):
        raise ValueError(f"expected must have one ratio per group of counts ({len(o)}), got {len(r)}")
    if not np.all(np.isfinite(r) & (r > 0)):
        raise ValueError(f"expected must hold positive finite ratios, got {r.tolist()!r}")
    if o.sum() < 1:
        raise ValueError(f"counts must not all be zero, got {o.tolist()!r}")
    e = o.sum() * r / r.sum()
    chi2 = float(np.sum((o - e) ** 2 / e))
    df = torch.tensor((len(o) - 1) / 2.0, dtype=torch.float64)
    p = float(torch.special.gammaincc(df, torch.tensor(chi2 / 2.0, dtype=torch.float64)))
    return chi2, p


def peeking_false_positive_rate(
    p: float = 0.1, n_per_look: int = 200, looks: int = 10, *, alpha: float = 0.05, n_sim: int = 2000, seed: int = 0
) -> float:
    """The false-positive rate of an A/A test that is checked ``looks`` times and stopped at the first
    two-sided pooled z-test with p < alpha (Kohavi et al. 2020, ch. 17; Johari et al. 2017, "Peeking at A/B
    Tests", KDD). Both groups convert at rate ``p``; each look adds ``n_per_look`` users per group.

    With looks = 1 the rate is ≈ alpha; it grows with the number of looks. Vectorized over ``n_sim`` simulated
    experiments drawn from ``np.random.default_rng(seed)``; a look whose pooled rate is 0 or 1 does not reject.
    p in (0, 1); n_per_look, looks, n_sim >= 1; alpha in (0, 1). Returns the fraction that ever rejected."""
    p = check_float(p, "p", 0.0, 1.0, min_open=True, max_open=True)
    n_per_look = check_int(n_per_look, "n_per_look", 1)
    looks = check_int(looks, "looks", 1)
    alpha = check_float(alpha, "alpha", 0.0, 1.0, min_open=True, max_open=True)
    n_sim = check_int(n_sim, "n_sim", 1)
    seed = check_int(seed, "seed", 0)
    rng = np.random.default_rng(seed)
    s = rng.binomial(n_per_look, p, size=(n_sim, looks, 2)).cumsum(axis=1)  # [S, L, 2] cumulative successes
    n = n_per_look * np.arange(1, looks + 1, dtype=np.float64)[None, :]  # [1, L] users per group so far
    pooled = s.sum(-1) / (2.0 * n)  # [S, L]
    var = pooled * (1.0 - pooled) * (2.0 / n)
    diff = (s[..., 1] - s[..., 0]) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, diff / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)
    crit = _N.inv_cdf(1.0 - alpha / 2.0)  # p < alpha  <=>  |z| > crit
    return float(np.mean(np.any(np.abs(z) > crit, axis=1)))
