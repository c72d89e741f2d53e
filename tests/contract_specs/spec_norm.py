"""Contract cases for cvbook_lib.norm (references: torch.nn.functional, nn.BatchNorm2d, autograd,
torch.nn.utils.parametrizations.spectral_norm, torch.var of the concatenated shards, scipy's sqrtm)."""

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn

from contract_specs import Case
from cvbook_lib import norm as N

_g = torch.Generator().manual_seed(0)
X = torch.randn(4, 3, 5, generator=_g) * 2 + 1                 # (N, C, L)
X4 = torch.randn(3, 3, 4, 4, generator=_g)                      # (N, C, H, W)
XG = torch.randn(2, 4, 3, generator=_g)                         # 4 channels for group_norm
W3, B3 = torch.randn(3, generator=_g), torch.randn(3, generator=_g)
W4, B4 = torch.randn(4, generator=_g), torch.randn(4, generator=_g)
RM, RV = torch.randn(3, generator=_g), torch.rand(3, generator=_g) + 0.5
G = torch.randn(4, 3, 5, generator=_g)                          # an upstream gradient for batch_norm_backward
XW = torch.randn(40, 3, generator=_g) @ torch.tensor([[2.0, 0.5, 0.0], [0.3, 1.0, 0.2], [0.0, 0.4, 0.5]]) + 1
WSN, USN = torch.randn(6, 4, generator=_g), torch.randn(6, generator=_g)
SHARD2 = torch.randn(5, 3, 2, generator=_g) + 3

# the per-channel tensors must be 1-D [C]: torch only counts their elements (a [1, C] tensor passes there)
_RANK_PLUS = "per-channel tensors must be 1-D [C]; torch accepts any shape with C elements"
_EPS = "eps must be > 0 where batch statistics normalize (torch accepts eps <= 0 / NaN there)"
_EPS_BAD = ("zero", "negated", "nan", "-inf")
_PARAMS = {"running_mean", "running_var", "weight", "bias"}
# weight = ±inf: torch's fused y = x·(γ/σ) + (β - μγ/σ) gives inf - inf = NaN where ours, which keeps the
# accurate centred form γ·(x - μ)/σ + β, gives ±inf: both meaningless, not comparable element by element
_INF_WEIGHT = {"weight": {"inf", "-inf"}}
_MOMENTUM = "momentum must be finite (torch takes NaN and inf too)"


def _differs(args, mutations, reason):
    return {(a, m): reason for a in args for m in mutations}


def _with_stats(fn):
    """Call a running-stat function on clones of the stats and return them with the output, so the
    in-place update is compared with the reference's (the raw function's cases check the no-mutation rule)."""
    def call(input, running_mean, running_var, **kw):
        rm = running_mean.clone() if isinstance(running_mean, torch.Tensor) else running_mean
        rv = running_var.clone() if isinstance(running_var, torch.Tensor) else running_var
        return fn(input, rm, rv, **kw), rm, rv
    return call


def _bn_backward_ref(grad_output, input, weight=None, eps=1e-5):
    x = input.detach().clone().requires_grad_(True)
    w = (weight.detach().clone() if weight is not None else torch.ones(x.shape[1], dtype=x.dtype)).requires_grad_()
    b = torch.zeros_like(w, requires_grad=True)
    F.batch_norm(x, None, None, w, b, training=True, eps=eps).backward(grad_output)
    return x.grad, w.grad, b.grad


def _dropout_ref(input, p=0.5, training=True, generator=None):
    return F.dropout(input, p, training)


def _two_shards(fn):
    def call(shards):
        return fn([shards, SHARD2])
    return call


def _sync_ref(shards):
    """torch.var / torch.mean of the concatenated data (each shard flattened per channel)."""
    C = shards[0].shape[1]
    flat = torch.cat([s.transpose(0, 1).reshape(s.shape[1], -1) for s in shards], dim=1)
    return flat.mean(dim=1), flat.var(dim=1, unbiased=False), flat.shape[1] if C else 0


def _zca_ref(x, eps=1e-5):
    """x_c (Σ + eps·I)^{-1/2} with scipy's matrix square root, in float64 (x: a tensor, as ours requires)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError("x must be a tensor")
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError("x must be 2-D with >= 2 rows")
    xc = a - a.mean(axis=0)
    cov = xc.T @ xc / a.shape[0] + eps * np.eye(a.shape[1])
    return torch.from_numpy(xc @ np.linalg.inv(np.real(scipy.linalg.sqrtm(cov)))).to(x.dtype)  # x's dtype out


def _gram(y):
    """y yᵀ: invariant to the sign / order of the principal axes, so PCA whitening can be compared."""
    return y.double() @ y.double().T


def _pca_ref(x, eps=1e-5):
    a = _zca_ref(x, eps)                       # PCA and ZCA whitening differ by a rotation: same Gram matrix
    return a


def _spectral_ref(weight, n_power_iterations=1, u=None, eps=1e-12):
    """torch.nn.utils.spectral_norm (Miyato et al.'s iteration order) started from ``u``, which ours
    documents it normalizes first (here by its largest element, then its norm, so ×1e-30 does not underflow)."""
    module = nn.Module()
    module.weight = nn.Parameter(weight.detach().clone())
    nn.utils.spectral_norm(module, n_power_iterations=n_power_iterations, eps=eps, dim=0)
    hook = next(iter(module._forward_pre_hooks.values()))
    if not isinstance(u, torch.Tensor) or u.shape != module.weight_u.shape:
        raise ValueError("u must have one element per row of weight")
    with torch.no_grad():
        u = u / u.abs().max()
        module.weight_u.copy_(u / u.norm())
        out = hook.compute_weight(module, do_power_iteration=True)
        sigma = torch.dot(module.weight_u, weight.reshape(weight.shape[0], -1) @ module.weight_v)
    return out, sigma, module.weight_u


BN_OURS, BN_REF = N.BatchNorm2d(3), nn.BatchNorm2d(3)
BN_EVAL_OURS, BN_EVAL_REF = N.BatchNorm2d(3, momentum=None), nn.BatchNorm2d(3, momentum=None)
with torch.no_grad():
    for _m in (BN_EVAL_OURS, BN_EVAL_REF):
        _m.running_mean.copy_(RM)
        _m.running_var.copy_(RV)
        _m.weight.copy_(W3)
        _m.bias.copy_(B3)
        _m.eval()


def _forward(module):
    def call(input):
        return module(input)
    return call


_bn_kw = dict(input=X, running_mean=RM.clone(), running_var=RV.clone(), weight=W3, bias=B3, training=True,
              momentum=0.1, eps=1e-5)
_bn_differs = {**_differs(("running_mean", "running_var", "weight", "bias"), ("rank+",), _RANK_PLUS),
               **_differs(("momentum",), ("nan", "inf", "-inf"), _MOMENTUM),
               ("eps", "nan"): _EPS}
# an empty batch: torch's instance_norm with weight raises a raw IndexError (and writes NaN into the running
# statistics without it); ours returns the empty output, stats unchanged (tests/test_norm.py)
_IN_EMPTY = {"empty-first"}
_in_kw = dict(input=X, running_mean=RM.clone(), running_var=RV.clone(), weight=W3, bias=B3, use_input_stats=True,
              momentum=0.1, eps=1e-5)
_in_differs = {**_bn_differs, **_differs(("eps",), _EPS_BAD, _EPS),
               # torch's instance_norm accepts running_mean of any dtype (it repeats and copies it back)
               **_differs(("running_mean",), ("float64", "float16", "int64", "bool", "complex"),
                          "per-channel tensors must have input's dtype")}

_WHITEN_EPS = _differs(("eps",), ("negated", "inf", "-inf"), "eps must be finite and >= 0")

SPECS = {
    N.batch_norm: [
        Case(N.batch_norm, _bn_kw, ref=F.batch_norm, differs=_bn_differs, float_only={"input"}, optional=_PARAMS,
             skip=_INF_WEIGHT),
        Case(_with_stats(N.batch_norm), dict(_bn_kw), ref=_with_stats(F.batch_norm), differs=_bn_differs,
             float_only={"input"}, optional=_PARAMS, skip=_INF_WEIGHT, label="running statistics"),
        Case(N.batch_norm, {**_bn_kw, "running_mean": RM.clone(), "running_var": RV.clone(), "training": False,
                            "eps": 1e-3}, ref=F.batch_norm, differs=_bn_differs, float_only={"input"},
             optional={"weight", "bias"}, skip=_INF_WEIGHT, label="eval"),
    ],
    N.BatchNorm2d: [
        Case(N.BatchNorm2d, dict(num_features=3, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                                 bias=True),
             ref=nn.BatchNorm2d, out=lambda m: m(X4), optional={"momentum"},
             # torch checks eps when the layer runs; ours also refuses NaN/negative eps when it is built
             differs={**_differs(("momentum",), ("nan", "inf", "-inf"), _MOMENTUM),
                      ("eps", "nan"): _EPS}),
        Case(_forward(BN_OURS), dict(input=X4), ref=_forward(BN_REF), state=lambda: [BN_OURS],
             float_only={"input"}, label="forward, training"),
        Case(_forward(BN_EVAL_OURS), dict(input=X4), ref=_forward(BN_EVAL_REF), state=lambda: [BN_EVAL_OURS],
             float_only={"input"}, label="forward, eval"),
    ],
    N.batch_norm_backward: [
        Case(N.batch_norm_backward, dict(grad_output=G, input=X, weight=W3, eps=1e-5), ref=_bn_backward_ref,
             float_only={"grad_output", "input"}, differs={("eps", "nan"): _EPS, ("weight", "rank+"): _RANK_PLUS},
             optional={"weight"}, skip=_INF_WEIGHT,
             rtol=1e-5, atol=1e-5),
    ],
    N.layer_norm: [
        Case(N.layer_norm, dict(input=X, normalized_shape=(5,), weight=torch.randn(5, generator=_g),
                                bias=torch.randn(5, generator=_g), eps=1e-5),
             ref=F.layer_norm, float_only={"input"}, differs=_differs(("eps",), _EPS_BAD, _EPS),
             optional={"weight", "bias"}),
    ],
    N.group_norm: [
        Case(N.group_norm, dict(input=XG, num_groups=2, weight=W4, bias=B4, eps=1e-5), ref=F.group_norm,
             float_only={"input"}, optional={"weight", "bias"}, skip=_INF_WEIGHT,
             differs={**_differs(("eps",), _EPS_BAD, _EPS), **_differs(("weight", "bias"), ("rank+",), _RANK_PLUS)}),
    ],
    N.instance_norm: [
        Case(N.instance_norm, _in_kw, ref=F.instance_norm, float_only={"input"}, differs=_in_differs,
             optional=_PARAMS, skip={**_INF_WEIGHT, "input": _IN_EMPTY}),
        Case(_with_stats(N.instance_norm), dict(_in_kw), ref=_with_stats(F.instance_norm), float_only={"input"},
             differs=_in_differs, optional=_PARAMS, skip={**_INF_WEIGHT, "input": _IN_EMPTY},
             label="running statistics"),
    ],
    N.dropout: [
        Case(N.dropout, dict(input=X, p=0.3, training=True), ref=_dropout_ref, float_only={"input"}),
    ],
    N.sync_batch_stats: [
        Case(N.sync_batch_stats, dict(shards=[X, SHARD2]), ref=_sync_ref),
        Case(_two_shards(N.sync_batch_stats), dict(shards=X), ref=_two_shards(_sync_ref), float_only={"shards"},
             differs=_differs(("shards",), ("float64", "float16"), "every shard must have one dtype (torch.cat "
                              "promotes)"), label="one shard fuzzed"),
    ],
    N.pca_whiten: [
        Case(N.pca_whiten, dict(x=XW, eps=1e-5), ref=_pca_ref, out=_gram, float_only={"x"}, differs=_WHITEN_EPS),
    ],
    N.zca_whiten: [
        Case(N.zca_whiten, dict(x=XW, eps=1e-5), ref=_zca_ref, float_only={"x"}, differs=_WHITEN_EPS),
    ],
    N.spectral_norm: [
        Case(N.spectral_norm, dict(weight=WSN, n_power_iterations=2, u=USN, eps=1e-12), ref=_spectral_ref,
             float_only={"weight", "u"}, optional={"u"},
             # ×1e-30: torch's iteration lets eps dominate and returns ±inf; ours is scale-invariant
             # (tests/test_norm.py checks it against the SVD)
             skip={"weight": {"x1e-30"}},
             differs={**_differs(("u",), ("nan", "inf", "-inf"), "u must be finite (torch returns NaN)"),
                      **_differs(("eps",), ("nan", "inf", "-inf", "negated"), "eps must be finite and >= 0")}),
    ],
}
