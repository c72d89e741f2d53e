"""cvbook_lib.recsys statistics: GAUC against a per-group sklearn loop, the bandit policies against loops written
out here and their regret properties, the A/B-test arithmetic against scipy (chi2_contingency, chisquare, norm)
and by simulation, permutation importance against sklearn.inspection, drop-column and gradient × input."""

import math

import numpy as np
import pytest
import torch
from contract_specs.spec_recsys_stats import _ref_gauc
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.ensemble import RandomForestClassifier
from sklearn.inspection import permutation_importance as sk_permutation_importance
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import roc_auc_score
from torch import nn

from cvbook_lib.recsys import abtest, bandits, importance
from cvbook_lib.recsys.metrics import GaucResult, gauc

PROBS = (0.04, 0.05, 0.06, 0.08, 0.1)


# ----------------------------------------------------------------------------- GAUC
def _gauc_by_sklearn(y, s, g, weights):
    return _ref_gauc(y, s, g, weights)  # the per-group sklearn loop of the contract spec


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 4), st.integers(-3, 5)), min_size=1, max_size=60),
    st.sampled_from(["impressions", "clicks", "uniform"]),
)
def test_gauc_equals_the_per_group_sklearn_loop(rows, weights):
    y, s, g = (np.array(c) for c in zip(*rows))
    s = s / 2.0  # few distinct values: many ties
    if not any(len(np.unique(y[g == k])) == 2 for k in np.unique(g)):
        with pytest.raises(ValueError, match="both classes"):
            gauc(y, s, g, weights)
        return
    value, used, skipped = _gauc_by_sklearn(y, s, g, weights)
    out = gauc(y, s, g, weights)
    assert isinstance(out, GaucResult)
    assert out.gauc == pytest.approx(value, rel=1e-12, abs=1e-12)
    assert (out.n_groups, out.n_skipped) == (used, skipped)


def test_gauc_skips_and_counts_one_class_groups_and_accepts_lists_arrays_tensors():
    y = [1, 0, 1, 1, 0, 0, 0, 1]
    s = [0.9, 0.1, 0.4, 0.3, 0.5, 0.2, 0.7, 0.7]
    g = [7, 7, 3, 3, 3, 9, 9, 100]  # group 100 holds a positive only
    out = gauc(y, s, g)
    assert out.gauc == pytest.approx((2 * 1.0 + 3 * 0.0) / 5)  # group 9 holds negatives only: skipped
    assert (out.n_groups, out.n_skipped) == (2, 2)
    assert gauc(np.array(y), torch.tensor(s), torch.tensor(g)) == out
    assert gauc(torch.tensor(y, dtype=torch.bool), np.array(s), g) == out


def test_gauc_of_one_group_is_the_auc_and_weightings_differ():
    rng = np.random.default_rng(0)
    y, s = rng.integers(0, 2, 50), rng.normal(size=50)
    assert gauc(y, s, np.zeros(50, dtype=int)).gauc == pytest.approx(roc_auc_score(y, s), abs=1e-14)
    g = rng.integers(0, 6, 50)
    vals = {w: gauc(y, s, g, w).gauc for w in ("impressions", "clicks", "uniform")}
    for w, v in vals.items():
        assert v == pytest.approx(_gauc_by_sklearn(y, s, g, w)[0], abs=1e-14)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(y_true=[0, 1, 1], y_score=[0.1, 0.2, 0.3], groups=[0, 0]), "groups"),
        (dict(y_true=[0, 1, 1], y_score=[0.1, 0.2], groups=[0, 0, 0]), "y_score"),
        (dict(y_true=[0, 2, 1], y_score=[0.1, 0.2, 0.3], groups=[0, 0, 0]), "0/1"),
        (dict(y_true=[0, 0.5, 1], y_score=[0.1, 0.2, 0.3], groups=[0, 0, 0]), "y_true"),
        (dict(y_true=[0, 1, 1], y_score=[0.1, float("nan"), 0.3], groups=[0, 0, 0]), "y_score"),
        (dict(y_true=[0, 1, 1], y_score=[0.1, 0.2, 0.3], groups=[0, 1, 2]), "both classes"),
        (dict(y_true=[0, 1, 1], y_score=[0.1, 0.2, 0.3], groups=[0.5, 0, 0]), "groups"),
        (dict(y_true=[0, 1, 1], y_score=[0.1, 0.2, 0.3], groups=[0, 0, 0], weights="views"), "weights"),
        (dict(y_true=[], y_score=[], groups=[]), "empty"),
    ],
)
def test_gauc_refuses_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gauc(**kwargs)


# ----------------------------------------------------------------------------- bandits
POLICIES = [bandits.thompson_sampling, bandits.ucb1, bandits.epsilon_greedy]


@pytest.mark.parametrize("policy", POLICIES)
def test_runs_share_the_reward_table_and_count_consistently(policy):
    T = 400
    run = policy(PROBS, T, seed=3)
    table = np.random.default_rng(3).random((T, len(PROBS))) < np.array(PROBS)  # the common random numbers
    np.testing.assert_array_equal(run.rewards, table[np.arange(T), run.arms])
    assert run.arms.dtype == np.int64 and run.pulls.dtype == np.int64 and run.successes.dtype == np.int64
    np.testing.assert_array_equal(run.pulls, [np.sum(run.arms == a) for a in range(len(PROBS))])
    np.testing.assert_array_equal(run.successes, [run.rewards[run.arms == a].sum() for a in range(len(PROBS))])
    gaps = max(PROBS) - np.array(PROBS)
    np.testing.assert_allclose(run.regret, np.cumsum([gaps[a] for a in run.arms]), rtol=1e-12)
    assert np.all(np.diff(run.regret) >= 0)
    a, b = bandits.beta_posterior(run.successes, run.pulls - run.successes, prior=(2.0, 3.0))
    np.testing.assert_array_equal(a, 2.0 + run.successes)
    np.testing.assert_array_equal(b, 3.0 + run.pulls - run.successes)
    assert all(np.array_equal(x, y) for x, y in zip(run, policy(PROBS, T, seed=3)))  # deterministic


def test_ucb1_pulls_each_arm_once_then_follows_the_index():
    p, T = (0.3, 0.5, 0.45, 0.2), 300
    run = bandits.ucb1(p, T, seed=1)
    np.testing.assert_array_equal(run.arms[:4], [0, 1, 2, 3])
    table = np.random.default_rng(1).random((T, 4)) < np.array(p)
    n, s = [0] * 4, [0] * 4
    for t in range(T):  # Auer et al. 2002, fig. 1, in plain Python
        if t < 4:
            arm = t
        else:
            idx = [s[a] / n[a] + math.sqrt(2 * math.log(t) / n[a]) for a in range(4)]
            arm = idx.index(max(idx))
        assert run.arms[t] == arm
        n[arm] += 1
        s[arm] += int(table[t, arm])
    assert list(bandits.ucb1(p, 2).arms) == [0, 1]  # horizon shorter than the arms


def test_epsilon_zero_is_greedy_and_epsilon_one_is_uniform():
    T = 500
    run = bandits.epsilon_greedy(PROBS, T, epsilon=0.0, seed=2)
    table = np.random.default_rng(2).random((T, 5)) < np.array(PROBS)
    n, s = np.zeros(5), np.zeros(5)
    for t in range(T):
        mean = [s[a] / n[a] if n[a] else math.inf for a in range(5)]
        arm = mean.index(max(mean))  # ties: the lowest index
        assert run.arms[t] == arm
        n[arm] += 1
        s[arm] += table[t, arm]
    uniform = bandits.epsilon_greedy(PROBS, 5000, epsilon=1.0, seed=0)
    assert stats.chisquare(uniform.pulls).pvalue > 1e-3


def test_thompson_posterior_draws_follow_the_counts():
    """Thompson's arm choice is argmax of Beta(1 + s, 1 + f) draws: replayed here with the same generator."""
    T = 300
    run = bandits.thompson_sampling(PROBS, T, prior=(1.0, 2.0), seed=5)
    rng = np.random.default_rng(5)
    table = rng.random((T, 5)) < np.array(PROBS)
    s, f = np.zeros(5), np.zeros(5)
    for t in range(T):
        arm = int(np.argmax(rng.beta(1.0 + s, 2.0 + f)))
        assert run.arms[t] == arm
        s[arm] += table[t, arm]
        f[arm] += 1 - table[t, arm]


def test_thompson_beats_epsilon_greedy_and_regret_is_sublinear():
    final = {p.__name__: [p(PROBS, 5000, seed=s).regret for s in range(20)] for p in POLICIES}
    mean = {k: np.mean(v, axis=0) for k, v in final.items()}
    assert mean["thompson_sampling"][-1] < mean["epsilon_greedy"][-1] < mean["ucb1"][-1]
    for k, r in mean.items():
        if k != "epsilon_greedy":  # fixed ε explores forever: linear
            assert r[-1] - r[2499] < 0.9 * r[2499], k  # the second half costs less than the first
    assert mean["epsilon_greedy"][-1] < 0.1 * 0.06 * 5000 + 40  # ε·mean gap·T plus the greedy mistakes


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: bandits.ucb1((0.5, 1.2), 10), "probs"),
        (lambda: bandits.ucb1((0.5, -0.1), 10), "probs"),
        (lambda: bandits.ucb1((0.5, float("nan")), 10), "probs"),
        (lambda: bandits.ucb1((0.5,), 10), "at least 2"),
        (lambda: bandits.ucb1([[0.5, 0.2]], 10), "1-D"),
        (lambda: bandits.ucb1((0.5, 0.2), 0), "horizon"),
        (lambda: bandits.ucb1((0.5, 0.2), 10, seed=-1), "seed"),
        (lambda: bandits.epsilon_greedy((0.5, 0.2), 10, epsilon=1.5), "epsilon"),
        (lambda: bandits.thompson_sampling((0.5, 0.2), 10, prior=(0.0, 1.0)), "prior"),
        (lambda: bandits.beta_posterior([1, 2], [1]), "same length"),
        (lambda: bandits.beta_posterior([1, -2], [1, 1]), "successes"),
        (lambda: bandits.beta_posterior([1, 2], [1, 0.5]), "failures"),
    ],
)
def test_bandits_refuse_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: bandits.ucb1("abc", 10), "probs"),
        (lambda: bandits.ucb1((0.5, 0.2), 10.0), "horizon"),
        (lambda: bandits.ucb1((True, False), 10), "probs"),
        (lambda: bandits.thompson_sampling((0.5, 0.2), 10, prior=1.0), "prior"),
    ],
)
def test_bandits_refuse_wrong_types(call, match):
    with pytest.raises(TypeError, match=match):
        call()


# ----------------------------------------------------------------------------- A/B tests
@pytest.mark.parametrize(
    "s, n", [((120, 150), (1000, 1000)), ((30, 22), (400, 380)), ((5, 1), (17, 9)), ((499, 520), (5000, 5100))]
)
def test_ztest_equals_chi_square_of_the_2x2_table(s, n):
    out = abtest.two_proportion_ztest(s, n)
    table = np.array([[s[0], n[0] - s[0]], [s[1], n[1] - s[1]]])
    ref = stats.chi2_contingency(table, correction=False)
    assert out.z**2 == pytest.approx(ref.statistic, rel=1e-10)
    assert out.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert out.diff == pytest.approx(s[1] / n[1] - s[0] / n[0])
    assert math.copysign(1, out.z) == math.copysign(1, out.diff) or out.diff == 0
    greater = abtest.two_proportion_ztest(s, n, alternative="greater")
    less = abtest.two_proportion_ztest(np.array(s), torch.tensor(n), alternative="less")
    assert greater.p_value == pytest.approx(stats.norm.sf(out.z), rel=1e-9)
    assert less.p_value == pytest.approx(stats.norm.cdf(out.z), rel=1e-9)
    swapped = abtest.two_proportion_ztest(s[::-1], n[::-1])
    assert swapped.z == pytest.approx(-out.z) and swapped.p_value == pytest.approx(out.p_value)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(successes=(11, 5), trials=(10, 10)), "exceed"),
        (dict(successes=(-1, 5), trials=(10, 10)), "successes"),
        (dict(successes=(1.5, 5), trials=(10, 10)), "successes"),
        (dict(successes=(1, 5, 3), trials=(10, 10, 10)), "2 counts"),
        (dict(successes=(0, 0), trials=(10, 10)), "pooled"),
        (dict(successes=(0, 0), trials=(0, 10)), "trials"),
        (dict(successes=(1, 5), trials=(10, 10), alternative="larger"), "alternative"),
    ],
)
def test_ztest_refuses_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        abtest.two_proportion_ztest(**kwargs)


@pytest.mark.parametrize(
    "p, mde, alpha, power",
    [(0.1, 0.01, 0.05, 0.8), (0.05, 0.005, 0.05, 0.9), (0.5, 0.1, 0.01, 0.8), (0.2, 0.03, 0.1, 0.5)],
)
def test_sample_size_is_the_normal_approximation(p, mde, alpha, power):
    p2, pbar = p + mde, p + mde / 2
    root = stats.norm.ppf(1 - alpha / 2) * np.sqrt(2 * pbar * (1 - pbar)) + stats.norm.ppf(power) * np.sqrt(
        p * (1 - p) + p2 * (1 - p2)
    )
    n = abtest.sample_size(p, mde, alpha=alpha, power=power)
    assert isinstance(n, int) and n == math.ceil(root**2 / mde**2)
    assert abtest.sample_size(p, mde / 2, alpha=alpha, power=power) > 3 * n


def test_sample_size_reaches_the_power_by_simulation():
    p, mde = 0.1, 0.03
    n = abtest.sample_size(p, mde)
    rng = np.random.default_rng(0)
    sims = 4000
    s1, s2 = rng.binomial(n, p, sims), rng.binomial(n, p + mde, sims)
    pooled = (s1 + s2) / (2 * n)
    z = (s2 - s1) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)
    rate = np.mean(2 * stats.norm.sf(np.abs(z)) < 0.05)
    assert abs(rate - 0.8) < 4 * math.sqrt(0.8 * 0.2 / sims)
    some = [abtest.two_proportion_ztest((a, b), (n, n)).p_value < 0.05 for a, b in zip(s1[:50], s2[:50])]
    assert some == list(2 * stats.norm.sf(np.abs(z[:50])) < 0.05)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(p=0.0, mde=0.1), "p"),
        (dict(p=1.0, mde=0.1), "p"),
        (dict(p=0.95, mde=0.1), r"p \+ mde"),
        (dict(p=0.1, mde=0.0), "mde"),
        (dict(p=0.1, mde=-0.01), "mde"),
        (dict(p=0.1, mde=0.01, alpha=1.0), "alpha"),
        (dict(p=0.1, mde=0.01, power=0.0), "power"),
    ],
)
def test_sample_size_refuses_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        abtest.sample_size(**kwargs)


@pytest.mark.parametrize(
    "counts, expected",
    [
        ((5100, 4900), (0.5, 0.5)),
        ((500, 300, 200), (1, 1, 1)),
        ((1012, 2950), (0.25, 0.75)),
        ((3, 9, 4, 2), (0.1, 0.4, 0.3, 0.2)),
    ],
)
def test_srm_equals_scipy_chisquare(counts, expected):
    chi2, p = abtest.srm_test(counts, expected)
    r = np.array(expected, dtype=float)
    ref = stats.chisquare(counts, np.sum(counts) * r / r.sum())
    assert chi2 == pytest.approx(ref.statistic, rel=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(counts=(5, -1)), "counts"),
        (dict(counts=(5,), expected=(1,)), "2"),
        (dict(counts=(5, 5), expected=(1, 1, 1)), "expected"),
        (dict(counts=(5, 5), expected=(1, 0)), "expected"),
        (dict(counts=(0, 0)), "counts"),
    ],
)
def test_srm_refuses_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        abtest.srm_test(**kwargs)


def test_peeking_inflates_false_positives():
    one = abtest.peeking_false_positive_rate(looks=1)
    assert abs(one - 0.05) < 4 * math.sqrt(0.05 * 0.95 / 2000)
    rates = [abtest.peeking_false_positive_rate(looks=k) for k in (1, 5, 10, 20)]
    assert all(b > a for a, b in zip(rates, rates[1:]))
    assert rates[2] > 2.5 * 0.05  # ten looks: well above alpha


def test_peeking_matches_a_loop_of_scipy_tests():
    p, n, looks, sims = 0.2, 50, 4, 300
    rate = abtest.peeking_false_positive_rate(p, n, looks, alpha=0.1, n_sim=sims, seed=7)
    draws = np.random.default_rng(7).binomial(n, p, size=(sims, looks, 2)).cumsum(axis=1)
    ever = 0
    for sim in draws:
        for k, (a, b) in enumerate(sim):
            m = n * (k + 1)
            if 0 < a + b < 2 * m and stats.chi2_contingency([[a, m - a], [b, m - b]], correction=False).pvalue < 0.1:
                ever += 1
                break
    assert rate == ever / sims


def test_peeking_refuses_bad_input():
    for kwargs, name in [
        (dict(p=1.0), "p"),
        (dict(looks=0), "looks"),
        (dict(n_sim=0), "n_sim"),
        (dict(alpha=0.0), "alpha"),
        (dict(n_per_look=0), "n_per_look"),
        (dict(seed=-1), "seed"),
    ]:
        with pytest.raises(ValueError, match=name):
            abtest.peeking_false_positive_rate(**kwargs)


# ----------------------------------------------------------------------------- importance
def _classification(n=150, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (2 * X[:, 0] + X[:, 1] + 0.5 * rng.normal(size=n) > 0).astype(int)
    return X, y


def _auc_scorer(est, X, y):
    return roc_auc_score(y, est.predict_proba(X)[:, 1])


@pytest.mark.parametrize("scoring", [None, "accuracy", "roc_auc", "neg_log_loss", _auc_scorer])
@pytest.mark.parametrize("random_state", [0, 12345, "rs"])
def test_permutation_importance_equals_sklearn(scoring, random_state):
    X, y = _classification()
    est = LogisticRegression().fit(X, y)
    rs = (lambda: np.random.RandomState(3)) if random_state == "rs" else (lambda: random_state)
    ours = importance.permutation_importance(est, X, y, scoring=scoring, n_repeats=4, random_state=rs())
    theirs = sk_permutation_importance(est, X, y, scoring=scoring, n_repeats=4, random_state=rs())
    for key in ("importances", "importances_mean", "importances_std"):
        np.testing.assert_array_equal(ours[key], theirs[key])
    assert ours.importances.shape == (4, 4)


def test_permutation_importance_equals_sklearn_for_a_forest_a_regressor_and_the_global_state():
    X, y = _classification(120, seed=1)
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    a = importance.permutation_importance(forest, X, y, n_repeats=3, random_state=np.random.RandomState(0))
    b = sk_permutation_importance(forest, X, y, n_repeats=3, random_state=np.random.RandomState(0))
    np.testing.assert_array_equal(a.importances, b.importances)
    ridge = Ridge().fit(X, X @ [1.0, 0.0, -2.0, 0.5])
    np.random.seed(11)
    a = importance.permutation_importance(ridge, X, X @ [1.0, 0.0, -2.0, 0.5], scoring="r2")
    np.random.seed(11)
    b = sk_permutation_importance(ridge, X, X @ [1.0, 0.0, -2.0, 0.5], scoring="r2")
    np.testing.assert_array_equal(a.importances, b.importances)
    assert np.argmax(a.importances_mean) == 2 and a.importances_mean[1] < 1e-2


def test_permutation_importance_refuses_bad_input():
    X, y = _classification(30)
    est = LogisticRegression().fit(X, y)
    for kwargs, err, name in [
        (dict(n_repeats=0), ValueError, "n_repeats"),
        (dict(random_state=-1), ValueError, "random_state"),
        (dict(random_state=1.5), TypeError, "random_state"),
        (dict(scoring="no-such-scorer"), ValueError, "scoring"),
        (dict(scoring=3), TypeError, "scoring"),
    ]:
        with pytest.raises(err, match=name):
            importance.permutation_importance(est, X, y, **kwargs)
    with pytest.raises(ValueError, match="y"):
        importance.permutation_importance(est, X, y[:-1])
    with pytest.raises(ValueError, match="X"):
        importance.permutation_importance(est, X[0], y)
    with pytest.raises(TypeError, match="estimator"):
        importance.permutation_importance("model", X, y)


def test_drop_column_importance_finds_the_important_features():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    y = 3 * X[:, 0] + 1 * X[:, 1] + 0.1 * rng.normal(size=400)
    imp = importance.drop_column_importance(LinearRegression, X[:300], y[:300], X[300:], y[300:])
    assert imp.shape == (4,) and imp.dtype == np.float64
    assert imp[0] > imp[1] > 0.05 and np.all(np.abs(imp[2:]) < 0.01)
    full = LinearRegression().fit(X[:300], y[:300]).score(X[300:], y[300:])
    minus0 = LinearRegression().fit(X[:300, 1:], y[:300]).score(X[300:, 1:], y[300:])
    assert imp[0] == pytest.approx(full - minus0, abs=1e-12)
    with pytest.raises(ValueError, match="columns"):
        importance.drop_column_importance(LinearRegression, X[:300], y[:300], X[300:, :3], y[300:])
    with pytest.raises(TypeError, match="make_estimator"):
        importance.drop_column_importance("LinearRegression", X[:300], y[:300], X[300:], y[300:])


def test_gradient_x_input_of_a_linear_model_is_w_times_x():
    torch.manual_seed(0)
    lin = nn.Linear(6, 1).double()
    x = torch.randn(5, 6, dtype=torch.float64)
    before = x.clone()
    out = importance.gradient_x_input(lin, x)
    torch.testing.assert_close(out, lin.weight[0].detach() * x, rtol=0, atol=0)
    torch.testing.assert_close(x, before, rtol=0, atol=0)
    assert lin.weight.grad is None


def test_gradient_x_input_equals_the_jacobian_of_an_mlp_and_keeps_the_mode():
    torch.manual_seed(1)
    mlp = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)).double().eval()
    x = torch.randn(3, 4, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda z: mlp(z).sum(), x)
    torch.testing.assert_close(importance.gradient_x_input(mlp, x), x * jac)
    assert not mlp.training
    with torch.no_grad():  # works inside no_grad too
        torch.testing.assert_close(importance.gradient_x_input(mlp, x), x * jac)
    with pytest.raises(TypeError, match="x"):
        importance.gradient_x_input(mlp, x.long())
    with pytest.raises(TypeError, match="model"):
        importance.gradient_x_input("mlp", x)
