"""Helpers shared by the rule families."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch
from torch import Tensor, nn

from analysis.counting.nonzero import NonzeroMaps, nonzero_map
from analysis.counting.signals import Signal
from analysis.snn.neurons import is_power_of_two


def shift_or_mul(factor: float) -> str:
    """A scaling by a power of two is a shift; anything else a multiplication."""
    return "shift" if is_power_of_two(float(factor)) else "mul"


#: A signal's per-step form: an explicit ``[S, B, ...]`` tensor, or a zero-argument function that
#: streams the ``[B, ...]`` maps one step at a time (one-pass OneSpike: computed group by group).
PerStep = Tensor | Callable[[], Iterable[Tensor]]


def steps_of(per_step: PerStep) -> Iterator[Tensor]:
    """A signal's per-step maps one at a time (a lazy form computes each when it is reached, so a
    rule's memory does not grow with the steps or groups)."""
    return iter(per_step()) if callable(per_step) else iter(per_step.unbind(0))


def lazy_apply(module: nn.Module, per_step: PerStep) -> Callable[[], Iterator[Tensor]]:
    """Apply a stateless layer to each step of a (lazy) per-step form, only if a rule asks for it."""

    def compute() -> Iterator[Tensor]:
        return (module(p) for p in steps_of(per_step))

    return compute


def count_map(x: Tensor, sig: Signal) -> Tensor:
    """The spike count per element summed over the steps/groups (the tensor itself in one-pass;
    summed from the per-step maps, one at a time, when the tensor is a weighted sum)."""
    if sig.weighted and sig.per_step is not None:
        counts = None
        for p in steps_of(sig.per_step):
            counts = p.clone() if counts is None else counts.add_(p)
        return counts if counts is not None else torch.zeros_like(x)
    return x


def nonzero_sums(x: Tensor, sig: Signal, maps: NonzeroMaps | None = None) -> Tensor:
    """Non-zero entries per position (:func:`~analysis.counting.nonzero.nonzero_map`) summed over
    the steps/groups where non-zero entries are per step (pooled spikes of a one-pass sum: each
    group's map in turn), else of ``x`` itself (from the count's shared ``maps`` when given)."""
    if not sig.stepped and sig.steps > 1 and sig.per_step is not None:
        total = None
        for p in steps_of(sig.per_step):
            found = nonzero_map(p).to(torch.int64)
            total = found if total is None else total.add_(found)
        return total if total is not None else nonzero_map(x)
    return maps.of(x) if maps is not None else nonzero_map(x)
