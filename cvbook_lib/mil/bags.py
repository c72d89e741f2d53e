"""MNIST-bags from scikit-learn's 8×8 digits, training and scoring of MIL models (Ilse et al. 2018).
Overview: :mod:`cvbook_lib.mil`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .._checks import _short, check_choice, check_float, check_int, check_tensor
from ..metrics import roc_auc_score
from .pooling import MILClassifier

__all__ = ["make_digit_bags", "train_mil", "mil_accuracy", "instance_auc"]

_TEST_SHARE = 0.3  # of the 1,797 digits, held out (fixed permutation, seed 0) for split='test'


def _pool(split: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # bundled with scikit-learn, no download

    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    cut = int(round(len(order) * (1 - _TEST_SHARE)))
    idx = order[:cut] if split == "train" else order[cut:]
    return digits.images[idx].astype(np.float32) / 16.0, digits.target[idx]


def make_digit_bags(
    n_bags: int,
    bag_size=(5, 15),
    positive_digit: int = 9,
    positive_fraction: float = 0.5,
    seed: int = 0,
    split: str = "train",
):
    """MNIST-bags (Ilse et al. 2018) from ``sklearn.datasets.load_digits`` (8×8, scaled to [0, 1]).

    A bag is positive iff it holds at least one image of ``positive_digit``. Instances are drawn (without
    replacement within a bag) from the digits of ``split``: a fixed permutation (seed 0) holds out 30 % of the
    1,797 images for 'test', so test bags never reuse a training image. Exactly ``round(n_bags ·
    positive_fraction)`` bags are positive, in random order; the number of positives in a positive bag is
    Binomial(K, p) conditioned on >= 1, p the digit's share of the pool (about 1/10), as in bags drawn at random.

    n_bags (int >= 1); bag_size (int K >= 1 or a pair (lo, hi), 1 <= lo <= hi: K uniform in [lo, hi]);
    positive_digit (int in 0..9); positive_fraction (float in [0, 1]); seed (int >= 0); split ('train' or 'test').
    Returns: ``(bags, labels, instance_labels)``: bags a list of Tensor[K_i, 1, 8, 8] float32; labels
    Tensor[n_bags] int64 (1 = positive); instance_labels a list of Tensor[K_i] int64 (1 = the positive digit).
    """
    n_bags = check_int(n_bags, "n_bags", 1)
    if isinstance(bag_size, (tuple, list)):
        if len(bag_size) != 2:
            raise ValueError(f"bag_size must be an int or a pair (lo, hi), got {bag_size!r}")
        lo = check_int(bag_size[0], "bag_size", 1)
        hi = check_int(bag_size[1], "bag_size", lo)
    else:
        lo = hi = check_int(bag_size, "bag_size", 1)
    positive_digit = check_int(positive_digit, "positive_digit", 0, 9)
    positive_fraction = check_float(positive_fraction, "positive_fraction", 0.0, 1.0)
    seed = check_int(seed, "seed", 0)
    split = check_choice(split, "split", ("train", "test"))
    images, target = _pool(split)
    pos_idx, neg_idx = np.flatnonzero(target == positive_digit), np.flatnonzero(target != positive_digit)
    if hi > len(neg_idx):
        raise ValueError(f"bag_size must be at most {len(neg_idx)} (the negative images of split {split!r}), got {hi}")
    p = len(pos_idx) / len(target)
    rng = np.random.default_rng(seed)
    n_pos = int(round(n_bags * positive_fraction))
    labels = rng.permutation(np.r_[np.ones(n_pos, dtype=np.int64), np.zeros(n_bags - n_pos, dtype=np.int64)])
    bags, instance_labels = [], []
    for label in labels:
        k = int(rng.integers(lo, hi + 1))
        m = 0
        while label and m == 0:
            m = min(int(rng.binomial(k, p)), len(pos_idx))
        chosen = np.r_[rng.choice(pos_idx, m, replace=False), rng.choice(neg_idx, k - m, replace=False)]
        order = rng.permutation(k)
        bags.append(torch.from_numpy(images[chosen[order]][:, None].copy()))  # [K, 1, 8, 8]
        instance_labels.append(torch.from_numpy((np.arange(k) < m)[order].astype(np.int64)))
    return bags, torch.from_numpy(labels), instance_labels


def _bags(bags, labels, name: str = "labels") -> tuple[list, torch.Tensor]:
    if not isinstance(bags, Sequence) or isinstance(bags, (str, torch.Tensor)) or len(bags) == 0:
        raise TypeError(f"bags must be a non-empty list of tensors [K, *instance], got {_short(bags)}")
    for i, b in enumerate(bags):
        check_tensor(b, f"bags[{i}]", min_ndim=1)
    check_tensor(labels, name, kind="any")
    if tuple(labels.shape) != (len(bags),):
        raise ValueError(f"{name} must have shape ({len(bags)},) (one per bag), got {tuple(labels.shape)}")
    return list(bags), labels


def _binary(labels: torch.Tensor, name: str = "labels") -> torch.Tensor:
    if labels.dtype != torch.bool:
        check_tensor(labels, name, kind="real")
    if not bool(((labels == 0) | (labels == 1)).all()):
        raise ValueError(f"{name} must hold 0/1 labels, got {_short(labels)}")
    return labels.to(torch.float32)


def train_mil(
    model: MILClassifier, bags, labels, epochs: int = 10, lr: float = 5e-4, seed: int = 0, weight_decay: float = 1e-4
) -> list[float]:
    """Train a MIL model one bag per step (Adam, β = (0.9, 0.999), binary cross-entropy on the bag logit), as
    Ilse et al. 2018 (their lr 5e-4, weight decay 1e-4). The model is trained in place (left in train mode).

    model (:class:`MILClassifier`); bags (list of Tensor[K_i, *instance]); labels (Tensor[n_bags] of 0/1);
    epochs (int >= 1); lr (float > 0); seed (int >= 0: the order of the bags in each epoch); weight_decay
    (finite float >= 0).
    Returns: the mean loss of each epoch (list of floats).
    """
    if not isinstance(model, MILClassifier):
        raise TypeError(f"model must be a MILClassifier, got {type(model).__name__}")
    bags, labels = _bags(bags, labels)
    y = _binary(labels)
    epochs = check_int(epochs, "epochs", 1)
    lr = check_float(lr, "lr", 0.0, min_open=True, allow_inf=False)
    seed = check_int(seed, "seed", 0)
    weight_decay = check_float(weight_decay, "weight_decay", 0.0, allow_inf=False)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), weight_decay=weight_decay, foreach=True)
    g = torch.Generator().manual_seed(seed)
    model.train()
    history = []
    for _ in range(epochs):
        total = 0.0
        for i in torch.randperm(len(bags), generator=g).tolist():
            logit, _ = model(bags[i])
            loss = nn.functional.binary_cross_entropy_with_logits(logit, y[i].to(logit))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        history.append(total / len(bags))
    return history


def _outputs(model, bags) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    if not isinstance(model, MILClassifier):
        raise TypeError(f"model must be a MILClassifier, got {type(model).__name__}")
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return [model(b) for b in bags]
    finally:
        model.train(was)


def mil_accuracy(model: MILClassifier, bags, labels) -> float:
    """Fraction of bags whose predicted label ``logit > 0`` equals ``labels`` (eval mode, no grad).

    model (:class:`MILClassifier`); bags (list of Tensor[K_i, *instance]); labels (Tensor[n_bags] of 0/1)."""
    bags, labels = _bags(bags, labels)
    y = _binary(labels)
    pred = torch.stack([logit for logit, _ in _outputs(model, bags)]).cpu() > 0
    return (pred.float() == y.cpu()).float().mean().item()


def instance_auc(model: MILClassifier, bags, instance_labels, average: str = "bag") -> float:
    """How well the attention weights find the positive instances: ROC AUC of ``a_k`` against instance labels.

    model (an attention or gated :class:`MILClassifier`); bags (list of Tensor[K_i, *instance]);
    instance_labels (list of Tensor[K_i] of 0/1); average ('bag': the mean, over the bags holding both
    positive and negative instances, of the AUC within the bag (does the bag rank its own positives first?);
    'pooled': one AUC over all instances of all bags; weights of bags of different sizes are then compared).
    Returns: float in [0, 1] (NaN without a bag / instance set holding both classes). AUC: cvbook_lib.metrics.
    """
    average = check_choice(average, "average", ("bag", "pooled"))
    if isinstance(model, MILClassifier) and model.attention is None:
        raise ValueError(f"model must use attention pooling to have instance weights, got pooling={model.pooling!r}")
    if not isinstance(instance_labels, Sequence) or isinstance(instance_labels, (str, torch.Tensor)):
        raise TypeError(f"instance_labels must be a list of tensors [K_i], got {_short(instance_labels)}")
    bags, _ = _bags(bags, torch.zeros(len(instance_labels)), "instance_labels")
    ys = []
    for i, (b, y) in enumerate(zip(bags, instance_labels)):
        check_tensor(y, f"instance_labels[{i}]", ndims=(1,))
        if len(y) != b.shape[0]:
            raise ValueError(f"instance_labels[{i}] must have one label per instance ({b.shape[0]}), got {len(y)}")
        ys.append(_binary(y, f"instance_labels[{i}]").cpu())
    weights = [a.cpu() for _, a in _outputs(model, bags)]
    if average == "pooled":
        y, a = torch.cat(ys), torch.cat(weights)
        return roc_auc_score(y, a) if 0 < y.sum() < len(y) else math.nan
    aucs = [roc_auc_score(y, a) for y, a in zip(ys, weights) if 0 < y.sum() < len(y)]
    return float(np.mean(aucs)) if aucs else math.nan
