"""How fast a study runs: the torch threads it uses, and where its time goes.

- :func:`torch_threads` runs the study with a given number of torch intra-op threads and restores
  the caller's afterwards (:meth:`~analysis.study.config.StudyConfig.threads_for` chooses them).
- :class:`StageTimes`: wall-clock and CPU seconds per stage, measured in the run itself. The runner
  wraps each stage (data, training per method, evaluate+count per kind of unit, pricing, break-even
  extras, ...) in :meth:`StageTimes.stage`; ``benchmarks/study_time.py`` prints the table. CPU
  seconds are the process's (all its threads): on a machine shared with other work they tell
  whether a slow stage computed more or only waited for a core.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["StageTimes", "torch_threads"]


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the ``with`` body with ``threads`` torch intra-op threads; the caller's count is restored."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class StageTimes:
    """Seconds per named stage, summed over every time the stage ran (in first-run order), and the
    torch threads the run used (``threads``; None until the runner sets it)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.threads: int | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the wall and CPU seconds of the ``with`` body to stage ``name`` (also when it raises)."""
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - wall
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - cpu

    def rows(self) -> list[dict[str, float | str]]:
        """One ``{stage, wall_s, cpu_s}`` per stage, in the order the stages first ran."""
        return [{"stage": name, "wall_s": self.wall[name], "cpu_s": self.cpu[name]} for name in self.wall]
