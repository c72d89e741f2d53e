"""Helpers shared by the spec_models_* tables."""

import torch

from contract_specs.spec_attention import fill


def seeded_randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def run_filled(x):
    """``out=`` for a constructed module: the same weights in ours and torchvision's (same keys, filled from the
    key names; FCN's zero-initialised score layers get non-zero values too), eval mode, run on x."""

    def run(m):
        fill(m).eval()
        with torch.no_grad():
            return m(x)

    return run
