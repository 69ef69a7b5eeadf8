"""Timing that a busy machine cannot fool: CPU seconds of this process (``time.process_time``, torch on
one thread), rounds interleaved so that a change of load falls on every variant alike, and the minimum
of at least :data:`MIN_ROUNDS` rounds (another process can only add time to a round, never take it
away). Where the rounds spread widely (a loaded machine), more are run, until each variant's minimum
has been met again by :data:`CONFIRMATIONS` rounds within :data:`SETTLED` of it, or
:data:`MAX_ROUNDS_FACTOR` times the rounds asked for have run: a minimum seen once may be the floor
or an accident of the load, a minimum met three times is the floor. Every ratio is printed beside
the load average it was measured under.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np
import torch

__all__ = ["CONFIRMATIONS", "MAX_ROUNDS_FACTOR", "MIN_ROUNDS", "SETTLED", "Timings", "interleaved_min",
           "load_average", "one_thread", "verdict"]

#: Fewest rounds whose minimum a ratio is taken from.
MIN_ROUNDS = 7
#: Rounds (the minimum's own included) that must lie within :data:`SETTLED` of a variant's minimum.
CONFIRMATIONS = 3
#: How close to the minimum a round must be to confirm it (fraction).
SETTLED = 0.02
#: Most rounds run, as a multiple of the rounds asked for, before the minima are taken as they are.
MAX_ROUNDS_FACTOR = 5


def one_thread() -> None:
    """Torch on one thread, so that CPU seconds are the work's and not spinning of idle workers."""
    torch.set_num_threads(1)


def load_average() -> str:
    """The 1-minute load average and the cores, e.g. ``load 1.93/2 cores``."""
    return f"load {os.getloadavg()[0]:.2f}/{os.cpu_count()} cores"


def cpu_seconds(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


class Timings(dict):
    """``{variant: min CPU seconds}``, with ``rounds`` (how many ran), ``settled`` (every minimum
    confirmed, see the module docstring), ``spread`` (``{variant: median / min - 1}``) and ``times``
    (``{variant: [CPU seconds of each round]}``)."""

    rounds: int = 0
    settled: bool = False
    spread: dict[str, float]
    times: dict[str, list[float]]

    def paired(self, a: str, b: str) -> float:
        """The median over rounds of ``a``'s time over ``b``'s in the same round: a second estimate of
        ``self[a] / self[b]`` that a change of load between rounds cannot move (both ran side by side)."""
        ratios = sorted(x / y for x, y in zip(self.times[a], self.times[b], strict=True))
        return ratios[len(ratios) // 2]

    def paired_interval(self, a: str, b: str, level: float = 0.95, resamples: int = 2000) -> tuple[float, float]:
        """A bootstrap interval (percentile, ``level``) of :meth:`paired`, from the rounds resampled
        with a fixed seed: where it holds 1, the two variants' order is within what the rounds can tell."""
        ratios = np.array([x / y for x, y in zip(self.times[a], self.times[b], strict=True)])
        picks = np.random.default_rng(0).integers(0, len(ratios), size=(resamples, len(ratios)))
        medians = np.sort(ratios[picks], axis=1)[:, len(ratios) // 2]  # the median as paired() takes it
        low, high = np.quantile(medians, [(1 - level) / 2, (1 + level) / 2])
        return float(low), float(high)

    def note(self) -> str:
        """``7 rounds, spread 3%`` (the widest variant's), with ``unsettled`` when a minimum was not confirmed."""
        widest = max(self.spread.values(), default=0.0)
        return f"{self.rounds} rounds, spread {widest:.0%}" + ("" if self.settled else ", unsettled")


def interleaved_min(variants: dict[str, Callable[[], object]], rounds: int = MIN_ROUNDS,
                    warmup: int = 1, max_rounds: int | None = None) -> Timings:
    """Each variant's minimum CPU seconds over at least ``rounds`` rounds, each running every variant
    once, the order rotated every round (after ``warmup`` untimed calls of each); rounds go on, up to
    ``max_rounds`` (default ``MAX_ROUNDS_FACTOR * rounds``), until every minimum is confirmed."""
    if rounds < MIN_ROUNDS:
        raise ValueError(f"rounds must be at least {MIN_ROUNDS} (the minimum of fewer is noise), got {rounds}")
    max_rounds = MAX_ROUNDS_FACTOR * rounds if max_rounds is None else max(max_rounds, rounds)
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    names = list(variants)
    seen: dict[str, list[float]] = {name: [] for name in names}
    result = Timings()
    for r in range(max_rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            seen[name].append(cpu_seconds(variants[name]))
        result.rounds = r + 1
        result.settled = all(_confirmed(times) for times in seen.values())
        if result.rounds >= rounds and result.settled:
            break
    result.update({name: min(times) for name, times in seen.items()})
    result.times = seen
    result.spread = {name: sorted(times)[len(times) // 2] / min(times) - 1 for name, times in seen.items()}
    return result


def _confirmed(times: list[float]) -> bool:
    floor = min(times)
    return sum(t <= floor * (1 + SETTLED) for t in times) >= CONFIRMATIONS


def verdict(met: bool, what: str) -> str:
    """The closing line every ratio benchmark prints."""
    return f"{'met' if met else 'NOT met'}: {what}"
