"""Speed of cvbook_lib's fast kernels as ratios against the torch kernels they re-implement, in one run.

    python benchmarks/bench_kernels.py [--repeat 30] [--device cpu|cuda] [--only SUBSTRING]

Each row: median times, and the median over rounds of ours / the reference's (same inputs, same
process, after a warm-up, the two alternating in every round), checked equal before timing.
Timings are noisy on a shared machine; ratios measured side by side are what we compare. A row with
a required ratio prints "meets" or "MISSES"; the exit status is 1 when any row misses.
The rows live in ``benchmarks/_rows_*.py`` (convolution, pooling, attention, detection); each module
may also report measurements that are not speed ratios (memory, numerical error), printed after the
table. Required ratios (issue 20, a quiet 2-core CPU): conv2d 3x3 <= 1.3x, 7x7 stride-2 stem <= 1.5x,
depthwise 3x3 <= 2x, max/avg pooling <= 1.5x, attention and causal attention <= 1.5x, nms on a
detector-like scene of 2,000 boxes <= 2x.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]
from _bench import Row, measure  # noqa: E402

from cvbook_lib import conv  # noqa: E402

ROW_MODULES = ["_rows_conv", "_rows_pooling", "_rows_attention", "_rows_detection"]


def other_rows(gen: torch.Generator, device: torch.device) -> list[Row]:
    """Kernels with no required ratio: the teaching loop and the transposed convolution."""
    out = []
    for name, ours, ref, xs, ws, kw in [
        ("conv2d_naive", conv.conv2d_naive, F.conv2d, (2, 16, 16, 16), (16, 16, 3, 3), dict(padding=1)),
        ("conv_transpose2d", conv.conv_transpose2d, F.conv_transpose2d, (8, 64, 28, 28), (64, 32, 4, 4),
         dict(stride=2, padding=1)),
    ]:
        x = torch.randn(*xs, generator=gen).to(device)
        w = torch.randn(*ws, generator=gen).to(device)
        out.append(Row(name, f"{xs} x {ws[0]}", functools.partial(ours, x, w, **kw),
                       functools.partial(ref, x, w, **kw)))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", default="", help="run only rows whose kernel name contains this")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    print(f"device={device}  torch={torch.__version__}  threads={torch.get_num_threads()}")
    print(f"{'kernel':34s} {'input':28s} {'ours ms':>9s} {'ref ms':>9s} {'ratio':>6s} {'required':>9s}")
    misses, reports = [], []
    with torch.no_grad():
        for module in [importlib.import_module(name) for name in ROW_MODULES] + [None]:
            gen = torch.Generator().manual_seed(0)
            rows = module.rows(gen, device) if module else other_rows(gen, device)
            for row in rows:
                if args.only not in row.kernel:
                    continue
                t_ours, t_ref, ratio = measure(row, args.repeat, device)
                verdict = ""
                if row.target is not None:
                    ok = ratio <= row.target
                    verdict = f"<= {row.target:.1f} {'meets' if ok else 'MISSES'}"
                    if not ok:
                        misses.append(row.kernel)
                print(f"{row.kernel:34s} {row.shape:28s} {t_ours * 1e3:9.2f} {t_ref * 1e3:9.2f} {ratio:6.2f} "
                      f"{verdict}")
            if module is not None and hasattr(module, "reports") and not args.only:
                reports += module.reports(torch.Generator().manual_seed(0), device)
    for line in reports:
        print(line)
    print("every required ratio met" if not misses else f"MISSED: {', '.join(misses)}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
