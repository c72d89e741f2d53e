"""Helpers every chapter uses: device choice, seeding, CPU-drawn random data, rounded printing.

Nothing here writes to stdout: ``glue`` is a no-op outside a running kernel and ``show_source``
returns a displayable object.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from ._checks import _short, check_bool, check_int

__all__ = ["get_device", "seed_everything", "setup_notebook", "randn", "fmt", "glue", "show_source"]

SEED_MAX = 2 ** 32 - 1  # numpy's bound (np.random.seed); Python's random and torch accept a wider range


def get_device() -> torch.device:
    """Return ``cuda`` when a GPU is available, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a CPU generator seeded the same way.

    ``seed`` is an int in [0, 2**32 - 1] (numpy ints accepted, bools refused): the range every one of
    the three accepts (``np.random.seed`` refuses the rest; ``torch.manual_seed`` alone would take a
    negative seed). It is checked before any generator is touched.
    """
    seed = check_int(seed, "seed", 0, SEED_MAX)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def setup_notebook(seed: int = 0) -> tuple[torch.device, torch.Generator]:
    """First cell of every chapter: seed everything, turn TF32 off, pick the device.

    TF32 (on by default for cuDNN convolutions) rounds float32 products to 10 mantissa bits on
    Ampere and newer GPUs; turning it off keeps GPU results within float32 tolerance of the CPU's,
    so the same checks and stored outputs hold on both. ``seed`` as in :func:`seed_everything`.
    Returns ``(device, cpu_generator)``.
    """
    generator = seed_everything(seed)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return get_device(), generator


def _in_kernel() -> bool:
    """Whether an IPython shell is running (a Jupyter kernel, or IPython): only there can output be displayed."""
    try:
        from IPython.core.interactiveshell import InteractiveShell
    except ImportError:
        return False
    return InteractiveShell.initialized()


def glue(name: str, value, display: bool = False) -> None:
    """``myst_nb.glue`` when the book is being built; a no-op elsewhere (Colab has no myst-nb, and outside
    a kernel there is nothing to glue into: IPython would print the value instead).

    Args: name: a non-empty string (the key the text refers to); value: anything displayable;
    display: a bool, whether the cell also shows the value.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string, got {type(name).__name__} {_short(name)}")
    display = check_bool(display, "display")
    if not _in_kernel():
        return
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    _glue(name, value, display=display)


def show_source(obj):
    """The source of a function or class of cvbook_lib as a highlighted Python code block.

    Returns an ``IPython.display.Markdown`` object holding a fenced ``python`` block, which
    Jupyter, Colab and the book all render with syntax highlighting (a ``print`` of
    ``inspect.getsource`` would show plain text). A function, method or class without a source file
    (a builtin, something defined in ``exec``) is a clear error.
    """
    import inspect

    from IPython.display import Markdown

    if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj)):
        raise TypeError(f"obj must be a function or class, got {type(obj).__name__}: {_short(obj)}")
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError) as err:
        raise ValueError(f"obj has no source to show ({_short(obj)}): {err}") from None
    return Markdown(f"```python\n{source.rstrip()}\n```")


def _check_dtype(dtype) -> torch.dtype:
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype, got {type(dtype).__name__} {_short(dtype)}")
    if not (dtype.is_floating_point or dtype.is_complex):
        raise TypeError(f"dtype must be a floating or complex dtype (torch.randn's), got {dtype}")
    return dtype


def randn(*size: int, generator: torch.Generator | None = None, device=None, dtype=torch.float32) -> torch.Tensor:
    """Standard normal tensor of shape ``size`` drawn on the CPU, then moved to ``device``.

    Drawing on the CPU makes the numbers identical on CPU and GPU runs, so stored notebook
    outputs hold on both. As ``torch.randn``, ``size`` is ints (numpy ints accepted) or one
    list/tuple/``torch.Size`` of them; ``generator`` is None or a CPU ``torch.Generator``;
    ``dtype`` a floating or complex ``torch.dtype``.
    """
    if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)):
        size = tuple(size[0])
    size = tuple(check_int(s, f"size[{i}]", minimum=0) for i, s in enumerate(size))
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        if generator.device.type != "cpu":
            raise ValueError(f"generator must be a CPU generator (randn draws on the CPU), got one on "
                             f"{generator.device}")
    dtype = _check_dtype(dtype)
    if device is not None:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device must be a torch.device or a device string such as 'cpu' or 'cuda', "
                             f"got {_short(device)}") from err
    return torch.randn(*size, generator=generator, dtype=dtype).to(device or "cpu")


def _round_nested(values, decimals: int):
    if isinstance(values, (list, tuple)):
        rounded = [_round_nested(v, decimals) for v in values]
        return rounded if isinstance(values, list) else tuple(rounded)
    if isinstance(values, (torch.Tensor, np.ndarray, np.generic)):
        return _round_nested(_plain(values), decimals)
    if isinstance(values, float):
        r = round(values, decimals)
        return 0.0 if r == 0 else r  # no "-0.0"
    if isinstance(values, complex):
        return complex(_round_nested(values.real, decimals), _round_nested(values.imag, decimals))
    return values


def _plain(x):
    """A tensor, array or NumPy scalar as Python numbers (nested lists for arrays)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return x.tolist() if x.dim() else x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x.item()


def fmt(x, decimals: int = 4) -> str:
    """Round ``x`` (tensor, array, number or nested list/tuple of them) to ``decimals`` >= 0 places, as text.

    The same text comes out on CPU and GPU, whatever the last bits of a float are, so
    ``print(fmt(y))`` is safe to store in an nbval baseline. Complex numbers are rounded part by part;
    ints, bools, strings and None are shown as they are; NaN and inf as ``nan`` and ``inf``.
    """
    decimals = check_int(decimals, "decimals", minimum=0)
    if isinstance(x, (torch.Tensor, np.ndarray, np.generic)):
        x = _plain(x)
    if isinstance(x, (list, tuple, float, complex)):
        return str(_round_nested(x, decimals))
    if isinstance(x, (int, bool, str)) or x is None:
        return str(x)
    raise TypeError(f"x must be a tensor, array, number or list, got {type(x).__name__}")
