"""Contract cases for cvbook_lib.compress.lowbit (no reference library: tests/test_compress_quant.py checks
stochastic rounding, binarize, ternarize against their defining properties and kmeans_codebook against
sklearn's KMeans from the same initialization)."""

import torch

from contract_specs import Case
from cvbook_lib.compress import lowbit as L

_g = torch.Generator().manual_seed(0)
W = torch.randn(4, 3, 2, generator=_g)


def _seeded_round(x, generator=None):
    return L.stochastic_round(x, generator=torch.Generator().manual_seed(1) if generator is None else generator)


SPECS = {
    L.stochastic_round: [Case(_seeded_round, dict(x=W * 3))],
    L.binarize: [Case(L.binarize, dict(w=W, per_channel=True)), Case(L.binarize, dict(w=W, per_channel=False))],
    L.ternarize: [Case(L.ternarize, dict(w=W, threshold_factor=0.7))],
    L.kmeans_codebook: [
        Case(L.kmeans_codebook, dict(w=W, bits=2, iters=10, init="linear")),
        Case(L.kmeans_codebook, dict(w=W, bits=1, iters=3, init="density")),
    ],
    L.codebook_size_bits: [Case(L.codebook_size_bits, dict(num_weights=1000, bits=4, codebook_bits=32))],
}
