"""cvbook_lib.recsys.sampling and .debias: negatives, sampled softmax with logQ, IPS, popularity bias.

References: numpy formulas, torch.nn.functional.cross_entropy, torch.multinomial frequencies against
scipy.stats.chisquare, scipy.special.softmax, per-user numpy loops; properties where no reference exists
(IPS unbiased over seeds while the naive CTR is not; a constant log_q changes nothing; the penalty is monotone).
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax as np_softmax
from scipy.stats import chisquare, spearmanr

from cvbook_lib.recsys import debias, sampling, topk

COUNTS = torch.tensor([50, 20, 0, 7, 1, 3, 12, 100])


# ----------------------------------------------------------------------------- sampling_probs / sample_negatives
def test_sampling_probs_against_numpy():
    c = COUNTS.numpy().astype(float)
    torch.testing.assert_close(sampling.sampling_probs(COUNTS), torch.full((8,), 1 / 8, dtype=torch.float64))
    for power in (0.75, 1.0, 0.5):
        expected = torch.from_numpy(c**power / (c**power).sum())
        torch.testing.assert_close(sampling.sampling_probs(COUNTS, "popularity", power), expected)
    q0 = sampling.sampling_probs(COUNTS, "popularity", 0.0)  # uniform over the seen items, unseen stays 0
    torch.testing.assert_close(q0, torch.from_numpy((c > 0) / (c > 0).sum()))
    torch.testing.assert_close(
        sampling.sampling_probs(c.tolist(), "popularity"), sampling.sampling_probs(COUNTS, "popularity")
    )


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=30).filter(any), st.floats(0, 2))
def test_sampling_probs_is_a_distribution(counts, power):
    q = sampling.sampling_probs(torch.tensor(counts), "popularity", power)
    assert q.dtype == torch.float64 and bool((q >= 0).all())
    assert math.isclose(float(q.sum()), 1.0, rel_tol=1e-12)
    assert bool((q[torch.tensor(counts) == 0] == 0).all())


@pytest.mark.parametrize("method", ["uniform", "popularity"])
def test_sample_negatives_frequencies_chisquare(method):
    n = 40000
    g = torch.Generator().manual_seed(3)
    draws = sampling.sample_negatives(COUNTS, n, method=method, generator=g)
    assert draws.dtype == torch.int64 and draws.shape == (n,)
    q = sampling.sampling_probs(COUNTS, method).numpy()
    observed = np.bincount(draws.numpy(), minlength=8)
    seen = q > 0
    assert observed[~seen].sum() == 0
    assert chisquare(observed[seen], n * q[seen]).pvalue > 1e-3


def test_sample_negatives_exclude_and_determinism():
    exclude = torch.tensor([0, 7, 7])
    draws = sampling.sample_negatives(
        COUNTS, 30000, method="popularity", exclude=exclude, generator=torch.Generator().manual_seed(0)
    )
    assert not bool(torch.isin(draws, exclude).any())
    q = sampling.sampling_probs(COUNTS, "popularity").numpy().copy()
    q[[0, 7]] = 0
    q /= q.sum()
    seen = q > 0
    assert chisquare(np.bincount(draws.numpy(), minlength=8)[seen], 30000 * q[seen]).pvalue > 1e-3
    a = sampling.sample_negatives(COUNTS, 50, generator=torch.Generator().manual_seed(5))
    ref = torch.multinomial(
        torch.full((8,), 1 / 8, dtype=torch.float64), 50, True, generator=torch.Generator().manual_seed(5)
    )
    assert torch.equal(a, ref)
    assert sampling.sample_negatives(COUNTS, 0).shape == (0,)


# ----------------------------------------------------------------------------- in-batch softmax
def _qv(b=6, d=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, generator=g, dtype=dtype), torch.randn(b, d, generator=g, dtype=dtype)


def test_in_batch_logits_is_a_scaled_matmul():
    q, v = _qv()
    torch.testing.assert_close(sampling.in_batch_logits(q, v, temperature=0.5), torch.matmul(q, v.T) * 2)
    assert sampling.in_batch_logits(q, v[:3]).shape == (6, 3)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_sampled_softmax_loss_equals_cross_entropy(reduction):
    q, v = _qv()
    log_q = torch.log(torch.tensor([0.3, 0.1, 0.05, 0.2, 0.25, 0.1], dtype=torch.float64))
    ours = sampling.sampled_softmax_loss(q, v, log_q=log_q, temperature=0.2, reduction=reduction)
    logits = q @ v.T / 0.2 - log_q[None, :]
    torch.testing.assert_close(ours, F.cross_entropy(logits, torch.arange(6), reduction=reduction))
    # an independent numpy reference: -(l_ii - logsumexp_j l_ij)
    lg = logits.numpy()
    per_row = np.log(np.exp(lg - lg.max(1, keepdims=True)).sum(1)) + lg.max(1) - np.diag(lg)
    expected = {"mean": per_row.mean(), "sum": per_row.sum(), "none": per_row}[reduction]
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12)


def test_constant_log_q_changes_nothing_and_gradients_match():
    q, v = _qv(dtype=torch.float64)
    q.requires_grad_(True)
    base = sampling.sampled_softmax_loss(q, v)
    const = sampling.sampled_softmax_loss(q, v, log_q=torch.full((6,), math.log(0.01), dtype=torch.float64))
    torch.testing.assert_close(base, const)
    (g1,) = torch.autograd.grad(base, q)
    q2 = q.detach().clone().requires_grad_(True)
    (g2,) = torch.autograd.grad(F.cross_entropy(q2 @ v.T, torch.arange(6)), q2)
    torch.testing.assert_close(g1, g2)
    assert torch.autograd.gradcheck(lambda x: sampling.sampled_softmax_loss(x, v, temperature=0.7), (q,))


def test_log_q_lowers_the_loss_of_popular_negatives():
    """Subtracting log q raises the logits of rare items and lowers the frequent ones' (relative to the positive)."""
    q, v = _qv()
    log_q = torch.zeros(6, dtype=torch.float64)
    log_q[0] = math.log(0.5)  # item 0 frequent: as a negative of rows 1..5 its logit goes up by log 2
    plain = sampling.sampled_softmax_loss(q, v, reduction="none")
    corrected = sampling.sampled_softmax_loss(q, v, log_q=log_q, reduction="none")
    assert bool((corrected[1:] > plain[1:]).all()) and corrected[0] < plain[0]


def test_estimate_item_frequency_against_bincount():
    ids = np.random.default_rng(0).integers(0, 9, 500)
    ours = sampling.estimate_item_frequency(torch.from_numpy(ids), 12)
    torch.testing.assert_close(ours, torch.from_numpy(np.bincount(ids, minlength=12) / 500.0))
    torch.testing.assert_close(sampling.estimate_item_frequency(ids, 12), ours)


# ----------------------------------------------------------------------------- popularity penalty
def test_popularity_penalty_formulas():
    s = torch.rand(3, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    c = COUNTS.numpy().astype(float)
    torch.testing.assert_close(
        sampling.popularity_penalty(s, COUNTS, alpha=0.3), torch.from_numpy(s.numpy() - 0.3 * np.log(1 + c))
    )
    torch.testing.assert_close(
        sampling.popularity_penalty(s, COUNTS, alpha=0.7, method="power"), torch.from_numpy(s.numpy() / (1 + c) ** 0.7)
    )
    for method in ("log", "power"):
        torch.testing.assert_close(sampling.popularity_penalty(s, COUNTS, alpha=0.0, method=method), s)
    assert sampling.popularity_penalty(s.float(), COUNTS).dtype == torch.float32


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 10000), min_size=2, max_size=20), st.floats(0.01, 3), st.sampled_from(["log", "power"]))
def test_popularity_penalty_is_monotone_in_count(counts, alpha, method):
    scores = torch.ones(len(counts), dtype=torch.float64)  # equal scores: the order is the penalty's alone
    out = sampling.popularity_penalty(scores, counts, alpha=alpha, method=method)
    c = torch.tensor(counts)
    more = c[:, None] > c[None, :]
    assert bool((out[:, None] < out[None, :])[more].all())


# ----------------------------------------------------------------------------- IPS
def test_ips_mean_against_numpy():
    rng = np.random.default_rng(0)
    v, p = rng.random(100), rng.uniform(0.05, 1, 100)
    assert math.isclose(debias.ips_mean(v, p), float(np.mean(v / p)), rel_tol=1e-12)
    assert math.isclose(
        debias.ips_mean(torch.from_numpy(v), p, self_normalized=True),
        float(np.sum(v / p) / np.sum(1 / p)),
        rel_tol=1e-12,
    )
    assert math.isclose(debias.ips_mean(v, p, clip=4.0), float(np.mean(v * np.minimum(1 / p, 4.0))), rel_tol=1e-12)


def test_ips_mean_unbiased_over_seeds_while_naive_is_not():
    """Record i is observed with probability p_i that grows with its value; the IPS mean over 400 seeds is within
    4 standard errors of the true mean, the observed-only mean is far off."""
    rng = np.random.default_rng(0)
    v = rng.random(200)
    p = 0.1 + 0.8 * v  # high values are observed more often: selection bias
    truth = v.mean()
    ips, hajek, naive = [], [], []
    for seed in range(400):
        seen = np.random.default_rng(seed + 1).random(200) < p
        ips.append(debias.ips_mean(v * seen, p))  # Horvitz-Thompson: every record, 0 where unobserved
        hajek.append(debias.ips_mean(v[seen], p[seen], self_normalized=True))  # observed records only
        naive.append(v[seen].mean())
    se = np.std(ips) / math.sqrt(len(ips))
    assert abs(np.mean(ips) - truth) < 4 * se
    assert abs(np.mean(hajek) - truth) < 4 * np.std(hajek) / math.sqrt(len(hajek)) + 0.005  # O(1/n) bias
    assert abs(np.mean(naive) - truth) > 20 * np.std(naive) / math.sqrt(len(naive))


def test_per_item_ctr_against_a_loop():
    rng = np.random.default_rng(2)
    item, click, p = rng.integers(0, 5, 300), (rng.random(300) < 0.3).astype(float), rng.uniform(0.1, 1, 300)
    item[item == 4] = 3  # item 4 never shown: NaN
    naive = debias.per_item_ctr(item, click, 5)
    ips = debias.per_item_ctr(item, click, 5, propensity=p)
    for j in range(4):
        m = item == j
        assert math.isclose(naive[j], click[m].mean(), rel_tol=1e-12)
        assert math.isclose(ips[j], debias.ips_mean(click[m], p[m]), rel_tol=1e-12)
    assert math.isnan(naive[4]) and math.isnan(ips[4])


def test_make_position_log_structure_and_click_model():
    log = debias.make_position_log(n_items=20, n_positions=5, n_sessions=4000, seed=1)
    n = 4000 * 5
    assert log["item"].shape == log["position"].shape == log["click"].shape == (n,)
    torch.testing.assert_close(log["examination"], 1.0 / (1.0 + torch.arange(5, dtype=torch.float64)))
    items = log["item"].view(4000, 5)
    assert bool((items.sort(1).values.diff(dim=1) > 0).all())  # distinct items in a session
    assert torch.equal(log["position"].view(4000, 5), torch.arange(5).expand(4000, 5))
    # click rate per position = mean of relevance·examination over what was shown there (binomial z < 5)
    p_click = log["relevance"][log["item"]] * log["examination"][log["position"]]
    for k in range(5):
        m = log["position"] == k
        expected, var = p_click[m].sum(), (p_click[m] * (1 - p_click[m])).sum()
        assert abs(float(log["click"][m].sum() - expected)) < 5 * math.sqrt(float(var))
    again = debias.make_position_log(n_items=20, n_positions=5, n_sessions=4000, seed=1)
    assert all(torch.equal(log[k], again[k]) for k in log)
    # the logging policy puts favoured items on top: mean position falls with the logging score
    mean_pos = torch.bincount(log["item"], log["position"].double(), 20) / torch.bincount(log["item"], minlength=20)
    assert spearmanr(mean_pos.numpy(), log["logging_score"].numpy())[0] < -0.8


def test_ips_recovers_relevance_where_the_naive_ctr_does_not():
    log = debias.make_position_log(seed=0)
    rel = log["relevance"].numpy()
    naive = debias.per_item_ctr(log["item"], log["click"], 50).numpy()
    ips = debias.per_item_ctr(log["item"], log["click"], 50, propensity=log["examination"][log["position"]]).numpy()
    assert np.abs(ips - rel).mean() < 0.03 < 0.15 < np.abs(naive - rel).mean()
    assert spearmanr(ips, rel)[0] > 0.97 and spearmanr(ips, rel)[0] > spearmanr(naive, rel)[0] + 0.05


# ----------------------------------------------------------------------------- two-tower retrieval
def test_two_tower_scores_and_forward():
    m = debias.TwoTower(5, 7, 3, seed=0)
    torch.testing.assert_close(m.scores(), m.user.weight.detach() @ m.item.weight.detach().T)
    u, v = m(torch.tensor([0, 4]), torch.tensor([6, 1]))
    assert u.shape == v.shape == (2, 3)
    assert torch.equal(debias.TwoTower(5, 7, 3, seed=0).scores(), m.scores())


def test_make_interaction_log_ground_truth():
    log = debias.make_interaction_log(n_users=30, n_items=40, n_events=30000, dim=4, popularity=1.0, seed=0)
    expected = np_softmax(log["affinity"].numpy() + np.log(log["item_popularity"].numpy())[None, :], axis=1)
    np.testing.assert_allclose(log["relevance"].numpy(), expected, rtol=1e-10)
    assert torch.equal(log["item_counts"], torch.bincount(log["items"], minlength=40))
    # item frequencies follow the marginal P(j) = mean_u P(j | u) (users uniform)
    q = expected.mean(axis=0)
    assert chisquare(log["item_counts"].numpy(), 30000 * q).pvalue > 1e-3
    # and a user's items follow P(. | u)
    m = log["users"] == 0
    obs = torch.bincount(log["items"][m], minlength=40).numpy()
    assert chisquare(obs, m.sum().item() * expected[0]).pvalue > 1e-3


def test_train_two_tower_logq_removes_the_popularity_bias():
    """Yi et al. 2019: without logQ the in-batch softmax over-penalises popular items (recommendations far less
    popular than the true top-10); with logQ the ranking is much closer to the relevance ranking."""
    log = debias.make_interaction_log(n_users=100, n_items=150, n_events=10000, seed=0)
    truth = topk.top_k_mask(log["relevance"], 10)
    counts = log["item_counts"]
    log_q = sampling.estimate_item_frequency(log["items"], 150).log()
    res = {}
    for name, lq in (("plain", None), ("logq", log_q)):
        m = debias.train_two_tower(debias.TwoTower(100, 150, 16, seed=0), log["users"], log["items"], log_q=lq)
        assert not m.training and len(m.loss_history) == 5 and m.loss_history[-1] < m.loss_history[0]
        s = m.scores()
        res[name] = (topk.recall_at_k(s, truth, 10), counts[s.topk(10).indices].double().mean().item())
    true_pop = counts[log["relevance"].topk(10).indices].double().mean().item()
    assert res["logq"][0] > res["plain"][0] + 0.3
    assert res["plain"][1] < 0.3 * true_pop < 0.7 * true_pop < res["logq"][1]


def test_train_two_tower_is_deterministic():
    log = debias.make_interaction_log(n_users=10, n_items=12, n_events=300, seed=0)
    a = debias.train_two_tower(debias.TwoTower(10, 12, 4, seed=1), log["users"], log["items"], epochs=2, seed=3)
    b = debias.train_two_tower(debias.TwoTower(10, 12, 4, seed=1), log["users"], log["items"], epochs=2, seed=3)
    assert torch.equal(a.scores(), b.scores()) and a.loss_history == b.loss_history


# ----------------------------------------------------------------------------- top-k metrics
def _np_topk(s, k):
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(2, 15), st.data())
def test_recall_coverage_tail_against_numpy(n_users, n_items, data):
    k = data.draw(st.integers(1, n_items))
    seed = data.draw(st.integers(0, 1000))
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 4, (n_users, n_items)).astype(float)  # many ties: lowest id first
    rel = rng.random((n_users, n_items)) < 0.3
    counts = rng.integers(0, 5, n_items)
    top = _np_topk(s, k)
    recalls = [np.isin(np.flatnonzero(rel[u]), top[u]).mean() for u in range(n_users) if rel[u].any()]
    st_, rt = torch.from_numpy(s), torch.from_numpy(rel)
    ours = topk.recall_at_k(st_, rt, k)
    assert (math.isnan(ours) and not recalls) or math.isclose(ours, np.mean(recalls), rel_tol=1e-12)
    assert topk.coverage_at_k(st_, k) == len(np.unique(top)) / n_items
    mask = np.zeros_like(rel)
    np.put_along_axis(mask, top, True, axis=1)
    assert torch.equal(topk.top_k_mask(st_, k), torch.from_numpy(mask))
    head = set(np.argsort(-counts, kind="stable")[: math.ceil(0.2 * n_items)].tolist())
    expected_tail = np.mean([j not in head for j in top.ravel()])
    assert math.isclose(topk.tail_share_at_k(st_, counts, k), expected_tail, abs_tol=1e-12)


def test_metrics_by_hand():
    s = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    rel = torch.tensor([[True, False, False, True], [False, False, False, False]])
    assert topk.recall_at_k(s, rel, 2) == 0.5  # user 1 has no relevant item: left out
    assert topk.coverage_at_k(s, 1) == 0.5 and topk.coverage_at_k(s, 2) == 1.0
    counts = torch.tensor([100, 1, 1, 50])  # head (0.25 · 4 → 1 item) = item 0
    assert topk.tail_share_at_k(s, counts, 2, head=0.25) == 0.75
    assert topk.tail_share_at_k(s, counts, 2, head=0.0) == 1.0


def test_popularity_penalty_trades_recall_for_tail():
    log = debias.make_interaction_log(n_users=100, n_items=150, n_events=5000, seed=1)
    truth = topk.top_k_mask(log["relevance"], 10)
    base = log["relevance"].log()
    rows = [
        (topk.recall_at_k(p, truth, 10), topk.tail_share_at_k(p, log["item_counts"], 10))
        for a in (0.0, 0.5, 1.0)
        for p in [sampling.popularity_penalty(base, log["item_counts"], alpha=a)]
    ]
    assert rows[0][0] == 1.0
    assert rows[0][0] > rows[1][0] > rows[2][0] and rows[0][1] < rows[1][1] < rows[2][1]


# ----------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: sampling.sampling_probs(torch.tensor([1, -2])), ValueError, "item_counts"),
        (lambda: sampling.sampling_probs(torch.tensor([1.0, math.nan])), ValueError, "item_counts"),
        (lambda: sampling.sampling_probs(torch.zeros(3), "popularity"), ValueError, "item_counts"),
        (lambda: sampling.sampling_probs(torch.zeros(0)), ValueError, "item_counts"),
        (lambda: sampling.sampling_probs(COUNTS, "zipf"), ValueError, "method"),
        (lambda: sampling.sampling_probs(COUNTS, "popularity", -1.0), ValueError, "power"),
        (lambda: sampling.sampling_probs("abc"), TypeError, "item_counts"),
        (lambda: sampling.sample_negatives(COUNTS, -1), ValueError, "num_samples"),
        (lambda: sampling.sample_negatives(COUNTS, 2.5), TypeError, "num_samples"),
        (lambda: sampling.sample_negatives(COUNTS, 3, exclude=torch.tensor([8])), ValueError, "exclude"),
        (lambda: sampling.sample_negatives(COUNTS, 3, exclude=torch.tensor([1.0])), TypeError, "exclude"),
        (lambda: sampling.sample_negatives(COUNTS, 3, exclude=torch.arange(8)), ValueError, "exclude"),
        (lambda: sampling.sample_negatives(COUNTS, 3, generator=0), TypeError, "generator"),
        (lambda: sampling.in_batch_logits(torch.ones(2, 3), torch.ones(2, 4)), ValueError, "query and item"),
        (lambda: sampling.in_batch_logits(torch.ones(2, 3), torch.ones(2, 3).double()), TypeError, "item"),
        (
            lambda: sampling.in_batch_logits(torch.ones(2, 3), torch.ones(2, 3), temperature=0.0),
            ValueError,
            "temperature",
        ),
        (lambda: sampling.in_batch_logits(torch.ones(3), torch.ones(2, 3)), ValueError, "query"),
        (lambda: sampling.sampled_softmax_loss(torch.ones(2, 3), torch.ones(3, 3)), ValueError, "batch size"),
        (
            lambda: sampling.sampled_softmax_loss(torch.ones(2, 3), torch.ones(2, 3), log_q=torch.ones(3)),
            ValueError,
            "log_q",
        ),
        (
            lambda: sampling.sampled_softmax_loss(
                torch.ones(2, 3), torch.ones(2, 3), log_q=torch.tensor([0.0, -math.inf])
            ),
            ValueError,
            "log_q",
        ),
        (
            lambda: sampling.sampled_softmax_loss(torch.ones(2, 3), torch.ones(2, 3), reduction="avg"),
            ValueError,
            "reduction",
        ),
        (lambda: sampling.sampled_softmax_loss(torch.ones(2, 3).long(), torch.ones(2, 3)), TypeError, "query"),
        (lambda: sampling.estimate_item_frequency(torch.tensor([0, 5]), 5), ValueError, "item_ids"),
        (lambda: sampling.estimate_item_frequency(torch.tensor([0.0]), 5), TypeError, "item_ids"),
        (lambda: sampling.estimate_item_frequency(torch.tensor([0]), 0), ValueError, "n_items"),
        (lambda: sampling.popularity_penalty(torch.ones(2, 7), COUNTS), ValueError, "scores"),
        (lambda: sampling.popularity_penalty(-torch.ones(8), COUNTS, method="power"), ValueError, "scores"),
        (lambda: sampling.popularity_penalty(torch.ones(8), COUNTS, alpha=-0.1), ValueError, "alpha"),
        (lambda: sampling.popularity_penalty(torch.ones(8), COUNTS, method="exp"), ValueError, "method"),
        (lambda: debias.ips_mean([1.0, 2.0], [0.5, 0.0]), ValueError, "propensity"),
        (lambda: debias.ips_mean([1.0, 2.0], [0.5, 1.5]), ValueError, "propensity"),
        (lambda: debias.ips_mean([1.0, 2.0], [0.5]), ValueError, "propensity"),
        (lambda: debias.ips_mean([1.0, math.nan], [0.5, 0.5]), ValueError, "values"),
        (lambda: debias.ips_mean([], []), ValueError, "values"),
        (lambda: debias.ips_mean([1.0], [0.5], clip=0.0), ValueError, "clip"),
        (lambda: debias.ips_mean([1.0], [0.5], self_normalized=1), TypeError, "self_normalized"),
        (lambda: debias.per_item_ctr([0, 1], [1, 2], 2), ValueError, "click"),
        (lambda: debias.per_item_ctr([0, 2], [1, 0], 2), ValueError, "item"),
        (lambda: debias.per_item_ctr([0, 1], [1, 0, 1], 2), ValueError, "item and click"),
        (lambda: debias.make_position_log(n_items=5, n_positions=6), ValueError, "n_positions"),
        (lambda: debias.make_position_log(n_positions=2, examination=[1.0, 0.0]), ValueError, "examination"),
        (lambda: debias.make_position_log(n_sessions=0), ValueError, "n_sessions"),
        (lambda: debias.TwoTower(0, 3), ValueError, "n_users"),
        (lambda: debias.TwoTower(2, 3, dim=2.0), TypeError, "dim"),
        (lambda: debias.TwoTower(2, 3)(torch.tensor([2]), torch.tensor([0])), ValueError, "users"),
        (lambda: debias.make_interaction_log(popularity=-1.0), ValueError, "popularity"),
        (
            lambda: debias.train_two_tower(torch.nn.Linear(2, 2), torch.tensor([0]), torch.tensor([0])),
            TypeError,
            "model",
        ),
        (
            lambda: debias.train_two_tower(debias.TwoTower(2, 3), torch.tensor([0, 1]), torch.tensor([0])),
            ValueError,
            "users and items",
        ),
        (
            lambda: debias.train_two_tower(
                debias.TwoTower(2, 3), torch.tensor([0]), torch.tensor([0]), log_q=torch.tensor([-math.inf, 0.0, 0.0])
            ),
            ValueError,
            "log_q",
        ),
        (
            lambda: debias.train_two_tower(debias.TwoTower(2, 3), torch.tensor([0]), torch.tensor([0]), batch_size=1),
            ValueError,
            "batch_size",
        ),
        (lambda: topk.recall_at_k(torch.ones(2, 3), torch.ones(2, 3, dtype=torch.bool), 4), ValueError, "k"),
        (lambda: topk.recall_at_k(torch.ones(2, 3), torch.ones(2, 3), 1), TypeError, "relevant"),
        (lambda: topk.recall_at_k(torch.ones(2, 3), torch.ones(3, 3, dtype=torch.bool), 1), ValueError, "relevant"),
        (lambda: topk.coverage_at_k(torch.tensor([[math.nan, 1.0]]), 1), ValueError, "scores"),
        (lambda: topk.tail_share_at_k(torch.ones(2, 3), [1, 2], 1), ValueError, "item_counts"),
        (lambda: topk.tail_share_at_k(torch.ones(2, 3), [1, 2, 3], 1, head=1.5), ValueError, "head"),
        (lambda: topk.top_k_mask(torch.ones(3), 1), ValueError, "scores"),
    ],
)
def test_bad_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_refusal_leaves_the_model_unchanged():
    m = debias.TwoTower(3, 4, 2, seed=0)
    before = m.scores().clone()
    with pytest.raises(ValueError, match="lr"):
        debias.train_two_tower(m, torch.tensor([0, 1]), torch.tensor([2, 3]), lr=0.0)
    assert torch.equal(m.scores(), before)
