"""Multi-task recommendation models: shared-bottom, MMoE, and ESMM's entire-space CVR model.

- :class:`SharedBottom` (Caruana 1997, "Multitask Learning"): one bottom network shared by all tasks, one tower
  per task: ``y_t = tower_t(relu(W x + b))``.
- :class:`MMoE` (Ma, Zhao, Yi, Chen, Hong & Chi 2018, "Modeling Task Relationships in Multi-task Learning with
  Multi-gate Mixture-of-Experts", KDD): E experts ``f_e(x) = relu(W_e x + b_e)``, one softmax gate per task
  ``g_t(x) = softmax(W_gt x)``, ``y_t = tower_t(Σ_e g_t(x)_e f_e(x))``. With one expert every gate is 1 and
  MMoE is a shared-bottom model.
- :class:`ESMM` (Ma, Zhao, Huang, Wang, Hu, Zhu & Gai 2018, "Entire Space Multi-Task Model", SIGIR): a CTR tower
  and a CVR tower over one shared embedding; trained on ALL impressions through ``pCTCVR = pCTR · pCVR``
  (:func:`esmm_loss`), so the CVR tower is never fitted on the clicked sub-population alone (sample selection
  bias) and its rare embeddings are learned from the abundant click signal (data sparsity).

Dense inputs are float ``x [B, d]``; outputs are logits ``[B, num_tasks]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_finite, check_int, check_same, check_tensor
from .models import _check_field_dims, _check_hidden, _check_x, _FieldTable, _mlp

__all__ = ["SharedBottom", "MMoE", "ESMM", "esmm_loss"]


def _check_dense(x, in_features: int, dtype: torch.dtype) -> torch.Tensor:
    check_tensor(x, "x", ndims=(2,), kind="float")
    if x.shape[1] != in_features:
        raise ValueError(f"x must be [B, in_features] with in_features={in_features}, got shape {tuple(x.shape)}")
    if x.dtype != dtype:
        raise TypeError(f"x must have the dtype of the model's parameters ({dtype}), got {x.dtype}")
    return x


def _towers(in_features: int, tower: int, num_tasks: int) -> nn.ModuleList:
    return nn.ModuleList(_mlp(in_features, (tower,)) for _ in range(num_tasks))


class SharedBottom(nn.Module):
    """Shared-bottom multi-task network: ``h = relu(Linear(x))`` [B, bottom]; ``y_t = Linear(relu(Linear(h)))``.

    in_features (int >= 1): d; bottom (int >= 1): shared width; tower (int >= 1): each tower's hidden width;
    num_tasks (int >= 1). forward(x Tensor[B, d]) → logits Tensor[B, num_tasks].
    """

    def __init__(self, in_features: int, bottom: int = 32, tower: int = 16, num_tasks: int = 2):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", 1)
        bottom, tower = check_int(bottom, "bottom", 1), check_int(tower, "tower", 1)
        num_tasks = check_int(num_tasks, "num_tasks", 1)
        self.bottom = nn.Sequential(nn.Linear(self.in_features, bottom), nn.ReLU())
        self.towers = _towers(bottom, tower, num_tasks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bottom(_check_dense(x, self.in_features, self.towers[0][0].weight.dtype))  # [B, bottom]
        return torch.cat([t(h) for t in self.towers], dim=1)  # [B, T]


class MMoE(nn.Module):
    """Multi-gate mixture-of-experts (Ma et al. 2018, KDD, eq. 5–6).

    in_features (int >= 1): d; num_experts (int >= 1): E; expert (int >= 1): each expert's width (Linear + ReLU);
    tower (int >= 1): each task tower's hidden width; num_tasks (int >= 1): T.
    forward(x Tensor[B, d]) → logits Tensor[B, T]; gates(x) → Tensor[B, T, E], each row a softmax (sums to 1).
    """

    def __init__(self, in_features: int, num_experts: int = 4, expert: int = 16, tower: int = 8, num_tasks: int = 2):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", 1)
        num_experts, expert = check_int(num_experts, "num_experts", 1), check_int(expert, "expert", 1)
        tower, num_tasks = check_int(tower, "tower", 1), check_int(num_tasks, "num_tasks", 1)
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(self.in_features, expert), nn.ReLU()) for _ in range(num_experts)
        )
        self.gate = nn.ModuleList(nn.Linear(self.in_features, num_experts) for _ in range(num_tasks))
        self.towers = _towers(expert, tower, num_tasks)

    def _gates(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.softmax(g(x), dim=-1) for g in self.gate], dim=1)  # [B, T, E]

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        """The gate weights ``g_t(x) = softmax(W_gt x + b_gt)`` → Tensor[B, T, E] (each [b, t, :] sums to 1)."""
        return self._gates(_check_dense(x, self.in_features, self.towers[0][0].weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_dense(x, self.in_features, self.towers[0][0].weight.dtype)
        f = torch.stack([e(x) for e in self.experts], dim=1)  # [B, E, expert]
        mixed = self._gates(x) @ f  # [B, T, expert]: per task, the gate-weighted sum of the experts
        return torch.cat([tower(mixed[:, t]) for t, tower in enumerate(self.towers)], dim=1)  # [B, T]


class ESMM(nn.Module):
    """Entire-space multi-task model (Ma et al. 2018, SIGIR): pCTCVR = pCTR · pCVR over all impressions.

    field_dims (sequence of ints >= 1); embed_dim (int >= 1); hidden (tuple of ints >= 1, may be empty): each
    tower's hidden widths. One shared embedding table ``embedding``; ``ctr_tower``/``cvr_tower`` are MLPs over the
    concatenated field embeddings [B, F·k].
    forward(x LongTensor[B, F]) → (ctr_logit Tensor[B], cvr_logit Tensor[B]);
    predict(x) → {"ctr", "cvr", "ctcvr"} probabilities Tensor[B] (no grad), ``ctcvr = ctr · cvr``.
    """

    def __init__(self, field_dims: Sequence[int], embed_dim: int = 8, hidden: Sequence[int] = (32,)):
        super().__init__()
        self.field_dims = _check_field_dims(field_dims)
        embed_dim = check_int(embed_dim, "embed_dim", 1)
        hidden = _check_hidden(hidden)
        self.embedding = _FieldTable(self.field_dims, embed_dim)
        self.ctr_tower = _mlp(len(self.field_dims) * embed_dim, hidden)
        self.cvr_tower = _mlp(len(self.field_dims) * embed_dim, hidden)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.embedding(_check_x(x, self.field_dims)).flatten(1)  # [B, F·k]
        return self.ctr_tower(v)[:, 0], self.cvr_tower(v)[:, 0]

    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Probabilities {"ctr": σ(a), "cvr": σ(b), "ctcvr": σ(a)·σ(b)}, each Tensor[B], computed without grad."""
        with torch.no_grad():
            a, b = self(x)
            ctr, cvr = torch.sigmoid(a), torch.sigmoid(b)
        return {"ctr": ctr, "cvr": cvr, "ctcvr": ctr * cvr}


def _log1mexp(log_p: torch.Tensor) -> torch.Tensor:
    """log(1 − exp(l)) for l <= 0, accurate at both ends (Mächler 2012, "Accurately computing log(1 − exp(−|a|))")."""
    near_zero = log_p > -0.6931471805599453
    # each branch gets a harmless input where it is not used, so its gradient there is 0, not NaN
    high = torch.log(-torch.expm1(torch.where(near_zero, log_p, -1.0)))
    low = torch.log1p(-torch.exp(torch.where(near_zero, -1.0, log_p)))
    return torch.where(near_zero, high, low)


def _bce_from_logs(log_p: torch.Tensor, log_1mp: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # log terms clamped at -100, as torch's F.binary_cross_entropy clamps them
    return -(y * log_p.clamp(min=-100) + (1 - y) * log_1mp.clamp(min=-100)).mean()


def esmm_loss(
    ctr_logit: torch.Tensor, cvr_logit: torch.Tensor, click: torch.Tensor, conversion: torch.Tensor
) -> torch.Tensor:
    """ESMM's loss over ALL impressions: ``BCE(pCTR, click) + BCE(pCTR · pCVR, click · conversion)`` (means).

    ctr_logit, cvr_logit (Tensor[B], floating): the logits a, b; click, conversion (Tensor[B] of 0/1, same dtype):
    a conversion only where clicked (``conversion <= click``; else ValueError). The CVR tower gets no direct
    label: it is trained through the product. Computed from logs, ``log pCTCVR = logsigmoid(a) + logsigmoid(b)``,
    ``log(1 − pCTCVR) = log1mexp(log pCTCVR)``, each log clamped at −100 like ``F.binary_cross_entropy``: the
    loss equals ``F.binary_cross_entropy(σ(a), click) + F.binary_cross_entropy(σ(a)σ(b), click·conversion)``
    wherever σ does not round to 0 or 1 — and stays accurate there (float32 σ(20) is 1: torch's loss then says
    100 where the exact value is 20). NaN logits are refused. Returns: scalar Tensor.
    """
    check_tensor(ctr_logit, "ctr_logit", ndims=(1,), kind="float")
    check_tensor(cvr_logit, "cvr_logit", ndims=(1,), kind="float")
    check_tensor(click, "click", ndims=(1,), kind="float")
    check_tensor(conversion, "conversion", ndims=(1,), kind="float")
    for name, t in (("cvr_logit", cvr_logit), ("click", click), ("conversion", conversion)):
        if t.shape != ctr_logit.shape:
            raise ValueError(f"{name} must have the shape of ctr_logit {tuple(ctr_logit.shape)}, got {tuple(t.shape)}")
    check_same(ctr_logit, "ctr_logit", cvr_logit, "cvr_logit")
    check_same(ctr_logit, "ctr_logit", click, "click")
    check_same(ctr_logit, "ctr_logit", conversion, "conversion")
    for name, t in (("ctr_logit", ctr_logit), ("cvr_logit", cvr_logit)):
        if bool(t.isnan().any()):
            raise ValueError(f"{name} must not hold NaN (±inf is allowed: σ = 0 or 1), got a NaN logit")
    for name, t in (("click", click), ("conversion", conversion)):
        check_finite(t, name)
        if not bool(((t == 0) | (t == 1)).all()):
            raise ValueError(f"{name} must hold only 0 and 1, got values {t.unique()[:5].tolist()}")
    if bool((conversion > click).any()):
        raise ValueError(
            "conversion must be 0 where click is 0 (a conversion needs a click), got a conversion "
            f"without a click at index {int((conversion > click).nonzero()[0])}"
        )
    log_ctr, log_1m_ctr = F.logsigmoid(ctr_logit), F.logsigmoid(-ctr_logit)
    log_ctcvr = log_ctr + F.logsigmoid(cvr_logit)
    return _bce_from_logs(log_ctr, log_1m_ctr, click) + _bce_from_logs(
        log_ctcvr, _log1mexp(log_ctcvr), click * conversion
    )
