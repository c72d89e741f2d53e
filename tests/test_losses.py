"""cvbook_lib.losses against torch.nn.functional, torchvision.ops and properties."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch.testing import assert_close

from cvbook_lib import losses as L

REDUCTIONS = ["none", "mean", "sum"]
G = torch.Generator().manual_seed(0)


def rand(*shape, scale=1.0):
    return torch.randn(*shape, generator=G, dtype=torch.float64) * scale


def classes(*shape, C):
    return torch.randint(0, C, shape, generator=G)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 2, 3), (5,)])
def test_cross_entropy_class_indices(reduction, smoothing, weighted, shape):
    x = rand(*shape, scale=3)
    C = shape[0] if len(shape) == 1 else shape[1]
    y = classes(*(() if len(shape) == 1 else (shape[0], *shape[2:])), C=C)
    if len(shape) > 1:
        y.view(-1)[0] = -100                                           # one ignored target
    w = rand(C).abs() + 0.1 if weighted else None
    args = dict(weight=w, reduction=reduction, label_smoothing=smoothing)
    assert_close(L.cross_entropy(x, y, **args), F.cross_entropy(x, y, **args))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_probability_targets(reduction, smoothing, weighted):
    x = rand(4, 5, 3, scale=2)
    t = torch.softmax(rand(4, 5, 3), 1)
    w = rand(5).abs() if weighted else None
    args = dict(weight=w, reduction=reduction, label_smoothing=smoothing)
    assert_close(L.cross_entropy(x, t, **args), F.cross_entropy(x, t, **args))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("with_weights", [False, True])
def test_bce_with_logits(reduction, with_weights):
    x, t = rand(6, 4, scale=4), torch.rand(6, 4, generator=G, dtype=torch.float64)
    kw = dict(weight=rand(4).abs(), pos_weight=rand(4).abs() + 0.5) if with_weights else {}
    assert_close(L.binary_cross_entropy_with_logits(x, t, reduction=reduction, **kw),
                 F.binary_cross_entropy_with_logits(x, t, reduction=reduction, **kw))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (-1, 0.0), (0.5, 1.0), (0.9, 5.0)])
def test_sigmoid_focal_loss_matches_torchvision(reduction, alpha, gamma):
    x = rand(8, 3, scale=3)
    t = (torch.rand(8, 3, generator=G) > 0.7).to(torch.float64)
    assert_close(L.sigmoid_focal_loss(x, t, alpha, gamma, reduction),
                 torchvision.ops.sigmoid_focal_loss(x, t, alpha, gamma, reduction))


def _diverse_logits_and_targets(dtype, seed, shape=(5, 2)):
    """torchvision's test_ops generate_diverse_input_target_pair: logits of small / big / uniform probabilities
    against all-0, all-1 and random binary targets."""
    g = torch.Generator().manual_seed(seed)
    inputs, targets = [], []
    for lo, hi in ((0.0, 0.2), (0.8, 1.0), (0.0, 1.0)):
        for kind in ("zeros", "ones", "binary"):
            p = (lo + (hi - lo) * torch.rand(shape, generator=g, dtype=torch.float64)).clamp(1e-4, 1 - 1e-4)
            inputs.append(torch.log(p / (1 - p)).to(dtype))
            t = torch.randint(0, 2, shape, generator=g) if kind == "binary" else torch.full(shape,
                                                                                             float(kind == "ones"))
            targets.append(t.to(dtype))
    return torch.cat(inputs), torch.cat(targets)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigmoid_focal_loss_is_torchvisions_op_for_op(seed):
    """torchvision's test_correct_ratio / test_equal_ce_loss: FL <= CE element by element, FL = CE at γ = 0
    without α (bit for bit, as torchvision's -log p_t is F.binary_cross_entropy_with_logits)."""
    x, t = _diverse_logits_and_targets(torch.float32, seed)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    assert torch.equal(L.sigmoid_focal_loss(x, t, alpha=-1, gamma=0, reduction="none"), ce)
    for reduction in ("mean", "sum"):
        assert torch.equal(L.sigmoid_focal_loss(x, t, -1, 0, reduction), F.binary_cross_entropy_with_logits(
            x, t, reduction=reduction))
    for alpha in (-1.0, 0.0, 0.58, 1.0):
        for gamma in (0, 2, 1.5):
            fl = L.sigmoid_focal_loss(x, t, alpha, gamma, "none")
            assert torch.all(fl <= ce)
            assert torch.equal(fl, torchvision.ops.sigmoid_focal_loss(x, t, alpha, gamma, "none"))
    xh, th = _diverse_logits_and_targets(torch.float16, seed)               # torchvision's float16 arithmetic, too
    for alpha, gamma, reduction in ((-1.0, 2, "none"), (0.0, 2, "none"), (0.25, 2, "sum"), (0.58, 0, "mean")):
        assert_close(L.sigmoid_focal_loss(xh, th, alpha, gamma, reduction),
                     torchvision.ops.sigmoid_focal_loss(xh, th, alpha, gamma, reduction), rtol=0, atol=0)


def test_softmax_focal_loss_properties():
    x, y = rand(10, 4, scale=2), classes(10, C=4)
    for reduction in REDUCTIONS:
        want = F.cross_entropy(x, y, reduction=reduction)
        assert_close(L.softmax_focal_loss(x, y, gamma=0.0, reduction=reduction), want)
    w = rand(4).abs()
    fl = L.softmax_focal_loss(x, y, alpha=w, gamma=0.0, reduction="none")
    assert_close(fl, F.cross_entropy(x, y, weight=w, reduction="none"))
    # the modulating factor only shrinks the loss, and shrinks it more as gamma grows
    losses = [L.softmax_focal_loss(x, y, gamma=g, reduction="none") for g in (0.0, 1.0, 2.0, 5.0)]
    assert all(bool((a >= b).all()) for a, b in zip(losses, losses[1:]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(reduction):
    x, y = rand(5, 7, scale=2), rand(5, 7, scale=2)
    for beta in (1.0, 0.5, 0.0):
        assert_close(L.smooth_l1_loss(x, y, reduction, beta), F.smooth_l1_loss(x, y, reduction=reduction, beta=beta))
    for delta in (1.0, 0.3, 2.5):
        assert_close(L.huber_loss(x, y, reduction, delta), F.huber_loss(x, y, reduction=reduction, delta=delta))
        assert_close(L.huber_loss(x, y, reduction, delta), delta * L.smooth_l1_loss(x, y, reduction, delta))
    assert_close(L.mse_loss(x, y, reduction), F.mse_loss(x, y, reduction=reduction))
    assert_close(L.l1_loss(x, y, reduction), F.l1_loss(x, y, reduction=reduction))


@pytest.mark.filterwarnings("ignore:reduction. .mean. divides the total loss:UserWarning")
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    x = torch.log_softmax(rand(4, 6), 1)
    t = torch.softmax(rand(4, 6), 1)
    if log_target:
        t = t.log()
    else:
        t[0, 0] = 0.0                                                   # 0·log 0 = 0
    assert_close(L.kl_div(x, t, reduction, log_target), F.kl_div(x, t, reduction=reduction, log_target=log_target))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p,margin,weighted", [(1, 1.0, False), (2, 0.5, False), (1, 2.0, True), (2, 1.0, True)])
def test_multi_margin_loss(reduction, p, margin, weighted):
    x, y = rand(7, 5), classes(7, C=5)
    w = rand(5).abs() if weighted else None
    assert_close(L.multi_margin_loss(x, y, p, margin, w, reduction),
                 F.multi_margin_loss(x, y, p=p, margin=margin, weight=w, reduction=reduction))


def test_gradients_equal_torchs():
    x = rand(6, 5, scale=3).requires_grad_()
    y = classes(6, C=5)
    (ours,) = torch.autograd.grad(L.cross_entropy(x, y, label_smoothing=0.1), x)
    (ref,) = torch.autograd.grad(F.cross_entropy(x, y, label_smoothing=0.1), x)
    assert_close(ours, ref)
    p = torch.softmax(x.detach(), 1)
    onehot = F.one_hot(y, 5).to(p.dtype)
    (g,) = torch.autograd.grad(L.cross_entropy(x, y, reduction="sum"), x)
    assert_close(g, p - onehot)                                         # the famous p - y


def test_extreme_logits_stay_finite_where_torch_does():
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], requires_grad=True)
    y = torch.tensor([1, 0])
    t = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    for ours, ref, target in [(L.cross_entropy, F.cross_entropy, y),
                              (L.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, t),
                              (L.sigmoid_focal_loss, torchvision.ops.sigmoid_focal_loss, t)]:
        a = ours(x, target)
        (ga,) = torch.autograd.grad(a.sum(), x)
        b = ref(x, target)
        (gb,) = torch.autograd.grad(b.sum(), x)
        assert torch.isfinite(a).all() == torch.isfinite(b).all() and torch.isfinite(a).all()
        assert torch.isfinite(ga).all()
        assert_close(a, b)
        assert_close(ga, gb)
    assert torch.isfinite(L.softmax_focal_loss(x, y)).all()


def test_dice_distillation_and_entropy_properties():
    t = (torch.rand(3, 1, 8, 8, generator=G) > 0.5).double()
    assert L.dice_loss(t, t).item() == pytest.approx(0.0)                     # perfect prediction
    assert L.dice_loss(1 - t, t, eps=1e-6).item() == pytest.approx(1.0, abs=1e-5)  # disjoint
    s, te, y = rand(8, 10, scale=2), rand(8, 10, scale=2), classes(8, C=10)
    assert L.distillation_loss(s, te, y, 4.0, 0.0).item() == pytest.approx(F.cross_entropy(s, y).item())
    assert L.distillation_loss(te, te, y, 4.0, 1.0).item() == pytest.approx(0.0, abs=1e-12)  # student = teacher
    # T^2 factor: for large T the soft term's gradient tends to ((z - mean z) - (v - mean v)) / (C·N)
    z = s.clone().requires_grad_()
    (g,) = torch.autograd.grad(L.distillation_loss(z, te, y, 1e4, 1.0), z)
    limit = ((s - s.mean(1, keepdim=True)) - (te - te.mean(1, keepdim=True))) / (10 * 8)
    assert_close(g, limit, atol=1e-5, rtol=1e-2)
    p, q = torch.softmax(rand(5, 7), 1), torch.softmax(rand(5, 7), 1)
    kl = F.kl_div(q.log(), p, reduction="none").sum(1)
    assert_close(L.cross_entropy_of_distributions(p, q) - L.entropy(p), kl)
    assert bool((kl >= 0).all())
    uniform = torch.full((4,), 0.25, dtype=torch.float64)
    assert_close(L.entropy(uniform), torch.tensor(4.0, dtype=torch.float64).log())   # log C for uniform


def test_loss_bad_input():
    x, y = torch.zeros(4, 3), torch.tensor([0, 1, 2, 1])
    with pytest.raises(ValueError, match="reduction must be one of"):
        L.cross_entropy(x, y, reduction="avg")
    with pytest.raises(ValueError, match=r"target class indices must be in \[0, 3\)"):
        L.cross_entropy(x, torch.tensor([0, 3, 1, 1]))
    with pytest.raises(ValueError, match=r"target \(class indices\) must have shape"):
        L.cross_entropy(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="weight must have 3 elements"):
        L.cross_entropy(x, y, weight=torch.ones(4))
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        L.cross_entropy(x, y, label_smoothing=1.5)
    with pytest.raises(ValueError, match="must hold probabilities in"):
        L.cross_entropy(x, torch.full((4, 3), 1.5))
    with pytest.raises(ValueError, match="same shape"):
        L.mse_loss(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="targets must hold probabilities"):
        L.sigmoid_focal_loss(torch.zeros(3), torch.tensor([0.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        L.sigmoid_focal_loss(torch.zeros(3), torch.zeros(3), reduction="batchmean")
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        L.multi_margin_loss(x, y, p=3)
    with pytest.raises(ValueError, match=r"target class indices must be in \[0, 3\)"):
        L.softmax_focal_loss(x, torch.tensor([0, 1, 2, 5]))
    with pytest.raises(ValueError, match="temperature must be a real number > 0"):
        L.distillation_loss(x, x, y, 0.0, 0.5)
    with pytest.raises(ValueError, match="probs must hold probabilities"):
        L.dice_loss(torch.full((2, 3), 2.0), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"target \(probabilities\) must have the shape of input"):
        L.cross_entropy(x, torch.tensor([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(TypeError, match="target must have a real dtype"):
        L.cross_entropy(x, torch.tensor([True, False, True, True]))


def test_gradients_at_zero_logits_and_extremes():
    z = torch.tensor([0.0, -1e4, 1e4, 3.0], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    for ours, ref in ((L.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits),
                      (L.sigmoid_focal_loss, torchvision.ops.sigmoid_focal_loss)):
        (a,) = torch.autograd.grad(ours(z, t).sum(), z)
        (b,) = torch.autograd.grad(ref(z, t).sum(), z)
        assert_close(a, b)


# ----------------------------------------------------------------------------- issue 15: extremes, ranges, dtypes
NEG_INF_LOGITS = torch.tensor([[0.5, -math.inf, 1.0, 2.0], [1.0, 0.0, -math.inf, -1.0], [0.3, 0.2, 0.1, 0.0]])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_with_a_minus_inf_logit_equals_torch(reduction, smoothing, weighted):
    """ε = 0: torch's finite loss (no 0·inf from the smoothing term); ε > 0: torch's inf."""
    y = torch.tensor([0, 1, 3])
    w = torch.tensor([1.0, 2.0, 0.5, 1.5]) if weighted else None
    kw = dict(weight=w, reduction=reduction, label_smoothing=smoothing)
    ours, ref = L.cross_entropy(NEG_INF_LOGITS, y, **kw), F.cross_entropy(NEG_INF_LOGITS, y, **kw)
    assert_close(ours, ref, equal_nan=True)
    if smoothing == 0.0:
        assert torch.isfinite(ours).all()
    t = F.one_hot(torch.tensor([0, 1, 3]), 4).float()                  # probability targets: torch's NaN/inf
    assert_close(L.cross_entropy(NEG_INF_LOGITS, t, **kw), F.cross_entropy(NEG_INF_LOGITS, t, **kw), equal_nan=True)


def test_cross_entropy_gradient_with_a_minus_inf_logit_equals_torch():
    y = torch.tensor([0, 1, 3])
    a = NEG_INF_LOGITS.clone().requires_grad_()
    b = NEG_INF_LOGITS.clone().requires_grad_()
    (ga,) = torch.autograd.grad(L.cross_entropy(a, y), a)
    (gb,) = torch.autograd.grad(F.cross_entropy(b, y), b)
    assert_close(ga, gb)


@pytest.mark.parametrize("where", ["student", "teacher"])
def test_distillation_with_a_minus_inf_logit_equals_the_torch_expression(where):
    s, t, y = rand(4, 4), rand(4, 4), torch.tensor([0, 1, 2, 3])
    (s if where == "student" else t)[1, 2] = -math.inf
    T, alpha = 3.0, 0.4
    ref = alpha * T * T * F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean") \
        + (1 - alpha) * F.cross_entropy(s, y)
    assert_close(L.distillation_loss(s, t, y, T, alpha), ref)
    if where == "student":
        assert L.distillation_loss(s, t, y, T, alpha).item() == math.inf


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("target", [torch.tensor([2]), torch.tensor(2)])
def test_multi_margin_loss_one_sample_keeps_torchs_shape(reduction, target):
    x = rand(5)
    ours, ref = L.multi_margin_loss(x, target, reduction=reduction), F.multi_margin_loss(x, target, reduction=reduction)
    assert ours.shape == ref.shape
    assert_close(ours, ref)


def test_multi_margin_loss_nan_and_inf_like_torch():
    x = rand(4, 5)
    x[0, 1], x[1, 3], x[2, 0], x[3, 2] = math.nan, math.inf, -math.inf, math.nan
    y = torch.tensor([0, 1, 2, 2])
    for kw in (dict(), dict(p=2, margin=0.5), dict(weight=rand(5).abs())):
        assert_close(L.multi_margin_loss(x, y, reduction="none", **kw),
                     F.multi_margin_loss(x, y, reduction="none", **kw), equal_nan=True)


@pytest.mark.parametrize("alpha", [-1, -1.0, 0.0, 0.3, 1.0])
def test_sigmoid_focal_alpha_rule_is_torchvisions(alpha):
    x, t = rand(6, 3, scale=3), (torch.rand(6, 3, generator=G) > 0.5).double()
    assert_close(L.sigmoid_focal_loss(x, t, alpha), torchvision.ops.sigmoid_focal_loss(x, t, alpha))


@pytest.mark.parametrize("alpha", [-0.5, 1.5, -2.0, math.nan, math.inf])
def test_sigmoid_focal_alpha_outside_its_range_is_refused_as_by_torchvision(alpha):
    x, t = torch.zeros(3), torch.ones(3)
    with pytest.raises(ValueError, match="alpha must be in"):
        L.sigmoid_focal_loss(x, t, alpha)
    with pytest.raises(ValueError):
        torchvision.ops.sigmoid_focal_loss(x, t, alpha)


def test_bce_with_logits_at_infinities_and_nan_equals_torch():
    x = torch.tensor([math.inf, -math.inf, math.inf, -math.inf, math.nan, 1e4, -1e4, 0.0])
    t = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.5])
    pw = torch.tensor(3.0)
    for kw in (dict(), dict(pos_weight=pw), dict(weight=torch.full((8,), 2.0))):
        assert_close(L.binary_cross_entropy_with_logits(x, t, reduction="none", **kw),
                     F.binary_cross_entropy_with_logits(x, t, reduction="none", **kw), equal_nan=True)
    assert_close(L.sigmoid_focal_loss(x, t), torchvision.ops.sigmoid_focal_loss(x, t), equal_nan=True)


@pytest.mark.filterwarnings("ignore:reduction. .mean. divides the total loss:UserWarning")
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div",
                                  "binary_cross_entropy_with_logits"])
@pytest.mark.parametrize("dtypes", [(torch.float32, torch.float64), (torch.float64, torch.float32),
                                    (torch.float32, torch.float16)])
def test_mixed_float_dtypes_follow_torchs_promotion(name, dtypes):
    x = torch.rand(4, 3, generator=G, dtype=dtypes[0])
    t = torch.rand(4, 3, generator=G, dtype=dtypes[1])
    ours, ref = getattr(L, name)(x, t), getattr(F, name)(x, t)
    tol = dict(rtol=1e-2, atol=1e-3) if torch.float16 in dtypes else dict(rtol=1e-5, atol=1e-6)
    assert_close(ours.double(), ref.double(), **tol)


def test_mixed_dtypes_refused_where_torch_refuses():
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    w64 = torch.ones(3, dtype=torch.float64)
    for fn in (L.cross_entropy, L.multi_margin_loss):
        with pytest.raises(RuntimeError):
            getattr(F, fn.__name__)(x, y, weight=w64)
        with pytest.raises(TypeError, match="weight and input must have the same dtype"):
            fn(x, y, weight=w64)
    t64 = torch.softmax(torch.randn(4, 3, dtype=torch.float64), 1)       # probability targets promote
    assert_close(L.cross_entropy(x, t64), F.cross_entropy(x, t64))
    with pytest.raises(TypeError, match="target must have a floating dtype"):
        L.mse_loss(x, torch.ones(4, 3, dtype=torch.long))               # deliberate: torch promotes int targets


def test_parameters_are_checked_naming_the_argument():
    x, y, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 1]), torch.rand(4, 3)
    bad = [
        (lambda v: L.cross_entropy(x, y, label_smoothing=v), "label_smoothing", [math.nan, -0.1, 1.5, "0.1", True]),
        (lambda v: L.cross_entropy(x, y, ignore_index=v), "ignore_index", [-100.0, 1.5, True, "1", None]),
        (lambda v: L.smooth_l1_loss(x, t, beta=v), "beta", [math.nan, -1.0, "1", None]),
        (lambda v: L.huber_loss(x, t, delta=v), "delta", [math.nan, 0.0, -1.0, True]),
        (lambda v: L.multi_margin_loss(x, y, margin=v), "margin", [math.nan, "1", None, False]),
        (lambda v: L.multi_margin_loss(x, y, p=v), "p", [3, 1.0, True, None]),
        (lambda v: L.sigmoid_focal_loss(x, t, gamma=v), "gamma", [math.nan, -1.0, "2"]),
        (lambda v: L.softmax_focal_loss(x, y, gamma=v), "gamma", [math.nan, -0.5]),
        (lambda v: L.softmax_focal_loss(x, y, alpha=v), "alpha", [math.nan, 1.5, -0.1, "0.25"]),
        (lambda v: L.dice_loss(t, t, eps=v), "eps", [0.0, -1.0, math.nan, math.inf, "1"]),
        (lambda v: L.distillation_loss(x, x, y, v, 0.5), "temperature", [0.0, -1.0, math.nan, "4", None]),
        (lambda v: L.distillation_loss(x, x, y, 4.0, v), "alpha", [-0.1, 1.1, math.nan, None]),
        (lambda v: L.kl_div(x, t, log_target=v), "log_target", ["False", None, 1, 0]),
        (lambda v: L.entropy(t, dim=v), "dim", [2, -3, 1.0, True]),
    ]
    for call, name, values in bad:
        for v in values:
            with pytest.raises((TypeError, ValueError), match=name):
                call(v)
    for name in L.__all__:                                             # every loss with a reduction checks it
        fn = getattr(L, name)
        if "reduction" in fn.__code__.co_varnames:
            args = (x, y) if name in ("cross_entropy", "softmax_focal_loss", "multi_margin_loss") else (x, t)
            for v in ("avg", None, 1):
                with pytest.raises((TypeError, ValueError), match="reduction must be one of"):
                    fn(*args, reduction=v)
    # equivalent numpy scalars are accepted and give torch's answer
    assert_close(L.cross_entropy(x, y, ignore_index=np.int64(2)), F.cross_entropy(x, y, ignore_index=2))
    assert_close(L.kl_div(x, t, reduction="sum", log_target=np.bool_(False)),
                 F.kl_div(x, t, reduction="sum", log_target=False))
    assert_close(L.smooth_l1_loss(x, t, beta=np.float64(0.5)), F.smooth_l1_loss(x, t, beta=0.5))


def test_messages_name_each_functions_own_arguments():
    z = torch.zeros(3)
    with pytest.raises(TypeError, match="inputs must be a torch.Tensor"):
        L.sigmoid_focal_loss([0.0], z)
    with pytest.raises(ValueError, match="targets must hold probabilities"):
        L.sigmoid_focal_loss(z, torch.tensor([0.0, 2.0, math.nan]))
    with pytest.raises(ValueError, match="probs and targets must have the same shape"):
        L.dice_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="student_logits and teacher_logits must have the same shape"):
        L.distillation_loss(torch.zeros(2, 3), torch.zeros(2, 4), torch.tensor([0, 1]), 2.0, 0.5)
    with pytest.raises(TypeError, match="student_logits must have a floating dtype"):
        L.distillation_loss(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3), torch.tensor([0, 1]), 2.0, 0.5)
    with pytest.raises(ValueError, match="p must hold probabilities"):
        L.entropy(torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match="q must hold probabilities"):
        L.cross_entropy_of_distributions(torch.tensor([0.5, 0.5]), torch.tensor([0.5, -0.5]))
    with pytest.raises(TypeError, match="target must have an integer dtype"):
        L.multi_margin_loss(torch.zeros(2, 3), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"target class indices must be in \[0, 3\) \(input has 3 classes\)"):
        L.softmax_focal_loss(torch.zeros(2, 3), torch.tensor([0, 3]))


def test_empty_batches_like_torch():
    x, y = torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)
    for reduction in REDUCTIONS:
        assert_close(L.cross_entropy(x, y, reduction=reduction), F.cross_entropy(x, y, reduction=reduction),
                     equal_nan=True)
        assert_close(L.cross_entropy(x, x, reduction=reduction), F.cross_entropy(x, x, reduction=reduction),
                     equal_nan=True)
        for name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy_with_logits"):
            assert_close(getattr(L, name)(x, x, reduction=reduction), getattr(F, name)(x, x, reduction=reduction),
                         equal_nan=True)
    assert L.multi_margin_loss(x, y, reduction="none").shape == F.multi_margin_loss(x, y, reduction="none").shape
    assert L.entropy(torch.zeros(3, 0)).shape == torch.special.entr(torch.zeros(3, 0)).sum(-1).shape
