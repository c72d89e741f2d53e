"""Check functions for the chapters' exercises (练习).

Each ``check_*`` compares the reader's answer with the value computed by the tested library and
returns a ``CheckResult``: it shows "✓ ..." when right, or says what is off, without printing.
"""

from __future__ import annotations

from dataclasses import dataclass

from .conv import conv2d_macs, conv2d_params, conv_output_size, conv_transpose_output_size, separable_conv2d_macs

__all__ = ["CheckResult", "check_conv_output_size", "check_transpose_output_size", "check_conv_params",
           "check_separable_ratio"]


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one answer; ``bool(result)`` is whether it was right."""

    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return ("✓ " if self.ok else "✗ ") + self.message


def _compare(answer, expected, what: str, hint: str, tol: float = 0.0) -> CheckResult:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return CheckResult(False, f"{what}: give a number, got {answer!r}")
    if abs(answer - expected) <= tol:
        return CheckResult(True, f"{what} = {answer}")
    return CheckResult(False, f"{what}: {answer} is not right. Hint: {hint}")


def check_conv_output_size(answer) -> CheckResult:
    """Exercise: AlexNet conv1, input 227, kernel 11, stride 4, no padding. Output side?"""
    return _compare(answer, conv_output_size(227, 11, 4, 0), "AlexNet conv1 output side",
                    "floor((W - K + 2P) / S) + 1 with W=227, K=11, S=4, P=0")


def check_transpose_output_size(answer) -> CheckResult:
    """Exercise: transposed conv, input 7, kernel 4, stride 2, padding 1. Output side?"""
    return _compare(answer, conv_transpose_output_size(7, 4, 2, 1), "transposed conv output side",
                    "(in - 1)*s - 2p + d*(k - 1) + output_padding + 1")


def check_conv_params(answer) -> CheckResult:
    """Exercise: nn.Conv2d(128, 256, 3, groups=4) (with bias). Number of parameters?"""
    return _compare(answer, conv2d_params(128, 256, 3, groups=4), "parameters of Conv2d(128, 256, 3, groups=4)",
                    "each of the 256 filters sees only 128/4 input channels; add one bias per filter")


def check_separable_ratio(answer) -> CheckResult:
    """Exercise: MACs of a depthwise-separable 3x3 conv, 64 -> 128 channels, divided by a standard one."""
    expected = separable_conv2d_macs(64, 128, 3, 32) / conv2d_macs(64, 128, 3, 32)
    return _compare(answer, expected, "separable / standard MACs", "1/N + 1/k^2 with N output channels", tol=1e-3)
