"""Contrastive losses: InfoNCE (van den Oord et al. 2018; SimCLR's NT-Xent with one view per anchor)
and CLIP's symmetric image-text loss (Radford et al. 2021). Tested in ``tests/test_contrastive.py`` and
``tests/test_attention.py``.

Each equals the torch expression ``F.cross_entropy(F.normalize(a) @ F.normalize(b).T / τ, arange(N))``
(CLIP: averaged with the transposed logits). Integer, bool and complex tensors are refused where a
floating tensor is needed; the two embeddings must have the same shape and dtype (torch's matmul
refuses a mix of dtypes too); ``temperature`` must be > 0 (NaN refused).
"""

from __future__ import annotations

import torch

from ._checks import check_float, check_same, check_tensor
from .losses import cross_entropy

__all__ = ["info_nce_loss", "clip_loss"]


def _normalized_logits(a, b, temperature, names):
    for name, t in zip(names, (a, b)):
        check_tensor(t, name, (2,), kind="float")
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape [N, D], got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    check_same(a, names[0], b, names[1])
    tau = check_float(temperature, "temperature", 0.0, min_open=True)
    a = a / a.norm(dim=1, keepdim=True).clamp(min=1e-12)                      # F.normalize's eps
    b = b / b.norm(dim=1, keepdim=True).clamp(min=1e-12)
    return a @ b.T / tau                                                      # [N, N] cosine similarity / τ


def info_nce_loss(query, positive_key, temperature: float = 0.1) -> torch.Tensor:
    """-log( exp(q_i·k_i/τ) / Σ_j exp(q_i·k_j/τ) ), averaged: each query must pick its own key out of the
    batch (the other N - 1 keys are the negatives).

    Args: query, positive_key (Tensor[N, D], L2-normalized inside); temperature τ > 0.
    Returns: Tensor[] (NaN for an empty batch, as torch's mean over nothing).
    """
    logits = _normalized_logits(query, positive_key, temperature, ("query", "positive_key"))
    return cross_entropy(logits, torch.arange(len(logits), device=logits.device))


def clip_loss(image_features, text_features, temperature: float = 0.07) -> torch.Tensor:
    """CLIP: InfoNCE from images to texts and from texts to images, averaged. The i-th image and the i-th
    text are a pair; every other text (image) in the batch is a negative.

    Args: image_features, text_features (Tensor[N, D]); temperature τ > 0. Returns: Tensor[].
    """
    logits = _normalized_logits(image_features, text_features, temperature, ("image_features", "text_features"))
    labels = torch.arange(len(logits), device=logits.device)
    return (cross_entropy(logits, labels) + cross_entropy(logits.T, labels)) / 2
