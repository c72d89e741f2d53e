"""cvbook_lib.misc_lab: the transfer split, few-shot subsets, freezing, the transfer strategies and the
pixel permutation, each against its definition (there is no reference library for these experiments)."""

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from cvbook_lib import misc_lab as M
from cvbook_lib.compress.lab import DigitsCNN, train


@pytest.fixture(scope="module")
def tasks():
    return M.digits_transfer_split(seed=0)


@pytest.fixture(scope="module")
def source(tasks):
    torch.manual_seed(0)
    model = DigitsCNN(width=4)
    model.classifier[2] = nn.Linear(8, 5)
    x, y = tasks["source"][:2]
    train(model, x[:200], y[:200], epochs=1, lr=1e-2, seed=0)
    return model


def test_split_partitions_the_digits(tasks):
    digits = load_digits()
    n = {"source": (digits.target < 5).sum(), "target": (digits.target >= 5).sum()}
    for task, (x_tr, y_tr, x_te, y_te) in tasks.items():
        assert len(x_tr) + len(x_te) == n[task]
        assert set(y_tr.tolist()) == set(y_te.tolist()) == set(range(5))
        assert x_tr.shape[1:] == (1, 8, 8) and x_tr.dtype == torch.float32 and 0 <= x_tr.min() <= x_tr.max() <= 1
    # every target image is one of the digits 5..9, relabelled
    pool = {
        tuple((digits.images[i] / 16).round(decimals=4).ravel()): digits.target[i] for i in range(len(digits.target))
    }
    x_tr, y_tr = tasks["target"][:2]
    for img, label in zip(x_tr[:50], y_tr[:50]):
        assert pool[tuple(img.double().numpy().round(4).ravel())] == label + 5


def test_few_shot_is_balanced_and_seeded():
    y = torch.tensor([0] * 7 + [1] * 5 + [2] * 9)
    x = torch.arange(len(y)).float().unsqueeze(1)
    xs, ys = M.few_shot(x, y, 3, seed=0)
    assert torch.bincount(ys).tolist() == [3, 3, 3]
    assert torch.equal(y[xs.squeeze(1).long()], ys)  # the pairs stay together
    assert torch.equal(M.few_shot(x, y, 3, seed=0)[0], xs) and not torch.equal(M.few_shot(x, y, 3, seed=1)[0], xs)
    xa, ya = M.few_shot(x, y, None, seed=0)
    assert sorted(xa.squeeze(1).tolist()) == list(range(len(y)))
    with pytest.raises(ValueError, match="per_class"):
        M.few_shot(x, y, 6)
    with pytest.raises(ValueError, match="same first dimension"):
        M.few_shot(x[:-1], y, 2)


def test_frozen_stays_in_eval_and_gets_no_gradient():
    bn = nn.BatchNorm1d(3)
    frozen = M.Frozen(nn.Sequential(nn.Linear(2, 3), bn))
    stats = bn.running_mean.clone()
    frozen.train()
    out = frozen(torch.randn(8, 2))
    assert not frozen.training and not bn.training and torch.equal(bn.running_mean, stats)
    assert not out.requires_grad and all(not p.requires_grad for p in frozen.parameters())
    with pytest.raises(TypeError, match="module"):
        M.Frozen("conv")


@pytest.mark.parametrize("strategy", M.STRATEGIES)
def test_transfer_model_trains_what_it_says(source, tasks, strategy):
    before = {k: v.clone() for k, v in source.state_dict().items()}
    model, groups = M.transfer_model(source, strategy, num_classes=5, seed=0)
    trained = {id(p) for g in groups for p in g["params"]}
    head = set(map(id, model.classifier.parameters()))
    body = [p for p in model.features.parameters()]
    x, y = tasks["target"][:2]
    snapshot = [p.detach().clone() for p in body]
    M.fine_tune(model, groups, x[:40], y[:40], epochs=1, lr=1e-2, seed=0)
    changed = [not torch.equal(a, p) for a, p in zip(snapshot, body)]
    assert head <= trained
    if strategy == "linear_probe":
        assert not any(changed) and not any(p.requires_grad for p in body)
    elif strategy == "last_block":
        assert not any(changed[:6]) and all(changed[6:])  # conv, BN γ, β of blocks 1-2 frozen; block 3 trained
    else:
        assert all(changed)
    scales = sorted(g["lr_scale"] for g in groups)
    assert scales == ([0.1, 1.0] if strategy == "full_small_lr" else [1.0] * len(groups))
    if strategy != "scratch":  # a copy of the source's body; the source itself is untouched
        assert all(torch.equal(v, source.state_dict()[k]) for k, v in before.items())
    assert model(x[:2]).shape == (2, 5)


def test_small_lr_moves_the_body_less(source, tasks):
    x, y = tasks["target"][:2]
    moved = {}
    for strategy in ("full", "full_small_lr"):
        model, groups = M.transfer_model(source, strategy, seed=0)
        w0 = model.features[0].weight.detach().clone()
        M.fine_tune(model, groups, x[:64], y[:64], epochs=2, lr=1e-2, seed=0)
        moved[strategy] = (model.features[0].weight - w0).norm().item()
    assert moved["full_small_lr"] < 0.5 * moved["full"]


def test_permute_pixels_is_one_fixed_permutation():
    x = torch.rand(5, 2, 8, 8)
    p = M.permute_pixels(x, seed=0)
    assert torch.equal(p.flatten(2).sort(-1).values, x.flatten(2).sort(-1).values)
    # the same permutation for every image and channel: recover it from one and apply it to all
    probe = torch.arange(64.0).reshape(1, 1, 8, 8)
    perm = M.permute_pixels(probe, seed=0).flatten().long()
    assert torch.equal(p.flatten(2), x.flatten(2)[:, :, perm])
    assert not torch.equal(M.permute_pixels(x, seed=1), p)
    with pytest.raises(ValueError, match="x"):
        M.permute_pixels(x[0])


def test_mlp_is_indifferent_to_a_pixel_permutation():
    """An MLP on permuted pixels is the same model with its first layer's columns permuted: equal outputs."""
    torch.manual_seed(0)
    mlp = M.DigitsMLP(16)
    x = torch.rand(4, 1, 8, 8)
    perm = M.permute_pixels(torch.arange(64.0).reshape(1, 1, 8, 8), seed=0).flatten().long()
    twin = M.DigitsMLP(16)
    twin.load_state_dict(mlp.state_dict())
    with torch.no_grad():
        twin[1].weight.copy_(mlp[1].weight[:, perm])
    torch.testing.assert_close(twin(M.permute_pixels(x, seed=0)), mlp(x))
    assert sum(p.numel() for p in mlp.parameters()) == 64 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10


def test_bad_inputs(source):
    with pytest.raises(ValueError, match="strategy"):
        M.transfer_model(source, "half")
    with pytest.raises(TypeError, match="source"):
        M.transfer_model(nn.Linear(2, 2), "full")
    model, groups = M.transfer_model(source, "full")
    with pytest.raises(TypeError, match="groups"):
        M.fine_tune(model, "all", torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long), epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        M.fine_tune(model, groups, torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long), epochs=0)
