"""Ranking metrics of recommendation: group AUC (GAUC), the per-user AUC averaged over users.

Inputs follow :mod:`cvbook_lib.metrics` (tensors, numpy arrays or lists, as scikit-learn reads them): labels are
0/1 (integer, bool or integral float), scores finite reals (bool scores are refused, a deliberate difference from
sklearn, which reads them as 0/1), groups any integer labels. Tested in ``tests/test_recsys.py``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _metrics_checks as _v
from .._checks import check_choice, check_float, check_int

__all__ = ["GaucResult", "gauc"]

_WEIGHTS = ("impressions", "clicks", "uniform")


class _GaucFields(NamedTuple):
    gauc: float
    n_groups: int
    n_skipped: int


class GaucResult(_GaucFields):
    """gauc: the weighted mean of the per-group AUCs, in [0, 1]; n_groups: groups used (both classes present,
    >= 1); n_skipped: groups left out because they hold one class only (their AUC is undefined), >= 0."""

    __slots__ = ()

    def __new__(cls, gauc: float, n_groups: int, n_skipped: int):
        return super().__new__(
            cls,
            check_float(gauc, "gauc", 0.0, 1.0),
            check_int(n_groups, "n_groups", 1),
            check_int(n_skipped, "n_skipped", 0),
        )


def _group_aucs(y: np.ndarray, s: np.ndarray, g: np.ndarray):
    """(AUC per group, n_pos, n_neg, size) for the sorted unique groups, by the Mann-Whitney rank-sum statistic:
    AUC_g = (Σ_{positives} rank − P(P+1)/2) / (P·N) with mid-ranks for ties (a tie counts ½)."""
    order = np.lexsort((s, g))  # by group, then score
    y, s, g = y[order], s[order], g[order]
    n = len(y)
    new_group = np.r_[True, g[1:] != g[:-1]]
    new_run = new_group | np.r_[True, s[1:] != s[:-1]]  # a run: one group, one score value
    run_id = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    run_end = np.r_[run_start[1:], n]
    group_id = np.cumsum(new_group) - 1
    group_start = np.flatnonzero(new_group)
    # mid-rank inside the group (1-based): mean of positions start+1 … end of the tie run, minus the group offset
    mid = (run_start + 1 + run_end) / 2.0
    rank = mid[run_id] - group_start[group_id]  # [n]
    n_groups = len(group_start)
    pos = np.bincount(group_id, weights=y, minlength=n_groups)
    size = np.bincount(group_id, minlength=n_groups).astype(np.float64)
    neg = size - pos
    rank_sum = np.bincount(group_id, weights=rank * y, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg)
    return auc, pos, neg, size


def gauc(y_true, y_score, groups, weights: str = "impressions") -> GaucResult:
    """Group AUC (Zhou et al. 2018, "Deep Interest Network for Click-Through Rate Prediction", KDD, eq. 1):

        GAUC = Σ_g w_g · AUC_g / Σ_g w_g

    over the groups (users) that hold both a positive and a negative; AUC_g is the ROC AUC of group g alone,
    ties counted ½ (equal to ``sklearn.metrics.roc_auc_score`` on the group's samples). A group with one class only
    has no AUC: it is skipped and counted in ``n_skipped``.

    y_true: [n] labels 0/1; y_score: [n] finite scores (logits or probabilities); groups: [n] integer group ids.
    weights: ``"impressions"`` (w_g = size of the group, DIN's choice), ``"clicks"`` (w_g = number of positives)
    or ``"uniform"`` (w_g = 1). Returns :class:`GaucResult` (gauc, n_groups, n_skipped).
    """
    check_choice(weights, "weights", _WEIGHTS)
    y, s = _v.scores(y_true, y_score)  # int64 labels, float64 finite scores
    g = _v.as_labels(groups, "groups", sklearn_says="groups must be integer ids")
    if g.dim() != 1 or len(g) != len(y):
        raise ValueError(
            f"y_true, y_score and groups must be 1-D of the same length, got y_true of length {len(y)} "
            f"and groups of shape {tuple(g.shape)}"
        )
    bad = (y != 0) & (y != 1)
    if bool(bad.any()):
        raise ValueError(f"y_true must hold 0/1 labels, got the label {y[bad][0].item()!r}")
    y_np = y.cpu().numpy().astype(np.float64)
    s_np = s.detach().cpu().numpy()
    g_np = g.cpu().numpy()
    auc, pos, neg, size = _group_aucs(y_np, s_np, g_np)
    ok = (pos > 0) & (neg > 0)
    if not ok.any():
        raise ValueError(
            f"no group of groups holds both classes ({len(ok)} groups with one class only): GAUC is undefined"
        )
    w = {"impressions": size, "clicks": pos, "uniform": np.ones_like(size)}[weights][ok]
    value = float(np.sum(w * auc[ok]) / np.sum(w))
    return GaucResult(value, int(ok.sum()), int((~ok).sum()))
