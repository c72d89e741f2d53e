"""cvbook_lib.optim: trajectories equal to torch.optim over 100 steps, schedules, errors."""

import itertools

import pytest
import torch

from cvbook_lib import optim

CONFIGS = {
    "SGD": [dict(lr=0.05), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
            dict(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.01)],
    "Adagrad": [dict(), dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1, eps=1e-6)],
    "RMSprop": [dict(), dict(lr=0.01, alpha=0.9, momentum=0.8), dict(lr=0.005, centered=True, weight_decay=0.01),
                dict(lr=0.005, centered=True, momentum=0.5)],
    "Adam": [dict(), dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.05), dict(lr=0.01, amsgrad=True)],
    "AdamW": [dict(), dict(lr=0.01, weight_decay=0.1, amsgrad=True)],
}


def _problem(seed):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(6, 6, generator=g, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    w0 = torch.randn(6, generator=g, dtype=torch.float64)
    b0 = torch.randn(3, generator=g, dtype=torch.float64)

    def loss(w, c):                                  # non-quadratic, two parameter tensors
        return ((A @ w - b) ** 2).sum() / 6 + torch.log1p((w[:3] * c) ** 2).sum() + (c ** 4).sum() / 10

    return loss, w0, b0


@pytest.mark.parametrize("name,kwargs", [(n, k) for n, ks in CONFIGS.items() for k in ks])
def test_trajectory_equals_torch_over_100_steps(name, kwargs):
    loss, w0, c0 = _problem(0)
    runs = []
    for cls in (getattr(optim, name), getattr(torch.optim, name)):
        w, c = w0.clone().requires_grad_(), c0.clone().requires_grad_()
        opt = cls([{"params": [w]}, {"params": [c], "lr": kwargs.get("lr", 1e-2) / 2}], **kwargs)
        traj = []
        for _ in range(100):
            opt.zero_grad()
            loss(w, c).backward()
            opt.step()
            traj.append(torch.cat([w.detach(), c.detach()]).clone())
        runs.append(torch.stack(traj))
    assert (runs[0] - runs[1]).abs().max().item() < 1e-6


@pytest.mark.parametrize("base,step,gamma", [(0.1, 3, 0.5), (1.0, 1, 0.9)])
def test_schedules_equal_torch(base, step, gamma):
    p = torch.zeros(1, requires_grad=True)
    for make, ours in [
        (lambda o: torch.optim.lr_scheduler.StepLR(o, step, gamma), lambda e: optim.step_lr(e, base, step, gamma)),
        (lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10, 0.001),
         lambda e: optim.cosine_annealing_lr(e, base, 10, 0.001)),
        (lambda o: torch.optim.lr_scheduler.LinearLR(o, 0.25, 1.0, 5),
         lambda e: optim.linear_warmup_lr(e, base, 5, 0.25)),
    ]:
        opt = torch.optim.SGD([p], lr=base)
        sched = make(opt)
        for epoch in range(11):
            assert abs(sched.get_last_lr()[0] - ours(epoch)) < 1e-12
            opt.step()
            sched.step()


def test_optimizer_bad_input():
    p = [torch.zeros(2, requires_grad=True)]
    for cls, kwargs, match in [(optim.SGD, dict(lr=-1), "Invalid learning rate"),
                               (optim.SGD, dict(nesterov=True), "Nesterov momentum requires"),
                               (optim.SGD, dict(momentum=0.9, dampening=0.1, nesterov=True),
                                "Nesterov momentum requires"),
                               (optim.Adam, dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1"),
                               (optim.Adam, dict(eps=-1e-8), "Invalid epsilon value"),
                               (optim.RMSprop, dict(alpha=-0.1), "Invalid alpha value"),
                               (optim.Adagrad, dict(lr_decay=-1), "Invalid lr_decay value")]:
        with pytest.raises(ValueError, match=match):
            cls(p, **kwargs)
    with pytest.raises(ValueError, match="epoch must be <= T_max"):
        optim.cosine_annealing_lr(11, 0.1, 10)
    with pytest.raises(ValueError, match="start_factor must be in"):
        optim.linear_warmup_lr(0, 0.1, 5, 0.0)


def test_zero_grad_and_param_groups_behave_like_torch():
    w = torch.ones(3, requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    w.sum().backward()
    opt.step()
    opt.zero_grad()
    assert w.grad is None
    assert set(itertools.chain.from_iterable(g.keys() for g in opt.param_groups)) >= {"lr", "betas", "eps", "amsgrad"}
    assert opt.state[w]["step"] == 1


def test_clip_grad_norm_equals_torch():
    g = torch.Generator().manual_seed(0)
    a = [torch.randn(3, 4, generator=g, requires_grad=True), torch.randn(5, generator=g, requires_grad=True)]
    b = [t.detach().clone().requires_grad_() for t in a]
    for ps in (a, b):
        sum((p ** 3).sum() for p in ps).backward()
    for max_norm in (0.5,):
        n1 = optim.clip_grad_norm_(a, max_norm)
        n2 = torch.nn.utils.clip_grad_norm_(b, max_norm)
        assert torch.allclose(n1, n2)
        for p, q in zip(a, b):
            assert torch.allclose(p.grad, q.grad)
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        optim.clip_grad_norm_(a, 0)


def test_loss_scaler_follows_gradscaler():
    """Feed the same pattern of overflowing steps to ours and to torch.amp.GradScaler (CPU)."""
    ref = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_factor=2.0, backoff_factor=0.5, growth_interval=3)
    ours = optim.LossScaler(1024.0, 2.0, 0.5, 3)
    w = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    pattern = [False, False, False, True, False, False, False, False, True, True, False, False, False]
    for overflow in pattern:
        opt.zero_grad()
        ref.scale((w * torch.tensor([1.0, float("inf") if overflow else 1.0])).sum()).backward()
        ref.step(opt)
        ref.update()
        ours.update(overflow)
        assert ours.scale == ref.get_scale()
    w2 = torch.zeros(2, requires_grad=True)
    w2.grad = torch.tensor([2048.0, float("inf")])
    assert optim.LossScaler(1024.0).unscale_([w2]) is True
    with pytest.raises(ValueError, match="need init_scale > 0"):
        optim.LossScaler(backoff_factor=1.5)


def _grid():
    for mom, damp, nest, wd in itertools.product((0.0, 0.9), (0.0, 0.5), (False, True), (0.0, 0.1)):
        if not nest or (mom > 0 and damp == 0):
            yield "SGD", dict(lr=0.03, momentum=mom, dampening=damp, nesterov=nest, weight_decay=wd)
    for centered, mom, wd in itertools.product((False, True), (0.0, 0.7), (0.0, 0.1)):
        yield "RMSprop", dict(lr=0.003, centered=centered, momentum=mom, weight_decay=wd)
    for lr_decay, wd, acc in itertools.product((0.0, 0.05), (0.0, 0.1), (0.0, 0.5)):
        yield "Adagrad", dict(lr=0.05, lr_decay=lr_decay, weight_decay=wd, initial_accumulator_value=acc)
    for name, ams, wd in itertools.product(("Adam", "AdamW"), (False, True), (0.0, 0.1)):
        yield name, dict(lr=0.01, amsgrad=ams, weight_decay=wd)


@pytest.mark.parametrize("name,kwargs", list(_grid()))
def test_every_option_combination_equals_torch(name, kwargs):
    loss, w0, c0 = _problem(1)
    finals = []
    for cls in (getattr(optim, name), getattr(torch.optim, name)):
        w, c = w0.clone().requires_grad_(), c0.clone().requires_grad_()
        opt = cls([w, c], **kwargs)
        for _ in range(100):
            opt.zero_grad()
            loss(w, c).backward()
            opt.step()
        finals.append(torch.cat([w.detach(), c.detach()]))
    assert (finals[0] - finals[1]).abs().max().item() < 1e-6
