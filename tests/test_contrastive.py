"""cvbook_lib.contrastive against the torch expression of each loss (F.normalize, matmul, F.cross_entropy)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from cvbook_lib import contrastive as Ct

G = torch.Generator().manual_seed(0)


def _info_nce(q, k, tau):
    logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / tau
    return F.cross_entropy(logits, torch.arange(len(q)))


def _clip(a, b, tau):
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / tau
    labels = torch.arange(len(a))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tau", [0.07, 1.0, math.inf])
def test_losses_equal_the_torch_expression(dtype, tau):
    a = torch.randn(6, 4, generator=G, dtype=dtype)
    b = a + torch.randn(6, 4, generator=G, dtype=dtype)
    assert_close(Ct.info_nce_loss(a, b, tau), _info_nce(a, b, tau))
    assert_close(Ct.clip_loss(a, b, tau), _clip(a, b, tau))
    assert_close(Ct.info_nce_loss(a, b, np.float64(tau)), _info_nce(a, b, tau))


def test_nan_zero_rows_and_empty_batches_like_torch():
    a, b = torch.randn(4, 3, generator=G), torch.randn(4, 3, generator=G)
    a[1, 2] = math.nan
    b[2] = 0.0                                                       # a zero row: normalized to 0, as F.normalize
    assert_close(Ct.info_nce_loss(a, b), _info_nce(a, b, 0.1), equal_nan=True)
    assert_close(Ct.clip_loss(a, b), _clip(a, b, 0.07), equal_nan=True)
    e = torch.zeros(0, 3)
    assert_close(Ct.info_nce_loss(e, e), _info_nce(e, e, 0.1), equal_nan=True)
    assert_close(Ct.clip_loss(e, e), _clip(e, e, 0.07), equal_nan=True)


def test_bad_input_names_the_argument():
    a = torch.randn(4, 3)
    for bad in (0.0, -0.1, math.nan, -math.inf, "0.1", True, None):
        with pytest.raises((TypeError, ValueError), match="temperature"):
            Ct.info_nce_loss(a, a, bad)
        with pytest.raises((TypeError, ValueError), match="temperature"):
            Ct.clip_loss(a, a, bad)
    with pytest.raises(TypeError, match="query and positive_key must have the same dtype"):
        Ct.info_nce_loss(a, a.double())                              # torch's matmul refuses the mix too
    with pytest.raises(TypeError, match="text_features must have a floating dtype"):
        Ct.clip_loss(a, a.long())
    with pytest.raises(ValueError, match="image_features and text_features must have the same shape"):
        Ct.clip_loss(a, a[:2])
    with pytest.raises(ValueError, match="query must be 2-D"):
        Ct.info_nce_loss(a[0], a[0])
    with pytest.raises(TypeError, match="positive_key must be a torch.Tensor"):
        Ct.info_nce_loss(a, a.tolist())
