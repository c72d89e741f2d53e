"""Small, CPU-sized experiments behind chapter 11 (经典网络): degradation, linear bottlenecks, group
convolutions and skip connections, each as a function the chapter calls and the tests check.

- :class:`ResidualMLP` and :func:`train_classifier`: the degradation problem of He et al. 2015
  (arXiv 1512.03385) on a fully connected stack, plain or residual, with BN.
- :func:`relu_recovery`: MobileNet v2's Figure 1 (Sandler et al. 2018, arXiv 1801.04381) — a 2-D
  manifold embedded in n dimensions by a random matrix, passed through ReLU; which points can still
  be recovered.
- :func:`channel_jacobian`: the channel-to-channel Jacobian of a module at one pixel, which shows
  what a pointwise group convolution cuts off and what channel shuffle restores (ShuffleNet).
- :func:`synthetic_shapes` and :func:`boundary_band`: a segmentation set with known masks, to
  compare a UNet with and without its skips at the object boundaries.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ._checks import check_bool, check_float, check_int, check_tensor
from .losses import cross_entropy
from .optim import Adam

__all__ = ["ResidualMLP", "train_classifier", "relu_recovery", "channel_jacobian", "synthetic_shapes",
           "boundary_band"]


class _Block(nn.Module):
    """Linear → BN → ReLU → Linear → BN, then (+ x) and ReLU: a basic block with fully connected layers."""

    def __init__(self, width: int, shortcut: bool):
        super().__init__()
        self.shortcut = shortcut
        self.body = nn.Sequential(nn.Linear(width, width, bias=False), nn.BatchNorm1d(width), nn.ReLU(),
                                  nn.Linear(width, width, bias=False), nn.BatchNorm1d(width))

    def forward(self, x):
        y = self.body(x)
        return torch.relu(y + x if self.shortcut else y)


class ResidualMLP(nn.Module):
    """A stem (Linear without bias → BN → ReLU), ``num_blocks`` two-layer blocks, and a linear classifier: depth
    2·num_blocks + 2 weight layers. ``shortcut=False`` is the *plain* network with the same layers.

    ``zero_init_residual=True`` starts every block's last BN at γ = 0, so each residual block is the
    identity at initialisation (Goyal et al. 2017; torchvision's ``zero_init_residual``): the deep
    network starts as the shallow one — He et al.'s argument that a deeper model should not be worse.

    x (Tensor[N, in_features]) → Tensor[N, num_classes].
    """

    def __init__(self, in_features: int, width: int, num_blocks: int, num_classes: int, shortcut: bool = True,
                 zero_init_residual: bool = False):
        super().__init__()
        in_features, width = check_int(in_features, "in_features", 1), check_int(width, "width", 1)
        num_blocks, num_classes = check_int(num_blocks, "num_blocks", 0), check_int(num_classes, "num_classes", 1)
        shortcut, zero_init_residual = check_bool(shortcut, "shortcut"), check_bool(zero_init_residual,
                                                                                    "zero_init_residual")
        if zero_init_residual and not shortcut:
            raise ValueError("zero_init_residual=True needs shortcut=True (a plain block with gamma = 0 outputs 0)")
        self.stem = nn.Sequential(nn.Linear(in_features, width, bias=False), nn.BatchNorm1d(width), nn.ReLU())
        self.blocks = nn.Sequential(*[_Block(width, shortcut) for _ in range(num_blocks)])
        self.fc = nn.Linear(width, num_classes)
        if zero_init_residual:
            for block in self.blocks:
                nn.init.zeros_(block.body[4].weight)

    def forward(self, x):
        check_tensor(x, "x", ndims=(2,), kind="float")
        return self.fc(self.blocks(self.stem(x)))


def train_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float = 1e-3,
                     batch_size: int = 128, seed: int = 0) -> list[float]:
    """Train ``model`` with Adam (cvbook_lib.optim) and cross-entropy on shuffled mini-batches; returns
    the training error of every epoch (the fraction of wrong arg-max predictions over the epoch's
    batches, in training mode — the curves of He et al.'s Figure 1).

    x (Tensor[N, ...]); y (Tensor[N] or Tensor[N, H, W]: labels, for classification or per-pixel
    segmentation). The model is left in training mode.
    """
    x = check_tensor(x, "x", kind="float", min_ndim=1)
    y = check_tensor(y, "y", kind="int", min_ndim=1)
    if y.shape[0] != x.shape[0] or x.shape[0] == 0:
        raise ValueError(f"x and y must have the same non-zero first dimension, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    epochs, batch_size = check_int(epochs, "epochs", 1), check_int(batch_size, "batch_size", 1)
    lr = check_float(lr, "lr", 0.0, min_open=True, allow_inf=False)
    seed = check_int(seed, "seed", 0)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    was_training = model.training
    model.eval()                                  # a probe that changes nothing (no BN statistics, no grad)
    try:
        with torch.no_grad():
            probe = model(x[:1])
    except Exception as err:  # noqa: BLE001 - the model's own error, named after the argument
        raise ValueError(f"model cannot take x of shape {tuple(x.shape)}: {err}") from err
    finally:
        model.train(was_training)
    if probe.dim() < 2 or probe.shape[2:] != y.shape[1:]:
        raise ValueError(f"y of shape {tuple(y.shape)} does not match the model's output {tuple(probe.shape)}")
    if y.min() < 0 or y.max() >= probe.shape[1]:
        raise ValueError(f"y must hold class indices in [0, {probe.shape[1]}), got values in "
                         f"[{y.min().item()}, {y.max().item()}]")
    opt, gen, history = Adam(model.parameters(), lr=lr), torch.Generator().manual_seed(seed), []
    model.train()
    for _ in range(epochs):
        perm, wrong = torch.randperm(len(x), generator=gen), 0
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size].to(x.device)
            logits = model(x[idx])
            loss = cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            wrong += (logits.argmax(1) != y[idx]).sum().item()
        history.append(wrong / y.numel())
    return history


def relu_recovery(dims, n_points: int = 400, seed: int = 0) -> dict:
    """MobileNet v2's Figure 1: a 2-D spiral x is embedded as T·x with a random T (n×2, Gaussian),
    passed through ReLU, and recovered by least squares from the coordinates ReLU kept
    (y_i = (T x)_i > 0). A point is recoverable when the kept rows of T have rank 2; otherwise ReLU
    has destroyed the information and no projection can bring it back.

    Returns {n: (fraction of points recoverable, Tensor[n_points, 2] recovered points — NaN where
    not recoverable)} and the spiral under the key ``"x"``. Float64 throughout.
    """
    dims = [check_int(n, "dims", 1) for n in (dims if isinstance(dims, (list, tuple)) else [dims])]
    if not dims:
        raise ValueError("dims must name at least one dimension")
    n_points, seed = check_int(n_points, "n_points", 1), check_int(seed, "seed", 0)
    gen = torch.Generator().manual_seed(seed)
    t = torch.linspace(0.5, 3 * math.pi, n_points, dtype=torch.float64)  # away from the origin
    x = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / (3 * math.pi)   # [P, 2]
    out = {"x": x}
    for n in dims:
        T = torch.randn(n, 2, generator=gen, dtype=torch.float64)
        y = torch.relu(x @ T.T)                                                 # [P, n]
        kept = (y > 0).double()                                                 # [P, n]
        gram = torch.einsum("pi,ij,ik->pjk", kept, T, T)                        # Σ_kept t_i t_iᵀ: [P, 2, 2]
        ok = torch.linalg.det(gram) > 1e-9 * gram.diagonal(dim1=1, dim2=2).sum(1).square()
        rhs = torch.einsum("pi,ij->pj", y, T)                                   # T_keptᵀ y_kept (y = 0 elsewhere)
        solved = torch.linalg.solve(torch.where(ok[:, None, None], gram, torch.eye(2, dtype=gram.dtype)), rhs)
        rec = torch.where(ok[:, None], solved, torch.full_like(solved, float("nan")))
        out[n] = (ok.double().mean().item(), rec)
    return out


def channel_jacobian(module: nn.Module, channels: int) -> torch.Tensor:
    """|∂ output channel / ∂ input channel| of ``module`` at a random 1×1 input (float64, eval mode):
    Tensor[C_out, C_in]. Zero blocks are channels that cannot see each other."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    channels = check_int(channels, "channels", 1)
    m = module.double().eval()
    x = torch.randn(1, channels, 1, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: m(v.view(1, channels, 1, 1)).flatten(), x.flatten())
    return jac.abs()


def synthetic_shapes(n: int, size: int = 32, noise: float = 0.25, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` grey images with 1–3 discs and squares (radius 3–8 pixels) on a noisy background and their
    masks: (Tensor[n, 1, size, size] float32, Tensor[n, size, size] int64 in {0, 1})."""
    n, size = check_int(n, "n", 1), check_int(size, "size", 12)
    noise, seed = check_float(noise, "noise", 0.0, allow_inf=False), check_int(seed, "seed", 0)
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    masks = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        for _ in range(int(torch.randint(1, 4, (1,), generator=gen))):
            cx, cy = torch.randint(4, size - 4, (2,), generator=gen).tolist()
            r = int(torch.randint(3, 9, (1,), generator=gen))
            disc = torch.rand(1, generator=gen).item() < 0.5
            square = ((xx - cx).abs() <= r) & ((yy - cy).abs() <= r)
            shape = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r if disc else square
            masks[i][shape] = 1
    images = masks.float() * 0.6 + 0.2 + noise * torch.randn(n, size, size, generator=gen)
    return images.unsqueeze(1), masks


def boundary_band(mask: torch.Tensor, width: int = 1) -> torch.Tensor:
    """Pixels within ``width`` pixels (chessboard distance) of a change of label: mask (Tensor[N, H, W]
    integer) → Tensor[N, H, W] bool. Accuracy on this band measures boundary quality."""
    mask = check_tensor(mask, "mask", ndims=(3,), kind="int")
    width = check_int(width, "width", 1)
    if mask.numel() == 0:
        return torch.zeros(mask.shape, dtype=torch.bool, device=mask.device)
    f = mask.unsqueeze(1).double()
    k = 2 * width + 1
    hi = torch.nn.functional.max_pool2d(f, k, 1, width)
    lo = -torch.nn.functional.max_pool2d(-f, k, 1, width)
    return (hi != lo).squeeze(1)
