"""The contract of every public callable of cvbook_lib, fuzzed (issue 15; BOOK.md section 8).

Every name in the ``__all__`` of every cvbook_lib module that is callable needs an entry in the
table ``tests/contract_specs/spec_*.py`` (``SPECS = {callable: [Case, ...]}``); the machinery and
its rules are in ``tests/contract_specs/__init__.py``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
import torch
from contract_specs import check_case, same_answer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import cvbook_lib


def _modules():
    """cvbook_lib and every public module and subpackage below it (widgets, models, ...)."""
    names = [m.name for m in pkgutil.walk_packages(cvbook_lib.__path__, "cvbook_lib.")
             if not any(part.startswith("_") for part in m.name.split("."))]
    return ["cvbook_lib"] + sorted(set(names))


def public_callables() -> dict[str, object]:
    """{qualified name: object} for every callable public name (re-exports counted once)."""
    found: dict[int, tuple[str, object]] = {}
    for modname in _modules():
        mod = importlib.import_module(modname)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if inspect.ismodule(obj) or not callable(obj):
                continue
            key = f"{getattr(obj, '__module__', modname)}.{getattr(obj, '__qualname__', name)}"
            found.setdefault(id(obj), (key, obj))
    return dict(found.values())


def all_specs() -> dict:
    specs: dict = {}
    import contract_specs

    for m in pkgutil.iter_modules(contract_specs.__path__):
        if m.name.startswith("spec_"):
            table = importlib.import_module(f"contract_specs.{m.name}").SPECS
            for obj, cases in table.items():
                if obj in specs:
                    raise AssertionError(f"{obj!r} has entries in two spec files")
                specs[obj] = cases
    return specs


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: torch's thread pool costs more than the arithmetic (about 12 ms against 4 µs a call)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


PUBLIC = public_callables()
SPECS = all_specs()
CASES = [(f"{key}[{i}]", case) for key, obj in sorted(PUBLIC.items()) for i, case in enumerate(SPECS.get(obj, []))]


def test_every_public_callable_has_an_entry():
    missing = sorted(key for key, obj in PUBLIC.items() if obj not in SPECS or not SPECS[obj])
    assert not missing, f"{len(missing)} public callables have no contract case, e.g. {missing[:20]}"


def test_every_entry_is_public():
    public = set(map(id, PUBLIC.values()))
    extra = [obj for obj in SPECS if id(obj) not in public]
    assert not extra, f"contract cases for names that are not public: {extra}"


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_contract(case):
    problems = check_case(case)
    assert not problems, f"{len(problems)} broken rules:\n" + "\n".join(problems)


ANY_VALUES = [(i, c) for i, c in CASES if c.any_values and c.ref is not None]


@pytest.mark.parametrize("case", [c for _, c in ANY_VALUES], ids=[i for i, _ in ANY_VALUES])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_values_match_the_reference(case, data):
    """Arguments for which every float is valid: values drawn by hypothesis (NaN, ±inf, subnormals,
    ±3e38 included) give the reference's answer, NaN where it has NaN."""
    kwargs = dict(case.kwargs)
    for arg in sorted(case.any_values):
        x = kwargs[arg]
        values = data.draw(hnp.arrays(dtype="float32", shape=tuple(x.shape),
                                      elements=st.floats(width=32, allow_nan=True, allow_infinity=True)), label=arg)
        kwargs[arg] = torch.from_numpy(values).to(x.dtype)
    ours = case.fn(**{k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()})
    theirs = case.ref(**{k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()})
    if case.out is not None:
        ours, theirs = case.out(ours), case.out(theirs)
    mismatch = same_answer(ours, theirs, case.rtol, case.atol)
    assert mismatch is None, mismatch
