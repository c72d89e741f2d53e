"""The contract fuzzer's machinery and its declarative table (one ``spec_<module>.py`` per module).

A :class:`Case` is one valid call of a public callable of cvbook_lib (``fn(**kwargs)``) and, where
one exists, the reference that the call must agree with (``ref(**kwargs)``: torch, torchvision,
scikit-learn, scipy). The battery (:func:`mutations`) changes **one** argument at a time, choosing
the bad inputs from the kind of the valid value:

- a tensor: ``None``, a string, a nested list; one more / one fewer dimension; an empty (zero-size)
  first and last dimension; a NaN, ``+inf`` or ``-inf`` element; ×1e4 and ×1e-30 magnitudes;
  float16, float64, bool, complex and int64 dtypes (int tensors: float, bool, out of range); a
  non-contiguous copy of the same values;
- a bool flag: ``'False'``, ``None``, ``1``, ``0`` (must be refused) and ``numpy.bool_`` (same answer);
- an int: a bool, a float, a string, ``None`` (refused); ``numpy.int64`` (same answer); 0, -1;
- a float: a string, a bool (refused); NaN, ±inf, 0, the negated value; ``numpy.float64`` (same answer);
- a choice string: an unknown string and a non-string (refused);
- a pair of ints: a bool element (refused), three elements;
- any other object (module, callable, list): a string.

The rules (:func:`check_case`):

1. Nothing raises but ``ValueError`` or ``TypeError``, and the message names the argument that was
   changed; an argument is never mutated by a call that raises.
2. An input that must be refused (wrong type, a string for a flag, a bool for an int ...) is refused.
3. Where a reference is given and accepts the changed input, the answer equals the reference's
   (NaN where it has NaN), unless the case lists the change in ``differs`` — a deliberate,
   documented difference, where the clear error is then required. Where the reference raises,
   ours raises a clear error too.
4. A non-contiguous copy, ``numpy`` scalars for ints/floats/bools give the same answer as the
   valid call.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

REFUSE = "refuse"  # must raise a clear ValueError/TypeError
SAME = "same"  # must give the same answer as the valid call
FLOAT_ONLY = ("int64", "bool", "complex")  # the dtype changes a ``float_only`` argument refuses
REF = "ref"  # compare with the reference where there is one; otherwise only rule 1


@dataclass
class Case:
    """One valid call and how to judge changed calls.

    fn: the callable under test, called as ``fn(**kwargs)``.
    kwargs: a valid call.
    ref: the reference, called with the same (changed) kwargs; its answer is compared with ours.
    out: applied to both answers before comparing (e.g. run a constructed module on an input).
    skip: ``{arg: {mutation, ...}}`` or ``{arg: "*"}``: changes that do not apply, each with a reason
        in a comment at the spec (an argument that legitimately accepts several types).
    differs: ``{(arg, mutation): reason}``: deliberate differences from the reference (we refuse).
    any_values: float tensor arguments for which every value (NaN, ±inf, subnormal, huge) is a valid
        input: ``tests/test_contract.py`` draws their values with hypothesis and compares with ``ref``.
    float_only: tensor arguments where cvbook_lib deliberately refuses int64, bool and complex
        tensors that torch would promote (the module docstring says so); the clear error is required.
    optional: arguments for which ``None`` is valid (those whose default is ``None`` count already).
    arraylike: arguments that accept nested lists / numpy arrays (as scikit-learn does): the list
        form must give the same answer.
    state: returns the objects whose state a raising call must leave unchanged (modules, optimizers).
    never_raises: the callable must answer every input (exercise checks report, they do not raise).
    light: only the changes that must be refused (for slow callables such as animations).
    rtol, atol: tolerances for float32 comparisons with the reference (float16 gets 1e-2).
    """

    fn: Callable
    kwargs: dict
    ref: Callable | None = None
    out: Callable | None = None
    skip: dict = field(default_factory=dict)
    differs: dict = field(default_factory=dict)
    optional: set = field(default_factory=set)
    arraylike: set = field(default_factory=set)
    float_only: set = field(default_factory=set)
    any_values: set = field(default_factory=set)
    state: Callable | None = None
    never_raises: bool = False
    light: bool = False
    rtol: float = 1.3e-6
    atol: float = 1e-5
    label: str = ""


# ----------------------------------------------------------------------------- the battery
def _set_one(x: torch.Tensor, value: float) -> torch.Tensor:
    y = x.clone()
    if y.numel():
        y.view(-1)[y.numel() // 2] = value
    return y


def _noncontiguous(x: torch.Tensor) -> torch.Tensor:
    big = torch.zeros(*x.shape, 2, dtype=x.dtype, device=x.device)
    out = big[..., 0]
    out.copy_(x)
    return out


def _tensor_mutations(x: torch.Tensor):
    yield "None", None, REFUSE
    yield "str", "abc", REFUSE
    yield "list", x.tolist(), REF
    if x.dim() >= 1:
        yield "rank-", x[0].clone(), REF
    yield "rank+", x.unsqueeze(0).clone(), REF
    if x.dim() >= 1:
        yield "empty-first", x[:0].clone(), REF
        yield "empty-last", x[..., :0].clone(), REF
    if x.dim() >= 1 and x.numel() > 1:
        yield "noncontiguous", _noncontiguous(x), SAME
    if x.is_floating_point():
        yield "nan", _set_one(x, math.nan), REF
        yield "inf", _set_one(x, math.inf), REF
        yield "-inf", _set_one(x, -math.inf), REF
        yield "x1e4", x * 1e4, REF
        yield "x1e-30", x * 1e-30, REF
        yield "float64", x.double(), REF
        yield "float16", x.half(), REF
        yield "int64", x.round().long(), REF
        yield "bool", x > 0, REF
        yield "complex", x.to(torch.complex64), REF
    elif x.is_complex():
        yield "float", x.real.clone(), REF
        yield "nan", _set_one(x, complex(math.nan, 0)), REF
    elif x.dtype == torch.bool:
        yield "float", x.float(), REF
        yield "int64", x.long(), REF
    else:  # integer labels / indices
        yield "float", x.float(), REF
        yield "bool", x != 0, REF
        if x.numel():
            yield "too-big", _set_one(x, int(x.max()) + 100), REF
            yield "negative", _set_one(x, -7), REF


def _scalar_mutations(v):
    if isinstance(v, bool):
        for m, bad in (("str", "False"), ("None", None), ("int1", 1), ("int0", 0)):
            yield m, bad, REFUSE
        yield "np.bool_", np.bool_(v), SAME
    elif isinstance(v, int):
        yield "bool", True, REFUSE
        yield "float", float(v) + 0.5, REFUSE
        yield "str", str(v), REFUSE
        yield "None", None, REFUSE
        yield "np.int64", np.int64(v), SAME
        yield "zero", 0, REF
        yield "minus1", -1, REF
    elif isinstance(v, float):
        yield "str", "0.5", REFUSE
        yield "bool", True, REFUSE
        yield "None", None, REFUSE
        yield "np.float64", np.float64(v), SAME
        yield "nan", math.nan, REF
        yield "inf", math.inf, REF
        yield "-inf", -math.inf, REF
        yield "zero", 0.0, REF
        yield "negated", -v, REF
    elif isinstance(v, str):
        yield "unknown", "no-such-option", REFUSE
        yield "int", 1, REFUSE
    elif isinstance(v, tuple) and v and all(isinstance(e, int) and not isinstance(e, bool) for e in v):
        yield "bool-element", (True,) + v[1:], REFUSE
        yield "float-element", (float(v[0]) + 0.5,) + v[1:], REFUSE
        yield "np.int64", tuple(np.int64(e) for e in v), SAME
        yield "len3", v + v[:1] if len(v) == 2 else v[:1] * 3, REF
    elif v is None:
        return
    else:
        yield "str", "abc", REFUSE


def _none_defaults(fn) -> set:
    """The parameters of ``fn`` whose default is ``None`` (None is then a valid value)."""
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return set()
    return {name for name, p in params.items() if p.default is None}


def mutations(case: Case):
    """(arg, mutation name, new kwargs, expectation) for every applicable change of ``case``."""
    optional = set(case.optional) | _none_defaults(case.fn)
    for arg, value in case.kwargs.items():
        skip = case.skip.get(arg, set())
        if skip == "*":
            continue
        gen = _tensor_mutations(value) if isinstance(value, torch.Tensor) else _scalar_mutations(value)
        for name, bad, expect in gen:
            if name in skip:
                continue
            if bad is None and arg in optional:
                continue
            if name == "list" and arg in case.arraylike:
                expect = SAME
            if case.light and expect != REFUSE:
                continue
            kwargs = dict(case.kwargs)
            kwargs[arg] = bad
            yield arg, name, kwargs, expect


# ----------------------------------------------------------------------------- comparison
def _canon(x):
    """Answers as nested tuples/dicts of tensors so ``assert_close`` can compare them."""
    if isinstance(x, torch.Tensor):
        return x.detach()
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return x.item()
    if isinstance(x, dict):
        return {k: _canon(v) for k, v in x.items()}
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: _canon(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, (list, tuple)):
        return tuple(_canon(v) for v in x)
    return x


def _to_float(x):
    if isinstance(x, torch.Tensor):
        return x.double() if (x.is_floating_point() or x.dtype == torch.bool or not x.is_complex()) else x
    if isinstance(x, dict):
        return {k: _to_float(v) for k, v in x.items()}
    if isinstance(x, tuple):
        return tuple(_to_float(v) for v in x)
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    return x


def _dtype_mismatch(a, b) -> str | None:
    """Where both answers hold tensors at the same place, their dtypes must agree."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return None if a.dtype == b.dtype else f"dtype {a.dtype} where the reference gives {b.dtype}"
    if isinstance(a, dict) and isinstance(b, dict):
        return next((m for k in a.keys() & b.keys() if (m := _dtype_mismatch(a[k], b[k]))), None)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return next((m for x, y in zip(a, b) if (m := _dtype_mismatch(x, y))), None)
    return None


def same_answer(ours, theirs, rtol: float, atol: float, dtypes: bool = False) -> str | None:
    """None if equal (NaN where NaN; with ``dtypes``, tensors of the same dtype), else the mismatch as text."""
    if dtypes and (m := _dtype_mismatch(_canon(ours), _canon(theirs))) is not None:
        return m
    a, b = _to_float(_canon(ours)), _to_float(_canon(theirs))
    try:
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol, equal_nan=True, check_dtype=False,
                                   check_device=False)
    except AssertionError as err:
        return str(err).splitlines()[0][:300] + " | " + " ".join(str(err).split())[:400]
    except (TypeError, ValueError, RuntimeError) as err:
        if _plain_equal(a, b):  # objects assert_close cannot compare (strings beside tensors ...)
            return None
        return f"cannot compare {type(ours).__name__} with {type(theirs).__name__}: {err}"
    return None


def _plain_equal(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_plain_equal(a[k], b[k]) for k in a)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_plain_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        try:
            torch.testing.assert_close(a, b, equal_nan=True, check_dtype=False)
        except Exception:  # noqa: BLE001 - not equal, whatever the reason
            return False
        return True
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - objects without equality
        return False


# ----------------------------------------------------------------------------- judging
def _snapshot(kwargs: dict, state):
    snap = {k: v.clone() for k, v in kwargs.items() if isinstance(v, torch.Tensor)}
    objs = state() if state is not None else []
    return snap, [copy.deepcopy(_state_of(o)) for o in objs]


def _state_of(obj):
    if isinstance(obj, torch.nn.Module):
        return {k: v.clone() for k, v in obj.state_dict().items()}
    if isinstance(obj, torch.optim.Optimizer) or hasattr(obj, "state_dict"):
        return obj.state_dict()
    return vars(obj)


def _mutated(kwargs: dict, snap, state) -> str | None:
    before, objs_before = snap
    for k, v in before.items():
        now = kwargs[k]
        if now.shape != v.shape or not torch.equal(torch.nan_to_num(now), torch.nan_to_num(v)):
            return f"argument {k} was modified"
    objs = state() if state is not None else []
    for obj, old in zip(objs, objs_before):
        if same_answer(_state_of(obj), old, 0, 0) is not None:
            return f"{type(obj).__name__} state was modified"
    return None


def _call(fn, kwargs, out):
    result = fn(**kwargs)
    return out(result) if out is not None else result


def check_case(case: Case) -> list[str]:
    """Run the battery on one case; return the broken rules as lines of text."""
    import warnings

    problems: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        baseline = None if case.light else _call(case.fn, copy.copy(case.kwargs), case.out)
        if baseline is not None and case.ref is not None:
            torch.manual_seed(0)
            expected = _call(case.ref, copy.deepcopy(case.kwargs), case.out)
            if (d := same_answer(baseline, expected, case.rtol, case.atol,
                                 dtypes=isinstance(expected, torch.Tensor))) is not None:
                problems.append(f"the valid call differs from the reference: {d}")
        for arg, name, kwargs, expect in mutations(case):
            where = f"{arg}={name}"
            snap = _snapshot(kwargs, case.state)
            torch.manual_seed(0)
            try:
                ours, err = _call(case.fn, kwargs, case.out), None
            except (ValueError, TypeError) as e:
                ours, err = None, e
            except Exception as e:  # noqa: BLE001 - the rule under test
                problems.append(f"{where}: raised {type(e).__name__}: {str(e)[:200]}")
                continue
            if err is not None:
                if case.never_raises:
                    problems.append(f"{where}: raised {type(err).__name__} but must always answer: {err}")
                elif arg not in str(err):
                    problems.append(f"{where}: message does not name {arg!r}: {type(err).__name__}: {str(err)[:200]}")
                if (m := _mutated(kwargs, snap, case.state)) is not None:
                    problems.append(f"{where}: raised but {m}")
            if case.never_raises:
                continue
            if expect == REFUSE:
                if err is None:
                    problems.append(f"{where}: accepted a value that must be refused")
                continue
            if expect == SAME:
                if err is not None:
                    problems.append(f"{where}: refused an equivalent value: {err}")
                elif (d := same_answer(ours, baseline, 1e-6, 1e-6)) is not None:
                    problems.append(f"{where}: answer differs from the valid call's: {d}")
                continue
            if case.ref is None:
                continue
            deliberate = (arg, name) in case.differs or (arg in case.float_only and name in FLOAT_ONLY)
            torch.manual_seed(0)
            try:
                theirs, ref_err = _call(case.ref, copy.deepcopy(kwargs), case.out), None
            except Exception as e:  # noqa: BLE001 - any reference failure means "not accepted"
                theirs, ref_err = None, e
            if ref_err is not None:
                if err is None:
                    problems.append(f"{where}: the reference raises ({type(ref_err).__name__}: "
                                    f"{str(ref_err)[:120]}) but ours returned an answer")
                continue
            if deliberate:
                if err is None:
                    problems.append(f"{where}: listed as a deliberate difference but not refused")
                continue
            if err is not None:
                problems.append(f"{where}: the reference accepts this but ours raised {type(err).__name__}: {err}")
                continue
            tol = (1e-2, 1e-2) if name == "float16" else (case.rtol, case.atol)
            if name == "x1e4":
                tol = (max(tol[0], 1e-5), tol[1] * 1e4)
            if (d := same_answer(ours, theirs, *tol, dtypes=isinstance(theirs, torch.Tensor))) is not None:
                problems.append(f"{where}: differs from the reference: {d}")
    return problems
