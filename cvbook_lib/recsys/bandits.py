"""Multi-armed Bernoulli bandits: Thompson sampling, UCB1 and ε-greedy on one simulator (numpy).

The simulator uses common random numbers: the table ``rewards[t, a] ~ Bernoulli(probs[a])`` (t < horizon) is drawn
first from ``np.random.default_rng(seed)``, so every policy run with the same seed faces the same draws (its
reward at step t is ``rewards[t, arm_t]``); a policy's own randomness (posterior samples, exploration) comes from
the same generator afterwards. Regret is the cumulative pseudo-regret Σ_t (max_a p_a − p_{arm_t}).
Tested in ``tests/test_recsys.py``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from .._checks import _short, check_float, check_int

__all__ = ["BanditRun", "thompson_sampling", "ucb1", "epsilon_greedy", "beta_posterior"]


class _RunFields(NamedTuple):
    arms: np.ndarray
    rewards: np.ndarray
    regret: np.ndarray
    pulls: np.ndarray
    successes: np.ndarray


class BanditRun(_RunFields):
    """arms int64[horizon]: the arm pulled at each step; rewards float64[horizon]: its 0/1 reward;
    regret float64[horizon]: cumulative pseudo-regret Σ_{s<=t} (max p − p[arm_s]); pulls int64[n_arms];
    successes int64[n_arms] (failures = pulls − successes). Fields are 1-D numpy arrays (checked)."""

    __slots__ = ()

    def __new__(
        cls, arms: np.ndarray, rewards: np.ndarray, regret: np.ndarray, pulls: np.ndarray, successes: np.ndarray
    ):
        for name, a, kinds in (
            ("arms", arms, "iu"),
            ("rewards", rewards, "f"),
            ("regret", regret, "f"),
            ("pulls", pulls, "iu"),
            ("successes", successes, "iu"),
        ):
            if not isinstance(a, np.ndarray) or a.ndim != 1 or a.dtype.kind not in kinds:
                raise TypeError(f"{name} must be a 1-D numpy array of dtype kind {kinds!r}, got {_short(a)}")
        if not len(arms) == len(rewards) == len(regret) or len(pulls) != len(successes):
            raise ValueError(
                f"arms, rewards and regret must have one entry per step, pulls and successes one per "
                f"arm, got lengths {len(arms)}, {len(rewards)}, {len(regret)}, {len(pulls)} and "
                f"{len(successes)}"
            )
        return super().__new__(cls, arms, rewards, regret, pulls, successes)


def _as_array(x, name: str) -> np.ndarray:
    """A 1-D float64 numpy copy of a list / tuple / numpy array / tensor of real numbers."""
    if isinstance(x, torch.Tensor):
        if x.dtype == torch.bool or x.is_complex():
            raise TypeError(f"{name} must hold real numbers, got {x.dtype}")
        x = x.detach().cpu().numpy()
    if not isinstance(x, (list, tuple, np.ndarray)):
        raise TypeError(
            f"{name} must be a list, tuple, numpy array or tensor of numbers, got {type(x).__name__} {_short(x)}"
        )
    if isinstance(x, (list, tuple)) and any(isinstance(e, (bool, np.bool_)) for e in x):
        raise TypeError(f"{name} must hold numbers, not bools, got {_short(x)}")
    try:
        a = np.array(x)
    except ValueError as err:
        raise ValueError(f"{name} must be a 1-D sequence of numbers, got {_short(x)} ({err})") from None
    if a.dtype.kind not in "iuf" or a.dtype == np.bool_:
        raise TypeError(f"{name} must hold real numbers (not bool, complex or strings), got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    return a.astype(np.float64)


def _check_probs(probs) -> np.ndarray:
    p = _as_array(probs, "probs")
    if len(p) < 2:
        raise ValueError(f"probs must hold at least 2 arms, got {len(p)}")
    if not np.all((p >= 0) & (p <= 1)):  # NaN fails too
        raise ValueError(f"probs must be in [0, 1], got {p.tolist()!r}")
    return p


def _check_prior(prior) -> tuple[float, float]:
    if not isinstance(prior, (tuple, list)) or len(prior) != 2:
        raise TypeError(f"prior must be a pair (alpha, beta) of positive numbers, got {_short(prior)}")
    a = check_float(prior[0], "prior", 0.0, min_open=True, allow_inf=False)
    b = check_float(prior[1], "prior", 0.0, min_open=True, allow_inf=False)
    return a, b


def _setup(probs, horizon, seed):
    p = _check_probs(probs)
    horizon = check_int(horizon, "horizon", 1)
    seed = check_int(seed, "seed", 0)
    rng = np.random.default_rng(seed)
    table = rng.random((horizon, len(p))) < p  # [T, K] common random numbers
    return p, horizon, rng, table


def _finish(p, table, arms) -> BanditRun:
    arms = np.asarray(arms, dtype=np.int64)
    rewards = table[np.arange(len(arms)), arms].astype(np.float64)
    regret = np.cumsum(p.max() - p[arms])
    pulls = np.bincount(arms, minlength=len(p)).astype(np.int64)
    successes = np.bincount(arms, weights=rewards, minlength=len(p)).astype(np.int64)
    return BanditRun(arms, rewards, regret, pulls, successes)


def thompson_sampling(probs, horizon: int, *, prior: tuple[float, float] = (1.0, 1.0), seed: int = 0) -> BanditRun:
    """Beta-Bernoulli Thompson sampling (Thompson 1933; Chapelle & Li 2011, "An Empirical Evaluation of Thompson
    Sampling", NeurIPS): at each step draw θ_a ~ Beta(α + s_a, β + f_a) for every arm (s_a successes, f_a
    failures so far) and pull argmax_a θ_a (ties: lowest index).

    probs: [K] success probabilities in [0, 1], K >= 2; horizon >= 1 steps; prior (α, β) > 0. Returns
    :class:`BanditRun`."""
    p, horizon, rng, table = _setup(probs, horizon, seed)
    a0, b0 = _check_prior(prior)
    k = len(p)
    alpha, beta = np.full(k, a0), np.full(k, b0)
    arms = np.empty(horizon, dtype=np.int64)
    for t in range(horizon):
        arm = int(np.argmax(rng.beta(alpha, beta)))
        arms[t] = arm
        if table[t, arm]:
            alpha[arm] += 1.0
        else:
            beta[arm] += 1.0
    return _finish(p, table, arms)


def ucb1(probs, horizon: int, *, seed: int = 0) -> BanditRun:
    """UCB1 (Auer, Cesa-Bianchi & Fischer 2002, "Finite-time Analysis of the Multiarmed Bandit Problem", Mach.
    Learn. 47): pull every arm once (arms 0, 1, …, K−1), then at step t (t pulls done so far) the arm maximizing
    mean_a + sqrt(2 ln t / n_a) (ties: lowest index). Deterministic given the rewards; ``seed`` draws the table.

    probs: [K] in [0, 1], K >= 2; horizon >= 1. Returns :class:`BanditRun`."""
    p, horizon, _, table = _setup(probs, horizon, seed)
    k = len(p)
    n, s = np.zeros(k), np.zeros(k)
    arms = np.empty(horizon, dtype=np.int64)
    for t in range(horizon):
        arm = t if t < k else int(np.argmax(s / n + np.sqrt(2.0 * math.log(t) / n)))
        arms[t] = arm
        n[arm] += 1.0
        s[arm] += table[t, arm]
    return _finish(p, table, arms)


def epsilon_greedy(probs, horizon: int, *, epsilon: float = 0.1, seed: int = 0) -> BanditRun:
    """ε-greedy (Sutton & Barto 2018, sec. 2.2): with probability ε pull a uniformly random arm, otherwise the
    arm with the highest empirical mean s_a / n_a. Arms never pulled count as +inf (so they are tried first) and
    ties go to the lowest index; ε = 0 is the pure greedy policy. The exploration coins and the random arms are
    drawn up front (after the reward table) from the same generator.

    probs: [K] in [0, 1], K >= 2; horizon >= 1; epsilon in [0, 1]. Returns :class:`BanditRun`."""
    p, horizon, rng, table = _setup(probs, horizon, seed)
    epsilon = check_float(epsilon, "epsilon", 0.0, 1.0)
    k = len(p)
    explore = rng.random(horizon) < epsilon
    random_arm = rng.integers(0, k, horizon)
    n, s = np.zeros(k), np.zeros(k)
    mean = np.full(k, np.inf)
    arms = np.empty(horizon, dtype=np.int64)
    for t in range(horizon):
        arm = int(random_arm[t]) if explore[t] else int(np.argmax(mean))
        arms[t] = arm
        n[arm] += 1.0
        s[arm] += table[t, arm]
        mean[arm] = s[arm] / n[arm]
    return _finish(p, table, arms)


def beta_posterior(successes, failures, prior: tuple[float, float] = (1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """The Beta posterior of Bernoulli rates under a Beta(α, β) prior: (α + successes, β + failures).

    successes, failures: [K] non-negative counts (integers, as lists / numpy arrays / tensors) of the same length;
    prior (α, β) > 0. Returns (alpha float64[K], beta float64[K])."""
    a0, b0 = _check_prior(prior)
    s, f = _as_array(successes, "successes"), _as_array(failures, "failures")
    for name, x in (("successes", s), ("failures", f)):
        if not np.all((x >= 0) & (x == np.round(x)) & np.isfinite(x)):
            raise ValueError(f"{name} must hold non-negative integer counts, got {x.tolist()!r}")
    if s.shape != f.shape:
        raise ValueError(f"successes and failures must have the same length, got {len(s)} and {len(f)}")
    return a0 + s, b0 + f
