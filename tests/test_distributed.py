"""cvbook_lib.distributed: real torch.distributed (gloo, 2 processes on 127.0.0.1) against one process.

References: single-process torch training on the whole batch (DDP), F.batch_norm on the whole batch and
norm.sync_batch_stats (SyncBN), torch autograd for the gradients. Every launch spawns two Python processes
that import torch (seconds), so each public function is launched once per configuration (module-scoped
fixtures) and the error paths are checked on tiny workers.
"""

import math
import multiprocessing
import os

import psutil
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from cvbook_lib import distributed as D
from cvbook_lib import norm

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
TOL = {torch.float64: dict(rtol=1e-12, atol=1e-12), torch.float32: dict(rtol=1e-6, atol=1e-6)}


def _children():
    """Our live child processes, without multiprocessing's resource tracker (it lives as long as we do)."""
    kids = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(p.cmdline()):
                kids.append(p.pid)
        except psutil.NoSuchProcess:
            pass
    return kids


# ----------------------------------------------------------------------------- DDP == one process
def _single_process(dtype, steps=3, batch=4, lr=0.1, world_size=2, seed=0):
    """The reference: the documented model, data and SGD, in this process on the concatenated batch."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(world_size * batch, 3, generator=g, dtype=dtype)
    y = torch.randn(world_size * batch, 2, generator=g, dtype=dtype)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    grads = []
    for _ in range(steps):
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
        opt.step()
    return model, x, y, grads[0] if grads else None


def _shard_grad(params, x, y, dtype):
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)).to(dtype)
    nn.utils.vector_to_parameters(params.clone(), model.parameters())
    F.mse_loss(model(x), y).backward()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


@pytest.fixture(scope="module", params=[torch.float64, torch.float32], ids=["float64", "float32"])
def ddp(request):
    env = {k: os.environ.get(k) for k in ("MASTER_ADDR", "MASTER_PORT")}
    out = D.ddp_matches_single_process(world_size=2, steps=3, per_rank_batch=4, lr=0.1, dtype=request.param)
    assert {k: os.environ.get(k) for k in env} == env  # set in the children only
    return request.param, out


def test_ddp_equals_single_process_training(ddp):
    dtype, out = ddp
    model, x, y, grad0 = _single_process(dtype)
    want = nn.utils.parameters_to_vector(model.parameters()).detach()
    assert out["ddp"].dtype == dtype
    assert_close(out["ddp"], want, **TOL[dtype])
    assert_close(out["single"], want, **TOL[dtype])
    assert torch.equal(out["ranks"][0], out["ranks"][1])              # the replicas never drift apart
    assert not torch.allclose(out["init"][0], out["init"][1])         # they started apart: DDP broadcast rank 0's
    start = nn.utils.parameters_to_vector(_single_process(dtype, steps=0)[0].parameters()).detach()
    assert torch.equal(out["init"][0], start)


def test_ddp_gradient_is_the_average_of_the_ranks_gradients(ddp):
    dtype, out = ddp
    _, x, y, grad0 = _single_process(dtype)
    assert torch.equal(out["ddp_grad"][0], out["ddp_grad"][1])
    assert_close(out["ddp_grad"][0], out["local_grad"].mean(0), **TOL[dtype])  # all-reduce(sum) / world_size
    assert_close(out["ddp_grad"][0], grad0, **TOL[dtype])
    assert not torch.allclose(out["local_grad"][0], out["local_grad"][1])
    # inside no_sync() nothing is all-reduced: each rank keeps its own shard's gradient
    for r in range(2):
        own = _shard_grad(out["ddp"], x[4 * r:4 * r + 4], y[4 * r:4 * r + 4], dtype)
        assert_close(out["no_sync_grad"][r], own, **TOL[dtype])
    assert not torch.allclose(out["no_sync_grad"][0], out["no_sync_grad"][1])


# ----------------------------------------------------------------------------- SyncBN
@pytest.fixture(scope="module", params=[(torch.float64, d) for d in DEVICES] + [(torch.float32, "cpu")],
                ids=[f"float64-{d}" for d in DEVICES] + ["float32-cpu"])
def syncbn(request):
    dtype, device = request.param
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(5, 3, 2, 2, generator=g, dtype=dtype) * 2 + 7).to(device)  # 5 rows: shards of 3 and 2
    go = torch.randn(5, 3, 2, 2, generator=g, dtype=dtype).to(device)
    return x, go, D.syncbn_stats(x, world_size=2, momentum=0.1, eps=1e-5, grad_output=go)


def test_syncbn_statistics_equal_sync_batch_stats_and_the_full_batch(syncbn):
    x, _, out = syncbn
    tol = TOL[x.dtype] if x.dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    mean, var, count = norm.sync_batch_stats(list(torch.tensor_split(x, 2)))
    assert out["count"] == count == 5 * 4 and out["ranks_agree"]
    assert out["mean"].device == x.device and out["mean"].dtype == x.dtype
    assert_close(out["mean"], mean, **tol)
    assert_close(out["var"], var, **tol)
    assert_close(out["mean"], x.mean(dim=(0, 2, 3)), **tol)
    assert_close(out["var"], x.var(dim=(0, 2, 3), unbiased=False), **tol)


def test_syncbn_output_gradient_and_running_stats_equal_batch_norm_on_the_full_batch(syncbn):
    x, go, out = syncbn
    tol = TOL[x.dtype] if x.dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    rm, rv = torch.zeros(3, dtype=x.dtype, device=x.device), torch.ones(3, dtype=x.dtype, device=x.device)
    xr = x.clone().requires_grad_()
    want = F.batch_norm(xr, rm, rv, training=True, momentum=0.1, eps=1e-5)
    want.backward(go)
    assert_close(out["out"], want.detach(), **tol)
    assert_close(out["grad"], xr.grad, **tol)
    assert_close(out["running_mean"], rm, **tol)
    assert_close(out["running_var"], rv, **tol)  # the unbiased variance, n / (n - 1)


def test_torch_syncbatchnorm_refuses_cpu_tensors_in_a_process_group(syncbn):
    _, _, out = syncbn
    assert out["torch_error"] is not None and "GPU" in out["torch_error"]


# ----------------------------------------------------------------------------- linear scaling
def test_linear_scaling_rule_holds_for_small_lr_and_breaks_for_large_lr():
    math_only = D.lr_scaling_demo(lrs=(0.05, 1.5), world_size=2, steps=4, per_rank_batch=8)
    with_ddp = D.lr_scaling_demo(lrs=(0.05, 1.5), world_size=2, steps=4, per_rank_batch=8, use_ddp=True)
    for key in ("w_small", "w_scaled", "w_unscaled", "gap_scaled", "gap_unscaled"):
        assert_close(with_ddp[key], math_only[key], rtol=1e-12, atol=1e-12)   # DDP == one large batch
    gs, gu, lam = math_only["gap_scaled"], math_only["gap_unscaled"], math_only["curvature"]
    # small lr: 2 steps of lr ~ 1 step of 2 lr (about 2 % apart); without scaling the run is far behind
    assert gs[0] < 0.05 and gu[0] > 0.3 and gs[0] < gu[0] / 10
    # large lr: 2 * lr exceeds the stability limit 2 / lambda_max while lr alone does not: the rule breaks
    assert 1.5 * lam < 2 < 2 * 1.5 * lam and gs[1] > 1 and gs[1] > gu[1]


def test_linear_scaling_gap_shrinks_with_the_learning_rate():
    out = D.lr_scaling_demo(lrs=(0.001, 0.01, 0.1))  # the gap is O(lr): one big step vs k small ones
    gs = out["gap_scaled"]
    assert gs[0] < gs[1] < gs[2] and 5 < gs[1] / gs[0] < 20 and math.isfinite(float(gs[2]))


# ----------------------------------------------------------------------------- the launcher's error paths
def test_a_failing_rank_raises_in_the_parent_with_its_rank_and_leaves_no_process():
    with pytest.raises(RuntimeError, match=r"rank 1 of 2") as err:
        D.run(D._fail_on_rank, 2, 1, "boom from rank 1", timeout=120.0)
    assert "ValueError: boom from rank 1" in str(err.value) and "Traceback" in str(err.value)
    assert not multiprocessing.active_children() and not _children()


def test_a_launch_past_the_timeout_is_terminated():
    with pytest.raises(TimeoutError, match=r"timeout=3 s"):
        D.run(D._sleep_on_rank, 2, 1, 60.0, timeout=3.0)
    assert not multiprocessing.active_children() and not _children()


def _nested():
    def worker(rank, world_size):
        return rank

    return worker


@pytest.mark.parametrize("call, error, words", [
    (lambda: D.run(lambda r, w: r, 2), TypeError, "fn"),
    (lambda: D.run(_nested(), 2), TypeError, "fn"),
    (lambda: D.run("_fail_on_rank", 2), TypeError, "fn"),
    (lambda: D.run(D._fail_on_rank, 0), ValueError, "world_size"),
    (lambda: D.run(D._fail_on_rank, 9), ValueError, "world_size"),
    (lambda: D.run(D._fail_on_rank, True), TypeError, "world_size"),
    (lambda: D.run(D._fail_on_rank, 2.0), TypeError, "world_size"),
    (lambda: D.run(D._fail_on_rank, 2, timeout=0.0), ValueError, "timeout"),
    (lambda: D.run(D._fail_on_rank, 2, timeout=-1.0), ValueError, "timeout"),
    (lambda: D.run(D._fail_on_rank, 2, timeout=math.nan), ValueError, "timeout"),
    (lambda: D.run(D._fail_on_rank, 2, timeout=math.inf), ValueError, "timeout"),
    (lambda: D.run(D._fail_on_rank, 2, lambda: 0), TypeError, "args"),
    (lambda: D.ddp_matches_single_process(steps=0), ValueError, "steps"),
    (lambda: D.ddp_matches_single_process(per_rank_batch=0), ValueError, "per_rank_batch"),
    (lambda: D.ddp_matches_single_process(lr=0.0), ValueError, "lr"),
    (lambda: D.ddp_matches_single_process(lr=math.nan), ValueError, "lr"),
    (lambda: D.ddp_matches_single_process(dtype=torch.float16), ValueError, "dtype"),
    (lambda: D.ddp_matches_single_process(seed=-1), ValueError, "seed"),
    (lambda: D.ddp_matches_single_process(world_size=0), ValueError, "world_size"),
    (lambda: D.syncbn_stats(torch.ones(4, 2, dtype=torch.int64)), TypeError, "x"),
    (lambda: D.syncbn_stats(torch.ones(4, 2, dtype=torch.float16)), TypeError, "x"),
    (lambda: D.syncbn_stats(torch.ones(1, 2, 3)), ValueError, "x"),
    (lambda: D.syncbn_stats(torch.ones(4)), ValueError, "x"),
    (lambda: D.syncbn_stats(torch.tensor([[1.0], [math.nan]])), ValueError, "x"),
    (lambda: D.syncbn_stats(torch.ones(4, 2), momentum=1.5), ValueError, "momentum"),
    (lambda: D.syncbn_stats(torch.ones(4, 2), eps=0.0), ValueError, "eps"),
    (lambda: D.syncbn_stats(torch.ones(4, 2), grad_output=torch.ones(4, 3)), ValueError, "grad_output"),
    (lambda: D.syncbn_stats(torch.ones(4, 2), grad_output=torch.ones(4, 2).double()), ValueError, "grad_output"),
    (lambda: D.lr_scaling_demo(lrs=()), ValueError, "lrs"),
    (lambda: D.lr_scaling_demo(lrs=0.1), TypeError, "lrs"),
    (lambda: D.lr_scaling_demo(lrs=(0.1, -1.0)), ValueError, "lrs[1]"),
    (lambda: D.lr_scaling_demo(world_size=1), ValueError, "world_size"),
    (lambda: D.lr_scaling_demo(use_ddp=1), TypeError, "use_ddp"),
])
def test_bad_arguments_are_refused_before_anything_is_launched(call, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        call()
    assert not multiprocessing.active_children()
