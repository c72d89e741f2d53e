"""Categorical features as vectors: one-hot codes and the embedding lookup that replaces them.

A category ``i`` of ``V`` becomes the one-hot row ``e_i ∈ {0, 1}^V`` (``e_i[j] = [i == j]``). A linear layer on
it, ``e_i W`` with ``W`` of shape ``[V, D]``, just picks row ``i`` of ``W``; an embedding layer does that pick
directly by indexing, in ``O(D)`` instead of ``O(V·D)``:

    embedding(i, W) = W[i] = one_hot(i, V) @ W,     ∂L/∂W[v] = Σ_{positions p with i_p = v} ∂L/∂out[p].

Embeddings of words go back to Bengio et al. 2003 ("A Neural Probabilistic Language Model", JMLR 3) and of ids
in recommenders to the wide-and-deep / DeepFM line of work. References: ``torch.nn.functional.one_hot`` and
``torch.nn.functional.embedding`` (same names, arguments and answers; neither is called here).
Indices may have any integer dtype (``F.one_hot`` only takes int64; ``F.embedding`` int32 or int64).
"""

from __future__ import annotations

import torch

from .._checks import check_int, check_tensor

__all__ = ["one_hot", "embedding"]


def _check_indices(x, name: str) -> torch.Tensor:
    check_tensor(x, name, kind="int")
    if x.numel() and int(x.min()) < 0:
        raise ValueError(f"{name} must be non-negative class indices, got a minimum of {int(x.min())}")
    return x


def one_hot(labels: torch.Tensor, num_classes: int = -1) -> torch.Tensor:
    """One-hot code of integer class labels, ``out[..., j] = 1 if labels[...] == j else 0``.

    labels (Tensor[*], any integer dtype, values in ``[0, num_classes)``); num_classes (int: a positive number
    of classes, or -1 to use ``labels.max() + 1``, which needs a non-empty ``labels``).

    Returns: Tensor[*, num_classes] of dtype int64 on the device of ``labels``, as ``F.one_hot``.
    """
    _check_indices(labels, "labels")
    num_classes = check_int(num_classes, "num_classes", -1)
    if num_classes == 0:
        raise ValueError("num_classes must be a positive int or -1 (infer from labels), got 0")
    if num_classes == -1:
        if labels.numel() == 0:
            raise ValueError("labels must be non-empty to infer num_classes=-1; pass num_classes explicitly")
        num_classes = int(labels.max()) + 1
    elif labels.numel() and int(labels.max()) >= num_classes:
        raise ValueError(
            f"labels must be smaller than num_classes={num_classes}, got a maximum label of {int(labels.max())}"
        )
    classes = torch.arange(num_classes, device=labels.device)  # [C]
    return (labels.unsqueeze(-1) == classes).long()  # [*, C]


def embedding(input: torch.Tensor, weight: torch.Tensor, padding_idx: int | None = None) -> torch.Tensor:
    """Look up rows of an embedding table: ``out[...] = weight[input[...]]``.

    input (Tensor[*], int32 or int64 indices in ``[0, V)``); weight (Tensor[V, D], the table, any dtype);
    padding_idx (int or None: a row in ``[-V, V)``, negative counting from the end as in ``F.embedding``).
    The forward pass returns that row as it is, but it gets **no gradient**: positions holding ``padding_idx``
    contribute nothing to ``∂L/∂weight`` (``nn.Embedding`` also zeroes that row at construction; the
    functional form, like this one, does not).

    Returns: Tensor[*, D] with the dtype and device of ``weight``. The backward pass is the scatter-add
    ``∂L/∂weight[v] = Σ_{p: input[p] = v, v != padding_idx} ∂L/∂out[p]`` (autograd of ``index_select``).
    """
    check_tensor(input, "input", kind="int")
    if input.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"input must have dtype torch.int32 or torch.int64 (indices), got {input.dtype}")
    check_tensor(weight, "weight", ndims=(2,))
    if input.device != weight.device:
        raise ValueError(f"input and weight must be on the same device, got {input.device} and {weight.device}")
    V = weight.shape[0]
    if padding_idx is not None:
        padding_idx = check_int(padding_idx, "padding_idx")
        if not -V <= padding_idx < V:
            raise ValueError(f"padding_idx must be in [-{V}, {V}) for a weight of {V} rows, got {padding_idx!r}")
        padding_idx %= V  # -1 is the last row
    if input.numel():
        lo, hi = int(input.min()), int(input.max())
        if lo < 0 or hi >= V:
            bad = lo if lo < 0 else hi
            raise ValueError(f"input must hold indices in [0, {V}) (weight has {V} rows), got {bad}")
    flat = input.reshape(-1).long()  # [P]
    out = weight.index_select(0, flat)  # [P, D]; backward: index_add into weight
    if padding_idx is not None and weight.requires_grad:
        keep = (flat != padding_idx).unsqueeze(-1)  # [P, 1]
        out = torch.where(keep, out, out.detach())  # the padding row's gradient is cut
    return out.reshape(*input.shape, weight.shape[1])
