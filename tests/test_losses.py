"""cvbook_lib.losses against torch.nn.functional, torchvision.ops and properties."""

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
    with pytest.raises(ValueError, match="class-index targets must have shape"):
        L.cross_entropy(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="weight must have 3 elements"):
        L.cross_entropy(x, y, weight=torch.ones(4))
    with pytest.raises(ValueError, match="label_smoothing must be in"):
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
    with pytest.raises(ValueError, match="target must be 4 class indices"):
        L.softmax_focal_loss(x, torch.tensor([0, 1, 2, 5]))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        L.distillation_loss(x, x, y, 0.0, 0.5)
    with pytest.raises(ValueError, match="probs must hold probabilities"):
        L.dice_loss(torch.full((2, 3), 2.0), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="probability targets must have the shape of input"):
        L.cross_entropy(x, torch.tensor([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(TypeError, match="class-index targets must be integers"):
        L.cross_entropy(x, torch.tensor([True, False, True, True]))


def test_gradients_at_zero_logits_and_extremes():
    z = torch.tensor([0.0, -1e4, 1e4, 3.0], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    for ours, ref in ((L.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits),
                      (L.sigmoid_focal_loss, torchvision.ops.sigmoid_focal_loss)):
        (a,) = torch.autograd.grad(ours(z, t).sum(), z)
        (b,) = torch.autograd.grad(ref(z, t).sum(), z)
        assert_close(a, b)
