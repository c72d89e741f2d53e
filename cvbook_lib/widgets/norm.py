"""The batch-norm explorer (Chapter 6): batch size and momentum -> how noisy the batch statistics
are, how the running (exponential moving) averages converge, and train vs eval outputs."""

from __future__ import annotations

import torch

from .._checks import check_float, check_int
from ..norm import batch_norm
from ._html import animate, axes_or_new, check_axes, check_seed, check_sequence, check_view, show

__all__ = ["bn_trace", "plot_bn_trace", "bn_explorer", "bn_animation"]

TRUE_MEAN, TRUE_STD = 2.0, 3.0


def _check_momentum(momentum) -> float:
    return check_float(momentum, "momentum", 0.0, 1.0, min_open=True)


def bn_trace(batch_size: int, momentum: float, steps: int = 200, seed: int = 0) -> dict:
    """Feed ``steps`` batches of one channel drawn from N(2, 3²) through training-mode batch norm.
    Returns the batch means/variances, the running estimates after each step, and for one fixed
    probe input its train-mode and eval-mode outputs at the end (the running statistics are those of
    ``F.batch_norm``). ``batch_size`` >= 2, ``momentum`` in (0, 1], ``steps`` >= 1, ``seed`` an int in
    [0, 2**64 - 1]: F.batch_norm would also run with an empty batch, a NaN or zero momentum."""
    batch_size, steps = check_int(batch_size, "batch_size", 2), check_int(steps, "steps", 1)
    momentum = _check_momentum(momentum)
    g = torch.Generator().manual_seed(check_seed(seed))
    rm, rv = torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    means, variances, run_means, run_vars = [], [], [], []
    for _ in range(steps):
        x = torch.randn(batch_size, 1, generator=g, dtype=torch.float64) * TRUE_STD + TRUE_MEAN
        batch_norm(x, rm, rv, training=True, momentum=momentum)
        means.append(x.mean().item())
        variances.append(x.var().item())
        run_means.append(rm.item())
        run_vars.append(rv.item())
    probe = torch.randn(batch_size, 1, generator=g, dtype=torch.float64) * TRUE_STD + TRUE_MEAN
    train_out = batch_norm(probe, None, None, training=True)
    eval_out = batch_norm(probe, rm.clone(), rv.clone(), training=False)
    f64 = dict(dtype=torch.float64)
    return dict(batch_means=torch.tensor(means, **f64), batch_vars=torch.tensor(variances, **f64),
                running_means=torch.tensor(run_means, **f64), running_vars=torch.tensor(run_vars, **f64),
                train_out=train_out.flatten(), eval_out=eval_out.flatten(), batch_size=batch_size, momentum=momentum)


def plot_bn_trace(trace: dict, axes=None):
    """Batch and running mean, batch and running variance per step, and train- vs eval-mode outputs.
    ``trace``: what :func:`bn_trace` returned; ``axes``: three Axes or None. Returns the axes."""
    check_view(trace, "trace", ("batch_means", "batch_vars", "running_means", "running_vars", "train_out",
                                "eval_out", "batch_size", "momentum"))
    check_axes(axes, "axes", 3)
    axes = axes_or_new(axes, 3, (11, 3.2))
    for ax in axes:
        ax.clear()
    steps = range(1, len(trace["batch_means"]) + 1)
    for ax, batch, running, true, name in ((axes[0], trace["batch_means"], trace["running_means"], TRUE_MEAN, "mean"),
                                           (axes[1], trace["batch_vars"], trace["running_vars"], TRUE_STD ** 2,
                                            "variance")):
        ax.plot(steps, batch, ".", ms=2, alpha=0.5, label=f"batch {name}")
        ax.plot(steps, running, "-", label=f"running {name}")
        ax.axhline(true, color="k", ls="--", lw=1, label="true")
        ax.set_xlabel("training step")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    axes[2].plot(trace["train_out"], trace["eval_out"], "o", ms=3)
    lim = float(max(trace["train_out"].abs().max(), trace["eval_out"].abs().max())) + 0.2
    axes[2].plot([-lim, lim], [-lim, lim], "k--", lw=1)
    axes[2].set_xlabel("train-mode output (batch stats)")
    axes[2].set_ylabel("eval-mode output (running stats)")
    axes[2].set_title("one batch, train vs eval", fontsize=9)
    axes[0].figure.suptitle(f"batch size {trace['batch_size']}, momentum {trace['momentum']}", fontsize=9)
    return axes


def bn_explorer():
    """Live explorer (an ``ipywidgets.VBox``): batch size and momentum."""
    import ipywidgets as W

    controls = dict(batch_size=W.IntSlider(16, 2, 256, description="batch size"),
                    momentum=W.FloatSlider(0.1, min=0.01, max=1.0, step=0.01, description="momentum"))
    out = W.Output()

    def redraw(_=None):
        show(out, plot_bn_trace(bn_trace(controls["batch_size"].value, controls["momentum"].value))[0].figure)

    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox(list(controls.values())), out])


def bn_animation(batch_sizes=(2, 4, 16, 64, 256), momentum: float = 0.1) -> str:
    """Kernel-free explorer: one frame per batch size (each >= 2). Returns self-contained HTML."""
    batch_sizes = check_sequence(batch_sizes, "batch_sizes", lambda b, name: check_int(b, name, 2))
    momentum = _check_momentum(momentum)
    traces = [bn_trace(b, momentum) for b in batch_sizes]
    return animate(lambda i, axes: plot_bn_trace(traces[i], axes), len(traces), 3, (11, 3.2),
                   adjust=dict(wspace=0.35, bottom=0.18))
