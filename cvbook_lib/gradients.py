"""Gradient clipping and loss scaling: ``clip_grad_norm_`` (``torch.nn.utils.clip_grad_norm_``) and
``LossScaler``, the dynamic loss scaling of mixed-precision training (``torch.amp.GradScaler``).

Re-exported by :mod:`cvbook_lib.optim`; tested in ``tests/test_optim.py`` against torch. Sparse,
complex and float16 gradients are handled as torch handles them. Deliberate differences:
``clip_grad_norm_`` refuses a negative or NaN ``max_norm`` and ``norm_type <= 0``; ``LossScaler`` refuses
``init_scale <= 0``, ``backoff_factor <= 0`` and ``growth_interval < 1``.
References: Pascanu et al. 2013 (gradient clipping), Micikevicius et al. 2018 (mixed precision).
"""

from __future__ import annotations

import math
import types
import warnings

import torch

from ._checks import _short, check_bool, check_float, check_int

__all__ = ["clip_grad_norm_", "LossScaler"]


def _tensors(parameters, name):
    """A list of tensors from a tensor, an iterable of tensors or an optimizer (all its parameters)."""
    if isinstance(parameters, torch.Tensor):
        return [parameters]
    if isinstance(parameters, torch.optim.Optimizer):
        return [p for group in parameters.param_groups for p in group["params"]]
    if parameters is None or isinstance(parameters, (str, bytes)):
        raise TypeError(f"{name} must be a tensor or an iterable of tensors, got {type(parameters).__name__} "
                        f"{_short(parameters)}")
    try:
        items = list(parameters)
    except TypeError:
        raise TypeError(f"{name} must be a tensor or an iterable of tensors, got {type(parameters).__name__} "
                        f"{_short(parameters)}") from None
    for i, p in enumerate(items):
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"{name}[{i}] must be a tensor (a parameter), got {type(p).__name__} {_short(p)}")
    return items


def _vector_norm(t, norm_type):
    """‖t‖_p (p = inf: max |t|), accumulated in float64, returned in t's real dtype (sparse: its values)."""
    if t.is_sparse:
        t = t.coalesce().values()
    mag = t.abs()
    a = mag.double()
    if a.numel() == 0 and norm_type == math.inf:
        raise ValueError("parameters: the infinity norm of an empty gradient is undefined (max has no identity; "
                         "torch raises too)")
    if a.numel() == 0:
        out = a.new_zeros(())
    elif norm_type == math.inf:
        out = a.max()
    else:
        out = (a ** norm_type).sum() ** (1 / norm_type)
    return out.to(mag.dtype)


@torch.no_grad()
def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False):
    """Scale all gradients by min(1, max_norm / (‖g‖ + 1e-6)), ‖g‖ the norm_type-norm over every parameter
    together (the norm of the per-parameter norms), like ``torch.nn.utils.clip_grad_norm_``: sparse and complex
    gradients included, norm_type ``inf`` (or ``'inf'``) the largest |g|. Returns the total norm before
    clipping (0-d tensor; ``tensor(0.)`` when no parameter has a gradient). error_if_nonfinite: raise
    (before scaling anything) when the total norm is NaN or inf.

    Deliberate differences: max_norm must be >= 0 and not NaN, norm_type > 0 (torch accepts a negative
    max_norm, which flips the gradients, and norm_type 0 or < 0).
    """
    params = _tensors(parameters, "parameters")
    max_norm = check_float(max_norm, "max_norm", 0.0)
    if isinstance(norm_type, str) and norm_type == "inf":
        norm_type = math.inf
    norm_type = check_float(norm_type, "norm_type", 0.0, min_open=True)
    error_if_nonfinite = check_bool(error_if_nonfinite, "error_if_nonfinite")
    if isinstance(parameters, types.GeneratorType) and not params:
        warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=2)
    grads = [p.grad for p in params if p.grad is not None]
    for i, g in enumerate(grads):
        if not (g.is_floating_point() or g.is_complex()):
            raise TypeError(f"parameters: gradient {i} must be floating or complex, got {g.dtype}")
    if not grads:
        return torch.tensor(0.0)
    norms = [_vector_norm(g, norm_type) for g in grads]
    total = _vector_norm(torch.stack([n.to(grads[0].device) for n in norms]), norm_type)
    if error_if_nonfinite and not bool(torch.isfinite(total)):
        raise ValueError(f"The total norm of order {norm_type} of the gradients of parameters is non-finite "
                         f"({total.item()}), so it cannot be clipped (error_if_nonfinite=True)")
    factor = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(factor.to(g.device))
    return total


class LossScaler:
    """Dynamic loss scaling for float16 training, the rule of ``torch.amp.GradScaler``: multiply the
    loss by ``scale`` so small gradients do not underflow; before the optimizer step divide the
    gradients back (into the float32 master weights); if any is inf/NaN skip the step and halve the
    scale, and after ``growth_interval`` clean steps in a row double it.

    init_scale > 0 (finite), growth_factor > 1 (finite), 0 < backoff_factor < 1, growth_interval >= 1.
    """

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000):
        init_scale = check_float(init_scale, "init_scale", 0.0, min_open=True, allow_inf=False)
        growth_factor = check_float(growth_factor, "growth_factor", 1.0, min_open=True, allow_inf=False)
        backoff_factor = check_float(backoff_factor, "backoff_factor", 0.0, 1.0, min_open=True, max_open=True)
        growth_interval = check_int(growth_interval, "growth_interval", 1)
        self.scale, self.growth_factor, self.backoff_factor = init_scale, growth_factor, backoff_factor
        self.growth_interval, self._good_steps = growth_interval, 0

    def unscale_(self, parameters) -> bool:
        """Divide the gradients by the scale; return True when one of them is inf or NaN.

        parameters: a tensor, an iterable of tensors (parameters; those without .grad are skipped) or an
        optimizer (all its parameters, as ``GradScaler.unscale_(optimizer)``). float16 gradients are refused
        (``GradScaler``: "Attempting to unscale FP16 gradients"): unscale the float32 master copy.
        """
        grads = [p.grad for p in _tensors(parameters, "parameters") if p.grad is not None]
        for i, g in enumerate(grads):
            if not g.is_floating_point():
                raise TypeError(f"parameters: grad {i} must be floating, got {g.dtype}")
            if g.dtype == torch.float16:
                raise ValueError(f"parameters: grad {i} is float16 (Attempting to unscale FP16 gradients): "
                                 "keep float32 master weights and unscale their gradients")
        found_inf = False
        for g in grads:
            values = g._values() if g.is_sparse else g
            values.div_(self.scale)
            found_inf |= not bool(torch.isfinite(values).all())
        return found_inf

    def update(self, found_inf: bool) -> None:
        found_inf = check_bool(found_inf, "found_inf")
        if found_inf:
            self.scale *= self.backoff_factor
            self._good_steps = 0
        else:
            self._good_steps += 1
            if self._good_steps == self.growth_interval:
                self.scale *= self.growth_factor
                self._good_steps = 0
