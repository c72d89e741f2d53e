"""Speed of cvbook_lib.profile against a plain FlopCounterMode forward of the same model, in one run.

    python benchmarks/bench_profile.py [--repeat 5] [--device cpu|cuda] [--size 224]

cvbook_lib.models.resnet50 on one image: median seconds of
``profile(model, size)`` (hooks on every module, the dispatch-level counter, the receptive-field chain)
and of a forward under ``torch.utils.flop_counter.FlopCounterMode``, the two alternating in every round
after a warm-up, with a plain forward for scale, and the median of the round-by-round ratios.
Target (issue 16): profile under 2 s; the script exits with status 1 when it misses it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_kernels import timed_pairs  # noqa: E402  (the alternating rounds, warm-up first)

from cvbook_lib import models  # noqa: E402
from cvbook_lib.profile import profile  # noqa: E402

TARGET_S = 2.0


def resnet50():
    return models.resnet50(), "cvbook_lib.models.resnet50"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model, name = resnet50()
    model = model.to(device).eval()
    x = torch.zeros(1, 3, args.size, args.size, device=device)

    def counted():
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
        return counter.get_total_flops()

    def plain():
        with torch.no_grad():
            model(x)

    p = profile(model, args.size)
    assert p.flops == counted(), "profile and FlopCounterMode disagree"
    ours, ref, bare = timed_pairs([lambda: profile(model, args.size), counted, plain], args.repeat, device)
    ratio = statistics.median(a / b for a, b in zip(ours, ref))
    print(f"device={device}  torch={torch.__version__}  threads={torch.get_num_threads()}  model={name}")
    print(f"{p.macs / 1e9:.3f} GMACs, {p.params:,} params, {len(p.rows)} module calls at {args.size}x{args.size}")
    print(f"{'':22s} {'median s':>9s}")
    print(f"{'profile':22s} {statistics.median(ours):9.3f}")
    print(f"{'FlopCounterMode fwd':22s} {statistics.median(ref):9.3f}")
    print(f"{'plain forward':22s} {statistics.median(bare):9.3f}")
    verdict = "meets" if statistics.median(ours) < TARGET_S else "MISSES"
    print(f"profile / FlopCounterMode: {ratio:.2f}x; profile {verdict} the {TARGET_S:.0f} s target")
    return 0 if verdict == "meets" else 1


if __name__ == "__main__":
    sys.exit(main())
