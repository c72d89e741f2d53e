"""Convolution arithmetic: output sizes, 'same' padding, parameter and multiply-accumulate counts.

Reference: Dumoulin & Visin, "A guide to convolution arithmetic for deep learning" (2016).
Re-exported by ``cvbook_lib.conv``; tested in ``tests/test_conv.py`` against the shapes torch
produces, ``nn.Conv2d``'s parameters and ``torch.utils.flop_counter.FlopCounterMode``.
"""

from __future__ import annotations

from ._checks import as_pair, check_int

__all__ = ["conv_output_size", "conv_transpose_output_size", "same_padding", "conv2d_params", "conv2d_macs",
           "separable_conv2d_params", "separable_conv2d_macs"]


# ---------------------------------------------------------------- output sizes

def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """Output length of a convolution or pooling along one axis.

    ``out = floor((size + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1``
    (``ceil`` instead of ``floor`` when ``ceil_mode``, as in pooling, where a last window that
    would start inside the right padding is dropped, like PyTorch).
    """
    check_int(size, "size", 1)
    check_int(kernel_size, "kernel_size", 1)
    check_int(stride, "stride", 1)
    check_int(padding, "padding", 0)
    check_int(dilation, "dilation", 1)
    span = size + 2 * padding - dilation * (kernel_size - 1) - 1
    if not ceil_mode:
        out = span // stride + 1
    else:
        out = (span + stride - 1) // stride + 1    # Python's // rounds toward -inf, like torch's div_rtn
        if (out - 1) * stride >= size + padding:   # last window would start in the padding
            out -= 1
    if out < 1:
        raise ValueError(
            f"kernel_size={kernel_size} with dilation={dilation} spans {dilation * (kernel_size - 1) + 1} "
            f"elements, larger than the padded input {size} + 2*{padding} = {size + 2 * padding}")
    return out


def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution along one axis (``F.conv_transpose2d``).

    ``out = (size - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1``
    """
    check_int(size, "size", 1)
    check_int(kernel_size, "kernel_size", 1)
    check_int(stride, "stride", 1)
    check_int(padding, "padding", 0)
    check_int(output_padding, "output_padding", 0)
    check_int(dilation, "dilation", 1)
    if output_padding >= stride and output_padding >= dilation:
        raise ValueError(f"output_padding must be smaller than stride ({stride}) or dilation ({dilation}), "
                         f"got {output_padding}")
    out = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    if out < 1:
        raise ValueError(f"padding={padding} is too large: the output length would be {out}")
    return out


def same_padding(size: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Padding ``(before, after)`` of TensorFlow/Keras ``padding='same'`` along one axis.

    Keras picks the output length ``ceil(size / stride)`` first, then pads just enough:
    ``total = max((out - 1)*stride + dilation*(kernel_size - 1) + 1 - size, 0)``, the odd one after.
    With stride 1 this is PyTorch's ``padding='same'``; PyTorch refuses 'same' for stride > 1.
    """
    check_int(size, "size", 1)
    check_int(kernel_size, "kernel_size", 1)
    check_int(stride, "stride", 1)
    check_int(dilation, "dilation", 1)
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel_size - 1) + 1 - size, 0)
    return total // 2, total - total // 2


# ---------------------------------------------------------------- cost

def _check_channels(in_channels, out_channels, groups):
    check_int(in_channels, "in_channels", 1)
    check_int(out_channels, "out_channels", 1)
    check_int(groups, "groups", 1)
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")


def conv2d_params(in_channels: int, out_channels: int, kernel_size, groups: int = 1, bias: bool = True) -> int:
    """Parameters of ``nn.Conv2d``: ``C_out * (C_in/groups) * kH * kW`` weights + ``C_out`` biases."""
    _check_channels(in_channels, out_channels, groups)
    kh, kw = as_pair(kernel_size, "kernel_size", 1)
    return out_channels * (in_channels // groups) * kh * kw + (out_channels if bias else 0)


def conv2d_macs(in_channels: int, out_channels: int, kernel_size, output_size, groups: int = 1) -> int:
    """Multiply-accumulates of one image: ``C_out * H_out * W_out * (C_in/groups) * kH * kW``.

    FLOPs = 2 * MACs (one multiply and one add each), as ``torch.utils.flop_counter`` counts them.
    """
    _check_channels(in_channels, out_channels, groups)
    kh, kw = as_pair(kernel_size, "kernel_size", 1)
    Ho, Wo = as_pair(output_size, "output_size", 1)
    return out_channels * Ho * Wo * (in_channels // groups) * kh * kw


def separable_conv2d_params(in_channels: int, out_channels: int, kernel_size, bias: bool = True) -> int:
    """Depthwise (groups = C_in) kH×kW convolution followed by a pointwise 1×1 convolution."""
    return (conv2d_params(in_channels, in_channels, kernel_size, in_channels, bias)
            + conv2d_params(in_channels, out_channels, 1, 1, bias))


def separable_conv2d_macs(in_channels: int, out_channels: int, kernel_size, output_size) -> int:
    """MACs of depthwise + pointwise; ratio to a standard conv is ``1/C_out + 1/(kH*kW)``."""
    return (conv2d_macs(in_channels, in_channels, kernel_size, output_size, in_channels)
            + conv2d_macs(in_channels, out_channels, 1, output_size))
