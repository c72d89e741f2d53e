"""Contract cases for cvbook_lib.exercises, exercises_models, exercises_compress and
exercises_misc and exercises_recsys: every check answers every
input with a CheckResult.

Each check gets three valid-looking answers — an int, a float and a one-element tensor — and the
battery changes them into None, strings, lists, bools, NaN, ±inf, numpy scalars, empty / 2-D / bool /
complex / int tensors; ``never_raises`` requires a ``CheckResult`` for all of them.
"""

import torch

from contract_specs import Case
from cvbook_lib import exercises as E
from cvbook_lib import exercises_compress as EC
from cvbook_lib import exercises_misc as EMI
from cvbook_lib import exercises_models as EM
from cvbook_lib import exercises_recsys as ER

_CHECKS = [getattr(mod, name) for mod in (E, EM, EC, EMI, ER) for name in mod.__all__ if name.startswith("check_")]


def _verdict(result):
    """What a check answered, in a form the comparison takes (and a CheckResult, or the rule fails)."""
    assert isinstance(result, E.CheckResult), f"a check must return a CheckResult, got {type(result).__name__}"
    return (torch.tensor(result.ok), result.message)


SPECS = {
    check: [Case(check, dict(answer=55), out=_verdict, never_raises=True),
            Case(check, dict(answer=0.25), out=_verdict, never_raises=True),
            Case(check, dict(answer=torch.tensor([0.25])), out=_verdict, never_raises=True)]
    for check in _CHECKS
}
SPECS[E.CheckResult] = [
    # message is free text, not a choice among options
    Case(E.CheckResult, dict(ok=True, message="right"), out=lambda r: (r.ok, r.message, repr(r)),
         skip={"message": {"unknown"}}),
]
