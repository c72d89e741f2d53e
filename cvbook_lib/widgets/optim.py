"""The optimizer race (Chapter 7): trajectories of every optimizer of cvbook_lib.optim on 2-D
surfaces, with learning-rate, momentum and β1 controls."""

from __future__ import annotations

import torch

from .. import optim
from .._checks import check_choice, check_float, check_int
from ._html import check_axes, check_sequence, check_view, offline_jshtml, show

__all__ = ["SURFACES", "race", "plot_race", "race_explorer", "race_animation"]

SURFACES = {
    # name: (function of a (2,) tensor, start, (SGD lr, adaptive lr), plot box)
    "ill-conditioned quadratic": (lambda p: 0.5 * (p[0] ** 2 + 25 * p[1] ** 2), (-4.0, 1.5), (0.03, 0.3),
                                  (-4.5, 4.5, -2.0, 2.0)),
    "rosenbrock": (lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2, (-1.5, 2.0), (0.001, 0.1),
                   (-2.0, 2.0, -1.0, 3.0)),
    "saddle": (lambda p: p[0] ** 2 - p[1] ** 2 + 0.25 * p[1] ** 4, (-2.0, 1e-3), (0.05, 0.1),
               (-2.5, 2.5, -2.2, 2.2)),
}
# ∇f of every surface, written out (tested against autograd): one autograd pass per step and optimizer is what
# made a view slow (900 of them)
_GRADIENTS = {
    "ill-conditioned quadratic": lambda x, y: (x, 25 * y),
    "rosenbrock": lambda x, y: (-2 * (1 - x) - 400 * x * (y - x ** 2), 200 * (y - x ** 2)),
    "saddle": lambda x, y: (2 * x, -2 * y + y ** 3),
}


def _optimizers(lr, adaptive_lr, momentum, beta1):
    return {
        "SGD": lambda ps: optim.SGD(ps, lr=lr),
        f"momentum {momentum:g}": lambda ps: optim.SGD(ps, lr=lr, momentum=momentum),
        "Nesterov": lambda ps: optim.SGD(ps, lr=lr, momentum=momentum, nesterov=momentum > 0),  # μ = 0: plain SGD
        "AdaGrad": lambda ps: optim.Adagrad(ps, lr=adaptive_lr * 3),
        "RMSProp": lambda ps: optim.RMSprop(ps, lr=adaptive_lr / 3),
        "Adam": lambda ps: optim.Adam(ps, lr=adaptive_lr, betas=(beta1, 0.999)),
    }


def _check_lr_scale(value, name: str) -> float:
    return check_float(value, name, 0.0, min_open=True, allow_inf=False)


def race(surface: str, lr_scale: float = 1.0, momentum: float = 0.9, beta1: float = 0.9, steps: int = 150) -> dict:
    """Trajectories (Tensor[steps + 1, 2]) and final losses of every optimizer from the same start.
    The adaptive methods get their own base learning rate (their steps are normalised), scaled alike.
    ``lr_scale``: a finite number > 0; ``momentum``, ``beta1`` in [0, 1); ``steps`` >= 1 (torch.optim would
    take a zero or NaN learning rate, a NaN or infinite momentum). At momentum 0 "Nesterov" is plain SGD.
    A trajectory that diverges (non-finite or beyond 1e6) stops early, its loss reported as ``inf``."""
    check_choice(surface, "surface", tuple(SURFACES))
    lr_scale = _check_lr_scale(lr_scale, "lr_scale")
    momentum = check_float(momentum, "momentum", 0.0, 1.0, max_open=True)
    beta1 = check_float(beta1, "beta1", 0.0, 1.0, max_open=True)
    steps = check_int(steps, "steps", 1)
    f, start, (lr, adaptive_lr), _ = SURFACES[surface]
    grad = _GRADIENTS[surface]
    makers = _optimizers(lr * lr_scale, adaptive_lr * lr_scale, momentum, beta1)
    params = [torch.tensor(start, dtype=torch.float64) for _ in makers]
    rules = []
    for make, p in zip(makers.values(), params):
        opt = make([p])
        group = opt.param_groups[0]
        # what opt.step() runs for p: cvbook_lib.optim's update rule (without torch's per-call step hooks)
        rules.append((opt._update, dict(group, lr=float(group["lr"])), p, opt.state[p]))
    path = [torch.stack(params)]                                     # every optimizer's point, one row each
    with torch.inference_mode():                                     # no autograd bookkeeping for the tiny ops
        for _ in range(steps):
            gradients = torch.stack(grad(*path[-1].unbind(1)), 1)    # all six gradients at once
            for (update, group, p, state), g in zip(rules, gradients.unbind(0)):
                update(group, p, g, state)
            path.append(torch.stack(params))
    paths = torch.stack(path)                                        # [steps + 1, optimizer, 2]
    diverged = ~torch.isfinite(paths).all(-1) | (paths.abs().amax(-1) > 1e6)
    ends = torch.where(diverged.any(0), diverged.int().argmax(0), steps).tolist()   # a diverged one stops there
    out = {}
    for i, name in enumerate(makers):
        traj = paths[: ends[i] + 1, i]
        out[name] = dict(path=traj, loss=float(f(traj[-1])) if torch.isfinite(traj[-1]).all() else float("inf"))
    return out

def plot_race(surface: str, result: dict, ax=None):
    """The contour lines of ``surface`` and every trajectory of ``result`` (what :func:`race` returned for it)
    on ``ax`` (an Axes, or None for a new figure). Returns the Axes."""
    import matplotlib.pyplot as plt

    check_choice(surface, "surface", tuple(SURFACES))
    check_view(result, "result", ())
    for name, r in result.items():
        check_view(r, f"result[{name!r}]", ("path", "loss"))
    check_axes(ax, "ax", 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    ax.clear()
    f, start, _, (x0, x1, y0, y1) = SURFACES[surface]
    xs, ys = torch.linspace(x0, x1, 200, dtype=torch.float64), torch.linspace(y0, y1, 200, dtype=torch.float64)
    X, Y = torch.meshgrid(xs, ys, indexing="xy")
    Z = f(torch.stack([X, Y]))
    levels = torch.quantile(Z.flatten(), torch.linspace(0.01, 0.95, 25, dtype=torch.float64)).unique()
    ax.contour(X, Y, Z, levels=levels.numpy(), cmap="Greys", linewidths=0.6)
    for name, r in result.items():
        path = r["path"]
        ax.plot(path[:, 0], path[:, 1], ".-", ms=2, lw=1, label=f"{name} (loss {r['loss']:.2g})")
    ax.plot(*start, "k*", ms=10)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_title(surface, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return ax


def race_explorer():
    """Live explorer (an ``ipywidgets.VBox``): surface, learning-rate scale, momentum, Adam's β1."""
    import ipywidgets as W

    controls = dict(surface=W.Dropdown(options=list(SURFACES), description="surface"),
                    lr_scale=W.FloatLogSlider(value=1.0, base=10, min=-1, max=1, step=0.1, description="lr x"),
                    momentum=W.FloatSlider(0.9, min=0.0, max=0.99, step=0.01, description="momentum"),
                    beta1=W.FloatSlider(0.9, min=0.0, max=0.99, step=0.01, description="Adam beta1"))
    out = W.Output()

    def redraw(_=None):
        c = {k: w.value for k, w in controls.items()}
        show(out, plot_race(c["surface"], race(c["surface"], c["lr_scale"], c["momentum"], c["beta1"])).figure)

    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox(list(controls.values())[:2]), W.HBox(list(controls.values())[2:]), out])


def race_animation(lr_scales=(0.3, 1.0, 3.0)) -> str:
    """Kernel-free explorer: one frame per (surface, learning-rate scale > 0). Returns self-contained HTML."""
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    lr_scales = check_sequence(lr_scales, "lr_scales", _check_lr_scale)

    frames = [(s, k) for s in SURFACES for k in lr_scales]
    results = [race(s, k) for s, k in frames]
    fig, ax = plt.subplots(figsize=(7, 4.5))

    def draw(i):
        plot_race(frames[i][0], results[i], ax)
        ax.set_title(f"{frames[i][0]}, learning rates x{frames[i][1]:g}", fontsize=9)

    anim = FuncAnimation(fig, draw, frames=len(frames))
    html = offline_jshtml(anim, fps=1)
    plt.close(fig)
    return html
