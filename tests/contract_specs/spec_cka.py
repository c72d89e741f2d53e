"""Contract cases for cvbook_lib.cka (references: the HSIC formulas with an explicit centring matrix in numpy
float64, Kornblith et al. 2019; forward hooks for the layer features).

Deliberate differences (module docstring): where the formula is 0/0 (a representation that is constant over
the examples, no features, a constant kernel) or the input holds NaN/inf, cvbook_lib raises ValueError instead
of answering NaN; int/bool/complex features are refused (``float_only``); only tensors are taken (no lists).
"""

import numpy as np
import torch
from torch import nn

from contract_specs import Case
from cvbook_lib import cka as C

_G = torch.Generator().manual_seed(0)
_X = torch.randn(12, 3, generator=_G)
_Y = _X[:, :2] @ torch.randn(2, 4, generator=_G) + 0.5 * torch.randn(12, 4, generator=_G)
_X4 = torch.randn(5, 2, 2, 3, generator=_G)  # flattened to [5, 12]: the [n, n] route
_Y4 = torch.randn(5, 3, generator=_G)
_K = torch.randn(6, 6, generator=_G)
_K = _K @ _K.T
_L = torch.randn(6, 6, generator=_G)
_L = _L @ _L.T + _K


def _np(t):
    return t.detach().double().reshape(len(t), -1).numpy()


def _hsic_np(K, L):
    n = K.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    return np.trace(K @ H @ L @ H) / (n - 1) ** 2


def _cka_np(K, L):
    return _hsic_np(K, L) / np.sqrt(_hsic_np(K, K) * _hsic_np(L, L))


def _out(value, like):
    return torch.tensor(float(value), dtype=like.dtype)


def _linear_cka_ref(x, y):
    a, b = _np(x), _np(y)
    return _out(_cka_np(a @ a.T, b @ b.T), x)


def _hsic_ref(K, L):
    return _out(_hsic_np(_np(K), _np(L)), K)


def _kernel_cka_ref(K, L):
    return _out(_cka_np(_np(K), _np(L)), K)


def _gram_linear_ref(x):
    a = _np(x)
    return torch.from_numpy(a @ a.T).to(x.dtype)


def _gram_rbf_ref(x, threshold=1.0):
    a = _np(x)
    d2 = ((a[:, None, :] - a[None, :, :]) ** 2).sum(-1)
    return torch.from_numpy(np.exp(-d2 / (2 * threshold**2 * np.median(d2)))).to(x.dtype)


_NAN = ("nan", "inf", "-inf")
_UNDEFINED = "0/0 (no centred energy) or a non-finite input: ValueError instead of NaN"
_LIST = "tensors only"
_MIXED = "x and y (K and L) must have the same dtype (cvbook_lib does not promote silently)"


def _differs(*args, extra=()):
    out = {(a, m): _UNDEFINED for a in args for m in (*_NAN, "empty-last", *extra)}
    out.update({(a, "list"): _LIST for a in args})
    out.update({(a, m): _MIXED for a in args for m in ("float64", "float16")} if len(args) == 2 else {})
    return out


torch.manual_seed(0)
_NET = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).eval()
_IMGS = torch.randn(4, 1, 6, 6, generator=_G)


def _hook_ref(model, x, layers=None):
    """Forward hooks on the children, one forward pass of the whole model."""
    names = [n for n, _ in model.named_children()]
    if layers is not None:
        wanted = {names[i] if isinstance(i, int) else i for i in layers}
        names = [n for n in names if n in wanted]
    got, handles = {}, []
    for name, child in model.named_children():
        if name in names:
            handles.append(child.register_forward_hook(lambda m, i, o, name=name: got.__setitem__(name, o.flatten(1))))
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return {n: got[n] for n in names}


# x mutations the model cannot run (a wrong rank, an int/bool/complex batch): ours raises ValueError, torch's
# own forward raises RuntimeError in the reference, which the fuzzer counts as "refused" too.
SPECS = {
    C.linear_cka: [
        Case(
            C.linear_cka,
            dict(x=_X, y=_Y),
            ref=_linear_cka_ref,
            float_only={"x", "y"},
            differs=_differs("x", "y", extra=("rank-",)),
        ),  # a 1-D x: 12 features of one example, n = 1 < 2
        Case(C.linear_cka, dict(x=_X4, y=_Y4), ref=_linear_cka_ref, float_only={"x", "y"}, differs=_differs("x", "y")),
    ],
    C.hsic: [
        Case(
            C.hsic,
            dict(K=_K, L=_L),
            ref=_hsic_ref,
            float_only={"K", "L"},
            rtol=1e-5,
            differs={
                **_differs("K", "L"),
                ("K", "empty-last"): "refused: not square",
                ("L", "empty-last"): "refused: not square",
            },
        )
    ],
    C.cka: [Case(C.cka, dict(K=_K, L=_L), ref=_kernel_cka_ref, float_only={"K", "L"}, differs=_differs("K", "L"))],
    C.gram_linear: [
        Case(
            C.gram_linear,
            dict(x=_X),
            ref=_gram_linear_ref,
            float_only={"x"},
            rtol=1e-5,
            differs=_differs("x", extra=("rank-",)),
        )
    ],
    C.gram_rbf: [
        Case(
            C.gram_rbf,
            dict(x=_X, threshold=0.8),
            ref=_gram_rbf_ref,
            float_only={"x"},
            rtol=1e-5,
            differs={
                **_differs("x", extra=("rank-", "rank+")),  # rank+: n = 1, median 0
                **{
                    ("threshold", m): "threshold must be a finite number > 0"
                    for m in ("zero", "negated", "inf", "-inf", "nan")
                },
            },
        )
    ],
    C.layer_features: [
        Case(C.layer_features, dict(model=_NET, x=_IMGS), ref=_hook_ref, state=lambda: [_NET]),
        Case(
            C.layer_features,
            dict(model=_NET, x=_IMGS, layers=[1, "3"]),
            ref=_hook_ref,
            state=lambda: [_NET],
            skip={"layers": "*"},
        ),  # a list argument: the battery only has "a string" for it, tested in test_cka
    ],
}
