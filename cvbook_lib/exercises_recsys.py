"""Check functions for appendix A's exercises (推荐系统), in the style of :mod:`cvbook_lib.exercises`: each answers
every input with a ``CheckResult`` and never raises. The expected values come from :mod:`cvbook_lib.recsys`
(whose tests compare them with scikit-learn's per-group AUC, the normal-approximation formula evaluated with
scipy and a simulation, and an unbiasedness property on simulated logs)."""

from __future__ import annotations

import functools

from .exercises import CheckResult, _compare

__all__ = ["check_gauc", "check_sample_size", "check_ips_ctr", "GAUC_EXERCISE"]

# Exercise 1's log: (user, label, score) — user 0 ranks its click first, user 1 ranks it last.
GAUC_EXERCISE = {
    "groups": [0, 0, 0, 0, 1, 1, 1],
    "y_true": [1, 0, 0, 0, 1, 0, 0],
    "y_score": [0.9, 0.8, 0.3, 0.2, 0.1, 0.6, 0.5],
}


@functools.cache
def _gauc() -> float:
    from .recsys import gauc

    return gauc(GAUC_EXERCISE["y_true"], GAUC_EXERCISE["y_score"], GAUC_EXERCISE["groups"]).gauc


@functools.cache
def _sample_size() -> int:
    from .recsys import sample_size

    return sample_size(0.05, 0.005, alpha=0.05, power=0.8)


@functools.cache
def _ips_ctr() -> float:
    from .recsys import ips_mean

    clicks = [1.0] * 30 + [0.0] * 270 + [1.0] * 10 + [0.0] * 290
    propensity = [1.0] * 300 + [1 / 3] * 300
    return ips_mean(clicks, propensity)


def check_gauc(answer) -> CheckResult:
    """Exercise 1: the impression-weighted GAUC of the seven-impression log ``GAUC_EXERCISE``."""
    return _compare(
        answer,
        _gauc(),
        "这份日志的 GAUC（按曝光数加权）",
        "用户 0 的 AUC 是 1（点击排第一），用户 1 的 AUC 是 0（点击排最后）；按曝光数 4 : 3 加权平均",
        tol=5e-4,
    )


def check_sample_size(answer) -> CheckResult:
    """Exercise 2: users per group to detect 5% → 5.5% (two-sided α = 0.05, power 0.8). Within 50 of the exact
    31,234: rounded quantiles (1.96, 0.84) and the pooled-variance shortcut land inside, a one-sided test or the
    total of both groups do not."""
    return _compare(
        answer,
        _sample_size(),
        "每组所需样本量",
        "n = (z_{1−α/2}·√(2p̄q̄) + z_{power}·√(p₁q₁ + p₂q₂))² / mde²，向上取整；分位数用 scipy.stats.norm.ppf"
        "（z_{0.975} ≈ 1.96，z_{0.8} ≈ 0.84）；n 是每组的人数，检验是双侧的",
        tol=50,
    )


def check_ips_ctr(answer) -> CheckResult:
    """Exercise 3: the IPS estimate of an item's click-if-examined probability from a two-position log."""
    return _compare(
        answer,
        _ips_ctr(),
        "IPS 估计的相关性",
        "每次曝光的点击除以该位置的检查概率再平均：(30/1 + 10/(1/3)) / 600",
        tol=5e-4,
    )
