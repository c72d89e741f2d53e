"""Contract cases for cvbook_lib.conv (references: torch.nn.functional and autograd)."""

import torch
import torch.nn.functional as F

from contract_specs import Case
from cvbook_lib import conv as C
from cvbook_lib import conv_fast as CF

_g = torch.Generator().manual_seed(0)
x = torch.randn(2, 4, 7, 6, generator=_g)
w = torch.randn(6, 2, 3, 2, generator=_g)          # groups=2
b = torch.randn(6, generator=_g)
wt = torch.randn(4, 3, 3, 2, generator=_g)         # transposed, groups=1: C_out = 3
wt_g = torch.randn(4, 2, 2, 3, generator=_g)       # transposed, groups=2: C_out = 4
bt = torch.randn(3, generator=_g)
cols = F.unfold(x, (2, 3), 1, (1, 0), (2, 1))
x_pad = dict(stride=(2, 1), padding=(1, 0), dilation=1, groups=2)
gy = torch.randn(F.conv2d(x, w, None, **x_pad).shape, generator=_g)
# padding='same' also takes ints and pairs: the battery's "an int for a choice string" does not apply
STR_PADDING = {"padding": {"int"}}


def _conv_grads(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1):
    """Reference for conv2d_backward: autograd through F.conv2d (a zero bias gives grad_bias)."""
    xi = input.detach().clone().requires_grad_(True)
    wi = weight.detach().clone().requires_grad_(True)
    bi = torch.zeros(wi.shape[0], dtype=wi.dtype, requires_grad=True)
    F.conv2d(xi, wi, bi, stride, padding, dilation, groups).backward(grad_output)
    return xi.grad, wi.grad, bi.grad


def _convs(fn):
    return [
        Case(fn, dict(input=x, weight=w, bias=b, **x_pad), ref=F.conv2d, optional={"bias"}),
        # one image: torch's float32 oneDNN path (batches, stride 1) skips padded taps, so a NaN/inf weight
        # gives finite borders there and NaN on its other paths; ours is the zero-padding answer (test_conv.py)
        Case(fn, dict(input=x[:1], weight=w[:, :, :, :1].repeat(1, 2, 1, 1), bias=None, stride=1, padding="same",
                      dilation=(2, 1), groups=1), ref=F.conv2d, skip=STR_PADDING),
        Case(fn, dict(input=x[0], weight=w, padding="valid", groups=2), ref=F.conv2d, skip=STR_PADDING),
    ]


# Winograd mixes a whole (m+2)x(m+2) tile and the FFT the whole image: a NaN or inf in the input or the
# weight spreads to more outputs than in F.conv2d's direct sum (documented in conv.conv2d), so those
# mutations do not apply to the comparison
NONFINITE = {"input": {"nan", "inf", "-inf"}, "weight": {"nan", "inf", "-inf"}}
x16 = torch.randn(2, 4, 9, 7, generator=_g)
w3 = torch.randn(6, 2, 3, 3, generator=_g)          # 3x3, groups=2: every algorithm applies
w9 = torch.randn(3, 4, 9, 9, generator=_g)


def _ref_conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, algorithm="auto"):
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def _ref_winograd(input, weight, bias=None, padding=0, groups=1, tile=4):
    return F.conv2d(input, weight, bias, 1, padding, 1, groups)


def _ref_fft(input, weight, bias=None, padding=0, groups=1):
    return F.conv2d(input, weight, bias, 1, padding, 1, groups)


def _algorithms():
    fast = dict(input=x16, weight=w3, bias=b, stride=1, padding=1, dilation=1, groups=2)
    return [
        Case(C.conv2d, dict(input=x, weight=w, bias=b, **x_pad, algorithm="im2col"), ref=_ref_conv,
             optional={"bias"}, label="im2col"),
        Case(C.conv2d, dict(input=x, weight=w, bias=b, **x_pad, algorithm="direct"), ref=_ref_conv,
             optional={"bias"}, label="direct"),
        Case(C.conv2d, dict(fast, algorithm="winograd"), ref=_ref_conv, optional={"bias"}, skip=NONFINITE,
             rtol=1e-5, atol=1e-5, label="winograd"),
        Case(C.conv2d, dict(fast, algorithm="fft"), ref=_ref_conv, optional={"bias"}, skip=NONFINITE,
             rtol=1e-5, atol=1e-5, label="fft"),
        Case(C.conv2d, dict(input=x16, weight=w9, padding=(4, 2), algorithm="fft"), ref=_ref_conv, skip=NONFINITE,
             rtol=1e-5, atol=1e-5, label="fft 9x9"),
    ]


SPECS = {
    C.im2col: [
        Case(C.im2col, dict(input=x, kernel_size=(2, 3), dilation=1, padding=(1, 0), stride=(2, 1)), ref=F.unfold,
             float_only={"input"}),
        Case(C.im2col, dict(input=x[0], kernel_size=3, dilation=2, padding=1, stride=1), ref=F.unfold,
             float_only={"input"}),
    ],
    C.col2im: [
        Case(C.col2im, dict(input=cols, output_size=(7, 6), kernel_size=(2, 3), dilation=1, padding=(1, 0),
                            stride=(2, 1)), ref=F.fold, float_only={"input"}),
    ],
    C.conv2d: _convs(C.conv2d) + _algorithms(),
    # tile: the reference has no tile, so 0 and -1 are accepted there and refused here (2 or 4 only)
    CF.winograd_conv2d: [
        Case(CF.winograd_conv2d, dict(input=x16, weight=w3, bias=b, padding=1, groups=2, tile=4), ref=_ref_winograd,
             skip=NONFINITE, rtol=1e-5, atol=1e-5, differs={("tile", "zero"): "tile 2 or 4", ("tile", "minus1"): ""}),
        Case(CF.winograd_conv2d, dict(input=x16[0], weight=w3[:, :1].repeat(1, 4, 1, 1), padding="same", tile=2),
             ref=_ref_winograd, skip=dict(NONFINITE, **STR_PADDING), rtol=1e-5, atol=1e-5,
             differs={("tile", "zero"): "tile 2 or 4", ("tile", "minus1"): ""}),
    ],
    CF.fft_conv2d: [
        Case(CF.fft_conv2d, dict(input=x16, weight=w9, bias=b[:3], padding=(4, 3), groups=1), ref=_ref_fft,
             skip=NONFINITE, rtol=1e-5, atol=1e-5),
    ],
    CF.winograd_matrices: [Case(CF.winograd_matrices, dict(tile=2, dtype=torch.float32))],
    C.conv2d_naive: _convs(C.conv2d_naive),
    C.conv_transpose2d: [
        Case(C.conv_transpose2d, dict(input=x, weight=wt, bias=bt, stride=(2, 1), padding=(1, 0),
                                      output_padding=(1, 0), groups=1, dilation=1), ref=F.conv_transpose2d,
             optional={"bias"}),
        Case(C.conv_transpose2d, dict(input=x[0], weight=wt_g, stride=2, padding=1, output_padding=1, groups=2,
                                      dilation=2), ref=F.conv_transpose2d),
    ],
    C.conv2d_backward: [
        Case(C.conv2d_backward, dict(grad_output=gy, input=x, weight=w, **x_pad), ref=_conv_grads,
             float_only={"grad_output"}),
    ],
}
