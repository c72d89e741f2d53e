"""Contract cases for cvbook_lib.compress.deploy (ONNX export and ONNX Runtime; no reference callable: the
tests in tests/test_compress_deploy.py compare the exported graphs with the torch models they came from and
with torch.nn.utils.fusion). The files live in a temporary folder made when this table is imported; each
answer is compared through what it computes (ONNX Runtime's outputs on a fixed input, the op counts)."""

import atexit
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from contract_specs import Case
from cvbook_lib.compress import deploy as D

_DIR = Path(tempfile.mkdtemp(prefix="cvbook_deploy_spec_"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
_G = torch.Generator().manual_seed(0)
torch.manual_seed(0)
_NET = nn.Sequential(
    nn.Conv2d(1, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 5 * 5, 4)
).eval()
_X = torch.rand(2, 1, 5, 5, generator=_G)
_PROBE = torch.rand(3, 1, 5, 5, generator=_G)
_SRC = str(_DIR / "net.onnx")
_PROTO = D.export_onnx(_NET, _X, _SRC)
_SESSION = D.ort_session(_SRC)
_FNS = {"double": lambda t: t * 2, "same": lambda t: t}

# a path is free text: "no-such-option" is a valid name for a file to write
_FREE_PATH = {"unknown"}


def _run_proto(proto):
    return D.ort_run(D.ort_session(proto), _PROBE)


def _run_path(path):
    return D.ort_run(D.ort_session(path), _PROBE)


SPECS = {
    D.export_onnx: [
        Case(
            D.export_onnx,
            dict(
                model=_NET,
                example_input=_X,
                path=str(_DIR / "out.onnx"),
                dynamic_batch=True,
                optimize=False,
                opset_version=18,
            ),
            out=_run_proto,
            skip={"path": _FREE_PATH},
            state=lambda: [_NET],
        ),
    ],
    D.ort_session: [
        Case(
            D.ort_session,
            dict(model_or_path=_SRC, optimization="extended", threads=1),
            out=lambda s: D.ort_run(s, _PROBE),
        ),
        Case(
            D.ort_session,
            dict(model_or_path=_PROTO, optimization="basic", threads=2),
            out=lambda s: D.ort_run(s, _PROBE),
        ),
    ],
    D.ort_run: [
        Case(D.ort_run, dict(session=_SESSION, x=_X)),
    ],
    D.optimized_graph: [
        Case(D.optimized_graph, dict(model_or_path=_SRC, optimization="extended"), out=D.op_counts),
    ],
    D.op_counts: [
        Case(D.op_counts, dict(model_or_path=_SRC)),
        Case(D.op_counts, dict(model_or_path=_PROTO)),
    ],
    D.folded_conv_weights: [
        Case(D.folded_conv_weights, dict(model_or_path=_SRC)),
    ],
    D.quantize_onnx: [
        Case(
            D.quantize_onnx,
            dict(src=_SRC, dst=str(_DIR / "int8.onnx"), calibration=_X, per_channel=True, mode="static"),
            out=_run_path,
            skip={"dst": _FREE_PATH},
        ),
        Case(
            D.quantize_onnx,
            dict(src=_SRC, dst=str(_DIR / "dyn.onnx"), per_channel=False, mode="dynamic"),
            out=_run_path,
            skip={"dst": _FREE_PATH},
        ),
    ],
    D.file_size: [
        Case(D.file_size, dict(model_or_path=_SRC)),
        Case(D.file_size, dict(model_or_path=_NET)),
    ],
    D.measure_latency: [
        Case(D.measure_latency, dict(fns=_FNS, x=_X, rounds=2, warmup=1), out=lambda r: [list(v) for v in r.values()]),
    ],
}
