"""Work on a second CPU: a study's architectures (and seeds) are independent of one another until
their tables are joined, and a study runs on one torch thread, so on a machine with a second CPU a
forked helper takes some of them while the study takes the others.

:class:`SharedWork` hands out items (the study's (seed, architecture) pairs) in one order, largest
first (:func:`training_step_seconds` measures each network's training step, the cost everything
else in a study scales with), to whichever of the two processes is free: the longest-first rule
keeps the two busy to the end. What the helper computes goes into the run's cache (trained networks
and units, each written atomically), and the study reads it back as a resumed study would, so the
tables are the same byte for byte. If the helper fails, the study computes what is missing itself,
and any error is raised there, with its reason.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from analysis.study.speed import StageTimes

__all__ = ["Claims", "LaterWork", "SharedWork", "end_with_parent", "second_cpu", "training_step_seconds",
           "warm_before_fork"]

#: Linux's prctl option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


def end_with_parent(parent: int) -> None:
    """In a forked helper: end (SIGTERM) when the study process ``parent`` dies, also by ``kill -9``,
    so that no helper goes on writing into a run folder nobody holds (Linux, where helpers fork)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def second_cpu(device: str, world_size: int = 1) -> bool:
    """Whether a forked helper can work beside this process: Linux (fork), more than one CPU this
    process may run on, a CPU study, and a single study process (no torchrun)."""
    if sys.platform != "linux" or not str(device).startswith("cpu") or world_size > 1:
        return False
    return len(os.sched_getaffinity(0)) > 1


def warm_before_fork() -> None:
    """Make an optimizer once in this process before it forks a helper: a process's first optimizer
    imports ``torch._dynamo`` (about 800 modules, 1.5 CPU s), which each forked helper would
    otherwise pay again; forked after, they inherit it."""
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])


class Claims:
    """Pieces of one item (a trained network, a unit) that the study and its helper may both reach,
    each done once: the first process to :meth:`claim` a piece's name does it (an exclusive file in a
    directory made for this run, removed after it) and the other waits for its result
    (:meth:`wait_for`) instead of computing it again. The study, once it has no item of its own left,
    works on the helper's item from the back (:meth:`~analysis.study.work.StudyWork.item`), so the
    two finish together rather than one waiting for the other; results are read back from the cache,
    as a resumed study reads them, so the tables are the same byte for byte.

    Only the study and the helper claim (:meth:`join`): another forked process (the one training
    ahead) computes what it computes as before. ``timings``: the study's stage timer, whose ``waiting
    for the helper`` stage the waits are added to."""

    WAITING = "waiting for the helper"

    def __init__(self, timings: StageTimes | None = None):
        self.root = Path(tempfile.mkdtemp(prefix="onespike-claims-"))
        self.members = {os.getpid()}
        self.timings = timings if timings is not None else StageTimes()
        #: whether the process that may hold a claim this one waits for still works
        self.other_alive: Callable[[], bool] = lambda: False

    def join(self, other_alive: Callable[[], bool]) -> None:
        """Take part in claiming from this process (the study: ``other_alive`` tells whether the helper
        still works; in the helper, the study outlives it)."""
        self.members.add(os.getpid())
        self.other_alive = other_alive

    def claim(self, name: str) -> bool:
        """True when this process is to do piece ``name`` (first to ask, or not taking part); False when
        the other process has it."""
        if os.getpid() not in self.members:
            return True
        try:
            os.close(os.open(self.root / f"{name}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return True
        except FileExistsError:
            return False

    def wait_for(self, path: Path) -> None:
        """Return once ``path`` (the other process's result) exists, or that process has ended (the
        caller then computes it)."""
        with self.timings.stage(self.WAITING):
            while not path.is_file() and self.other_alive():
                time.sleep(0.02)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class LaterWork:
    """Work a helper process takes on once its own is done: ``run()`` writes the units ``keys`` into
    the run's cache, where the study waits for them (:meth:`~analysis.study.cache.RunCache.expect`)
    instead of computing them again. Q15's event units are such work
    (:func:`~analysis.study.events.events_ahead`)."""

    keys: list[str]
    run: Callable[[], None]


def training_step_seconds(model: nn.Module, images: torch.Tensor, repeats: int = 3) -> float:
    """Median seconds of one training step (forward, backward) of ``model`` on ``images``: what a
    network's training and evaluation time scale with, measured rather than guessed from its size
    (on small images, a deep narrow network costs more than its MACs say)."""
    model.train()
    times = []
    for _ in range(repeats + 1):  # the first call warms up (allocations, lazy initialisation)
        start = time.perf_counter()
        model.zero_grad(set_to_none=True)
        model(images).float().sum().backward()
        times.append(time.perf_counter() - start)
    model.zero_grad(set_to_none=True)
    return statistics.median(times[1:])


class SharedWork:
    """Items ``0..n-1`` worked by this process and a forked helper, each taking the next unclaimed
    item of ``order`` (largest first). The helper runs ``work(i)`` on the items it claims, after
    ``prepare()`` (to silence what only this process may show); this process :meth:`claim` s an item
    before it works on it, and :meth:`wait` s for one the helper took. ``steal(i)``, when given, is
    what the helper does once no item is left: it works on this process's unfinished items from the
    back (``done`` marks the finished ones, whoever finished them), sharing their pieces through
    :class:`Claims`."""

    def __init__(self, order: Sequence[int], work: Callable[[int], None], prepare: Callable[[], None] = lambda: None,
                 steal: Callable[[int], None] | None = None):
        context = multiprocessing.get_context("fork")
        warm_before_fork()
        self.parent = os.getpid()
        self.order = list(order)
        count = max(self.order, default=-1) + 1
        self.claimed = context.Array("b", count)  # 1: someone works (or worked) on it; carries its own lock
        self.done = context.Array("b", count, lock=False)
        self.process = context.Process(target=self._helper, args=(work, prepare, steal), daemon=True,
                                       name="onespike-study-helper")
        self.process.start()

    def claim(self, index: int) -> bool:
        """Claim item ``index`` for the caller; False when the other process has it."""
        with self.claimed.get_lock():
            if self.claimed[index]:
                return False
            self.claimed[index] = 1
            return True

    def _helper(self, work: Callable[[int], None], prepare: Callable[[], None],
                steal: Callable[[int], None] | None) -> None:
        try:
            end_with_parent(self.parent)
            prepare()
            for index in self.order:
                if self.claim(index):
                    work(index)
                    self.done[index] = 1
            for index in self.order if steal is not None else ():
                if not self.done[index]:
                    steal(index)
        except BaseException:
            sys.exit(1)  # the study computes what is missing itself, and raises there with the reason

    def wait(self, index: int) -> None:
        """Return once the helper has finished item ``index``, or has ended (then the study computes
        what is missing)."""
        while not self.done[index] and self.process.is_alive():
            time.sleep(0.05)

    def stop(self) -> None:
        """End the helper (on any exit of the study, also an error)."""
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()
