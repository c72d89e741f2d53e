"""What autograd keeps for the backward pass: why whole-slide MIL freezes its patch encoder.
Overview: :mod:`cvbook_lib.mil`."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .._checks import _short

__all__ = ["saved_activation_bytes"]


def saved_activation_bytes(fn: Callable, *inputs) -> int:
    """Bytes of the tensors autograd saves for the backward pass of ``fn(*inputs)``.

    Runs ``fn(*inputs)`` under ``torch.autograd.graph.saved_tensors_hooks`` whose pack hook sees every tensor an
    op saves (inputs, outputs, weights). Each distinct storage is counted once, at its full size
    (``untyped_storage().nbytes()``, keyed by device and ``data_ptr``): a view (``weight.t()``) of a stored tensor
    adds nothing, a slice keeps its whole storage alive. Parameters are counted when saved (``Linear`` saves
    its weight only if its input needs a gradient). 0 under ``torch.no_grad()`` or for a frozen model on inputs
    without grad; ``torch.utils.checkpoint`` (non-reentrant) regions save only their inputs.
    fn (callable); inputs: its positional arguments (errors raised by fn propagate). Returns: int (bytes); the
    output of fn is dropped.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__} {_short(fn)}")
    seen: dict = {}
    kept: list[torch.Tensor] = []  # held until the end: a freed storage's address could be reused

    def pack(t: torch.Tensor) -> torch.Tensor:
        kept.append(t)
        try:
            storage = t.untyped_storage()
            key, size = (str(t.device), storage.data_ptr()), storage.nbytes()
        except (RuntimeError, NotImplementedError):  # tensors without storage (sparse, some subclasses)
            key, size = ("id", id(t)), t.numel() * t.element_size()
        seen[key] = max(size, seen.get(key, 0))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*inputs)
    return int(sum(seen.values()))
