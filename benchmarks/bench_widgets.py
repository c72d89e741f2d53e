"""Latency of every explorer's pure computation (what its ipywidgets callback runs before drawing).

    python benchmarks/bench_widgets.py [--calls 50] [--seed 0]

Each explorer in ``cvbook_lib/widgets/`` redraws by calling a pure function of the slider values (then
matplotlib, which is not timed here). For each explorer this script builds the inputs its chapter gives
it (a scene, a dataset, a small model: built once, as the explorer builds them once), then times the
callback's computation for ``--calls`` random slider settings drawn from the sliders' ranges, after a
warm-up. A setting the explorer refuses (it shows the ValueError's text instead) is timed too. What an
explorer builds once when it is constructed (the architecture explorer's meta-device models, the focal
explorer's batch terms and CE shares, the MLP explorers' random draws) is built once here too, in the
same way. The architecture explorer's per-setting cache is cleared before every call, so its numbers
are cold (a new setting) latencies; most of its random settings are refused (a width multiplier for a
model that takes none) and cost ~0.1 ms, so its p95 is that of the slowest settings it can show.
Requirement (issue 20): p95 < 50 ms for every explorer; exit status 1 if any
misses. Timings are wall-clock medians on the current machine (noisy when it is shared).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cvbook_lib import receptive_field as rf  # noqa: E402
from cvbook_lib import widgets as Wd  # noqa: E402
from cvbook_lib.activations import ACTIVATIONS  # noqa: E402
from cvbook_lib.widgets import activations as act_mod  # noqa: E402
from cvbook_lib.widgets import architectures as arch_mod  # noqa: E402
from cvbook_lib.widgets import focal as focal_mod  # noqa: E402
from cvbook_lib.widgets import init as init_mod  # noqa: E402

P95_LIMIT_MS = 50.0


def _log_slider(rng, lo_exp, hi_exp, step=0.1):
    """A FloatLogSlider value (base 10, exponents lo..hi by step)."""
    n = round((hi_exp - lo_exp) / step)
    return 10 ** (lo_exp + step * rng.randint(0, n))


def _grid(rng, lo, hi, step):
    return round(lo + step * rng.randint(0, round((hi - lo) / step)), 10)


def explorers():
    """(explorer, pure function(s) timed, setup() -> call(rng))."""

    def activation():
        names = list(ACTIVATIONS)
        act_mod._mlp_draws(64, 128, 0, 1.0, 50)                 # as activation_explorer(): the deepest network

        def call(rng):
            lo, hi = sorted(rng.sample([_grid(rng, -10, 10, 0.5) for _ in range(4)], 2))
            if not lo < hi:
                return
            name, depth = rng.choice(names), rng.randint(2, 50)
            Wd.activation_curves(name, lo, hi)
            Wd.gradient_through_depth(name, depth)
        return call

    def arch():
        names = list(Wd.ARCHITECTURES)
        arch_mod._build_models()                               # as arch_explorer(): every model, on meta

        def call(rng):
            arch_mod._profiled.cache_clear()                 # cold: a setting not seen before
            Wd.arch_view(rng.choice(names), 32 * rng.randint(1, 16), _grid(rng, 0.25, 2.0, 0.25))
        return call

    def attention():
        from cvbook_lib import vit as V
        torch.manual_seed(0)                                  # the chapter's tiny ViT (untrained: same cost)
        model = V.VisionTransformer(8, 2, 1, 10, 32, 2, 4, 2.0, position="learned", pos_dim=0).eval()
        images = [torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(i)) for i in range(6)]
        n_tokens = model.patch_embed.num_patches

        def call(rng):
            Wd.attention_view(model, rng.choice(images), rng.randint(0, len(model.blocks) - 1),
                              rng.randint(0, model.blocks[0].self_attn.num_heads - 1), rng.randint(0, n_tokens),
                              _log_slider(rng, -1, 1))
        return call

    def conv():
        def call(rng):
            Wd.conv_geometry(rng.randint(1, 12), rng.randint(1, 7), rng.randint(1, 4), rng.randint(0, 4),
                             rng.randint(1, 3), rng.random() < 0.5)
        return call

    def focal():
        terms, _ = focal_mod._prepared(Wd.imbalanced_batch())   # as focal_explorer(): the batch's part and CE shares

        def call(rng):                                        # what the callback computes
            gamma, alpha = _grid(rng, 0.0, 5.0, 0.5), _grid(rng, -0.05, 1.0, 0.05)
            alpha = -1 if alpha < 0 else alpha                  # as the callback does
            focal_mod._shares(terms, gamma, alpha)
            Wd.focal_curves(gamma, alpha)
        return call

    def init():
        inits, acts = list(Wd.INITS), ("tanh", "relu", "sigmoid", "linear")
        init_mod._draws(256, init_mod.EXPLORER_BATCH, 0, 30)     # as init_explorer(): the deepest network's draws

        def call(rng):
            Wd.layer_statistics(rng.choice(inits), rng.choice(acts), rng.randint(2, 30), batch=init_mod.EXPLORER_BATCH)
        return call

    def threshold():
        data = [Wd.scored_dataset(1000, 0.2, 1.5, seed=0), Wd.scored_dataset(5000, 0.01, 1.5, seed=0)]

        def call(rng):
            Wd.threshold_view(*rng.choice(data), _grid(rng, 0.0, 1.0, 0.01))
        return call

    def nms():
        scene = Wd.crowded_scene()

        def call(rng):
            Wd.nms_view(rng.choice(["hard", "linear", "gaussian"]), _grid(rng, 0.0, 1.0, 0.05),
                        _grid(rng, 0.05, 2.0, 0.05), _grid(rng, 0.0, 0.9, 0.05), scene=scene)
        return call

    def bn():
        def call(rng):
            Wd.bn_trace(rng.randint(2, 256), _grid(rng, 0.01, 1.0, 0.01))
        return call

    def race():
        surfaces = list(Wd.SURFACES)

        def call(rng):
            Wd.race(rng.choice(surfaces), _log_slider(rng, -1, 1), _grid(rng, 0.0, 0.99, 0.01),
                    _grid(rng, 0.0, 0.99, 0.01))
        return call

    def pool():
        demo = torch.tensor([[1, 3, 2, 0, 4, 1], [4, 2, 1, 5, 0, 2], [0, 1, 6, 2, 3, 1], [3, 2, 1, 1, 2, 7],
                             [2, 0, 4, 3, 1, 0], [1, 5, 2, 0, 2, 3]], dtype=torch.float32)   # the chapter's input

        def call(rng):                                        # the callback calls pool_view twice
            k, s, mode = rng.randint(1, 6), rng.randint(1, 4), rng.choice(["max", "avg"])
            n_out = Wd.pool_view(demo, k, s, mode)["out"].numel()
            Wd.pool_view(demo, k, s, mode, min(rng.randint(0, demo.numel() - 1), n_out - 1))
        return call

    def quant():
        from cvbook_lib.compress import lab
        _, _, x_test, y_test = lab.load_digits_split(seed=0)
        torch.manual_seed(0)
        model = lab.DigitsCNN(width=16).eval()                # the chapter's model (untrained: same cost)
        names = Wd.quantizable_layers(model)

        def call(rng):
            Wd.quant_view(model, x_test, y_test, rng.choice(names), rng.randint(2, 8),
                          rng.choice(["symmetric", "affine"]), rng.choice(["per-tensor", "per-channel"]),
                          rng.choice(["minmax", "percentile"]))
        return call

    def receptive():
        names = list(rf.PRESETS) + ["custom"]
        spec = "conv3, conv3, pool2, conv3, conv3, pool2"

        def call(rng):                                        # what the callback computes before drawing
            name, size = rng.choice(names), rng.randint(8, 512)
            layers = rf.parse_layers(spec) if name == "custom" else rf.preset(name)[0]
            rows = rf.receptive_field_table(layers, size)
            layer = min(rng.randint(0, 30), len(rows) - 1)
            n_out = rows[layer].output_size
            Wd.rf_view(layers, size, layer, (min(rng.randint(0, 300), n_out - 1), min(rng.randint(0, 300), n_out - 1)))
            rf.format_table(rows)
        return call

    return [
        ("activation_explorer", "activation_curves + gradient_through_depth", activation),
        ("arch_explorer", "arch_view (cold cache)", arch),
        ("attention_explorer", "attention_view", attention),
        ("conv_explorer", "conv_geometry", conv),
        ("focal_explorer", "loss shares + focal_curves (CE shares: once)", focal),
        ("init_explorer", "layer_statistics (explorer batch)", init),
        ("threshold_explorer", "threshold_view", threshold),
        ("nms_explorer", "nms_view", nms),
        ("bn_explorer", "bn_trace", bn),
        ("race_explorer", "race", race),
        ("pool_explorer", "pool_view x2", pool),
        ("quant_explorer", "quant_view", quant),
        ("rf_explorer", "receptive_field_table + rf_view + format_table", receptive),
    ]


def time_calls(call, calls: int, seed: int) -> list[float]:
    """Milliseconds of ``calls`` calls with random slider settings, after three warm-up calls."""
    rng = random.Random(seed)
    for _ in range(3):
        try:
            call(rng)
        except ValueError:
            pass
    rng, times = random.Random(seed + 1), []
    for _ in range(calls):
        start = time.perf_counter()
        try:
            call(rng)
        except ValueError:                                    # the explorer shows the message instead
            pass
        times.append((time.perf_counter() - start) * 1e3)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="", help="run only explorers whose name contains this")
    args = parser.parse_args(argv)
    print(f"torch={torch.__version__}  threads={torch.get_num_threads()}  p95 limit {P95_LIMIT_MS:.0f} ms")
    print(f"{'explorer':20s} {'function':48s} {'calls':>5s} {'median ms':>10s} {'p95 ms':>8s}  verdict")
    misses = []
    for name, fn_name, setup in explorers():
        if args.only not in name:
            continue
        times = time_calls(setup(), args.calls, args.seed)
        p95 = statistics.quantiles(times, n=20, method="inclusive")[-1]
        ok = p95 < P95_LIMIT_MS
        misses += [] if ok else [name]
        print(f"{name:20s} {fn_name:48s} {len(times):5d} {statistics.median(times):10.2f} {p95:8.2f}  "
              f"{'meets' if ok else 'MISSES'}", flush=True)
    print("every explorer meets p95 < 50 ms" if not misses else f"MISSED: {', '.join(misses)}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
