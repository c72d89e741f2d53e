"""Contract cases for cvbook_lib.recsys.sampling and cvbook_lib.recsys.debias (references: numpy formulas,
torch.matmul, F.cross_entropy, torch.multinomial, numpy stable argsort for the top-k metrics; the generators and
the training loop have no reference and are checked for clear refusals and equal answers only).

Deliberate differences (we refuse where the reference computes): NaN/±inf counts, scores, values or log_q
(a NaN count or score has no rank; a NaN log_q poisons the whole softmax); negative counts; 1-D or 3-D embeddings
(query/item are [B, d]); int/bool/complex embeddings and scores (``float_only``: never promoted); empty batches
and empty catalogues (no distribution, no softmax over zero items); mixed dtypes between query, item and log_q.
"""

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F

from contract_specs import Case
from cvbook_lib.recsys import debias, sampling, topk

_G = torch.Generator().manual_seed(0)
_COUNTS = torch.tensor([5, 0, 3, 9, 1, 2])
_Q = torch.randn(4, 3, generator=_G)
_V = torch.randn(4, 3, generator=_G)
_LOGQ = torch.log(torch.tensor([0.4, 0.3, 0.2, 0.1]))
_SCORES = torch.rand(3, 6, generator=_G)
_REL = torch.rand(3, 6, generator=_G) < 0.4
_REL[:, 0] = True

_NONFINITE = "refused: a NaN/inf has no place in a count, a score, a value or a log-probability"
_EMPTY = "refused: nothing to sample from / no batch / no user"
_RANK2 = "refused: embeddings and score matrices are 2-D"


def _nonfinite(*args):
    return {(a, m): _NONFINITE for a in args for m in ("nan", "inf", "-inf")}


def _scalar(arg, *muts, reason="refused: outside the allowed range (see the docstring)"):
    return {(arg, m): reason for m in muts}


_POS = ("nan", "inf", "-inf", "zero", "negated")  # a finite float > 0
_NONNEG = ("nan", "inf", "-inf", "negated")  # a finite float >= 0
_K = _scalar("k", "zero", "minus1", reason="k is an int in [1, n_items]")
_SCORES_DIFFERS = {
    **_nonfinite("scores"),
    ("scores", "rank+"): _RANK2,
    ("scores", "rank-"): _RANK2,
    ("scores", "bool"): "scores are numbers, not masks",
    ("scores", "empty-first"): _EMPTY,
    ("scores", "empty-last"): _EMPTY,
    **_K,
}


def _counts_differs(arg="item_counts"):
    d = _nonfinite(arg)
    d.update(
        {
            (arg, "empty-first"): _EMPTY,
            (arg, "empty-last"): _EMPTY,
            (arg, "negated"): "counts are >= 0",
            (arg, "rank+"): "item_counts is 1-D",
            (arg, "bool"): "counts are numbers, not masks",
            (arg, "complex"): "counts are real",
            (arg, "negative"): "counts are >= 0",
        }
    )
    return d


def _probs_ref(item_counts, method="uniform", power=0.75):
    c = np.asarray(item_counts.tolist() if isinstance(item_counts, torch.Tensor) else item_counts, dtype=np.float64)
    if c.ndim != 1:
        raise ValueError("1-D")
    if method == "uniform":
        return torch.from_numpy(np.full(c.shape, 1.0 / len(c)))
    w = np.where(c > 0, np.abs(c) ** power, 0.0)
    return torch.from_numpy(w / w.sum())


def _negatives_ref(item_counts, num_samples, method="uniform", power=0.75, exclude=None, generator=None):
    q = _probs_ref(item_counts, method, power)
    if exclude is not None:
        q[exclude] = 0
    return torch.multinomial(q, num_samples, replacement=True, generator=generator)


def _logits_ref(query, item, temperature=1.0):
    return torch.matmul(query, item.T) / temperature


def _loss_ref(query, item, log_q=None, temperature=1.0, reduction="mean"):
    logits = query @ item.T / temperature
    if log_q is not None:
        logits = logits - log_q[None, :]
    return F.cross_entropy(logits, torch.arange(len(query)), reduction=reduction)


def _freq_ref(item_ids, n_items):
    ids = np.asarray(item_ids.tolist() if isinstance(item_ids, torch.Tensor) else item_ids)
    return torch.from_numpy(np.bincount(ids, minlength=n_items) / len(ids))


def _penalty_ref(scores, item_counts, alpha=0.5, method="log"):
    c = torch.as_tensor(np.asarray(item_counts, dtype=np.float64))
    if method == "log":
        return scores - (alpha * torch.log1p(c)).to(scores.dtype)
    return scores / torch.pow(1 + c, alpha).to(scores.dtype)


def _ips_ref(values, propensity, clip=None, self_normalized=False):
    v, p = np.asarray(values, dtype=np.float64), np.asarray(propensity, dtype=np.float64)
    w = 1 / p if clip is None else np.minimum(1 / p, clip)
    return float((w * v).sum() / (w.sum() if self_normalized else len(v)))


def _np_topk(scores, k):
    return np.argsort(-np.asarray(scores.tolist(), dtype=np.float64), axis=1, kind="stable")[:, :k]


def _mask_ref(scores, k):
    top = _np_topk(scores, k)
    mask = np.zeros(tuple(scores.shape), dtype=bool)
    np.put_along_axis(mask, top, True, axis=1)
    return torch.from_numpy(mask)


def _recall_ref(scores, relevant, k):
    top, rel = _np_topk(scores, k), np.asarray(relevant.tolist(), dtype=bool)
    return float(np.mean([np.isin(np.flatnonzero(rel[u]), top[u]).mean() for u in range(len(rel)) if rel[u].any()]))


def _coverage_ref(scores, k):
    return len(np.unique(_np_topk(scores, k))) / scores.shape[1]


def _tail_ref(scores, item_counts, k, head=0.2):
    c = np.asarray(item_counts.tolist() if isinstance(item_counts, torch.Tensor) else item_counts, dtype=np.float64)
    heads = set(np.argsort(-c, kind="stable")[: math.ceil(head * len(c))].tolist())
    return float(np.mean([j not in heads for j in _np_topk(scores, k).ravel()]))


_SHAPE = "refused: relevant must have the shape of scores"
_MASK = "refused: relevant is a bool mask (0/1 numbers are not silently read as one)"
_IPS_DIFFERS = {
    **_nonfinite("values", "propensity"),
    ("values", "rank+"): "values are 1-D",
    ("propensity", "rank+"): "propensity is 1-D",
    ("propensity", "rank-"): "one propensity per record",
    ("values", "bool"): "values are numbers, not masks",
    ("propensity", "bool"): "a propensity is a probability in (0, 1], not a mask",
    ("values", "complex"): "values are real",
    ("propensity", "complex"): "propensities are real",
    ("propensity", "x1e4"): "a propensity is in (0, 1]",
    ("propensity", "int64"): "a propensity is in (0, 1]",
    **_scalar("clip", "nan", "-inf", "zero", "negated", reason="clip is a weight > 0"),
}
_MODEL = debias.TwoTower(4, 6, 3, seed=0)
_LOG = debias.make_interaction_log(n_users=4, n_items=6, n_events=40, dim=2, seed=0)


def _train(model, users, items, log_q=None, epochs=1, lr=0.05, batch_size=16, temperature=1.0, seed=0):
    """train_two_tower on a copy, so that every call starts from the same weights."""
    m = debias.train_two_tower(
        copy.deepcopy(model),
        users,
        items,
        log_q=log_q,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        temperature=temperature,
        seed=seed,
    )
    return m.scores(), m.loss_history


def _scores(model):
    return model.scores()


_EMB = {"query", "item"}
_EMB_DIFFERS = {
    ("query", "rank-"): _RANK2,
    ("query", "rank+"): _RANK2,
    ("item", "rank-"): _RANK2,
    ("item", "rank+"): _RANK2,
    **_scalar("temperature", *_POS),
}
_LOSS_DIFFERS = {
    **_EMB_DIFFERS,
    ("query", "empty-first"): _EMPTY,
    ("item", "empty-first"): _EMPTY,
    **_nonfinite("log_q"),
    ("log_q", "float64"): "mixed dtypes refused (cvbook_lib never promotes)",
    ("log_q", "float16"): "mixed dtypes refused (cvbook_lib never promotes)",
}

SPECS = {
    sampling.sampling_probs: [
        Case(
            sampling.sampling_probs,
            dict(item_counts=_COUNTS, method="popularity", power=0.75),
            ref=_probs_ref,
            arraylike={"item_counts"},
            differs={**_counts_differs(), **_scalar("power", *_NONNEG)},
        ),
        Case(
            sampling.sampling_probs,
            dict(item_counts=_COUNTS.double(), method="uniform", power=1.0),
            ref=_probs_ref,
            arraylike={"item_counts"},
            differs={**_counts_differs(), **_scalar("power", *_NONNEG)},
        ),
    ],
    sampling.sample_negatives: [
        Case(
            sampling.sample_negatives,
            dict(item_counts=_COUNTS, num_samples=5, method="popularity", power=0.75, exclude=torch.tensor([0, 3])),
            arraylike={"item_counts"},
        ),
    ],
    sampling.in_batch_logits: [
        Case(
            sampling.in_batch_logits,
            dict(query=_Q, item=_V[:3], temperature=0.5),
            ref=_logits_ref,
            float_only=_EMB,
            differs=_EMB_DIFFERS,
        ),
    ],
    sampling.sampled_softmax_loss: [
        Case(
            sampling.sampled_softmax_loss,
            dict(query=_Q, item=_V, log_q=_LOGQ, temperature=0.5, reduction="mean"),
            ref=_loss_ref,
            float_only=_EMB | {"log_q"},
            differs=_LOSS_DIFFERS,
        ),
        Case(
            sampling.sampled_softmax_loss,
            dict(query=_Q, item=_V, reduction="none"),
            ref=_loss_ref,
            float_only=_EMB,
            differs=_LOSS_DIFFERS,
        ),
    ],
    sampling.estimate_item_frequency: [
        Case(
            sampling.estimate_item_frequency,
            dict(item_ids=torch.tensor([0, 2, 2, 5, 1]), n_items=6),
            ref=_freq_ref,
            arraylike={"item_ids"},
            differs={
                ("item_ids", "bool"): "ids are integers, not masks",
                ("item_ids", "too-big"): "ids < n_items",
                ("n_items", "zero"): "n_items >= 1",
            },
        ),
    ],
    sampling.popularity_penalty: [
        Case(
            sampling.popularity_penalty,
            dict(scores=_SCORES, item_counts=_COUNTS, alpha=0.5, method="log"),
            ref=_penalty_ref,
            float_only={"scores"},
            arraylike={"item_counts"},
            differs={
                **_nonfinite("scores"),
                **_counts_differs(),
                **_scalar("alpha", *_NONNEG),
                ("item_counts", "rank-"): "item_counts is 1-D",
            },
        ),
        Case(
            sampling.popularity_penalty,
            dict(scores=_SCORES, item_counts=_COUNTS, alpha=0.7, method="power"),
            ref=_penalty_ref,
            float_only={"scores"},
            arraylike={"item_counts"},
            differs={
                **_nonfinite("scores"),
                **_counts_differs(),
                **_scalar("alpha", *_NONNEG),
                ("item_counts", "rank-"): "item_counts is 1-D",
            },
        ),
    ],
    debias.ips_mean: [
        Case(
            debias.ips_mean,
            dict(
                values=torch.tensor([1.0, 0.0, 1.0, 1.0]),
                propensity=torch.tensor([0.5, 0.25, 1.0, 0.2]),
                clip=4.0,
                self_normalized=False,
            ),
            ref=_ips_ref,
            arraylike={"values", "propensity"},
            differs=_IPS_DIFFERS,
        ),
        Case(
            debias.ips_mean,
            dict(values=[1.0, 0.0, 1.0], propensity=[0.5, 0.25, 1.0], self_normalized=True),
            ref=_ips_ref,
            differs=_IPS_DIFFERS,
        ),
    ],
    debias.per_item_ctr: [
        Case(
            debias.per_item_ctr,
            dict(
                item=torch.tensor([0, 1, 1, 2]),
                click=torch.tensor([1.0, 0.0, 1.0, 1.0]),
                n_items=4,
                propensity=torch.tensor([0.5, 1.0, 0.25, 0.5]),
            ),
            arraylike={"item", "click", "propensity"},
        ),
    ],
    debias.make_position_log: [
        Case(
            debias.make_position_log,
            dict(n_items=6, n_positions=3, n_sessions=20, examination=torch.tensor([1.0, 0.5, 0.2]), seed=1),
            arraylike={"examination"},
        ),
    ],
    debias.TwoTower: [Case(debias.TwoTower, dict(n_users=3, n_items=5, dim=2, seed=0), out=_scores)],
    debias.make_interaction_log: [
        Case(debias.make_interaction_log, dict(n_users=5, n_items=7, n_events=30, dim=2, popularity=1.0, seed=0)),
    ],
    debias.train_two_tower: [
        Case(
            _train,
            dict(
                model=_MODEL,
                users=_LOG["users"],
                items=_LOG["items"],
                log_q=sampling.estimate_item_frequency(_LOG["items"], 6).clamp(min=1e-3).log().float(),
                epochs=1,
                lr=0.05,
                batch_size=16,
                temperature=1.0,
                seed=0,
            ),
            state=lambda: [_MODEL],
        ),
    ],
    topk.top_k_mask: [Case(topk.top_k_mask, dict(scores=_SCORES, k=2), ref=_mask_ref, differs=_SCORES_DIFFERS)],
    topk.recall_at_k: [
        Case(
            topk.recall_at_k,
            dict(scores=_SCORES, relevant=_REL, k=2),
            ref=_recall_ref,
            differs={
                **_SCORES_DIFFERS,
                ("relevant", "rank+"): _RANK2,
                ("relevant", "empty-first"): _SHAPE,
                ("relevant", "empty-last"): _SHAPE,
                ("relevant", "float"): _MASK,
                ("relevant", "int64"): _MASK,
            },
        ),
    ],
    topk.coverage_at_k: [
        Case(topk.coverage_at_k, dict(scores=_SCORES, k=2), ref=_coverage_ref, differs=_SCORES_DIFFERS),
    ],
    topk.tail_share_at_k: [
        Case(
            topk.tail_share_at_k,
            dict(scores=_SCORES, item_counts=_COUNTS, k=2, head=0.4),
            ref=_tail_ref,
            arraylike={"item_counts"},
            differs={**_SCORES_DIFFERS, **_counts_differs(), **_scalar("head", "negated", reason="head in [0, 1]")},
        ),
    ],
}
