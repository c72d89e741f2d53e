"""Optimizers and learning-rate schedules with the update rules written out.

The classes subclass ``torch.optim.Optimizer`` only for its bookkeeping (parameter groups,
``state``, ``zero_grad``, ``state_dict``); every ``step`` is written here and none calls a
``torch.optim`` update. Same constructors and defaults as ``torch.optim``; trajectories are tested
equal to torch's over 100 steps in ``tests/test_optim.py``. References: Polyak 1964 (momentum),
Nesterov 1983, Duchi et al. 2011 (AdaGrad), Hinton's lecture 6e (RMSProp), Kingma & Ba 2015 (Adam),
Reddi et al. 2018 (AMSGrad), Loshchilov & Hutter 2019 (AdamW).
"""

from __future__ import annotations

import math

import torch

from ._checks import check_int

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "step_lr", "cosine_annealing_lr", "linear_warmup_lr",
           "clip_grad_norm_", "LossScaler"]


def _nonneg(name, value):
    if not value >= 0.0:
        raise ValueError(f"Invalid {name}: {value!r} (must be >= 0)")


class _Optimizer(torch.optim.Optimizer):
    """torch's Optimizer for the bookkeeping; subclasses write ``_update`` for one parameter."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(group, p, self.state[p])
        return loss


class SGD(_Optimizer):
    """v ← μ·v + (1 - dampening)·g (v = g at the first step); p ← p - lr·(g + μ·v if nesterov else v);
    g includes weight_decay·p (L2)."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        for name, v in (("learning rate", lr), ("momentum value", momentum), ("weight_decay value", weight_decay)):
            _nonneg(name, v)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def _update(self, group, p, state):
        mu, damp, wd = group["momentum"], group["dampening"], group["weight_decay"]
        g = p.grad + wd * p if wd else p.grad
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

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10):
        for name, v in (("learning rate", lr), ("lr_decay value", lr_decay), ("weight_decay value", weight_decay),
                        ("initial_accumulator_value", initial_accumulator_value), ("epsilon value", eps)):
            _nonneg(name, v)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                                      initial_accumulator_value=initial_accumulator_value))

    def _update(self, group, p, state):
        if not state:
            state["step"] = 0
            state["sum"] = torch.full_like(p, group["initial_accumulator_value"])
        state["step"] += 1
        g = p.grad + group["weight_decay"] * p if group["weight_decay"] else p.grad
        lr_t = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"].add_(g * g)
        p.add_(-lr_t * g / (state["sum"].sqrt() + group["eps"]))


class RMSprop(_Optimizer):
    """E[g²] ← α·E[g²] + (1-α)·g²; p ← p - lr·g / (√E[g²] + eps) (centered: √(E[g²] - E[g]²));
    with momentum the scaled step goes through a velocity buffer."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False):
        for name, v in (("learning rate", lr), ("epsilon value", eps), ("momentum value", momentum),
                        ("weight_decay value", weight_decay), ("alpha value", alpha)):
            _nonneg(name, v)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def _update(self, group, p, state):
        a = group["alpha"]
        if not state:
            state["square_avg"] = torch.zeros_like(p)
            state["grad_avg"] = torch.zeros_like(p)
            state["momentum_buffer"] = torch.zeros_like(p)
        g = p.grad + group["weight_decay"] * p if group["weight_decay"] else p.grad
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


def _check_betas(betas, eps, lr, weight_decay):
    _nonneg("learning rate", lr)
    _nonneg("epsilon value", eps)
    _nonneg("weight_decay value", weight_decay)
    for i, b in enumerate(betas):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {b!r} (must be in [0, 1))")


class Adam(_Optimizer):
    """m ← β1·m + (1-β1)·g; v ← β2·v + (1-β2)·g² (the *square*); p ← p - lr·m̂ / (√v̂ + eps) with the
    bias corrections m̂ = m/(1-β1^t), v̂ = v/(1-β2^t); amsgrad uses the running max of v.
    ``weight_decay`` adds weight_decay·p to g (L2, which Adam then rescales)."""

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False):
        _check_betas(betas, eps, lr, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def _update(self, group, p, state):
        (b1, b2), lr, wd = group["betas"], group["lr"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
            state["max_exp_avg_sq"] = torch.zeros_like(p)
        state["step"] += 1
        g = p.grad
        if wd and self._decoupled:
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

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


def step_lr(epoch: int, base_lr: float, step_size: int, gamma: float = 0.1) -> float:
    """``StepLR``: base_lr · gamma^(epoch // step_size)."""
    check_int(epoch, "epoch", 0)
    check_int(step_size, "step_size", 1)
    return base_lr * gamma ** (epoch // step_size)


def cosine_annealing_lr(epoch: int, base_lr: float, T_max: int, eta_min: float = 0.0) -> float:
    """``CosineAnnealingLR`` (0 <= epoch <= T_max): eta_min + (base_lr - eta_min)·(1 + cos(π·epoch/T_max))/2."""
    check_int(epoch, "epoch", 0)
    check_int(T_max, "T_max", 1)
    if epoch > T_max:
        raise ValueError(f"epoch must be <= T_max={T_max} for the closed form, got {epoch}")
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * epoch / T_max)) / 2


def linear_warmup_lr(epoch: int, base_lr: float, warmup_epochs: int, start_factor: float = 1 / 3) -> float:
    """``LinearLR(start_factor, end_factor=1, total_iters=warmup_epochs)``: the factor rises linearly
    from start_factor to 1 over the warm-up, then stays at 1."""
    check_int(epoch, "epoch", 0)
    check_int(warmup_epochs, "warmup_epochs", 1)
    if not 0 < start_factor <= 1:
        raise ValueError(f"start_factor must be in (0, 1], got {start_factor!r}")
    return base_lr * (start_factor + (1 - start_factor) * min(epoch, warmup_epochs) / warmup_epochs)


def clip_grad_norm_(parameters, max_norm: float, eps: float = 1e-6) -> torch.Tensor:
    """Scale all gradients by min(1, max_norm / (‖g‖₂ + eps)), ‖g‖₂ over every parameter together,
    like ``torch.nn.utils.clip_grad_norm_``; returns the total norm before clipping."""
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm!r}")
    grads = [p.grad for p in ([parameters] if isinstance(parameters, torch.Tensor) else parameters)
             if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total = torch.sqrt(sum((g.detach() ** 2).sum() for g in grads))
    factor = torch.clamp(max_norm / (total + eps), max=1.0)
    for g in grads:
        g.detach().mul_(factor)
    return total


class LossScaler:
    """Dynamic loss scaling for float16 training, the rule of ``torch.amp.GradScaler``: multiply the
    loss by ``scale`` so small gradients do not underflow; before the optimizer step divide the
    gradients back (into the float32 master weights); if any is inf/NaN skip the step and halve the
    scale, and after ``growth_interval`` clean steps in a row double it."""

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000):
        if not init_scale > 0 or not growth_factor > 1 or not 0 < backoff_factor < 1:
            raise ValueError(f"need init_scale > 0, growth_factor > 1, 0 < backoff_factor < 1; got "
                             f"{init_scale!r}, {growth_factor!r}, {backoff_factor!r}")
        check_int(growth_interval, "growth_interval", 1)
        self.scale, self.growth_factor, self.backoff_factor = float(init_scale), growth_factor, backoff_factor
        self.growth_interval, self._good_steps = growth_interval, 0

    def unscale_(self, parameters) -> bool:
        """Divide the gradients by the scale; return True when one of them is inf or NaN."""
        found_inf = False
        for p in parameters:
            if p.grad is not None:
                p.grad.div_(self.scale)
                found_inf |= not bool(torch.isfinite(p.grad).all())
        return found_inf

    def update(self, found_inf: bool) -> None:
        if found_inf:
            self.scale *= self.backoff_factor
            self._good_steps = 0
        else:
            self._good_steps += 1
            if self._good_steps == self.growth_interval:
                self.scale *= self.growth_factor
                self._good_steps = 0
