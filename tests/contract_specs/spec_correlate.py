"""Contract cases for cvbook_lib.correlate (reference: scipy.signal.correlate2d / convolve2d)."""

import numpy as np
import scipy.signal
import torch

from contract_specs import Case
from cvbook_lib import correlate as R

_g = torch.Generator().manual_seed(0)
a = torch.randn(6, 5, generator=_g, dtype=torch.float64)
k = torch.randn(3, 2, generator=_g, dtype=torch.float64)
b = torch.randn(2, 4, generator=_g, dtype=torch.float32)


def _scipy(f):
    """scipy on the numpy views of the tensors (our API takes tensors: a list is not a tensor)."""
    def ref(in1, in2, mode="full"):
        if not (isinstance(in1, torch.Tensor) and isinstance(in2, torch.Tensor)):
            raise TypeError("in1 and in2 must be tensors")
        return torch.from_numpy(np.ascontiguousarray(f(in1.numpy(), in2.numpy(), mode)))

    return ref


def _cases(fn, f):
    ref = _scipy(f)
    # complex inputs come from the battery's "complex" change (a complex valid value breaks the battery's
    # integer branch: x.max() of a complex tensor); test_conv.py compares complex inputs with scipy
    return [Case(fn, dict(in1=a, in2=k, mode=mode), ref=ref) for mode in ("full", "same", "valid")] + [
        Case(fn, dict(in1=b, in2=a, mode="valid"), ref=ref, rtol=1e-5),  # swapped inputs, float32 with float64
    ]


SPECS = {
    R.correlate2d: _cases(R.correlate2d, scipy.signal.correlate2d),
    R.convolve2d: _cases(R.convolve2d, scipy.signal.convolve2d),
}
