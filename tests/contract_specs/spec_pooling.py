"""Contract cases for cvbook_lib.pooling (references: torch.nn.functional and autograd)."""

import torch
import torch.nn.functional as F

from contract_specs import Case
from cvbook_lib import pooling as P

_g = torch.Generator().manual_seed(0)
x = torch.randn(2, 3, 7, 6, generator=_g)
x_ties = torch.randn(1, 2, 5, 5, generator=_g).round()  # ties and padding: indices must follow torch


def _check4(t):
    """The 4-D inputs that our global/pyramid pooling take (torch's adaptive pools also take 3-D)."""
    if not isinstance(t, torch.Tensor) or t.dim() != 4:
        raise ValueError("input must be 4-D")
    return t


def _ref_global(input):
    return F.adaptive_avg_pool2d(_check4(input), 1).flatten(1)


def _ref_spp(input, levels=(1, 2, 4), mode="max"):
    pool = {"max": F.adaptive_max_pool2d, "avg": F.adaptive_avg_pool2d}[mode]
    if not levels or any(isinstance(v, bool) for v in levels):
        raise TypeError("levels")
    return torch.cat([pool(_check4(input), level).flatten(1) for level in levels], dim=1)


def _autograd(f, **fixed):
    """Reference backward: autograd of the torch pooling at ``input``, seeded with ``grad_output``."""
    def ref(grad_output, input, *args, **kw):
        t = input.detach().clone().requires_grad_(True)
        f(t, *args, **kw, **fixed).backward(grad_output)
        return t.grad

    return ref


_mp = dict(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=True)
_ap = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
g_max = torch.randn(F.max_pool2d(x, **_mp).shape, generator=_g)
g_avg = torch.randn(F.avg_pool2d(x, **_ap).shape, generator=_g)
INPUT_INT = {"input"}  # torch max/avg-pools int64 tensors; we refuse them (module docstring)

SPECS = {
    P.max_pool2d: [
        Case(P.max_pool2d, dict(input=x, **_mp, return_indices=True), ref=F.max_pool2d, float_only=INPUT_INT,
             optional={"stride"}),
        Case(P.max_pool2d, dict(input=x, kernel_size=(3, 2), stride=(1, 2), padding=(1, 0), dilation=(2, 1)),
             ref=F.max_pool2d, float_only=INPUT_INT, optional={"stride"}),
        Case(P.max_pool2d, dict(input=x_ties, kernel_size=3, padding=1, return_indices=True), ref=F.max_pool2d,
             float_only=INPUT_INT, optional={"stride"}),
    ],
    P.avg_pool2d: [
        Case(P.avg_pool2d, dict(input=x, **_ap), ref=F.avg_pool2d, float_only=INPUT_INT, optional={"stride"}),
        Case(P.avg_pool2d, dict(input=x, kernel_size=(2, 3), stride=None, padding=(1, 1), divisor_override=5),
             ref=F.avg_pool2d, float_only=INPUT_INT, optional={"stride", "divisor_override"}),
    ],
    P.adaptive_avg_pool2d: [
        Case(P.adaptive_avg_pool2d, dict(input=x, output_size=(3, 4)), ref=F.adaptive_avg_pool2d),
        Case(P.adaptive_avg_pool2d, dict(input=x, output_size=5), ref=F.adaptive_avg_pool2d),
    ],
    P.adaptive_max_pool2d: [
        Case(P.adaptive_max_pool2d, dict(input=x, output_size=(4, 4), return_indices=True),
             ref=F.adaptive_max_pool2d),
        Case(P.adaptive_max_pool2d, dict(input=x_ties, output_size=3), ref=F.adaptive_max_pool2d),
    ],
    P.global_avg_pool2d: [Case(P.global_avg_pool2d, dict(input=x), ref=_ref_global, float_only={"input"},
                               differs={("input", "empty-last"): "torch's output-1 fast path returns NaN for W=0; "
                                                                 "other adaptive output sizes raise, so do we"})],
    P.spatial_pyramid_pool: [
        Case(P.spatial_pyramid_pool, dict(input=x, levels=(1, 2, 4), mode="max"), ref=_ref_spp),
        Case(P.spatial_pyramid_pool, dict(input=x, levels=(1, 3), mode="avg"), ref=_ref_spp),
    ],
    P.max_pool2d_backward: [
        Case(P.max_pool2d_backward, dict(grad_output=g_max, input=x, **_mp), ref=_autograd(F.max_pool2d),
             float_only={"input", "grad_output"}, optional={"stride"}),
    ],
    P.avg_pool2d_backward: [
        Case(P.avg_pool2d_backward, dict(grad_output=g_avg, input=x, **_ap), ref=_autograd(F.avg_pool2d),
             float_only={"input", "grad_output"}, optional={"stride"}),
    ],
}
