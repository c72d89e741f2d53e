"""Contract cases for cvbook_lib.contrastive (reference: the torch expression of each loss, built from
F.normalize, matmul and F.cross_entropy)."""

import torch
import torch.nn.functional as F

from contract_specs import Case
from cvbook_lib import contrastive as Ct

G = torch.Generator().manual_seed(0)
a = torch.randn(4, 6, generator=G)
b = a + 0.5 * torch.randn(4, 6, generator=G)


def _logits(u, v, temperature):
    return F.normalize(u, dim=1) @ F.normalize(v, dim=1).T / temperature


def _info_nce_ref(query, positive_key, temperature=0.1):
    logits = _logits(query, positive_key, temperature)
    return F.cross_entropy(logits, torch.arange(len(logits)))


def _clip_ref(image_features, text_features, temperature=0.07):
    logits = _logits(image_features, text_features, temperature)
    labels = torch.arange(len(logits))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


TEMPERATURE = {("temperature", m): "temperature must be > 0 (NaN refused)" for m in ("nan", "zero", "negated", "-inf")}
# the torch expression answers NaN for an empty query against a full key set; ours wants equal shapes
EMPTY_QUERY = {("query", "empty-first"): "query and positive_key must have the same shape"}


SPECS = {
    Ct.info_nce_loss: [Case(Ct.info_nce_loss, dict(query=a, positive_key=b, temperature=0.1), ref=_info_nce_ref,
                            differs={**TEMPERATURE, **EMPTY_QUERY})],
    Ct.clip_loss: [Case(Ct.clip_loss, dict(image_features=a, text_features=b, temperature=0.07), ref=_clip_ref,
                        differs=TEMPERATURE)],
}
