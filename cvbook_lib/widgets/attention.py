"""The attention explorer (Chapter 12): for a ViT and an image, where one query token looks — per layer
and head, with a temperature T that rescales the logits (softmax(q·k / (√d · T)))."""

from __future__ import annotations

import torch

from ._html import animate

__all__ = ["attention_view", "plot_attention_view", "attention_explorer", "attention_animation"]


@torch.no_grad()
def attention_view(model, image, layer: int = 0, head: int = 0, query: int = 0, temperature: float = 1.0) -> dict:
    """Attention weights of token ``query`` (0 = class token, i ≥ 1 = patch i - 1) in ``layer`` / ``head``.

    Args:
        model: a ``cvbook_lib.vit.VisionTransformer``; image (Tensor[C, H, W]).
    Returns:
        dict(grid: Tensor[h, w] weights on the patches, cls: weight on the class token, entropy in nats,
        top: (row, col) of the most attended patch).
    """
    if not 0 <= layer < len(model.blocks):
        raise ValueError(f"layer must be in [0, {len(model.blocks) - 1}], got {layer!r}")
    heads = model.blocks[0].self_attn.num_heads
    if not 0 <= head < heads:
        raise ValueError(f"head must be in [0, {heads - 1}], got {head!r}")
    h, w = model.patch_embed.grid
    if not 0 <= query <= h * w:
        raise ValueError(f"query must be in [0, {h * w}] (0 = class token), got {query!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    was_training = model.training
    model.eval()
    t = model.tokens(image[None])
    for blk in model.blocks[:layer]:
        t = blk(t)
    x = model.blocks[layer].norm1(t)
    logits = model.blocks[layer].self_attn.attention_logits(x, x)[0, head, query]
    weights = torch.softmax(logits / temperature, -1)
    model.train(was_training)
    grid = weights[1:].reshape(h, w)
    top = int(grid.argmax())
    entropy = -(weights * weights.clamp(min=1e-30).log()).sum()
    return dict(grid=grid, cls=weights[0].item(), entropy=entropy.item(), top=(top // w, top % w),
                layer=layer, head=head, query=query, temperature=temperature)


def plot_attention_view(view: dict, image, axes=None):
    """Left: the image, the query patch outlined. Right: the attention weights over the patch grid."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(7, 3.2))
    for ax in axes:
        ax.clear()
        ax.set_xticks([])
        ax.set_yticks([])
    h, w = view["grid"].shape
    H, W = image.shape[-2:]
    axes[0].imshow(image.detach().cpu().mean(0).numpy(), cmap="gray_r")
    q = view["query"]
    if q > 0:
        r, c = divmod(q - 1, w)
        axes[0].add_patch(Rectangle((c * W / w - 0.5, r * H / h - 0.5), W / w, H / h, fill=False, ec="red", lw=2))
    axes[0].set_title("query: " + ("class token" if q == 0 else f"patch {q - 1}"), fontsize=9)
    axes[1].imshow(view["grid"].detach().cpu().numpy(), cmap="viridis", vmin=0)
    axes[1].set_title(f"layer {view['layer']} head {view['head']} T={view['temperature']:g}: "
                      f"cls {view['cls']:.2f}, entropy {view['entropy']:.2f}", fontsize=8)
    return axes


def attention_explorer(model, images):
    """Live explorer: image, layer, head, query token and temperature."""
    import ipywidgets as W
    import matplotlib.pyplot as plt

    n_tokens = model.patch_embed.num_patches
    controls = dict(index=W.IntSlider(0, min=0, max=len(images) - 1, description="image"),
                    layer=W.IntSlider(0, min=0, max=len(model.blocks) - 1, description="layer"),
                    head=W.IntSlider(0, min=0, max=model.blocks[0].self_attn.num_heads - 1, description="head"),
                    query=W.IntSlider(0, min=0, max=n_tokens, description="query"),
                    temperature=W.FloatLogSlider(1.0, base=10, min=-1, max=1, step=0.1, description="T"))
    out = W.Output()

    def redraw(_=None):
        v = {k: c.value for k, c in controls.items()}
        image = images[v.pop("index")]
        with out:
            out.clear_output(wait=True)
            plot_attention_view(attention_view(model, image, **v), image)
            plt.show()

    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox(list(controls.values())[:3]), W.HBox(list(controls.values())[3:]), out])


def attention_animation(model, image, layer: int = 0, head: int = 0, queries=None, temperature: float = 1.0) -> str:
    """Kernel-free explorer: one frame per query token (default: the class token and every patch)."""
    queries = list(range(model.patch_embed.num_patches + 1)) if queries is None else list(queries)
    def draw(i, axes):
        plot_attention_view(attention_view(model, image, layer, head, queries[i], temperature), image, axes)

    return animate(draw, len(queries), 2, (7, 3.2))
