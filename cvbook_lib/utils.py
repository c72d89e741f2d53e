"""Helpers every chapter uses: device choice, seeding, CPU-drawn random data, rounded printing."""

from __future__ import annotations

import random

import numpy as np
import torch

from ._checks import check_int

__all__ = ["get_device", "seed_everything", "setup_notebook", "randn", "fmt", "glue", "show_source"]


def get_device() -> torch.device:
    """Return ``cuda`` when a GPU is available, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a CPU generator seeded the same way."""
    check_int(seed, "seed", minimum=0)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def setup_notebook(seed: int = 0) -> tuple[torch.device, torch.Generator]:
    """First cell of every chapter: seed everything, turn TF32 off, pick the device.

    TF32 (on by default for cuDNN convolutions) rounds float32 products to 10 mantissa bits on
    Ampere and newer GPUs; turning it off keeps GPU results within float32 tolerance of the CPU's,
    so the same checks and stored outputs hold on both. Returns ``(device, cpu_generator)``.
    """
    generator = seed_everything(seed)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return get_device(), generator


def glue(name: str, value, display: bool = False) -> None:
    """``myst_nb.glue`` when the book is being built; a no-op elsewhere (Colab has no myst-nb)."""
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    _glue(name, value, display=display)


def show_source(obj):
    """The source of a function or class of cvbook_lib as a highlighted Python code block.

    Returns an ``IPython.display.Markdown`` object holding a fenced ``python`` block, which
    Jupyter, Colab and the book all render with syntax highlighting (a ``print`` of
    ``inspect.getsource`` would show plain text).
    """
    import inspect

    from IPython.display import Markdown

    if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj)):
        raise TypeError(f"obj must be a function or class, got {type(obj).__name__}: {obj!r}")
    return Markdown(f"```python\n{inspect.getsource(obj).rstrip()}\n```")


def randn(*size: int, generator: torch.Generator | None = None, device=None, dtype=torch.float32) -> torch.Tensor:
    """Standard normal tensor of shape ``size`` drawn on the CPU, then moved to ``device``.

    Drawing on the CPU makes the numbers identical on CPU and GPU runs, so stored notebook
    outputs hold on both.
    """
    for i, s in enumerate(size):
        check_int(s, f"size[{i}]", minimum=0)
    return torch.randn(*size, generator=generator, dtype=dtype).to(device or "cpu")


def _round_nested(values, decimals: int):
    if isinstance(values, list):
        return [_round_nested(v, decimals) for v in values]
    if isinstance(values, float):
        r = round(values, decimals)
        return 0.0 if r == 0 else r  # no "-0.0"
    return values


def fmt(x, decimals: int = 4) -> str:
    """Round ``x`` (tensor, array, number or nested list) to ``decimals`` places, as text.

    The same text comes out on CPU and GPU, whatever the last bits of a float are, so
    ``print(fmt(y))`` is safe to store in an nbval baseline.
    """
    check_int(decimals, "decimals", minimum=0)
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = x.tolist() if x.dim() else x.item()
    elif isinstance(x, np.ndarray):
        x = x.tolist()
    elif isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, (list, float)):
        return str(_round_nested(x, decimals))
    if isinstance(x, (int, bool, str)) or x is None:
        return str(x)
    if isinstance(x, tuple):
        return str(tuple(_round_nested(list(x), decimals)))
    raise TypeError(f"x must be a tensor, array, number or list, got {type(x).__name__}")
