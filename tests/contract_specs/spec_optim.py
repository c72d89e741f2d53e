"""Contract cases for cvbook_lib.optim (references: torch.optim, torch.optim.lr_scheduler,
torch.nn.utils.clip_grad_norm_, torch.amp.GradScaler).

The classes are run through small wrappers: an optimizer is built on a copy of ``params`` (a tensor of
initial values) and takes three ``step(closure)`` steps on a fixed loss; ``clip_grad_norm_`` and
``LossScaler`` get ``grad`` attached as the ``.grad`` of a parameter. Deliberate differences (documented in
the module docstring): hyperparameters must be finite and in range — torch accepts NaN/inf learning
rates, momenta, a negative dampening, a negative max_norm, norm_type <= 0, init_scale <= 0 ...
"""

import math
import warnings

import torch

from contract_specs import Case
from cvbook_lib import optim as O

g = torch.Generator().manual_seed(0)
w = torch.randn(2, 3, generator=g)
grad = torch.randn(2, 3, generator=g) * 3
_SECOND = torch.tensor([1.0, -2.0])          # a second parameter's gradient (float32)


def _leaf(params):
    """A fresh leaf with the values (and strides) of a floating tensor; anything else is passed on as is."""
    if isinstance(params, torch.Tensor) and (params.is_floating_point() or params.is_complex()):
        p = torch.empty_strided(params.shape, params.stride(), dtype=params.dtype).copy_(params)
        return [p.requires_grad_(True)]
    return params


def _run(cls):
    def run(params, **kw):
        ps = _leaf(params)
        opt = cls(ps, **kw)
        p = ps[0]

        def closure():
            opt.zero_grad()
            loss = ((p.abs() - 0.5) ** 2).sum() + (p.abs() ** 3).sum() / 10
            loss.backward()
            return loss

        losses = [opt.step(closure).detach() for _ in range(3)]
        return p.detach(), torch.stack(losses)
    return run


def _hyper_differs(names, extra=()):
    """torch accepts NaN and inf hyperparameters (and some negatives): cvbook_lib refuses them."""
    out = {(n, m): "hyperparameters must be finite" for n in names for m in ("nan", "inf", "-inf")}
    out.update({k: "out of range" for k in extra})
    return out


def _opt_case(ours, theirs, kwargs, extra=(), skip=None):
    floats = [k for k, v in kwargs.items() if isinstance(v, float)]
    return Case(_run(ours), dict(params=w, **kwargs), ref=_run(theirs), differs=_hyper_differs(floats, extra),
                skip=skip or {}, rtol=1e-5, atol=1e-6)


def _sched(make):
    def ref(epoch, base_lr, **kw):
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=base_lr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched = make(opt, **kw)
            for _ in range(epoch):
                opt.step()
                sched.step()
        return sched.get_last_lr()[0]
    return ref


def _clip(fn):
    def run(grad, max_norm=1.0, norm_type=2.0, error_if_nonfinite=False):
        p, q = torch.zeros_like(grad), torch.zeros(2)
        p.grad, q.grad = grad.clone(), _SECOND.clone()
        total = fn([p, q], max_norm, norm_type, error_if_nonfinite)
        return total, p.grad, q.grad
    return run


def _scaler_ours(grad, init_scale, growth_factor, backoff_factor, growth_interval):
    s = O.LossScaler(init_scale, growth_factor, backoff_factor, growth_interval)
    p = torch.zeros_like(grad)
    p.grad = grad.clone()
    s.update(s.unscale_([p]))
    return s.scale, p.grad


def _scaler_ref(grad, init_scale, growth_factor, backoff_factor, growth_interval):
    s = torch.amp.GradScaler("cpu", init_scale=init_scale, growth_factor=growth_factor,
                             backoff_factor=backoff_factor, growth_interval=growth_interval)
    p = torch.zeros_like(grad, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    p.grad = grad.clone()
    s.scale(torch.ones(()))
    s.unscale_(opt)
    s.update()
    return s.get_scale(), p.grad


_NOT_A_GRAD = {"None", "str", "list"}  # the wrapper attaches grad as .grad: torch itself refuses these first

SPECS = {
    O.SGD: [
        _opt_case(O.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01,
                                                nesterov=False, maximize=False), [("dampening", "negated")]),
        _opt_case(O.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.8, dampening=0.0, weight_decay=0.0,
                                                nesterov=True, maximize=True)),
    ],
    O.Adagrad: [_opt_case(O.Adagrad, torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.01,
                                                                initial_accumulator_value=0.1, eps=1e-10))],
    O.RMSprop: [
        # alpha=0 with centered=True: the variance E[g²] - E[g]² is 0, the step lr·g/eps ~ 1e6 and both runs
        # blow up to inf/NaN at rounding-dependent places (alpha=0 is compared in the non-centered case below).
        _opt_case(O.RMSprop, torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-8, weight_decay=0.01,
                                                        momentum=0.5, centered=True, maximize=False),
                  skip={"alpha": {"zero"}}),
        _opt_case(O.RMSprop, torch.optim.RMSprop, dict(lr=0.01, alpha=0.5, eps=1e-6, weight_decay=0.0,
                                                        momentum=0.0, centered=False, maximize=True)),
    ],
    O.Adam: [_opt_case(O.Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.01,
                                                       amsgrad=True, maximize=False))],
    O.AdamW: [_opt_case(O.AdamW, torch.optim.AdamW, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1,
                                                          amsgrad=False, maximize=True))],
    O.step_lr: [Case(O.step_lr, dict(epoch=7, base_lr=0.1, step_size=3, gamma=0.5),
                     ref=_sched(lambda o, step_size, gamma: torch.optim.lr_scheduler.StepLR(o, step_size, gamma)),
                     differs={**_hyper_differs(["base_lr", "gamma"], [("gamma", "negated")]),
                              ("epoch", "minus1"): "a negative epoch is refused",
                              ("step_size", "minus1"): "step_size must be >= 1"})],
    O.cosine_annealing_lr: [Case(O.cosine_annealing_lr, dict(epoch=13, base_lr=0.1, T_max=10, eta_min=0.001),
                                 ref=_sched(lambda o, T_max, eta_min:
                                            torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max, eta_min)),
                                 differs={**_hyper_differs(["base_lr", "eta_min"], [("eta_min", "negated")]),
                                          ("epoch", "minus1"): "a negative epoch is refused",
                                          ("T_max", "minus1"): "T_max must be >= 1"})],
    O.linear_warmup_lr: [Case(O.linear_warmup_lr, dict(epoch=3, base_lr=0.1, warmup_epochs=5, start_factor=0.25),
                              ref=_sched(lambda o, warmup_epochs, start_factor:
                                         torch.optim.lr_scheduler.LinearLR(o, start_factor, 1.0, warmup_epochs)),
                              differs={**_hyper_differs(["base_lr", "start_factor"]),
                                       ("epoch", "minus1"): "a negative epoch is refused",
                                       ("warmup_epochs", "zero"): "warmup_epochs must be >= 1",
                                       ("warmup_epochs", "minus1"): "warmup_epochs must be >= 1"})],
    O.clip_grad_norm_: [
        Case(_clip(O.clip_grad_norm_), dict(grad=grad, max_norm=1.0, norm_type=norm_type, error_if_nonfinite=err),
             ref=_clip(torch.nn.utils.clip_grad_norm_), skip={"grad": _NOT_A_GRAD},
             differs={("max_norm", "nan"): "max_norm must not be NaN", ("max_norm", "-inf"): "max_norm must be >= 0",
                      ("max_norm", "negated"): "max_norm must be >= 0",
                      **{("norm_type", m): "norm_type must be > 0" for m in ("nan", "-inf", "zero", "negated")}})
        for norm_type, err in ((2.0, False), (math.inf, True), (1.0, False))
    ],
    O.LossScaler: [
        Case(_scaler_ours, dict(grad=grad, init_scale=1024.0, growth_factor=2.0, backoff_factor=0.5,
                                growth_interval=1), ref=_scaler_ref, skip={"grad": _NOT_A_GRAD},
             differs={**_hyper_differs(["init_scale", "growth_factor", "backoff_factor"]),
                      ("init_scale", "zero"): "init_scale must be > 0", ("init_scale", "negated"): "init_scale > 0",
                      ("backoff_factor", "zero"): "backoff_factor must be in (0, 1)",
                      ("backoff_factor", "negated"): "backoff_factor must be in (0, 1)",
                      ("growth_interval", "zero"): "growth_interval must be >= 1",
                      ("growth_interval", "minus1"): "growth_interval must be >= 1"}),
    ],
}
