"""Click-through-rate (CTR) models over categorical fields: logistic regression, factorization machines, DeepFM.

Input convention: ``x`` is an integer tensor ``[B, F]``, one column per field, ``x[:, f]`` in
``[0, field_dims[f])``. All fields share one table of ``sum(field_dims)`` rows; field ``f``'s categories occupy
the rows ``offsets[f] + x[:, f]`` (the offsets layout of rixwew/pytorch-fm). Every model returns LOGITS ``[B]``.

- :class:`LogisticRegression`: ``logit = b + Σ_f w[x_f]`` (main effects only);
- :class:`FactorizationMachine` (Rendle 2010, "Factorization Machines", ICDM):
  ``logit = b + Σ_f w[x_f] + Σ_{i<j} <v_i, v_j>`` with ``v_f`` the embedding of field ``f``'s category;
- :class:`DeepFM` (Guo et al. 2017, "DeepFM: A Factorization-Machine based Neural Network for CTR Prediction",
  IJCAI): FM + an MLP over the concatenation of the SAME embeddings ``[v_1; ...; v_F]``.

:func:`fm_interaction` computes the pairwise term in O(kn) with Rendle's identity
``Σ_{i<j} <v_i, v_j> = ½ Σ_f [(Σ_i v_if)² − Σ_i v_if²]``; :func:`fm_interaction_naive` is the O(kn²) pair loop.
Embeddings are initialised Xavier-uniform and the linear weights at zero (as pytorch-fm does).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .._checks import check_bool, check_finite, check_float, check_int, check_tensor

__all__ = ["fm_interaction", "fm_interaction_naive", "LogisticRegression", "FactorizationMachine", "DeepFM"]


# ----------------------------------------------------------------------------- checks (shared with multitask)
def _int_tuple(value, name: str, minimum: int, allow_empty: bool) -> tuple[int, ...]:
    if isinstance(value, (np.ndarray, torch.Tensor)):
        value = value.tolist()
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a tuple or list of ints >= {minimum}, got {type(value).__name__} {value!r}")
    out = tuple(check_int(v, f"{name}[{i}]", minimum) for i, v in enumerate(value))
    if not out and not allow_empty:
        raise ValueError(f"{name} must hold at least one int >= {minimum}, got {value!r}")
    return out


def _check_field_dims(field_dims) -> tuple[int, ...]:
    """``field_dims`` as a non-empty tuple of positive ints (the number of categories of each field)."""
    return _int_tuple(field_dims, "field_dims", 1, allow_empty=False)


def _check_hidden(hidden) -> tuple[int, ...]:
    """``hidden`` as a (possibly empty) tuple of positive ints: the widths of an MLP's hidden layers."""
    return _int_tuple(hidden, "hidden", 1, allow_empty=True)


def _check_x(x, field_dims: tuple[int, ...]) -> torch.Tensor:
    """Raise unless ``x`` is an integer tensor [B, F] with ``0 <= x[:, f] < field_dims[f]``; return it as int64."""
    check_tensor(x, "x", ndims=(2,), kind="int")
    if x.shape[1] != len(field_dims):
        raise ValueError(
            f"x must have one column per field ({len(field_dims)} for field_dims={field_dims}), "
            f"got shape {tuple(x.shape)}"
        )
    if x.numel():
        dims = torch.tensor(field_dims, device=x.device)
        bad = (x < 0) | (x >= dims)
        if bool(bad.any()):
            row, f = (int(i) for i in bad.nonzero()[0])
            raise ValueError(
                f"x[:, {f}] must be in [0, {field_dims[f]}) (field_dims[{f}]={field_dims[f]}), "
                f"got x[{row}, {f}] = {int(x[row, f])}"
            )
    return x.long()


def _mlp(in_features: int, hidden: tuple[int, ...], dropout: float = 0.0) -> nn.Sequential:
    """Linear → ReLU → Dropout for each width in ``hidden``, then Linear(·, 1)."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_features = width
    layers.append(nn.Linear(in_features, 1))
    return nn.Sequential(*layers)


class _FieldTable(nn.Module):
    """One ``nn.Embedding(sum(field_dims), dim)`` for all fields: x [B, F] → [B, F, dim]."""

    def __init__(self, field_dims: tuple[int, ...], dim: int, zero: bool = False):
        super().__init__()
        self.embedding = nn.Embedding(sum(field_dims), dim)
        self.register_buffer("offsets", torch.tensor((0, *np.cumsum(field_dims)[:-1].tolist())), persistent=False)
        if zero:  # the linear (width-1) weights start at zero
            nn.init.zeros_(self.embedding.weight)
        else:
            nn.init.xavier_uniform_(self.embedding.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x + self.offsets)  # [B, F, dim]


# ----------------------------------------------------------------------------- the pairwise term
def _check_v(v) -> torch.Tensor:
    check_tensor(v, "v", ndims=(3,), kind="float")
    return v


def fm_interaction(v: torch.Tensor) -> torch.Tensor:
    """FM's second-order term ``Σ_{i<j} <v_i, v_j>`` in O(kn) (Rendle 2010, eq. 5 / lemma 3.1).

    v (Tensor[B, n, k]): the n field embeddings of dimension k of each sample (floating, finite).
    Returns: Tensor[B] = ``½ Σ_f [(Σ_i v_if)² − Σ_i v_if²]``. n = 1 (no pair) gives zeros.
    Non-finite ``v`` is refused: the identity turns ±inf into inf − inf = NaN where the pair sum is ±inf.
    """
    _check_v(v)
    check_finite(v, "v")
    square_of_sum = v.sum(dim=1).pow(2)  # [B, k]
    sum_of_square = v.pow(2).sum(dim=1)  # [B, k]
    return 0.5 * (square_of_sum - sum_of_square).sum(dim=1)


def fm_interaction_naive(v: torch.Tensor) -> torch.Tensor:
    """The same term by the O(k n²) double loop ``Σ_i Σ_{j>i} <v_i, v_j>`` (obviously correct, slow).

    v (Tensor[B, n, k]) floating. Returns: Tensor[B] (NaN/inf propagate as in the products)."""
    _check_v(v)
    n = v.shape[1]
    out = v.new_zeros(v.shape[0])
    for i in range(n):
        for j in range(i + 1, n):
            out = out + (v[:, i] * v[:, j]).sum(dim=-1)
    return out


# ----------------------------------------------------------------------------- models
class LogisticRegression(nn.Module):
    """Logistic regression on one-hot categorical fields: ``logit = b + Σ_f w[offsets_f + x_f]``.

    field_dims (sequence of ints >= 1): categories per field. Parameters: ``sum(field_dims) + 1``
    (``linear.embedding`` of width 1, ``bias``). forward(x LongTensor[B, F]) → logits Tensor[B].
    """

    def __init__(self, field_dims: Sequence[int]):
        super().__init__()
        self.field_dims = _check_field_dims(field_dims)
        self.linear = _FieldTable(self.field_dims, 1, zero=True)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_x(x, self.field_dims)
        return self.linear(x).sum(dim=(1, 2)) + self.bias


class FactorizationMachine(nn.Module):
    """Factorization machine (Rendle 2010): ``logit = b + Σ_f w[x_f] + Σ_{i<j} <v_{x_i}, v_{x_j}>``.

    field_dims (sequence of ints >= 1); embed_dim (int >= 1): k. Parameters: ``sum(field_dims) · (k + 1) + 1``.
    forward(x LongTensor[B, F]) → logits Tensor[B].
    """

    def __init__(self, field_dims: Sequence[int], embed_dim: int):
        super().__init__()
        self.field_dims = _check_field_dims(field_dims)
        embed_dim = check_int(embed_dim, "embed_dim", 1)
        self.linear = _FieldTable(self.field_dims, 1, zero=True)
        self.bias = nn.Parameter(torch.zeros(()))
        self.embedding = _FieldTable(self.field_dims, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_x(x, self.field_dims)
        return self.bias + self.linear(x).sum(dim=(1, 2)) + fm_interaction(self.embedding(x))


class DeepFM(nn.Module):
    """DeepFM (Guo et al. 2017): ``logit = [b + Σ_f w[x_f] + Σ_{i<j} <v_i, v_j>] + MLP([v_1; ...; v_F])``.

    The FM part and the deep part read the SAME embedding table ``embedding`` (one ``nn.Embedding`` of width k):
    no feature engineering, and the embeddings learn from both the low- and the high-order interactions.

    field_dims (sequence of ints >= 1); embed_dim (int >= 1); hidden (tuple of ints >= 1, may be empty): the
    MLP's hidden widths (ReLU); dropout (float in [0, 1)) after each hidden layer; use_fm, use_deep (bools):
    ablations — ``use_deep=False`` is an FM, ``use_fm=False`` the MLP alone (the linear part belongs to the FM
    component and is then absent); both False → ValueError.
    forward(x LongTensor[B, F]) → logits Tensor[B]. ``fm_part(x)`` / ``deep_part(x)`` give the two terms.
    """

    def __init__(
        self,
        field_dims: Sequence[int],
        embed_dim: int,
        hidden: Sequence[int] = (64, 32),
        dropout: float = 0.0,
        use_fm: bool = True,
        use_deep: bool = True,
    ):
        super().__init__()
        self.field_dims = _check_field_dims(field_dims)
        embed_dim = check_int(embed_dim, "embed_dim", 1)
        hidden = _check_hidden(hidden)
        dropout = check_float(dropout, "dropout", 0.0, 1.0, max_open=True)
        self.use_fm, self.use_deep = check_bool(use_fm, "use_fm"), check_bool(use_deep, "use_deep")
        if not (self.use_fm or self.use_deep):
            raise ValueError("use_fm and use_deep cannot both be False: the model would have no component")
        self.embedding = _FieldTable(self.field_dims, embed_dim)
        if self.use_fm:
            self.linear = _FieldTable(self.field_dims, 1, zero=True)
            self.bias = nn.Parameter(torch.zeros(()))
        if self.use_deep:
            self.mlp = _mlp(len(self.field_dims) * embed_dim, hidden, dropout)

    def fm_part(self, x: torch.Tensor) -> torch.Tensor:
        """The FM component ``b + Σ_f w[x_f] + Σ_{i<j} <v_i, v_j>`` → Tensor[B] (needs ``use_fm``)."""
        if not self.use_fm:
            raise ValueError("fm_part needs use_fm=True")
        x = _check_x(x, self.field_dims)
        return self.bias + self.linear(x).sum(dim=(1, 2)) + fm_interaction(self.embedding(x))

    def deep_part(self, x: torch.Tensor) -> torch.Tensor:
        """The deep component ``MLP([v_1; ...; v_F])`` → Tensor[B] (needs ``use_deep``)."""
        if not self.use_deep:
            raise ValueError("deep_part needs use_deep=True")
        x = _check_x(x, self.field_dims)
        return self.mlp(self.embedding(x).flatten(1))[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_x(x, self.field_dims)
        v = self.embedding(x)  # [B, F, k], shared by both parts
        out = v.new_zeros(x.shape[0])
        if self.use_fm:
            out = out + self.bias + self.linear(x).sum(dim=(1, 2)) + fm_interaction(v)
        if self.use_deep:
            out = out + self.mlp(v.flatten(1))[:, 0]
        return out
