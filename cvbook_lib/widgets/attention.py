"""The attention explorer (Chapter 12): for a ViT and an image, where one query token looks — per layer
and head, with a temperature T that rescales the logits (softmax(q·k / (√d · T))).

Integer, bool and complex images are refused (the model needs its own floating dtype)."""

from __future__ import annotations

import torch

from .._checks import check_float, check_int, check_tensor
from ._html import animate, axes_or_new, check_axes, check_sequence, check_view, show

__all__ = ["attention_view", "plot_attention_view", "attention_explorer", "attention_animation"]

_VIEW_KEYS = ("grid", "cls", "entropy", "top", "layer", "head", "query", "temperature")


def _check_model(model, name: str = "model"):
    from ..vit import VisionTransformer

    if not isinstance(model, VisionTransformer):
        raise TypeError(f"{name} must be a cvbook_lib.vit.VisionTransformer, got {type(model).__name__}")
    return model


def _check_image(model, image, name: str = "image") -> torch.Tensor:
    """A (C, H, W) image of the model's input size and dtype."""
    check_tensor(image, name, ndims=(3,), kind="float")
    expected = (model.patch_embed.proj.in_channels, *model.patch_embed.img_size)
    if tuple(image.shape) != expected:
        raise ValueError(f"{name} must have shape {expected} (the model's channels and img_size), "
                         f"got {tuple(image.shape)}")
    dtype = model.patch_embed.proj.weight.dtype
    if image.dtype != dtype:
        raise TypeError(f"{name} must have the model's dtype {dtype}, got {image.dtype}")
    return image


def _check_indices(model, layer, head, query, temperature):
    n_layers = len(model.blocks)
    layer = check_int(layer, "layer", 0, n_layers - 1)
    head = check_int(head, "head", 0, model.blocks[0].self_attn.num_heads - 1)
    query = check_int(query, "query", 0, model.patch_embed.num_patches)          # 0 = class token
    temperature = check_float(temperature, "temperature", 0.0, min_open=True)
    return layer, head, query, temperature


@torch.no_grad()
def attention_view(model, image, layer: int = 0, head: int = 0, query: int = 0, temperature: float = 1.0) -> dict:
    """Attention weights of token ``query`` (0 = class token, i ≥ 1 = patch i - 1) in ``layer`` / ``head``.

    Args:
        model: a ``cvbook_lib.vit.VisionTransformer`` (its train/eval mode is restored afterwards);
        image (Tensor[C, H, W]) of the model's input size and dtype; layer, head, query: ints from 0 (a
        negative one is refused, not counted from the end); temperature > 0 (``inf``: uniform).
    Returns:
        dict(grid: Tensor[h, w] weights on the patches, cls: weight on the class token, entropy in nats,
        top: (row, col) of the most attended patch, and the arguments). NaN in the image gives NaN weights.
    """
    _check_model(model)
    _check_image(model, image)
    layer, head, query, temperature = _check_indices(model, layer, head, query, temperature)
    h, w = model.patch_embed.grid
    was_training = model.training
    model.eval()
    try:
        t = model.tokens(image[None])
        for blk in model.blocks[:layer]:
            t = blk(t)
        x = model.blocks[layer].norm1(t)
        logits = model.blocks[layer].self_attn.attention_logits(x, x)[0, head, query]
    finally:
        model.train(was_training)
    weights = torch.softmax(logits / temperature, -1)
    grid = weights[1:].reshape(h, w)
    top = int(grid.argmax())
    entropy = -(weights * weights.clamp(min=1e-30).log()).sum()
    return dict(grid=grid, cls=weights[0].item(), entropy=entropy.item(), top=(top // w, top % w),
                layer=layer, head=head, query=query, temperature=temperature)


def plot_attention_view(view: dict, image, axes=None):
    """Left: the image (Tensor[C, H, W]), the query patch outlined. Right: the attention weights over the
    patch grid. ``view`` is what :func:`attention_view` returned; ``axes``: two Axes or None. Returns the axes."""
    from matplotlib.patches import Rectangle

    check_view(view, "view", _VIEW_KEYS)
    check_tensor(image, "image", ndims=(3,), kind="real")
    check_axes(axes, "axes", 2)
    axes = axes_or_new(axes, 2, (7, 3.2))
    for ax in axes:
        ax.clear()
        ax.set_xticks([])
        ax.set_yticks([])
    h, w = view["grid"].shape
    H, W = image.shape[-2:]
    axes[0].imshow(image.detach().cpu().double().mean(0).numpy(), cmap="gray_r")
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
    """Live explorer (an ``ipywidgets.VBox``): image (one of ``images``, a list of Tensor[C, H, W]),
    layer, head, query token and temperature."""
    import ipywidgets as W

    _check_model(model)
    images = check_sequence(images, "images", lambda im, name: _check_image(model, im, name))
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
        show(out, plot_attention_view(attention_view(model, image, **v), image)[0].figure)

    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox(list(controls.values())[:3]), W.HBox(list(controls.values())[3:]), out])


def attention_animation(model, image, layer: int = 0, head: int = 0, queries=None, temperature: float = 1.0) -> str:
    """Kernel-free explorer: one frame per query token of ``queries`` (default: the class token and every
    patch). Returns self-contained HTML."""
    _check_model(model)
    _check_image(model, image)
    _check_indices(model, layer, head, 0, temperature)
    n = model.patch_embed.num_patches
    queries = list(range(n + 1)) if queries is None else check_sequence(
        queries, "queries", lambda q, name: check_int(q, name, 0, n))

    def draw(i, axes):
        plot_attention_view(attention_view(model, image, layer, head, queries[i], temperature), image, axes)

    return animate(draw, len(queries), 2, (7, 3.2))
