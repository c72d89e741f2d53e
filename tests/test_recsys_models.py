"""cvbook_lib.recsys models, data and training: Rendle's FM identity against the pair loop (values and
gradients, float64), the models against one-hot / by-hand computations (sklearn's OneHotEncoder, numpy), DeepFM's
shared embedding and ablations, MMoE's gates and its one-expert reduction to shared-bottom, ESMM's product and
loss against F.binary_cross_entropy, the generators' ground truth (zero-mean interactions that main effects
cannot explain, task correlation ρ by Stein's lemma, conversion ⊆ click, selection bias), and the training claims
(FM beats LR in test AUC; ESMM's pCVR is far less biased than a clicked-only CVR model)."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import OneHotEncoder

from cvbook_lib.recsys import data, models, multitask

pytestmark = pytest.mark.usefixtures("one_thread")


def _randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _x(field_dims, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, m, (n,), generator=g) for m in field_dims], dim=1)


def _n_params(module):
    return sum(p.numel() for p in module.parameters())


def _bce(m, x, y):
    return F.binary_cross_entropy_with_logits(m(x), y)


# ----------------------------------------------------------------------------- the FM identity
def _pairs_numpy(v):
    v = v.detach().numpy()
    return np.array(
        [sum(v[b, i] @ v[b, j] for i, j in itertools.combinations(range(v.shape[1]), 2)) for b in range(v.shape[0])],
        dtype=v.dtype,
    ).reshape(v.shape[0])


@settings(max_examples=40, deadline=None)
@given(b=st.integers(0, 4), n=st.integers(1, 6), k=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_fm_identity_equals_the_pair_loop(b, n, k, seed):
    v = _randn(b, n, k, seed=seed).requires_grad_()
    fast, slow = models.fm_interaction(v), models.fm_interaction_naive(v)
    torch.testing.assert_close(fast, slow)
    np.testing.assert_allclose(fast.detach().numpy(), _pairs_numpy(v), rtol=1e-12, atol=1e-12)
    if b and n > 1:  # (one field: the pair loop returns a constant zero)
        w = _randn(b, seed=seed + 1)
        (g_fast,) = torch.autograd.grad((fast * w).sum(), v)
        (g_slow,) = torch.autograd.grad((slow * w).sum(), v)
        torch.testing.assert_close(g_fast, g_slow)
        # d/dv_i Σ_{i<j} <v_i, v_j> = Σ_{j≠i} v_j
        torch.testing.assert_close(g_fast, w[:, None, None] * (v.sum(1, keepdim=True) - v))


def test_fm_interaction_gradcheck_and_one_field():
    v = _randn(3, 4, 2).requires_grad_()
    assert torch.autograd.gradcheck(models.fm_interaction, (v,))
    assert torch.equal(models.fm_interaction(_randn(5, 1, 3)), torch.zeros(5, dtype=torch.float64))


@pytest.mark.parametrize("fn", [models.fm_interaction, models.fm_interaction_naive])
def test_fm_interaction_bad_inputs(fn):
    with pytest.raises(ValueError, match="v must be 3-D"):
        fn(_randn(4, 3))
    with pytest.raises(TypeError, match="v must have a floating dtype"):
        fn(torch.ones(2, 3, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="v must be a torch.Tensor"):
        fn([[[1.0, 2.0]]])
    bad = _randn(2, 3, 4)
    bad[1, 2, 0] = math.inf
    if fn is models.fm_interaction:
        with pytest.raises(ValueError, match="v must be finite"):
            fn(bad)
    else:
        assert not torch.isfinite(fn(bad)[1]) and torch.isfinite(fn(bad)[0])  # propagated, not refused


# ----------------------------------------------------------------------------- CTR models
FIELDS = (3, 5, 4)


def _onehot(x, field_dims):
    enc = OneHotEncoder(categories=[list(range(m)) for m in field_dims], sparse_output=False)
    return enc.fit_transform(x.numpy())  # [B, sum(field_dims)], field blocks in order


def test_logistic_regression_is_a_linear_model_on_one_hot_fields():
    lr = models.LogisticRegression(FIELDS)
    assert _n_params(lr) == sum(FIELDS) + 1
    with torch.no_grad():
        lr.linear.embedding.weight.copy_(_randn(sum(FIELDS), 1, seed=3).float())
        lr.bias.fill_(0.25)
    x = _x(FIELDS, 50)
    w = lr.linear.embedding.weight.detach().double().numpy()[:, 0]
    expected = _onehot(x, FIELDS) @ w + 0.25
    np.testing.assert_allclose(lr(x).detach().numpy(), expected, rtol=1e-6, atol=1e-6)


def test_fm_is_linear_plus_every_pair_of_field_embeddings():
    torch.manual_seed(0)
    fm = models.FactorizationMachine(FIELDS, 4)
    assert _n_params(fm) == sum(FIELDS) * 5 + 1
    with torch.no_grad():
        fm.linear.embedding.weight.normal_()
    x = _x(FIELDS, 30, seed=1)
    onehot = _onehot(x, FIELDS)
    w = fm.linear.embedding.weight.detach().double().numpy()[:, 0]
    V = fm.embedding.embedding.weight.detach().double().numpy()  # [sum, k]
    # Rendle's definition: Σ_{i<j} <v_i, v_j> x_i x_j over the one-hot features
    expected = onehot @ w + np.array(
        [sum(V[i] @ V[j] * row[i] * row[j] for i in range(len(row)) for j in range(i + 1, len(row))) for row in onehot]
    )
    np.testing.assert_allclose(fm(x).detach().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_deepfm_shares_one_embedding_and_its_parts_add_up():
    torch.manual_seed(0)
    k, hidden = 4, (8, 6)
    model = models.DeepFM(FIELDS, k, hidden=hidden)
    tables = [m for m in model.modules() if isinstance(m, torch.nn.Embedding) and m.embedding_dim == k]
    assert len(tables) == 1
    mlp = len(FIELDS) * k * 8 + 8 + 8 * 6 + 6 + 6 + 1
    assert _n_params(model) == sum(FIELDS) * (k + 1) + 1 + mlp
    x = _x(FIELDS, 20)
    torch.testing.assert_close(model(x), model.fm_part(x) + model.deep_part(x))
    # both parts send gradient into the same table
    for part in (model.fm_part, model.deep_part):
        model.zero_grad()
        part(x).sum().backward()
        assert tables[0].weight.grad.abs().sum() > 0
    fm = models.FactorizationMachine(FIELDS, k)
    fm.load_state_dict({n: p for n, p in model.state_dict().items() if not n.startswith("mlp")})
    torch.testing.assert_close(model.fm_part(x), fm(x))


def test_deepfm_ablations_equal_the_parts():
    torch.manual_seed(0)
    full = models.DeepFM(FIELDS, 3, hidden=(5,))
    with torch.no_grad():
        full.linear.embedding.weight.normal_()
    fm_only = models.DeepFM(FIELDS, 3, hidden=(5,), use_deep=False)
    deep_only = models.DeepFM(FIELDS, 3, hidden=(5,), use_fm=False)
    state = full.state_dict()
    fm_only.load_state_dict({n: p for n, p in state.items() if not n.startswith("mlp")})
    deep_only.load_state_dict({n: p for n, p in state.items() if n.startswith(("mlp", "embedding"))})
    assert not hasattr(fm_only, "mlp") and not hasattr(deep_only, "linear")
    x = _x(FIELDS, 16)
    torch.testing.assert_close(fm_only(x), full.fm_part(x))
    torch.testing.assert_close(deep_only(x), full.deep_part(x))
    v = full.embedding.embedding.weight[x + full.embedding.offsets].flatten(1)
    torch.testing.assert_close(deep_only(x), full.mlp(v)[:, 0])
    with pytest.raises(ValueError, match="use_fm and use_deep"):
        models.DeepFM(FIELDS, 3, use_fm=False, use_deep=False)
    with pytest.raises(ValueError, match="deep_part needs use_deep"):
        fm_only.deep_part(x)


def test_deepfm_dropout_and_empty_hidden():
    torch.manual_seed(0)
    model = models.DeepFM(FIELDS, 2, hidden=(), dropout=0.5)
    assert isinstance(model.mlp[0], torch.nn.Linear) and len(model.mlp) == 1
    dropped = models.DeepFM(FIELDS, 2, hidden=(4,), dropout=0.5)
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.5 for m in dropped.modules())


@pytest.mark.parametrize(
    "make",
    [
        lambda f: models.LogisticRegression(f),
        lambda f: models.FactorizationMachine(f, 2),
        lambda f: models.DeepFM(f, 2),
        lambda f: multitask.ESMM(f),
    ],
)
def test_ctr_models_refuse_bad_x(make):
    model = make(FIELDS)
    out = model(_x(FIELDS, 0))
    for o in out if isinstance(out, tuple) else (out,):
        assert o.shape == (0,)
    with pytest.raises(ValueError, match=r"x\[:, 1\] must be in \[0, 5\)"):
        model(torch.tensor([[0, 5, 0]]))
    with pytest.raises(ValueError, match=r"x\[:, 2\] must be in \[0, 4\)"):
        model(torch.tensor([[0, 0, -1]]))
    with pytest.raises(ValueError, match="one column per field"):
        model(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="x must have an integer dtype"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="x must be 2-D"):
        model(torch.zeros(3, dtype=torch.long))
    torch.testing.assert_close(model(torch.tensor([[1, 2, 3]], dtype=torch.int32)), model(torch.tensor([[1, 2, 3]])))


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(field_dims=(3, 0)), ValueError, r"field_dims\[1\] must be an int >= 1"),
        (dict(field_dims=()), ValueError, "field_dims must hold at least one"),
        (dict(field_dims="abc"), TypeError, "field_dims must be a tuple or list"),
        (dict(field_dims=(3, 2.5)), TypeError, r"field_dims\[1\]"),
        (dict(field_dims=(3, True)), TypeError, r"field_dims\[1\]"),
        (dict(field_dims=(3, 4), embed_dim=0), ValueError, "embed_dim must be an int >= 1"),
        (dict(field_dims=(3, 4), hidden=(4, 0)), ValueError, r"hidden\[1\]"),
        (dict(field_dims=(3, 4), dropout=1.0), ValueError, "dropout"),
        (dict(field_dims=(3, 4), use_fm=1), TypeError, "use_fm must be a bool"),
    ],
)
def test_ctr_model_constructors_refuse_bad_arguments(kwargs, err, match):
    kwargs = {"embed_dim": 2, **kwargs}
    with pytest.raises(err, match=match):
        models.DeepFM(**kwargs)
    if "field_dims" in str(match):
        with pytest.raises(err, match=match):
            models.LogisticRegression(kwargs["field_dims"])


# ----------------------------------------------------------------------------- multi-task models
def test_mmoe_gates_are_softmaxes_and_the_forward_follows_the_equations():
    torch.manual_seed(0)
    model = multitask.MMoE(6, num_experts=3, expert=5, tower=4, num_tasks=2)
    x = _randn(7, 6, dtype=torch.float32)
    g = model.gates(x)
    assert g.shape == (7, 2, 3) and (g > 0).all()
    torch.testing.assert_close(g.sum(-1), torch.ones(7, 2))
    out = model(x)
    assert out.shape == (7, 2)
    for t in range(2):  # y_t = tower_t(Σ_e g_t(x)_e f_e(x)), one sample at a time
        for b in range(7):
            gate = torch.softmax(model.gate[t].weight @ x[b] + model.gate[t].bias, dim=0)
            mixed = sum(
                gate[e] * torch.relu(model.experts[e][0].weight @ x[b] + model.experts[e][0].bias) for e in range(3)
            )
            torch.testing.assert_close(out[b, t], model.towers[t](mixed)[0])


def test_mmoe_with_one_expert_is_shared_bottom():
    torch.manual_seed(0)
    mmoe = multitask.MMoE(6, num_experts=1, expert=5, tower=4, num_tasks=3)
    bottom = multitask.SharedBottom(6, bottom=5, tower=4, num_tasks=3)
    state = {n.replace("experts.0.", "bottom."): p for n, p in mmoe.state_dict().items() if not n.startswith("gate")}
    bottom.load_state_dict(state)
    x = _randn(9, 6, dtype=torch.float32)
    torch.testing.assert_close(mmoe.gates(x), torch.ones(9, 3, 1))
    torch.testing.assert_close(mmoe(x), bottom(x))
    assert _n_params(bottom) == 6 * 5 + 5 + 3 * (5 * 4 + 4 + 4 + 1)
    assert _n_params(mmoe) == _n_params(bottom) + 3 * (6 + 1)


@pytest.mark.parametrize("make", [lambda: multitask.SharedBottom(4), lambda: multitask.MMoE(4)])
def test_multitask_models_refuse_bad_x(make):
    model = make()
    with pytest.raises(ValueError, match="in_features=4"):
        model(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="x must have a floating dtype"):
        model(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="x must be 2-D"):
        model(torch.zeros(4))
    assert model(torch.zeros(0, 4)).shape == (0, 2)
    with pytest.raises(ValueError, match="in_features must be an int >= 1"):
        type(model)(0)
    with pytest.raises(ValueError, match="num_tasks"):
        type(model)(4, num_tasks=0)


# ----------------------------------------------------------------------------- ESMM
def test_esmm_predict_is_the_product_and_the_embedding_is_shared():
    torch.manual_seed(0)
    model = multitask.ESMM(FIELDS, embed_dim=3, hidden=(6,))
    assert sum(isinstance(m, torch.nn.Embedding) for m in model.modules()) == 1
    x = _x(FIELDS, 11)
    a, b = model(x)
    p = model.predict(x)
    torch.testing.assert_close(p["ctr"], torch.sigmoid(a).detach())
    torch.testing.assert_close(p["cvr"], torch.sigmoid(b).detach())
    torch.testing.assert_close(p["ctcvr"], p["ctr"] * p["cvr"])
    assert not p["ctcvr"].requires_grad


def _labels(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    click = (torch.rand(n, generator=g) < 0.4).double()
    return click, click * (torch.rand(n, generator=g) < 0.5).double()


def test_esmm_loss_equals_bce_on_the_products():
    a, b = 3 * _randn(64), 3 * _randn(64, seed=1)
    click, conv = _labels(64)
    a.requires_grad_(), b.requires_grad_()
    ours = multitask.esmm_loss(a, b, click, conv)
    pctr = torch.sigmoid(a)
    ref = F.binary_cross_entropy(pctr, click) + F.binary_cross_entropy(pctr * torch.sigmoid(b), click * conv)
    torch.testing.assert_close(ours, ref)
    g_ours = torch.autograd.grad(ours, (a, b))
    g_ref = torch.autograd.grad(ref, (a, b))
    torch.testing.assert_close(g_ours, g_ref)


def test_esmm_loss_stays_finite_where_sigmoid_rounds():
    a = torch.tensor([40.0, -40.0, 40.0, 25.0], requires_grad=True)
    b = torch.tensor([40.0, 3.0, -40.0, 30.0], requires_grad=True)
    click, conv = torch.tensor([0.0, 1.0, 1.0, 1.0]), torch.tensor([0.0, 1.0, 0.0, 1.0])
    loss = multitask.esmm_loss(a, b, click, conv)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()
    # float64 knows log(1 − σ(40)) = −40: the float32 loss agrees with it (no −100 clamp hit)
    ref = multitask.esmm_loss(a.detach().double(), b.detach().double(), click.double(), conv.double())
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-5)


def test_esmm_loss_bad_inputs():
    a, b = _randn(4), _randn(4)
    click, conv = torch.tensor([1.0, 0, 1, 0], dtype=torch.float64), torch.tensor([1.0, 0, 0, 0], dtype=torch.float64)
    with pytest.raises(ValueError, match="conversion must be 0 where click is 0"):
        multitask.esmm_loss(a, b, click, torch.tensor([0.0, 1, 0, 0], dtype=torch.float64))
    with pytest.raises(ValueError, match="click must hold only 0 and 1"):
        multitask.esmm_loss(a, b, click * 0.5, conv)
    with pytest.raises(ValueError, match="cvr_logit must have the shape"):
        multitask.esmm_loss(a, b[:3], click, conv)
    with pytest.raises(TypeError, match="click must have a floating dtype"):
        multitask.esmm_loss(a, b, click.long(), conv)
    with pytest.raises(TypeError, match="same dtype"):
        multitask.esmm_loss(a, b, click.float(), conv)


# ----------------------------------------------------------------------------- generators
def _logit(p):
    p = p.double().numpy()
    return np.log(p) - np.log1p(-p)


def test_ctr_data_interaction_is_zero_mean_rank_one_and_invisible_to_main_effects():
    fd, n = (6, 5, 4), 6000
    x, y, p = data.make_ctr_data(n, fd, interactions=((0, 1),), strength=2.0, seed=3)
    _, _, p0 = data.make_ctr_data(n, fd, interactions=((0, 1),), strength=0.0, seed=3)
    assert x.dtype == torch.long and y.dtype == p.dtype == torch.float32 and x.shape == (n, 3)
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    for f, m in enumerate(fd):
        assert x[:, f].min() == 0 and x[:, f].max() == m - 1
    inter = (_logit(p) - _logit(p0)) / 2.0  # T[x0, x1] per sample (same draws, strength 0)
    table = np.full((6, 5), np.nan)
    table[x[:, 0], x[:, 1]] = inter
    np.testing.assert_allclose(table.sum(0), 0, atol=1e-4)  # zero mean along each field
    np.testing.assert_allclose(table.sum(1), 0, atol=1e-4)
    assert np.linalg.matrix_rank(table, tol=1e-3) == 1
    onehot = _onehot(x, fd)
    main = LinearRegression().fit(onehot, _logit(p0))
    assert main.score(onehot, _logit(p0)) > 1 - 1e-6  # strength 0: main effects explain everything
    assert LinearRegression().fit(onehot, inter).score(onehot, inter) < 0.01  # ... and nothing of T
    # y ~ Bernoulli(p): binomial margin
    assert abs(y.mean() - p.mean()) < 4 * math.sqrt(0.25 / n)


def test_ctr_data_is_seeded():
    a, b = data.make_ctr_data(100, seed=1), data.make_ctr_data(100, seed=1)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], data.make_ctr_data(100, seed=2)[0])


@pytest.mark.parametrize("rho", [-0.5, 0.0, 0.5, 0.9])
def test_multitask_data_linear_parts_have_correlation_rho(rho):
    x, y = data.make_multitask_data(20000, d=8, correlation=rho, seed=0)
    assert x.shape == (20000, 8) and y.shape == (20000, 2)
    # Stein's lemma: for x ~ N(0, I), E[x sin(α wᵀx + β)] ∝ w, so the least-squares slopes of y_i on x are
    # proportional to w_i with the same factor for both tasks; their linear parts correlate as w1ᵀw2 = ρ.
    coef = LinearRegression().fit(x.numpy(), y.numpy()).coef_  # [2, d]
    lin = x.double().numpy() @ coef.T
    assert abs(np.corrcoef(lin.T)[0, 1] - rho) < 0.05


def test_multitask_data_is_seeded_and_bounded():
    a, b = data.make_multitask_data(50, seed=4), data.make_multitask_data(50, seed=4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    x, y = data.make_multitask_data(50, d=2, correlation=-1.0)
    assert torch.isfinite(y).all()


def test_esmm_data_conversions_follow_clicks_and_the_clicked_are_biased():
    n = 40000
    d = data.make_esmm_data(n, seed=0)
    assert set(d) == {"x", "click", "conversion", "p_ctr", "p_cvr"}
    assert d["x"].shape == (n, 3) and d["x"].dtype == torch.long
    assert (d["conversion"] <= d["click"]).all()
    margin = 4 * math.sqrt(0.25 / n)
    assert abs(d["click"].mean() - d["p_ctr"].mean()) < margin
    clicked = d["click"] == 1
    k = int(clicked.sum())
    assert abs(d["conversion"][clicked].mean() - d["p_cvr"][clicked].mean()) < 4 * math.sqrt(0.25 / k)
    assert d["p_cvr"][clicked].mean() < d["p_cvr"].mean() - 0.25  # selection bias of the clicked sub-population
    assert np.corrcoef(d["p_ctr"].numpy(), d["p_cvr"].numpy())[0, 1] < -0.5


@pytest.mark.parametrize(
    "fn, kwargs, err, match",
    [
        (data.make_ctr_data, dict(n=0), ValueError, "n must be an int >= 1"),
        (data.make_ctr_data, dict(n=10, field_dims=(4, 1)), ValueError, r"field_dims\[1\] must be an int >= 2"),
        (data.make_ctr_data, dict(n=10, interactions=((0, 0),)), ValueError, "two different fields"),
        (data.make_ctr_data, dict(n=10, interactions=((0, 4),)), ValueError, r"interactions\[0\]"),
        (data.make_ctr_data, dict(n=10, interactions="ab"), TypeError, "interactions must be"),
        (data.make_ctr_data, dict(n=10, strength=math.nan), ValueError, "strength"),
        (data.make_ctr_data, dict(n=10, seed=-1), ValueError, "seed"),
        (data.make_multitask_data, dict(n=-3), ValueError, "n must be"),
        (data.make_multitask_data, dict(n=10, correlation=1.5), ValueError, "correlation"),
        (data.make_multitask_data, dict(n=10, correlation=-1.01), ValueError, "correlation"),
        (data.make_multitask_data, dict(n=10, d=1), ValueError, "d must be an int >= 2"),
        (data.make_esmm_data, dict(n=0), ValueError, "n must be"),
        (data.make_esmm_data, dict(n=10, field_dims=(5,)), ValueError, "at least two fields"),
        (data.make_esmm_data, dict(n=10, field_dims=(5, 0, 3)), ValueError, r"field_dims\[1\]"),
    ],
)
def test_generators_refuse_bad_arguments(fn, kwargs, err, match):
    with pytest.raises(err, match=match):
        fn(**kwargs)


# ----------------------------------------------------------------------------- fit
def test_fit_is_adam_on_seeded_minibatches():
    x, y, _ = data.make_ctr_data(300, (4, 4), interactions=((0, 1),), seed=0)
    torch.manual_seed(0)
    model = models.FactorizationMachine((4, 4), 2)
    ref = models.FactorizationMachine((4, 4), 2)
    ref.load_state_dict(model.state_dict())
    state = torch.get_rng_state()
    data.fit(model, _bce, (x, y), epochs=3, lr=0.05, batch_size=64, weight_decay=1e-3, seed=5)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's global RNG is left alone
    assert not model.training and len(model.loss_history) == 3
    opt = torch.optim.Adam(ref.parameters(), lr=0.05, weight_decay=1e-3)  # the loop written out
    g = torch.Generator().manual_seed(5)
    losses = []
    for _ in range(3):
        perm = torch.randperm(300, generator=g)
        total = []
        for i in range(0, 300, 64):
            idx = perm[i : i + 64]
            loss = _bce(ref, x[idx], y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total.append(loss.item())
        losses.append(sum(total) / len(total))
    for p, q in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q)
    np.testing.assert_allclose(model.loss_history, losses, rtol=1e-6)


def test_fit_refuses_bad_arguments_before_training():
    model = models.LogisticRegression((3,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.zeros(5, 1, dtype=torch.long), torch.zeros(5)
    cases = [
        (dict(model="m"), TypeError, "model must be a torch.nn.Module"),
        (dict(loss_fn=3), TypeError, "loss_fn must be a callable"),
        (dict(tensors=()), TypeError, "tensors must be a non-empty"),
        (dict(tensors=(x, y[:4])), ValueError, "tensors must share a first dimension"),
        (dict(tensors=(x, 3)), TypeError, r"tensors\[1\]"),
        (dict(epochs=0), ValueError, "epochs"),
        (dict(lr=0.0), ValueError, "lr"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(weight_decay=-1.0), ValueError, "weight_decay"),
        (dict(loss_fn=lambda m, x, y: m(x)), TypeError, "loss_fn must return a scalar"),
    ]
    for change, err, match in cases:
        kwargs = {**dict(model=model, loss_fn=_bce, tensors=(x, y)), **change}
        with pytest.raises(err, match=match):
            data.fit(kwargs.pop("model"), kwargs.pop("loss_fn"), kwargs.pop("tensors"), **kwargs)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


# ----------------------------------------------------------------------------- the training claims
def test_fm_and_deepfm_beat_logistic_regression_on_planted_interactions():
    x, y, p = data.make_ctr_data(12000, seed=0)
    tr, te = slice(0, 9000), slice(9000, None)
    auc = {}
    for name, make in [
        ("lr", lambda: models.LogisticRegression((10,) * 4)),
        ("fm", lambda: models.FactorizationMachine((10,) * 4, 4)),
        ("deepfm", lambda: models.DeepFM((10,) * 4, 4, hidden=(16,))),
    ]:
        torch.manual_seed(0)
        model = data.fit(make(), _bce, (x[tr], y[tr]), epochs=6, lr=1e-2, seed=0)
        with torch.no_grad():
            auc[name] = roc_auc_score(y[te].numpy(), model(x[te]).numpy())
    oracle = roc_auc_score(y[te].numpy(), p[te].numpy())
    assert auc["lr"] < 0.65 < oracle - 0.2  # main effects see almost nothing
    assert auc["fm"] > auc["lr"] + 0.2 and auc["deepfm"] > auc["lr"] + 0.2
    assert auc["fm"] > oracle - 0.03


def test_esmm_pcvr_is_far_less_biased_than_a_clicked_only_cvr_model():
    d = data.make_esmm_data(20000, seed=0)
    x, click, conv = d["x"], d["click"], d["conversion"]
    clicked = click == 1
    torch.manual_seed(0)
    naive = data.fit(
        multitask.ESMM((20, 20, 20)),
        lambda m, x, v: F.binary_cross_entropy_with_logits(m(x)[1], v),
        (x[clicked], conv[clicked]),
        epochs=10,
        lr=1e-2,
        seed=0,
    )
    torch.manual_seed(0)
    esmm = data.fit(
        multitask.ESMM((20, 20, 20)),
        lambda m, x, c, v: multitask.esmm_loss(*m(x), c, v),
        (x, click, conv),
        epochs=10,
        lr=1e-2,
        seed=0,
    )
    truth = d["p_cvr"].mean().item()
    bias_naive = naive.predict(x)["cvr"].mean().item() - truth
    bias_esmm = esmm.predict(x)["cvr"].mean().item() - truth
    assert bias_naive < -0.25  # the clicked-only model carries the clicked sub-population's low CVR
    assert abs(bias_esmm) < 0.15 and abs(bias_esmm) < abs(bias_naive) / 2.5
