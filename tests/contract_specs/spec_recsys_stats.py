"""Contract cases for cvbook_lib.recsys.{metrics, bandits, abtest, importance} (references: a per-group loop of
sklearn's roc_auc_score, scipy.stats.chi2_contingency / chisquare / norm, sklearn.inspection.permutation_importance,
the sample-size formula with scipy.stats.norm.ppf, w ⊙ x for a linear model; the bandit simulators and the peeking
simulation have no reference and are checked for clear refusals only).

Deliberate differences (documented in the module docstrings): GAUC refuses labels other than 0/1 (sklearn reads any
two labels, the larger positive) and bool scores (sklearn reads them as 0/1); the counts of the A/B tests must be
non-negative integers (scipy takes non-integral floats, and chisquare negative counts); sample_size refuses the
parameters outside their domain, where the formula still returns a number.
"""

import numpy as np
import torch
from scipy import stats
from sklearn.inspection import permutation_importance as sk_permutation_importance
from sklearn.linear_model import LinearRegression, LogisticRegression

from contract_specs import Case
from cvbook_lib.recsys import abtest, bandits, importance
from cvbook_lib.recsys import metrics as rm

_G = torch.Generator().manual_seed(0)
_Y = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1])
_S = torch.rand(12, generator=_G)
_GR = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])


def _np(x):
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _ref_gauc(y_true, y_score, groups, weights="impressions"):
    """Σ_g w_g roc_auc_score(group g) / Σ_g w_g over the groups with both classes (sklearn per group)."""
    from sklearn.metrics import roc_auc_score

    y, s, g = _np(y_true), _np(y_score), _np(groups)
    assert (
        y.ndim == s.ndim == g.ndim == 1
        and len(y) == len(s) == len(g)
        and weights in ("impressions", "clicks", "uniform")
    )
    num = den = 0.0
    used = skipped = 0
    for k in np.unique(g):
        m = g == k
        if len(np.unique(y[m])) < 2:
            skipped += 1
            continue
        w = {"impressions": m.sum(), "clicks": (y[m] == y[m].max()).sum(), "uniform": 1.0}[weights]
        num, den, used = num + w * roc_auc_score(y[m], s[m]), den + w, used + 1
    if not used:
        raise ValueError("no group with both classes")
    return num / den, used, skipped


_LABELS = "y_true must hold 0/1 labels (sklearn takes any two labels, the larger positive)"
_GAUC = dict(
    ref=_ref_gauc,
    arraylike={"y_true", "y_score", "groups"},
    differs={
        ("y_score", "bool"): "bool scores are refused (as cvbook_lib.metrics)",
        ("y_true", "too-big"): _LABELS,
        ("y_true", "negative"): _LABELS,
    },
)


def _ref_ztest(successes, trials, alternative="two-sided"):
    s, n = _np(successes).astype(float), _np(trials).astype(float)
    assert s.shape == n.shape == (2,) and np.all(s == np.round(s)) and np.all(n == np.round(n))
    res = stats.chi2_contingency(np.stack([s, n - s], axis=1), correction=False)
    diff = s[1] / n[1] - s[0] / n[0]
    z = np.sign(diff) * np.sqrt(res.statistic)
    p = {"two-sided": res.pvalue, "greater": stats.norm.sf(z), "less": stats.norm.cdf(z)}[alternative]
    return z, p, diff


def _ref_sample_size(p, mde, alpha=0.05, power=0.8):
    p2, pbar = p + mde, p + mde / 2
    root = stats.norm.ppf(1 - alpha / 2) * np.sqrt(2 * pbar * (1 - pbar)) + stats.norm.ppf(power) * np.sqrt(
        p * (1 - p) + p2 * (1 - p2)
    )
    return int(np.ceil(root**2 / mde**2))


def _ref_srm(counts, expected=(0.5, 0.5)):
    o, r = _np(counts), np.asarray(expected, dtype=float)
    assert o.ndim == 1 and len(o) >= 2 and np.all(o == np.round(o))
    res = stats.chisquare(o, o.sum() * r / r.sum())
    return res.statistic, res.pvalue


_COUNTS = "counts must be non-negative integers (scipy takes any floats)"
_DOMAIN = "outside the parameter's domain (the formula still returns a number)"

_X = np.random.default_rng(0).normal(size=(40, 3))
_YC = (_X[:, 0] + 0.3 * np.random.default_rng(1).normal(size=40) > 0).astype(int)
_CLF = LogisticRegression().fit(_X, _YC)
_YR = _X @ np.array([2.0, 1.0, 0.0])


def _ref_permutation(estimator, X, y, scoring=None, n_repeats=5, random_state=None):
    return dict(
        sk_permutation_importance(estimator, X, y, scoring=scoring, n_repeats=n_repeats, random_state=random_state)
    )


def _ref_drop(make_estimator, X_train, y_train, X_test, y_test, scoring=None):
    full = make_estimator().fit(X_train, y_train).score(X_test, y_test)
    return np.array(
        [
            full - make_estimator().fit(np.delete(X_train, j, 1), y_train).score(np.delete(X_test, j, 1), y_test)
            for j in range(X_train.shape[1])
        ]
    )


_W = torch.tensor([0.5, -1.0, 2.0, 0.25])


def _linear(x):
    return (x * _W).sum(-1)


def _ref_gxi(model, x):
    assert isinstance(x, torch.Tensor) and x.is_floating_point()
    return (x * _W).to(x.dtype)


_RUN = bandits.ucb1((0.2, 0.5), 6)

SPECS = {
    rm.GaucResult: [Case(rm.GaucResult, dict(gauc=0.75, n_groups=3, n_skipped=1))],
    bandits.BanditRun: [Case(bandits.BanditRun, _RUN._asdict())],
    abtest.ZTestResult: [Case(abtest.ZTestResult, dict(z=1.5, p_value=0.13, diff=0.02))],
    rm.gauc: [
        Case(rm.gauc, dict(y_true=_Y, y_score=_S, groups=_GR), **_GAUC),
        Case(rm.gauc, dict(y_true=_Y, y_score=_S, groups=_GR, weights="clicks"), **_GAUC),
        Case(rm.gauc, dict(y_true=_Y, y_score=(_S * 4).round(), groups=_GR, weights="uniform"), **_GAUC),
    ],
    # bandit simulators: no reference; probs as a tensor (the full battery) and as a tuple of floats
    bandits.thompson_sampling: [
        Case(bandits.thompson_sampling, dict(probs=torch.tensor([0.2, 0.5, 0.3]), horizon=20, seed=1)),
        Case(bandits.thompson_sampling, dict(probs=(0.2, 0.5), horizon=10, prior=(1.0, 2.0))),
    ],
    bandits.ucb1: [Case(bandits.ucb1, dict(probs=torch.tensor([0.2, 0.5, 0.3]), horizon=20, seed=1))],
    bandits.epsilon_greedy: [
        Case(bandits.epsilon_greedy, dict(probs=torch.tensor([0.2, 0.5, 0.3]), horizon=20, epsilon=0.2, seed=1)),
    ],
    bandits.beta_posterior: [
        Case(
            bandits.beta_posterior,
            dict(successes=torch.tensor([3, 0, 5]), failures=torch.tensor([1, 2, 0]), prior=(1.0, 1.0)),
            ref=lambda successes, failures, prior=(1.0, 1.0): (
                prior[0] + successes.double(),
                prior[1] + failures.double(),
            ),
            skip={"successes": "*", "failures": "*"},
        ),  # a torch sum, not a reference for the list/shape changes
        Case(bandits.beta_posterior, dict(successes=torch.tensor([3, 0, 5]), failures=torch.tensor([1, 2, 0]))),
    ],
    abtest.two_proportion_ztest: [
        Case(
            abtest.two_proportion_ztest,
            dict(successes=torch.tensor([120, 150]), trials=torch.tensor([1000, 990])),
            ref=_ref_ztest,
            arraylike={"successes", "trials"},
            differs={("successes", "bool"): _COUNTS, ("trials", "bool"): _COUNTS},
        ),
        Case(
            abtest.two_proportion_ztest,
            dict(successes=(12, 30), trials=(100, 110), alternative="greater"),
            ref=_ref_ztest,
        ),
        Case(
            abtest.two_proportion_ztest, dict(successes=(12, 30), trials=(100, 110), alternative="less"), ref=_ref_ztest
        ),
    ],
    abtest.sample_size: [
        Case(
            abtest.sample_size,
            dict(p=0.1, mde=0.02, alpha=0.05, power=0.8),
            ref=_ref_sample_size,
            differs={
                (a, m): _DOMAIN
                for a in ("p", "mde", "alpha", "power")
                for m in ("zero", "negated", "inf", "-inf", "nan")
            },
        ),
    ],
    abtest.srm_test: [
        Case(
            abtest.srm_test,
            dict(counts=torch.tensor([5100, 4900])),
            ref=_ref_srm,
            arraylike={"counts"},
            differs={("counts", "negative"): _COUNTS, ("counts", "bool"): _COUNTS},
        ),
        Case(abtest.srm_test, dict(counts=(500, 300, 210), expected=(1.0, 1.0, 1.0)), ref=_ref_srm),
    ],
    abtest.peeking_false_positive_rate: [
        Case(abtest.peeking_false_positive_rate, dict(p=0.1, n_per_look=50, looks=3, alpha=0.05, n_sim=100, seed=0)),
    ],
    importance.permutation_importance: [
        Case(
            importance.permutation_importance,
            dict(estimator=_CLF, X=_X, y=_YC, n_repeats=3, random_state=0),
            ref=_ref_permutation,
        ),
        Case(
            importance.permutation_importance,
            dict(estimator=_CLF, X=_X, y=_YC, scoring="roc_auc", n_repeats=2, random_state=7),
            ref=_ref_permutation,
        ),
    ],
    importance.drop_column_importance: [
        Case(
            importance.drop_column_importance,
            dict(make_estimator=LinearRegression, X_train=_X[:30], y_train=_YR[:30], X_test=_X[30:], y_test=_YR[30:]),
            ref=_ref_drop,
            atol=1e-9,
        ),
    ],
    importance.gradient_x_input: [
        Case(
            importance.gradient_x_input,
            dict(model=_linear, x=torch.randn(5, 4, generator=_G)),
            ref=_ref_gxi,
            float_only={"x"},
        ),
    ],
}
