"""Contract cases for cvbook_lib.mil (references: torch's amax / mean for max and mean pooling; the attention
equations of Ilse et al. 2018 written with the module's own Linear layers; the rest has no reference and is
checked for clear refusals only).

Deliberate differences: a bag needs at least one instance (torch's mean over zero instances is NaN, the
attention over zero instances a zero vector); the instances must be 2-D [K, D] or 3-D [B, K, D]; int/bool/complex
embeddings are refused (``float_only``).
"""

import copy

import torch

from contract_specs import Case
from cvbook_lib import mil

_G = torch.Generator().manual_seed(0)
_H = torch.randn(5, 4, generator=_G)
_HB = torch.randn(2, 3, 4, generator=_G)
_EMPTY = "a bag needs at least one instance"
_RANK = "instances must be [K, D] or [B, K, D]"


def _pool_ref(instances, mode="max"):
    return instances.amax(dim=-2) if mode == "max" else instances.mean(dim=-2)


def _pool_case(h, mode):
    differs = {("instances", "empty-first"): _EMPTY} if h.dim() == 2 else {("instances", "rank+"): _RANK}
    if h.dim() == 2:
        differs[("instances", "rank-")] = _RANK
    return Case(mil.mil_pool, dict(instances=h, mode=mode), ref=_pool_ref, float_only={"instances"}, differs=differs)


torch.manual_seed(0)
_POOL = mil.AttentionMILPooling(4, 6, gated=False)
_GATED = mil.AttentionMILPooling(4, 6, gated=True)


def _attention_ref(module):
    def forward(h):
        g = torch.tanh(module.V(h))
        if module.gated:
            g = g * torch.sigmoid(module.U(h))
        a = torch.softmax(module.w(g)[..., 0], dim=-1)
        return (a[..., :, None] * h).sum(-2), a

    return forward


def _attention_case(module, h):
    differs = {("h", "empty-first"): _EMPTY, ("h", "rank-"): _RANK} if h.dim() == 2 else {("h", "rank+"): _RANK}
    if h.dim() == 3:
        differs[("h", "empty-last")] = "refused: no instance in the bags"  # [2, 3, 0]: not the shape to check
    return Case(
        lambda h: module(h),
        dict(h=h),
        ref=_attention_ref(module),
        state=lambda: [module],
        float_only={"h"},
        differs=differs,
        rtol=1e-5,
    )


def _run(x):
    def call(module):
        with torch.no_grad():
            return module(x)

    return call


_BAG = torch.rand(4, 1, 8, 8, generator=_G)
torch.manual_seed(1)
_MODEL = mil.MILClassifier(mil.digit_encoder(6), 6, "attention", hidden_features=5)
_MAXMODEL = mil.MILClassifier(mil.digit_encoder(6), 6, "max")
_BAGS, _LABELS, _INST = mil.make_digit_bags(4, (3, 5), seed=1)


def _train(model, bags, labels, epochs=10, lr=5e-4, seed=0, weight_decay=1e-4):
    """train_mil on a copy, so that every call starts from the same weights."""
    return mil.train_mil(copy.deepcopy(model), bags, labels, epochs, lr, seed, weight_decay)


def _saved(fn):
    return mil.saved_activation_bytes(fn, _H)


SPECS = {
    mil.mil_pool: [_pool_case(_H, "max"), _pool_case(_H, "mean"), _pool_case(_HB, "mean")],
    mil.AttentionMILPooling: [
        Case(mil.AttentionMILPooling, dict(in_features=4, hidden_features=6, gated=True), out=_run(_H)),
        _attention_case(_POOL, _H),
        _attention_case(_GATED, _H),
        _attention_case(_POOL, _HB),
    ],
    mil.MILClassifier: [
        Case(
            mil.MILClassifier,
            dict(encoder=mil.digit_encoder(6), in_features=6, pooling="gated", hidden_features=3),
            out=_run(_BAG),
        ),
        Case(lambda bag: _MODEL(bag), dict(bag=_BAG), state=lambda: [_MODEL]),
        Case(lambda bag: _MAXMODEL(bag), dict(bag=_BAG), state=lambda: [_MAXMODEL]),
    ],
    mil.digit_encoder: [Case(mil.digit_encoder, dict(out_features=5, hidden_features=7), out=_run(_BAG))],
    mil.make_digit_bags: [
        Case(
            mil.make_digit_bags,
            dict(n_bags=3, bag_size=(2, 4), positive_digit=3, positive_fraction=0.5, seed=2, split="test"),
        ),
        Case(mil.make_digit_bags, dict(n_bags=2, bag_size=3)),
    ],
    mil.train_mil: [
        Case(
            _train,
            dict(model=_MODEL, bags=_BAGS, labels=_LABELS, epochs=1, lr=1e-3, seed=0, weight_decay=0.0),
            state=lambda: [_MODEL],
        ),
    ],
    mil.mil_accuracy: [Case(mil.mil_accuracy, dict(model=_MODEL, bags=_BAGS, labels=_LABELS), state=lambda: [_MODEL])],
    mil.instance_auc: [
        Case(
            mil.instance_auc,
            dict(model=_MODEL, bags=_BAGS, instance_labels=_INST, average="pooled"),
            state=lambda: [_MODEL],
        ),
    ],
    # only fn is changed: the inputs go to fn, whose own errors propagate (documented)
    mil.saved_activation_bytes: [Case(_saved, dict(fn=torch.nn.Linear(4, 3)))],
}
