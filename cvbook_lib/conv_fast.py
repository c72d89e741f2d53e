"""Fast convolution: Winograd minimal filtering F(m×m, 3×3), FFT convolution and a direct (shifted-view)
path for depthwise convolution. ``conv.conv2d(..., algorithm=...)`` dispatches here; the public functions
below validate like ``conv.conv2d`` and are tested against ``F.conv2d`` in ``tests/test_conv_fast.py``.

Winograd's transforms (Winograd 1980; Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
2016) — the derivation, in 1-D. The cross-correlation ``y_i = sum_k d_{i+k} g_k`` (i < m, k < r = 3) of
``α = m + r - 1`` inputs with 3 taps is the *transpose* of a polynomial product: with
``g(x) = sum_k g_k x^k`` and ``h(x) = sum_i h_i x^i`` (degree m - 1), the coefficients of ``s = g·h``
(degree α - 1) are ``s = T_g h``, and ``(T_g^T d)_i = sum_k g_k d_{i+k} = y_i``. A polynomial of degree
α - 1 is fixed by α values (Toom-Cook = interpolation, i.e. the Chinese remainder theorem for the moduli
``x - p``, with ∞ standing for the leading coefficient rather than a modulus): evaluate g and h at α - 1
points p and at ∞ (the value "at ∞" is the leading coefficient),
multiply the α values pairwise — α multiplications instead of m·r — and interpolate. With Vandermonde
matrices ``V_h`` (α × m, rows ``[1, p, p², ...]``, ∞-row ``[0, ..., 0, 1]``), ``V_g`` (α × r) and
``V_s`` (α × α): ``s = V_s^{-1} ((V_g g) ⊙ (V_h h))``, so ``T_g = V_s^{-1} diag(V_g g) V_h`` and
transposing,

    y = V_h^T [ (V_g g) ⊙ (V_s^{-T} d) ]  =  A^T [ (G g) ⊙ (B^T d) ],
    A^T = V_h^T (m × α),  G = V_g (α × r),  B^T = V_s^{-T} (α × α).

A diagonal scaling D can move between G and B^T (``G -> D^{-1} G``, ``B^T -> D B^T``); we make every
row of B^T integer (so the data transform, done per tile, has no fractions; the filter transform,
done once, carries them), as Lavin & Gray do. Points: F(2, 3) uses 0, ±1, ∞ (4 multiplications
for 2 outputs instead of 6); F(4, 3) adds 1/2 and -2 (6 instead of 12; Lavin & Gray use ±2: any distinct
points give a correct algorithm, they differ in rounding). More points (F(6, 3) and up) must lie farther from
0 or closer together, which makes the Vandermonde matrices worse conditioned: that is why the float32 error
grows with the tile. In 2-D the transforms nest: ``Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A`` for an α × α tile d,
(m + 2)² multiplications for m² outputs: 16/4 = 4 and 36/16 = 2.25 per output instead of 9. Summing over
input channels happens in the transformed domain, so each of the α² tile positions is one matmul
``(F, C) × (C, tiles)`` (``torch.matmul`` batched over the α² positions).

FFT convolution (Mathieu, Henaff & LeCun, "Fast Training of Convolutional Networks through FFTs", 2014):
correlation theorem ``x ⋆ w = IFFT(FFT(x) · conj(FFT(w)))`` (circular), exact for the valid part when the
FFT size is at least the padded input; the channel sum is a complex matmul per frequency.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from math import gcd, lcm

import torch

from ._checks import check_choice, check_int

__all__ = ["winograd_matrices", "winograd_conv2d", "fft_conv2d"]

_POINTS = {2: (0, 1, -1), 4: (0, 1, -1, Fraction(1, 2), -2)}  # finite interpolation points; ∞ comes last


def _vandermonde(points, cols: int) -> list[list[Fraction]]:
    rows = [[Fraction(p) ** j for j in range(cols)] for p in points]
    return rows + [[Fraction(int(j == cols - 1)) for j in range(cols)]]   # the point at infinity


def _inverse(a: list[list[Fraction]]) -> list[list[Fraction]]:
    """Exact Gauss-Jordan inverse of a small square matrix of fractions."""
    n = len(a)
    m = [row[:] + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(a)]
    for c in range(n):
        piv = next(r for r in range(c, n) if m[r][c] != 0)
        m[c], m[piv] = m[piv], m[c]
        m[c] = [v / m[c][c] for v in m[c]]
        for r in range(n):
            if r != c and m[r][c] != 0:
                m[r] = [v - m[r][c] * u for v, u in zip(m[r], m[c])]
    return [row[n:] for row in m]


@functools.cache
def _exact_matrices(tile: int):
    pts = _POINTS[tile]
    alpha = tile + 2
    vh, vg, vs_inv = _vandermonde(pts, tile), _vandermonde(pts, 3), _inverse(_vandermonde(pts, alpha))
    bt = [[vs_inv[j][i] for j in range(alpha)] for i in range(alpha)]      # B^T = V_s^{-T}
    g = [row[:] for row in vg]
    for i, row in enumerate(bt):                                           # integer rows of B^T
        den = lcm(*(v.denominator for v in row))
        num = gcd(*(int(v * den) for v in row))
        scale = Fraction(den, num)
        bt[i] = [v * scale for v in row]
        g[i] = [v / scale for v in g[i]]
    at = [[vh[j][i] for j in range(alpha)] for i in range(tile)]           # A^T = V_h^T
    return bt, g, at


def _check_tile(tile) -> int:
    tile = check_int(tile, "tile")
    if tile not in _POINTS:
        raise ValueError(f"tile must be 2 or 4 (Winograd F(2x2, 3x3) or F(4x4, 3x3)), got {tile!r}")
    return tile


def winograd_matrices(tile: int = 4, dtype: torch.dtype = torch.float64, device=None):
    """The Winograd transforms ``(B^T, G, A^T)`` of F(tile, 3), derived from interpolation points.

    Args:
        tile: outputs per 1-D tile, 2 (points 0, ±1, ∞) or 4 (0, ±1, 1/2, -2, ∞).
    Returns:
        ``B^T`` (Tensor[α, α]), ``G`` (Tensor[α, 3]), ``A^T`` (Tensor[tile, α]) with ``α = tile + 2``,
        such that ``A^T [(G g) ⊙ (B^T d)]`` is the valid correlation of d (length α) with g (length 3).
        The entries are computed exactly with fractions (module docstring), then cast to ``dtype``.
    """
    tile = _check_tile(tile)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    return tuple(torch.tensor([[float(v) for v in row] for row in mat], dtype=dtype, device=device)
                 for mat in _exact_matrices(tile))


ALGORITHMS = ("auto", "im2col", "winograd", "fft", "direct")
WINOGRAD_MIN_CHANNELS = 16   # 'auto': below this the transforms cost more than the saved multiplications
FFT_MIN_KERNEL = 11          # 'auto': kernels at least this large (both sides) go to the FFT


def _choose(algorithm, x: torch.Tensor, weight: torch.Tensor, stride, dilation, groups: int) -> str:
    """Resolve ``'auto'`` by shape, or check that an explicit algorithm applies (ValueError if not)."""
    check_choice(algorithm, "algorithm", ALGORITHMS)
    k, unit = tuple(weight.shape[2:]), (1, 1)
    Cg, Fg = weight.shape[1], weight.shape[0] // groups
    fft_dtype = x.dtype in (torch.float32, torch.float64)
    if algorithm == "auto":
        if k == (3, 3) and stride == dilation == unit and min(Cg, Fg) >= WINOGRAD_MIN_CHANNELS and fft_dtype:
            return "winograd"
        if stride == dilation == unit and min(k) >= FFT_MIN_KERNEL and fft_dtype:
            return "fft"
        return "direct" if Cg == 1 else "im2col"
    why = []
    if algorithm == "winograd":
        why = [f"kernel {k} (needs 3x3)"] * (k != (3, 3)) + [f"stride {stride} (needs 1)"] * (stride != unit) \
            + [f"dilation {dilation} (needs 1)"] * (dilation != unit)
    elif algorithm == "fft":
        why = [f"stride {stride} (needs 1)"] * (stride != unit) + [f"dilation {dilation} (needs 1)"] * (
            dilation != unit) + [f"dtype {x.dtype} (torch.fft needs float32 or float64)"] * (not fft_dtype)
    if why:
        raise ValueError(f"algorithm={algorithm!r} does not apply to this convolution: " + ", ".join(why)
                         + "; use algorithm='auto', 'im2col' or 'direct' (they apply to every convolution)")
    return algorithm


# ---------------------------------------------------------------- kernels on validated 4-D input

_WINOGRAD_CHUNK_BYTES = 2 << 20   # transformed input per chunk of tiles: about what the caches of two cores hold


def _winograd(xp: torch.Tensor, weight: torch.Tensor, groups: int, tile: int) -> torch.Tensor:
    """Padded (N, C, Hp, Wp) * (F, C/groups, 3, 3) -> (N, F, Hp - 2, Wp - 2), stride 1, dilation 1.

    The tiles are transformed, multiplied and transformed back a chunk at a time (whole images, or rows of
    tiles of one image), each chunk's transformed input about ``_WINOGRAD_CHUNK_BYTES``: the four passes of
    a chunk then run in cache instead of through main memory (at ResNet sizes the passes, not the matmuls,
    cost most of the time)."""
    N, C, Hp, Wp = xp.shape
    F, Cg, m, a = weight.shape[0], weight.shape[1], tile, tile + 2
    Ho, Wo = Hp - 2, Wp - 2
    th, tw = -(-Ho // m), -(-Wo // m)
    bt, g, at = winograd_matrices(tile, xp.dtype, xp.device)
    extra_h, extra_w = th * m + 2 - Hp, tw * m + 2 - Wp                   # zeros so the tiles cover the output
    if extra_h or extra_w:
        xp = torch.nn.functional.pad(xp, (0, extra_w, 0, extra_h))
    # filters, once: U = G g G^T as (a*a, groups, F/groups, C/groups)
    u = torch.mm(weight.reshape(-1, 3), g.T).view(F * Cg, 3, a)            # [f, c, i, l] = (g G^T)
    u = torch.mm(u.transpose(1, 2).reshape(-1, 3), g.T).view(F, Cg, a, a)  # [f, c, l, k] = (G g G^T)[k, l]
    u = u.permute(3, 2, 0, 1).reshape(a * a, groups, F // groups, Cg)
    kron = torch.kron(at, at)                                              # Y = A^T M A as one (m*m, a*a) matmul
    row_bytes = a * a * C * tw * xp.element_size()                         # one row of tiles, transformed
    rows = max(1, min(th, _WINOGRAD_CHUNK_BYTES // row_bytes))             # tile rows per chunk
    images = max(1, _WINOGRAD_CHUNK_BYTES // (row_bytes * th)) if rows == th else 1
    track = torch.is_grad_enabled() and (xp.requires_grad or weight.requires_grad)
    out = None if track else xp.new_empty(N, F, th * m, tw * m)
    parts = []
    T_max = images * rows * tw
    # without autograd every chunk reuses the same five buffers (out=): no fresh pages per chunk
    bufs = None if track else [xp.new_empty(k * T_max) for k in (a * a * C, a * a * C, a * a * C, a * a * F, m * m * F)]

    def buf(k, *shape):                                                    # a view of buffer k, or None (autograd)
        return None if track else bufs[k][:shape[0] * shape[1]].view(*shape)

    def as_(shape, t):
        return None if t is None else t.view(*shape)

    for i in range(0, N, images):
        n = min(images, N - i)
        for r in range(0, th, rows):
            nr = min(rows, th - r)
            T = n * nr * tw
            # tiles d (a, a, C, n, nr, tw) -> V = B^T d B as (a*a, C, T): the two 1-D transforms are two matmuls
            d = xp[i:i + n, :, r * m:(r + nr) * m + 2].unfold(2, a, m).unfold(3, a, m).permute(4, 5, 1, 0, 2, 3)
            d = d.reshape(a, a * C * T) if track else buf(0, a, a * C * T).view(a, a, C, n, nr, tw).copy_(d)
            d = d.view(a, a * C * T)
            v = torch.matmul(bt, d, out=buf(1, a, a * C * T)).view(a, a, C * T)       # rows: sum_i B^T[k,i] d[i,j]
            v = torch.matmul(bt, v, out=as_((a, a, C * T), buf(2, a, a * C * T)))  # columns: sum_j B^T[l,j] (.)[k,j]
            v = v.view(a * a, groups, Cg, T)
            prod = torch.matmul(u, v, out=as_((a * a, groups, F // groups, T), buf(3, a * a, F * T)))   # the products
            y = torch.matmul(kron, prod.view(a * a, F * T), out=buf(4, m * m, F * T))
            y = y.view(m, m, F, n, nr, tw).permute(3, 2, 4, 0, 5, 1)                  # (n, F, nr, m, tw, m)
            if track:
                parts.append(y.reshape(n, F, nr * m, tw * m))
            else:
                out[i:i + n, :, r * m:(r + nr) * m].view(n, F, nr, m, tw, m).copy_(y)
    if track:                                                              # image-major, then rows of tiles
        per_image = th // rows + (th % rows > 0)
        out = torch.cat([torch.cat(parts[j:j + per_image], dim=2) for j in range(0, len(parts), per_image)])
    return out if (th * m, tw * m) == (Ho, Wo) else out[:, :, :Ho, :Wo].contiguous()


def _fast_len(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n (sizes pocketfft and cuFFT transform fastest)."""
    while True:
        k = n
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return n
        n += 1


def _fft(xp: torch.Tensor, weight: torch.Tensor, groups: int) -> torch.Tensor:
    """Padded (N, C, Hp, Wp) ⋆ (F, C/groups, kh, kw) -> (N, F, Hp - kh + 1, Wp - kw + 1) by the correlation
    theorem; an FFT size >= Hp, Wp means no circular wrap reaches the valid outputs."""
    N, C, Hp, Wp = xp.shape
    F, Cg, kh, kw = weight.shape
    Ho, Wo = Hp - kh + 1, Wp - kw + 1
    s = (_fast_len(Hp), _fast_len(Wp))
    X = torch.fft.rfft2(xp, s=s)                                           # (N, C, Sh, Sw/2+1)
    Wf = torch.fft.rfft2(weight, s=s).conj()                               # correlation: conjugate the filter
    X = X.permute(2, 3, 0, 1).reshape(-1, N, groups, Cg).transpose(1, 2)   # (freq, G, N, Cg)
    Wf = Wf.permute(2, 3, 1, 0).reshape(-1, Cg, groups, F // groups).transpose(1, 2)  # (freq, G, Cg, Fg)
    Y = torch.matmul(X, Wf)                                                # (freq, G, N, Fg): channel sums
    Y = Y.transpose(1, 2).reshape(s[0], -1, N, F).permute(2, 3, 0, 1)      # (N, F, Sh, Sw/2+1)
    return torch.fft.irfft2(Y, s=s)[:, :, :Ho, :Wo].contiguous()


def _direct(xp: torch.Tensor, weight: torch.Tensor, stride, dilation, groups: int, out_hw,
            spare_row: bool = False) -> torch.Tensor:
    """Shifted-view convolution: for every tap (c, u, v) add ``view * weight[:, c, u, v]`` into one buffer.
    Cg*kh*kw passes over the output and no column matrix: the right choice when C_in/groups is 1.
    With stride 1 each tap is one *contiguous* stretch of the flattened padded image (row pitch Wp): the
    output is computed Wp wide, so the inner loops run over whole planes, and the extra Wp - Wo columns
    (windows wrapping into the next row) are cut off at the end. ``spare_row``: the caller padded one extra zero
    row at the bottom for the last tap's overrun (else it is added here)."""
    N, C = xp.shape[:2]
    F, Cg, kh, kw = weight.shape
    Fg = F // groups
    (sh, sw), (dh, dw), (Ho, Wo) = stride, dilation, out_hw
    flat = (sh, sw) == (1, 1)
    if flat:
        Wp = xp.shape[3]
        if kw > 1 and not spare_row:                                       # room for the last tap's overrun
            xp = torch.nn.functional.pad(xp, (0, 0, 0, 1))
        xg = xp.reshape(N, groups, Cg, 1, -1)                               # (N, G, Cg, 1, (Hp+1)*Wp)
    else:
        xg = xp.view(N, groups, Cg, 1, *xp.shape[2:])                       # (N, G, Cg, 1, Hp, Wp)
    wg = weight.view(1, groups, Fg, Cg, kh, kw)
    track = torch.is_grad_enabled() and (xp.requires_grad or weight.requires_grad)
    out = None
    for c in range(Cg):
        for i in range(kh):
            for j in range(kw):
                if flat:
                    off = i * dh * Wp + j * dw
                    tap, wt = xg[:, :, c, :, off: off + Ho * Wp], wg[:, :, :, c, i, j, None]
                else:
                    tap = xg[:, :, c, :, i * dh: i * dh + sh * (Ho - 1) + 1: sh,
                             j * dw: j * dw + sw * (Wo - 1) + 1: sw]
                    wt = wg[:, :, :, c, i, j, None, None]                   # (1, G, Fg, 1, 1)
                if out is None:
                    out = tap * wt                                          # (N, G, Fg, Ho*Wp) or (..., Ho, Wo)
                elif track:
                    out = torch.addcmul(out, tap, wt)
                else:
                    out.addcmul_(tap, wt)
    if flat:
        return out.view(N, F, Ho, Wp)[..., :Wo].contiguous()
    return out.view(N, F, Ho, Wo)


# ---------------------------------------------------------------- public entry points

def winograd_conv2d(input, weight, bias=None, padding=0, groups=1, tile=4) -> torch.Tensor:
    """``F.conv2d(input, weight, bias, stride=1, padding, dilation=1, groups)`` for 3×3 kernels by Winograd
    F(tile×tile, 3×3) (module docstring; ``winograd_matrices`` gives the transforms).

    Args:
        input (Tensor[N, C_in, H, W] or Tensor[C_in, H, W]); weight (Tensor[C_out, C_in/groups, 3, 3]);
        bias (Tensor[C_out] or None); padding: int, pair, ``'same'`` or ``'valid'``; tile: 2 or 4.
    Returns:
        Tensor[N, C_out, H_out, W_out], as ``conv.conv2d``. Float32 error against a float64 reference,
        relative to the output's scale: about 1e-7 (tile 2) and 1e-6 (tile 4); see ``tests/test_conv_fast.py``.
    """
    from .conv import _conv2d
    tile = _check_tile(tile)
    return _conv2d(input, weight, bias, 1, padding, 1, groups, "winograd", tile)


def fft_conv2d(input, weight, bias=None, padding=0, groups=1) -> torch.Tensor:
    """``F.conv2d(input, weight, bias, stride=1, padding, dilation=1, groups)`` by FFT (module docstring).

    Float32/float64 only (``torch.fft``). The cost is about ``log(H·W)`` per output and channel pair,
    independent of the kernel size, so it wins for large kernels. Tolerance: in float32 the error is
    below ``1e-5 · max|output|`` for the sizes tested (float64: ``1e-12 · max|output|``).
    """
    from .conv import _conv2d
    return _conv2d(input, weight, bias, 1, padding, 1, groups, "fft", 4)
