"""Convolution arithmetic: output sizes, 'same' padding, parameter and multiply-accumulate counts.

Reference: Dumoulin & Visin, "A guide to convolution arithmetic for deep learning" (2016).
Re-exported by ``cvbook_lib.conv``; tested in ``tests/test_conv.py`` against the shapes torch
produces, ``nn.Conv2d``'s parameters and ``torch.utils.flop_counter.FlopCounterMode``.

Integers are anything with ``__index__`` (``3``, ``np.int64(3)``), never a bool or a float; flags are
real bools. A geometry that cannot exist (a kernel wider than the padded input, a transposed
output shorter than one element) is a ``ValueError`` naming the arguments.
"""

from __future__ import annotations

from ._checks import as_pair, check_bool, check_int

__all__ = ["conv_output_size", "conv_transpose_output_size", "same_padding", "conv2d_params", "conv2d_macs",
           "separable_conv2d_params", "separable_conv2d_macs"]


# ---------------------------------------------------------------- output sizes

def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """Output length of a convolution or pooling along one axis.

    ``out = floor((size + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1``
    (``ceil`` instead of ``floor`` when ``ceil_mode``, as in pooling, where a last window that
    would start inside the right padding is dropped, like PyTorch).
    Args: size, kernel_size, stride, dilation: ints >= 1; padding: int >= 0; ceil_mode: bool.
    Raises ValueError when the dilated kernel spans more than the padded input.
    """
    size = check_int(size, "size", 1)
    kernel_size = check_int(kernel_size, "kernel_size", 1)
    stride = check_int(stride, "stride", 1)
    padding = check_int(padding, "padding", 0)
    dilation = check_int(dilation, "dilation", 1)
    ceil_mode = check_bool(ceil_mode, "ceil_mode")
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
            f"elements, larger than the padded input size={size} + 2*padding={2 * padding} = {size + 2 * padding}")
    return out


def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution along one axis (``F.conv_transpose2d``).

    ``out = (size - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1``
    Args: size, kernel_size, stride, dilation: ints >= 1; padding, output_padding: ints >= 0 with
    ``output_padding`` smaller than ``stride`` or ``dilation`` (as PyTorch requires).
    Raises ValueError when the output would be shorter than one element.
    """
    size = check_int(size, "size", 1)
    kernel_size = check_int(kernel_size, "kernel_size", 1)
    stride = check_int(stride, "stride", 1)
    padding = check_int(padding, "padding", 0)
    output_padding = check_int(output_padding, "output_padding", 0)
    dilation = check_int(dilation, "dilation", 1)
    if output_padding >= stride and output_padding >= dilation:
        raise ValueError(f"output_padding must be smaller than stride ({stride}) or dilation ({dilation}), "
                         f"got {output_padding}")
    out = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    if out < 1:
        raise ValueError(f"padding={padding} is too large: the output length would be {out} "
                         f"(size={size}, kernel_size={kernel_size}, stride={stride}, dilation={dilation})")
    return out


def same_padding(size: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Padding ``(before, after)`` of TensorFlow/Keras ``padding='same'`` along one axis.

    Keras picks the output length ``ceil(size / stride)`` first, then pads just enough:
    ``total = max((out - 1)*stride + dilation*(kernel_size - 1) + 1 - size, 0)``, the odd one after.
    With stride 1 this is PyTorch's ``padding='same'``; PyTorch refuses 'same' for stride > 1.
    Args: size, kernel_size, stride, dilation: ints >= 1.
    """
    size = check_int(size, "size", 1)
    kernel_size = check_int(kernel_size, "kernel_size", 1)
    stride = check_int(stride, "stride", 1)
    dilation = check_int(dilation, "dilation", 1)
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel_size - 1) + 1 - size, 0)
    return total // 2, total - total // 2


# ---------------------------------------------------------------- 2-D geometry of cvbook_lib.conv

def _string_padding(padding, transposed, s, d, kh, kw):
    """'same'/'valid' as (top, bottom, left, right); the extra one of an even 'same' kernel goes bottom/right."""
    if transposed or padding not in ("same", "valid"):
        allowed = "an int or a pair" if transposed else "an int, a pair, 'same' or 'valid'"
        raise ValueError(f"padding must be {allowed}, got {padding!r}")
    if padding == "same" and s != (1, 1):
        raise ValueError(f"padding='same' needs stride 1 (as in PyTorch), got stride={s!r}")
    if padding == "valid":
        return (0, 0, 0, 0)
    th, tw = d[0] * (kh - 1), d[1] * (kw - 1)
    return (th // 2, th - th // 2, tw // 2, tw - tw // 2)


def _out_hw(H, W, pads, kernel, stride, dilation):
    """(H_out, W_out) of a window sliding over the padded input; raise if the window does not fit."""
    Hp, Wp = H + pads[0] + pads[1], W + pads[2] + pads[3]
    span = tuple(dilation[i] * (kernel[i] - 1) + 1 for i in range(2))
    if span[0] > Hp or span[1] > Wp:
        raise ValueError(f"kernel {tuple(kernel)} (weight / kernel_size) with dilation {tuple(dilation)} spans "
                         f"{span}, larger than the padded input {(Hp, Wp)} (input {(H, W)}, padding {pads})")
    return (Hp - span[0]) // stride[0] + 1, (Wp - span[1]) // stride[1] + 1


# ---------------------------------------------------------------- cost

def _check_channels(in_channels, out_channels, groups) -> tuple[int, int, int]:
    """Channels and groups as ints >= 1, groups dividing both (as ``nn.Conv2d`` requires)."""
    in_channels = check_int(in_channels, "in_channels", 1)
    out_channels = check_int(out_channels, "out_channels", 1)
    groups = check_int(groups, "groups", 1)
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
    return in_channels, out_channels, groups


def conv2d_params(in_channels: int, out_channels: int, kernel_size, groups: int = 1, bias: bool = True) -> int:
    """Parameters of ``nn.Conv2d``: ``C_out * (C_in/groups) * kH * kW`` weights + ``C_out`` biases.

    Args: in_channels, out_channels, groups: ints >= 1 (groups divides both); kernel_size: int or
    pair >= 1; bias: bool. Deliberate difference: ``nn.Conv2d`` builds zero-element weights for 0
    channels or a 0 kernel (a layer that cannot run); here 0 is refused.
    """
    in_channels, out_channels, groups = _check_channels(in_channels, out_channels, groups)
    kh, kw = as_pair(kernel_size, "kernel_size", 1)
    bias = check_bool(bias, "bias")
    return out_channels * (in_channels // groups) * kh * kw + (out_channels if bias else 0)


def conv2d_macs(in_channels: int, out_channels: int, kernel_size, output_size, groups: int = 1) -> int:
    """Multiply-accumulates of one image: ``C_out * H_out * W_out * (C_in/groups) * kH * kW``.

    FLOPs = 2 * MACs (one multiply and one add each), as ``torch.utils.flop_counter`` counts them.
    Args: as ``conv2d_params``; output_size: int or pair (H_out, W_out) >= 1.
    """
    in_channels, out_channels, groups = _check_channels(in_channels, out_channels, groups)
    kh, kw = as_pair(kernel_size, "kernel_size", 1)
    Ho, Wo = as_pair(output_size, "output_size", 1)
    return out_channels * Ho * Wo * (in_channels // groups) * kh * kw


def separable_conv2d_params(in_channels: int, out_channels: int, kernel_size, bias: bool = True) -> int:
    """Depthwise (groups = C_in) kH×kW convolution followed by a pointwise 1×1 convolution. Zero channels or a
    zero kernel size are refused (``nn.Conv2d`` builds such a layer, but it cannot run)."""
    return (conv2d_params(in_channels, in_channels, kernel_size, in_channels, bias)
            + conv2d_params(in_channels, out_channels, 1, 1, bias))


def separable_conv2d_macs(in_channels: int, out_channels: int, kernel_size, output_size) -> int:
    """MACs of depthwise + pointwise; ratio to a standard conv is ``1/C_out + 1/(kH*kW)``. Zero channels or a
    zero kernel size are refused, as in :func:`separable_conv2d_params`."""
    return (conv2d_macs(in_channels, in_channels, kernel_size, output_size, in_channels)
            + conv2d_macs(in_channels, out_channels, 1, output_size))
