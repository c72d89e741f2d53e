"""Chapter 13's small real model: a CNN on scikit-learn's handwritten digits (8×8 images, 1,797 samples),
trained on the CPU in seconds, then pruned, quantized and deployed by the rest of ``cvbook_lib.compress``.

- :func:`load_digits_split`: the data, scaled to [0, 1], split with stratification (offline: the set ships
  with scikit-learn).
- :class:`DigitsCNN`: three 3×3 conv-BN-ReLU blocks, a max pool, global average pooling and a linear layer,
  as one ``nn.Sequential`` so that channel pruning (``prune_channels``) can follow its chains.
- :func:`train` (optionally keeping pruning masks and adding a penalty) and :func:`accuracy`.
- :func:`ptq_int8` and :func:`qat_int8`: post-training quantization and quantization-aware training
  (Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
  Inference", arXiv 1712.05877) with ``torch.ao.quantization``'s eager mode.

``torch.ao.quantization`` still works in torch 2.14 but warns on every call that it is deprecated in favour
of torchao (https://github.com/pytorch/ao/issues/2259), which this book does not install. The two
quantization functions silence exactly those warnings (and the observers' ``reduce_range`` notice) inside
themselves; everything else is left alone.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.ao.quantization as tq
from torch import nn

from .._checks import _short, check_bool, check_choice, check_float, check_int, check_tensor
from ..losses import cross_entropy
from ..optim import Adam

__all__ = ["load_digits_split", "DigitsCNN", "train", "accuracy", "ptq_int8", "qat_int8"]

_BACKENDS = ("x86", "fbgemm", "qnnpack", "onednn")
_FLOAT_LAYERS = (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.Flatten)
_FLOAT_LAYERS += (nn.Identity, nn.Sequential, tq.QuantStub, tq.DeQuantStub)


def load_digits_split(
    seed: int = 0, test_size: float = 0.3
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's digits (1,797 grey 8×8 images with values 0..16, ten classes) divided by 16, split by
    ``sklearn.model_selection.train_test_split(..., stratify=y, random_state=seed)``.

    Returns: (x_train Tensor[N_train, 1, 8, 8] float32 in [0, 1], y_train Tensor[N_train] int64,
    x_test Tensor[N_test, 1, 8, 8], y_test Tensor[N_test]); N_test = ceil(test_size · 1797) (540 at 0.3).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    seed = check_int(seed, "seed", 0, 2**32 - 1)
    test_size = check_float(test_size, "test_size", 0.0, 1.0, min_open=True, max_open=True)
    data = load_digits()
    x, y = data.images.astype("float32") / 16.0, data.target.astype("int64")
    if not 10 <= round(test_size * len(y)) <= len(y) - 10:
        raise ValueError(
            f"test_size must leave at least one sample of each of the 10 classes on both sides, got {test_size!r}"
        )
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    as_x = lambda a: torch.from_numpy(a).unsqueeze(1).contiguous()  # [N, 1, 8, 8]
    return as_x(x_tr), torch.from_numpy(y_tr), as_x(x_te), torch.from_numpy(y_te)


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class DigitsCNN(nn.Sequential):
    """``quant → features → classifier → dequant``, for x (Tensor[N, 1, 8, 8]) → logits Tensor[N, 10]:

    - ``features``: conv3×3(1→w)-BN-ReLU, conv3×3(w→2w)-BN-ReLU, max pool 2 (8×8 → 4×4), conv3×3(2w→2w)-BN-ReLU
      (convs without bias: the BN's shift replaces it), indices 0..9;
    - ``classifier``: global average pooling, flatten, linear(2w → 10).

    With ``width=16``: 14,458 parameters. ``quant`` and ``dequant`` are ``QuantStub``/``DeQuantStub`` when
    ``quantizable=True`` and ``nn.Identity`` otherwise (same ``state_dict`` either way; :func:`ptq_int8`
    swaps the stubs in on a copy). Being one ``nn.Sequential`` (nested), every conv's output channels can be
    followed to their consumer, as ``prune_channels(model, "features.3", keep)`` needs.
    """

    def __init__(self, width: int = 16, quantizable: bool = False):
        w = check_int(width, "width", 1)
        quantizable = check_bool(quantizable, "quantizable")
        features = nn.Sequential(*_block(1, w), *_block(w, 2 * w), nn.MaxPool2d(2), *_block(2 * w, 2 * w))
        classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * w, 10))
        stubs = (tq.QuantStub(), tq.DeQuantStub()) if quantizable else (nn.Identity(), nn.Identity())
        super().__init__(OrderedDict(quant=stubs[0], features=features, classifier=classifier, dequant=stubs[1]))

    def fuse_for_quantization(self) -> DigitsCNN:
        """Fuse every (Conv2d, BatchNorm2d, ReLU) of ``features`` in place with
        ``torch.ao.quantization.fuse_modules`` (eval mode: BN folded into the conv) or ``fuse_modules_qat``
        (training mode: BN kept inside the fused module for QAT). Returns ``self``."""
        names = list(self.features._modules)
        mods = list(self.features.children())
        groups = [
            [f"features.{n}" for n in names[i : i + 3]]
            for i in range(len(mods) - 2)
            if isinstance(mods[i], nn.Conv2d)
            and isinstance(mods[i + 1], nn.BatchNorm2d)
            and isinstance(mods[i + 2], nn.ReLU)
        ]
        fuse = tq.fuse_modules_qat if self.training else tq.fuse_modules
        with _quiet_ao():
            fuse(self, groups, inplace=True)
        return self


# ----------------------------------------------------------------------------- training and evaluation
def _check_data(model, x, y) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__} {_short(model)}")
    check_tensor(x, "x", min_ndim=2, kind="float")
    check_tensor(y, "y", ndims=(1,), kind="int")
    if y.shape[0] != x.shape[0] or x.shape[0] == 0:
        raise ValueError(
            f"x and y must have the same non-zero first dimension, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.device != y.device:
        raise ValueError(f"x and y must be on the same device, got {x.device} and {y.device}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x must be finite, got a tensor with NaN or inf")
    flags = {m: m.training for m in model.modules()}
    model.eval()  # a probe that changes nothing: no BN statistics, no gradient
    try:
        with torch.no_grad(), _quiet_ao():
            probe = model(x[:1])
    except Exception as err:  # noqa: BLE001 - the model's own error, named after the argument
        raise ValueError(f"model cannot take x of shape {tuple(x.shape)} ({x.dtype}): {err}") from err
    finally:
        for m, flag in flags.items():
            m.training = flag
    if probe.dim() != 2:
        raise ValueError(f"model must return logits Tensor[N, classes], got shape {tuple(probe.shape)}")
    if int(y.min()) < 0 or int(y.max()) >= probe.shape[1]:
        raise ValueError(
            f"y must hold class indices in [0, {probe.shape[1]}), got values in [{int(y.min())}, {int(y.max())}]"
        )


def _check_masks(model: nn.Module, masks) -> dict:
    if masks is None:
        return {}
    if not isinstance(masks, dict):
        raise TypeError(f"masks must be a dict {{parameter name: mask}} or None, got {type(masks).__name__}")
    params = dict(model.named_parameters())
    out = {}
    for name, mask in masks.items():
        if name not in params:
            raise ValueError(f"masks names {name!r}, which is not a parameter of model; parameters: {list(params)}")
        check_tensor(mask, f"masks[{name!r}]", kind="real" if mask.dtype != torch.bool else "bool")
        if mask.shape != params[name].shape:
            raise ValueError(
                f"masks[{name!r}] must have the parameter's shape {tuple(params[name].shape)}, got {tuple(mask.shape)}"
            )
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError(f"masks[{name!r}] must hold only 0 and 1")
        out[name] = (params[name], mask.to(params[name].device, params[name].dtype))
    return out


def _fit(model, x, y, epochs, lr, batch_size, seed, masks, penalty, params=None) -> dict:
    """The training loop behind :func:`train`, :func:`qat_int8` and ``misc_lab.fine_tune`` (arguments already
    checked; ``params``: Adam's parameters or parameter groups, default all of the model's)."""
    opt = Adam(model.parameters() if params is None else params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}

    def apply_masks():
        with torch.no_grad():
            for p, m in masks.values():
                p.mul_(m)

    apply_masks()
    model.train()
    for _ in range(epochs):
        perm, total, right = torch.randperm(len(x), generator=gen).to(x.device), 0.0, 0
        for i in range(0, len(x), batch_size):
            idx = perm[i : i + batch_size]
            logits = model(x[idx])
            loss = cross_entropy(logits, y[idx])
            objective = loss if penalty is None else loss + penalty(model)
            opt.zero_grad()
            objective.backward()
            opt.step()
            apply_masks()  # pruned weights stay exactly 0 (Adam's moments would revive them)
            total += loss.detach().item() * len(idx)
            right += int((logits.argmax(1) == y[idx]).sum())
        history["loss"].append(total / len(x))
        history["accuracy"].append(right / len(x))
    return history


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    masks: dict | None = None,
    penalty: Callable | None = None,
) -> dict:
    """Train ``model`` in place with Adam (cvbook_lib.optim) on the cross-entropy, shuffled mini-batches drawn
    by a generator seeded with ``seed``.

    x (Tensor[N, 1, 8, 8] float); y (Tensor[N] int64 class indices). masks ({parameter name: Tensor of its
    shape with 0/1}): applied before training and again after every optimizer step, so pruned weights stay 0
    while the rest is fine-tuned. penalty (callable model → scalar tensor, e.g. ``lambda m: 1e-3 *
    bn_l1_penalty(m)``): added to the loss that is minimized (the reported loss excludes it).

    Returns: {"loss": [mean training cross-entropy per epoch], "accuracy": [training accuracy per epoch]}
    (measured on the batches in training mode). The model is left in training mode.
    """
    _check_data(model, x, y)
    epochs, batch_size = check_int(epochs, "epochs", 1), check_int(batch_size, "batch_size", 1)
    lr = check_float(lr, "lr", 0.0, min_open=True, allow_inf=False)
    seed = check_int(seed, "seed", 0, 2**63 - 1)
    if penalty is not None and not callable(penalty):
        raise TypeError(f"penalty must be a callable model -> scalar tensor or None, got {type(penalty).__name__}")
    masks = _check_masks(model, masks)
    return _fit(model, x.contiguous(), y, epochs, lr, batch_size, seed, masks, penalty)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``argmax(model(x)) == y`` in eval mode without gradients, in batches of 512; the model's
    training flags are restored. x (Tensor[N, 1, 8, 8] float), y (Tensor[N] int64)."""
    _check_data(model, x, y)
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad(), _quiet_ao():
            right = sum(int((model(x[i : i + 512]).argmax(1) == y[i : i + 512]).sum()) for i in range(0, len(x), 512))
    finally:
        for m, flag in flags.items():
            m.training = flag
    return right / len(x)


# ----------------------------------------------------------------------------- int8 with torch.ao.quantization
@contextlib.contextmanager
def _quiet_ao():
    """Silence torch.ao.quantization's deprecation notices (and only those) while it runs."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="Please use quant_min and quant_max", category=UserWarning)
        warnings.filterwarnings(
            "ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel", category=UserWarning
        )
        yield


def _prepare(model, backend: str, qat: bool) -> DigitsCNN:
    if not isinstance(model, DigitsCNN):
        raise TypeError(f"model must be a DigitsCNN (quantizable or not), got {type(model).__name__}")
    if any(type(m) not in _FLOAT_LAYERS for m in list(model.modules())[1:]):  # exact types: fused ones subclass
        raise ValueError("model must be a float DigitsCNN (not an already fused, prepared or quantized one)")
    if any(t.device.type != "cpu" for t in [*model.parameters(), *model.buffers()]):
        raise ValueError("model must be on the CPU: torch's int8 eager-mode kernels run on the CPU only")
    backend = check_choice(backend, "backend", _BACKENDS)
    if backend not in torch.backends.quantized.supported_engines:
        raise ValueError(
            f"backend={backend!r} is not available in this torch build; available: "
            f"{torch.backends.quantized.supported_engines}"
        )
    m = copy.deepcopy(model).train(qat)
    m.quant, m.dequant = tq.QuantStub(), tq.DeQuantStub()  # same places in the Sequential
    m.fuse_for_quantization()
    m.qconfig = tq.get_default_qat_qconfig(backend) if qat else tq.get_default_qconfig(backend)
    torch.backends.quantized.engine = backend  # the packed int8 weights run on this engine
    (tq.prepare_qat if qat else tq.prepare)(m, inplace=True)
    return m


def ptq_int8(model: DigitsCNN, calibration_x: torch.Tensor, backend: str = "x86") -> DigitsCNN:
    """Post-training static int8 quantization with ``torch.ao.quantization`` (eager mode) of a copy of
    ``model``: QuantStub/DeQuantStub swapped in, conv-BN-ReLU fused (BN folded), the backend's default
    qconfig (x86: per-channel symmetric int8 weights; uint8 activations calibrated by a histogram observer
    with ``reduce_range``, i.e. 7 bits 0..127, against overflow in the u8×s8 kernels), one pass of
    ``calibration_x`` (Tensor[N, 1, 8, 8], in batches of 256) through the observers, then ``convert``.

    Sets ``torch.backends.quantized.engine = backend`` (the int8 model's packed weights need that engine).
    Returns: the int8 model in eval mode (input and output float; ``model`` is unchanged).
    """
    check_tensor(calibration_x, "calibration_x", ndims=(4,), kind="float")
    if calibration_x.shape[0] == 0 or not bool(torch.isfinite(calibration_x).all()):
        raise ValueError(f"calibration_x must be non-empty and finite, got {_short(calibration_x)}")
    if calibration_x.device.type != "cpu":
        raise ValueError(f"calibration_x must be on the CPU (int8 eager mode is CPU-only), got {calibration_x.device}")
    if calibration_x.dtype != torch.float32:
        raise TypeError(f"calibration_x must be float32 (the model's dtype), got {calibration_x.dtype}")
    with _quiet_ao():
        m = _prepare(model, backend, qat=False)
        try:
            with torch.no_grad():
                for i in range(0, len(calibration_x), 256):
                    m(calibration_x[i : i + 256])
        except RuntimeError as err:
            raise ValueError(f"model cannot take calibration_x of shape {tuple(calibration_x.shape)}: {err}") from err
        return tq.convert(m.eval(), inplace=True)


def qat_int8(
    model: DigitsCNN,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int = 2,
    lr: float = 1e-4,
    seed: int = 0,
    backend: str = "x86",
    batch_size: int = 64,
) -> DigitsCNN:
    """Quantization-aware training (Jacob et al. 2018) of a copy of ``model``: stubs swapped in, conv-BN-ReLU
    fused for QAT (BN still updating), the backend's default QAT qconfig (fake quantization of weights and
    activations with moving-average min-max ranges, straight-through gradients), ``epochs`` of :func:`train`'s
    loop on (x, y) with ``lr``, ``batch_size`` and ``seed``, then ``convert`` to int8 in eval mode.

    x (Tensor[N, 1, 8, 8] float32), y (Tensor[N] int64). Sets ``torch.backends.quantized.engine = backend``.
    Returns: the int8 model in eval mode (``model`` is unchanged).
    """
    _check_data(model, x, y)
    if x.dtype != torch.float32 or x.device.type != "cpu":
        raise TypeError(f"x must be a float32 CPU tensor (int8 eager mode is CPU-only), got {x.dtype} on {x.device}")
    epochs, batch_size = check_int(epochs, "epochs", 1), check_int(batch_size, "batch_size", 1)
    lr = check_float(lr, "lr", 0.0, min_open=True, allow_inf=False)
    seed = check_int(seed, "seed", 0, 2**63 - 1)
    with _quiet_ao():
        m = _prepare(model, backend, qat=True)
        _fit(m, x.contiguous(), y, epochs, lr, batch_size, seed, {}, None)
        return tq.convert(m.eval(), inplace=True)
