"""Contract cases for cvbook_lib.vit (references: torchvision's VisionTransformer and interpolate_embeddings,
a plain nn.Conv2d for the patch embedding; the modules are compared with the same weights)."""

import torch
import torch.nn as nn
import torchvision
from torchvision.models.vision_transformer import interpolate_embeddings

from contract_specs import Case
from contract_specs.spec_attention import fill
from cvbook_lib import vit as V


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- patch embedding
_OURS_PE = fill(V.PatchEmbedding(8, 4, 2, 6))
_TORCH_PE = fill(nn.Sequential())
_TORCH_PE.proj = fill(nn.Conv2d(2, 6, 4, 4))
_TORCH_PE.proj.load_state_dict(_OURS_PE.proj.state_dict())


def _conv_tokens(x):
    return _TORCH_PE.proj(x).flatten(2).transpose(1, 2)


def run_patch(m):
    fill(m)
    return m(_randn(2, m.in_chans, *m.img_size, seed=1))


PATCH = [
    Case(V.PatchEmbedding, dict(img_size=8, patch_size=4, in_chans=2, embed_dim=6), out=run_patch),
    Case(V.PatchEmbedding, dict(img_size=(8, 12), patch_size=(4, 2), in_chans=1, embed_dim=4), out=run_patch),
    Case(lambda x: _OURS_PE(x), dict(x=_randn(2, 2, 8, 8, seed=2)), ref=_conv_tokens, state=lambda: [_OURS_PE],
         differs={("x", "rank-"): "an unbatched image is refused (nn.Conv2d takes [C, H, W])"}),
]


# ----------------------------------------------------------------------------- the ViT, against torchvision's
def _tv_name_to_ours(name):
    """torchvision ViT state_dict key → ours (tests/test_attention.py maps the other way)."""
    fixed = {"class_token": "cls_token", "encoder.pos_embedding": "pos_embed", "conv_proj.weight":
             "patch_embed.proj.weight", "conv_proj.bias": "patch_embed.proj.bias", "encoder.ln.weight": "norm.weight",
             "encoder.ln.bias": "norm.bias", "heads.head.weight": "head.weight", "heads.head.bias": "head.bias"}
    if name in fixed:
        return fixed[name]
    i, rest = name[len("encoder.layers.encoder_layer_"):].split(".", 1)
    for theirs, ours in (("ln_1", "norm1"), ("ln_2", "norm2"), ("mlp.0", "linear1"), ("mlp.3", "linear2"),
                         ("self_attention", "self_attn")):
        rest = rest.replace(theirs, ours) if rest.startswith(theirs) else rest
    return f"blocks.{i}.{rest}"


def _tv_vit(img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=768, depth=12, num_heads=12,
            mlp_ratio=4.0, dropout=0.0, position="learned", pos_dim=0):
    if in_chans != 3 or position != "learned" or pos_dim != 0:
        raise ValueError("torchvision's ViT has 3 channels and learned positions")
    return torchvision.models.VisionTransformer(img_size, patch_size, depth, num_heads, embed_dim,
                                                int(embed_dim * mlp_ratio), dropout, num_classes=num_classes)


def run_vit(m):
    if isinstance(m, torchvision.models.VisionTransformer):
        fill(m, _tv_name_to_ours)
        size, chans = m.image_size, 3
    else:
        fill(m)
        size, chans = m.patch_embed.img_size[0], m.patch_embed.in_chans
    return m(_randn(2, chans, size, size, seed=3))


VIT_KW = dict(img_size=8, patch_size=4, in_chans=3, num_classes=3, embed_dim=8, depth=1, num_heads=2, mlp_ratio=2.0,
              dropout=0.0, position="learned", pos_dim=0)
_ZERO = "a zero-width MLP or head is refused; torchvision builds one"
_OURS_VIT = fill(V.VisionTransformer(**{**VIT_KW, "depth": 2}))
_TORCH_VIT = fill(_tv_vit(**{**VIT_KW, "depth": 2}), _tv_name_to_ours)

VIT = [
    Case(V.VisionTransformer, VIT_KW, ref=_tv_vit, out=run_vit,
         differs={("mlp_ratio", "zero"): _ZERO, ("num_classes", "zero"): _ZERO,
                  ("depth", "minus1"): "depth must be >= 0; torchvision builds no layer for range(-1)"}),
    Case(V.VisionTransformer, {**VIT_KW, "in_chans": 1, "position": "sinusoidal2d", "img_size": (8, 12)},
         out=run_vit),
    Case(V.VisionTransformer, {**VIT_KW, "position": "concat", "pos_dim": 2, "depth": 0}, out=run_vit),
    Case(lambda x: _OURS_VIT(x), dict(x=_randn(2, 3, 8, 8, seed=4)), ref=lambda x: _TORCH_VIT(x),
         state=lambda: [_OURS_VIT],
         differs={("x", "list"): "only tensors (torchvision indexes a list's shape)"}),
]


# ----------------------------------------------------------------------------- position-embedding interpolation
def _tv_interpolate(pos_embed, old_grid, new_grid, num_prefix_tokens=1, mode="bicubic", align_corners=False):
    """torchvision's interpolate_embeddings (square grids, one class token, align_corners=True)."""
    if num_prefix_tokens != 1 or align_corners is not True or pos_embed.shape[1] != 1 + old_grid ** 2:
        raise ValueError("not torchvision's setting")
    state = interpolate_embeddings(new_grid, 1, {"encoder.pos_embedding": pos_embed}, interpolation_mode=mode)
    return state["encoder.pos_embedding"]


_pos = _randn(1, 1 + 16, 6, seed=5)
INTERP = [
    Case(V.interpolate_pos_embed, dict(pos_embed=_pos, old_grid=4, new_grid=6, num_prefix_tokens=1, mode="bicubic",
                                       align_corners=True), ref=_tv_interpolate),
    Case(V.interpolate_pos_embed, dict(pos_embed=_randn(2, 12, 4, seed=6), old_grid=(2, 5), new_grid=(3, 4),
                                       num_prefix_tokens=2, mode="bilinear", align_corners=False)),
]

SPECS = {V.PatchEmbedding: PATCH, V.VisionTransformer: VIT, V.interpolate_pos_embed: INTERP}
