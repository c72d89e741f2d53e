"""Vision Transformer (Dosovitskiy et al. 2021) built from :mod:`cvbook_lib.attention`: patch embedding,
class token, position embeddings (learned, sinusoidal 2-D, concatenated or none), pre-LN encoder layers,
and bicubic interpolation of the position embeddings for a new resolution. Its layout follows
torchvision's ``VisionTransformer``, whose weights it can run (``tests/test_attention.py``).

Integer, bool and complex tensors are refused where a floating tensor is needed (torch refuses them too)."""

from __future__ import annotations

import torch
import torch.nn as nn

from ._checks import as_pair, check_bool, check_choice, check_float, check_int, check_probability, check_tensor
from .attention import TransformerEncoderLayer, sinusoidal_position_encoding_2d

__all__ = ["PatchEmbedding", "VisionTransformer", "interpolate_pos_embed"]


def _grid(img_size, patch_size):
    img, patch = as_pair(img_size, "img_size", 1), as_pair(patch_size, "patch_size", 1)
    if any(s % p for s, p in zip(img, patch)):
        raise ValueError(f"img_size {img_size!r} must be divisible by patch_size {patch_size!r} in every dimension")
    return img, patch


class PatchEmbedding(nn.Module):
    """Cut the image into non-overlapping P × P patches and project each (P·P·C values) to embed_dim —
    one conv with kernel = stride = P. x (Tensor[N, C, H, W]) → Tensor[N, H/P · W/P, embed_dim].

    img_size, patch_size: an int or an (h, w) pair, img_size divisible by patch_size. The forward takes any
    H, W that are positive multiples of the patch size; an unbatched [C, H, W] image is refused (a deliberate
    difference from the bare ``nn.Conv2d``, which takes it)."""

    def __init__(self, img_size=224, patch_size=16, in_chans: int = 3, embed_dim: int = 768):
        super().__init__()
        self.img_size, self.patch_size = _grid(img_size, patch_size)
        self.in_chans, self.embed_dim = check_int(in_chans, "in_chans", 1), check_int(embed_dim, "embed_dim", 1)
        self.grid = (self.img_size[0] // self.patch_size[0], self.img_size[1] // self.patch_size[1])
        self.num_patches = self.grid[0] * self.grid[1]
        self.proj = nn.Conv2d(self.in_chans, self.embed_dim, self.patch_size, self.patch_size)

    def forward(self, x):
        check_tensor(x, "x", (4,), kind="float")
        w = self.proj.weight
        if x.dtype != w.dtype or x.device != w.device:
            raise TypeError(f"x must have the module's dtype {w.dtype} on {w.device}, got {x.dtype} on {x.device}")
        (P, Q), (H, W) = self.patch_size, x.shape[2:]
        if x.shape[1] != self.in_chans or H < P or W < Q or H % P or W % Q:
            raise ValueError(f"x must have shape [N, {self.in_chans}, H, W] with H, W positive multiples of "
                             f"patch_size {self.patch_size}, got {tuple(x.shape)}")
        return self.proj(x).flatten(2).transpose(1, 2)                         # [N, num_patches, D]


def interpolate_pos_embed(pos_embed, old_grid, new_grid, num_prefix_tokens: int = 1, mode: str = "bicubic",
                          align_corners: bool = False) -> torch.Tensor:
    """Resize learned position embeddings (Tensor[B, prefix + h·w, D]) from an old patch grid (h, w) to a new
    one (H, W) by interpolating the h × w table (the prefix tokens' entries, e.g. the class token's, are
    kept): Tensor[B, prefix + H·W, D]. This is how a ViT pre-trained at 224 is fine-tuned at 384: 14 × 14 →
    24 × 24 patches. ``mode`` 'bicubic' / 'bilinear' / 'nearest'; ``align_corners=True`` is torchvision's
    ``interpolate_embeddings`` (square grids), False (default) timm's / DeiT's."""
    check_tensor(pos_embed, "pos_embed", (3,), kind="float")
    (h, w), (H, W) = as_pair(old_grid, "old_grid", 1), as_pair(new_grid, "new_grid", 1)
    num_prefix_tokens = check_int(num_prefix_tokens, "num_prefix_tokens", 0)
    mode = check_choice(mode, "mode", ("bicubic", "bilinear", "nearest"))
    align_corners = check_bool(align_corners, "align_corners")
    if pos_embed.shape[1] != num_prefix_tokens + h * w or pos_embed.shape[0] == 0 or pos_embed.shape[2] == 0:
        raise ValueError(f"pos_embed must have shape [B >= 1, {num_prefix_tokens} + {h}·{w}, D >= 1] "
                         f"(num_prefix_tokens + old_grid), got {tuple(pos_embed.shape)}")
    B, D = pos_embed.shape[0], pos_embed.shape[2]
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    grid = grid.reshape(B, h, w, D).permute(0, 3, 1, 2)
    grid = nn.functional.interpolate(grid, size=(H, W), mode=mode, align_corners=None if mode == "nearest" else
                                     align_corners)
    return torch.cat([prefix, grid.permute(0, 2, 3, 1).reshape(B, H * W, D)], 1)


class VisionTransformer(nn.Module):
    """A ViT: patches → [class token; patch tokens] + position embeddings → ``depth`` pre-LN encoder
    layers (GELU MLP of width int(embed_dim · mlp_ratio)) → LayerNorm → the class token's output → linear head.
    x (Tensor[N, in_chans, H, W]) → logits Tensor[N, num_classes]; H, W multiples of patch_size (another grid
    than img_size's interpolates the position embeddings).

    Args:
        embed_dim divisible by num_heads; mlp_ratio a finite number > 0 with int(embed_dim · mlp_ratio) >= 1;
            depth >= 0; num_classes >= 1 (deliberate differences: torchvision builds a zero-width MLP or head and
            takes depth -1 as 0).
        position: 'learned' (ViT), 'sinusoidal2d' (fixed), 'concat' (a learned code of ``pos_dim`` channels
            concatenated instead of added; the patch projection gets embed_dim - pos_dim channels), or 'none'.
    """

    def __init__(self, img_size=224, patch_size=16, in_chans: int = 3, num_classes: int = 1000,
                 embed_dim: int = 768, depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 dropout: float = 0.0, position: str = "learned", pos_dim: int = 0):
        super().__init__()
        _grid(img_size, patch_size)
        check_int(in_chans, "in_chans", 1)
        num_classes, depth = check_int(num_classes, "num_classes", 1), check_int(depth, "depth", 0)
        embed_dim, num_heads = check_int(embed_dim, "embed_dim", 1), check_int(num_heads, "num_heads", 1)
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim must be divisible by num_heads, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads}")
        mlp_ratio = check_float(mlp_ratio, "mlp_ratio", 0.0, min_open=True, allow_inf=False)
        if int(embed_dim * mlp_ratio) < 1:
            raise ValueError(f"mlp_ratio must make an MLP of width int(embed_dim * mlp_ratio) >= 1, got {mlp_ratio!r}")
        dropout = check_probability(dropout, "dropout")
        self.position = check_choice(position, "position", ("learned", "sinusoidal2d", "concat", "none"))
        pos_dim = check_int(pos_dim, "pos_dim")
        if position == "concat" and not 0 < pos_dim < embed_dim:
            raise ValueError(f"pos_dim must be in (0, embed_dim={embed_dim}) for position='concat', got {pos_dim!r}")
        if position != "concat" and pos_dim:
            raise ValueError(f"pos_dim is only used with position='concat': leave it 0, got {pos_dim!r}")
        if position == "sinusoidal2d" and embed_dim % 4:
            raise ValueError(f"embed_dim must be a multiple of 4 for position='sinusoidal2d', got {embed_dim!r}")
        self.pos_dim = pos_dim if position == "concat" else 0
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
                                    batch_first=True, norm_first=True) for _ in range(depth))
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
