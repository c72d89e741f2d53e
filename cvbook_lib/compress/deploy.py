"""Deployment: export a torch model to ONNX, optimize and run it with ONNX Runtime (CPU), quantize it to int8,
and measure what that buys (file size, latency).

ONNX (Open Neural Network Exchange, https://onnx.ai) is a file format, not a framework: a protobuf
``ModelProto`` holding a graph of standard operators (each versioned by an *opset*) and its weights.
ONNX Runtime (https://onnxruntime.ai) loads it, rewrites the graph (``basic``: constant folding, redundant
nodes removed, BatchNormalization folded into the Conv before it; ``extended``: Conv + ReLU fused into one
``FusedConv`` kernel and similar fusions; ``all``: also layout changes such as NCHWc blocking that depend on
the CPU) and runs it. :func:`quantize_onnx` uses ONNX Runtime's own tools (``quantize_static`` with
QuantizeLinear/DequantizeLinear pairs, "QDQ", calibrated with min-max; or ``quantize_dynamic``).

The exporter is ``torch.onnx.export(..., dynamo=True)`` (torch.export, then onnxscript). It prints progress
and warns about internals; :func:`export_onnx` keeps that out of the caller's output. Sessions run with
ONNX Runtime's log level at "error" for the same reason.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import random
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from torch import nn

from .._checks import _short, check_bool, check_choice, check_int, check_optional_int, check_tensor

__all__ = [
    "export_onnx",
    "ort_session",
    "ort_run",
    "optimized_graph",
    "op_counts",
    "folded_conv_weights",
    "quantize_onnx",
    "file_size",
    "measure_latency",
]

_LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
_ORT_DTYPES = {"tensor(float)": torch.float32, "tensor(double)": torch.float64}
_ORT_DTYPES |= {f"tensor({n})": getattr(torch, n) for n in ("float16", "int64", "int32", "uint8", "int8", "bool")}


@contextlib.contextmanager
def _quiet():
    """No prints, warnings or log records from the exporter / quantizer reach the caller."""
    disabled = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(disabled)


def _check_path(path, name: str, exists: bool = False) -> Path:
    if not isinstance(path, (str, os.PathLike)) or isinstance(path, bytes):
        raise TypeError(f"{name} must be a str or os.PathLike path, got {type(path).__name__} {_short(path)}")
    p = Path(path)
    if exists and not p.is_file():
        raise ValueError(f"{name} must name an existing ONNX file, got {str(path)!r}")
    if not exists and not p.parent.is_dir():
        raise ValueError(f"{name} must be in an existing folder, got {str(path)!r}")
    return p


def _load(model_or_path, name: str = "model_or_path") -> onnx.ModelProto:
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path
    if not isinstance(model_or_path, (str, os.PathLike)):
        raise TypeError(
            f"{name} must be an onnx.ModelProto or a path to an ONNX file, got "
            f"{type(model_or_path).__name__} {_short(model_or_path)}"
        )
    path = _check_path(model_or_path, name, exists=True)
    try:
        return onnx.load(path)
    except Exception as err:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise ValueError(f"{name}={str(model_or_path)!r} is not an ONNX model: {err}") from err


# ----------------------------------------------------------------------------- export
def export_onnx(
    model: nn.Module,
    example_input: torch.Tensor,
    path,
    *,
    dynamic_batch: bool = True,
    optimize: bool = False,
    opset_version: int | None = None,
) -> onnx.ModelProto:
    """Export ``model`` (in eval mode) to the ONNX file ``path`` with ``torch.onnx.export(model,
    (example_input,), path, dynamo=True)``, check it with ``onnx.checker.check_model`` and return it.

    example_input (Tensor[N, ...] float): traced once; the graph's input is called ``input``, its output
    ``output``. dynamic_batch: the first dimension becomes the symbolic ``batch`` (any batch size runs;
    otherwise the graph is fixed to N). optimize: True runs the exporter's own onnxscript optimizer (constant
    folding and rewrite rules, which already fold BatchNormalization into Conv); False only folds constants
    (``onnxscript.optimizer.fold_constants``: e.g. the zero bias the exporter computes at run time for a conv
    with ``bias=False``, which would stop any later BN folding) and keeps every traced operator (Conv,
    BatchNormalization, Relu), so ONNX Runtime's rewrites can be seen. The exporter's per-node debugging
    metadata (module path, FX node, source location: a quarter of the digits model's file) is removed, so
    the file holds the graph and its weights.
    opset_version: None for the exporter's default (18..the installed onnx's newest otherwise).
    Every module's training flag is restored afterwards.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__} {_short(model)}")
    check_tensor(example_input, "example_input", min_ndim=1, kind="float")
    if example_input.numel() == 0:
        raise ValueError(f"example_input must be non-empty, got shape {tuple(example_input.shape)}")
    path = _check_path(path, "path")
    dynamic_batch, optimize = check_bool(dynamic_batch, "dynamic_batch"), check_bool(optimize, "optimize")
    opset_version = check_optional_int(opset_version, "opset_version", 18, onnx.defs.onnx_opset_version())
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        try:
            with torch.no_grad():
                model(example_input)
        except Exception as err:  # noqa: BLE001 - the model's own error, named after the argument
            raise ValueError(
                f"model cannot take example_input of shape {tuple(example_input.shape)} ({example_input.dtype}): {err}"
            ) from err
        dynamic = ({0: torch.export.Dim("batch")},) if dynamic_batch else None
        try:
            with _quiet():
                torch.onnx.export(
                    model,
                    (example_input,),
                    path,
                    dynamo=True,
                    optimize=optimize,
                    verbose=False,
                    opset_version=opset_version,
                    input_names=["input"],
                    output_names=["output"],
                    dynamic_shapes=dynamic,
                    external_data=False,
                )
        except Exception as err:  # noqa: BLE001 - torch.export / onnxscript failures
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise ValueError(
                f"model could not be exported to ONNX with example_input of shape {tuple(example_input.shape)} "
                f"({type(err).__name__}): {first}"
            ) from err
    finally:
        for m, flag in flags.items():
            m.training = flag
    proto = onnx.load(path)
    if not optimize:  # the zero bias torchlib builds for bias=False at run time (Shape, Expand) becomes constant
        import onnxscript.optimizer

        with _quiet():
            onnxscript.optimizer.fold_constants(proto)
            onnxscript.optimizer.remove_unused_nodes(proto)
    for node in proto.graph.node:  # the exporter's debugging notes: module path, FX node, stack trace
        del node.metadata_props[:]
    onnx.save(proto, path)
    onnx.checker.check_model(proto, full_check=True)
    return proto


# ----------------------------------------------------------------------------- ONNX Runtime
def _session(model_or_path, optimization: str, threads: int, save_to: Path | None = None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = _LEVELS[optimization]
    opts.intra_op_num_threads = opts.inter_op_num_threads = threads
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3  # errors only: warnings would go to stderr from C++
    if save_to is not None:
        opts.optimized_model_filepath = str(save_to)
    if isinstance(model_or_path, onnx.ModelProto):
        source = model_or_path.SerializeToString()
    else:
        source = str(_check_path(model_or_path, "model_or_path", exists=True))
    try:
        return ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - onnxruntime's own exception types
        raise ValueError(f"model_or_path cannot be loaded by ONNX Runtime: {str(err)[:300]}") from err


def ort_session(model_or_path, *, optimization: str = "extended", threads: int = 1) -> ort.InferenceSession:
    """An ONNX Runtime ``InferenceSession`` on the ``CPUExecutionProvider``.

    model_or_path: an ``onnx.ModelProto`` or the path of an ONNX file. optimization: the graph optimization
    level, one of "disabled", "basic", "extended", "all" (ONNX Runtime's default is "all", whose NCHWc layout
    nodes depend on the CPU). threads: intra- and inter-op threads (1: steady timings, no competition with
    other processes); execution is sequential.
    """
    if not isinstance(model_or_path, (onnx.ModelProto, str, os.PathLike)):
        _load(model_or_path)  # raises the TypeError
    optimization = check_choice(optimization, "optimization", tuple(_LEVELS))
    threads = check_int(threads, "threads", 1)
    return _session(model_or_path, optimization, threads)


def ort_run(session: ort.InferenceSession, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Run a one-input session on ``x`` (Tensor[N, ...] of the input's dtype and rank; fixed dimensions
    must match, symbolic ones are free). The input goes to ONNX Runtime as a CPU numpy array; the outputs
    come back as tensors on ``x``'s device: one tensor, or a tuple when the model has several outputs."""
    if not isinstance(session, ort.InferenceSession):
        raise TypeError(f"session must be an onnxruntime.InferenceSession, got {type(session).__name__}")
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ValueError(f"session must have exactly one input, got {[i.name for i in inputs]}")
    spec = inputs[0]
    check_tensor(x, "x")
    want = _ORT_DTYPES.get(spec.type)
    if want is None or x.dtype != want:
        raise TypeError(f"x must have dtype {want} (the model's input is {spec.type}), got {x.dtype}")
    if x.dim() != len(spec.shape) or any(isinstance(d, int) and d != n for d, n in zip(spec.shape, x.shape)):
        raise ValueError(f"x must have shape {spec.shape} (names are free dimensions), got {tuple(x.shape)}")
    try:
        outs = session.run(None, {spec.name: x.detach().cpu().contiguous().numpy()})
    except Exception as err:  # noqa: BLE001 - onnxruntime's own exception types
        raise ValueError(f"ONNX Runtime cannot run the model on x of shape {tuple(x.shape)}: {str(err)[:300]}") from err
    outs = tuple(torch.from_numpy(o).to(x.device) for o in outs)
    return outs[0] if len(outs) == 1 else outs


def optimized_graph(model_or_path, optimization: str = "basic") -> onnx.ModelProto:
    """The graph ONNX Runtime runs after its optimizations at level ``optimization`` ("disabled", "basic",
    "extended", "all"), as it writes it with ``SessionOptions.optimized_model_filepath`` (read back from a
    temporary file). Nodes of "extended" and "all" may be in the ``com.microsoft`` domain (``FusedConv``)."""
    if not isinstance(model_or_path, (onnx.ModelProto, str, os.PathLike)):
        _load(model_or_path)
    optimization = check_choice(optimization, "optimization", tuple(_LEVELS))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "optimized.onnx"
        _session(model_or_path, optimization, 1, save_to=out)
        return onnx.load(out)


def op_counts(model_or_path) -> dict[str, int]:
    """{op_type: number of nodes} of the model's main graph (subgraphs of If/Loop not counted), sorted by
    op_type; the domain is dropped (``FusedConv`` is in ``com.microsoft``, the blocked ``Conv`` of level "all"
    in ``com.microsoft.nchwc``). model_or_path: an ``onnx.ModelProto`` or the path of an ONNX file."""
    counts: dict[str, int] = {}
    for node in _load(model_or_path).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))


def folded_conv_weights(model_or_path) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """(weight Tensor[C_out, C_in/groups, kH, kW], bias Tensor[C_out] or None) of every ``Conv`` and
    ``FusedConv`` node, in graph order, read from the graph's initializers. On a graph that ONNX Runtime
    optimized at "basic" or above (:func:`optimized_graph`) these are the weights with BatchNormalization
    folded in, ``s·W`` and ``s·(b - μ) + β`` with ``s = γ/√(σ² + ε)``. A conv whose weight is computed by
    other nodes (a quantized QDQ graph) raises ValueError."""
    graph = _load(model_or_path).graph
    init = {t.name: t for t in graph.initializer}
    init.update(
        {
            n.output[0]: n.attribute[0].t
            for n in graph.node
            if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"
        }
    )
    out = []
    for node in graph.node:
        if node.op_type not in ("Conv", "FusedConv"):
            continue
        names = list(node.input[1:3])
        if names[0] not in init or (len(names) > 1 and names[1] and names[1] not in init):
            raise ValueError(f"model_or_path: the weights of {node.op_type} node {node.name!r} are not initializers")
        w = torch.from_numpy(numpy_helper.to_array(init[names[0]]).copy())
        b = torch.from_numpy(numpy_helper.to_array(init[names[1]]).copy()) if len(names) > 1 and names[1] else None
        out.append((w, b))
    return out


# ----------------------------------------------------------------------------- int8
class _Batches:
    """ONNX Runtime's CalibrationDataReader protocol (``get_next`` → feed dict or None) over a tensor."""

    def __init__(self, name: str, x: torch.Tensor, batch: int):
        self.feeds = iter([{name: x[i : i + batch].contiguous().numpy()} for i in range(0, len(x), batch)])

    def get_next(self):
        return next(self.feeds, None)


def quantize_onnx(
    src, dst, calibration: torch.Tensor | None = None, *, per_channel: bool = True, mode: str = "static"
) -> Path:
    """Quantize the ONNX model ``src`` to int8 and write it to ``dst`` with ``onnxruntime.quantization``.

    The graph is first prepared as ``quant_pre_process`` would (ONNX Runtime's "basic" rewrites, so BN is
    folded before quantizing, then ONNX shape inference); that is done here directly, since in onnxruntime
    1.30 ``quant_pre_process`` fails in its symbolic shape inference on the exporter's ``Constant(value_ints)``
    nodes and, with that step skipped, quantizes the unoptimized graph.

    mode "static": ``quantize_static`` in QDQ format, int8 weights (per output channel if ``per_channel``)
    and int8 activations whose ranges come from min-max calibration on ``calibration`` (Tensor[N, ...] float32
    of the input's shape; fed in batches of 64, or of the fixed batch size). mode "dynamic":
    ``quantize_dynamic``: int8 weights, activations quantized at run time from their own range;
    ``calibration`` must then be None. Deterministic. Returns: ``Path(dst)``.
    """
    src = _check_path(src, "src", exists=True)
    dst = _check_path(dst, "dst")
    if dst.resolve() == src.resolve():
        raise ValueError(f"dst must differ from src, got {str(dst)!r} for both")
    per_channel = check_bool(per_channel, "per_channel")
    mode = check_choice(mode, "mode", ("static", "dynamic"))
    model = _load(src, "src")
    graph_inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(graph_inputs) != 1:
        raise ValueError(f"src must have exactly one input, got {[i.name for i in graph_inputs]}")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in graph_inputs[0].type.tensor_type.shape.dim]
    if mode == "dynamic":
        if calibration is not None:
            raise ValueError("calibration must be None with mode='dynamic' (activations are not calibrated)")
    else:
        if calibration is None:
            raise ValueError("calibration must be a Tensor[N, ...] of sample inputs with mode='static'")
        check_tensor(calibration, "calibration", ndims=(len(dims),), kind="float")
        if calibration.dtype != torch.float32:
            raise TypeError(f"calibration must be float32 (the model's input), got {calibration.dtype}")
        if calibration.shape[0] == 0 or not bool(torch.isfinite(calibration).all()):
            raise ValueError(f"calibration must be non-empty and finite, got {_short(calibration)}")
        if any(d is not None and d != n for d, n in zip(dims[1:], calibration.shape[1:])) or (
            dims[0] is not None and calibration.shape[0] % dims[0]
        ):
            raise ValueError(
                f"calibration must have the input's shape {dims} (a multiple of a fixed batch), got "
                f"{tuple(calibration.shape)}"
            )
    from onnxruntime import quantization as Q

    with tempfile.TemporaryDirectory() as tmp, _quiet():
        pre, prepared = Path(tmp) / "pre.onnx", optimized_graph(src, "basic")
        del prepared.graph.value_info[:]  # quantize_dynamic rewrites Gemm and then contradicts old shapes
        onnx.save(prepared if mode == "dynamic" else onnx.shape_inference.infer_shapes(prepared), pre)
        if mode == "dynamic":
            Q.quantize_dynamic(pre, dst, per_channel=per_channel, weight_type=Q.QuantType.QInt8)
        else:
            reader = _Batches(graph_inputs[0].name, calibration.detach().cpu(), dims[0] or 64)
            Q.quantize_static(
                pre,
                dst,
                reader,
                quant_format=Q.QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=Q.QuantType.QInt8,
                weight_type=Q.QuantType.QInt8,
                calibrate_method=Q.CalibrationMethod.MinMax,
            )
    return dst


# ----------------------------------------------------------------------------- size and speed
def file_size(model_or_path) -> int:
    """Bytes on disk: of an ONNX file (a path), of a serialized ``onnx.ModelProto``, or of an ``nn.Module``'s
    ``state_dict`` written by ``torch.save`` to memory (quantized modules store their packed int8 weights there;
    the zip records inside are named after the file, so this is the size of a file called ``archive.pt``)."""
    if isinstance(model_or_path, nn.Module):
        buf = io.BytesIO()
        torch.save(model_or_path.state_dict(), buf)
        return buf.getbuffer().nbytes
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path.ByteSize()
    if not isinstance(model_or_path, (str, os.PathLike)):
        raise TypeError(
            f"model_or_path must be an nn.Module, an onnx.ModelProto or a path, got "
            f"{type(model_or_path).__name__} {_short(model_or_path)}"
        )
    return _check_path(model_or_path, "model_or_path", exists=True).stat().st_size


def measure_latency(fns: dict[str, Callable], x: torch.Tensor, *, rounds: int = 30, warmup: int = 3,
                    threads: int | None = 1) -> dict:
    """Median wall-clock time of ``fn(x)`` for every callable of ``fns`` (modules included), under
    ``torch.no_grad()``: ``warmup`` untimed calls each, then ``rounds`` rounds that call every function once in
    turn, in an order shuffled every round (seeded), so slow drifts of the machine, and whatever a call pays
    for the one before it (caches, a runtime's spinning threads), hit all of them alike. CUDA is synchronized around
    each call when ``x`` is on a GPU.

    threads: torch's intra-op threads during the measurement (restored after); 1 by default, as
    :func:`ort_session` runs ONNX Runtime on one thread, so that the comparison is of kernels, not of thread
    pools (on a busy machine torch's pool can cost far more than a small model's arithmetic); None keeps
    torch's setting.

    Returns: {"medians": {name: seconds}, "ratios": {name: median / the first entry's median}}.
    """
    if not isinstance(fns, dict) or not fns:
        raise TypeError(f"fns must be a non-empty dict {{name: callable}}, got {type(fns).__name__} {_short(fns)}")
    for name, fn in fns.items():
        if not isinstance(name, str) or not callable(fn):
            raise TypeError(f"fns must map str names to callables, got {name!r}: {type(fn).__name__}")
    check_tensor(x, "x")
    rounds, warmup = check_int(rounds, "rounds", 1), check_int(warmup, "warmup", 0)
    threads = None if threads is None else check_int(threads, "threads", 1)
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)

    def call(name: str) -> float:
        try:
            sync()
            start = time.perf_counter()
            fns[name](x)
            sync()
            return time.perf_counter() - start
        except Exception as err:  # noqa: BLE001 - the callable's own error, named after the arguments
            raise ValueError(f"fns[{name!r}] fails on x of shape {tuple(x.shape)} ({x.dtype}): {err}") from err

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _timed(fns, call, rounds, warmup)
    finally:
        torch.set_num_threads(before)


def _timed(fns: dict, call: Callable, rounds: int, warmup: int) -> dict:
    times: dict[str, list[float]] = {name: [] for name in fns}
    with torch.no_grad():
        for name in fns:
            for _ in range(warmup):
                call(name)
        names, order = list(fns), random.Random(0)
        for _ in range(rounds):
            order.shuffle(names)             # a new order every round: no function always follows the same one
            for name in names:
                times[name].append(call(name))
    medians = {name: statistics.median(t) for name, t in times.items()}
    first = next(iter(medians.values()))
    ratios = {name: m / first if first > 0 else float("nan") for name, m in medians.items()}
    return {"medians": medians, "ratios": ratios}
