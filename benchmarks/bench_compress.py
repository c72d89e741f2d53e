"""Speed of cvbook_lib.compress's kernels as ratios against torch's, in one run.

    python benchmarks/bench_compress.py [--repeat 30] [--engine x86]

Each row times ours and the references side by side (same inputs, same process, after a warm-up, all of
them alternating in every round: ``timed_pairs`` from bench_kernels.py) and prints the median times and
the medians of the round-by-round ratios ours / reference. CPU only: torch's quantized modules have no
CUDA kernels. No target: the integer matmul here is an int64 ``torch.matmul`` (no int8 SIMD kernel), so
the rows say how far a readable integer-only layer is from fbgemm's int8 GEMM and from float32 BLAS.

To add a row, append a function to ``ROWS``: it returns ``(name, ours, {reference name: callable})``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings
from pathlib import Path

import torch
import torch.ao.nn.quantized as nnq
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_kernels import timed_pairs  # noqa: E402  (the alternating rounds, warm-up first)

from cvbook_lib.compress import qops  # noqa: E402

warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")


def quantized_linear_row(batch: int = 64, in_features: int = 512, out_features: int = 512):
    """qops.quantized_linear vs torch.ao.nn.quantized.Linear (per-tensor qint8 weight) and float F.linear."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, in_features, generator=g)
    w, b = torch.randn(out_features, in_features, generator=g) * 0.05, torch.randn(out_features, generator=g)
    xs, xz, ws, os_, oz = 0.03, 128, float(w.abs().max() / 127), 0.1, 128
    xq, wq = torch.quantize_per_tensor(x, xs, xz, torch.quint8), torch.quantize_per_tensor(w, ws, 0, torch.qint8)
    m = nnq.Linear(in_features, out_features)
    m.set_weight_bias(wq, b)
    m.scale, m.zero_point = os_, oz
    x_int, w_int = xq.int_repr(), wq.int_repr()

    def ours():
        return qops.quantized_linear(x_int, xs, xz, w_int, ws, 0, b, os_, oz)

    diff = (ours().int() - m(xq).int_repr().int()).abs().max().item()
    assert diff <= 1, f"quantized_linear differs from nnq.Linear by {diff} LSB"
    refs = {"nnq.Linear": lambda: m(xq), "F.linear fp32": lambda: F.linear(x, w, b)}
    return f"quantized_linear {batch}x{in_features}->{out_features}", ours, refs


def fused_conv_row(batch: int = 8, channels: int = 64, size: int = 56):
    """Inference through fuse.fuse_conv_bn's folded conv vs the unfused Conv2d → BatchNorm2d pair (eval), and
    vs torch.nn.utils.fusion.fuse_conv_bn_eval's folded conv (the same arithmetic: the ratio should be 1)."""
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    from cvbook_lib.compress import fuse

    torch.manual_seed(0)
    conv, bn = nn.Conv2d(channels, channels, 3, padding=1, bias=False).eval(), nn.BatchNorm2d(channels).eval()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    ours, theirs = fuse.fuse_conv_bn(conv, bn), fuse_conv_bn_eval(conv, bn)
    x = torch.randn(batch, channels, size, size)
    with torch.no_grad():
        err = (ours(x) - bn(conv(x))).abs().max().item()
    assert err < 1e-3, f"fuse_conv_bn's conv differs from conv → bn by {err}"

    def run(f):
        def call():
            with torch.no_grad():
                return f(x)
        return call

    refs = {"conv → bn": run(lambda t: bn(conv(t))), "fuse_conv_bn_eval": run(theirs)}
    return f"fuse_conv_bn {batch}x{channels}x{size}x{size}", run(ours), refs


ROWS = [quantized_linear_row, fused_conv_row]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--engine", default=torch.backends.quantized.engine,
                        choices=torch.backends.quantized.supported_engines)
    args = parser.parse_args(argv)
    torch.backends.quantized.engine = args.engine
    device = torch.device("cpu")
    print(f"device=cpu  torch={torch.__version__}  threads={torch.get_num_threads()}  engine={args.engine}")
    print(f"{'kernel':34s} {'reference':16s} {'ours ms':>9s} {'ref ms':>9s} {'ours/ref':>9s}")
    for row in ROWS:
        name, ours, refs = row()
        times = timed_pairs([ours, *refs.values()], args.repeat, device)
        mine = times[0]
        for (ref_name, _), theirs in zip(refs.items(), times[1:]):
            ratio = statistics.median(a / b for a, b in zip(mine, theirs))
            print(f"{name:34s} {ref_name:16s} {statistics.median(mine) * 1e3:9.3f} "
                  f"{statistics.median(theirs) * 1e3:9.3f} {ratio:8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
