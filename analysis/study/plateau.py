"""The plateau rule: train until the validation accuracy stops rising, within a cap.

A seeded ``fraction`` of the training set is held out (:func:`validation_split`); after every epoch
the network is evaluated on it, and training stops once the validation accuracy has not risen by at
least ``min_delta`` over its reference (the last epoch that did rise so) for ``patience`` epochs in
a row, or at the cap of epochs. The network keeps the weights of its best validation epoch
(:class:`PlateauRule`). The same seed gives the same split, the same order and the same stopping
epoch. :func:`analysis.study.training.train` applies it when ``TrainConfig.patience`` is set.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

__all__ = ["PlateauRule", "validation_split"]


def validation_split(dataset: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """``(fit, validation)``: a seeded random ``fraction`` of ``dataset`` held out (at least one
    sample, and at least one left to fit on)."""
    n = len(dataset)
    if n < 2:
        raise ValueError(f"the plateau rule holds out a validation set, but the training set has {n} sample(s); "
                         "give more data or train without it (patience=None)")
    held = min(n - 1, max(1, round(n * fraction)))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    fit, validation = order[held:].sort().values, order[:held].sort().values
    if type(dataset) is TensorDataset:  # in memory: index the tensors once
        return (TensorDataset(*(t[fit] for t in dataset.tensors)),
                TensorDataset(*(t[validation] for t in dataset.tensors)))
    return Subset(dataset, fit.tolist()), Subset(dataset, validation.tolist())


class PlateauRule:
    """The plateau rule (module docstring) over one training: :meth:`reached` takes each epoch's
    validation accuracy and says when to stop; it keeps the best epoch's weights (a tie keeps the
    later, longer-trained epoch) for :meth:`restore_best`."""

    def __init__(self, patience: int, min_delta: float):
        self.patience, self.min_delta = patience, min_delta
        self.reference = -1.0  # the accuracy a rise is measured from
        self.best, self.best_state = -1.0, None
        self.stale = 0

    def reached(self, accuracy: float, model: nn.Module) -> bool:
        """Record one epoch's validation ``accuracy``; True when training should stop."""
        if accuracy >= self.best:
            self.best = accuracy
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if accuracy >= self.reference + self.min_delta:
            self.reference, self.stale = accuracy, 0
        else:
            self.stale += 1
        return self.stale >= self.patience

    def restore_best(self, model: nn.Module) -> None:
        """Load the best validation epoch's weights into ``model`` (nothing when no epoch ran)."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
