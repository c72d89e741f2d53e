"""Below 8 bits: stochastic rounding, binary and ternary weights, and k-means weight sharing.

- :func:`stochastic_round` (Gupta et al. 2015, arXiv 1502.02551): round up with probability equal to the
  fractional part, so the rounding is unbiased, ``E[SR(x)] = x``, where round-to-nearest makes the same
  error every time (x = 0.3 everywhere: RTN is off by 0.3 per element, SR by 0 on average).
- :func:`binarize`: BinaryConnect's sign (Courbariaux, Bengio & David 2015, arXiv 1511.00363), with the
  scale α = mean|w| per output channel of XNOR-Net's binary-weight networks (Rastegari et al. 2016, arXiv
  1603.05279), the α that minimizes ||w - α·sign(w)||².
- :func:`ternarize`: Ternary Weight Networks (Li, Zhang & Liu 2016, arXiv 1605.04711): the threshold
  Δ = 0.7·mean|w| approximates the optimal one, and α = mean of |w| over |w| > Δ is then optimal for it.
- :func:`kmeans_codebook`: the weight sharing of Deep Compression (Han, Mao & Dally 2016, arXiv 1510.00149):
  k = 2^bits centroids initialized linearly between min(w) and max(w) (their best choice: it keeps the rare
  large weights), Lloyd iterations; each weight is stored as a ``bits``-bit index into the codebook
  (:func:`codebook_size_bits`).

Training through :func:`binarize` / :func:`ternarize` uses the straight-through estimator, e.g.
``w + (binarize(w) - w).detach()``: the forward sees the binary weights, the gradient flows to ``w``.
"""

from __future__ import annotations

import torch

from .._checks import check_bool, check_choice, check_float, check_int, check_tensor

__all__ = ["stochastic_round", "binarize", "ternarize", "kmeans_codebook", "codebook_size_bits"]


def _check_generator(generator, device: torch.device):
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if generator.device.type != device.type:
        raise ValueError(f"generator must be on the tensor's device ({device}), got {generator.device}")
    return generator


def stochastic_round(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``floor(x) + Bernoulli(x - floor(x))``: unbiased rounding to integers (Gupta et al. 2015).

    Args:
        x (Tensor[*]): floating. To round to a grid of step ``eps``, call ``eps·stochastic_round(x / eps)``.
        generator: the source of the uniform draws (on x's device), or None for the global one.
    Returns:
        Tensor[*] of x's dtype holding integers; ``|SR(x) - x| < 1`` and ``E[SR(x)] = x``. NaN and ±inf stay.
    """
    check_tensor(x, "x", kind="float")
    generator = _check_generator(generator, x.device)
    dtype = torch.promote_types(x.dtype, torch.float32)               # draws finer than float16's
    low = torch.floor(x)
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=dtype)
    return low + (u < (x - low).to(dtype)).to(x.dtype)


def binarize(w: torch.Tensor, per_channel: bool = True) -> torch.Tensor:
    """``α·sign(w)`` with sign(0) = +1 and α = mean|w| (per output channel, dim 0, or over the whole tensor).

    Args:
        w (Tensor[O, ...]): floating weights (at least 2-D when ``per_channel``).
        per_channel: one α per ``w[o]`` (XNOR-Net's choice for each filter) or one for the tensor.
    Returns:
        Tensor of w's shape with two values ±α per channel; α minimizes ``||w - α·sign(w)||²``.
    """
    check_tensor(w, "w", kind="float")
    per_channel = check_bool(per_channel, "per_channel")
    if per_channel and w.dim() < 2:
        raise ValueError(f"w must be at least 2-D (output channels first) when per_channel=True, got shape "
                         f"{tuple(w.shape)}")
    sign = torch.where(w >= 0, 1.0, -1.0).to(w.dtype)                 # BinaryConnect: sign(0) = +1
    dims = tuple(range(1, w.dim())) if per_channel else tuple(range(w.dim()))
    alpha = w.abs().mean(dim=dims, keepdim=True) if w.numel() else w.new_zeros([1] * w.dim())
    return alpha * sign


def ternarize(w: torch.Tensor, threshold_factor: float = 0.7) -> torch.Tensor:
    """Ternary Weight Networks: ``α·t`` with ``t = sign(w)·[|w| > Δ]``, Δ = threshold_factor·mean|w|, and
    α = mean of |w| over ``|w| > Δ`` (0 when no weight passes).

    Args:
        w (Tensor[*]): floating, finite weights; one Δ and one α for the tensor (a layer), as in the paper.
        threshold_factor (float >= 0): 0.7 is Li & Liu's approximation of the optimal Δ for Gaussian /
            uniform weights.
    Returns:
        Tensor of w's shape with values in {-α, 0, α}. For the chosen t, α is the least-squares scale
        ``argmin_a ||w - a·t||² = <|w|, |t|> / ||t||²``.
    """
    check_tensor(w, "w", kind="float")
    factor = check_float(threshold_factor, "threshold_factor", 0.0, allow_inf=False)
    if not bool(torch.isfinite(w).all()):
        raise ValueError("w must be finite (an inf weight would make Δ infinite), got a tensor with NaN or inf")
    if w.numel() == 0:
        return w.clone()
    a = w.abs()
    keep = a > factor * a.mean()                                      # |w| > Δ
    alpha = (a * keep).sum() / keep.sum().clamp(min=1)                # 0 when no weight passes
    return torch.where(keep, alpha * torch.sign(w), torch.zeros_like(w))


# ----------------------------------------------------------------------------- k-means weight sharing
def _nearest(v: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid of c (Tensor[k]) for every value of v (Tensor[n]), ties to the smaller
    value, and among equal centroids the lowest index (argmin's rule): one binary search, no n×k matrix."""
    cs, order = torch.sort(c, stable=True)
    hi = torch.searchsorted(cs, v).clamp(max=cs.numel() - 1)           # first centroid >= v
    lo = (hi - 1).clamp(min=0)
    pos = torch.where((v - cs[lo]).abs() <= (cs[hi] - v).abs(), lo, hi)
    pos = torch.searchsorted(cs, cs[pos])                             # the first of equal centroids
    return order[pos]


def _init(v: torch.Tensor, k: int, init: str, generator) -> torch.Tensor:
    if init == "linear":                                              # Han et al.: evenly in [min, max]
        return torch.linspace(float(v.min()), float(v.max()), k, dtype=v.dtype, device=v.device)
    if init == "density":                                             # evenly spaced levels of the CDF
        levels = (torch.arange(k, dtype=v.dtype, device=v.device) + 0.5) / k
        s = v.sort().values
        return s[(levels * (v.numel() - 1)).round().long()]
    if v.numel() < k:                                                  # Forgy: k distinct weights at random
        raise ValueError(f"w must have at least 2**bits = {k} elements for init='random', got {v.numel()}")
    return v[torch.randperm(v.numel(), generator=generator, device=v.device)[:k]]


def kmeans_codebook(w: torch.Tensor, bits: int, iters: int = 30, init: str = "linear",
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight sharing by 1-D k-means (Lloyd's algorithm) with k = 2^bits centroids (Han et al. 2016).

    Args:
        w (Tensor[*]): floating, finite, non-empty weights (computed in float64).
        bits (int): 1 to 16. iters (int >= 0): at most this many Lloyd iterations; stops early once the
            centroids no longer move. init: ``'linear'`` (evenly spaced in [min w, max w]), ``'density'``
            (the weights at CDF levels (i + ½)/k) or ``'random'`` (k distinct weights drawn with ``generator``).
    Returns:
        (codebook Tensor[2^bits] of w's dtype, indices Tensor[*] int64): ``codebook[indices]`` approximates w;
        every weight maps to its nearest centroid. The squared error never increases from one iteration
        to the next. A centroid that loses all its weights stays where it is (scikit-learn moves it to a
        far point instead).
    """
    check_tensor(w, "w", kind="float")
    bits = check_int(bits, "bits", 1, 16)
    iters = check_int(iters, "iters", 0)
    init = check_choice(init, "init", ("linear", "density", "random"))
    generator = _check_generator(generator, w.device)
    if w.numel() == 0:
        raise ValueError(f"w must have at least one element, got shape {tuple(w.shape)}")
    if not bool(torch.isfinite(w).all()):
        raise ValueError("w must be finite, got a tensor with NaN or inf")
    k = 2**bits
    v = w.detach().reshape(-1).double()
    c = _init(v, k, init, generator)
    for _ in range(iters):
        idx = _nearest(v, c)
        counts = torch.bincount(idx, minlength=k)
        sums = torch.zeros(k, dtype=v.dtype, device=v.device).index_add_(0, idx, v)
        new = torch.where(counts > 0, sums / counts.clamp(min=1), c)
        if torch.equal(new, c):
            break
        c = new
    return c.to(w.dtype), _nearest(v, c).reshape(w.shape)


def codebook_size_bits(num_weights: int, bits: int, codebook_bits: int = 32) -> int:
    """Storage of a shared-weight layer: ``num_weights·bits`` (indices) ``+ 2^bits·codebook_bits`` (codebook).

    Han et al.'s compression rate is ``num_weights·32 / codebook_size_bits(num_weights, bits)``:
    e.g. 1,000,000 weights at 4 bits take 4,000,512 bits instead of 32,000,000, a rate of 7.99.
    """
    n = check_int(num_weights, "num_weights", 0)
    b = check_int(bits, "bits", 1, 16)
    cb = check_int(codebook_bits, "codebook_bits", 1)
    return n * b + 2**b * cb
