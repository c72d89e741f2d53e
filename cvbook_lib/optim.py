"""Optimizers and learning-rate schedules with the update rules written out.

The classes subclass ``torch.optim.Optimizer`` only for its bookkeeping (parameter groups,
``state``, ``zero_grad``, ``state_dict``); every ``step`` is written here and none calls a
``torch.optim`` update. Same constructors and defaults as ``torch.optim`` (plus the keyword ``maximize``;
torch's implementation switches ``foreach``/``fused``/``capturable``/``differentiable`` are not taken);
trajectories are tested equal to torch's over 100 steps in ``tests/test_optim.py``. ``step(closure)``
runs the closure with grad enabled, as torch does; a 1-element tensor ``lr`` is accepted.
Complex parameters are updated as real pairs (``view_as_real``, as torch; their state is kept as real
views). SGD and Adagrad accept sparse gradients (without weight decay), the others refuse them, as torch.

Deliberate differences: hyperparameters must be finite real numbers in their range (torch accepts NaN and
inf learning rates, momenta, ...; a negative dampening or an RMSprop ``alpha`` > 1) and flags real bools.
References: Polyak 1964 (momentum), Nesterov 1983, Duchi et al. 2011 (AdaGrad), Hinton's lecture 6e
(RMSProp), Kingma & Ba 2015 (Adam), Reddi et al. 2018 (AMSGrad), Loshchilov & Hutter 2019 (AdamW).
"""

from __future__ import annotations

import math

import torch

from ._checks import _short, check_bool, check_float, check_int

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "step_lr", "cosine_annealing_lr", "linear_warmup_lr",
           "clip_grad_norm_", "LossScaler"]


def _real(value, name, what, minimum=0.0, maximum=None, max_open=False):
    """A finite real number in range, with torch's message prefix ("Invalid learning rate: ...")."""
    try:
        return check_float(value, name, minimum, maximum, max_open=max_open, allow_inf=False)
    except ValueError as err:
        raise ValueError(f"Invalid {what}: {err}") from None


def _lr(lr):
    if isinstance(lr, torch.Tensor):
        if lr.numel() != 1:
            raise ValueError(f"Tensor lr must be 1-element, got shape {tuple(lr.shape)}")
        if not lr.is_floating_point():
            raise TypeError(f"a Tensor lr must have a floating dtype, got {lr.dtype}")
        _real(lr, "lr", "learning rate")
        return lr
    return _real(lr, "lr", "learning rate")


def _betas(betas):
    if isinstance(betas, (str, bytes)) or not isinstance(betas, (tuple, list)):
        raise TypeError(f"betas must be a pair (beta1, beta2) of reals in [0, 1), got {type(betas).__name__} "
                        f"{_short(betas)}")
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2) of reals in [0, 1), got {betas!r}")
    return tuple(_real(b, f"betas[{i}]", f"beta parameter at index {i}", 0.0, 1.0, max_open=True)
                 for i, b in enumerate(betas))


class _Optimizer(torch.optim.Optimizer):
    """torch's Optimizer for the bookkeeping; subclasses write ``_check`` (hyperparameters, returned cleaned)
    and ``_update`` for one parameter p with gradient g."""

    _sparse = False  # does the rule accept sparse gradients (without weight decay, as torch's)?

    def __init__(self, params, defaults):
        if params is None or isinstance(params, (str, bytes, dict)):
            raise TypeError(f"params must be an iterable of Tensors or dicts, got {type(params).__name__} "
                            f"{_short(params)}")
        if isinstance(params, torch.Tensor):
            raise TypeError(f"params must be an iterable of Tensors or dicts, got a single tensor "
                            f"{_short(params)}: pass [tensor]")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"params must be an iterable of Tensors or dicts, got {type(params).__name__} "
                            f"{_short(params)}") from None
        if not params:
            raise ValueError("params is empty: the optimizer got an empty parameter list")
        super().__init__(params, self._check(defaults))

    def add_param_group(self, param_group):
        """Validate a group's own hyperparameters (those that override the defaults), then add it."""
        if isinstance(param_group, dict):
            own = {k: v for k, v in param_group.items() if k != "params"}
            checked = self._check({**self.defaults, **own})
            param_group = {**param_group, **{k: checked[k] for k in own if k in checked}}
        super().add_param_group(param_group)

    def _prepared(self):
        """(group with a float lr, parameter, gradient, state) for every parameter with a gradient, after
        checking all of them: nothing is updated if one is refused."""
        work = []
        for gi, group in enumerate(self.param_groups):
            hyper = dict(group, lr=float(group["lr"]))
            for pi, p in enumerate(group["params"]):
                if p.grad is None:
                    continue
                if not (p.is_floating_point() or p.is_complex()):
                    raise TypeError(f"params (group {gi}, parameter {pi}) must be floating or complex, got {p.dtype}")
                g = p.grad
                if g.is_sparse:
                    if not self._sparse or group["weight_decay"]:
                        raise TypeError(f"{type(self).__name__}" + (" with weight_decay" if self._sparse else "")
                                        + f" does not support sparse gradients (params group {gi}, parameter {pi})")
                    g = g.to_dense()
                if group["maximize"]:
                    g = -g
                if p.is_complex():
                    p, g = torch.view_as_real(p), torch.view_as_real(g)
                work.append((hyper, p, g, self.state[group["params"][pi]]))
        return work

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None and not callable(closure):
            raise TypeError(f"closure must be a callable returning the loss, got {type(closure).__name__}")
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group, p, g, state in self._prepared():
            self._update(group, p, g, state)
        return loss


class SGD(_Optimizer):
    """v ← μ·v + (1 - dampening)·g (v = g at the first step); p ← p - lr·(g + μ·v if nesterov else v);
    g includes weight_decay·p (L2). dampening must be in [0, 1]."""

    _sparse = True

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    @staticmethod
    def _check(h):
        h = dict(h, lr=_lr(h["lr"]), momentum=_real(h["momentum"], "momentum", "momentum value"),
                 dampening=_real(h["dampening"], "dampening", "dampening value", 0.0, 1.0),
                 weight_decay=_real(h["weight_decay"], "weight_decay", "weight_decay value"),
                 nesterov=check_bool(h["nesterov"], "nesterov"), maximize=check_bool(h["maximize"], "maximize"))
        if h["nesterov"] and (h["momentum"] <= 0 or h["dampening"] != 0):
            raise ValueError(f"Nesterov momentum requires a momentum and zero dampening: nesterov=True needs "
                             f"momentum > 0 and dampening = 0, got momentum={h['momentum']}, "
                             f"dampening={h['dampening']}")
        return h

    def _update(self, group, p, g, state):
        mu, damp, wd = group["momentum"], group["dampening"], group["weight_decay"]
        g = g + wd * p if wd else g
        if mu:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g.clone()
            else:
                state["momentum_buffer"].mul_(mu).add_((1 - damp) * g)
            buf = state["momentum_buffer"]
            g = g + mu * buf if group["nesterov"] else buf
        p.add_(-group["lr"] * g)


class Adagrad(_Optimizer):
    """G ← G + g² (a running *sum*); p ← p - lr_t·g / (√G + eps), lr_t = lr / (1 + (t-1)·lr_decay)."""

    _sparse = True

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))

    @staticmethod
    def _check(h):
        return dict(h, lr=_lr(h["lr"]), lr_decay=_real(h["lr_decay"], "lr_decay", "lr_decay value"),
                    weight_decay=_real(h["weight_decay"], "weight_decay", "weight_decay value"),
                    initial_accumulator_value=_real(h["initial_accumulator_value"], "initial_accumulator_value",
                                                    "initial_accumulator_value value"),
                    eps=_real(h["eps"], "eps", "epsilon value"), maximize=check_bool(h["maximize"], "maximize"))

    def _update(self, group, p, g, state):
        if not state:
            state["step"] = 0
            state["sum"] = torch.full_like(p, group["initial_accumulator_value"])
        state["step"] += 1
        g = g + group["weight_decay"] * p if group["weight_decay"] else g
        lr_t = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"].add_(g * g)
        p.add_(-lr_t * g / (state["sum"].sqrt() + group["eps"]))


class RMSprop(_Optimizer):
    """E[g²] ← α·E[g²] + (1-α)·g²; p ← p - lr·g / (√E[g²] + eps) (centered: √(E[g²] - E[g]²));
    with momentum the scaled step goes through a velocity buffer. alpha must be in [0, 1]."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, *,
                 maximize=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))

    @staticmethod
    def _check(h):
        return dict(h, lr=_lr(h["lr"]), alpha=_real(h["alpha"], "alpha", "alpha value", 0.0, 1.0),
                    eps=_real(h["eps"], "eps", "epsilon value"),
                    weight_decay=_real(h["weight_decay"], "weight_decay", "weight_decay value"),
                    momentum=_real(h["momentum"], "momentum", "momentum value"),
                    centered=check_bool(h["centered"], "centered"), maximize=check_bool(h["maximize"], "maximize"))

    def _update(self, group, p, g, state):
        a = group["alpha"]
        if not state:
            state["square_avg"] = torch.zeros_like(p)
            state["grad_avg"] = torch.zeros_like(p)
            state["momentum_buffer"] = torch.zeros_like(p)
        g = g + group["weight_decay"] * p if group["weight_decay"] else g
        state["square_avg"].mul_(a).add_((1 - a) * g * g)
        if group["centered"]:
            state["grad_avg"].mul_(a).add_((1 - a) * g)
            avg = (state["square_avg"] - state["grad_avg"] ** 2).sqrt() + group["eps"]
        else:
            avg = state["square_avg"].sqrt() + group["eps"]
        if group["momentum"] > 0:
            state["momentum_buffer"].mul_(group["momentum"]).add_(g / avg)
            p.add_(-group["lr"] * state["momentum_buffer"])
        else:
            p.add_(-group["lr"] * g / avg)


class Adam(_Optimizer):
    """m ← β1·m + (1-β1)·g; v ← β2·v + (1-β2)·g² (the *square*); p ← p - lr·m̂ / (√v̂ + eps) with the
    bias corrections m̂ = m/(1-β1^t), v̂ = v/(1-β2^t); amsgrad uses the running max of v.
    ``weight_decay`` adds weight_decay·p to g (L2, which Adam then rescales); with
    ``decoupled_weight_decay=True`` it is AdamW's decay instead."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 maximize=False, decoupled_weight_decay=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, decoupled_weight_decay=decoupled_weight_decay))

    @staticmethod
    def _check(h):
        return dict(h, lr=_lr(h["lr"]), betas=_betas(h["betas"]), eps=_real(h["eps"], "eps", "epsilon value"),
                    weight_decay=_real(h["weight_decay"], "weight_decay", "weight_decay value"),
                    amsgrad=check_bool(h["amsgrad"], "amsgrad"), maximize=check_bool(h["maximize"], "maximize"),
                    decoupled_weight_decay=check_bool(h["decoupled_weight_decay"], "decoupled_weight_decay"))

    def _update(self, group, p, g, state):
        (b1, b2), lr, wd = group["betas"], group["lr"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
            state["max_exp_avg_sq"] = torch.zeros_like(p)
        state["step"] += 1
        if wd and group["decoupled_weight_decay"]:
            p.mul_(1 - lr * wd)                                           # AdamW: decay the weight itself
        elif wd:
            g = g + wd * p                                                # Adam: L2 inside the gradient
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.mul_(b1).add_((1 - b1) * g)
        v.mul_(b2).add_((1 - b2) * g * g)
        bc1, bc2 = 1 - b1 ** state["step"], 1 - b2 ** state["step"]
        if group["amsgrad"]:
            torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        denom = v.sqrt() / math.sqrt(bc2) + group["eps"]
        p.add_(-(lr / bc1) * m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay: p ← p·(1 - lr·weight_decay) before the Adam step."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)


def step_lr(epoch: int, base_lr: float, step_size: int, gamma: float = 0.1) -> float:
    """``StepLR``: base_lr · gamma^(epoch // step_size). epoch >= 0, step_size >= 1, base_lr and gamma >= 0."""
    epoch = check_int(epoch, "epoch", 0)
    base_lr = _real(base_lr, "base_lr", "learning rate")
    step_size = check_int(step_size, "step_size", 1)
    gamma = _real(gamma, "gamma", "gamma value")
    return base_lr * gamma ** (epoch // step_size)


def cosine_annealing_lr(epoch: int, base_lr: float, T_max: int, eta_min: float = 0.0) -> float:
    """``CosineAnnealingLR``: eta_min + (base_lr - eta_min)·(1 + cos(π·epoch/T_max))/2 (periodic past T_max,
    as torch's). epoch >= 0, T_max >= 1, base_lr and eta_min >= 0."""
    epoch = check_int(epoch, "epoch", 0)
    base_lr = _real(base_lr, "base_lr", "learning rate")
    T_max = check_int(T_max, "T_max", 1)
    eta_min = _real(eta_min, "eta_min", "eta_min value")
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * epoch / T_max)) / 2


def linear_warmup_lr(epoch: int, base_lr: float, warmup_epochs: int, start_factor: float = 1 / 3) -> float:
    """``LinearLR(start_factor, end_factor=1, total_iters=warmup_epochs)``: the factor rises linearly
    from start_factor to 1 over the warm-up, then stays at 1. warmup_epochs >= 1, 0 < start_factor <= 1."""
    epoch = check_int(epoch, "epoch", 0)
    base_lr = _real(base_lr, "base_lr", "learning rate")
    warmup_epochs = check_int(warmup_epochs, "warmup_epochs", 1)
    start_factor = check_float(start_factor, "start_factor", 0.0, 1.0, min_open=True)
    return base_lr * (start_factor + (1 - start_factor) * min(epoch, warmup_epochs) / warmup_epochs)


from .gradients import LossScaler, clip_grad_norm_  # noqa: E402  (re-exported)
