"""Helpers shared by the rule families."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from analysis.counting.signals import Signal
from analysis.snn.neurons import is_power_of_two


def shift_or_mul(factor: float) -> str:
    """A scaling by a power of two is a shift; anything else a multiplication."""
    return "shift" if is_power_of_two(float(factor)) else "mul"


def resolve(per_step: Tensor | Callable[[], Tensor]) -> Tensor:
    """A signal's per-step form, computed now if it was left lazy (one-pass OneSpike)."""
    return per_step() if callable(per_step) else per_step


def lazy_apply(module: nn.Module, per_step: Tensor | Callable[[], Tensor], shape: torch.Size) -> Callable[[], Tensor]:
    """Apply a stateless layer to each step of a (lazy) per-step tensor, only if a rule asks for it."""

    def compute() -> Tensor:
        p = resolve(per_step)
        return module(p.flatten(0, 1)).reshape(p.shape[0], *shape)

    return compute


def count_map(x: Tensor, sig: Signal) -> Tensor:
    """The spike count per element summed over the steps/groups (the tensor itself in one-pass)."""
    if sig.weighted and sig.per_step is not None:
        return resolve(sig.per_step).sum(dim=0)
    return x


def nonzero_stepped(x: Tensor, sig: Signal) -> Tensor:
    """The tensor with an explicit step axis where non-zero entries are per step (pooled spikes)."""
    if not sig.stepped and sig.steps > 1 and sig.per_step is not None:
        return resolve(sig.per_step)
    return x
