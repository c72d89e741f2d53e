"""Feature engineering (chapter 14): categorical encodings and HOG.

- :mod:`.encoding`: ``one_hot``, ``embedding`` (``F.one_hot``, ``F.embedding``);
- :mod:`.hashing`: ``hash_encode`` (sklearn's ``FeatureHasher``), ``hash_collision_rate``;
- :mod:`.target`: ``target_encode`` (sklearn's ``TargetEncoder``);
- :mod:`.hog`: ``hog`` and its stages (``skimage.feature.hog``).
"""

from .encoding import embedding, one_hot
from .hashing import hash_collision_rate, hash_encode
from .hog import hog, hog_block_normalize, hog_cell_histograms, hog_feature_length, hog_gradients
from .target import target_encode

__all__ = [
    "one_hot",
    "embedding",
    "hash_encode",
    "hash_collision_rate",
    "target_encode",
    "hog",
    "hog_gradients",
    "hog_cell_histograms",
    "hog_block_normalize",
    "hog_feature_length",
]
