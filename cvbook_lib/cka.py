"""Centred kernel alignment (CKA): how alike two representations of the same examples are.

Kornblith, Norouzi, Lee & Hinton 2019, "Similarity of Neural Network Representations Revisited"
(ICML, arXiv 1905.00414). Two layers see the same ``n`` examples and give features ``X [n, d1]``
and ``Y [n, d2]`` (any widths). Their Gram matrices ``K = X Xᵀ`` and ``L = Y Yᵀ`` are ``[n, n]``,
so they can be compared whatever ``d1`` and ``d2`` are. With the centring matrix
``H = I − 11ᵀ/n``, the (biased) Hilbert–Schmidt independence criterion of Gretton et al. 2005 is

    HSIC(K, L) = tr(K H L H) / (n − 1)²,

and CKA normalises it like a correlation:

    CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) · HSIC(L, L))          (in [0, 1] for PSD K, L).

For the linear kernel it needs no ``[n, n]`` matrix: with column-centred ``X_c = H X``, ``Y_c = H Y``,

    linear CKA(X, Y) = ‖Y_cᵀ X_c‖_F² / (‖X_cᵀ X_c‖_F · ‖Y_cᵀ Y_c‖_F).

It is invariant to orthogonal maps ``X → X Q`` and to isotropic scaling ``X → c X``, but not to an
arbitrary invertible linear map (which would make any two full-rank representations of width
``>= n`` equal), the property the paper argues a similarity index should have.

Features of higher rank (``[n, C, H, W]`` activations) are flattened to ``[n, C·H·W]``. Inputs must
be floating tensors (int/bool/complex are refused), finite, with ``n >= 2``; a representation that
is constant over the examples has no centred energy and CKA is then undefined (0/0): ``ValueError``.
float16/bfloat16 are computed in float32 and the answer is cast back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from ._checks import _short, check_finite, check_float, check_same, check_tensor

__all__ = ["linear_cka", "hsic", "cka", "gram_linear", "gram_rbf", "layer_features"]


def _work(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.promote_types(t.dtype, torch.float32))


def _features(x, name: str, min_n: int = 2) -> torch.Tensor:
    """``[n, ...]`` → ``[n, d]`` in at least float32, checked: floating, finite, n >= min_n, d >= 1."""
    check_tensor(x, name, kind="float", min_ndim=2)
    if x.shape[0] < min_n:
        raise ValueError(f"{name} must hold n >= {min_n} examples (its first dimension), got shape {tuple(x.shape)}")
    if x[0].numel() == 0:
        raise ValueError(f"{name} must have at least one feature per example, got shape {tuple(x.shape)}")
    check_finite(x, name)
    return _work(x.reshape(x.shape[0], -1))


def _pair(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    fx, fy = _features(x, "x"), _features(y, "y")
    check_same(x, "x", y, "y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must describe the same n examples, got n = {x.shape[0]} and {y.shape[0]}")
    return fx, fy


def _centred_unit(f: torch.Tensor, name: str) -> torch.Tensor:
    """Column-centred features divided by their largest magnitude (CKA is scale invariant; this keeps
    the fourth powers in ``‖XᵀX‖_F`` away from overflow and underflow)."""
    fc = f - f.mean(dim=0, keepdim=True)  # X_c = H X, [n, d]
    scale = fc.abs().amax()
    if not bool(scale > 0):
        raise ValueError(f"{name} is constant over the examples (zero after centring): CKA is undefined (0/0)")
    return fc / scale


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Linear CKA of two representations of the same examples (Kornblith et al. 2019, eq. for the linear kernel).

    x (Tensor[n, d1] or Tensor[n, *]): features of n examples; y (Tensor[n, d2] or Tensor[n, *]): another
    layer's features of the same examples, same dtype and device. Higher-rank inputs are flattened to
    ``[n, prod(*)]``.

    Returns: 0-d tensor (x's dtype) ``‖Y_cᵀX_c‖_F² / (‖X_cᵀX_c‖_F ‖Y_cᵀY_c‖_F)`` with column-centred
    ``X_c, Y_c``, in [0, 1]; equal to ``cka(gram_linear(x), gram_linear(y))``. The ``[d, d]`` products are
    used when ``d1 + d2 <= n``, otherwise the ``[n, n]`` Gram matrices (same value, the cheaper route).
    Raises ValueError when n differs, n < 2, a value is not finite, or x or y is constant over the examples.
    """
    fx, fy = _pair(x, y)
    xc, yc = _centred_unit(fx, "x"), _centred_unit(fy, "y")
    if xc.shape[1] + yc.shape[1] <= xc.shape[0]:  # feature space: [d2, d1], [d1, d1], [d2, d2]
        num = (yc.T @ xc).pow(2).sum()
        den = torch.linalg.matrix_norm(xc.T @ xc) * torch.linalg.matrix_norm(yc.T @ yc)
    else:  # example space: tr(K_c L_c) = ‖Y_cᵀX_c‖_F² with K_c = X_c X_cᵀ [n, n]
        k, l = xc @ xc.T, yc @ yc.T
        num = (k * l).sum()
        den = torch.linalg.matrix_norm(k) * torch.linalg.matrix_norm(l)
    return (num / den).to(x.dtype)


def _gram(m, name: str) -> torch.Tensor:
    check_tensor(m, name, ndims=(2,), kind="float")
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be a square [n, n] Gram matrix, got shape {tuple(m.shape)}")
    if m.shape[0] < 2:
        raise ValueError(f"{name} must be at least 2 x 2 (n >= 2 examples), got shape {tuple(m.shape)}")
    check_finite(m, name)
    return _work(m)


def _centre(m: torch.Tensor) -> torch.Tensor:
    """``H M H`` without forming H: subtract the row means and the column means, add back the grand mean."""
    return m - m.mean(dim=0, keepdim=True) - m.mean(dim=1, keepdim=True) + m.mean()


def _hsic(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    n = k.shape[0]
    return (k * _centre(l).T).sum() / (n - 1) ** 2  # tr(K (H L H)) = Σ_ij K_ij (HLH)_ji


def _grams(K, L) -> tuple[torch.Tensor, torch.Tensor]:
    k, l = _gram(K, "K"), _gram(L, "L")
    check_same(K, "K", L, "L")
    if K.shape != L.shape:
        raise ValueError(f"K and L must have the same shape [n, n], got {tuple(K.shape)} and {tuple(L.shape)}")
    return k, l


def hsic(K: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """Biased empirical HSIC of two Gram matrices (Gretton et al. 2005): ``tr(K H L H) / (n − 1)²``.

    K, L (Tensor[n, n]): kernel (Gram) matrices of the same n examples, same dtype and device, n >= 2.
    ``H = I − 11ᵀ/n`` centres them; ``H L H`` is computed by subtracting row and column means.

    Returns: 0-d tensor (K's dtype). Zero when the two kernels are independent in the HSIC sense (e.g.
    when one of them is constant); ``hsic(K, K) >= 0`` for a positive semi-definite K.
    """
    k, l = _grams(K, L)
    return _hsic(k, l).to(K.dtype)


def cka(K: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """Kernel CKA of two Gram matrices (Kornblith et al. 2019, eq. 4): ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))``.

    K, L (Tensor[n, n]) as in :func:`hsic`. Returns: 0-d tensor (K's dtype), in [0, 1] for PSD kernels.
    ``cka(gram_linear(x), gram_linear(y)) == linear_cka(x, y)``; with :func:`gram_rbf` it is RBF CKA.
    Raises ValueError when K or L has no centred energy (``HSIC(K, K) = 0``, e.g. a constant kernel).
    """
    k, l = _grams(K, L)
    units = []
    for m, name in ((k, "K"), (l, "L")):  # CKA = <K_c, L_cᵀ>_F / (‖K_c‖_F ‖L_c‖_F): the (n-1)² cancel
        mc = _centre(m)
        scale = mc.abs().amax()  # scale first: the squares in the norm would under/overflow
        if not bool(scale > 0):
            raise ValueError(f"{name} has HSIC({name}, {name}) = 0 (a constant kernel): CKA is undefined (0/0)")
        mc = mc / scale
        units.append(mc / torch.linalg.matrix_norm(mc))
    return (units[0] * units[1].T).sum().to(K.dtype)


def gram_linear(x: torch.Tensor) -> torch.Tensor:
    """Linear-kernel Gram matrix ``K = X Xᵀ``.

    x (Tensor[n, d] or Tensor[n, *], n >= 1, floating, finite; flattened to [n, d]). Returns: Tensor[n, n] (x's dtype).
    """
    f = _features(x, "x", min_n=1)
    return (f @ f.T).to(x.dtype)


def gram_rbf(x: torch.Tensor, threshold: float = 1.0) -> torch.Tensor:
    """RBF-kernel Gram matrix with the bandwidth of Kornblith et al. 2019 (their ``gram_rbf``).

    ``K_ij = exp(−‖x_i − x_j‖² / (2 threshold² m))`` with ``m`` the median of all n² squared distances
    (zeros on the diagonal included; the mean of the two middle values when n² is even, as numpy's median).
    x (Tensor[n, d] or Tensor[n, *], floating, finite); threshold (float > 0): the bandwidth as a fraction of
    the median distance. Returns: Tensor[n, n] (x's dtype). Raises ValueError when all examples coincide.
    """
    threshold = check_float(threshold, "threshold", 0.0, min_open=True, allow_inf=False)
    f = _features(x, "x")
    f = f - f.mean(dim=0, keepdim=True)  # distances do not change; the dot products lose their offset
    f = f / f.abs().amax().clamp_min(torch.finfo(f.dtype).tiny)  # K is scale free: d²/median
    dot = f @ f.T  # [n, n]
    sq = dot.diagonal()
    d2 = (sq[:, None] + sq[None, :] - 2 * dot).clamp_min(0)  # squared distances, [n, n]
    v = d2.flatten().sort().values
    median = (v[(v.numel() - 1) // 2] + v[v.numel() // 2]) / 2
    if not bool(median > 0):
        raise ValueError("x has a median squared distance of 0 between its examples: the RBF bandwidth is undefined")
    return torch.exp(-d2 / (2 * threshold**2 * median)).to(x.dtype)


def _chosen(model: nn.Sequential, layers) -> list[str]:
    names = [name for name, _ in model.named_children()]
    if layers is None:
        return names
    if isinstance(layers, (str, int)) or not isinstance(layers, Iterable):
        raise TypeError(f"layers must be None or a list of child names (str) or indices (int), got {_short(layers)}")
    chosen = set()
    for item in layers:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise TypeError(f"layers must hold child names (str) or indices (int), got {_short(item)}")
        if isinstance(item, int):
            if not -len(names) <= item < len(names):
                raise ValueError(f"layers index {item} is out of range for a Sequential of {len(names)} children")
            item = names[item]
        elif item not in names:
            raise ValueError(f"layers names unknown child {item!r}; the children are {names}")
        chosen.add(item)
    return [n for n in names if n in chosen]


def layer_features(model: nn.Sequential, x: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
    """The activations after each (chosen) child of a Sequential, flattened to ``[n, features]``.

    model (nn.Sequential): run as it is (call ``model.eval()`` first for deterministic dropout/BN);
    x (Tensor[n, *]): a batch the model accepts; layers (None, or a list of child names / int indices;
    None = every child). Runs under ``torch.no_grad()``, one forward pass through the children in order.

    Returns: ``{child name: Tensor[n, prod(output.shape[1:])]}`` in the model's order, the inputs of
    :func:`linear_cka` for a layer-by-layer comparison of two networks (e.g. before and after fine-tuning).
    Raises ValueError when x does not fit the model (the model's own error is quoted).
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential, got {type(model).__name__} {_short(model)}")
    chosen = _chosen(model, layers)
    check_tensor(x, "x", min_ndim=1)
    out: dict[str, torch.Tensor] = {}
    h = x
    with torch.no_grad():
        for name, child in model.named_children():
            if len(out) == len(chosen):
                break
            try:
                h = child(h)
            except (RuntimeError, ValueError, TypeError, IndexError) as err:
                raise ValueError(f"x of shape {tuple(x.shape)} does not fit model at child {name!r}: {err}") from err
            if not isinstance(h, torch.Tensor):
                raise TypeError(f"model child {name!r} must return a tensor, got {type(h).__name__}")
            if name in chosen:
                out[name] = h.reshape(h.shape[0], math.prod(h.shape[1:])) if h.dim() else h.reshape(1, 1)
    return out
