"""Data-parallel training on a real ``torch.distributed`` engine: ``world_size`` processes on 127.0.0.1
talking through the gloo backend (CPU), launched with ``torch.multiprocessing`` (start method spawn).

- :func:`run` launches a module-level function in every rank and returns what each rank returned;
  it is bounded in time (``timeout``), picks a free port per launch, sets ``MASTER_ADDR``/``MASTER_PORT``
  only in the children, and cleans up on error (a failing rank's exception is raised in the parent
  with its rank and traceback; no child process is left behind).
- :func:`ddp_matches_single_process`: ``DistributedDataParallel`` over shards of a global batch ==
  one process on the whole batch (DDP all-reduces the gradients and divides by the world size).
- :func:`syncbn_stats`: what ``nn.SyncBatchNorm`` computes, over real processes. torch's
  ``nn.SyncBatchNorm`` refuses CPU tensors once a process group exists (its kernels
  ``batch_norm_stats``/``batch_norm_gather_stats_with_counts`` are CUDA-only), so each rank
  all-reduces (count, Σ(x-K), Σ(x-K)²) with a differentiable ``all_reduce`` (K: rank 0's mean,
  broadcast, so the sums do not cancel); the backward pass all-reduces the gradients of the sums.
- :func:`lr_scaling_demo`: the linear learning-rate scaling rule of Goyal et al. 2017.

Workers are module-level functions so that spawned children (also from Jupyter) can import them.
References: Li et al. 2020 (PyTorch DDP), Goyal et al. 2017 (linear scaling, warm-up), Peng et al. 2018
(MegDet, cross-GPU BN).
"""

from __future__ import annotations

import datetime
import functools
import os
import pickle
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.multiprocessing.spawn import ProcessException

from ._checks import check_bool, check_choice, check_finite, check_float, check_int, check_tensor

__all__ = ["MAX_WORLD_SIZE", "run", "ddp_matches_single_process", "syncbn_stats", "lr_scaling_demo"]

MAX_WORLD_SIZE = 8  # processes per launch (CPU, one thread each)


# ----------------------------------------------------------------------------- the launcher
def _check_fn(fn):
    if not callable(fn):
        raise TypeError(f"fn must be a callable defined at the top level of an importable module, got "
                        f"{type(fn).__name__} {fn!r:.80}")
    target = fn.func if isinstance(fn, functools.partial) else fn
    module, qualname = getattr(target, "__module__", None), getattr(target, "__qualname__", "")
    if module in (None, "__main__", "__mp_main__") or "<" in qualname:
        raise TypeError(f"fn must be defined at the top level of an importable module (spawned processes import it "
                        f"by name), got {qualname or fn!r} from module {module!r}: move it into a .py file")
    try:
        pickle.dumps(fn)
    except Exception as err:  # noqa: BLE001 - any pickling failure means spawn cannot send it
        raise TypeError(f"fn must be picklable by reference (spawn sends it by name), got {fn!r:.80}: {err}") from None
    return fn


def _check_timeout(timeout) -> float:
    return check_float(timeout, "timeout", 0.0, 24 * 3600.0, min_open=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def _entry(rank, fn, world_size, port, tmpdir, timeout, args):
    """The spawned process: join the gloo group, run ``fn``, store its (CPU) result in ``tmpdir``."""
    import traceback

    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)  # this child only
    torch.set_num_threads(1)
    stamp = None  # when fn raised: before destroy_process_group, which makes the peers fail too
    try:
        dist.init_process_group("gloo", rank=rank, world_size=world_size,
                                timeout=datetime.timedelta(seconds=timeout))
        try:
            result = fn(rank, world_size, *args)
        except Exception:
            stamp = time.time()
            raise
        finally:
            dist.destroy_process_group()
        torch.save(_cpu(result), os.path.join(tmpdir, f"result{rank}.pt"))
        code = 0
    except Exception:
        with open(os.path.join(tmpdir, f"error{rank}.txt"), "w") as fh:
            fh.write(f"{stamp or time.time()!r}\n{traceback.format_exc()}")
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip the interpreter's teardown of torch: seconds on a busy machine, nothing left to save


def _rank_error(err, tmpdir, world_size, name):
    """The error of the rank that failed first (a peer's lost-connection error comes later)."""
    found = []
    for r in range(world_size):
        path = os.path.join(tmpdir, f"error{r}.txt")
        if os.path.exists(path):
            with open(path) as fh:
                stamp, _, trace = fh.read().partition("\n")
            found.append((float(stamp), r, trace))
    if found:
        _, r, trace = min(found)
        return RuntimeError(f"rank {r} of {world_size} raised in {name}:\n{trace}")
    return RuntimeError(f"rank {err.error_index} of {world_size} failed in {name}: {err.msg.strip()}")


def _stop(ctx):
    for p in ctx.processes:
        if p.is_alive():
            p.terminate()
    for p in ctx.processes:
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join()
    for path in ctx.error_files:  # torch's own error files
        if path and os.path.exists(path):
            os.unlink(path)


def _launch(fn, world_size, args, timeout):
    name = getattr(fn, "__qualname__", repr(fn))
    tmpdir, ctx = tempfile.mkdtemp(prefix="cvbook-dist-"), None
    try:
        ctx = mp.start_processes(_entry, args=(fn, world_size, _free_port(), tmpdir, timeout, args),
                                 nprocs=world_size, join=False, start_method="spawn")
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{name} with world_size={world_size} did not finish within timeout={timeout:g} s; "
                                   f"its processes were terminated")
            try:
                if ctx.join(timeout=min(left, 0.5), grace_period=2.0):  # peers get 2 s to report theirs
                    break
            except ProcessException as err:
                raise _rank_error(err, tmpdir, world_size, name) from None
        return [torch.load(os.path.join(tmpdir, f"result{r}.pt"), weights_only=False) for r in range(world_size)]
    finally:
        if ctx is not None:
            _stop(ctx)
        shutil.rmtree(tmpdir, ignore_errors=True)


def run(fn, world_size, *args, timeout: float = 120.0):
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` spawned processes joined in one gloo process
    group on 127.0.0.1 (``torch.distributed`` is initialized in each; one CPU thread each) and return
    the list of their results, rank 0 first (tensors moved to the CPU).

    Args: fn (a function defined at the top level of an importable module, as spawn requires: not a
    lambda, not defined in a notebook or ``__main__``); world_size (int in [1, MAX_WORLD_SIZE]);
    args (picklable); timeout (seconds > 0: the whole launch must finish in this time, and each rank's
    collectives time out after it). A rank that raises makes the parent raise ``RuntimeError`` naming
    the rank, with its traceback; a launch past ``timeout`` raises ``TimeoutError``. Either way every
    child process is terminated first."""
    fn = _check_fn(fn)
    world_size = check_int(world_size, "world_size", 1, MAX_WORLD_SIZE)
    timeout = _check_timeout(timeout)
    try:
        pickle.dumps(args)
    except Exception as err:  # noqa: BLE001 - the children could not receive them
        raise TypeError(f"args must be picklable (they are sent to the spawned processes): {err}") from None
    return _launch(fn, world_size, args, timeout)


def _fail_on_rank(rank, world_size, bad_rank, message):
    """A worker for tests: rank ``bad_rank`` raises ValueError(message); the others wait at a barrier."""
    if rank == bad_rank:
        raise ValueError(message)
    dist.barrier()
    return rank


def _sleep_on_rank(rank, world_size, sleepy_rank, seconds):
    """A worker for tests: rank ``sleepy_rank`` sleeps, the others wait for it at a barrier."""
    if rank == sleepy_rank:
        time.sleep(seconds)
    dist.barrier()
    return rank


# ----------------------------------------------------------------------------- DDP == one process
_DTYPES = (torch.float32, torch.float64)


def _mlp(dtype, seed):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)).to(dtype)


def _batch(n, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g, dtype=dtype), torch.randn(n, 2, generator=g, dtype=dtype)


def _flat_grad(model):
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()]).clone()


def _flat(model):
    return nn.utils.parameters_to_vector(model.parameters()).detach().clone()


def _ddp_worker(rank, world_size, steps, batch, lr, dtype, seed):
    x, y = _batch(world_size * batch, dtype, seed)
    xs, ys = x[rank * batch:(rank + 1) * batch], y[rank * batch:(rank + 1) * batch]
    model = _mlp(dtype, seed + rank)  # different starts: DDP broadcasts rank 0's parameters
    init = _flat(model)
    ddp = nn.parallel.DistributedDataParallel(model)
    local = _mlp(dtype, seed)                                   # no DDP: this rank's own gradient
    F.mse_loss(local(xs), ys).backward()
    opt = torch.optim.SGD(ddp.parameters(), lr=lr)
    for step in range(steps):
        opt.zero_grad()
        F.mse_loss(ddp(xs), ys).backward()                     # backward all-reduces and averages
        if step == 0:
            grad = _flat_grad(model)
        opt.step()
    opt.zero_grad()
    with ddp.no_sync():                                         # gradient accumulation: no all-reduce
        F.mse_loss(ddp(xs), ys).backward()
    return {"init": init, "params": _flat(model), "grad": grad, "local_grad": _flat_grad(local),
            "no_sync_grad": _flat_grad(model)}


def ddp_matches_single_process(world_size: int = 2, steps: int = 3, per_rank_batch: int = 4, lr: float = 0.1,
                               dtype=torch.float64, seed: int = 0, timeout: float = 120.0):
    """Train a small MLP (Linear(3, 8)-Tanh-Linear(8, 2), MSE loss) with ``DistributedDataParallel`` in
    ``world_size`` gloo processes, rank r on rows [r·b, (r+1)·b) of a global batch of ``world_size·b`` rows
    (b = ``per_rank_batch``), ``steps`` steps of SGD(lr); and the same model in this process on the whole
    batch (mean loss). Each rank starts from different weights (seed + rank): DDP broadcasts rank 0's.
    Args: world_size (int in [1, MAX_WORLD_SIZE]); steps, per_rank_batch (int >= 1); lr (> 0, finite);
    dtype (torch.float32 or torch.float64); seed (int >= 0); timeout (seconds > 0, see :func:`run`).
    Returns: dict of flattened parameter vectors (P values): ``"ddp"`` (rank 0's after training),
    ``"single"`` (one process, whole batch), ``"ranks"`` (Tensor[world_size, P], every rank's after
    training), ``"init"`` (Tensor[world_size, P], each rank's own start before DDP), ``"ddp_grad"``
    (Tensor[world_size, P], the gradient each rank holds after the first backward), ``"local_grad"``
    (Tensor[world_size, P], each rank's gradient of its own shard's loss, without DDP), ``"no_sync_grad"``
    (Tensor[world_size, P], each rank's gradient after one more backward inside ``ddp.no_sync()`` at
    the final parameters: not all-reduced, the rank's own) and ``"single_grad"`` (Tensor[P], the whole
    batch's gradient at the start)."""
    world_size = check_int(world_size, "world_size", 1, MAX_WORLD_SIZE)
    steps = check_int(steps, "steps", 1, 1000)
    per_rank_batch = check_int(per_rank_batch, "per_rank_batch", 1, 4096)
    lr = check_float(lr, "lr", 0.0, min_open=True, allow_inf=False)
    dtype = check_choice(dtype, "dtype", _DTYPES)
    seed = check_int(seed, "seed", 0)
    timeout = _check_timeout(timeout)
    res = _launch(_ddp_worker, world_size, (steps, per_rank_batch, lr, dtype, seed), timeout)
    x, y = _batch(world_size * per_rank_batch, dtype, seed)
    single = _mlp(dtype, seed)
    opt = torch.optim.SGD(single.parameters(), lr=lr)
    for step in range(steps):
        opt.zero_grad()
        F.mse_loss(single(x), y).backward()
        if step == 0:
            single_grad = _flat_grad(single)
        opt.step()

    def stack(key):
        return torch.stack([r[key] for r in res])

    return {"ddp": res[0]["params"], "single": _flat(single), "ranks": stack("params"), "init": stack("init"),
            "ddp_grad": stack("grad"), "local_grad": stack("local_grad"), "no_sync_grad": stack("no_sync_grad"),
            "single_grad": single_grad}


# ----------------------------------------------------------------------------- SyncBN
class _AllReduceSum(torch.autograd.Function):
    """Σ over ranks, differentiable: the gradient of a sum that every rank uses is the Σ of their gradients."""

    @staticmethod
    def forward(ctx, t):
        t = t.clone()
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def _syncbn_worker(rank, world_size, x, momentum, eps, grad_output):
    shard, C = torch.tensor_split(x, world_size)[rank].clone(), x.shape[1]
    dims, shape = [0] + list(range(2, x.dim())), [1, -1] + [1] * (x.dim() - 2)
    torch_error = None
    if world_size > 1:
        try:                                            # torch's own layer, on CPU tensors
            nn.SyncBatchNorm(C).to(x.dtype)(shard)
        except ValueError as err:
            torch_error = str(err)
    shard.requires_grad_(grad_output is not None)
    K = shard.detach().mean(dim=dims)
    dist.broadcast(K, src=0)                            # one shift for every rank: rank 0's mean
    xc = shard - K.reshape(shape)
    local = torch.cat([torch.full((1,), float(shard[:, 0].numel()), dtype=x.dtype), xc.sum(dims), (xc * xc).sum(dims)])
    n, s1, s2 = _AllReduceSum.apply(local).split([1, C, C])   # Σ over ranks of (count, Σ(x-K), Σ(x-K)²)
    d = s1 / n
    mean, var = K + d, s2 / n - d * d
    out = (shard - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    if grad_output is not None:
        out.backward(torch.tensor_split(grad_output, world_size)[rank])   # all-reduces the sums' gradients
    count = int(n.item())
    return {"mean": mean.detach(), "var": var.detach(), "count": count, "running_mean": momentum * mean.detach(),
            "running_var": (1 - momentum) + momentum * var.detach() * count / (count - 1),   # unbiased, as torch
            "out": out.detach(), "grad": shard.grad, "torch_error": torch_error}


def syncbn_stats(x, world_size: int = 2, momentum: float = 0.1, eps: float = 1e-5, grad_output=None,
                 timeout: float = 120.0):
    """SyncBN over ``world_size`` real processes: ``x`` (Tensor[N, C, *], float32/float64, finite, N >=
    world_size) is split along N into ``torch.tensor_split(x, world_size)``, rank r gets shard r, and every
    rank normalizes its shard with the statistics of the whole batch, all-reduced as (count, Σ(x-K),
    Σ(x-K)²) per channel (K = rank 0's mean, broadcast first). A fresh BatchNorm without affine
    parameters (running mean 0, running var 1) is updated once: ``running = (1-momentum)·running +
    momentum·stat``, the unbiased variance for running_var, as torch does. With ``grad_output`` (x's
    shape and dtype), ``out.backward(grad_output)`` runs in every rank on its shard.
    Args: momentum in [0, 1]; eps > 0 finite; timeout (seconds > 0, see :func:`run`).
    Returns: dict with ``"mean"``, ``"var"`` (biased), ``"running_mean"``, ``"running_var"`` (Tensor[C]),
    ``"count"`` (values per channel, int), ``"out"`` (Tensor of x's shape, the ranks' outputs
    concatenated), ``"grad"`` (the same for the input gradient, or None), ``"ranks_agree"`` (bool: every
    rank computed the same statistics) and ``"torch_error"`` (what ``nn.SyncBatchNorm`` raised on these
    CPU tensors in rank 0, or None: not tried for world_size 1)."""
    check_tensor(x, "x", min_ndim=2, kind="float")
    world_size = check_int(world_size, "world_size", 1, MAX_WORLD_SIZE)
    if x.dtype not in _DTYPES:
        raise TypeError(f"x must be float32 or float64 (gloo all-reduces them), got {x.dtype}")
    if x.shape[0] < world_size or x.shape[1] == 0 or x.numel() // max(x.shape[1], 1) < 2:
        raise ValueError(f"x must have at least world_size={world_size} samples, at least 1 channel and more than "
                         f"1 value per channel, got shape {tuple(x.shape)}")
    check_finite(x, "x")
    momentum = check_float(momentum, "momentum", 0.0, 1.0)
    eps = check_float(eps, "eps", 0.0, min_open=True, allow_inf=False)
    if grad_output is not None:
        check_tensor(grad_output, "grad_output", kind="float")
        if grad_output.shape != x.shape or grad_output.dtype != x.dtype:
            raise ValueError(f"grad_output must have x's shape {tuple(x.shape)} and dtype {x.dtype}, got "
                             f"{tuple(grad_output.shape)} and {grad_output.dtype}")
    timeout = _check_timeout(timeout)
    go = None if grad_output is None else grad_output.detach().cpu()
    res = _launch(_syncbn_worker, world_size, (x.detach().cpu(), momentum, eps, go), timeout)
    keys = ("mean", "var", "running_mean", "running_var")
    agree = all(torch.equal(r[k], res[0][k]) for r in res for k in keys)
    out = {k: res[0][k].to(x.device) for k in keys}
    out.update(count=res[0]["count"], out=torch.cat([r["out"] for r in res]).to(x.device), ranks_agree=agree,
               grad=None if grad_output is None else torch.cat([r["grad"] for r in res]).to(x.device),
               torch_error=res[0]["torch_error"])
    return out


# ----------------------------------------------------------------------------- linear scaling rule
def _regression(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64) * torch.tensor([1.0, 0.3], dtype=torch.float64)
    return x, x @ torch.tensor([2.0, -1.0], dtype=torch.float64) + 0.1 * torch.randn(n, generator=g,
                                                                                     dtype=torch.float64)


def _sgd_path(x, y, lr, batch, steps):
    """``steps`` SGD steps on consecutive batches of ``batch`` rows of the loss mean((x·w - y)²)/2, w0 = 0."""
    w = torch.zeros(x.shape[1], dtype=x.dtype)
    for t in range(steps):
        xb, yb = x[t * batch:(t + 1) * batch], y[t * batch:(t + 1) * batch]
        w = w - lr * xb.T @ (xb @ w - yb) / batch
    return w


def _scaling_worker(rank, world_size, lrs, steps, batch, seed):
    x, y = _regression(world_size * steps * batch, seed)
    out = []
    for lr in lrs:
        row = []
        for scale in (world_size, 1):                   # the linear rule, then no scaling
            model = nn.Linear(2, 1, bias=False).double()
            nn.init.zeros_(model.weight)
            ddp = nn.parallel.DistributedDataParallel(model)
            opt = torch.optim.SGD(ddp.parameters(), lr=lr * scale)
            for t in range(steps):                      # step t: rank r takes small batch t·world_size + r
                i = (t * world_size + rank) * batch
                opt.zero_grad()
                (0.5 * F.mse_loss(ddp(x[i:i + batch]).squeeze(1), y[i:i + batch])).backward()
                opt.step()
            row.append(model.weight.detach().reshape(-1).clone())
        out.append(torch.stack(row))
    return torch.stack(out)


def lr_scaling_demo(lrs: Sequence[float] = (0.05, 1.5), world_size: int = 2, steps: int = 4, per_rank_batch: int = 8,
                    seed: int = 0, use_ddp: bool = False, timeout: float = 120.0):
    """The linear scaling rule (Goyal et al. 2017) on least squares, loss mean((x·w - y)²)/2 with 2
    features (scales 1 and 0.3), w0 = 0, float64. With k = ``world_size`` and b = ``per_rank_batch``: the
    small-batch run takes k·steps SGD steps of lr η on consecutive batches of b rows; the large-batch runs
    take ``steps`` steps on batches of k·b rows (the same examples) with lr k·η (the rule) or η (no scaling).
    One large step equals the k small ones when the gradient barely changes over them (k·η·λ small);
    at large η it does not. With ``use_ddp`` the large-batch runs are DistributedDataParallel in
    k gloo processes, each rank on one of the k small batches of every step.
    Args: lrs (non-empty sequence of lr > 0, finite); steps, per_rank_batch (int >= 1); world_size (int in
    [2, MAX_WORLD_SIZE]); seed (int >= 0); use_ddp (bool); timeout (seconds > 0, see :func:`run`).
    Returns: dict of Tensor[L] (one per lr): ``"lr"``, ``"gap_scaled"``, ``"gap_unscaled"`` (‖w_large −
    w_small‖ / ‖w_small − w0‖), Tensor[L, 2]: ``"w_small"``, ``"w_scaled"``, ``"w_unscaled"``, and
    ``"curvature"`` (float: λ_max of the Hessian xᵀx/n of all the examples; GD diverges for lr > 2/λ_max)."""
    if not isinstance(lrs, (list, tuple)):
        raise TypeError(f"lrs must be a list or tuple of learning rates, got {type(lrs).__name__} {lrs!r:.80}")
    if not lrs:
        raise ValueError("lrs must hold at least one learning rate, got an empty sequence")
    lrs = [check_float(v, f"lrs[{i}]", 0.0, min_open=True, allow_inf=False) for i, v in enumerate(lrs)]
    world_size = check_int(world_size, "world_size", 2, MAX_WORLD_SIZE)
    steps = check_int(steps, "steps", 1, 1000)
    per_rank_batch = check_int(per_rank_batch, "per_rank_batch", 1, 4096)
    seed = check_int(seed, "seed", 0)
    use_ddp = check_bool(use_ddp, "use_ddp")
    timeout = _check_timeout(timeout)
    k, b = world_size, per_rank_batch
    x, y = _regression(k * steps * b, seed)
    small = torch.stack([_sgd_path(x, y, lr, b, k * steps) for lr in lrs])
    if use_ddp:
        big = _launch(_scaling_worker, k, (lrs, steps, b, seed), timeout)[0]
        scaled, unscaled = big[:, 0], big[:, 1]
    else:
        scaled = torch.stack([_sgd_path(x, y, lr * k, k * b, steps) for lr in lrs])
        unscaled = torch.stack([_sgd_path(x, y, lr, k * b, steps) for lr in lrs])
    moved = small.norm(dim=1)

    def gap(w):
        return (w - small).norm(dim=1) / moved

    return {"lr": torch.tensor(lrs, dtype=torch.float64), "gap_scaled": gap(scaled), "gap_unscaled": gap(unscaled),
            "w_small": small, "w_scaled": scaled, "w_unscaled": unscaled,
            "curvature": float(torch.linalg.eigvalsh(x.T @ x / len(x))[-1])}

