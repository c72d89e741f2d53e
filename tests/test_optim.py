"""cvbook_lib.optim: trajectories equal to torch.optim over 100 steps, schedules, errors."""

import itertools
import math

import numpy as np
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


def test_schedules_accept_numpy_ints_and_follow_torch_past_t_max():
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 7, 0.002)
    for epoch in range(40):                                          # periodic past T_max, as torch
        assert optim.cosine_annealing_lr(np.int64(epoch), np.float64(0.1), np.int32(7), 0.002) == \
            pytest.approx(sched.get_last_lr()[0], abs=1e-12)
        opt.step()
        sched.step()
    assert optim.step_lr(np.int64(7), 0.1, np.int64(3), 0.5) == optim.step_lr(7, 0.1, 3, 0.5) == 0.1 * 0.25
    assert optim.linear_warmup_lr(np.int64(2), 0.1, np.int16(4), 0.5) == pytest.approx(0.1 * 0.75)
    for fn, args, match in [(optim.step_lr, (3, 0.1, 0), "step_size must be an int >= 1"),
                            (optim.step_lr, (3, 0.1, 2.0), "step_size must be an int"),
                            (optim.step_lr, (3, 0.1, 2, -0.5), "gamma"),
                            (optim.step_lr, (-1, 0.1, 2), "epoch must be an int >= 0"),
                            (optim.step_lr, (True, 0.1, 2), "epoch"),
                            (optim.cosine_annealing_lr, (3, 0.1, 0), "T_max must be an int >= 1"),
                            (optim.cosine_annealing_lr, (3, 0.1, 5, float("nan")), "eta_min"),
                            (optim.cosine_annealing_lr, (3, float("inf"), 5), "base_lr"),
                            (optim.linear_warmup_lr, (3, 0.1, 0), "warmup_epochs must be an int >= 1"),
                            (optim.linear_warmup_lr, (3, 0.1, 5, 1.5), "start_factor"),
                            (optim.linear_warmup_lr, (3, 0.1, 5, float("nan")), "start_factor")]:
        with pytest.raises((ValueError, TypeError), match=match):
            fn(*args)


def test_optimizer_bad_input():
    p = [torch.zeros(2, requires_grad=True)]
    for cls, kwargs, match in [(optim.SGD, dict(lr=-1), "Invalid learning rate: lr"),
                               (optim.SGD, dict(lr=float("nan")), "Invalid learning rate: lr"),
                               (optim.SGD, dict(momentum=-0.1), "Invalid momentum value: momentum"),
                               (optim.SGD, dict(weight_decay=-0.1), "Invalid weight_decay value: weight_decay"),
                               (optim.SGD, dict(nesterov=True), "Nesterov momentum requires"),
                               (optim.SGD, dict(momentum=0.9, dampening=0.1, nesterov=True),
                                "Nesterov momentum requires"),
                               (optim.Adam, dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1"),
                               (optim.Adam, dict(betas=(-0.1, 0.9)), "Invalid beta parameter at index 0"),
                               (optim.Adam, dict(betas=(0.9,)), "betas must be a pair"),
                               (optim.Adam, dict(eps=-1e-8), "Invalid epsilon value"),
                               (optim.AdamW, dict(weight_decay=-1e-2), "Invalid weight_decay value"),
                               (optim.RMSprop, dict(alpha=-0.1), "Invalid alpha value"),
                               (optim.RMSprop, dict(momentum=-0.1), "Invalid momentum value"),
                               (optim.Adagrad, dict(lr_decay=-1), "Invalid lr_decay value"),
                               (optim.Adagrad, dict(initial_accumulator_value=-1), "initial_accumulator_value")]:
        with pytest.raises(ValueError, match=match):
            cls(p, **kwargs)
    with pytest.raises(IndexError):                                  # torch fails later and less clearly
        torch.optim.Adam(p, betas=(0.9,))
    for cls, flag in [(optim.SGD, "nesterov"), (optim.SGD, "maximize"), (optim.Adam, "amsgrad"),
                      (optim.AdamW, "maximize"), (optim.RMSprop, "centered"), (optim.Adagrad, "maximize")]:
        for bad in ("False", 1, None):
            with pytest.raises(TypeError, match=flag):
                cls(p, **{flag: bad})
    for bad, err in [(None, TypeError), ("abc", TypeError), (p[0], TypeError), ([], ValueError)]:
        with pytest.raises(err, match="params"):
            optim.SGD(bad, lr=0.1)
    opt = optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate: lr"):
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "lr": -1.0})
    assert len(opt.param_groups) == 1
    with pytest.raises(ValueError, match="start_factor must be"):
        optim.linear_warmup_lr(0, 0.1, 5, 0.0)


def test_tensor_lr_like_torch():
    p = [torch.zeros(2, requires_grad=True)]
    for cls in (optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad):
        with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
            cls(p, lr=torch.tensor([1e-3, 1e-3]))
        with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
            getattr(torch.optim, cls.__name__)(p, lr=torch.tensor([1e-3, 1e-3]))
    loss, w0, c0 = _problem(2)
    for name in ("SGD", "Adam", "RMSprop", "Adagrad"):
        runs = []
        for cls in (getattr(optim, name), getattr(torch.optim, name)):
            w, c = w0.clone().requires_grad_(), c0.clone().requires_grad_()
            opt = cls([w, c], lr=torch.tensor([0.01]))
            for _ in range(20):
                opt.zero_grad()
                loss(w, c).backward()
                opt.step()
            runs.append(torch.cat([w.detach(), c.detach()]))
        assert (runs[0] - runs[1]).abs().max().item() < 1e-6


def test_step_closure_runs_with_grad_enabled_like_torch():
    loss, w0, c0 = _problem(3)
    runs = []
    for cls in (optim.Adam, torch.optim.Adam):
        w, c = w0.clone().requires_grad_(), c0.clone().requires_grad_()
        opt = cls([w, c], lr=0.01)

        def closure(opt=opt, w=w, c=c):
            opt.zero_grad()
            out = loss(w, c)
            out.backward()
            return out

        values = [opt.step(closure).item() for _ in range(30)]
        runs.append((torch.cat([w.detach(), c.detach()]), values))
    assert (runs[0][0] - runs[1][0]).abs().max().item() < 1e-6 and runs[0][1] == pytest.approx(runs[1][1])
    with pytest.raises(TypeError, match="closure"):
        optim.SGD([w0.clone().requires_grad_()], lr=0.1).step("loss")


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
                                         ("Adagrad", dict(lr=0.1)), ("RMSprop", dict(lr=0.01, centered=True)),
                                         ("Adam", dict(lr=0.01, amsgrad=True)), ("AdamW", dict(lr=0.01))])
def test_maximize_and_complex_parameters_equal_torch(name, kwargs):
    g = torch.Generator().manual_seed(4)
    z0 = torch.randn(5, dtype=torch.complex128, generator=g)
    a = torch.randn(5, dtype=torch.complex128, generator=g)
    for maximize in (False, True):
        runs = []
        for cls in (getattr(optim, name), getattr(torch.optim, name)):
            z = z0.clone().requires_grad_()
            opt = cls([z], maximize=maximize, **kwargs)
            for _ in range(50):
                opt.zero_grad()
                f = ((z - a).abs() ** 2).sum() + (z.abs() ** 4).sum() / 10
                (-f if maximize else f).backward()
                opt.step()
            runs.append(z.detach())
        assert (runs[0] - runs[1]).abs().max().item() < 1e-9


def _sparse_problem(cls, **kwargs):
    emb = torch.nn.Embedding(6, 3, sparse=True)
    with torch.no_grad():
        emb.weight.copy_(torch.arange(18.0).reshape(6, 3) / 10)
    opt = cls(emb.parameters(), **kwargs)
    for step in range(5):
        opt.zero_grad()
        (emb(torch.tensor([1, 2, 2, step % 6])) ** 2).sum().backward()
        opt.step()
    return emb.weight.detach()


def test_sparse_gradients_like_torch():
    for name, kwargs in [("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.2)),
                         ("Adagrad", dict(lr=0.1, lr_decay=0.01))]:
        assert torch.allclose(_sparse_problem(getattr(optim, name), **kwargs),
                              _sparse_problem(getattr(torch.optim, name), **kwargs), atol=1e-6)
    dense = torch.zeros(2, requires_grad=True)
    emb = torch.nn.Embedding(4, 2, sparse=True)
    before = emb.weight.detach().clone()
    opt = optim.Adam([dense, *emb.parameters()], lr=0.1)
    dense.grad = torch.ones(2)
    emb(torch.tensor([1])).sum().backward()
    with pytest.raises(TypeError, match="does not support sparse gradients"):
        opt.step()
    assert torch.equal(dense.detach(), torch.zeros(2)) and torch.equal(emb.weight.detach(), before)  # untouched
    with pytest.raises(RuntimeError, match="sparse"):
        torch.optim.Adam(emb.parameters(), lr=0.1).step()
    for name in ("SGD", "Adagrad"):                                  # no weight decay with sparse gradients
        with pytest.raises(TypeError, match=f"{name} with weight_decay does not support sparse"):
            _sparse_problem(getattr(optim, name), lr=0.1, weight_decay=0.1)
        with pytest.raises(RuntimeError):
            _sparse_problem(getattr(torch.optim, name), lr=0.1, weight_decay=0.1)


def test_zero_grad_and_param_groups_behave_like_torch():
    w = torch.ones(3, requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    w.sum().backward()
    opt.step()
    opt.zero_grad()
    assert w.grad is None
    assert set(itertools.chain.from_iterable(g.keys() for g in opt.param_groups)) >= {"lr", "betas", "eps", "amsgrad"}
    assert opt.state[w]["step"] == 1


def _grads(seed, dtypes=(torch.float32, torch.float32)):
    g = torch.Generator().manual_seed(seed)
    ps = []
    for i, dt in enumerate(dtypes):
        p = torch.zeros(3 + i, 2, dtype=dt)
        p.grad = (torch.randn(3 + i, 2, generator=g) * 2).to(dt)
        ps.append(p)
    return ps


def _copy(ps):
    out = []
    for p in ps:
        q = p.detach().clone()
        q.grad = None if p.grad is None else p.grad.clone()
        out.append(q)
    return out


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf"])
@pytest.mark.parametrize("dtypes", [(torch.float32, torch.float32), (torch.float32, torch.float64),
                                    (torch.float16, torch.float16), (torch.complex64, torch.float32)])
def test_clip_grad_norm_equals_torch(norm_type, dtypes):
    a = _grads(0, dtypes)
    b = _copy(a)
    for max_norm in (0.5, 1e9, 0.0):
        n1 = optim.clip_grad_norm_(a, max_norm, norm_type)
        n2 = torch.nn.utils.clip_grad_norm_(b, max_norm, norm_type)
        tol = 1e-2 if torch.float16 in dtypes else 1e-6
        assert n1.dtype == n2.dtype and torch.allclose(n1.double(), n2.double(), rtol=tol)
        for p, q in zip(a, b):
            assert p.grad.dtype == q.grad.dtype and torch.allclose(p.grad, q.grad, rtol=tol, atol=tol)


def test_clip_grad_norm_sparse_empty_nonfinite_like_torch():
    embs = []
    for _ in range(2):
        emb = torch.nn.Embedding(10, 3, sparse=True)
        with torch.no_grad():
            emb.weight.fill_(1.0)
        emb(torch.tensor([1, 2, 2])).sum().backward()                   # uncoalesced: index 2 twice
        embs.append(emb)
    n1 = optim.clip_grad_norm_(embs[0].parameters(), 0.5)
    n2 = torch.nn.utils.clip_grad_norm_(embs[1].parameters(), 0.5)
    assert torch.allclose(n1, n2) and torch.allclose(embs[0].weight.grad.to_dense(), embs[1].weight.grad.to_dense())
    assert embs[0].weight.grad.to_dense().abs().sum() < 3 * 3 * 0.5       # really scaled
    w = torch.zeros(2, requires_grad=True)
    w.grad = torch.tensor([3.0, 4.0])
    assert torch.allclose(optim.clip_grad_norm_(w, 1.0), torch.tensor(5.0))  # a single tensor, as torch
    assert torch.allclose(w.grad, torch.tensor([0.6, 0.8]))
    assert optim.clip_grad_norm_([], 1.0).item() == torch.nn.utils.clip_grad_norm_([], 1.0).item() == 0.0
    with pytest.warns(UserWarning, match="empty generator"):
        optim.clip_grad_norm_((p for p in []), 1.0)
    bad = _grads(1)
    bad[0].grad[0, 0] = float("inf")
    before = [p.grad.clone() for p in bad]
    with pytest.raises(ValueError, match="non-finite"):
        optim.clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)
    assert all(torch.equal(p.grad, q) for p, q in zip(bad, before))     # nothing scaled
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.clip_grad_norm_(_copy(bad), 1.0, error_if_nonfinite=True)
    ours, ref = _copy(bad), _copy(bad)
    assert optim.clip_grad_norm_(ours, 1.0).item() == torch.nn.utils.clip_grad_norm_(ref, 1.0).item() == math.inf
    assert all(torch.equal(p.grad.nan_to_num(7.0), q.grad.nan_to_num(7.0)) for p, q in zip(ours, ref))
    for kwargs, err, match in [(dict(max_norm=-1.0), ValueError, "max_norm"),
                               (dict(max_norm=float("nan")), ValueError, "max_norm"),
                               (dict(max_norm=1.0, norm_type=0), ValueError, "norm_type"),
                               (dict(max_norm=1.0, norm_type="2"), TypeError, "norm_type"),
                               (dict(max_norm=1.0, error_if_nonfinite=1), TypeError, "error_if_nonfinite")]:
        with pytest.raises(err, match=match):
            optim.clip_grad_norm_(_grads(2), **kwargs)
    with pytest.raises(TypeError, match=r"parameters\[0\] must be a tensor"):
        optim.clip_grad_norm_([[1.0]], 1.0)


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
    with pytest.raises(ValueError, match="backoff_factor"):
        optim.LossScaler(backoff_factor=1.5)
    with pytest.raises(TypeError, match="found_inf"):
        ours.update("False")


def test_loss_scaler_unscales_a_tensor_an_iterable_or_an_optimizer_like_gradscaler():
    grads = [torch.tensor([2048.0, -512.0]), torch.tensor([[4096.0]])]
    for form in ("tensor", "list", "generator", "optimizer"):
        ps = [torch.zeros_like(g, requires_grad=True) for g in grads]
        for p, g in zip(ps, grads):
            p.grad = g.clone()
        arg = {"tensor": ps[0], "list": ps, "generator": (p for p in ps),
               "optimizer": torch.optim.SGD(ps, lr=0.1)}[form]
        assert optim.LossScaler(1024.0).unscale_(arg) is False
        assert torch.equal(ps[0].grad, torch.tensor([2.0, -0.5]))       # never a silent no-op
        assert torch.equal(ps[1].grad, torch.tensor([[4.0]] if form != "tensor" else [[4096.0]]))
    ref_p = torch.zeros(2, requires_grad=True)                          # GradScaler divides the same way
    ref_p.grad = grads[0].clone()
    ref = torch.amp.GradScaler("cpu", init_scale=1024.0)
    ref.scale(torch.ones(()))
    ref.unscale_(torch.optim.SGD([ref_p], lr=0.1))
    assert torch.equal(ref_p.grad, torch.tensor([2.0, -0.5]))
    h = torch.zeros(2, dtype=torch.float16)
    h.grad = torch.ones(2, dtype=torch.float16)
    f = torch.zeros(2)
    f.grad = torch.full((2,), 8.0)
    with pytest.raises(ValueError, match="FP16"):                      # GradScaler refuses them too
        optim.LossScaler(4.0).unscale_([f, h])
    assert torch.equal(f.grad, torch.full((2,), 8.0))                   # checked before dividing anything
    for bad in ("grads", None, 3.0, [1.0]):
        with pytest.raises(TypeError, match="parameters"):
            optim.LossScaler().unscale_(bad)
    emb = torch.nn.Embedding(4, 2, sparse=True)
    (emb(torch.tensor([1])).sum() * 8).backward()
    optim.LossScaler(8.0).unscale_(emb.parameters())
    assert torch.equal(emb.weight.grad.to_dense()[1], torch.ones(2))


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
