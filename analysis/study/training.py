"""Training: the ANN, its quantized fine-tune (QCFS / clamp-and-quantize), and a BNN of the same shape.

Seeded (``torch.manual_seed`` and a seeded shuffle), with tqdm progress bars, and checkpoints that
carry their config. Checkpoints are loaded with ``torch.load(weights_only=True)``: a file that would
run code when unpickled is refused.

With ``TrainConfig.patience`` set, training follows the plateau rule (:mod:`~analysis.study.plateau`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from tqdm.auto import tqdm

try:
    import resource  # POSIX: the file-size limit a failed write may have hit
except ImportError:  # pragma: no cover - Windows
    resource = None

from analysis.data.common import in_order
from analysis.methods import TrainingKind, method_names
from analysis.run_folder import new_file_mode
from analysis.snn import calibrate_thresholds, to_binary, to_quantized
from analysis.study.config import MAX_STEPS
from analysis.study.hints import input_hint
from analysis.study.plateau import PlateauRule, validation_split
from analysis.validate import check_choice

__all__ = [
    "CheckpointError",
    "TrainConfig",
    "check_checkpoint_config",
    "check_finite_state",
    "check_given_weights",
    "check_trained_on",
    "evaluate",
    "finetune_quantized",
    "load_checkpoint",
    "load_weights",
    "predict",
    "save_checkpoint",
    "train",
    "train_ann",
    "train_bnn",
    "train_for",
    "weights_mismatch",
]


class CheckpointError(ValueError):
    """A checkpoint is missing, unsafe, malformed, or for another architecture."""


@dataclass
class TrainConfig:
    """Optimisation settings. ``epochs`` passes over the training set with Adam and cosine decay."""

    epochs: int = 20
    lr: float = 3e-3
    batch_size: int = 64
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "cpu"
    progress: bool = True
    label_smoothing: float = 0.0
    #: The plateau rule (:mod:`~analysis.study.plateau`): stop once the validation accuracy has not risen by
    #: ``min_delta`` for this many epochs, and keep the best validation epoch's weights; None trains
    #: every epoch on the whole training set.
    patience: int | None = None
    #: The rise in validation accuracy (a fraction) that counts as progress for the plateau rule.
    min_delta: float = 0.01
    #: The share of the training set held out (seeded) to measure the validation accuracy.
    validation_fraction: float = 0.1
    #: Called after every epoch with ``(epoch, loss, accuracy)`` (e.g. a progress bar).
    on_epoch: Callable[[int, float, float], None] | None = field(default=None, repr=False, compare=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if int(self.epochs) < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.patience is not None and int(self.patience) < 1:
            raise ValueError(f"patience must be >= 1 or None, got {self.patience}")
        if not 0 <= self.min_delta < 1:
            raise ValueError(f"min_delta must be a fraction in [0, 1), got {self.min_delta}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must lie strictly between 0 and 1, got {self.validation_fraction}")


def _epoch_batches(dataset: Dataset, batch_size: int, generator: torch.Generator) -> Iterator[tuple[Tensor, ...]]:
    """One epoch of shuffled batches. An in-memory ``TensorDataset`` (digits, CIFAR) is sliced
    directly: a DataLoader would index and re-stack it one sample at a time."""
    if type(dataset) is not TensorDataset:
        yield from DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)
        return
    order = torch.randperm(len(dataset), generator=generator)
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        yield tuple(t[index] for t in dataset.tensors)


def train(model: nn.Module, train_set: Dataset, config: TrainConfig, desc: str = "train") -> list[dict[str, float]]:
    """Train ``model`` in place with cross-entropy; returns one ``{epoch, loss, accuracy}`` per epoch
    run (with ``val_accuracy`` under the plateau rule, :mod:`~analysis.study.plateau`)."""
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, config.epochs))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    validation, plateau = None, None
    if config.patience is not None:
        train_set, validation = validation_split(train_set, config.validation_fraction, config.seed)
        plateau = PlateauRule(config.patience, config.min_delta)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []
    bar = tqdm(range(config.epochs), desc=desc, disable=not config.progress, leave=False)
    for epoch in bar:
        total_loss, correct, seen = 0.0, 0, 0
        for x, y in _epoch_batches(train_set, config.batch_size, generator):
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            loss = loss_fn(logits, y)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        scheduler.step()
        loss_value, accuracy = total_loss / seen, correct / seen
        history.append({"epoch": epoch + 1, "loss": loss_value, "accuracy": accuracy})
        bar.set_postfix(loss=f"{loss_value:.3f}", acc=f"{accuracy:.3f}")
        if config.on_epoch is not None:
            config.on_epoch(epoch + 1, loss_value, accuracy)
        if plateau is not None:
            history[-1]["val_accuracy"] = evaluate(model, validation, device=config.device)
            model.train()
            if plateau.reached(history[-1]["val_accuracy"], model):
                if config.on_epoch is not None:  # the epochs not run still count as done for a progress bar
                    for skipped in range(epoch + 2, config.epochs + 1):
                        config.on_epoch(skipped, loss_value, accuracy)
                break
    if plateau is not None:
        plateau.restore_best(model)
    model.eval()
    return history


@torch.no_grad()
def predict(model: nn.Module, dataset: Dataset, batch_size: int = 256, device: str = "cpu",
            dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, labels)`` of ``model`` (eval mode) over ``dataset``, in order."""
    model.eval().to(device)
    outs, labels = [], []
    for x, y in in_order(dataset, batch_size):
        x = x.to(device)
        if dtype is not None:
            x = x.to(dtype)
        outs.append(model(x).cpu())
        labels.append(y)
    return torch.cat(outs), torch.cat(labels)


def evaluate(model: nn.Module, dataset: Dataset, batch_size: int = 256, device: str = "cpu") -> float:
    """Top-1 accuracy of ``model`` on ``dataset`` (a fraction in [0, 1])."""
    logits, labels = predict(model, dataset, batch_size, device)
    return float((logits.argmax(1) == labels).float().mean())


def _calibration_batch(dataset: Dataset, n: int = 512) -> torch.Tensor:
    x, _ = next(in_order(dataset, n))
    return x


def train_ann(model: nn.Module, train_set: Dataset, config: TrainConfig) -> list[dict[str, float]]:
    """Train the full-precision ANN in place."""
    return train(model, train_set, config, desc="ANN")


def finetune_quantized(
    ann: nn.Module, train_set: Dataset, levels: int, kind: str, config: TrainConfig
) -> tuple[nn.Module, list[dict[str, float]]]:
    """Quantize ``ann`` (thresholds calibrated on the training data) and fine-tune it.

    Returns the new quantized ANN; ``ann`` is not modified.
    """
    qann = to_quantized(ann, levels, kind, calibration_data=_calibration_batch(train_set).to(config.device))
    history = train(qann, train_set, config, desc=f"{kind.upper()} L={levels}")
    return qann, history


def train_for(training: TrainingKind | str, model: nn.Module, train_set: Dataset, config: TrainConfig) -> nn.Module:
    """Train ``model`` (built by the method registry from its parent) by the method's
    :class:`~analysis.methods.TrainingKind`: a full-precision or binary network is trained as it is;
    a quantized one first calibrates every quantizer's threshold on training data, then fine-tunes.
    Returns ``model`` (trained in place)."""
    kind = TrainingKind.parse(training, "training kind")
    if kind is TrainingKind.QUANTIZED:
        calibrate_thresholds(model, _calibration_batch(train_set).to(config.device))
    train(model, train_set, config, desc=str(kind))
    return model


def train_bnn(ann: nn.Module, train_set: Dataset, config: TrainConfig) -> tuple[nn.Module, list[dict[str, float]]]:
    """A BNN of ``ann``'s shape (see :func:`analysis.snn.to_binary`), trained from its weights."""
    bnn = to_binary(ann)
    history = train(bnn, train_set, config, desc="BNN")
    return bnn, history


# -- checkpoints -------------------------------------------------------------------------------
def save_checkpoint(path: str | os.PathLike, model: nn.Module, config: Mapping[str, Any]) -> Path:
    """Write ``{"state_dict", "config_json"}`` atomically (temporary file, then rename).

    ``config`` must be JSON-serialisable; it should name the ``arch`` so loading can check it. A
    write that fails (a full disk, a file-size limit) is an ``OSError`` naming the file and the
    cause, and leaves no partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config_json": json.dumps(dict(config), sort_keys=True, default=_json_default),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.chmod(tmp, new_file_mode())  # the umask's permissions, as every file of the run (not mkstemp's 0600)
        os.replace(tmp, path)
    except (RuntimeError, OSError) as exc:  # torch reports a failed write as a RuntimeError
        size = sum(v.numel() * v.element_size() for v in payload["state_dict"].values())
        raise OSError(f"cannot write checkpoint {str(path)!r} ({size / 1e6:.3g} MB): "
                      f"{_write_failure(exc, path.parent, size)}; free disk space (or raise the file-size limit, "
                      "`ulimit -f`) and rerun: the study resumes") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _write_failure(exc: BaseException, folder: Path, size: int) -> str:
    """Why a write of ``size`` bytes into ``folder`` failed, in a few words: the file-size limit, a
    full disk, or the system's own reason (torch's message is a C++ assertion)."""
    if resource is not None:
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and limit < size * 1.1:
            return f"the file-size limit (ulimit -f) is {limit / 1e6:.3g} MB"
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < size * 1.1:
        return f"the disk holding {str(folder)!r} has {free / 1e6:.3g} MB free"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"torch.save failed ({' '.join(str(exc).split())[:200]})"


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"checkpoint config value {obj!r} is not JSON-serialisable")


def _few(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def weights_mismatch(model: nn.Module, state: Mapping[str, Any]) -> str | None:
    """Why ``state`` does not fit ``model``, in one line (missing keys, unexpected keys, shapes),
    or None when it fits."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {list(state[k].shape)} in the checkpoint vs {list(own[k].shape)} in the model"
              for k in own if k in state and isinstance(state[k], torch.Tensor) and state[k].shape != own[k].shape]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s) {_few(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s) {_few(unexpected)}")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatch(es): {'; '.join(shapes[:3])}" + (" ..." if len(shapes) > 3 else ""))
    return "; ".join(parts) or None


def load_weights(model: nn.Module, state: Mapping[str, Any], source: str, what: str = "this model") -> nn.Module:
    """Load ``state`` into ``model``; a :class:`CheckpointError` naming ``source``, ``what`` and
    every mismatch (missing and unexpected keys, shapes) when it does not fit."""
    problem = weights_mismatch(model, state)
    if problem is None:
        try:
            model.load_state_dict(state)
            return model
        except RuntimeError as exc:
            problem = " ".join(str(exc).split())
    raise CheckpointError(f"{source} does not fit {what}: {problem}{input_hint(model, state)}")



def check_finite_state(state: Mapping[str, Any], source: str) -> None:
    """A :class:`CheckpointError` naming the tensors of ``state`` that hold NaN or Inf values."""
    bad = [(k, int((~torch.isfinite(v)).sum())) for k, v in state.items()
           if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        listed = ", ".join(f"{k!r} ({n})" for k, n in bad[:4]) + (f" (+{len(bad) - 4} more)" if len(bad) > 4 else "")
        raise CheckpointError(f"{source} holds NaN/Inf weights in {len(bad)} tensor(s): {listed}; training from it "
                              "would only spread them: give weights saved before the run diverged")
    negative = [(k, float(v.min())) for k, v in state.items() if str(k).endswith("running_var")
                and isinstance(v, torch.Tensor) and v.is_floating_point() and v.numel() and bool((v < 0).any())]
    if negative:
        key, low = negative[0]
        raise CheckpointError(f"{source}: batch norm {key!r} holds a negative variance ({low:.4g}; {len(negative)} "
                              "tensor(s) in all), which no training writes: the file is damaged or was edited; give "
                              "the weights as training saved them")


def check_given_weights(state: Mapping[str, Any], meta: Mapping[str, Any], data: str, source: str) -> None:
    """:func:`check_finite_state` and :func:`check_trained_on` of a checkpoint a user gave."""
    check_finite_state(state, source)
    check_trained_on(meta, data, source)


def check_trained_on(meta: Mapping[str, Any], data: str, source: str) -> None:
    """A :class:`CheckpointError` when a checkpoint records that it was trained on another data set
    than ``data`` (its input size and classes would not fit), naming the ``--data`` to pass."""
    recorded = meta.get("input") if isinstance(meta.get("input"), Mapping) else {}
    if recorded.get("data") and recorded["data"] != data:
        size = "×".join(str(recorded.get(k, "?")) for k in ("in_channels", "image_size", "image_size"))
        raise CheckpointError(f"{source} was trained on {recorded['data']} ({size} images, "
                              f"{recorded.get('num_classes', '?')} classes), not {data}: pass --data "
                              f"{recorded['data']} (and --data-root DIR)")


def check_checkpoint_config(config: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The checkpoint's recorded config, checked key by key against the bounds the command line
    itself enforces: ``arch`` and ``model`` strings, ``method`` a registered name, ``levels`` an
    integer in [1, MAX_STEPS], ``options`` an object. A crafted value is named, never used."""
    config = dict(config)
    for key in ("arch", "model"):
        if key in config and config[key] is not None and not (isinstance(config[key], str) and config[key]):
            raise CheckpointError(f"{source}: its recorded {key!r} must be a name, got {config[key]!r}")
    if "method" in config:
        check_choice(f"{source}: its recorded 'method'", config["method"], method_names(), error=CheckpointError)
    if "levels" in config:
        levels = config["levels"]
        if isinstance(levels, bool) or not isinstance(levels, int) or not 1 <= levels <= MAX_STEPS:
            raise CheckpointError(f"{source}: its recorded 'levels' must be an integer in [1, {MAX_STEPS}], got "
                                  f"{levels!r}")
    if "options" in config and not isinstance(config["options"], dict):
        raise CheckpointError(f"{source}: its recorded 'options' must be an object, got "
                              f"{type(config['options']).__name__}")
    return config


def load_checkpoint(
    path: str | os.PathLike, model: nn.Module | None = None, expected_arch: str | None = None,
    expected_method: str | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load ``(state_dict, config)`` with ``weights_only=True``; optionally into ``model``.

    Raises :class:`CheckpointError` when the file is missing (or a folder), would execute code, is
    not one of our checkpoints, records a malformed config (:func:`check_checkpoint_config`), was
    saved for another architecture than ``expected_arch`` or another method than
    ``expected_method``, or does not fit ``model`` (the error lists the keys and shapes).
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is a folder; give the checkpoint file in it")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError and others: say what it means
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be loaded safely with weights_only=True "
            f"(it is corrupt or holds objects other than tensors and plain data): {type(exc).__name__}"
        ) from None
    if not isinstance(payload, dict) or "state_dict" not in payload or "config_json" not in payload:
        raise CheckpointError(
            f"{str(path)!r} is not a OneSpike Study checkpoint (expected keys 'state_dict' and 'config_json'; "
            "write one with analysis.study.training.save_checkpoint)"
        )
    try:
        config = json.loads(payload["config_json"]) if isinstance(payload["config_json"], str) else None
    except json.JSONDecodeError:
        config = None
    if not isinstance(config, dict):
        raise CheckpointError(f"checkpoint {str(path)!r}: its 'config_json' must be a JSON object (arch, method, "
                              "levels, options); rewrite it with analysis.study.training.save_checkpoint")
    config = check_checkpoint_config(config, f"checkpoint {str(path)!r}")
    if expected_arch is not None and config.get("arch") != expected_arch:
        raise CheckpointError(
            f"checkpoint {str(path)!r} was saved for architecture {config.get('arch')!r}, not {expected_arch!r}"
        )
    if expected_method is not None and config.get("method") != expected_method:
        raise CheckpointError(
            f"checkpoint {str(path)!r} records method {config.get('method')!r}, not {expected_method!r}: it holds "
            "another method's network"
        )
    state = payload["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {str(path)!r}: its 'state_dict' must be a dict of tensors")
    if model is not None:
        load_weights(model, state, f"checkpoint {str(path)!r}",
                     f"this model ({config.get('arch')!r}, method {config.get('method')!r})")
    return state, config
