"""Check functions for the chapters' exercises (练习).

Each ``check_*`` compares the reader's answer with the value computed by the tested library and
returns a ``CheckResult``: it shows "✓ ..." when right, or (in Chinese, like the book) says what is
off and gives a hint towards the method, not the number, without printing. A check answers every input
(None, a string, a list, NaN, a tensor, a bool ...) with a ``CheckResult`` and never raises; the costly
expected values are computed once, on the first call.
"""

from __future__ import annotations

import decimal
import functools
import numbers
from dataclasses import dataclass

import numpy as np
import torch

from ._checks import _short
from ._checks import check_bool as _check_bool  # not "check_*": those names are the exercise checks
from .activations import sigmoid_grad, softmax
from .conv import conv2d_macs, conv2d_params, conv_output_size, conv_transpose_output_size, separable_conv2d_macs
from .pooling import adaptive_avg_pool2d
from .receptive_field import parse_layers, preset, receptive_field_table

__all__ = ["CheckResult", "check_conv_output_size", "check_transpose_output_size", "check_conv_params",
           "check_separable_ratio", "check_chain_rf", "check_vgg_jump", "check_seed000_rf", "check_pool_output_size",
           "check_gap_head_params", "check_spp_length", "check_sigmoid_grad_max", "check_softmax_value",
           "check_tanh_grad_at_zero", "check_ce_gradient", "check_focal_factor", "check_label_smoothing_target",
           "check_prior_bias", "check_bn_params", "check_dropout_scale", "check_running_mean", "check_adam_first_step",
           "check_momentum_velocity", "check_linear_scaling_lr", "check_xavier_bound", "check_he_std",
           "check_linear_grad", "check_iou_value", "check_anchor_count", "check_roi_pool_start", "check_box_delta_th",
           "check_vit_tokens", "check_mha_params", "check_qk_variance", "check_pe_value", "check_imbalanced_accuracy",
           "check_f1_value", "check_fbeta_value", "check_r2_value"]


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one answer; ``bool(result)`` is whether it was right.

    ok: a bool; message: a string (what the reader sees after ✓ or ✗).
    """

    ok: bool
    message: str

    def __post_init__(self):
        object.__setattr__(self, "ok", _check_bool(self.ok, "ok"))
        if not isinstance(self.message, str):
            raise TypeError(f"message must be a string, got {type(self.message).__name__} {_short(self.message)}")

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return ("✓ " if self.ok else "✗ ") + self.message


def _shown(answer) -> str:
    """``repr(answer)``, cut to 60 characters, and never an error (a reader's object may have a broken repr)."""
    try:
        text = repr(answer)
    except Exception:  # noqa: BLE001 - whatever the reader passed, the check must answer
        text = f"<{type(answer).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def _as_number(answer):
    """``answer`` as a Python number, or None when it is not one real number.

    A reader may compute the answer with numpy or torch: a NumPy scalar, a 0-d or one-element
    array or tensor counts as the number it holds; so does any ``numbers.Real`` (``Fraction``,
    ``Decimal``). ``bool`` and complex numbers are not numbers here.
    """
    if isinstance(answer, (bool, np.bool_)):
        return None
    if isinstance(answer, (np.ndarray, torch.Tensor)) or isinstance(answer, np.generic):
        try:
            if (answer.size if isinstance(answer, np.ndarray) else answer.numel()
                    if isinstance(answer, torch.Tensor) else 1) != 1:
                return None
            answer = answer.item()
        except Exception:  # noqa: BLE001 - e.g. a tensor on the meta device, a sparse or quantized one
            return None
        if isinstance(answer, (bool, np.bool_)):
            return None
    if isinstance(answer, int):
        return answer
    if isinstance(answer, numbers.Real) or isinstance(answer, decimal.Decimal):
        try:
            return float(answer)
        except (OverflowError, ValueError, TypeError):
            return None
    return None


def _compare(answer, expected, what: str, hint: str, tol: float = 0.0) -> CheckResult:
    """The verdict on ``answer`` (anything: it never raises): right when |answer - expected| <= tol."""
    if answer is None or answer is Ellipsis:
        return CheckResult(False, f"{what}：还没有作答。把 {_shown(answer)} 换成你的答案（一个数）")
    value = _as_number(answer)
    if value is None:
        return CheckResult(False, f"{what}：请给出一个数（int、float、NumPy 或 torch 标量），收到的是 {_shown(answer)}")
    try:
        right = abs(value - expected) <= tol
    except (OverflowError, ArithmeticError):                     # e.g. an int beyond the float range
        right = False
    if right:
        return CheckResult(True, f"{what} = {_shown(value)}")
    return CheckResult(False, f"{what}：{_shown(value)} 不对。提示：{hint}")


# ----------------------------------------------------------------------------- expected values (computed once)
@functools.cache
def _spp_length() -> int:
    return sum(adaptive_avg_pool2d(torch.zeros(1, 256, 13, 13), lv).numel() for lv in (1, 2, 3, 6))


@functools.cache
def _sigmoid_grad_max() -> float:
    return sigmoid_grad(torch.linspace(-10, 10, 20001, dtype=torch.float64)).max().item()


@functools.cache
def _momentum_limit() -> float:
    from .optim import SGD

    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = SGD([p], lr=0.0, momentum=0.9)
    for _ in range(1000):
        p.grad = torch.ones(1, dtype=torch.float64)
        opt.step()
    return opt.state[p]["momentum_buffer"].item()


@functools.cache
def _vit_tokens() -> int:
    from .vit import PatchEmbedding

    return PatchEmbedding(384, 16, 3, 8)(torch.zeros(1, 3, 384, 384)).shape[1] + 1


@functools.cache
def _mha_params() -> int:
    from .attention import MultiHeadAttention

    return sum(p.numel() for p in MultiHeadAttention(512, 8).parameters())


@functools.cache
def _all_healthy_accuracy() -> float:
    from .metrics import confusion_matrix

    y = torch.cat([torch.ones(100, dtype=torch.long), torch.zeros(9900, dtype=torch.long)])
    cm = confusion_matrix(y, torch.zeros_like(y), num_classes=2)
    return (cm.trace() / cm.sum()).item()


# ----------------------------------------------------------------------------- the checks
def check_conv_output_size(answer) -> CheckResult:
    """Exercise: AlexNet conv1, input 227, kernel 11, stride 4, no padding. Output side?"""
    return _compare(answer, conv_output_size(227, 11, 4, 0), "AlexNet conv1 的输出边长",
                    "输出 = ⌊(W − K + 2P) / S⌋ + 1")


def check_transpose_output_size(answer) -> CheckResult:
    """Exercise: transposed conv, input 7, kernel 4, stride 2, padding 1. Output side?"""
    return _compare(answer, conv_transpose_output_size(7, 4, 2, 1), "转置卷积的输出边长",
                    "(in − 1)·s − 2p + d·(k − 1) + output_padding + 1")


def check_conv_params(answer) -> CheckResult:
    """Exercise: nn.Conv2d(128, 256, 3, groups=4) (with bias). Number of parameters?"""
    return _compare(answer, conv2d_params(128, 256, 3, groups=4), "Conv2d(128, 256, 3, groups=4) 的参数量",
                    "分组后每个滤波器只看 C_in / groups 个输入通道；每个滤波器还有一个偏置")


def check_separable_ratio(answer) -> CheckResult:
    """Exercise: MACs of a depthwise-separable 3x3 conv, 64 -> 128 channels, divided by a standard one."""
    expected = separable_conv2d_macs(64, 128, 3, 32) / conv2d_macs(64, 128, 3, 32)
    return _compare(answer, expected,
                    "深度可分离 / 标准卷积的乘加数之比", "比值 = 1/N + 1/k²，N 为输出通道数", tol=1e-3)


def check_chain_rf(answer) -> CheckResult:
    """Exercise: receptive field of 'conv3, conv3, pool2, conv3, conv3' (pool stride 2)."""
    expected = receptive_field_table(parse_layers("conv3, conv3, pool2, conv3, conv3"), 64)[-1].rf
    return _compare(answer, expected, "conv3, conv3, pool2, conv3, conv3 的感受野",
                    "每层感受野增加 (k − 1)·jump；池化之后 jump 翻倍")


def check_vgg_jump(answer) -> CheckResult:
    """Exercise: distance in input pixels between adjacent units of VGG16 conv5_3."""
    layers, size = preset("vgg16")
    expected = next(r.jump for r in receptive_field_table(layers, size) if r.layer.name == "conv5_3")
    return _compare(answer, expected, "VGG16 conv5_3 的 jump", "把它下面所有层的步长乘起来")


def check_seed000_rf(answer) -> CheckResult:
    """Exercise: the 7-layer chain of seed 000 (pool1 is 3x3 stride 2). Receptive field of pool3?"""
    expected = receptive_field_table(*preset("seed000"))[-1].rf
    return _compare(answer, expected, "笔记 000 七层网络的感受野",
                    "自顶向下：从 pool3 往下 RF = (RF − 1)·s + k；pool1 的 k 是 3 不是 2")


def check_pool_output_size(answer) -> CheckResult:
    """Exercise: MaxPool2d(3, stride=2, ceil_mode=True) on a 112-pixel side. Output side?"""
    return _compare(answer, conv_output_size(112, 3, 2, 0, 1, ceil_mode=True), "ceil_mode 池化的输出边长",
                    "⌈(W − K) / S⌉ + 1，再去掉起点落在填充里的最后一个窗口")


def check_gap_head_params(answer) -> CheckResult:
    """Exercise: parameters of GAP + Linear(512, 1000) (with bias) on a 512x7x7 feature map."""
    return _compare(answer, 512 * 1000 + 1000, "GAP + 全连接头的参数量",
                    "GAP 没有参数；全连接层有 in·out 个权重和 out 个偏置")


def check_spp_length(answer) -> CheckResult:
    """Exercise: length of the SPP vector of 256 channels with levels (1, 2, 3, 6)."""
    return _compare(answer, _spp_length(), "SPP 向量的长度", "C · Σ l²，对各层金字塔求和")


def check_sigmoid_grad_max(answer) -> CheckResult:
    """Exercise: the largest value of σ'(x)."""
    return _compare(answer, _sigmoid_grad_max(), "sigmoid 导数的最大值", "σ' = σ(1 − σ)，看它在 σ 取何值时最大",
                    tol=1e-6)


def check_tanh_grad_at_zero(answer) -> CheckResult:
    """Exercise: tanh'(0)."""
    from .activations import tanh_grad

    return _compare(answer, tanh_grad(torch.zeros(1, dtype=torch.float64)).item(), "tanh'(0)", "tanh' = 1 − tanh²",
                    tol=1e-9)


def check_softmax_value(answer) -> CheckResult:
    """Exercise: the first probability of softmax([1000, 1001, 1002]), to 4 decimals."""
    expected = softmax(torch.tensor([1000.0, 1001.0, 1002.0], dtype=torch.float64), 0)[0].item()
    return _compare(answer, expected, "softmax([1000, 1001, 1002]) 的第一个概率",
                    "先减去最大值（softmax 对平移不变），再算指数", tol=5e-5)


def check_ce_gradient(answer) -> CheckResult:
    """Exercise: logits (2, 0, -1), true class 0. ∂CE/∂z_0?"""
    p0 = softmax(torch.tensor([2.0, 0.0, -1.0], dtype=torch.float64), 0)[0].item()
    return _compare(answer, p0 - 1, "∂CE/∂z_0", "softmax + 交叉熵对 logits 的梯度是 p − y", tol=5e-4)


def check_focal_factor(answer) -> CheckResult:
    """Exercise: the modulating factor (1 - p_t)^γ for p_t = 0.9 and γ = 2."""
    return _compare(answer, (1 - 0.9) ** 2, "p_t = 0.9、γ = 2 时的调制因子", "调制因子是 (1 − p_t)^γ", tol=1e-9)


def check_label_smoothing_target(answer) -> CheckResult:
    """Exercise: with label smoothing ε = 0.1 and 10 classes, the target of the true class."""
    return _compare(answer, 1 - 0.1 + 0.1 / 10, "平滑后真实类别的目标值", "(1 − ε)·y + ε/C，C 为类别数", tol=1e-9)


def check_prior_bias(answer) -> CheckResult:
    """Exercise: RetinaNet's initial classifier bias for the prior π = 0.01 (to 3 decimals)."""
    import math

    return _compare(answer, -math.log((1 - 0.01) / 0.01), "先验偏置 b", "要求 sigmoid(b) = π，解出 b", tol=5e-4)


def check_bn_params(answer) -> CheckResult:
    """Exercise: learnable parameters of nn.BatchNorm2d(256)."""
    from .norm import BatchNorm2d

    expected = sum(p.numel() for p in BatchNorm2d(256).parameters())
    return _compare(answer, expected, "BatchNorm2d(256) 的可学习参数量",
                    "每个通道一个 γ 和一个 β；滑动统计量是 buffer，不是参数")


def check_dropout_scale(answer) -> CheckResult:
    """Exercise: the factor inverted dropout applies to kept values for p = 0.2 (drop probability)."""
    from .norm import dropout

    kept = dropout(torch.ones(1000, dtype=torch.float64), 0.2, generator=torch.Generator().manual_seed(0)).max()
    return _compare(answer, kept.item(), "inverted dropout 的放大系数", "保留的值要除以保留概率 1 − p（p 为丢弃概率）",
                    tol=1e-9)


def check_running_mean(answer) -> CheckResult:
    """Exercise: running mean after 3 batches whose mean is 2 (start 0, momentum 0.1)."""
    from .norm import batch_norm

    rm, rv = torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    for _ in range(3):
        batch_norm(torch.tensor([[1.0], [3.0]], dtype=torch.float64), rm, rv, training=True, momentum=0.1)
    return _compare(answer, rm.item(),
                    "3 步之后的 running mean", "每一步：running ← (1 − m)·running + m·batch_mean", tol=1e-4)


def check_adam_first_step(answer) -> CheckResult:
    """Exercise: the change of a parameter in Adam's first step (lr 0.01, gradient 5, eps 0)."""
    from .optim import Adam

    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = Adam([p], lr=0.01, eps=0.0)
    p.grad = torch.tensor([5.0], dtype=torch.float64)
    opt.step()
    return _compare(answer, p.item(),
                    "Adam 第一步的参数变化量 Δθ", "偏差修正后第一步 m̂ = g、v̂ = g²；别忘了符号", tol=1e-9)


def check_momentum_velocity(answer) -> CheckResult:
    """Exercise: the limit of the momentum buffer (μ = 0.9) when the gradient is always 1."""
    return _compare(answer, _momentum_limit(), "速度的极限", "在不动点 v = μv + 1", tol=1e-6)


def check_linear_scaling_lr(answer) -> CheckResult:
    """Exercise: learning rate for batch 1024 by the linear rule, from 0.1 at batch 256."""
    return _compare(answer, 0.1 * 1024 / 256, "按线性规则放缩后的学习率", "lr × (新 batch / 旧 batch)", tol=1e-9)


def check_xavier_bound(answer) -> CheckResult:
    """Exercise: the bound a of Xavier-uniform for Linear(300, 100)."""
    import math

    from .init import fan_in_and_fan_out

    fan_in, fan_out = fan_in_and_fan_out(torch.empty(100, 300))
    return _compare(answer, math.sqrt(6 / (fan_in + fan_out)),
                    "Xavier 均匀分布的边界 a", "a = √(6 / (fan_in + fan_out))",
                    tol=5e-5)


def check_he_std(answer) -> CheckResult:
    """Exercise: std of He-normal (ReLU, fan_in) for a 3x3 conv with 512 input channels."""
    import math

    from .init import calculate_gain, fan_in_and_fan_out

    fan_in, _ = fan_in_and_fan_out(torch.empty(64, 512, 3, 3))
    return _compare(answer, calculate_gain(
                    "relu") / math.sqrt(fan_in), "He 正态初始化的标准差",
                    "std = gain / √fan_in，ReLU 的 gain 是 √2，卷积的 fan_in = C_in·k·k", tol=5e-5)


def check_linear_grad(answer) -> CheckResult:
    """Exercise: dL/dw for y = wx + b, L = (y - y_gt)²/2 at w=0.7, x=2, b=-0.3, y_gt=1.5."""
    from .autodiff import Value

    w = Value(0.7)
    loss = 0.5 * (w * 2.0 + (-0.3) - 1.5) ** 2
    loss.backward()
    return _compare(answer, w.grad, "∂L/∂w", "链式法则：∂L/∂y · ∂y/∂w", tol=1e-9)


def check_iou_value(answer) -> CheckResult:
    """Exercise: IoU of (0, 0, 10, 10) and (5, 5, 15, 15)."""
    from .boxes import box_iou

    iou = box_iou(torch.tensor([[0.0, 0, 10, 10]], dtype=torch.float64), torch.tensor([[5.0, 5, 15, 15]],
                                                                                      dtype=torch.float64))
    return _compare(answer, iou.item(), "IoU", "交集面积 / (两框面积之和 − 交集面积)", tol=5e-4)


def check_anchor_count(answer) -> CheckResult:
    """Exercise: anchors of Faster R-CNN (VGG16 conv5_3, 3 scales × 3 ratios) on a 1000 × 600 image."""
    h, w = 600, 1000
    for _ in range(4):                                   # the four 2x2/2 max-pools before conv5_3
        h, w = conv_output_size(h, 2, 2), conv_output_size(w, 2, 2)
    return _compare(answer, h * w * 9, "anchor 总数",
                    "四次 2×2/2 池化，每次向下取整，得到特征图的宽高；每个位置 9 个 anchor")


def check_roi_pool_start(answer) -> CheckResult:
    """Exercise: ROI Pool with spatial_scale = 1/16 maps a box edge at x1 = 40 to which feature column?"""
    from .roi import _round_half_away

    col = int(_round_half_away(torch.tensor(40 / 16)).item())
    return _compare(answer, col,
                    "起始特征列（从 0 开始）", "x1 · spatial_scale 之后取整；C 的 round() 把 .5 舍入到远离 0 的一侧")


def check_box_delta_th(answer) -> CheckResult:
    """Exercise: t_h that moves anchor (0, 0, 100, 50) onto ground truth (10, 0, 110, 100)."""
    from .anchors import BoxCoder

    t = BoxCoder().encode_single(torch.tensor([[10.0, 0, 110, 100]], dtype=torch.float64),
                                 torch.tensor([[0.0, 0, 100, 50]], dtype=torch.float64))
    return _compare(answer, t[0, 3].item(), "t_h", "t_h = log(h_gt / h_anchor)", tol=5e-4)


def check_vit_tokens(answer) -> CheckResult:
    """Exercise: tokens entering the encoder of ViT-B/16 at 384 × 384 (class token included)."""
    return _compare(answer, _vit_tokens(), "token 数", "图像块数 (H / P)² 再加上 class token")


def check_mha_params(answer) -> CheckResult:
    """Exercise: parameters of MultiHeadAttention(512, 8) (with biases)."""
    return _compare(answer, _mha_params(), "参数量", "W_q、W_k、W_v、W_o 各是 d × d 加偏置；多头不增加参数")


def check_qk_variance(answer) -> CheckResult:
    """Exercise: var(q·k) when q, k have d_k = 64 independent entries of mean 0 and variance 1."""
    return _compare(answer, 64, "var(q·k)", "q·k 是 d_k 个独立乘积之和，每个乘积的方差是 1", tol=1e-9)


def check_pe_value(answer) -> CheckResult:
    """Exercise: PE(pos=2, 1) — the cos channel of the first frequency — for d_model = 512."""
    from .attention import sinusoidal_position_encoding

    return _compare(answer, sinusoidal_position_encoding(3, 512)[2, 1].item(),
                    "PE(2, 1)", "奇数通道 2i+1 是 cos(pos / 10000^(2i/d_model))",
                    tol=5e-4)


def check_imbalanced_accuracy(answer) -> CheckResult:
    """Exercise: 1 % of 10,000 patients are ill; a model that says "healthy" to everyone has what accuracy?"""
    return _compare(answer, _all_healthy_accuracy(), "准确率", "(TP + TN) / 全部样本", tol=5e-4)


def check_f1_value(answer) -> CheckResult:
    """Exercise: F1 when precision = 0.5 and recall = 1.0."""
    return _compare(answer, 2 * 0.5 * 1.0 / 1.5, "F1", "调和平均 2PR / (P + R)", tol=5e-4)


def check_fbeta_value(answer) -> CheckResult:
    """Exercise: F2 (β = 2) when precision = 0.5 and recall = 0.8."""
    return _compare(answer, (1 + 4) * 0.5 * 0.8 / (4 * 0.5 + 0.8), "F2", "(1 + β²)·P·R / (β²·P + R)", tol=5e-4)


def check_r2_value(answer) -> CheckResult:
    """Exercise: R² of a model whose MSE is 2 on targets of variance 8."""
    return _compare(answer, 1 - 2 / 8, "R²", "R² = 1 − MSE / Var(y)", tol=5e-4)
