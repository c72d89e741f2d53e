"""Check functions for chapter 14's exercises (其他), in the style of :mod:`cvbook_lib.exercises`: each answers
every input with a ``CheckResult`` and never raises. The expected values come from :mod:`cvbook_lib.features`
and :mod:`cvbook_lib.rnn` (whose tests compare them with scikit-image's HOG and torch's LSTM), and from
:func:`cvbook_lib.features.hash_collision_rate` (which chapter 14 checks against the hashing it measures)."""

from __future__ import annotations

import functools

from .exercises import CheckResult, _compare

__all__ = ["check_hog_length", "check_lstm_params", "check_collision_rate"]


@functools.cache
def _hog_length() -> int:
    from .features import hog_feature_length

    return hog_feature_length((64, 64), orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2))


@functools.cache
def _lstm_params() -> int:
    from .rnn import rnn_param_count

    return rnn_param_count("LSTM", 10, 20)


@functools.cache
def _collision_rate() -> float:
    from .features import hash_collision_rate

    return hash_collision_rate(100, 1000)


def check_hog_length(answer) -> CheckResult:
    """Exercise: the HOG length of a 64×64 window (8×8-pixel cells, 2×2-cell blocks, stride one cell, 9 bins)."""
    return _compare(
        answer,
        _hog_length(),
        "64×64 窗口的 HOG 特征长度",
        "每个方向 64/8 = 8 个 cell，block 以一个 cell 为步长滑动：8 − 2 + 1 个；每个 block 2·2·9 维",
    )


def check_lstm_params(answer) -> CheckResult:
    """Exercise: the parameter count of nn.LSTM(input_size=10, hidden_size=20) (one layer, with biases)."""
    return _compare(
        answer,
        _lstm_params(),
        "nn.LSTM(10, 20) 的参数量",
        "4 个门，每个门有 W_ih (20×10)、W_hh (20×20) 和两个偏置 (20 + 20)",
    )


def check_collision_rate(answer) -> CheckResult:
    """Exercise: the chance that one of 100 hashed categories shares its bucket, with 1,000 buckets."""
    return _compare(
        answer,
        _collision_rate(),
        "100 个类别哈希到 1000 个桶时，某个类别与别的类别撞桶的概率",
        "其余 99 个类别各自以 1/1000 的概率落进同一个桶：1 − (1 − 1/m)^(K−1)",
        tol=5e-4,
    )
