"""Benchmark rows for cvbook_lib.conv's algorithms (issue 20): conv.conv2d (algorithm='auto') and its
Winograd, FFT, direct and im2col paths against F.conv2d, plus the float32 error of Winograd and FFT."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from _bench import Row

from cvbook_lib import conv, conv_fast


def _randn(gen, device, *shape):
    return torch.randn(*shape, generator=gen).to(device)


def rows(gen: torch.Generator, device: torch.device) -> list[Row]:
    out = []
    x, w = _randn(gen, device, 8, 64, 56, 56), _randn(gen, device, 64, 64, 3, 3)
    ref = functools.partial(F.conv2d, x, w, padding=1)
    shape = "(8, 64, 56, 56) x 64"
    out.append(Row("conv2d 3x3 p1 (auto)", shape, functools.partial(conv.conv2d, x, w, padding=1), ref, 1.3))
    out.append(Row("conv2d 3x3 p1 (winograd)", shape,
                   functools.partial(conv.conv2d, x, w, padding=1, algorithm="winograd"), ref, 1.3))
    for tile in (2, 4):
        out.append(Row(f"conv2d 3x3 p1 (winograd m={tile})", shape,
                       functools.partial(conv_fast.winograd_conv2d, x, w, padding=1, tile=tile), ref, None))
    out.append(Row("conv2d 3x3 p1 (im2col)", shape,
                   functools.partial(conv.conv2d, x, w, padding=1, algorithm="im2col"), ref, None))
    x, w = _randn(gen, device, 8, 3, 224, 224), _randn(gen, device, 64, 3, 7, 7)
    ref = functools.partial(F.conv2d, x, w, stride=2, padding=3)
    out.append(Row("conv2d 7x7 s2 p3 stem (auto)", "(8, 3, 224, 224) x 64",
                   functools.partial(conv.conv2d, x, w, stride=2, padding=3), ref, 1.5))
    x, w = _randn(gen, device, 8, 128, 28, 28), _randn(gen, device, 128, 1, 3, 3)
    ref = functools.partial(F.conv2d, x, w, padding=1, groups=128)
    shape = "(8, 128, 28, 28) depthwise"
    out.append(Row("conv2d dw 3x3 p1 (auto)", shape,
                   functools.partial(conv.conv2d, x, w, padding=1, groups=128), ref, 2.0))
    out.append(Row("conv2d dw 3x3 p1 (im2col)", shape,
                   functools.partial(conv.conv2d, x, w, padding=1, groups=128, algorithm="im2col"), ref, None))
    x = _randn(gen, device, 2, 16, 64, 64)
    for k in (11, 15):
        w = _randn(gen, device, 16, 16, k, k)
        ref = functools.partial(F.conv2d, x, w, padding=k // 2)
        for algorithm in ("fft", "im2col"):
            out.append(Row(f"conv2d {k}x{k} p{k // 2} ({algorithm})", "(2, 16, 64, 64) x 16",
                           functools.partial(conv.conv2d, x, w, padding=k // 2, algorithm=algorithm), ref, None))
    return out


def _relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return float((ours.double() - ref).abs().max() / ref.abs().max())


def reports(gen: torch.Generator, device: torch.device) -> list[str]:
    """Float32 error against a float64 F.conv2d, relative to the output's largest magnitude."""
    lines = []
    x, w = _randn(gen, device, 8, 64, 56, 56), _randn(gen, device, 64, 64, 3, 3)
    ref = F.conv2d(x.double(), w.double(), padding=1)
    for name, fn in (("F.conv2d float32", lambda: F.conv2d(x, w, padding=1)),
                     ("im2col", lambda: conv.conv2d(x, w, padding=1, algorithm="im2col")),
                     ("winograd m=2", lambda: conv_fast.winograd_conv2d(x, w, padding=1, tile=2)),
                     ("winograd m=4", lambda: conv_fast.winograd_conv2d(x, w, padding=1, tile=4))):
        lines.append(f"conv2d 3x3 (8, 64, 56, 56) x 64 float32 max error / max|y|: {name:16s} "
                     f"{_relative_error(fn(), ref):.1e}")
    x, w = _randn(gen, device, 2, 16, 64, 64), _randn(gen, device, 16, 16, 15, 15)
    ref = F.conv2d(x.double(), w.double(), padding=7)
    for name, fn in (("F.conv2d float32", lambda: F.conv2d(x, w, padding=7)),
                     ("fft", lambda: conv.conv2d(x, w, padding=7, algorithm="fft"))):
        lines.append(f"conv2d 15x15 (2, 16, 64, 64) x 16 float32 max error / max|y|: {name:16s} "
                     f"{_relative_error(fn(), ref):.1e}")
    return lines
