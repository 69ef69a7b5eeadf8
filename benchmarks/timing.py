"""Timing that a busy machine cannot fool: CPU seconds of this process (``time.process_time``, torch on
one thread), rounds interleaved so that a change of load falls on every variant alike, and the minimum
of at least :data:`MIN_ROUNDS` rounds (another process can only add time to a round, never take it
away). Every ratio is printed beside the load average it was measured under.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import torch

__all__ = ["MIN_ROUNDS", "interleaved_min", "load_average", "one_thread", "verdict"]

#: Fewest rounds whose minimum a ratio is taken from.
MIN_ROUNDS = 7


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


def interleaved_min(variants: dict[str, Callable[[], object]], rounds: int = MIN_ROUNDS,
                    warmup: int = 1) -> dict[str, float]:
    """``{name: min CPU seconds}`` over ``rounds`` rounds, each running every variant once, the
    order rotated every round (after ``warmup`` untimed calls of each)."""
    if rounds < MIN_ROUNDS:
        raise ValueError(f"rounds must be at least {MIN_ROUNDS} (the minimum of fewer is noise), got {rounds}")
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    names = list(variants)
    best = dict.fromkeys(names, float("inf"))
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            best[name] = min(best[name], cpu_seconds(variants[name]))
    return best


def verdict(met: bool, what: str) -> str:
    """The closing line every ratio benchmark prints."""
    return f"{'met' if met else 'NOT met'}: {what}"
