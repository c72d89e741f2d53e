"""Contract cases for cvbook_lib.compress.nas (no reference library: tests/test_compress_nas.py checks each
against the profiler, its definition or a stand-alone child). Training calls are light (refusals only)."""

import torch

from contract_specs import Case
from cvbook_lib.compress import nas as N

_G = torch.Generator().manual_seed(0)
_X, _Y = torch.rand(12, 1, 8, 8, generator=_G), torch.arange(12) % 10
_TABLE = {a: dict(accuracy=0.05 * i, params=i, macs=i) for i, a in enumerate(N._CHILDREN)}
torch.manual_seed(0)
_NET = N.Supernet()


def _run(model):
    model.eval()
    with torch.no_grad():
        return model(_X[:2])


SPECS = {
    N.build_child: [Case(N.build_child, dict(depth=2, width=4, kernel=3, num_classes=10), out=_run)],
    N.child_table: [Case(N.child_table, dict(x_train=_X, y_train=_Y, x_val=_X, y_val=_Y, epochs=1, seed=0),
                         light=True)],
    N.random_search: [Case(N.random_search, dict(table=_TABLE, budget=4, seed=1))],
    N.reinforce_search: [Case(N.reinforce_search, dict(table=_TABLE, budget=4, seed=1, lr=0.5, baseline_decay=0.8,
                                                       max_samples=200))],
    N.Supernet: [Case(N.Supernet, dict(), out=lambda net: net(_X[:3], (2, 8, 3)).detach())],
    N.train_supernet: [Case(N.train_supernet, dict(x=_X, y=_Y, steps=2, lr=1e-2, batch_size=4, seed=0),
                            light=True)],
    N.supernet_accuracy: [Case(N.supernet_accuracy, dict(net=_NET, arch=(3, 16, 5), x=_X, y=_Y))],
}
