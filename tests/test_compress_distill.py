"""cvbook_lib.compress.distill against F.kl_div, transcriptions of the official DKD (mdistiller) and DIST
(hunto/DIST_KD) formulas, cvbook_lib.losses.distillation_loss, exact identities in float64 and gradcheck."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cvbook_lib.compress import distill as D
from cvbook_lib.losses import distillation_loss


def _logits(N=7, C=6, seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(N, C, generator=g, dtype=torch.float64) * scale
    t = torch.randn(N, C, generator=g, dtype=torch.float64) * scale
    return s, t, torch.randint(0, C, (N,), generator=g)


def _kl(s, t, T):
    """Per-sample KL(softmax(t/T) ‖ softmax(s/T)) by torch."""
    return F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="none").sum(1)


def _dkd_official(s, t, y, alpha, beta, T):
    """mdistiller's dkd_loss, transcribed (the target masked by -1000, the binary KL from probabilities)."""
    gt = torch.zeros_like(s).scatter_(1, y[:, None], 1).bool()
    ps, pt = F.softmax(s / T, 1), F.softmax(t / T, 1)
    bs = torch.stack([(ps * gt).sum(1), (ps * ~gt).sum(1)], 1)
    bt = torch.stack([(pt * gt).sum(1), (pt * ~gt).sum(1)], 1)
    tckd = F.kl_div(torch.log(bs), bt, reduction="sum") * T**2 / y.shape[0]
    nckd = (
        F.kl_div(F.log_softmax(s / T - 1000.0 * gt, 1), F.softmax(t / T - 1000.0 * gt, 1), reduction="sum")
        * T**2
        / y.shape[0]
    )
    return alpha * tckd + beta * nckd


def _pearson_official(a, b, eps=1e-8):
    a, b = a - a.mean(1).unsqueeze(1), b - b.mean(1).unsqueeze(1)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


def _dist_official(s, t, beta, gamma, T, eps=1e-8):
    ys, yt = (s / T).softmax(1), (t / T).softmax(1)
    inter = 1 - _pearson_official(ys, yt, eps).mean()
    intra = 1 - _pearson_official(ys.T, yt.T, eps).mean()
    return T**2 * (beta * inter + gamma * intra)


# ----------------------------------------------------------------------------- DKD
@pytest.mark.parametrize("T", [1.0, 4.0, 0.5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kd_is_tckd_plus_teacher_nontarget_mass_times_nckd(seed, T):
    """Zhao et al. 2022 eq. (4), per sample, no T²: KL(p_t ‖ p_s) = TCKD + (1 - p_t,y)·NCKD."""
    s, t, y = _logits(seed=seed)
    tckd, nckd = D.tckd_nckd(s, t, y, T)
    p_ty = F.softmax(t / T, 1).gather(1, y[:, None])[:, 0]
    torch.testing.assert_close(tckd + (1 - p_ty) * nckd, _kl(s, t, T), rtol=0, atol=1e-10)


def test_tckd_and_nckd_each_equal_their_definition():
    s, t, y = _logits(N=5, C=4)
    T = 2.0
    tckd, nckd = D.tckd_nckd(s, t, y, T)
    for i in range(5):
        ps, pt = F.softmax(s[i] / T, 0), F.softmax(t[i] / T, 0)
        b_s = torch.stack([ps[y[i]], 1 - ps[y[i]]])
        b_t = torch.stack([pt[y[i]], 1 - pt[y[i]]])
        assert tckd[i].item() == pytest.approx(F.kl_div(b_s.log(), b_t, reduction="sum").item(), abs=1e-12)
        keep = np.delete(np.arange(4), int(y[i]))
        assert nckd[i].item() == pytest.approx(_kl(s[i : i + 1, keep], t[i : i + 1, keep], T).item(), abs=1e-12)


@pytest.mark.parametrize("alpha, beta, T", [(1.0, 8.0, 4.0), (0.5, 2.0, 1.0), (0.0, 1.0, 3.0)])
def test_dkd_loss_equals_the_official_formula(alpha, beta, T):
    s, t, y = _logits(N=9, C=10, seed=3)
    torch.testing.assert_close(
        D.dkd_loss(s, t, y, alpha, beta, T), _dkd_official(s, t, y, alpha, beta, T), rtol=1e-12, atol=1e-12
    )
    assert D.dkd_loss(s, t, y).item() == pytest.approx(_dkd_official(s, t, y, 1.0, 8.0, 4.0).item(), rel=1e-12)


def test_kd_weights_of_dkd_give_hintons_loss():
    """α = 1 and β = 1 - p_t,y per sample is KD: T²·batchmean KL = distillation_loss at α = 1."""
    s, t, y = _logits()
    T = 3.0
    tckd, nckd = D.tckd_nckd(s, t, y, T)
    p_ty = F.softmax(t / T, 1).gather(1, y[:, None])[:, 0]
    kd = T * T * (tckd + (1 - p_ty) * nckd).mean()
    torch.testing.assert_close(kd, distillation_loss(s, t, y, temperature=T, alpha=1.0), rtol=1e-12, atol=1e-12)


def test_dkd_stays_finite_where_the_official_formula_does_not():
    s, t, y = _logits(N=4, C=5)
    s, t = s * 1e4, t * 1e4
    assert torch.isfinite(D.dkd_loss(s, t, y))
    assert not torch.isfinite(_dkd_official(s, t, y, 1.0, 8.0, 4.0))  # log of a probability that underflowed


def test_nckd_removes_the_target_where_the_official_minus_1000_mask_fails():
    """Logits spanning more than ~1000·T: subtracting 1000 no longer hides the target class."""
    s, t, y = _logits(N=4, C=5, seed=7)
    t = t * 1e4
    T = 4.0
    _, nckd = D.tckd_nckd(s, t, y, T)
    for i in range(4):
        keep = np.delete(np.arange(5), int(y[i]))
        assert nckd[i].item() == pytest.approx(_kl(s[i : i + 1, keep], t[i : i + 1, keep], T).item(), rel=1e-9)
    ours, official = D.dkd_loss(s, t, y, 1.0, 8.0, T), _dkd_official(s, t, y, 1.0, 8.0, T)
    assert torch.isfinite(official) and abs(official - ours) > 1.0


def test_a_teacher_logit_of_minus_inf_is_a_zero_probability_class():
    s, t, y = _logits(N=4, C=5, seed=8)
    t[:, 0] = -torch.inf
    y = torch.tensor([1, 2, 3, 4])
    s.requires_grad_()
    loss = D.dkd_loss(s, t, y) + D.multi_teacher_kd(s, [t], 2.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all()
    torch.testing.assert_close(
        D.tckd_nckd(s, t, y, 2.0)[0] + (1 - F.softmax(t / 2, 1)[range(4), y]) * D.tckd_nckd(s, t, y, 2.0)[1],
        _kl(s, t, 2.0),
        rtol=0,
        atol=1e-10,
    )


def test_dkd_is_zero_when_student_equals_teacher():
    s, _, y = _logits()
    assert D.dkd_loss(s, s.clone(), y).item() == pytest.approx(0.0, abs=1e-14)


# ----------------------------------------------------------------------------- DIST
@pytest.mark.parametrize("beta, gamma, T", [(1.0, 1.0, 1.0), (2.0, 0.5, 4.0)])
def test_dist_loss_equals_the_official_formula(beta, gamma, T):
    s, t, _ = _logits(N=8, C=5, seed=4)
    torch.testing.assert_close(
        D.dist_loss(s, t, beta, gamma, T), _dist_official(s, t, beta, gamma, T), rtol=1e-12, atol=1e-12
    )
    ys, yt = F.softmax(s, 1), F.softmax(t, 1)
    torch.testing.assert_close(D.inter_class_relation(ys, yt), 1 - _pearson_official(ys, yt).mean())
    torch.testing.assert_close(D.intra_class_relation(ys, yt), 1 - _pearson_official(ys.T, yt.T).mean())


def test_dist_is_zero_for_an_identical_student_and_up_to_eps_by_default():
    s, _, _ = _logits()
    assert D.dist_loss(s, s.clone(), temperature=2.0, eps=0.0).item() == pytest.approx(0.0, abs=1e-12)
    assert 0 < D.dist_loss(s, s.clone()).item() < 1e-4  # the official eps = 1e-8 leaves a trace


def test_dist_relations_are_invariant_to_positive_affine_maps():
    """Pearson ignores each row's (inter) / column's (intra) scale and shift: exact with eps = 0."""
    g = torch.Generator().manual_seed(5)
    ys, yt = torch.rand(6, 5, generator=g, dtype=torch.float64), torch.rand(6, 5, generator=g, dtype=torch.float64)
    a_row, b_row = torch.rand(6, 1, generator=g, dtype=torch.float64) + 0.1, torch.randn(6, 1, generator=g)
    a_col, b_col = torch.rand(1, 5, generator=g, dtype=torch.float64) + 0.1, torch.randn(1, 5, generator=g)
    inter, intra = D.inter_class_relation(ys, yt, eps=0.0), D.intra_class_relation(ys, yt, eps=0.0)
    torch.testing.assert_close(D.inter_class_relation(a_row * ys + b_row, yt, eps=0.0), inter, rtol=0, atol=1e-12)
    torch.testing.assert_close(D.intra_class_relation(a_col * ys + b_col, yt, eps=0.0), intra, rtol=0, atol=1e-12)
    torch.testing.assert_close(D.inter_class_relation(-ys, yt, eps=0.0), 2 - inter, rtol=0, atol=1e-12)
    # a per-row map is not a per-column one: the intra-class relation does change
    assert abs(D.intra_class_relation(a_row * ys + b_row, yt, eps=0.0) - intra) > 1e-3


def test_dist_is_invariant_to_shifting_each_samples_logits():
    s, t, _ = _logits()
    shift = torch.randn(7, 1, dtype=torch.float64) * 5
    torch.testing.assert_close(
        D.dist_loss(s + shift, t, temperature=2.0), D.dist_loss(s, t, temperature=2.0), rtol=1e-12, atol=1e-12
    )


# ----------------------------------------------------------------------------- several teachers
def _teachers(K=3, seed=6):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(7, 6, generator=g, dtype=torch.float64) * 2 for _ in range(K)]


def test_multi_teacher_probs_is_kl_to_the_mean_distribution():
    s, _, _ = _logits()
    ts, w, T = _teachers(), [0.2, 0.5, 0.3], 2.0
    mean = sum(wk * F.softmax(t / T, 1) for wk, t in zip(w, ts))
    ref = T * T * F.kl_div(F.log_softmax(s / T, 1), mean, reduction="batchmean")
    torch.testing.assert_close(D.multi_teacher_kd(s, ts, T, w), ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(D.multi_teacher_kd(s, ts, T, torch.tensor(w, dtype=torch.float64)), ref)
    per = [T * T * F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") for t in ts]
    torch.testing.assert_close(D.multi_teacher_kd(s, ts, T, w, combine="losses"), sum(a * b for a, b in zip(w, per)))
    torch.testing.assert_close(D.multi_teacher_kd(s, ts, T), D.multi_teacher_kd(s, ts, T, [1 / 3] * 3))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_average_of_losses_exceeds_loss_of_average_by_the_generalized_js(seed):
    """Σ_k w_k KL(p_k ‖ q) - KL(p̄ ‖ q) = Σ_k w_k KL(p_k ‖ p̄) >= 0 (convexity of KL in its first argument)."""
    s, _, _ = _logits(seed=seed)
    ts, T = _teachers(seed=seed + 10), 3.0
    w = [0.6, 0.1, 0.3]
    gap = D.multi_teacher_kd(s, ts, T, w, combine="losses") - D.multi_teacher_kd(s, ts, T, w)
    mean = sum(wk * F.softmax(t / T, 1) for wk, t in zip(w, ts))
    js = T * T * sum(wk * F.kl_div(mean.log(), F.softmax(t / T, 1), reduction="batchmean") for wk, t in zip(w, ts))
    torch.testing.assert_close(gap, js, rtol=0, atol=1e-10)
    assert gap.item() > 0


def test_one_teacher_is_hintons_soft_loss():
    s, t, y = _logits()
    for combine in ("probs", "losses"):
        torch.testing.assert_close(
            D.multi_teacher_kd(s, [t], 4.0, combine=combine),
            distillation_loss(s, t, y, temperature=4.0, alpha=1.0),
            rtol=1e-12,
            atol=1e-12,
        )


# ----------------------------------------------------------------------------- gradients and bad inputs
def test_gradcheck_every_loss():
    s, t, y = _logits(N=4, C=5)
    s, t = s.requires_grad_(), t.requires_grad_()
    ts = [t, (t * 0.5).detach().requires_grad_()]
    checks = [
        lambda a, b: D.dkd_loss(a, b, y, 1.0, 8.0, 4.0),
        lambda a, b: torch.stack(D.tckd_nckd(a, b, y, 2.0)),
        lambda a, b: D.dist_loss(a, b, 1.0, 2.0, 2.0),
        lambda a, b: D.inter_class_relation(a.softmax(1), b.softmax(1)),
        lambda a, b: D.intra_class_relation(a.softmax(1), b.softmax(1)),
        lambda a, b: D.multi_teacher_kd(a, [b, ts[1]], 2.0, [0.3, 0.7]),
        lambda a, b: D.multi_teacher_kd(a, [b, ts[1]], 2.0, [0.3, 0.7], combine="losses"),
    ]
    for fn in checks:
        assert torch.autograd.gradcheck(fn, (s, t))


def test_bad_inputs_name_the_argument():
    s, t, y = _logits(N=4, C=5)
    cases = [
        (lambda: D.dkd_loss(s, t[:, :4], y), ValueError, "same shape"),
        (lambda: D.dkd_loss(s, t, y + 5), ValueError, "target"),
        (lambda: D.dkd_loss(s, t, y[:3]), ValueError, "target"),
        (lambda: D.dkd_loss(s, t, y.float()), TypeError, "target"),
        (lambda: D.dkd_loss(s, t, y, temperature=0.0), ValueError, "temperature"),
        (lambda: D.dkd_loss(s, t, y, temperature=float("inf")), ValueError, "temperature"),
        (lambda: D.dkd_loss(s, t, y, alpha=-1.0), ValueError, "alpha"),
        (lambda: D.dkd_loss(s, t, y, beta=float("nan")), ValueError, "beta"),
        (lambda: D.dkd_loss(s[:, :1], t[:, :1], y * 0), ValueError, "at least 2 classes"),
        (lambda: D.tckd_nckd(s.long(), t, y), TypeError, "logits_student"),
        (lambda: D.dist_loss(s, t, gamma=-0.5), ValueError, "gamma"),
        (lambda: D.dist_loss(s, t, eps=-1e-8), ValueError, "eps"),
        (lambda: D.dist_loss(s, t[0]), ValueError, "same shape"),
        (lambda: D.inter_class_relation(s[0], t[0]), ValueError, "y_s"),
        (lambda: D.multi_teacher_kd(s, [t], 2.0, [0.5, 0.5]), ValueError, "one value per teacher"),
        (lambda: D.multi_teacher_kd(s, [t, t], 2.0, [0.7, 0.7]), ValueError, "sum to 1"),
        (lambda: D.multi_teacher_kd(s, [t, t], 2.0, [1.5, -0.5]), ValueError, ">= 0"),
        (lambda: D.multi_teacher_kd(s, [t, t], 2.0, "0.5"), TypeError, "weights"),
        (lambda: D.multi_teacher_kd(s, [t, t[:, :3]], 2.0), ValueError, "teacher_logits_list\\[1\\]"),
        (lambda: D.multi_teacher_kd(s, [], 2.0), TypeError, "teacher_logits_list"),
        (lambda: D.multi_teacher_kd(s, t, 2.0), TypeError, "teacher_logits_list"),
        (lambda: D.multi_teacher_kd(s, [t], -2.0), ValueError, "temperature"),
        (lambda: D.multi_teacher_kd(s, [t], 2.0, combine="mean"), ValueError, "combine"),
    ]
    for call, err, match in cases:
        with pytest.raises(err, match=match):
            call()
