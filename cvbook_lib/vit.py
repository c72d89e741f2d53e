"""Vision Transformer (Dosovitskiy et al. 2021) built from :mod:`cvbook_lib.attention`: patch embedding,
class token, position embeddings (learned, sinusoidal 2-D, concatenated or none), pre-LN encoder layers,
and bicubic interpolation of the position embeddings for a new resolution. Its layout follows
torchvision's ``VisionTransformer``, whose weights it can run (``tests/test_attention.py``)."""

from __future__ import annotations

import torch
import torch.nn as nn

from ._checks import as_pair, check_choice, check_int, check_tensor
from .attention import TransformerEncoderLayer, sinusoidal_position_encoding_2d

__all__ = ["PatchEmbedding", "VisionTransformer", "interpolate_pos_embed"]


class PatchEmbedding(nn.Module):
    """Cut the image into non-overlapping P × P patches and project each (P·P·C values) to embed_dim —
    one conv with kernel = stride = P. (N, C, H, W) → (N, H/P · W/P, embed_dim)."""

    def __init__(self, img_size=224, patch_size=16, in_chans: int = 3, embed_dim: int = 768):
        super().__init__()
        self.img_size, self.patch_size = as_pair(img_size, "img_size", 1), as_pair(patch_size, "patch_size", 1)
        if any(s % p for s, p in zip(self.img_size, self.patch_size)):
            raise ValueError(f"img_size {self.img_size} must be divisible by patch_size {self.patch_size}")
        self.grid = (self.img_size[0] // self.patch_size[0], self.img_size[1] // self.patch_size[1])
        self.num_patches = self.grid[0] * self.grid[1]
        self.proj = nn.Conv2d(in_chans, embed_dim, self.patch_size, self.patch_size)

    def forward(self, x):
        check_tensor(x, "x", (4,), floating=True)
        if x.shape[2] % self.patch_size[0] or x.shape[3] % self.patch_size[1]:
            raise ValueError(f"image size {tuple(x.shape[2:])} must be divisible by patch_size {self.patch_size}")
        return self.proj(x).flatten(2).transpose(1, 2)                         # [N, num_patches, D]


def interpolate_pos_embed(pos_embed, old_grid, new_grid, num_prefix_tokens: int = 1) -> torch.Tensor:
    """Resize learned position embeddings (Tensor[1, prefix + h·w, D]) from an old patch grid to a new one
    by bicubic interpolation of the h × w table (the class token's entry is kept). This is how a ViT
    pre-trained at 224 is fine-tuned at 384: 14 × 14 → 24 × 24 patches."""
    check_tensor(pos_embed, "pos_embed", (3,), floating=True)
    (h, w), (H, W) = as_pair(old_grid, "old_grid", 1), as_pair(new_grid, "new_grid", 1)
    if pos_embed.shape[1] != num_prefix_tokens + h * w:
        raise ValueError(f"pos_embed has {pos_embed.shape[1]} tokens, expected {num_prefix_tokens} + {h}·{w}")
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    D = grid.shape[-1]
    grid = grid.reshape(1, h, w, D).permute(0, 3, 1, 2)
    grid = nn.functional.interpolate(grid, size=(H, W), mode="bicubic", align_corners=False)
    return torch.cat([prefix, grid.permute(0, 2, 3, 1).reshape(1, H * W, D)], 1)


class VisionTransformer(nn.Module):
    """A ViT: patches → [class token; patch tokens] + position embeddings → ``depth`` pre-LN encoder
    layers (GELU MLP) → LayerNorm → the class token's output → linear head.

    Args:
        position: 'learned' (ViT), 'sinusoidal2d' (fixed), 'concat' (a learned code of ``pos_dim`` channels
            concatenated instead of added; the patch projection gets embed_dim - pos_dim channels), or 'none'.
    """

    def __init__(self, img_size=224, patch_size=16, in_chans: int = 3, num_classes: int = 1000,
                 embed_dim: int = 768, depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 dropout: float = 0.0, position: str = "learned", pos_dim: int = 0):
        super().__init__()
        check_choice(position, "position", ("learned", "sinusoidal2d", "concat", "none"))
        check_int(depth, "depth", 1)
        self.position, self.pos_dim = position, pos_dim if position == "concat" else 0
        if position == "concat" and not 0 < pos_dim < embed_dim:
            raise ValueError(f"pos_dim must be in (0, embed_dim) for position='concat', got {pos_dim!r}")
        self.patch_embed = PatchEmbedding(img_size, patch_size, in_chans, embed_dim - self.pos_dim)
        n = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim - self.pos_dim))
        if position == "learned":
            self.pos_embed = nn.Parameter(torch.randn(1, n + 1, embed_dim) * 0.02)
        elif position == "concat":
            self.pos_embed = nn.Parameter(torch.randn(1, n + 1, pos_dim) * 0.02)
        elif position == "sinusoidal2d":
            pe = sinusoidal_position_encoding_2d(*self.patch_embed.grid, embed_dim)
            self.register_buffer("pos_embed", torch.cat([torch.zeros(1, embed_dim), pe])[None])
        else:
            self.pos_embed = None
        self.blocks = nn.ModuleList(
            TransformerEncoderLayer(embed_dim, num_heads, int(embed_dim * mlp_ratio), dropout, "gelu", 1e-6,
                                    norm_first=True) for _ in range(depth))
        self.norm, self.head = nn.LayerNorm(embed_dim, eps=1e-6), nn.Linear(embed_dim, num_classes)

    def tokens(self, x):
        """Embedded input sequence Tensor[N, 1 + num_patches, D] (the position embeddings are resized when
        the image has a different patch grid than ``img_size``)."""
        p = self.patch_embed(x)
        N = p.shape[0]
        grid = (x.shape[2] // self.patch_embed.patch_size[0], x.shape[3] // self.patch_embed.patch_size[1])
        pos = self.pos_embed
        if pos is not None and grid != self.patch_embed.grid:
            pos = interpolate_pos_embed(pos, self.patch_embed.grid, grid)
        if self.position == "concat":
            return torch.cat([torch.cat([self.cls_token.expand(N, -1, -1), p], 1), pos.expand(N, -1, -1)], 2)
        t = torch.cat([self.cls_token.expand(N, -1, -1), p], 1)
        return t if pos is None else t + pos

    def attention_maps(self, x) -> list[torch.Tensor]:
        """Per layer, the attention weights of every head: a list of Tensor[N, H, 1 + n, 1 + n]."""
        t, maps = self.tokens(x), []
        for blk in self.blocks:
            h = blk.norm1(t)
            maps.append(blk.self_attn(h, h, h, need_weights=True, average_attn_weights=False)[1])
            t = blk(t)
        return maps

    def forward(self, x):
        t = self.tokens(x)
        for blk in self.blocks:
            t = blk(t)
        return self.head(self.norm(t)[:, 0])
