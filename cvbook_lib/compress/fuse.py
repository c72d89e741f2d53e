"""Folding a normalization into the layer next to it: Conv/Linear + BatchNorm, and RIFormer's affine mixer.

In eval mode a BatchNorm is a per-channel affine map, ``bn(y) = γ·(y - μ)/√(σ² + ε) + β = s·y + (β - s·μ)``
with ``s = γ/√(σ² + ε)`` (running statistics ``μ, σ²``). After a conv or linear layer ``y = W x + b`` it
folds into new weights: ``W' = s·W`` (output channel ``o`` scaled by ``s_o``) and ``b' = s·(b - μ) + β``
(BatchNorm: Ioffe & Szegedy 2015, arXiv 1502.03167; the fold is the standard inference-time rewrite of
TensorRT, ONNX Runtime and ``torch.nn.utils.fusion``). :func:`fuse_conv_bn` and :func:`fuse_linear_bn` equal
``fuse_conv_bn_eval`` / ``fuse_linear_bn_eval`` (weights, bias, outputs). Deliberate differences, each
refused with a clear error where torch fails late or answers wrongly: a ``transpose`` flag that does not
match the conv (torch's default ``transpose=False`` on a ``ConvTranspose`` scales the wrong axis, silently);
a BN whose ``num_features`` is not the conv's ``out_channels`` (torch broadcasts a 1-feature BN over every
channel, and fails with a shape error otherwise); a BN in training mode or without running statistics
(torch raises ``AssertionError``). Extensions: grouped ``ConvTranspose`` (torch raises a shape error) and
``BatchNorm1d(affine=False)`` after a Linear (torch: ``TypeError`` on ``None * Tensor``). A new bias gets
the weight's ``requires_grad`` (torch's is always False, since it starts from ``zeros_like(running_mean)``).

RIFormer (Wang et al. 2023, "RIFormer: Keep Your Vision Backbone Effective While Removing Token Mixer",
arXiv 2304.05659) trains a MetaFormer block whose token mixer is only a per-channel affine map,
``x + ℓ ⊙ (Affine(Norm(x)) - Norm(x))`` with ``Affine(y) = a ⊙ y + b``, and at inference removes the
mixer: with ``Norm(x) = γ ⊙ x̂ + β`` the branch is ``ℓ(a - 1)γ ⊙ x̂ + ℓ((a - 1)β + b)``, a norm with
folded weight and bias (:func:`reparameterize_affine`).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import _short, check_bool, check_choice, check_float, check_int, check_tensor

__all__ = ["fuse_conv_bn", "fuse_linear_bn", "fuse_model", "AffineMixerBlock", "reparameterize_affine"]

_BN = nn.modules.batchnorm._BatchNorm
_TRANSPOSED = nn.modules.conv._ConvTransposeNd
# the pairs fuse_model folds, as torch.fx.experimental.optimization.fuse (+ transposed convs)
_PAIRS = [
    ((nn.Conv1d, nn.ConvTranspose1d, nn.Linear), nn.BatchNorm1d),
    ((nn.Conv2d, nn.ConvTranspose2d), nn.BatchNorm2d),
    ((nn.Conv3d, nn.ConvTranspose3d), nn.BatchNorm3d),
]


# ----------------------------------------------------------------------------- Conv/Linear + BN
def _check_bn(bn, channels: int, layer: str, device: torch.device, allow_one: bool = False) -> None:
    if not isinstance(bn, _BN):
        raise TypeError(f"bn must be a BatchNorm module (nn.BatchNorm1d/2d/3d), got {type(bn).__name__} {_short(bn)}")
    if bn.training:
        raise ValueError(
            "bn must be in eval mode (call bn.eval()): fusion folds the running statistics, while a "
            "BN in training mode normalizes with the batch's own"
        )
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(
            "bn must track running statistics (track_running_stats=True): without them it "
            "normalizes with batch statistics even in eval mode and cannot be folded"
        )
    ok = bn.num_features == channels or (allow_one and bn.num_features == 1)
    if not ok:
        also = " (or 1)" if allow_one else ""
        raise ValueError(
            f"bn.num_features must equal the {layer}'s {channels} output channels{also}, got {bn.num_features}"
        )
    if not bool(torch.isfinite(bn.running_var).all()) or bool((bn.running_var + bn.eps <= 0).any()):
        raise ValueError("bn.running_var + bn.eps must be finite and > 0 in every channel")
    if bn.running_mean.device != device:
        raise ValueError(f"bn must be on the {layer}'s device {device}, got {bn.running_mean.device}")


def _scale_shift(bn, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``s = γ/√(σ² + ε)`` and ``t = β - s·μ`` (Tensor[C] each), in ``dtype`` promoted with the BN's."""
    dt = torch.promote_types(dtype, bn.running_mean.dtype)
    rm, rv = bn.running_mean.to(dt), bn.running_var.to(dt)
    gamma = bn.weight.detach().to(dt) if bn.weight is not None else torch.ones_like(rm)
    beta = bn.bias.detach().to(dt) if bn.bias is not None else torch.zeros_like(rm)
    s = gamma / torch.sqrt(rv + bn.eps)
    return s, beta - s * rm


def _set(layer: nn.Module, weight: torch.Tensor, bias: torch.Tensor) -> nn.Module:
    grad = layer.weight.requires_grad
    dtype_b = layer.bias.dtype if layer.bias is not None else layer.weight.dtype
    layer.weight = nn.Parameter(weight.to(layer.weight.dtype), grad)
    layer.bias = nn.Parameter(bias.to(dtype_b), grad)
    return layer


def fuse_conv_bn(conv: nn.Module, bn: nn.Module, transpose: bool = False) -> nn.Module:
    """A new conv equal to ``bn(conv(x))`` in eval mode (``torch.nn.utils.fusion.fuse_conv_bn_eval``).

    conv (nn.Conv1d/2d/3d, or nn.ConvTranspose1d/2d/3d with ``transpose=True``), in eval mode, any groups;
    bn (nn.BatchNorm*d) in eval mode with running statistics, ``num_features == conv.out_channels``.
    Weight ``[C_out, C_in/g, *k]`` (transposed: ``[C_in, C_out/g, *k]``) times ``s`` along the output
    channels; bias ``s·(b - μ) + β`` (``b = 0`` without one). Returns a deep copy of ``conv`` (same class,
    dtype, device, stride, padding ...) with the new weight and bias; ``conv`` and ``bn`` are unchanged.
    """
    if not isinstance(conv, nn.modules.conv._ConvNd):
        raise TypeError(
            f"conv must be an nn.Conv1d/2d/3d or nn.ConvTranspose1d/2d/3d, got {type(conv).__name__} {_short(conv)}"
        )
    transpose = check_bool(transpose, "transpose")
    if transpose != isinstance(conv, _TRANSPOSED):
        raise ValueError(
            f"transpose must be {not transpose} for {type(conv).__name__} (it says whether the weight "
            f"is laid out [in, out, ...] as a transposed conv's), got {transpose}"
        )
    if conv.training:
        raise ValueError("conv must be in eval mode (call conv.eval()), as torch's fuse_conv_bn_eval requires")
    _check_bn(bn, conv.out_channels, "conv", conv.weight.device)
    w = conv.weight.detach()
    s, t = _scale_shift(bn, w.dtype)
    b = conv.bias.detach().to(s.dtype) if conv.bias is not None else torch.zeros_like(s)
    k = (1,) * (w.dim() - 2)
    if transpose:  # output channel o = group·(C_out/g) + j sits at weight[group·(C_in/g) + i, j]
        g = conv.groups
        wg = w.reshape(g, w.shape[0] // g, w.shape[1], *w.shape[2:])  # [g, C_in/g, C_out/g, *k]
        new_w = (wg * s.reshape(g, 1, -1, *k)).reshape(w.shape)
    else:
        new_w = w * s.reshape(-1, 1, *k)  # [C_out, C_in/g, *k]
    return _set(copy.deepcopy(conv), new_w, s * b + t)


def fuse_linear_bn(linear: nn.Module, bn: nn.Module) -> nn.Module:
    """A new Linear equal to ``bn(linear(x))`` in eval mode (``torch.nn.utils.fusion.fuse_linear_bn_eval``).

    linear (nn.Linear, eval mode); bn (nn.BatchNorm*d in eval mode with running statistics) with
    ``num_features == linear.out_features`` (input ``[N, out]``) or 1 (as torch: a ``[N, 1, out]`` input,
    one channel). Weight ``[out, in]`` times ``s[:, None]``, bias ``s·(b - μ) + β``. Returns a deep copy.
    """
    if not isinstance(linear, nn.Linear):
        raise TypeError(f"linear must be an nn.Linear, got {type(linear).__name__} {_short(linear)}")
    if linear.training:
        raise ValueError("linear must be in eval mode (call linear.eval()), as torch's fuse_linear_bn_eval requires")
    _check_bn(bn, linear.out_features, "linear", linear.weight.device, allow_one=True)
    w = linear.weight.detach()
    s, t = _scale_shift(bn, w.dtype)
    b = (
        linear.bias.detach().to(s.dtype)
        if linear.bias is not None
        else torch.zeros(w.shape[0], dtype=s.dtype, device=s.device)
    )
    return _set(copy.deepcopy(linear), w * s[:, None], s * b + t)  # s [C] with C = out or 1


def fuse_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every (Conv|ConvTranspose|Linear, BatchNorm) pair that follows each other in an
    ``nn.Sequential`` (at any depth) folded: the layer is replaced by the fused one, the BN by ``nn.Identity``
    (indices and the other names stay). Only Sequentials are searched: elsewhere the forward order is unknown.
    Pairs must match in dimension as in ``torch.fx.experimental.optimization.fuse`` (Conv2d + BatchNorm2d,
    Linear + BatchNorm1d, ...); a BN without running statistics is left alone. Every BN that would be folded
    must be in eval mode (ValueError otherwise, before anything is copied). ``model`` is unchanged.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__} {_short(model)}")

    def pairs(root):
        for name, seq in root.named_modules():
            if isinstance(seq, nn.Sequential):
                mods = list(seq.children())
                for i, (a, b) in enumerate(zip(mods, mods[1:])):
                    fits = any(isinstance(a, layers) and type(b) is bn for layers, bn in _PAIRS)
                    if fits and b.running_mean is not None:
                        yield name, seq, i, a, b

    for name, _, i, a, b in pairs(model):
        if a.training or b.training:
            raise ValueError(
                f"model must be in eval mode (call model.eval()): the pair {name or 'model'}[{i}], "
                f"[{i + 1}] ({type(a).__name__}, {type(b).__name__}) is in training mode"
            )
    out = copy.deepcopy(model)
    for _, seq, i, a, b in list(pairs(out)):
        keys = list(seq._modules)
        if isinstance(a, nn.Linear):
            fused = fuse_linear_bn(a, b)
        else:
            fused = fuse_conv_bn(a, b, transpose=isinstance(a, _TRANSPOSED))
        seq._modules[keys[i]], seq._modules[keys[i + 1]] = fused, nn.Identity()
    return out


# ----------------------------------------------------------------------------- RIFormer's affine mixer
class _ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of ``[N, C, H, W]`` at each position (mmpretrain's ``LN2d``)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight, self.bias = nn.Parameter(torch.ones(dim)), nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.permute(0, 2, 3, 1), self.weight.shape, self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


def _norm(kind: str, dim: int, eps: float) -> nn.Module:
    return nn.GroupNorm(1, dim, eps=eps) if kind == "group" else _ChannelLayerNorm(dim, eps)


class AffineMixerBlock(nn.Module):
    """RIFormer's token-mixer sub-block (Wang et al. 2023, arXiv 2304.05659), in training or deploy form.

    Training form (``deploy=False``): ``x + ℓ ⊙ (a ⊙ n(x) + b - n(x))`` with ``n`` = ``self.norm1``,
    ``a, b`` = ``self.token_mixer.weight/.bias`` (a per-channel scale and shift, RIFormer's depthwise 1×1
    conv; initialised to 1 and 0) and ``ℓ`` = ``self.layer_scale_1``. Deploy form: ``x + self.norm_reparam(x)``
    (see :func:`reparameterize_affine`; the official code keeps ℓ apart, here it is folded too).

    dim (int >= 1): channels C; norm ("group": ``GroupNorm(1, C)`` over (C, H, W) per sample, RIFormer's
    default; "layer": LayerNorm over C at each position, its ``LN2d``); eps (> 0); layer_scale_init_value
    (finite; ℓ's initial value); deploy (bool). Input and output: ``Tensor[N, C, H, W]``.
    """

    def __init__(
        self,
        dim: int,
        norm: str = "group",
        eps: float = 1e-5,
        layer_scale_init_value: float = 1e-5,
        deploy: bool = False,
    ):
        super().__init__()
        self.dim = check_int(dim, "dim", 1)
        self.norm = check_choice(norm, "norm", ("group", "layer"))
        eps = check_float(eps, "eps", 0.0, min_open=True, allow_inf=False)
        ls = check_float(layer_scale_init_value, "layer_scale_init_value", allow_inf=False)
        self.deploy = check_bool(deploy, "deploy")
        if self.deploy:
            self.norm_reparam = _norm(self.norm, self.dim, eps)
        else:
            self.norm1 = _norm(self.norm, self.dim, eps)
            self.token_mixer = nn.Module()
            self.token_mixer.weight = nn.Parameter(torch.ones(self.dim))
            self.token_mixer.bias = nn.Parameter(torch.zeros(self.dim))
            self.layer_scale_1 = nn.Parameter(torch.full((self.dim,), ls))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", ndims=(4,), kind="float")
        if x.shape[1] != self.dim:
            raise ValueError(f"x must have {self.dim} channels (dim), got shape {tuple(x.shape)}")
        if self.deploy:
            return x + self.norm_reparam(x)
        y = self.norm1(x)
        a, b, ls = (p[:, None, None] for p in (self.token_mixer.weight, self.token_mixer.bias, self.layer_scale_1))
        return x + ls * (a * y + b - y)  # [N, C, H, W]


def reparameterize_affine(block: AffineMixerBlock) -> AffineMixerBlock:
    """The deploy form of a training-form :class:`AffineMixerBlock`: same outputs, no token mixer.

    ``x + ℓ(a ⊙ (γx̂ + β) + b - (γx̂ + β)) = x + [ℓ(a - 1)γ] ⊙ x̂ + [ℓ((a - 1)β + b)]``: one norm with
    weight ``ℓ(a - 1)γ`` and bias ``ℓ((a - 1)β + b)``. The norm has no state, so train and eval agree.
    Returns a new block on the same device and dtype; ``block`` is unchanged.
    """
    if not isinstance(block, AffineMixerBlock):
        raise TypeError(f"block must be an AffineMixerBlock, got {type(block).__name__} {_short(block)}")
    if block.deploy:
        raise ValueError("block must be in training form (deploy=False); it is already reparameterized")
    n = block.norm1
    with torch.no_grad():
        a, b, ls = block.token_mixer.weight, block.token_mixer.bias, block.layer_scale_1
        weight = ls * (a - 1) * n.weight
        bias = ls * ((a - 1) * n.bias + b)
    out = AffineMixerBlock(block.dim, block.norm, n.eps, deploy=True).to(device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        out.norm_reparam.weight.copy_(weight)
        out.norm_reparam.bias.copy_(bias)
    out.train(block.training)
    return out
