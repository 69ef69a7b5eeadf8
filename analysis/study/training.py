"""Training: the ANN, its quantized fine-tune (QCFS / clamp-and-quantize), and a BNN of the same shape.

Seeded (``torch.manual_seed`` and a seeded shuffle), with tqdm progress bars. The checkpoint files a
trained network is saved to and read from are :mod:`analysis.study.checkpoint_files` (every name
re-exported here, where the notebooks and older scripts import them).

With ``TrainConfig.patience`` set, training follows the plateau rule (:mod:`~analysis.study.plateau`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from tqdm.auto import tqdm

from analysis.data.common import in_order
from analysis.methods import TrainingKind
from analysis.snn import calibrate_thresholds, to_binary, to_quantized
from analysis.study.checkpoint_files import (
    CheckpointError,
    check_checkpoint_config,
    check_finite_state,
    check_given_weights,
    check_trained_on,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    weights_mismatch,
)
from analysis.study.plateau import PlateauRule, validation_split

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
    # foreach: the update of every parameter in a few batched calls instead of a Python loop over them,
    # the same arithmetic (bitwise the same weights on every method and architecture of the study)
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)
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
