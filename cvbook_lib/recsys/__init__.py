"""Recommendation systems (appendix A 推荐系统面试题): the notes' ten headings answered with running code.

- :mod:`.models`: CTR models over categorical fields — :class:`LogisticRegression`, :class:`FactorizationMachine`
  (Rendle 2010) with the O(kn) pairwise identity :func:`fm_interaction`, :class:`DeepFM` (Guo et al. 2017);
- :mod:`.multitask`: :class:`SharedBottom`, :class:`MMoE` (Ma et al. 2018, KDD) and :class:`ESMM` with
  :func:`esmm_loss` (Ma et al. 2018, SIGIR: pCTCVR = pCTR × pCVR over the entire impression space);
- :mod:`.data`: synthetic logs with a known ground truth and the seeded trainer :func:`fit`;
- :mod:`.metrics`: :func:`gauc`, the impression-weighted mean of per-user AUCs;
- :mod:`.bandits`: :func:`thompson_sampling`, :func:`ucb1`, :func:`epsilon_greedy` on a Bernoulli simulator;
- :mod:`.abtest`: :func:`two_proportion_ztest`, :func:`sample_size`, :func:`srm_test`,
  :func:`peeking_false_positive_rate`;
- :mod:`.importance`: :func:`permutation_importance` (equal to scikit-learn's), :func:`drop_column_importance`,
  :func:`gradient_x_input`;
- :mod:`.sampling`: negative sampling, in-batch sampled softmax with the logQ correction (Yi et al. 2019),
  :func:`popularity_penalty`;
- :mod:`.debias`: position bias and inverse propensity scoring, the two-tower experiment;
- :mod:`.topk`: recall@k, coverage and long-tail share of each user's top-k.
"""

from .abtest import ZTestResult, peeking_false_positive_rate, sample_size, srm_test, two_proportion_ztest
from .bandits import BanditRun, beta_posterior, epsilon_greedy, thompson_sampling, ucb1
from .data import fit, make_ctr_data, make_esmm_data, make_multitask_data
from .debias import TwoTower, ips_mean, make_interaction_log, make_position_log, per_item_ctr, train_two_tower
from .importance import drop_column_importance, gradient_x_input, permutation_importance
from .metrics import GaucResult, gauc
from .models import DeepFM, FactorizationMachine, LogisticRegression, fm_interaction, fm_interaction_naive
from .multitask import ESMM, MMoE, SharedBottom, esmm_loss
from .sampling import (
    estimate_item_frequency,
    in_batch_logits,
    popularity_penalty,
    sample_negatives,
    sampled_softmax_loss,
    sampling_probs,
)
from .topk import coverage_at_k, recall_at_k, tail_share_at_k, top_k_mask

__all__ = [
    # models
    "fm_interaction", "fm_interaction_naive", "LogisticRegression", "FactorizationMachine", "DeepFM",
    # multitask
    "SharedBottom", "MMoE", "ESMM", "esmm_loss",
    # data
    "make_ctr_data", "make_multitask_data", "make_esmm_data", "fit",
    # metrics
    "GaucResult", "gauc",
    # bandits
    "BanditRun", "thompson_sampling", "ucb1", "epsilon_greedy", "beta_posterior",
    # abtest
    "ZTestResult", "two_proportion_ztest", "sample_size", "srm_test", "peeking_false_positive_rate",
    # importance
    "permutation_importance", "drop_column_importance", "gradient_x_input",
    # sampling
    "sampling_probs", "sample_negatives", "in_batch_logits", "sampled_softmax_loss", "estimate_item_frequency",
    "popularity_penalty",
    # debias
    "ips_mean", "per_item_ctr", "make_position_log", "TwoTower", "make_interaction_log", "train_two_tower",
    # topk
    "top_k_mask", "recall_at_k", "coverage_at_k", "tail_share_at_k",
]
