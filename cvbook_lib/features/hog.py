"""Histograms of oriented gradients (Dalal & Triggs, "Histograms of Oriented Gradients for Human Detection",
CVPR 2005), stage by stage, equal to ``skimage.feature.hog``.

1. Gradients by centred differences ``g_r = I[r+1, c] - I[r-1, c]``, ``g_c = I[r, c+1] - I[r, c-1]`` (0 on the
   border rows/columns); for a colour image the channel with the largest ``|g|`` at each pixel
   (:func:`hog_gradients`). Magnitude ``|g| = hypot(g_r, g_c)``, unsigned orientation
   ``θ = atan2(g_r, g_c)·180/π mod 180`` in ``[0, 180)``.
2. Cells of ``pixels_per_cell`` pixels: bin ``b`` of ``orientations`` holds the **mean** over the cell's pixels of
   ``|g|·[b·180/n <= θ < (b+1)·180/n]`` (:func:`hog_cell_histograms`). skimage does not interpolate between bins
   or cells; ``interpolate=True`` splits each vote linearly between the two nearest bin centres
   ``(b + 1/2)·180/n`` (circularly: 180° is 0°), Dalal–Triggs's orientation voting (without their spatial
   interpolation and Gaussian window). Pixels beyond the last whole cell are ignored.
3. Blocks of ``cells_per_block`` cells, sliding by one cell, each normalized on its own with ``ε = 1e-5``
   (:func:`hog_block_normalize`): ``L1`` ``v/(‖v‖₁ + ε)``; ``L1-sqrt`` ``√(v/(‖v‖₁ + ε))``; ``L2``
   ``v/√(‖v‖₂² + ε²)``; ``L2-Hys`` (Lowe 2004) ``L2``, clipped at 0.2, then ``L2`` again.
4. The blocks, flattened in order ``[block_row, block_col, cell_row, cell_col, orientation]``.

Images are computed as skimage does: float16/bfloat16/float32 images in float32, any other dtype (uint8, int,
bool, float64) in float64, gradients in that dtype and histograms in float64; the answer has the working dtype.
Square roots, magnitudes and angles are bit for bit numpy's (``_exact``: otherwise a pixel lying on a bin edge,
45° say, can change bin). skimage adds each cell's votes in a C ``float``; here they are added in float64
(differences of ~1e-7 relative). Our default ``cells_per_block=(2, 2)`` is Dalal–Triggs's; skimage's default is (3, 3).
"""

from __future__ import annotations

import torch

from .._checks import _short, as_pair, check_bool, check_choice, check_int, check_tensor
from ._exact import libm, sqrt_rn

__all__ = ["hog", "hog_gradients", "hog_cell_histograms", "hog_block_normalize", "hog_feature_length"]

_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")
_EPS = 1e-5


def _prepare(image, channel_axis) -> torch.Tensor:
    """``image`` as ``[H, W]`` or ``[H, W, C]`` in skimage's working float dtype."""
    check_tensor(image, "image")
    shape = tuple(image.shape)
    if image.is_complex():
        raise TypeError(f"image must be real (float, integer or bool), got {image.dtype}")
    if channel_axis is None:
        if image.dim() != 2:
            raise ValueError(
                f"image must be 2-D [H, W] without channel_axis (pass channel_axis for a colour image), "
                f"got shape {tuple(image.shape)}"
            )
    else:
        channel_axis = check_int(channel_axis, "channel_axis")
        if image.dim() != 3:
            raise ValueError(f"image must be 3-D with a channel_axis, got shape {tuple(image.shape)}")
        if not -3 <= channel_axis < 3:
            raise ValueError(f"channel_axis must be in [-3, 3) for a 3-D image, got {channel_axis}")
        image = image.movedim(channel_axis, -1)  # [H, W, C]
    if image.numel() == 0:
        where = "" if channel_axis is None else f" with channel_axis={channel_axis}"
        raise ValueError(f"image must be non-empty (H, W and C > 0), got shape {shape}{where}")
    low = image.dtype in (torch.float16, torch.bfloat16, torch.float32)
    return image.to(torch.float32 if low else torch.float64)


def _central_diff(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(g_row, g_col)`` of ``x [H, W, ...]``: centred differences, zero on the border."""
    g_row, g_col = torch.zeros_like(x), torch.zeros_like(x)
    g_row[1:-1] = x[2:] - x[:-2]
    g_col[:, 1:-1] = x[:, 2:] - x[:, :-2]
    return g_row, g_col


def _gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    g_row, g_col = _central_diff(image)  # [H, W] or [H, W, C], working dtype
    if image.dim() == 3:  # the channel with the largest magnitude at each pixel (first on ties)
        best = libm(torch.hypot, g_row, g_col).argmax(-1, keepdim=True)  # [H, W, 1]
        g_row, g_col = g_row.gather(-1, best)[..., 0], g_col.gather(-1, best)[..., 0]
    g_row, g_col = g_row.double(), g_col.double()
    theta = torch.remainder(torch.rad2deg(libm(torch.atan2, g_row, g_col)), 180.0)
    return libm(torch.hypot, g_col, g_row), theta


def hog_gradients(image: torch.Tensor, channel_axis: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient magnitude and unsigned orientation of an image, as HOG's first stage.

    image (Tensor[H, W], or Tensor with three dims and ``channel_axis``: [H, W, C], [C, H, W]; any real dtype);
    channel_axis (int or None). ``g_r``, ``g_c`` are centred differences (0 on the border), taken per channel,
    keeping at each pixel the channel of largest ``hypot(g_r, g_c)``.

    Returns: (magnitude, orientation), each Tensor[H, W] float64: ``hypot(g_r, g_c)`` and
    ``atan2(g_r, g_c)·180/π mod 180`` in degrees, in ``[0, 180)``.
    """
    return _gradients(_prepare(image, channel_axis))


def _cells(magnitude, orientation, orientations, pixels_per_cell, interpolate) -> torch.Tensor:
    n, (c_r, c_c) = orientations, pixels_per_cell
    n_r, n_c = magnitude.shape[0] // c_r, magnitude.shape[1] // c_c
    mag = magnitude[: n_r * c_r, : n_c * c_c, None]  # [H', W', 1]
    theta = orientation[: n_r * c_r, : n_c * c_c, None]
    bins = torch.arange(n, device=mag.device)  # [n]
    width = 180.0 / n
    zero = mag.new_zeros(())
    if interpolate:  # split between the centres (b + 1/2)·width on either side, circularly
        t = theta / width - 0.5
        lo = torch.floor(t)
        w_hi = t - lo
        lo = lo.long() % n
        votes = torch.where(lo == bins, mag * (1 - w_hi), zero) + torch.where((lo + 1) % n == bins, mag * w_hi, zero)
    else:  # skimage's test, kept literally: skip a pixel when θ >= (b+1)·width or θ < b·width (NaN is kept)
        edges = width * torch.arange(n + 1, device=mag.device, dtype=mag.dtype)
        inside = ~((theta >= edges[1:]) | (theta < edges[:-1]))  # [H', W', n]
        votes = torch.where(inside, mag, zero)  # a where, not a product: inf·0 would make NaN
    votes = votes.reshape(n_r, c_r, n_c, c_c, n)
    return votes.sum(dim=(1, 3)) / (c_r * c_c)  # [n_r, n_c, n]


def hog_cell_histograms(
    magnitude: torch.Tensor,
    orientation: torch.Tensor,
    orientations: int = 9,
    pixels_per_cell=(8, 8),
    interpolate: bool = False,
) -> torch.Tensor:
    """Orientation histogram of every cell: the mean over the cell of the magnitude voting for each bin.

    magnitude, orientation (Tensor[H, W], floating, the same shape; orientation in degrees, [0, 180));
    orientations (int >= 1, n bins of width 180/n); pixels_per_cell ((int, int) >= 1); interpolate (bool:
    split each vote linearly between the two nearest bin centres instead of voting for its own bin).

    ``hist[i, j, b] = (1/(c_r c_c)) Σ_{pixels p of cell (i, j)} |g_p| w_b(θ_p)`` with ``w_b = [θ in bin b]``, or
    with interpolation ``w_b = max(0, 1 - d(θ, (b + 1/2)·180/n)/(180/n))``, ``d`` the circular distance (n = 1:
    the whole vote). Without interpolation a pixel with θ outside ``[0, 180)`` votes for no bin, one with NaN for
    every bin (skimage's test, ``not (θ >= end or θ < start)``, kept literally).

    Returns: Tensor[H // c_r, W // c_c, orientations], float64 like skimage's histogram.
    """
    check_tensor(magnitude, "magnitude", ndims=(2,), kind="float")
    check_tensor(orientation, "orientation", ndims=(2,), kind="float")
    if magnitude.shape != orientation.shape:
        raise ValueError(
            f"magnitude and orientation must have the same shape, got {tuple(magnitude.shape)} and "
            f"{tuple(orientation.shape)}"
        )
    if magnitude.device != orientation.device:
        raise ValueError(
            f"magnitude and orientation must be on the same device, got {magnitude.device} and {orientation.device}"
        )
    orientations = check_int(orientations, "orientations", 1)
    pixels_per_cell = as_pair(pixels_per_cell, "pixels_per_cell", 1)
    interpolate = check_bool(interpolate, "interpolate")
    return _cells(magnitude.double(), orientation.double(), orientations, pixels_per_cell, interpolate)


def _normalize(cell_hist: torch.Tensor, cells_per_block, block_norm: str) -> torch.Tensor:
    b_r, b_c = cells_per_block
    blocks = cell_hist.unfold(0, b_r, 1).unfold(1, b_c, 1).permute(0, 1, 3, 4, 2)  # [n_br, n_bc, b_r, b_c, n]
    dims = (2, 3, 4)
    if block_norm in ("L1", "L1-sqrt"):
        out = blocks / (blocks.abs().sum(dims, keepdim=True) + _EPS)
        return out.sqrt() if block_norm == "L1-sqrt" else out
    out = blocks / torch.sqrt((blocks**2).sum(dims, keepdim=True) + _EPS**2)
    if block_norm == "L2-Hys":  # clip large components, renormalize (Lowe 2004)
        out = torch.clamp(out, max=0.2)
        out = out / torch.sqrt((out**2).sum(dims, keepdim=True) + _EPS**2)
    return out


def hog_block_normalize(cell_hist: torch.Tensor, cells_per_block=(2, 2), block_norm: str = "L2-Hys") -> torch.Tensor:
    """Normalize every block of ``b_r × b_c`` cells (sliding by one cell) as one vector ``v``.

    cell_hist (Tensor[n_cells_row, n_cells_col, orientations], floating); cells_per_block ((int, int) >= 1);
    block_norm ('L1': ``v/(‖v‖₁ + ε)``, 'L1-sqrt': ``√(v/(‖v‖₁ + ε))``, 'L2': ``v/√(‖v‖₂² + ε²)``, 'L2-Hys':
    'L2', then ``min(v, 0.2)``, then 'L2' again), ``ε = 1e-5``.

    Returns: Tensor[n_cells_row - b_r + 1, n_cells_col - b_c + 1, b_r, b_c, orientations].
    """
    check_tensor(cell_hist, "cell_hist", ndims=(3,), kind="float")
    b_r, b_c = as_pair(cells_per_block, "cells_per_block", 1)
    check_choice(block_norm, "block_norm", _NORMS)
    if cell_hist.shape[0] < b_r or cell_hist.shape[1] < b_c:
        raise ValueError(
            f"cell_hist must have at least cells_per_block=({b_r}, {b_c}) cells, got shape {tuple(cell_hist.shape)}"
        )
    return _normalize(cell_hist, (b_r, b_c), block_norm)


def _n_blocks(shape, pixels_per_cell, cells_per_block) -> tuple[int, int]:
    return tuple(s // c - b + 1 for s, c, b in zip(shape, pixels_per_cell, cells_per_block))  # type: ignore


def hog_feature_length(image_shape, orientations: int = 9, pixels_per_cell=(8, 8), cells_per_block=(2, 2)) -> int:
    """Length of the HOG vector of an ``H × W`` image.

    image_shape ((H, W), ints >= 0); orientations (int >= 1); pixels_per_cell, cells_per_block ((int, int) >= 1).

        length = (⌊H/c_r⌋ - b_r + 1)·(⌊W/c_c⌋ - b_c + 1)·b_r·b_c·orientations

    E.g. Dalal–Triggs's 64×128 person window (H=128, W=64) with 8×8 cells, 2×2 blocks and 9 bins:
    15·7·2·2·9 = 3780. Returns: int. Raises ValueError when the image holds no whole block.
    """
    if not isinstance(image_shape, (tuple, list, torch.Size)) or len(image_shape) != 2:
        raise TypeError(f"image_shape must be a pair (H, W) of ints, got {_short(image_shape)}")
    shape = tuple(check_int(s, "image_shape", 0) for s in image_shape)
    orientations = check_int(orientations, "orientations", 1)
    ppc = as_pair(pixels_per_cell, "pixels_per_cell", 1)
    cpb = as_pair(cells_per_block, "cells_per_block", 1)
    n_br, n_bc = _n_blocks(shape, ppc, cpb)
    if n_br <= 0 or n_bc <= 0:
        raise ValueError(f"image_shape={shape} is smaller than one block of {cpb[0] * ppc[0]}×{cpb[1] * ppc[1]} pixels")
    return n_br * n_bc * cpb[0] * cpb[1] * orientations


def hog(
    image: torch.Tensor,
    orientations: int = 9,
    pixels_per_cell=(8, 8),
    cells_per_block=(2, 2),
    block_norm: str = "L2-Hys",
    transform_sqrt: bool = False,
    feature_vector: bool = True,
    channel_axis: int | None = None,
    interpolate: bool = False,
) -> torch.Tensor:
    """Histogram of Oriented Gradients of an image (Dalal & Triggs 2005), equal to ``skimage.feature.hog``.

    image (Tensor[H, W]; or three dims with ``channel_axis``, e.g. [H, W, C] with -1 or [C, H, W] with 0; any
    real dtype); orientations (int >= 1); pixels_per_cell ((int, int) >= 1); cells_per_block ((int, int) >= 1;
    default (2, 2) as in Dalal–Triggs, where skimage's is (3, 3)); block_norm ('L1', 'L1-sqrt', 'L2',
    'L2-Hys'); transform_sqrt (bool: take ``√I`` first, gamma compression; NaN for negative pixels);
    feature_vector (bool: flatten); channel_axis (int or None); interpolate (bool: linear orientation voting,
    not in skimage). The stages are :func:`hog_gradients`, :func:`hog_cell_histograms` and
    :func:`hog_block_normalize` (see the module docstring for the formulas).

    Returns: Tensor[L] with ``L =`` :func:`hog_feature_length`, or with ``feature_vector=False``
    Tensor[n_blocks_row, n_blocks_col, b_r, b_c, orientations]; float32 for float16/bfloat16/float32 images,
    else float64. Raises ValueError when the image holds no whole block.
    """
    x = _prepare(image, channel_axis)
    where = "" if channel_axis is None else f" (channel_axis={channel_axis})"
    orientations = check_int(orientations, "orientations", 1)
    ppc = as_pair(pixels_per_cell, "pixels_per_cell", 1)
    cpb = as_pair(cells_per_block, "cells_per_block", 1)
    check_choice(block_norm, "block_norm", _NORMS)
    transform_sqrt = check_bool(transform_sqrt, "transform_sqrt")
    feature_vector = check_bool(feature_vector, "feature_vector")
    interpolate = check_bool(interpolate, "interpolate")
    n_br, n_bc = _n_blocks(x.shape[:2], ppc, cpb)
    if n_br <= 0 or n_bc <= 0:
        raise ValueError(
            f"image of spatial size {tuple(x.shape[:2])}{where} is too small for pixels_per_cell={ppc} and "
            f"cells_per_block={cpb}: it needs at least {cpb[0] * ppc[0]} rows and {cpb[1] * ppc[1]} columns"
        )
    if transform_sqrt:
        x = sqrt_rn(x)  # correctly rounded, as numpy's
    magnitude, orientation = _gradients(x)
    cells = _cells(magnitude, orientation, orientations, ppc, interpolate)
    out = _normalize(cells, cpb, block_norm).to(x.dtype)
    return out.reshape(-1) if feature_vector else out
