"""Contract cases for cvbook_lib.recsys.models / multitask / data (references: the pairwise sum over
``torch.triu_indices`` for the FM term; the models' equations written here with their own weights and
``F.linear``; ``F.binary_cross_entropy`` on the products for ESMM's loss; the generators and ``fit`` have no
reference and are checked for clear refusals).

Deliberate differences: categorical ``x`` must hold category indices (torch's indexing takes bool masks and wraps
negative indices); dense ``x`` must be a batch [B, d] of the parameters' dtype (``nn.Linear`` takes any leading
dims); ``fm_interaction`` refuses ±inf/NaN (the O(kn) identity would turn inf − inf into NaN); ``esmm_loss`` wants
four 1-D tensors of one float dtype (no broadcast scalar, no promotion) and labels exactly 0/1.
"""

import copy

import torch
import torch.nn.functional as F

from contract_specs import Case
from cvbook_lib.recsys import data, models, multitask

_G = torch.Generator().manual_seed(0)
_V = torch.randn(2, 3, 4, generator=_G)
FIELDS = (3, 5, 4)
_X = torch.stack([torch.randint(0, m, (6,), generator=_G) for m in FIELDS], dim=1)
_XD = torch.randn(5, 4, generator=_G)
_NONFINITE = "refused: Rendle's identity turns ±inf into inf − inf = NaN where the pair sum is ±inf"
_CAT = {
    ("x", "bool"): "refused: a bool tensor is a mask, not category indices",
    ("x", "negative"): "refused: torch wraps negative indices into another field's rows",
}
_DENSE = {
    ("x", "rank-"): "refused: a batch [B, d] is required (nn.Linear takes a single vector)",
    ("x", "rank+"): "refused: a batch [B, d] is required (nn.Linear takes any leading dims)",
}


def _pairs_ref(v):
    if not isinstance(v, torch.Tensor) or v.dim() != 3:
        raise ValueError("v must be [B, n, k]")
    i, j = torch.triu_indices(v.shape[1], v.shape[1], 1)
    return (v[:, i] * v[:, j]).sum(dim=(1, 2))


def _rows(table, x):
    if x.dim() != 2 or x.shape[1] != len(FIELDS):
        raise ValueError("x must be [B, F]")
    return table.embedding.weight[x + table.offsets]  # [B, F, dim]


def _run(x):
    def call(module):
        with torch.no_grad():
            return module(x)

    return call


torch.manual_seed(0)
_LR = models.LogisticRegression(FIELDS)
_FM = models.FactorizationMachine(FIELDS, 3)
_DFM = models.DeepFM(FIELDS, 3, hidden=(6, 4))
_DEEP = models.DeepFM(FIELDS, 3, hidden=(5,), use_fm=False)
for _m in (_LR, _FM, _DFM):
    with torch.no_grad():
        _m.linear.embedding.weight.normal_(generator=_G)
        _m.bias.fill_(0.3)


def _linear_ref(model):
    return lambda x: model.bias + _rows(model.linear, x).sum(dim=(1, 2))


def _fm_ref(model):
    return lambda x: _linear_ref(model)(x) + _pairs_ref(_rows(model.embedding, x))


def _deepfm_ref(model):
    def forward(x):
        v = _rows(model.embedding, x)
        out = model.mlp(v.flatten(1))[:, 0]
        return out + _fm_ref(model)(x) if model.use_fm else out

    return forward


def _forward_case(model, ref):
    return Case(lambda x: model(x), dict(x=_X), ref=ref, state=lambda: [model], differs=_CAT)


torch.manual_seed(0)
_SB = multitask.SharedBottom(4, bottom=6, tower=3, num_tasks=2)
_MMOE = multitask.MMoE(4, num_experts=3, expert=5, tower=3, num_tasks=2)
_ESMM = multitask.ESMM(FIELDS, embed_dim=3, hidden=(4,))


def _tower(t, h):
    return F.linear(torch.relu(F.linear(h, t[0].weight, t[0].bias)), t[2].weight, t[2].bias)  # [B, 1]


def _sb_ref(x):
    h = torch.relu(F.linear(x, _SB.bottom[0].weight, _SB.bottom[0].bias))
    return torch.cat([_tower(t, h) for t in _SB.towers], dim=-1)


def _gates_ref(x):
    return torch.stack([torch.softmax(F.linear(x, g.weight, g.bias), dim=-1) for g in _MMOE.gate], dim=-2)


def _mmoe_ref(x):
    f = torch.stack([torch.relu(F.linear(x, e[0].weight, e[0].bias)) for e in _MMOE.experts], dim=-2)  # [B, E, h]
    mixed = _gates_ref(x) @ f  # [B, T, h]
    return torch.cat([_tower(t, mixed[..., i, :]) for i, t in enumerate(_MMOE.towers)], dim=-1)


def _esmm_ref(x):
    v = _rows(_ESMM.embedding, x).flatten(1)
    return _tower(_ESMM.ctr_tower, v)[:, 0], _tower(_ESMM.cvr_tower, v)[:, 0]


def _predict_ref(x):
    a, b = _esmm_ref(x)
    return {"ctr": torch.sigmoid(a), "cvr": torch.sigmoid(b), "ctcvr": torch.sigmoid(a) * torch.sigmoid(b)}


_A, _B = 2 * torch.randn(8, generator=_G), 2 * torch.randn(8, generator=_G)
_CLICK = torch.tensor([1.0, 0, 1, 1, 0, 0, 1, 0])
_CONV = torch.tensor([1.0, 0, 0, 1, 0, 0, 0, 0])


def _esmm_loss_ref(ctr_logit, cvr_logit, click, conversion):
    pctr = torch.sigmoid(ctr_logit)
    return F.binary_cross_entropy(pctr, click) + F.binary_cross_entropy(
        pctr * torch.sigmoid(cvr_logit), click * conversion
    )


_LABELS = "refused: labels must be exactly 0 or 1"
_ESMM_DIFFERS = {(arg, "x1e-30"): _LABELS for arg in ("click", "conversion")}
_ESMM_DIFFERS.update(
    {
        (arg, "rank-"): "refused: one logit / label per impression, not a broadcast scalar"
        for arg in ("cvr_logit", "conversion")
    }
)
_ESMM_DIFFERS.update(
    {
        (arg, m): "refused: mixed dtypes are not promoted (the four tensors share one float dtype)"
        for arg in ("cvr_logit", "conversion")
        for m in ("float16", "int64", "bool")
    }
)


def _fit(model, loss_fn, tensors, epochs=2, lr=1e-2, batch_size=4, weight_decay=0.0, seed=0):
    """fit on a copy (every call starts from the same weights); the answer is the loss history."""
    model = copy.deepcopy(model)
    out = data.fit(
        model, loss_fn, tensors, epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay, seed=seed
    )
    return tuple(out.loss_history)


def _bce(m, x, y):
    return F.binary_cross_entropy_with_logits(m(x), y)


_Y = (torch.arange(6) % 2).float()

SPECS = {
    models.fm_interaction: [
        Case(
            models.fm_interaction,
            dict(v=_V),
            ref=_pairs_ref,
            float_only={"v"},
            rtol=1e-5,
            differs={("v", m): _NONFINITE for m in ("nan", "inf", "-inf")},
        ),
    ],
    models.fm_interaction_naive: [Case(models.fm_interaction_naive, dict(v=_V), ref=_pairs_ref, float_only={"v"})],
    models.LogisticRegression: [
        Case(models.LogisticRegression, dict(field_dims=FIELDS), out=_run(_X)),
        _forward_case(_LR, _linear_ref(_LR)),
    ],
    models.FactorizationMachine: [
        Case(models.FactorizationMachine, dict(field_dims=FIELDS, embed_dim=2), out=_run(_X)),
        _forward_case(_FM, _fm_ref(_FM)),
    ],
    models.DeepFM: [
        Case(
            models.DeepFM,
            dict(field_dims=FIELDS, embed_dim=2, hidden=(4, 3), dropout=0.0, use_fm=True, use_deep=True),
            out=_run(_X),
        ),
        Case(models.DeepFM, dict(field_dims=FIELDS, embed_dim=2, hidden=(4,), use_fm=False), out=_run(_X)),
        _forward_case(_DFM, _deepfm_ref(_DFM)),
        _forward_case(_DEEP, _deepfm_ref(_DEEP)),
    ],
    multitask.SharedBottom: [
        Case(multitask.SharedBottom, dict(in_features=4, bottom=3, tower=2, num_tasks=3), out=_run(_XD)),
        Case(lambda x: _SB(x), dict(x=_XD), ref=_sb_ref, state=lambda: [_SB], differs=_DENSE, float_only={"x"}),
    ],
    multitask.MMoE: [
        Case(multitask.MMoE, dict(in_features=4, num_experts=2, expert=3, tower=2, num_tasks=3), out=_run(_XD)),
        Case(lambda x: _MMOE(x), dict(x=_XD), ref=_mmoe_ref, state=lambda: [_MMOE], differs=_DENSE, float_only={"x"}),
        Case(
            lambda x: _MMOE.gates(x),
            dict(x=_XD),
            ref=_gates_ref,
            state=lambda: [_MMOE],
            differs=_DENSE,
            float_only={"x"},
        ),
    ],
    multitask.ESMM: [
        Case(multitask.ESMM, dict(field_dims=FIELDS, embed_dim=2, hidden=(3, 2)), out=_run(_X)),
        Case(lambda x: _ESMM(x), dict(x=_X), ref=_esmm_ref, state=lambda: [_ESMM], differs=_CAT),
        Case(lambda x: _ESMM.predict(x), dict(x=_X), ref=_predict_ref, state=lambda: [_ESMM], differs=_CAT),
    ],
    multitask.esmm_loss: [
        Case(
            multitask.esmm_loss,
            dict(ctr_logit=_A, cvr_logit=_B, click=_CLICK, conversion=_CONV),
            ref=_esmm_loss_ref,
            float_only={"ctr_logit", "cvr_logit"},
            differs=_ESMM_DIFFERS,
            rtol=1e-5,
        ),
    ],
    data.make_ctr_data: [
        Case(data.make_ctr_data, dict(n=40, field_dims=FIELDS, interactions=((0, 1), (1, 2)), strength=1.5, seed=0)),
    ],
    data.make_multitask_data: [Case(data.make_multitask_data, dict(n=30, d=4, correlation=0.5, seed=0))],
    data.make_esmm_data: [Case(data.make_esmm_data, dict(n=30, field_dims=FIELDS, seed=0))],
    data.fit: [
        Case(
            _fit,
            dict(model=_LR, loss_fn=_bce, tensors=(_X, _Y), epochs=2, lr=1e-2, batch_size=4, weight_decay=0.0, seed=0),
            state=lambda: [_LR],
        ),
    ],
}
