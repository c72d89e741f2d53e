"""MIL pooling (Ilse, Tomczak & Welling 2018): max / mean over the instances, attention and gated attention,
and the embedding-level classifier built on them. Overview: :mod:`cvbook_lib.mil`."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import _short, check_bool, check_choice, check_int, check_tensor

__all__ = ["mil_pool", "AttentionMILPooling", "MILClassifier", "digit_encoder"]

_POOLINGS = ("attention", "gated", "max", "mean")


def _instances(h, name: str = "instances") -> torch.Tensor:
    check_tensor(h, name, ndims=(2, 3), kind="float")
    if h.shape[-2] == 0:
        raise ValueError(f"{name} must hold at least one instance (dimension -2), got shape {tuple(h.shape)}")
    return h


def mil_pool(instances: torch.Tensor, mode: str = "max") -> torch.Tensor:
    """Max or mean pooling of a bag's instance embeddings, per feature (the baselines of Ilse et al. 2018).

    instances (Tensor[K, D] one bag, or Tensor[B, K, D] B bags of equal size K >= 1, floating);
    mode ('max': ``z_d = max_k h_kd``, 'mean': ``z_d = (1/K) Σ_k h_kd``).
    Returns: Tensor[D] (or Tensor[B, D]). Both are invariant to the order of the instances.
    """
    mode = check_choice(mode, "mode", ("max", "mean"))
    h = _instances(instances)
    return h.amax(dim=-2) if mode == "max" else h.mean(dim=-2)


class AttentionMILPooling(nn.Module):
    """Attention pooling of Ilse et al. 2018 (``gated=True``: their gated attention), with the biases of their code.

    ``s_k = wᵀ tanh(V h_k + b_V) + b_w`` (gated: ``wᵀ (tanh(V h_k + b_V) ⊙ sigmoid(U h_k + b_U)) + b_w``),
    ``a = softmax(s)`` over the K instances, ``z = Σ_k a_k h_k``.
    in_features (int D >= 1); hidden_features (int L >= 1, the paper's L = 128); gated (bool).
    Modules: ``V = Linear(D, L)``, ``U = Linear(D, L)`` (gated only), ``w = Linear(L, 1)``.

    forward(h): h (Tensor[K, D] or Tensor[B, K, D]) → ``(z, a)``: z (Tensor[D] / [B, D]), a (Tensor[K] / [B, K],
    non-negative, summing to 1). Permuting the instances permutes a and leaves z unchanged.
    """

    def __init__(self, in_features: int, hidden_features: int = 128, gated: bool = False):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", 1)
        self.hidden_features = check_int(hidden_features, "hidden_features", 1)
        self.gated = check_bool(gated, "gated")
        self.V = nn.Linear(self.in_features, self.hidden_features)
        self.U = nn.Linear(self.in_features, self.hidden_features) if self.gated else None
        self.w = nn.Linear(self.hidden_features, 1)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = _instances(h, "h")
        if h.shape[-1] != self.in_features:
            raise ValueError(f"h must have in_features = {self.in_features} features (last dim), got {tuple(h.shape)}")
        if h.dtype != self.V.weight.dtype or h.device != self.V.weight.device:
            raise TypeError(
                f"h must have the module's dtype and device ({self.V.weight.dtype}, {self.V.weight.device}), "
                f"got {h.dtype} on {h.device}"
            )
        g = torch.tanh(self.V(h))  # [.., K, L]
        if self.gated:
            g = g * torch.sigmoid(self.U(h))
        a = torch.softmax(self.w(g).squeeze(-1), dim=-1)  # [.., K]
        z = (a.unsqueeze(-2) @ h).squeeze(-2)  # [.., D] = Σ_k a_k h_k
        return z, a


class MILClassifier(nn.Module):
    """encoder → pooling → Linear(D, 1): one logit per bag (Ilse et al. 2018, the embedding-level approach).

    encoder (nn.Module mapping a bag ``[K, *instance]`` to ``[K, in_features]``); in_features (int D >= 1);
    pooling ('attention', 'gated' (:class:`AttentionMILPooling`), 'max', 'mean' (:func:`mil_pool`));
    hidden_features (int >= 1, the attention's L).

    forward(bag): bag (Tensor[K, *instance], K >= 1) → ``(logit, a)``: logit a 0-d tensor (``P(positive) =
    sigmoid(logit)``), a the attention weights Tensor[K] for 'attention'/'gated', None for 'max'/'mean'.
    """

    def __init__(self, encoder: nn.Module, in_features: int, pooling: str = "attention", hidden_features: int = 64):
        super().__init__()
        if not isinstance(encoder, nn.Module):
            raise TypeError(f"encoder must be an nn.Module, got {type(encoder).__name__} {_short(encoder)}")
        self.pooling = check_choice(pooling, "pooling", _POOLINGS)
        self.in_features = check_int(in_features, "in_features", 1)
        hidden_features = check_int(hidden_features, "hidden_features", 1)
        self.encoder = encoder
        gated = self.pooling == "gated"
        self.attention = (
            AttentionMILPooling(in_features, hidden_features, gated) if gated or self.pooling == "attention" else None
        )
        self.head = nn.Linear(self.in_features, 1)

    def forward(self, bag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        check_tensor(bag, "bag", min_ndim=1)
        if bag.shape[0] == 0:
            raise ValueError(f"bag must hold at least one instance, got shape {tuple(bag.shape)}")
        try:
            h = self.encoder(bag)
        except (RuntimeError, ValueError, TypeError, IndexError) as err:
            raise ValueError(f"bag of shape {tuple(bag.shape)} ({bag.dtype}) does not fit the encoder: {err}") from err
        if not isinstance(h, torch.Tensor) or tuple(h.shape) != (bag.shape[0], self.in_features):
            got = tuple(h.shape) if isinstance(h, torch.Tensor) else type(h).__name__
            raise ValueError(
                f"encoder must map the bag to [K, in_features] = [{bag.shape[0]}, {self.in_features}], got {got}"
            )
        if self.attention is not None:
            z, a = self.attention(h)
        else:
            z, a = mil_pool(h, self.pooling), None
        return self.head(z).squeeze(-1), a


def digit_encoder(out_features: int = 32, hidden_features: int = 64) -> nn.Sequential:
    """A small MLP for 8×8 digits, ``[K, 1, 8, 8] → [K, out_features]``: Flatten → Linear(64, hidden) → ReLU →
    Linear(hidden, out) → ReLU (6.2k weights with the defaults: fast enough to train MIL models in seconds).
    out_features, hidden_features (int >= 1)."""
    out_features = check_int(out_features, "out_features", 1)
    hidden_features = check_int(hidden_features, "hidden_features", 1)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(64, hidden_features), nn.ReLU(), nn.Linear(hidden_features, out_features), nn.ReLU()
    )
