"""The reference projects' own test inputs, re-pointed at cvbook_lib (issue 15).

torch ships the sample inputs its own test suite runs every operator, module and optimizer on
(``torch.testing._internal``: OpInfo ``sample_inputs``, ModuleInfo ``module_inputs_func``,
OptimizerInfo ``optim_inputs_func``). Each sample that torch accepts is run through the cvbook_lib
re-implementation with the same arguments and must give torch's answer; the few deliberate
differences are listed in ``DIFFERS`` with their reason, and there a clear ValueError/TypeError
is required instead.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn as nn

from cvbook_lib import activations as A
from cvbook_lib import attention as AT
from cvbook_lib import conv as C
from cvbook_lib import losses as L
from cvbook_lib import norm as N
from cvbook_lib import optim as O
from cvbook_lib import pooling as P

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from torch.testing._internal.common_methods_invocations import op_db
    from torch.testing._internal.common_modules import module_db
    from torch.testing._internal.common_optimizers import optim_db
# torch's test utilities freeze torch.backends' global flags (disable_global_flags) for torch's own suite;
# the rest of this process (setup_notebook sets cudnn.allow_tf32) must still be able to set them.
torch.backends.flags_frozen.__globals__["__allow_nonbracketed_mutation_flag"] = True  # the module's own global
assert not torch.backends.flags_frozen()

OPS = {
    "nn.functional.relu": A.relu, "sigmoid": A.sigmoid, "tanh": A.tanh, "nn.functional.leaky_relu": A.leaky_relu,
    "nn.functional.elu": A.elu, "nn.functional.gelu": A.gelu, "nn.functional.silu": A.silu,
    "nn.functional.hardswish": A.hardswish, "softmax": A.softmax, "log_softmax": A.log_softmax,
    "nn.functional.cross_entropy": L.cross_entropy,
    "nn.functional.binary_cross_entropy_with_logits": L.binary_cross_entropy_with_logits,
    "nn.functional.smooth_l1_loss": L.smooth_l1_loss, "nn.functional.huber_loss": L.huber_loss,
    "nn.functional.mse_loss": L.mse_loss, "nn.functional.l1_loss": L.l1_loss, "nn.functional.kl_div": L.kl_div,
    "nn.functional.multi_margin_loss": L.multi_margin_loss,
    "nn.functional.max_pool2d": P.max_pool2d, "nn.functional.avg_pool2d": P.avg_pool2d,
    "nn.functional.adaptive_avg_pool2d": P.adaptive_avg_pool2d,
    "nn.functional.adaptive_max_pool2d": P.adaptive_max_pool2d,
    "nn.functional.conv2d": C.conv2d, "nn.functional.conv_transpose2d": C.conv_transpose2d,
    "nn.functional.unfold": C.im2col,
    "nn.functional.batch_norm": N.batch_norm, "nn.functional.layer_norm": N.layer_norm,
    "nn.functional.group_norm": N.group_norm, "nn.functional.instance_norm": N.instance_norm,
    "nn.functional.scaled_dot_product_attention": AT.scaled_dot_product_attention,
}

# (op, predicate on the sample, reason): cvbook_lib refuses these with a clear error on purpose.
DIFFERS = [
    ("nn.functional.batch_norm", lambda s: s.input.dim() < 2,
     "batch_norm needs an (N, C, ...) input: a 1-D input has no channel dimension (torch reads it as N only "
     "when it is empty)"),
] + [
    (op, lambda s: s.kwargs.get("eps", 1e-5) <= 0,
     "eps <= 0 where batch statistics normalize is refused (issue 15): the variance + eps can reach 0 or below")
    for op in ("nn.functional.batch_norm", "nn.functional.group_norm", "nn.functional.layer_norm",
               "nn.functional.instance_norm")
]

# float32 tolerances where torch's kernel sums in another order (attention: softmax weights times values)
TOLERANCES = {"nn.functional.scaled_dot_product_attention": dict(rtol=1e-4, atol=5e-5)}

_OPS_BY_NAME = {o.name: o for o in op_db if not o.variant_test_name}


def _clone(a):
    return a.clone() if isinstance(a, torch.Tensor) else copy.deepcopy(a)


def _describe(sample) -> str:
    def d(a):
        return f"T{tuple(a.shape)}:{str(a.dtype)[6:]}" if isinstance(a, torch.Tensor) else repr(a)

    return (f"input={d(sample.input)} args={[d(a) for a in sample.args]} "
            f"kwargs={ {k: d(v) for k, v in sample.kwargs.items()} }")


def _random(name, sample) -> bool:
    """Samples whose answer is random (dropout inside attention): only shapes can be compared."""
    return name == "nn.functional.scaled_dot_product_attention" and sample.kwargs.get("dropout_p", 0) > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_opinfo_samples(name, dtype):
    op, ours = _OPS_BY_NAME[name], OPS[name]
    tol = TOLERANCES.get(name, dict(rtol=1e-4, atol=1e-5)) if dtype == torch.float32 else dict(rtol=1e-7, atol=1e-7)
    problems, n = [], 0
    for sample in op.sample_inputs("cpu", dtype):
        args, kwargs = (sample.input, *sample.args), sample.kwargs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                torch.manual_seed(0)
                expected = op.op(*map(_clone, args), **{k: _clone(v) for k, v in kwargs.items()})
            except Exception:  # noqa: BLE001 - torch refuses the sample: nothing to compare
                continue
            n += 1
            reason = next((r for o, pred, r in DIFFERS if o == name and pred(sample)), None)
            try:
                torch.manual_seed(0)
                got = ours(*map(_clone, args), **{k: _clone(v) for k, v in kwargs.items()})
            except (ValueError, TypeError) as err:
                if reason is None:
                    problems.append(f"{_describe(sample)}: raised {type(err).__name__}: {err}")
                continue
            except Exception as err:  # noqa: BLE001 - the rule under test
                problems.append(f"{_describe(sample)}: raised {type(err).__name__}: {err}")
                continue
        if reason is not None:
            problems.append(f"{_describe(sample)}: listed as refused ({reason}) but answered")
            continue
        try:
            if _random(name, sample):
                assert got.shape == expected.shape, f"shape {tuple(got.shape)} != {tuple(expected.shape)}"
            else:
                torch.testing.assert_close(got, expected, equal_nan=True, check_dtype=False, **tol)
        except AssertionError as err:
            problems.append(f"{_describe(sample)}: {' '.join(str(err).split())[:300]}")
    assert n > 0, "torch gave no sample this op accepts"
    assert not problems, f"{len(problems)} of {n} samples differ from torch:\n" + "\n".join(problems[:12])


MODULES = {nn.BatchNorm2d: N.BatchNorm2d, nn.MultiheadAttention: AT.MultiHeadAttention,
           nn.TransformerEncoderLayer: AT.TransformerEncoderLayer}
_MODULE_INFOS = {m.module_cls: m for m in module_db if m.module_cls in MODULES}


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("cls", list(MODULES), ids=lambda c: c.__name__)
def test_moduleinfo_samples(cls, training):
    info, ours_cls = _MODULE_INFOS[cls], MODULES[cls]
    problems, n = [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        samples = info.module_inputs_func(info, device="cpu", dtype=torch.float64, requires_grad=False,
                                          training=training)
    for sample in samples:
        c, f = sample.constructor_input, sample.forward_input
        if f is None:
            continue
        where = f"{cls.__name__}(*{c.args}, **{c.kwargs}) on {_describe_args(f.args, f.kwargs)}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                torch.manual_seed(0)
                theirs = cls(*c.args, **c.kwargs).double().train(training)
                expected = theirs(*map(_clone, f.args), **{k: _clone(v) for k, v in f.kwargs.items()})
            except Exception:  # noqa: BLE001 - torch refuses the sample
                continue
            n += 1
            try:
                torch.manual_seed(0)
                mine = ours_cls(*c.args, **c.kwargs).double().train(training)
                mine.load_state_dict(_reseeded_state(cls, c), strict=True)
                got = mine(*map(_clone, f.args), **{k: _clone(v) for k, v in f.kwargs.items()})
            except Exception as err:  # noqa: BLE001 - any failure is a difference
                problems.append(f"{where}: raised {type(err).__name__}: {' '.join(str(err).split())[:200]}")
                continue
        try:
            torch.testing.assert_close(got, expected, equal_nan=True, rtol=1e-7, atol=1e-7)
            torch.testing.assert_close(dict(mine.state_dict()), dict(theirs.state_dict()), rtol=1e-7, atol=1e-7)
        except AssertionError as err:
            problems.append(f"{where}: {' '.join(str(err).split())[:300]}")
    assert n > 0
    assert not problems, f"{len(problems)} of {n} samples differ from torch:\n" + "\n".join(problems[:12])


def _reseeded_state(cls, c):
    """The state_dict torch's module had before its forward (built again from the same seed)."""
    torch.manual_seed(0)
    return cls(*c.args, **c.kwargs).double().state_dict()


def _describe_args(args, kwargs) -> str:
    def d(a):
        return f"T{tuple(a.shape)}" if isinstance(a, torch.Tensor) else repr(a)

    return f"args={[d(a) for a in args]} kwargs={ {k: d(v) for k, v in kwargs.items()} }"


OPTIMIZERS = {torch.optim.SGD: O.SGD, torch.optim.Adagrad: O.Adagrad, torch.optim.RMSprop: O.RMSprop,
              torch.optim.Adam: O.Adam, torch.optim.AdamW: O.AdamW}
_OPTIM_INFOS = {o.optim_cls: o for o in optim_db if o.optim_cls in OPTIMIZERS}


def _trajectory(cls, kwargs, steps=5):
    torch.manual_seed(0)
    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    x = torch.randn(8, 4, dtype=torch.float64)
    opt = cls([w, b], **copy.deepcopy(kwargs))
    out = []
    for _ in range(steps):
        def closure():
            opt.zero_grad()
            loss = ((x @ w + b).tanh() ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        out.append((w.detach().clone(), b.detach().clone()))
    return out


@pytest.mark.parametrize("cls", list(OPTIMIZERS), ids=lambda c: c.__name__)
def test_optimizerinfo_configs(cls):
    configs = _OPTIM_INFOS[cls].optim_inputs_func(device="cpu")
    problems = []
    for config in configs:
        kwargs = {k: v for k, v in config.kwargs.items() if k not in ("foreach", "fused", "differentiable",
                                                                       "capturable")}
        expected = _trajectory(cls, kwargs)
        try:
            got = _trajectory(OPTIMIZERS[cls], kwargs)
            torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
        except Exception as err:  # noqa: BLE001 - any failure is a difference
            problems.append(f"{cls.__name__}({config.kwargs}): {type(err).__name__}: "
                            f"{' '.join(str(err).split())[:200]}")
    assert not problems, f"{len(problems)} of {len(configs)} configurations differ:\n" + "\n".join(problems[:12])
