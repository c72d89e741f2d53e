"""Contract cases for cvbook_lib.compress.distill (references: transcriptions of the official DKD formula,
megvii-research/mdistiller, and of DIST's, hunto/DIST_KD, on top of torch.nn.functional; F.kl_div for the
teachers' mean distribution)."""

import torch
import torch.nn.functional as F

from contract_specs import Case
from cvbook_lib.compress import distill as D

_G = torch.Generator().manual_seed(0)
_S, _T = torch.randn(6, 5, generator=_G) * 2, torch.randn(6, 5, generator=_G) * 2
_T2 = torch.randn(6, 5, generator=_G)
_Y = torch.randint(0, 5, (6,), generator=_G)
_PS, _PT = _S.softmax(1), _T.softmax(1)

_SHAPE = "student and teacher logits must have the same shape (torch's expression broadcasts them)"
_TEMP = "temperature must be finite and > 0"
_NONNEG = "loss weights must be finite and >= 0"
_EPS = "eps must be finite and >= 0"


def _differs(arg, mutations, reason):
    return {(arg, m): reason for m in mutations}


def _shape(*args):
    out = {}
    for a in args:
        out.update(_differs(a, ("rank-", "rank+"), _SHAPE))
    return out


_T_BAD = _differs("temperature", ("nan", "inf", "-inf", "zero", "negated"), _TEMP)
# x1e4 logits break the official formula twice: it takes log of probabilities that underflow to 0 (inf
# losses), and its "- 1000 * gt_mask" no longer masks the target once logits / T span more than ~1000 (a
# wrong, finite NCKD); ours removes the target and works from log-sum-exps (tests/test_compress_distill.py)
_BIG = {"logits_student": {"x1e4"}, "logits_teacher": {"x1e4"}}
# the official mask comes from scatter_, which takes a shorter index tensor and masks nothing silently
_TARGET = _differs("target", ("empty-first", "empty-last"), "target must hold one class index per sample")
_RANK2 = _differs("logits_student", ("rank+",), "logits must be Tensor[N, C] (the reference broadcasts)")
_W = _differs(
    "weights",
    ("rank+", "empty-first", "empty-last", "nan", "inf", "-inf", "x1e4", "x1e-30"),
    "weights must be one finite value >= 0 per teacher, summing to 1",
)


def _binary(z, y, T):
    p = F.softmax(z / T, 1)
    gt = torch.zeros_like(p).scatter_(1, y[:, None], 1).bool()
    return torch.stack([(p * gt).sum(1), (p * ~gt).sum(1)], 1), gt


def _tckd_nckd_ref(logits_student, logits_teacher, target, temperature=4.0):
    T = temperature
    bs, gt = _binary(logits_student, target, T)
    bt, _ = _binary(logits_teacher, target, T)
    tckd = F.kl_div(torch.log(bs), bt, reduction="none").sum(1)
    nckd = F.kl_div(
        F.log_softmax(logits_student / T - 1000.0 * gt, 1),
        F.softmax(logits_teacher / T - 1000.0 * gt, 1),
        reduction="none",
    ).sum(1)
    return tckd, nckd


def _dkd_ref(logits_student, logits_teacher, target, alpha=1.0, beta=8.0, temperature=4.0):
    tckd, nckd = _tckd_nckd_ref(logits_student, logits_teacher, target, temperature)
    return temperature**2 * (alpha * tckd.sum() + beta * nckd.sum()) / target.shape[0]


def _pearson(a, b, eps):
    a, b = a - a.mean(1).unsqueeze(1), b - b.mean(1).unsqueeze(1)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


def _inter_ref(y_s, y_t, eps=1e-8):
    return 1 - _pearson(y_s, y_t, eps).mean()


def _intra_ref(y_s, y_t, eps=1e-8):
    return 1 - _pearson(y_s.transpose(0, 1), y_t.transpose(0, 1), eps).mean()


def _dist_ref(logits_student, logits_teacher, beta=1.0, gamma=1.0, temperature=1.0, eps=1e-8):
    ys, yt = (logits_student / temperature).softmax(1), (logits_teacher / temperature).softmax(1)
    return temperature**2 * (beta * _inter_ref(ys, yt, eps) + gamma * _intra_ref(ys, yt, eps))


def _multi_ref(logits_student, teacher_logits_list, temperature, weights=None, combine="probs"):
    T, K = temperature, len(teacher_logits_list)
    w = [1 / K] * K if weights is None else list(weights)
    log_q = F.log_softmax(logits_student / T, 1)
    if combine == "probs":
        mean = sum(wk * F.softmax(t / T, 1) for wk, t in zip(w, teacher_logits_list))
        return T * T * F.kl_div(log_q, mean, reduction="batchmean")
    return (
        T
        * T
        * sum(wk * F.kl_div(log_q, F.softmax(t / T, 1), reduction="batchmean") for wk, t in zip(w, teacher_logits_list))
    )


_LOGITS = {"logits_student", "logits_teacher"}
SPECS = {
    D.tckd_nckd: [
        Case(
            D.tckd_nckd,
            dict(logits_student=_S, logits_teacher=_T, target=_Y, temperature=4.0),
            ref=_tckd_nckd_ref,
            skip=_BIG,
            float_only=_LOGITS,
            differs={**_T_BAD, **_TARGET, **_shape("logits_teacher")},
        )
    ],
    D.dkd_loss: [
        Case(
            D.dkd_loss,
            dict(logits_student=_S, logits_teacher=_T, target=_Y, alpha=1.0, beta=8.0, temperature=4.0),
            ref=_dkd_ref,
            skip=_BIG,
            float_only=_LOGITS,
            differs={
                **_T_BAD,
                **_TARGET,
                **_shape("logits_teacher"),
                **_differs("alpha", ("nan", "inf", "-inf", "negated"), _NONNEG),
                **_differs("beta", ("nan", "inf", "-inf", "negated"), _NONNEG),
            },
        )
    ],
    D.inter_class_relation: [
        Case(
            D.inter_class_relation,
            dict(y_s=_PS, y_t=_PT, eps=1e-8),
            ref=_inter_ref,
            float_only={"y_s", "y_t"},
            differs={**_shape("y_t"), **_differs("eps", ("nan", "inf", "-inf", "negated"), _EPS)},
        )
    ],
    D.intra_class_relation: [
        Case(
            D.intra_class_relation,
            dict(y_s=_PS, y_t=_PT, eps=1e-8),
            ref=_intra_ref,
            float_only={"y_s", "y_t"},
            differs={**_shape("y_t"), **_differs("eps", ("nan", "inf", "-inf", "negated"), _EPS)},
        )
    ],
    D.dist_loss: [
        Case(
            D.dist_loss,
            dict(logits_student=_S, logits_teacher=_T, beta=1.0, gamma=2.0, temperature=2.0, eps=1e-8),
            ref=_dist_ref,
            float_only=_LOGITS,
            differs={
                **_T_BAD,
                **_shape("logits_teacher"),
                **_differs("beta", ("nan", "inf", "-inf", "negated"), _NONNEG),
                **_differs("gamma", ("nan", "inf", "-inf", "negated"), _NONNEG),
                **_differs("eps", ("nan", "inf", "-inf", "negated"), _EPS),
            },
        )
    ],
    D.multi_teacher_kd: [
        Case(
            D.multi_teacher_kd,
            dict(
                logits_student=_S, teacher_logits_list=[_T, _T2], temperature=2.0, weights=[0.25, 0.75], combine="probs"
            ),
            ref=_multi_ref,
            float_only={"logits_student"},
            differs={**_T_BAD, **_RANK2},
        ),
        Case(
            D.multi_teacher_kd,
            dict(
                logits_student=_S,
                teacher_logits_list=(_T, _T2),
                temperature=3.0,
                weights=torch.tensor([0.5, 0.5]),
                combine="losses",
            ),
            ref=_multi_ref,
            float_only={"logits_student", "weights"},
            differs={**_T_BAD, **_RANK2, **_W},
        ),
    ],
}
