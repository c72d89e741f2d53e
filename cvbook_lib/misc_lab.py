"""Chapter 14's small experiments: transfer learning between two halves of scikit-learn's digits, and data on
which a CNN loses its edge.

- :func:`digits_transfer_split`: a *source* task (digits 0–4) and a *target* task (digits 5–9, relabelled
  0–4), each split into train and test (offline: the set ships with scikit-learn).
- :func:`few_shot`: the first ``per_class`` samples of each class after a seeded shuffle.
- :class:`Frozen`: a module that stays in eval mode with ``requires_grad=False`` — freezing a block means
  both (a frozen BN that keeps updating its running statistics in training mode is not frozen).
- :func:`transfer_model` and :func:`fine_tune`: the ways to reuse a trained network (Yosinski et al. 2014,
  "How transferable are features in deep neural networks?", arXiv 1411.1792): a linear probe on frozen
  features, fine-tuning the last block, full fine-tuning at the source's learning rate or a smaller one for
  the pretrained body, and training from scratch.
- :func:`permute_pixels` and :class:`DigitsMLP`: a fixed random permutation of the pixels destroys the local
  correlation a convolution exploits, while an MLP, which never used it, is unaffected.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ._checks import check_choice, check_float, check_int, check_tensor
from .compress.lab import DigitsCNN, _check_data, _fit

__all__ = [
    "digits_transfer_split",
    "few_shot",
    "Frozen",
    "STRATEGIES",
    "transfer_model",
    "fine_tune",
    "permute_pixels",
    "DigitsMLP",
]

STRATEGIES = ("linear_probe", "last_block", "full", "full_small_lr", "scratch")


def digits_transfer_split(seed: int = 0, test_size: float = 0.3) -> dict:
    """scikit-learn's digits divided by 16, the classes 0–4 as the source task and 5–9 (minus 5) as the target
    task, each split by ``train_test_split(..., stratify=y, random_state=seed)``.

    Returns: {"source": (x_train, y_train, x_test, y_test), "target": (...)} with x Tensor[N, 1, 8, 8] float32
    in [0, 1] and y Tensor[N] int64 in 0..4.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    seed = check_int(seed, "seed", 0, 2**32 - 1)
    test_size = check_float(test_size, "test_size", 0.05, 0.95)
    data = load_digits()
    x, y = data.images.astype("float32") / 16.0, data.target.astype("int64")
    out = {}
    for task, low in (("source", 0), ("target", 5)):
        keep = (y >= low) & (y < low + 5)
        parts = train_test_split(x[keep], y[keep] - low, test_size=test_size, random_state=seed, stratify=y[keep])
        x_tr, x_te, y_tr, y_te = (torch.from_numpy(a) for a in parts)
        out[task] = (x_tr.unsqueeze(1).contiguous(), y_tr, x_te.unsqueeze(1).contiguous(), y_te)
    return out


def few_shot(x: torch.Tensor, y: torch.Tensor, per_class: int | None, seed: int = 0):
    """The first ``per_class`` samples of every class of ``y`` after a permutation drawn with ``seed`` (None:
    all of them, permuted). x (Tensor[N, ...]), y (Tensor[N] int64). Returns (x_sub, y_sub), class-balanced
    and in the permuted order; raises ValueError if a class has fewer than ``per_class`` samples."""
    check_tensor(x, "x", min_ndim=1)
    check_tensor(y, "y", ndims=(1,), kind="int")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same first dimension, got {len(x)} and {len(y)}")
    seed = check_int(seed, "seed", 0, 2**63 - 1)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed)).to(y.device)
    if per_class is None:
        return x[perm], y[perm]
    per_class = check_int(per_class, "per_class", 1)
    if len(y) and y.min() < 0:
        raise ValueError(f"y must hold class indices >= 0, got a minimum of {int(y.min())}")
    counts = torch.bincount(y)
    if len(y) == 0 or counts[counts > 0].min() < per_class:
        smallest = int(counts[counts > 0].min()) if len(y) else 0
        raise ValueError(f"per_class must be at most the smallest class size in y ({smallest}), got {per_class}")
    yp = y[perm]
    rank = torch.zeros_like(yp)
    for c in torch.unique(yp):  # the running index of each sample within its class
        idx = (yp == c).nonzero().squeeze(1)
        rank[idx] = torch.arange(len(idx), device=y.device)
    keep = perm[rank < per_class]
    return x[keep], y[keep]


class Frozen(nn.Module):
    """Wraps ``module`` so that it is not trained: its parameters get ``requires_grad=False`` and it stays in
    eval mode whatever ``train()`` is called with (BN uses and keeps its running statistics)."""

    def __init__(self, module: nn.Module):
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
        super().__init__()
        self.module = module.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> Frozen:
        self.training = False
        self.module.eval()
        return self

    def forward(self, x):
        return self.module(x)


def transfer_model(source: DigitsCNN, strategy: str, num_classes: int = 5, seed: int = 0):
    """A new model for the target task built from ``source`` (which is left unchanged), and Adam's parameter
    groups for it.

    strategy: 'linear_probe' (all of ``features`` frozen, a new head trained), 'last_block' (the first two
    conv blocks frozen, the third block and a new head trained), 'full' (everything trained at the base lr),
    'full_small_lr' (the pretrained body at lr/10, the new head at lr), 'scratch' (a new DigitsCNN of the
    same width). The new head is ``nn.Linear(2w, num_classes)`` initialised with ``seed``.
    Returns: (model, groups) where groups is a list of {"params": [...], "lr_scale": float}.
    """
    if not isinstance(source, DigitsCNN):
        raise TypeError(f"source must be a DigitsCNN, got {type(source).__name__}")
    strategy = check_choice(strategy, "strategy", STRATEGIES)
    num_classes = check_int(num_classes, "num_classes", 2)
    seed = check_int(seed, "seed", 0, 2**63 - 1)
    width = source.features[0].out_channels
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitsCNN(width) if strategy == "scratch" else copy.deepcopy(source)
        model.classifier[2] = nn.Linear(2 * width, num_classes)
    model = model.to(next(source.parameters()).device)
    head = list(model.classifier.parameters())
    if strategy == "linear_probe":
        model.features = Frozen(model.features)
        body = []
    elif strategy == "last_block":
        f = model.features
        model.features = nn.Sequential(Frozen(f[:6]), *f[6:])
        body = list(model.features[1:].parameters())
    else:
        body = list(model.features.parameters())
    scale = 0.1 if strategy == "full_small_lr" else 1.0
    groups = [{"params": head, "lr_scale": 1.0}] + ([{"params": body, "lr_scale": scale}] if body else [])
    return model, groups


def fine_tune(
    model: nn.Module,
    groups: list,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    lr: float = 1e-2,
    batch_size: int = 32,
    seed: int = 0,
) -> dict:
    """Train ``model`` in place on (x, y) with Adam, each group of :func:`transfer_model` at ``lr *
    lr_scale``, by ``compress.lab``'s loop. Returns its history {"loss": [...], "accuracy": [...]}."""
    _check_data(model, x, y)
    if not isinstance(groups, list) or not all(isinstance(g, dict) and "params" in g for g in groups):
        raise TypeError("groups must be the list of {'params': ..., 'lr_scale': ...} that transfer_model returns")
    epochs, batch_size = check_int(epochs, "epochs", 1), check_int(batch_size, "batch_size", 1)
    lr = check_float(lr, "lr", 0.0, min_open=True, allow_inf=False)
    seed = check_int(seed, "seed", 0, 2**63 - 1)
    params = [{"params": g["params"], "lr": lr * float(g.get("lr_scale", 1.0))} for g in groups]
    return _fit(model, x.contiguous(), y, epochs, lr, batch_size, seed, {}, None, params=params)


def permute_pixels(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The images x (Tensor[N, C, H, W]) with their H·W pixel positions shuffled by one fixed permutation drawn
    with ``seed`` (the same for every image and channel): no information is lost, only the neighbourhoods."""
    check_tensor(x, "x", ndims=(4,))
    seed = check_int(seed, "seed", 0, 2**63 - 1)
    n, c, h, w = x.shape
    perm = torch.randperm(h * w, generator=torch.Generator().manual_seed(seed)).to(x.device)
    return x.reshape(n, c, h * w)[:, :, perm].reshape(n, c, h, w)


class DigitsMLP(nn.Sequential):
    """flatten → linear(64 → hidden) → ReLU → linear(hidden → hidden) → ReLU → linear(hidden → num_classes), for
    x (Tensor[N, 1, 8, 8]): a model that treats the 64 pixels as an unordered feature vector."""

    def __init__(self, hidden: int = 64, num_classes: int = 10):
        hidden = check_int(hidden, "hidden", 1)
        num_classes = check_int(num_classes, "num_classes", 2)
        super().__init__(
            nn.Flatten(),
            nn.Linear(64, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )
