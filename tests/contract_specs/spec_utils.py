"""Contract cases for cvbook_lib.utils (references: numpy's and torch's seeding, torch.randn)."""

import inspect

import numpy as np
import torch

from contract_specs import Case
from cvbook_lib import utils as U


def _seed_ref(seed):
    """What seeding all three libraries accepts: numpy's RandomState refuses a seed outside [0, 2**32 - 1]."""
    np.random.RandomState(seed)
    return torch.Generator().manual_seed(seed)


def _draw(generator):
    return torch.randn(4, generator=generator)


def _randn(size, dtype=torch.float32):
    """``randn(*size)`` from a fresh generator (the fuzzer passes arguments by keyword)."""
    return U.randn(*size, generator=torch.Generator().manual_seed(0), dtype=dtype)


def _randn_ref(size, dtype=torch.float32):
    return torch.randn(*size, generator=torch.Generator().manual_seed(0), dtype=dtype)


def _device_and_draw(result):
    """(1 if cuda else 0, four draws of the generator): tensors only, which the comparison takes."""
    device, generator = result
    return torch.tensor(device.type == "cuda"), _draw(generator)


def _setup_ref(seed):
    return U.get_device(), _seed_ref(seed)


SPECS = {
    U.get_device: [Case(U.get_device, {}, ref=lambda: torch.device("cuda" if torch.cuda.is_available() else "cpu"))],
    U.seed_everything: [Case(U.seed_everything, dict(seed=3), ref=_seed_ref, out=_draw),
                        Case(U.seed_everything, dict(seed=2 ** 32 - 1), ref=_seed_ref, out=_draw)],
    U.setup_notebook: [Case(U.setup_notebook, dict(seed=0), ref=_setup_ref, out=_device_and_draw)],
    U.randn: [Case(_randn, dict(size=(2, 3)), ref=_randn_ref),
              Case(_randn, dict(size=(2, 3), dtype=torch.float64), ref=_randn_ref)],
    U.fmt: [
        # fmt shows any printable leaf: a string, a bool or None is shown as it is (not a tensor argument)
        Case(U.fmt, dict(x=torch.tensor([1.23456, -0.00001, 2.5]), decimals=3), skip={"x": {"str", "None"}}),
        Case(U.fmt, dict(x=1.23456, decimals=2), skip={"x": {"str", "bool", "None"}}),
        Case(U.fmt, dict(x=np.array([0.5, 2.0]), decimals=1), skip={"x": {"str"}}),
    ],
    # name is free text (any non-empty string), value anything displayable: neither is a choice or a number
    U.glue: [Case(U.glue, dict(name="answer", value=1.5, display=False), skip={"name": {"unknown"}, "value": "*"})],
    U.show_source: [Case(U.show_source, dict(obj=U.fmt), out=lambda m: getattr(m, "data", m),
                         ref=lambda obj: f"```python\n{inspect.getsource(obj).rstrip()}\n```")],
}
