"""cvbook_lib.compress.nas: the children against the profiler and their definition, the searchers against
properties (distinct children, the budget, a policy that learns), the supernet against stand-alone children
holding the same weights."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn as nn

from cvbook_lib.compress import nas as N
from cvbook_lib.profile import profile

ALL = list(itertools.product(*N.SEARCH_SPACE.values()))


def _data(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), torch.arange(n) % 10


@pytest.fixture(scope="module")
def table():
    x, y = _data()
    return N.child_table(x, y, x, y, epochs=1)


def test_search_space_has_18_children():
    assert len(ALL) == 18 and ALL == N._CHILDREN


@pytest.mark.parametrize("arch", ALL)
def test_child_params_and_macs_match_the_profiler(arch, table):
    depth, width, kernel = arch
    model = N.build_child(*arch)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    assert len(convs) == depth and all(c.kernel_size == (kernel, kernel) and c.out_channels == width for c in convs)
    expected = kernel * kernel * width * (1 + (depth - 1) * width) + 2 * width * depth + width * 10 + 10
    assert table[arch]["params"] == expected == sum(p.numel() for p in model.parameters())
    assert table[arch]["macs"] == profile(model, (1, 8, 8)).macs
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert 0.0 <= table[arch]["accuracy"] <= 1.0


def test_random_search_draws_distinct_children_deterministically(table):
    for budget in (1, 5, 18):
        runs = [N.random_search(table, budget, seed=s) for s in (3, 3, 4)]
        assert runs[0] == runs[1] and len(runs[0]) == budget
        assert len({a for a, _ in runs[0]}) == budget
        assert all(r == table[a]["accuracy"] for a, r in runs[0])
    assert sorted(a for a, _ in N.random_search(table, 18, seed=0)) == sorted(ALL)


def test_reinforce_finds_distinct_children_with_their_rewards(table):
    found = N.reinforce_search(table, 7, seed=2)
    assert len(found) == 7 and len({a for a, _ in found}) == 7
    assert all(r == table[a]["accuracy"] for a, r in found)
    assert N.reinforce_search(table, 7, seed=2) == found


def test_reinforce_learns_to_prefer_the_rewarded_decision(table):
    """Reward 1 for depth 3, 0 otherwise: the policy moves toward depth 3, so among the first 6 children it
    finds, depth 3 is more frequent than the 1/3 of random search (200 seeds; random's share is exactly 1/3
    in expectation; REINFORCE's, measured at lr 0.25 / 0.5 / 1 / 2: 0.35 / 0.39 / 0.43 / 0.48 — the policy
    needs a few samples to move, and children sampled again do not count)."""
    def reward(e):
        return float(e["params"] in {table[a]["params"] for a in ALL if a[0] == 3})

    share_rl = np.mean([[a[0] == 3 for a, _ in N.reinforce_search(table, 6, s, reward, lr=2.0)] for s in range(200)])
    share_rs = np.mean([[a[0] == 3 for a, _ in N.random_search(table, 6, s, reward)] for s in range(200)])
    assert abs(share_rs - 1 / 3) < 0.04
    assert share_rl > share_rs + 0.1


def test_constant_reward_leaves_the_policy_uniform(table):
    """R − b = 0 at every step: the first child is uniform over the 18 (χ² over 1800 seeds)."""
    first = [N.reinforce_search(table, 2, s, lambda e: 0.5)[1][0] for s in range(1800)]
    counts = np.array([first.count(a) for a in ALL])
    chi2 = ((counts - 100) ** 2 / 100).sum()
    assert chi2 < 40.8   # the 0.999 quantile of χ²(17)


@pytest.mark.parametrize("arch", [(1, 4, 3), (2, 8, 5), (3, 16, 3), (3, 16, 5)])
def test_supernet_child_equals_a_standalone_child_with_the_sliced_weights(arch):
    torch.manual_seed(0)
    net, (_, width, kernel) = N.Supernet(), arch
    child = N.build_child(*arch).double().train()
    off = (5 - kernel) // 2
    convs = [m for m in child if isinstance(m, nn.Conv2d)]
    bns = [m for m in child if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for i, (c, b) in enumerate(zip(convs, bns)):
            c.weight.copy_(net.convs[i][:width, : c.in_channels, off:off + kernel, off:off + kernel])
            b.weight.copy_(net.bn_weight[i, :width])
            b.bias.copy_(net.bn_bias[i, :width])
        child[-1].weight.copy_(net.head.weight[:, :width])
        child[-1].bias.copy_(net.head.bias)
    x = _data(6)[0].double()
    torch.testing.assert_close(net.double()(x, arch), child(x))


def test_train_supernet_learns_the_training_set():
    x, y = _data(80, seed=1)
    patterns = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    x = 0.3 * x + patterns[y]                      # a class-dependent image plus noise
    net = N.train_supernet(x, y, steps=1, seed=0)
    trained = N.train_supernet(x, y, steps=300, seed=0)
    before = np.mean([N.supernet_accuracy(net, a, x, y) for a in ALL])
    after = np.mean([N.supernet_accuracy(trained, a, x, y) for a in ALL])
    assert after > before + 0.2


def test_bad_inputs(table):
    x, y = _data(10)
    with pytest.raises(ValueError, match="depth, width, kernel"):
        N.build_child(4, 8, 3)
    with pytest.raises(ValueError, match="budget"):
        N.random_search(table, 19)
    with pytest.raises(ValueError, match="table"):
        N.reinforce_search({(1, 4, 3): {}}, 2)
    with pytest.raises(TypeError, match="reward"):
        N.random_search(table, 2, reward="accuracy")
    with pytest.raises(ValueError, match="arch"):
        N.supernet_accuracy(N.Supernet(), (2, 5, 3), x, y)
    with pytest.raises(ValueError, match="y_train"):
        N.child_table(x, y[:5], x, y)
    with pytest.raises(ValueError, match="x_val"):
        N.child_table(x, y, x[:, :, :, None], y)
    with pytest.raises(ValueError, match="baseline_decay"):
        N.reinforce_search(table, 2, baseline_decay=1.5)
