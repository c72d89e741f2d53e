"""Contract cases for cvbook_lib.compress.qops (references: torch.ao.nn.quantized.Linear and Conv2d on the
x86 engine; they agree with ours to within 1 LSB, so the outputs are compared with atol=1)."""

import torch
import torch.ao.nn.quantized as nnq

from contract_specs import Case
from cvbook_lib.compress import qops

_g = torch.Generator().manual_seed(0)
# int tensors: the battery's "too-big" sets max + 100, which must still fit uint8 / int8
XQ = torch.randint(0, 150, (5, 6), generator=_g).to(torch.uint8)           # (N, K)
WQ = torch.randint(-20, 20, (4, 6), generator=_g).to(torch.int8)           # (O, K)
XC = torch.randint(0, 150, (2, 2, 5, 5), generator=_g).to(torch.uint8)     # (N, C, H, W)
WC = torch.randint(-20, 20, (4, 1, 3, 3), generator=_g).to(torch.int8)     # (O, C/groups, kH, kW), groups 2
BIAS = torch.randn(4, generator=_g)
WS4 = torch.tensor([0.01, 0.02, 0.015, 0.03], dtype=torch.float64)
WZ4 = torch.zeros(4, dtype=torch.long)

_SCALE = "scales must be finite numbers > 0 (torch takes any float)"
_BIAS = "bias must be finite (torch's float bias passes NaN / inf through)"
_ZP = "zero points must lie in quint8's [0, 255] (torch does not check a quint8 tensor's zero point)"
_BOOL = "zero points must have an integer dtype (torch reads bool / float ones as numbers)"
_SPATIAL = "x_q must have a non-zero height and width (torch pads an empty input and convolves the padding)"
_BIAS64 = "bias must be float32 as torch's quantized Linear requires (its Conv2d misreads other dtypes' bytes)"


def _differs(args, reason, mutations=("zero", "negated", "nan", "inf", "-inf")):
    return {(a, m): reason for a in args for m in mutations}


def _weight(w_q, w_scale, w_zp):
    if isinstance(w_scale, torch.Tensor) and w_scale.numel() > 1:
        return torch._make_per_channel_quantized_tensor(w_q, w_scale.double(), w_zp, 0)
    return torch._make_per_tensor_quantized_tensor(w_q, w_scale, w_zp)


def _engine_x86(fn):
    def call(**kw):
        before = torch.backends.quantized.engine
        torch.backends.quantized.engine = "x86"
        try:
            return fn(**kw)
        finally:
            torch.backends.quantized.engine = before
    return call


@_engine_x86
def _linear_ref(x_q, x_scale, x_zp, w_q, w_scale, w_zp, bias, out_scale, out_zp):
    m = nnq.Linear(w_q.shape[1], w_q.shape[0])
    m.set_weight_bias(_weight(w_q, w_scale, w_zp), bias)
    m.scale, m.zero_point = out_scale, out_zp
    return m(torch._make_per_tensor_quantized_tensor(x_q, x_scale, x_zp)).int_repr()


def _positive(value) -> bool:
    values = value if isinstance(value, (tuple, list)) else (value,)
    return all(not isinstance(v, (int, float)) or isinstance(v, bool) or v > 0 for v in values)


@_engine_x86
def _conv_ref(x_q, x_scale, x_zp, w_q, w_scale, w_zp, bias, out_scale, out_zp, stride=1, padding=0, dilation=1,
              groups=1):
    # torch's x86 prepack divides by the stride and dilation without checking them: on CPUs without AVX-512
    # (AMD EPYC, AVX2 kernels) a 0 kills the process with SIGFPE instead of raising; count it as refused
    for name, value in (("stride", stride), ("dilation", dilation), ("groups", groups)):
        if not _positive(value):
            raise RuntimeError(f"torch's quantized conv cannot take {name}={value!r} (SIGFPE on AVX2 fbgemm)")
    m = nnq.Conv2d(x_q.shape[1], w_q.shape[0], tuple(w_q.shape[2:]), stride=stride, padding=padding,
                   dilation=dilation, groups=groups)
    m.set_weight_bias(_weight(w_q, w_scale, w_zp), bias)
    m.scale, m.zero_point = out_scale, out_zp
    return m(torch._make_per_tensor_quantized_tensor(x_q, x_scale, x_zp)).int_repr()


_LIN = dict(x_q=XQ, x_scale=0.05, x_zp=60, w_q=WQ, w_scale=0.02, w_zp=0, bias=BIAS, out_scale=0.1, out_zp=128)
_CONV = dict(x_q=XC, x_scale=0.05, x_zp=60, w_q=WC, w_scale=WS4, w_zp=WZ4, bias=BIAS, out_scale=0.2, out_zp=100,
             stride=1, padding=1, dilation=1, groups=2)

_COMMON = {("x_zp", "minus1"): _ZP, ("out_zp", "minus1"): _ZP, ("bias", "float64"): _BIAS64,
           ("bias", "float16"): _BIAS64, **_differs(("x_scale", "w_scale", "out_scale"), _SCALE),
           **_differs(("bias",), _BIAS, ("nan", "inf", "-inf"))}

SPECS = {
    qops.quantized_linear: [
        Case(qops.quantized_linear, _LIN, ref=_linear_ref, atol=1.0, rtol=0, optional={"bias"}, float_only={"bias"},
             differs=_COMMON),
        Case(qops.quantized_linear, dict(_LIN, w_scale=WS4, w_zp=WZ4, bias=None), ref=_linear_ref, atol=1.0, rtol=0,
             float_only={"w_scale"},
             differs={**_COMMON, ("w_zp", "float"): _BOOL, ("w_zp", "bool"): _BOOL,
                      ("w_q", "empty-first"): "w_scale must have one element per row of w_q (torch does not check)"}),
    ],
    qops.quantized_conv2d: [
        Case(qops.quantized_conv2d, _CONV, ref=_conv_ref, atol=1.0, rtol=0, optional={"bias"},
             float_only={"w_scale", "bias"},
             differs={**_COMMON, ("w_zp", "float"): _BOOL, ("w_zp", "bool"): _BOOL, ("x_q", "empty-last"): _SPATIAL,
                      # torch's AVX2 fbgemm kernels (AMD EPYC) accept these and answer; its AVX-512 ones refuse
                      ("w_q", "empty-last"): "a kernel of width 0 is refused (torch's AVX2 path answers anyway)",
                      ("padding", "minus1"): "negative padding is refused (torch's AVX2 path answers anyway)"}),
    ],
}
