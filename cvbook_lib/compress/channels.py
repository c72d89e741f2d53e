"""Structured pruning that physically removes channels: the dependency group of a conv's output channels
along an ``nn.Sequential`` chain (DepGraph's idea, Fang et al. 2023, arXiv 2301.12900), the L1 filter
importance of Li et al. 2017 (arXiv 1608.08710), the fraction of zeros of a model, and Network Slimming's
L1 penalty on BN scales (Liu et al. 2017, arXiv 1708.06519). Masks: :mod:`.pruning`.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .._checks import _short, check_float, check_int, check_tensor

__all__ = ["channel_importance", "prune_channels", "channel_masked", "sparsity", "bn_l1_penalty"]

# layers that act on each channel alone (channel count in = out): pruning passes straight through them
_PASS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid)
_PASS += (nn.Tanh, nn.Identity, nn.Dropout, nn.Dropout2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
_PASS += (nn.AdaptiveMaxPool2d,)


def _expand(idx: torch.Tensor, per: int) -> torch.Tensor:
    """Channel ``c`` owns units ``c*per ... c*per + per - 1``: Tensor[K] -> Tensor[K*per]."""
    return (idx[:, None] * per + torch.arange(per, device=idx.device)).reshape(-1)


# ----------------------------------------------------------------------------- channel pruning (a DepGraph chain)
def channel_importance(conv: nn.Module, norm: float = 1.0) -> torch.Tensor:
    """Li et al. 2017: the L_norm of each output filter, ``||W[c]||_norm`` over ``in × kh × kw``.

    conv (nn.Conv1d/2d/3d or nn.Linear). Returns: Tensor[out_channels] (detached)."""
    if not isinstance(conv, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
        raise TypeError(f"conv must be an nn.Conv1d/2d/3d or nn.Linear, got {type(conv).__name__}")
    p = check_float(norm, "norm")
    return torch.linalg.vector_norm(conv.weight.detach().flatten(1), ord=p, dim=1)


def _leaves(seq: nn.Sequential, prefix: str = ""):
    """(dotted name, module) of every non-Sequential module of nested Sequentials, in execution order."""
    for name, child in seq._modules.items():  # not named_children(): it hides a module used twice
        if child is None:
            continue
        if isinstance(child, nn.Sequential):
            yield from _leaves(child, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", child


def _plan(model, conv) -> list[tuple[str, str, int]]:
    """The dependency chain of ``conv``'s output channels: [(module name, role, units per channel)]."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential (nested Sequentials allowed), got {type(model).__name__}")
    if not isinstance(conv, str):
        raise TypeError(f"conv must be the str name of a submodule, got {type(conv).__name__} {_short(conv)}")
    leaves = list(_leaves(model))
    names = [name for name, _ in leaves]
    if conv not in names:
        where = "inside a non-Sequential module" if conv in dict(model.named_modules()) else "not found"
        raise ValueError(
            f"conv={conv!r} is {where}; the chain can be followed from: "
            f"{[k for k, v in leaves if isinstance(v, nn.Conv2d)]}"
        )
    start = names.index(conv)
    first = leaves[start][1]
    if not isinstance(first, nn.Conv2d) or first.groups != 1:
        raise ValueError(f"conv={conv!r} must name an nn.Conv2d with groups=1, got {first!r}")
    steps, c, flat = [(conv, "out", 1)], first.out_channels, False
    for name, mod in leaves[start + 1 :]:
        where = f"{name!r} ({type(mod).__name__}) after conv={conv!r}"
        if flat and isinstance(mod, (nn.Dropout, nn.Identity)):
            continue
        if flat and not isinstance(mod, nn.Linear):
            raise ValueError(f"cannot follow the channels through {where}: only nn.Linear may follow the Flatten")
        if isinstance(mod, nn.Linear):
            if not flat or mod.in_features % c:
                raise ValueError(
                    f"cannot follow the channels into {where}: a Linear needs a Flatten before it and "
                    f"in_features divisible by the {c} channels"
                )
            return steps + [(name, "linear", mod.in_features // c)]
        if isinstance(mod, _PASS):
            continue
        if isinstance(mod, nn.BatchNorm2d) and mod.num_features == c:
            steps.append((name, "bn", 1))
        elif isinstance(mod, nn.Flatten) and (mod.start_dim, mod.end_dim) == (1, -1):
            flat = True
        elif isinstance(mod, nn.Conv2d) and mod.in_channels == c and mod.groups == 1:
            return steps + [(name, "in", 1)]
        elif isinstance(mod, nn.Conv2d) and mod.in_channels == c == mod.groups:  # depthwise: its channels go too
            steps.append((name, "dw", mod.out_channels // c))
            c = mod.out_channels
        else:
            raise ValueError(
                f"cannot follow the channels through {where}: a branch, an unknown layer or a channel "
                f"mismatch (DepGraph handles those)"
            )
    raise ValueError(f"the channels of conv={conv!r} reach the model's output: pruning them changes its shape")


def _check_keep(keep, size: int) -> list[int]:
    if isinstance(keep, torch.Tensor):
        check_tensor(keep, "keep", ndims=(1,), kind="int")
        values = keep.tolist()
    elif isinstance(keep, (list, tuple)):
        values = [check_int(v, "keep") for v in keep]
    else:
        raise TypeError(f"keep must be a 1-D integer tensor or a list of ints, got {type(keep).__name__}")
    if not values or values[0] < 0 or values[-1] >= size or any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(
            f"keep must be a non-empty, strictly increasing list of channels in [0, {size - 1}], got {_short(values)}"
        )
    return values


def _edit(module: nn.Module, attr: str, dim: int, idx: torch.Tensor, prune: bool) -> None:
    """Keep only ``idx`` along ``dim`` of ``module.attr`` (``prune``) or zero every other slice (mask)."""
    t = getattr(module, attr, None)
    if t is None:
        return
    if prune:
        new = t.detach().index_select(dim, idx).clone()
    else:
        drop = torch.ones(t.shape[dim], dtype=torch.bool, device=t.device)
        drop[idx] = False
        new = t.detach().clone().index_fill_(dim, drop.nonzero().reshape(-1), 0)
    setattr(module, attr, nn.Parameter(new, t.requires_grad) if isinstance(t, nn.Parameter) else new)


def _apply(model, conv, keep, prune: bool) -> nn.Sequential:
    steps = _plan(model, conv)
    mods = dict(model.named_modules(remove_duplicate=False))
    values = _check_keep(keep, mods[conv].out_channels)
    if len({id(mods[name]) for name, _, _ in steps}) != len(steps):
        raise ValueError(f"model reuses a module on the chain of conv={conv!r}: its shapes cannot change twice")
    new = copy.deepcopy(model)
    mods = dict(new.named_modules(remove_duplicate=False))
    idx = torch.tensor(values, dtype=torch.long, device=mods[conv].weight.device)
    for name, role, per in steps:
        mod = mods[name]
        if role == "dw":  # each kept input channel keeps its `per` output channels
            idx = _expand(idx, per)
        if role in ("in", "linear"):  # the consumer: its input channels (per = H*W features for a Linear)
            _edit(mod, "weight", 1, _expand(idx, per), prune)
        else:
            stats = ("running_mean", "running_var") if role == "bn" and prune else ()
            for attr in ("weight", "bias") + stats:
                _edit(mod, attr, 0, idx, prune)
        if not prune:
            continue
        k = idx.numel()
        if role == "out":
            mod.out_channels = k
        elif role == "bn":
            mod.num_features = k
        elif role == "dw":
            mod.in_channels, mod.out_channels, mod.groups = k // per, k, k // per
        elif role == "in":
            mod.in_channels = k
        else:
            mod.in_features = k * per
    return new


def prune_channels(model: nn.Sequential, conv: str, keep) -> nn.Sequential:
    """Remove output channels of ``model``'s Conv2d ``conv`` and everything that depends on them (a chain
    DepGraph, Fang et al. 2023): the conv's filters and bias, each BatchNorm2d's affine and running stats,
    a depthwise conv's channels (then the chain goes on past it), and finally the input channels of the
    next groups=1 Conv2d or the ``H*W`` features per channel of a Linear after a Flatten. ReLU-like
    activations, dropout and pooling pass channels through; a branch or any other layer raises ValueError.

    model (nn.Sequential, nested allowed): left unchanged. conv (str): a name from ``named_modules()``.
    keep (Tensor[K] int or list of ints): the channels to keep, strictly increasing, in range.
    Returns: a smaller deep copy; in eval mode its output equals ``channel_masked(model, conv, keep)``'s.
    """
    return _apply(model, conv, keep, prune=True)


def channel_masked(model: nn.Sequential, conv: str, keep) -> nn.Sequential:
    """The same dependency group as :func:`prune_channels`, zeroed in place of removed: a deep copy of the
    same shapes whose pruned filters, biases, BN weights/biases and consumer input weights are 0 (the
    "soft" pruning a mask-based method trains with). Arguments as :func:`prune_channels`."""
    return _apply(model, conv, keep, prune=False)


# ----------------------------------------------------------------------------- sparsity and slimming
def sparsity(t_or_model: torch.Tensor | nn.Module) -> float:
    """Fraction of exact zeros in a tensor, or over the ``weight`` of every conv and Linear of a model
    (biases and norms excluded, as pruning papers count). NaN counts as nonzero."""
    if isinstance(t_or_model, nn.Module):
        weights = [m.weight for m in t_or_model.modules() if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))]
        if not weights:
            raise ValueError(f"t_or_model has no conv or Linear weight: {type(t_or_model).__name__}")
    else:
        weights = [check_tensor(t_or_model, "t_or_model")]
    total = sum(w.numel() for w in weights)
    if total == 0:
        raise ValueError("t_or_model has no elements: its sparsity is undefined")
    return sum(int((w == 0).sum()) for w in weights) / total


def bn_l1_penalty(model: nn.Module) -> torch.Tensor:
    """Network Slimming (Liu et al. 2017): ``sum |gamma|`` over the BatchNorm scales of ``model``; add
    ``lambda * bn_l1_penalty(model)`` to the loss, then prune the channels of smallest ``|gamma|``.

    Returns: a scalar tensor (differentiable; its gradient is ``sign(gamma)``)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__} {_short(model)}")
    gammas = [m.weight for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine]
    if not gammas:
        raise ValueError(f"model has no affine BatchNorm layer: {type(model).__name__}")
    return sum(g.abs().sum() for g in gammas)
