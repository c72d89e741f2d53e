"""Contract cases for cvbook_lib.distributed (references: single-process torch training, F.batch_norm and
norm.sync_batch_stats, in tests/test_distributed.py).

The launchers spawn Python processes that import torch (seconds each), so their cases are ``light``: only
the changes that must be refused, all of them before anything is launched. ``lr_scaling_demo`` with
``use_ddp=False`` is single-process arithmetic and gets the whole battery.
"""

import torch

from contract_specs import Case
from cvbook_lib import distributed as D

SPECS = {
    D.run: [Case(D.run, {"fn": D._fail_on_rank, "world_size": 2, "timeout": 30.0}, light=True)],
    D.ddp_matches_single_process: [
        Case(D.ddp_matches_single_process, {"world_size": 2, "steps": 1, "per_rank_batch": 2, "lr": 0.1,
                                            "dtype": torch.float64, "seed": 0, "timeout": 30.0}, light=True),
    ],
    D.syncbn_stats: [
        Case(D.syncbn_stats, {"x": torch.randn(4, 3, 2, generator=torch.Generator().manual_seed(0)),
                              "world_size": 2, "momentum": 0.1, "eps": 1e-5,
                              "grad_output": torch.ones(4, 3, 2), "timeout": 30.0}, light=True),
    ],
    D.lr_scaling_demo: [
        Case(D.lr_scaling_demo, {"lrs": (0.05, 1.5), "world_size": 2, "steps": 2, "per_rank_batch": 4,
                                 "seed": 0, "use_ddp": False, "timeout": 30.0}),
    ],
}
