"""The hashing trick: categories to columns by a hash function, with no vocabulary to store.

Weinberger et al. 2009 ("Feature Hashing for Large Scale Multitask Learning", ICML; arXiv 0902.2206): a
category string ``s`` goes to column ``j(s) = |h(s)| mod m`` with sign ``ξ(s) = +1 if h(s) >= 0 else -1``,
where ``h`` is a 32-bit hash. A sample with categories ``s_1, ..., s_k`` becomes

    x[j] = Σ_{t: j(s_t) = j} ξ(s_t)        (ξ ≡ 1 when ``alternate_sign=False``).

The random sign makes colliding categories cancel on average, so inner products are preserved in expectation
(``E[⟨x, x'⟩] = ⟨φ(s), φ(s')⟩`` of the one-hot codes). The hash is MurmurHash3 x86 32-bit (Austin Appleby,
2011, public domain) of the UTF-8 bytes with seed 0, read as a signed int32: the choice of scikit-learn's
``FeatureHasher(input_type='string')``, whose ``transform(...).toarray()`` is the reference (equal answers).

Two deliberate differences from ``FeatureHasher``: a plain sequence of strings is read as one category per
sample (sklearn refuses a bare string as a sample; pass ``[[s] for s in ...]`` to it), and an empty input gives
a ``[0, n_features]`` tensor (sklearn raises). The output is dense, so it is capped at 2**27 numbers (1 GiB).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .._checks import _short, check_bool, check_int

__all__ = ["hash_encode", "hash_collision_rate"]

_MASK = 0xFFFFFFFF
_MAX_DENSE = 2**27  # numbers in the dense output (float64: 1 GiB)


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _MASK


def _murmurhash3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3_x86_32 of ``data``, returned as a signed 32-bit int (``sklearn.utils.murmurhash3_32``)."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & _MASK
    n_blocks = len(data) // 4
    for i in range(n_blocks):  # body: 4-byte little-endian blocks
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (_rotl32((k * c1) & _MASK, 15) * c2) & _MASK
        h = _rotl32(h ^ k, 13)
        h = (h * 5 + 0xE6546B64) & _MASK
    tail = data[4 * n_blocks :]
    if tail:  # the last 1-3 bytes
        k = int.from_bytes(tail, "little")
        h ^= (_rotl32((k * c1) & _MASK, 15) * c2) & _MASK
    h ^= len(data)
    h ^= h >> 16  # fmix32: final avalanche
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    return h - (1 << 32) if h >= 1 << 31 else h


def _feature_bytes(f, i: int) -> bytes:
    if isinstance(f, str):
        return f.encode("utf-8")
    if isinstance(f, bytes):
        return f
    raise TypeError(f"categories must hold strings (or bytes), got {type(f).__name__} {_short(f)} in sample {i}")


def _samples(categories) -> list[list[bytes]]:
    if isinstance(categories, (str, bytes)):
        raise TypeError(
            f"categories must be a sequence of strings (one per sample) or of sequences of strings, "
            f"got the single string {_short(categories)}"
        )
    if isinstance(categories, torch.Tensor) or not isinstance(categories, (Sequence, np.ndarray)):
        raise TypeError(f"categories must be a sequence of strings, got {type(categories).__name__}")
    out = []
    for i, sample in enumerate(categories):
        if isinstance(sample, (str, bytes)):
            out.append([_feature_bytes(sample, i)])
        elif isinstance(sample, (Sequence, np.ndarray)) and not isinstance(sample, torch.Tensor):
            out.append([_feature_bytes(f, i) for f in sample])
        else:
            raise TypeError(f"categories[{i}] must be a string or a sequence of strings, got {_short(sample)}")
    return out


def hash_encode(categories, n_features: int = 2**20, alternate_sign: bool = True) -> torch.Tensor:
    """Hash categories into ``n_features`` signed columns (Weinberger et al. 2009).

    categories (sequence of N strings, one category per sample; or a sequence of N sequences of strings,
    several categories per sample, repeats adding up); n_features (int in [1, 2**31 - 1], the number of
    columns ``m``); alternate_sign (bool: multiply each vote by the sign ``ξ(s)`` of the hash).

    Column ``j(s) = |h(s)| mod m`` and sign ``ξ(s) = +1 if h(s) >= 0 else -1`` for the signed MurmurHash3
    ``h(s)`` of the UTF-8 bytes (``|-2**31| = 2**31``, as sklearn defines it).

    Returns: Tensor[N, n_features] of dtype float64 on the CPU (sklearn's default dtype), dense.
    """
    n_features = check_int(n_features, "n_features", 1, 2**31 - 1)
    alternate_sign = check_bool(alternate_sign, "alternate_sign")
    samples = _samples(categories)
    if len(samples) * n_features > _MAX_DENSE:
        raise ValueError(
            f"n_features={n_features} with {len(samples)} samples makes a dense output of "
            f"{len(samples) * n_features} numbers (at most {_MAX_DENSE}); pass a smaller n_features"
        )
    rows, cols, vals = [], [], []
    for i, sample in enumerate(samples):
        for f in sample:
            h = _murmurhash3_32(f)
            rows.append(i)
            cols.append(abs(h) % n_features)
            vals.append(-1.0 if alternate_sign and h < 0 else 1.0)
    out = torch.zeros(len(samples), n_features, dtype=torch.float64)
    if rows:
        index = (torch.tensor(rows), torch.tensor(cols))
        out.index_put_(index, torch.tensor(vals, dtype=torch.float64), accumulate=True)
    return out


def hash_collision_rate(n_categories: int, n_features: int) -> float:
    """Expected fraction of ``n`` distinct categories that share their column with at least one other.

    n_categories (int >= 0, ``n``); n_features (int >= 1, ``m``). With hashes uniform over ``m`` columns, a
    given category is alone when the other ``n - 1`` all miss its column:

        rate = 1 - (1 - 1/m)^(n - 1)  ≈  1 - exp(-(n - 1)/m)       (0 when n <= 1).

    Returns: float in [0, 1]. E.g. 10**4 categories in 2**20 columns: about 0.95 % collide.
    """
    n = check_int(n_categories, "n_categories", 0)
    m = check_int(n_features, "n_features", 1)
    if n <= 1:
        return 0.0
    return float(-np.expm1((n - 1) * np.log1p(-1.0 / m))) if m > 1 else 1.0
