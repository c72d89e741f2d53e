"""Contract cases for cvbook_lib.features (references: ``F.one_hot`` / ``F.embedding``; scikit-learn's
``FeatureHasher`` and ``TargetEncoder``; scikit-image's ``hog`` and, for its stages, the private pieces of
``skimage.feature._hog`` that ``hog`` itself calls, or skimage's C kernel for the cell histogram written out).

The image references take the numpy copy of a tensor (the API is torch's: a list is not an image). Deliberate
differences (documented in the module docstrings): ``orientations=0`` is refused (skimage returns an empty
vector); float and bool category arrays are refused by ``target_encode`` (sklearn takes any sortable values);
the stage functions refuse integer/bool/complex histograms and gradients (``float_only``).
"""

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from skimage.feature import hog as sk_hog
from skimage.feature._hog import _hog_channel_gradient, _hog_normalize_block
from sklearn.feature_extraction import FeatureHasher
from sklearn.preprocessing import TargetEncoder

from contract_specs import Case
from cvbook_lib import features as FE

g = torch.Generator().manual_seed(0)
_LABELS = torch.tensor([0, 2, 1, 3, 2, 0])
_IDX = torch.tensor([[0, 2, 5], [4, 2, 1]])
_W = torch.randn(6, 4, generator=g)
_WORDS = ["cat", "dog", "bird", "cat", "é", ""]
_BAGS = [["a", "b", "a"], [], ["zebra"], ("x", "y")]
_CATS = ["a", "b", "a", "c", "b", "a", "c", "c", "a", "b", "a", "b"]
_Y_CONT = torch.randn(12, generator=g, dtype=torch.float64)
_CATS_INT = torch.tensor([3, 1, 3, 7, 1, 3, 7, 7, 3, 1, 1, 7])
_Y_BIN = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1])
_Y_3 = torch.tensor([0, 1, 2, 2, 1, 0, 2, 1, 0, 2, 1, 0])
_IMG = torch.rand(20, 24, generator=g)
_IMG_C = torch.rand(3, 16, 20, generator=g, dtype=torch.float64)
_MAG, _ORI = FE.hog_gradients(torch.rand(13, 17, generator=g, dtype=torch.float64))
_HIST = torch.rand(4, 5, 6, generator=g, dtype=torch.float64)
_ZERO_BINS = {("orientations", "zero"): "0 orientation bins are refused (skimage returns an empty vector)"}


def _np(x):
    return x.detach().cpu().numpy()  # a tensor only: other inputs are outside the API (AttributeError)


def _ref_one_hot(labels, num_classes=-1):
    return F.one_hot(labels, num_classes)  # torch's keyword is ``input`` (documented as ``tensor``)


def _ref_hash(categories, n_features=2**20, alternate_sign=True):
    rows = [[c] if isinstance(c, str) else list(c) for c in categories]
    hasher = FeatureHasher(n_features=n_features, input_type="string", alternate_sign=alternate_sign)
    return torch.from_numpy(hasher.fit_transform(rows).toarray())


def _ref_target(categories, target, smooth="auto", cv=5, shuffle=True, random_state=None, target_type="auto"):
    X = _np(categories) if isinstance(categories, torch.Tensor) else np.asarray(categories, dtype=object)
    X = X.reshape(-1, 1) if X.ndim == 1 else X
    y = _np(target) if isinstance(target, torch.Tensor) else np.asarray(target)
    enc = TargetEncoder(
        smooth=smooth, cv=5 if cv is None else cv, shuffle=shuffle, random_state=random_state, target_type=target_type
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # shuffle/random_state are deprecated in sklearn 1.9
        out = enc.fit(X, y).transform(X) if cv is None else enc.fit_transform(X, y)
    return torch.from_numpy(out[:, 0] if out.shape[1] == 1 else out)


def _ref_hog(
    image,
    orientations=9,
    pixels_per_cell=(8, 8),
    cells_per_block=(2, 2),
    block_norm="L2-Hys",
    transform_sqrt=False,
    feature_vector=True,
    channel_axis=None,
    interpolate=False,
):
    out = sk_hog(
        _np(image),
        orientations,
        pixels_per_cell,
        cells_per_block,
        block_norm,
        transform_sqrt=transform_sqrt,
        feature_vector=feature_vector,
        channel_axis=channel_axis,
    )
    return torch.from_numpy(out)


def _ref_gradients(image, channel_axis=None):
    """skimage's gradient stage as ``hog`` runs it (working dtype, max-magnitude channel, then float64)."""
    x = _np(image)
    if x.dtype.kind == "c":
        raise ValueError("complex valued input is not supported")  # skimage's _supported_float_type
    x = x.astype(np.float32 if x.dtype in (np.float16, np.float32) else np.float64)
    if x.ndim == 3 and channel_axis is not None:
        x = np.moveaxis(x, channel_axis, -1)
        gr, gc = zip(*(_hog_channel_gradient(x[..., k]) for k in range(x.shape[-1])))
        gr, gc = np.stack(gr, -1), np.stack(gc, -1)
        best = np.hypot(gr, gc).argmax(-1)[..., None]
        gr, gc = np.take_along_axis(gr, best, -1)[..., 0], np.take_along_axis(gc, best, -1)[..., 0]
    elif x.ndim == 2 and channel_axis is None:
        gr, gc = _hog_channel_gradient(x)
    else:
        raise ValueError("image must be 2-D, or 3-D with channel_axis")
    gr, gc = gr.astype(np.float64), gc.astype(np.float64)
    return torch.from_numpy(np.hypot(gc, gr)), torch.from_numpy(np.rad2deg(np.arctan2(gr, gc)) % 180)


def _ref_cells(magnitude, orientation, orientations=9, pixels_per_cell=(8, 8), interpolate=False):
    """skimage's ``cell_hog`` kernel written out: skip a pixel when θ >= end or θ < start, mean over the cell."""
    m, o = _np(magnitude).astype(np.float64), _np(orientation).astype(np.float64)
    if m.ndim != 2 or m.shape != o.shape:
        raise ValueError("magnitude and orientation must be 2-D of one shape")
    (c_r, c_c), n = pixels_per_cell, orientations
    out = np.zeros((m.shape[0] // c_r, m.shape[1] // c_c, n))
    for i, j, b in np.ndindex(*out.shape):
        cm = m[i * c_r : (i + 1) * c_r, j * c_c : (j + 1) * c_c]
        co = o[i * c_r : (i + 1) * c_r, j * c_c : (j + 1) * c_c]
        skip = (co >= 180.0 / n * (b + 1)) | (co < 180.0 / n * b)
        out[i, j, b] = np.where(skip, 0.0, cm).sum() / (c_r * c_c)
    return torch.from_numpy(out)


def _ref_blocks(cell_hist, cells_per_block=(2, 2), block_norm="L2-Hys"):
    h = _np(cell_hist)
    b_r, b_c = cells_per_block
    n_br, n_bc = h.shape[0] - b_r + 1, h.shape[1] - b_c + 1
    if h.ndim != 3 or n_br <= 0 or n_bc <= 0:
        raise ValueError("cell_hist must be 3-D with at least one block")
    out = np.stack(
        [
            np.stack([_hog_normalize_block(h[r : r + b_r, c : c + b_c], block_norm) for c in range(n_bc)])
            for r in range(n_br)
        ]
    )
    return torch.from_numpy(out)


def _ref_length(image_shape, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2)):
    return sk_hog(np.zeros(image_shape), orientations, pixels_per_cell, cells_per_block).size


SPECS = {
    FE.one_hot: [
        Case(FE.one_hot, dict(labels=_LABELS, num_classes=5), ref=_ref_one_hot),
        Case(FE.one_hot, dict(labels=_LABELS), ref=_ref_one_hot),
    ],
    FE.embedding: [
        Case(FE.embedding, dict(input=_IDX, weight=_W), ref=F.embedding),
        Case(FE.embedding, dict(input=_IDX, weight=_W, padding_idx=2), ref=F.embedding),
    ],
    FE.hash_encode: [
        Case(FE.hash_encode, dict(categories=_WORDS, n_features=16), ref=_ref_hash),
        Case(FE.hash_encode, dict(categories=_BAGS, n_features=7, alternate_sign=False), ref=_ref_hash),
    ],
    FE.hash_collision_rate: [Case(FE.hash_collision_rate, dict(n_categories=1000, n_features=4096))],
    FE.target_encode: [
        # smooth: 'auto' or a number, so the int 1 is a valid smooth, not a wrong type for a choice string;
        # target: sklearn's Cython kernel has no float16 signature, ours computes in float64 (accepted)
        Case(
            FE.target_encode,
            dict(categories=_CATS, target=_Y_CONT, cv=3, random_state=0),
            ref=_ref_target,
            skip={"smooth": {"int"}, "target": {"float16"}},
            optional={"cv"},
        ),
        Case(
            FE.target_encode,
            dict(categories=_CATS_INT, target=_Y_BIN, smooth=2.0, cv=2, random_state=7),
            ref=_ref_target,
            optional={"cv"},
            differs={("categories", m): "float/bool categories are refused" for m in ("float", "bool")},
        ),
        Case(
            FE.target_encode,
            dict(categories=_CATS, target=_Y_3, cv=None),
            ref=_ref_target,
            skip={"smooth": {"int"}},
            optional={"cv"},
        ),
    ],
    FE.hog: [
        Case(
            FE.hog,
            dict(
                image=_IMG,
                orientations=9,
                pixels_per_cell=(4, 4),
                cells_per_block=(2, 2),
                block_norm="L2-Hys",
                transform_sqrt=False,
                feature_vector=True,
            ),
            ref=_ref_hog,
            differs=_ZERO_BINS,
        ),
        Case(
            FE.hog,
            dict(
                image=_IMG_C,
                orientations=6,
                pixels_per_cell=(4, 5),
                cells_per_block=(3, 2),
                block_norm="L1-sqrt",
                transform_sqrt=True,
                feature_vector=False,
                channel_axis=0,
                interpolate=False,
            ),
            ref=_ref_hog,
            differs=_ZERO_BINS,
        ),
    ],
    FE.hog_gradients: [
        Case(FE.hog_gradients, dict(image=_IMG), ref=_ref_gradients),
        Case(FE.hog_gradients, dict(image=_IMG_C, channel_axis=0), ref=_ref_gradients),
    ],
    FE.hog_cell_histograms: [
        Case(
            FE.hog_cell_histograms,
            dict(magnitude=_MAG, orientation=_ORI, orientations=9, pixels_per_cell=(4, 3), interpolate=False),
            ref=_ref_cells,
            float_only={"magnitude", "orientation"},
            differs=_ZERO_BINS,
        ),
    ],
    FE.hog_block_normalize: [
        Case(
            FE.hog_block_normalize,
            dict(cell_hist=_HIST, cells_per_block=(2, 3), block_norm=norm),
            ref=_ref_blocks,
            float_only={"cell_hist"},
        )
        for norm in ("L1", "L1-sqrt", "L2", "L2-Hys")
    ],
    FE.hog_feature_length: [
        Case(
            FE.hog_feature_length,
            dict(image_shape=(128, 64), orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2)),
            ref=_ref_length,
            differs=_ZERO_BINS,
        ),
    ],
}
