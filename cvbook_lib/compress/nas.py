"""A neural architecture search small enough to run in seconds, and honest about what it shows.

The search space: ``depth`` conv blocks (3×3 or 5×5 kernels, ``width`` channels, BN, ReLU) on 8×8
digits, then global average pooling and a linear classifier — 3 × 3 × 2 = 18 children
(:data:`SEARCH_SPACE`). Every child is trained once (:func:`child_table`), as the tabular benchmarks
NAS-Bench-101/201 do (Ying et al. 2019, arXiv 1902.09635; Dong & Yang 2020, arXiv 2001.00326): the
searchers then query the table, so comparing them over many seeds costs nothing.

- :func:`random_search`: children drawn without replacement — the baseline that Li & Talwalkar 2019
  (arXiv 1902.07638) found hard to beat.
- :func:`reinforce_search`: a factorised softmax policy (one categorical distribution per decision;
  Zoph & Le 2017, arXiv 1611.01578, use an RNN controller that conditions each decision on the
  previous ones) trained with REINFORCE (Williams 1992) and an exponential moving-average baseline.
  Both count the budget in distinct children trained.
- :class:`Supernet` and :func:`train_supernet`: weight sharing (ENAS, Pham et al. 2018, arXiv
  1802.03268): every child is a slice of one network — its first ``depth`` blocks, first ``width``
  channels and the centre ``kernel``×``kernel`` of the 5×5 kernels — trained by sampling one child per
  step (uniform path sampling, Guo et al. 2020, arXiv 1904.00420, where ENAS samples with its
  controller). :func:`supernet_accuracy` evaluates a child with the shared weights, without training it.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import check_float, check_int, check_tensor
from ..arch_lab import train_classifier
from .lab import accuracy

__all__ = ["SEARCH_SPACE", "build_child", "child_table", "random_search", "reinforce_search", "Supernet",
           "train_supernet", "supernet_accuracy"]

SEARCH_SPACE = {"depth": (1, 2, 3), "width": (4, 8, 16), "kernel": (3, 5)}
_CHILDREN = list(itertools.product(*SEARCH_SPACE.values()))


def _check_arch(arch, name: str = "arch", names=("depth", "width", "kernel")) -> tuple[int, int, int]:
    """``arch`` as a tuple of ints from the search space; the errors name ``name``."""
    if not isinstance(arch, tuple) or len(arch) != 3:
        raise TypeError(f"{name} must be a (depth, width, kernel) tuple, got {arch!r}")
    arch = tuple(check_int(v, f"{name}[{i}] ({n})") for i, (v, n) in enumerate(zip(arch, names, strict=True)))
    if arch not in _CHILDREN:
        raise ValueError(f"{name} must be a (depth, width, kernel) tuple from SEARCH_SPACE {SEARCH_SPACE}, "
                         f"got {arch!r}")
    return arch


def build_child(depth: int, width: int, kernel: int, num_classes: int = 10) -> nn.Sequential:
    """The child network: ``depth`` × [Conv(kernel, 'same' padding) → BN → ReLU] → GAP → Linear."""
    depth, width, kernel = _check_arch((depth, width, kernel), "(depth, width, kernel)")
    num_classes = check_int(num_classes, "num_classes", 2)
    layers, c_in = [], 1
    for _ in range(depth):
        layers += [nn.Conv2d(c_in, width, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(width),
                   nn.ReLU()]
        c_in = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))


def _check_data(x_train, y_train, x_val, y_val):
    for name, x in (("x_train", x_train), ("x_val", x_val)):
        check_tensor(x, name, ndims=(4,), kind="float")
        if x.shape[1] != 1 or 0 in x.shape:
            raise ValueError(f"{name} must have shape (N, 1, H, W) with N, H, W > 0, got {tuple(x.shape)}")
    for name, y, x in (("y_train", y_train, x_train), ("y_val", y_val, x_val)):
        check_tensor(y, name, ndims=(1,), kind="int")
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"{name} must have one label per image ({x.shape[0]}), got {y.shape[0]}")
        if y.numel() and (y.min() < 0 or y.max() > 9):
            raise ValueError(f"{name} must hold digit labels 0-9, got values in [{int(y.min())}, {int(y.max())}]")


def child_table(x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
                epochs: int = 8, seed: int = 0) -> dict:
    """Train every child of :data:`SEARCH_SPACE` once (Adam, lr 1e-2, batch 64, the same seed for each)
    and return ``{(depth, width, kernel): dict(accuracy, params, macs)}`` — the validation accuracy,
    the parameter count and the multiply-accumulates for one image."""
    _check_data(x_train, y_train, x_val, y_val)
    epochs, seed = check_int(epochs, "epochs", 1), check_int(seed, "seed", 0)
    h, w = x_train.shape[2:]
    table = {}
    for arch in _CHILDREN:
        torch.manual_seed(seed)
        model = build_child(*arch)
        train_classifier(model, x_train, y_train, epochs, lr=1e-2, batch_size=64, seed=seed)
        depth, width, kernel = arch
        macs = h * w * kernel * kernel * width * (1 + (depth - 1) * width) + width * 10
        table[arch] = dict(accuracy=accuracy(model, x_val, y_val), params=sum(p.numel() for p in model.parameters()),
                           macs=macs)
    return table


def _check_search(table, budget, seed, reward):
    if not isinstance(table, dict) or sorted(table) != sorted(_CHILDREN):
        raise ValueError(f"table must be child_table's dict over the {len(_CHILDREN)} children of SEARCH_SPACE, "
                         f"got {type(table).__name__}")
    if not callable(reward):
        raise TypeError(f"reward must be a callable taking a table entry, got {type(reward).__name__}")
    return check_int(budget, "budget", 1, len(_CHILDREN)), check_int(seed, "seed", 0)


def _default_reward(entry: dict) -> float:
    return entry["accuracy"]


def random_search(table: dict, budget: int, seed: int = 0, reward=_default_reward) -> list:
    """``budget`` distinct children in a random order; returns ``[(arch, reward), ...]`` in the order tried."""
    budget, seed = _check_search(table, budget, seed, reward)
    order = torch.randperm(len(_CHILDREN), generator=torch.Generator().manual_seed(seed))[:budget]
    return [(_CHILDREN[i], float(reward(table[_CHILDREN[i]]))) for i in order.tolist()]


def reinforce_search(table: dict, budget: int, seed: int = 0, reward=_default_reward, lr: float = 0.5,
                     baseline_decay: float = 0.8, max_samples: int = 1000) -> list:
    """REINFORCE on a factorised policy π(arch) = Π_d softmax(θ_d)[choice_d]: sample a child, look up its
    reward R, step θ ← θ + lr·(R − b)·∇log π(arch), b ← decay·b + (1 − decay)·R. A child sampled again
    costs nothing (its result is known); the search stops after ``budget`` distinct children (or
    ``max_samples`` samples). Returns the distinct children ``[(arch, reward), ...]`` in the order found."""
    budget, seed = _check_search(table, budget, seed, reward)
    lr = check_float(lr, "lr", 0.0, min_open=True, allow_inf=False)
    baseline_decay = check_float(baseline_decay, "baseline_decay", 0.0, 1.0)
    max_samples = check_int(max_samples, "max_samples", 1)
    g = torch.Generator().manual_seed(seed)
    logits = [torch.zeros(len(v), dtype=torch.float64) for v in SEARCH_SPACE.values()]
    found, baseline = {}, None
    for _ in range(max_samples):
        probs = [torch.softmax(t, 0) for t in logits]
        picks = [int(torch.multinomial(p, 1, generator=g)) for p in probs]
        arch = tuple(v[i] for v, i in zip(SEARCH_SPACE.values(), picks, strict=True))
        r = found.setdefault(arch, float(reward(table[arch])))
        baseline = r if baseline is None else baseline
        for t, p, i in zip(logits, probs, picks, strict=True):
            grad = -p                                   # ∇_θ log softmax(θ)[i] = onehot(i) − p
            grad[i] += 1
            t += lr * (r - baseline) * grad
        baseline = baseline_decay * baseline + (1 - baseline_decay) * r
        if len(found) == budget:
            break
    return list(found.items())


class Supernet(nn.Module):
    """One network holding every child: 3 blocks of 5×5 convs with 16 channels (BN without running
    statistics: a batch's own statistics, as the slices change from step to step), a 16 → 10 head.
    ``forward(x, arch)`` runs the child ``arch`` = (depth, width, kernel) on the shared weights."""

    def __init__(self):
        super().__init__()
        d, w, k = (max(v) for v in SEARCH_SPACE.values())
        self.convs = nn.ParameterList([nn.Parameter(torch.empty(w, 1 if i == 0 else w, k, k)) for i in range(d)])
        for p in self.convs:
            nn.init.kaiming_uniform_(p, a=math.sqrt(5))   # nn.Conv2d's default initialisation
        self.bn_weight = nn.Parameter(torch.ones(d, w))
        self.bn_bias = nn.Parameter(torch.zeros(d, w))
        self.head = nn.Linear(w, 10)

    def forward(self, x: torch.Tensor, arch: tuple) -> torch.Tensor:
        depth, width, kernel = _check_arch(arch)
        check_tensor(x, "x", ndims=(4,), kind="float")
        if x.dtype != self.head.weight.dtype or x.shape[1] != 1 or 0 in x.shape:
            raise ValueError(f"x must be a non-empty (N, 1, H, W) tensor of the supernet's dtype "
                             f"{self.head.weight.dtype}, got {tuple(x.shape)} {x.dtype}")
        off = (self.convs[0].shape[-1] - kernel) // 2   # the centre kernel×kernel of the largest kernel
        for i in range(depth):
            weight = self.convs[i][:width, : 1 if i == 0 else width, off:off + kernel, off:off + kernel]
            x = F.conv2d(x, weight, padding=kernel // 2)
            x = F.relu(F.batch_norm(x, None, None, self.bn_weight[i, :width], self.bn_bias[i, :width], training=True))
        x = x.mean((2, 3))
        return F.linear(x, self.head.weight[:, :width], self.head.bias)


def train_supernet(x: torch.Tensor, y: torch.Tensor, steps: int = 600, lr: float = 1e-2, batch_size: int = 64,
                   seed: int = 0) -> Supernet:
    """Train a :class:`Supernet` for ``steps`` mini-batches, each through one child drawn uniformly."""
    _check_data(x, y, x, y)
    steps, batch_size = check_int(steps, "steps", 1), check_int(batch_size, "batch_size", 1)
    seed = check_int(seed, "seed", 0)
    lr = check_float(lr, "lr", 0.0, min_open=True, allow_inf=False)
    torch.manual_seed(seed)
    net, g = Supernet(), torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch_size,), generator=g)
        arch = _CHILDREN[int(torch.randint(0, len(_CHILDREN), (1,), generator=g))]
        loss = F.cross_entropy(net(x[idx], arch), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def supernet_accuracy(net: Supernet, arch: tuple, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of the child ``arch`` with the supernet's shared weights (the whole set as one batch)."""
    if not isinstance(net, Supernet):
        raise TypeError(f"net must be a Supernet, got {type(net).__name__}")
    _check_arch(arch)
    _check_data(x, y, x, y)
    with torch.no_grad():
        return (net(x, arch).argmax(1) == y).float().mean().item()
