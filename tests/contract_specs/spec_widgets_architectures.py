"""Contract cases for cvbook_lib.widgets.architectures (the pure view checked against profile() in
tests/test_utils_widgets.py; the explorer and the animation are light: only the refusals run)."""

from contract_specs import Case
from cvbook_lib.widgets import architectures as W


def _numbers(view):
    return [(s["name"], s["params"], s["macs"], s["activation_bytes"]) for s in view["stages"]]


SPECS = {
    W.arch_view: [
        Case(W.arch_view, dict(name="mobilenet_v2", resolution=96, width_mult=0.5), out=_numbers),
        Case(W.arch_view, dict(name="resnet18", resolution=64, width_mult=1.0), out=_numbers),
    ],
    W.plot_arch_view: [Case(W.plot_arch_view, dict(view=W.arch_view("resnet18", 64), axes=None), light=True)],
    W.arch_explorer: [Case(W.arch_explorer, dict(name="resnet18"), light=True)],
    W.arch_animation: [Case(W.arch_animation, dict(name="resnet18", resolutions=(64, 96)), light=True)],
}
