"""Contract cases for cvbook_lib.conv_arith (references: the shapes torch produces, nn.Conv2d's
parameters and FlopCounterMode; layers are built on the meta device, shapes and FLOPs come from
tiny CPU tensors: the meta kernels skip torch's argument checks)."""

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from contract_specs import Case
from cvbook_lib import conv_arith as A

META = dict(device="meta")
# nn.Conv2d builds zero-element weights for 0 channels / a 0 kernel (a layer F.conv2d cannot run): refused
ZERO = "nn.Conv2d builds empty weights for 0; conv_arith refuses a layer that cannot run (docstring)"


def _ref_out(size, kernel_size, stride=1, padding=0, dilation=1, ceil_mode=False):
    """The length torch produces: F.conv2d, or F.max_pool2d with ceil_mode."""
    x = torch.zeros(1, 1, 1, size)
    if ceil_mode:
        return F.max_pool2d(x, (1, kernel_size), (1, stride), (0, padding), (1, dilation), ceil_mode=True).shape[-1]
    return F.conv2d(x, torch.zeros(1, 1, 1, kernel_size), None, stride, (0, padding), dilation).shape[-1]


def _ref_transpose(size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    x, w = torch.zeros(1, 1, 1, size), torch.zeros(1, 1, 1, kernel_size)
    return F.conv_transpose2d(x, w, None, (1, stride), (0, padding), (0, output_padding), 1, (1, dilation)).shape[-1]


def _ref_params(in_channels, out_channels, kernel_size, groups=1, bias=True):
    layer = torch.nn.Conv2d(in_channels, out_channels, kernel_size, groups=groups, bias=bias, **META)
    return sum(p.numel() for p in layer.parameters())


def _flops(module, shape):
    with FlopCounterMode(display=False) as counter:
        module(torch.zeros(*shape))
    return counter.get_total_flops()


def _hw(output_size):
    return (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)


def _ref_macs(in_channels, out_channels, kernel_size, output_size, groups=1):
    layer = torch.nn.Conv2d(in_channels, out_channels, kernel_size, padding="same", groups=groups)
    return _flops(layer, (1, in_channels, *_hw(output_size))) // 2


def _sep(in_channels, out_channels, kernel_size, bias=True):
    return torch.nn.Sequential(
        torch.nn.Conv2d(in_channels, in_channels, kernel_size, padding="same", groups=in_channels, bias=bias),
        torch.nn.Conv2d(in_channels, out_channels, 1, bias=bias))


def _ref_sep_params(in_channels, out_channels, kernel_size, bias=True):
    return sum(p.numel() for p in _sep(in_channels, out_channels, kernel_size, bias).parameters())


def _ref_sep_macs(in_channels, out_channels, kernel_size, output_size):
    return _flops(_sep(in_channels, out_channels, kernel_size), (1, in_channels, *_hw(output_size))) // 2


SPECS = {
    A.conv_output_size: [
        Case(A.conv_output_size, dict(size=11, kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=False),
             ref=_ref_out),
        Case(A.conv_output_size, dict(size=12, kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=True),
             ref=_ref_out),
    ],
    A.conv_transpose_output_size: [
        Case(A.conv_transpose_output_size, dict(size=5, kernel_size=3, stride=2, padding=1, output_padding=1,
                                                dilation=2), ref=_ref_transpose),
    ],
    # no reference returns the Keras 'same' padding; test_conv.py checks it against torch's shapes
    A.same_padding: [Case(A.same_padding, dict(size=13, kernel_size=4, stride=3, dilation=2))],
    A.conv2d_params: [
        Case(A.conv2d_params, dict(in_channels=4, out_channels=6, kernel_size=(3, 2), groups=2, bias=True),
             ref=_ref_params, differs={("in_channels", "zero"): ZERO, ("out_channels", "zero"): ZERO,
                                      ("kernel_size", "len3"): "nn.Conv2d takes a 3-D kernel it cannot run"}),
        Case(A.conv2d_params, dict(in_channels=3, out_channels=5, kernel_size=3, bias=False), ref=_ref_params,
             differs={("in_channels", "zero"): ZERO, ("out_channels", "zero"): ZERO, ("kernel_size", "zero"): ZERO}),
    ],
    A.conv2d_macs: [
        Case(A.conv2d_macs, dict(in_channels=4, out_channels=6, kernel_size=3, output_size=(5, 7), groups=2),
             ref=_ref_macs, differs={("in_channels", "zero"): ZERO, ("out_channels", "zero"): ZERO}),
        Case(A.conv2d_macs, dict(in_channels=3, out_channels=8, kernel_size=(1, 3), output_size=6),
             ref=_ref_macs, differs={("in_channels", "zero"): ZERO, ("out_channels", "zero"): ZERO}),
    ],
    A.separable_conv2d_params: [
        Case(A.separable_conv2d_params, dict(in_channels=4, out_channels=6, kernel_size=3, bias=True),
             ref=_ref_sep_params, differs={("in_channels", "zero"): ZERO, ("out_channels", "zero"): ZERO,
                                           ("kernel_size", "zero"): ZERO}),
    ],
    A.separable_conv2d_macs: [
        Case(A.separable_conv2d_macs, dict(in_channels=4, out_channels=6, kernel_size=3, output_size=5),
             ref=_ref_sep_macs, differs={("in_channels", "zero"): ZERO, ("out_channels", "zero"): ZERO}),
    ],
}
