"""Contract cases for cvbook_lib.losses (references: torch.nn.functional, torchvision.ops and the torch
expressions the docstrings name). The deliberate differences are those of the module docstring:
int/bool/complex tensors refused where floats are needed (``float_only``), probability targets outside
[0, 1] or NaN refused, same shapes required (torch broadcasts with a warning), NaN parameters refused."""


import torch
import torch.nn.functional as F
import torchvision

from contract_specs import Case
from cvbook_lib import losses as L

G = torch.Generator().manual_seed(0)
x = torch.randn(3, 5, generator=G) * 2                                # logits / predictions
y = torch.tensor([0, 2, 4])                                           # class indices
prob = torch.softmax(torch.randn(3, 5, generator=G), 1)               # probability targets
binary = (torch.rand(3, 5, generator=G) > 0.5).float()
reg = torch.randn(3, 5, generator=G)                                  # regression targets
w = torch.rand(5, generator=G) + 0.5

# a probability target pushed outside [0, 1] (NaN, ±inf, x1e4) is refused; torch computes with it
OUT_OF_UNIT = ("nan", "inf", "-inf", "x1e4")
# torch broadcasts input and target of different shapes (with a warning); ours refuses
BROADCAST = ("rank-", "rank+")
NAN = "NaN parameters are refused (torch computes with them)"
NEG_GAMMA = {("gamma", m): "gamma must be >= 0 (NaN refused)" for m in ("nan", "negated", "-inf")}
SMOOTHING = {("label_smoothing", m): "label_smoothing must be in [0, 1] (torch: <= 1 only, NaN taken as 0)"
             for m in ("nan", "-inf", "negated")}


# torch's CPU multi_margin_loss kernel has no float16 (its CUDA kernel has); ours computes in float16
NO_HALF = {"input": {"float16"}, "weight": {"float16"}}


def _unit_differs(*args):
    return {(a, m): "probabilities must lie in [0, 1]" for a in args for m in OUT_OF_UNIT}


def _broadcast_differs(*args):
    return {(a, m): "input and target must have the same shape" for a in args for m in BROADCAST}


def _reduce(loss, reduction):
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


def _softmax_focal_ref(input, target, alpha=None, gamma=2.0, reduction="mean"):
    """-α_y (1 - p_y)^γ log p_y from torch's cross_entropy (p_y = exp(-CE))."""
    ce = F.cross_entropy(input, target, reduction="none")
    loss = (1 - torch.exp(-ce)) ** gamma * ce
    if alpha is not None:
        loss = (alpha[target] if isinstance(alpha, torch.Tensor) else alpha) * loss
    return _reduce(loss, reduction)


def _distillation_ref(student_logits, teacher_logits, target, temperature, alpha):
    T = temperature
    soft = F.kl_div(F.log_softmax(student_logits / T, -1), F.softmax(teacher_logits / T, -1), reduction="batchmean")
    return alpha * T * T * soft + (1 - alpha) * F.cross_entropy(student_logits, target)


def _entropy_ref(p, dim=-1):
    return torch.special.entr(p).sum(dim)


def _focal_ref(inputs, targets, alpha=0.25, gamma=2.0, reduction="none"):
    return torchvision.ops.sigmoid_focal_loss(inputs, targets, alpha, gamma, reduction)


def _regression(fn, ref, param=None, value=None, float_only=("input", "target"), reduction="mean"):
    kwargs = dict(input=x, target=reg, reduction=reduction)
    if param is not None:
        kwargs[param] = value                                          # NaN beta/delta: torch raises too
    # element by element (reduction="none") every float32 input and target is valid: hypothesis draws them
    return Case(fn, kwargs, ref=ref, float_only=set(float_only), differs=_broadcast_differs("input", "target"),
                any_values={"input", "target"} if reduction == "none" else set())


SPECS = {
    L.cross_entropy: [
        Case(L.cross_entropy, dict(input=x, target=y, weight=None, ignore_index=-100, reduction="mean",
                                   label_smoothing=0.0), ref=F.cross_entropy,
             optional={"weight"}, differs={k: v for k, v in SMOOTHING.items() if k[1] != "negated"}),  # -0.0 is 0
        Case(L.cross_entropy, dict(input=x, target=y, weight=w, ignore_index=2, reduction="none",
                                   label_smoothing=0.2), ref=F.cross_entropy,
             optional={"weight"}, differs=SMOOTHING),
        Case(L.cross_entropy, dict(input=x, target=prob, reduction="sum", label_smoothing=0.1),
             ref=F.cross_entropy, differs={**_unit_differs("target"), **SMOOTHING}),
    ],
    L.binary_cross_entropy_with_logits: [
        Case(L.binary_cross_entropy_with_logits, dict(input=x, target=binary, weight=w, reduction="mean",
                                                      pos_weight=w.flip(0)),
             ref=F.binary_cross_entropy_with_logits, float_only={"weight", "pos_weight"},
             optional={"weight", "pos_weight"},
             differs=_unit_differs("target")),
    ],
    L.sigmoid_focal_loss: [
        Case(L.sigmoid_focal_loss, dict(inputs=x, targets=binary, alpha=0.25, gamma=2.0, reduction="none"),
             ref=_focal_ref, float_only={"targets"},
             differs={**_unit_differs("targets"), **NEG_GAMMA}),
        Case(L.sigmoid_focal_loss, dict(inputs=x, targets=prob, alpha=-1.0, gamma=0.5, reduction="sum"),
             ref=_focal_ref, float_only={"targets"},
             differs={**_unit_differs("targets"), **NEG_GAMMA}),
        # float16 and γ = 0, α = -1 (torch's BCE; tests/test_losses.py checks both bit for bit)
        Case(L.sigmoid_focal_loss, dict(inputs=(x * 3).half(), targets=binary.half(), alpha=0.25, gamma=2.0,
                                        reduction="none"), ref=_focal_ref, float_only={"targets"},
             differs={**_unit_differs("targets"), **NEG_GAMMA},
             # float64 beside float16: ours promotes both first (module docstring); torchvision's mixed ops lose
             # float16 precision in part (5e-4 off its own float64 answer, which ours equals)
             skip={"inputs": {"float64"}, "targets": {"float64"}}),
        Case(L.sigmoid_focal_loss, dict(inputs=x * 3, targets=binary, alpha=-1.0, gamma=0.0, reduction="none"),
             ref=lambda inputs, targets, alpha, gamma, reduction: F.binary_cross_entropy_with_logits(
                 inputs, targets, reduction=reduction), float_only={"targets"},
             # the reference is BCE: it ignores alpha and gamma (cases above), and its result has the target's
             # dtype where torchvision's focal loss promotes (the other cases check the dtype against torchvision)
             skip={"alpha": "*", "gamma": "*", "inputs": {"float64"}, "targets": {"float16"}},
             differs=_unit_differs("targets")),
    ],
    L.softmax_focal_loss: [
        Case(L.softmax_focal_loss, dict(input=x, target=y, alpha=None, gamma=2.0, reduction="mean"),
             ref=_softmax_focal_ref,
             optional={"alpha"}, differs=NEG_GAMMA),
        Case(L.softmax_focal_loss, dict(input=x, target=y, alpha=w, gamma=1.0, reduction="none"),
             ref=_softmax_focal_ref, float_only={"alpha"},
             optional={"alpha"}, differs=NEG_GAMMA),
        Case(L.softmax_focal_loss, dict(input=x, target=y, alpha=0.25, gamma=2.0, reduction="sum"),
             ref=_softmax_focal_ref,
             optional={"alpha"}, differs={**NEG_GAMMA,
                      **{("alpha", m): "alpha must be in [0, 1]" for m in ("nan", "inf", "-inf", "negated")}}),
    ],
    L.smooth_l1_loss: [_regression(L.smooth_l1_loss, F.smooth_l1_loss, "beta", 1.0),
                       _regression(L.smooth_l1_loss, F.smooth_l1_loss, "beta", 0.0),
                       _regression(L.smooth_l1_loss, F.smooth_l1_loss, "beta", 1.0, reduction="none")],
    L.huber_loss: [_regression(L.huber_loss, F.huber_loss, "delta", 0.7, float_only=("target",)),
                   _regression(L.huber_loss, F.huber_loss, "delta", 0.7, float_only=("target",), reduction="none")],
    L.mse_loss: [_regression(L.mse_loss, F.mse_loss), _regression(L.mse_loss, F.mse_loss, reduction="none")],
    L.l1_loss: [_regression(L.l1_loss, F.l1_loss), _regression(L.l1_loss, F.l1_loss, reduction="none")],
    L.kl_div: [
        Case(L.kl_div, dict(input=torch.log_softmax(x, 1), target=prob, reduction="batchmean", log_target=False),
             ref=F.kl_div, differs=_broadcast_differs("input", "target")),
        Case(L.kl_div, dict(input=torch.log_softmax(x, 1), target=prob.log(), reduction="sum", log_target=True),
             ref=F.kl_div, differs=_broadcast_differs("input", "target")),
    ],
    L.multi_margin_loss: [
        Case(L.multi_margin_loss, dict(input=x, target=y, p=1, margin=1.0, weight=None, reduction="mean"),
             ref=F.multi_margin_loss, differs={("margin", "nan"): NAN}, skip=NO_HALF),
        Case(L.multi_margin_loss, dict(input=x, target=y, p=2, margin=0.5, weight=w, reduction="none"),
             ref=F.multi_margin_loss, differs={("margin", "nan"): NAN},
             optional={"weight"}, skip=NO_HALF),
        Case(L.multi_margin_loss, dict(input=x[0], target=y[:1], reduction="none"),
             ref=F.multi_margin_loss, skip=NO_HALF),
    ],
    L.dice_loss: [Case(L.dice_loss, dict(probs=torch.sigmoid(x), targets=binary, eps=1.0))],
    L.distillation_loss: [
        Case(L.distillation_loss, dict(student_logits=x, teacher_logits=reg * 3, target=y, temperature=4.0, alpha=0.5),
             ref=_distillation_ref, float_only={"teacher_logits"},
             differs={**{("alpha", m): "alpha must be in [0, 1]" for m in ("nan", "inf", "-inf", "negated")},
                      **{("temperature", m): "temperature must be > 0" for m in ("nan", "-inf", "zero", "negated")},
                      **{("teacher_logits", m): "student and teacher logits must have the same shape (torch's "
                         "expression broadcasts them)" for m in ("rank-", "rank+")}}),
    ],
    L.entropy: [Case(L.entropy, dict(p=prob, dim=-1), ref=_entropy_ref, float_only={"p"}, differs=_unit_differs("p")),
                Case(L.entropy, dict(p=prob, dim=0), ref=_entropy_ref, float_only={"p"}, differs=_unit_differs("p"))],
    L.cross_entropy_of_distributions: [Case(L.cross_entropy_of_distributions, dict(p=prob, q=prob.flip(1), dim=-1))],
}
