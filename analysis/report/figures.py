"""Every question's figure drawn into a run's ``figures/`` folder (PNG, and PDF or SVG for a paper:
``formats``), from the question registry. For one figure, or one panel in your own axes::

    from analysis.report import load_run, question
    from analysis.report.energy import panel_breakdown
    run = load_run("reports/quick")
    question("Q5").figure(run, hardware=["sata", "spikesim"])       # a matplotlib Figure
    question("Q8").figure(run, path="q8.pdf")                        # written as a PDF
    summary_figure(run, path="summary", formats="png,pdf")           # the one-page summary, twice
    panel_breakdown(run, ax, hardware="sata")                        # into your own axes
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import signal
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib.pyplot as plt

from analysis.report.plotting import PAGE_WIDTH, figure_formats, save, style
from analysis.report.questions import ordered_questions, question
from analysis.report.summary import SUMMARY_STEM, summary_figure
from analysis.report.tables import RunTables

__all__ = ["MAX_FIGURE_JOBS", "draw_all", "drawing", "figure_jobs", "report_formats"]


def _failed(title: str, exc: Exception, path: Path, formats: tuple[str, ...]) -> plt.Figure:
    with style():
        fig, ax = plt.subplots(figsize=(PAGE_WIDTH, 2.0))
        ax.text(0.5, 0.5, f"{type(exc).__name__}: {exc}"[:300], ha="center", va="center", wrap=True,
                fontsize=8, transform=ax.transAxes)
        ax.set_axis_off()
        fig.suptitle(f"{title}: figure could not be drawn")
        save(fig, path, formats)
    return fig


#: At most this many processes draw figures (each figure is independent; more rarely pays for the fork).
MAX_FIGURE_JOBS = 4
#: What a forked drawing process reads: (run, out_dir, hardware, formats), set only while a pool runs.
_SHARED: dict[str, tuple] = {}


def figure_jobs() -> int:
    """Processes :func:`draw_all` uses by default: the CPUs this process may run on (at most
    :data:`MAX_FIGURE_JOBS`), or 1 where processes cannot be forked (drawing is then serial)."""
    if "fork" not in multiprocessing.get_all_start_methods() or sys.platform != "linux":
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_FIGURE_JOBS, cpus))


def _draw(key: str, run: RunTables, out_dir: Path, hardware, formats: tuple[str, ...] = ("png",)
          ) -> tuple[str, Path]:
    """Draw one figure (``summary`` or a question id) in each of ``formats`` and return ``(key, path
    of the first format)``; a figure that fails to draw is replaced by one that says why."""
    if key == SUMMARY_STEM:
        stem, title = SUMMARY_STEM, "summary"
        draw = lambda: summary_figure(run, out_dir / SUMMARY_STEM, formats)  # noqa: E731
    else:
        entry = question(key)
        stem, title = entry.stem, key
        draw = lambda: entry.figure(run, hardware=hardware, path=out_dir / entry.stem, formats=formats)  # noqa: E731
    try:
        fig = draw()
    except Exception as exc:  # keep the other figures; say in this one what went wrong
        fig = _failed(title, exc, out_dir / stem, formats)
    plt.close(fig)
    return key, out_dir / f"{stem}.{formats[0]}"


def _panels(run: RunTables, key: str, hardware) -> int:
    """How many axes ``key``'s figure draws (the summary counts as many as the largest question)."""
    if key == SUMMARY_STEM:
        return 1_000
    models = len(run.hardware_subset(hardware))
    return sum(models if panel.per_hardware else 1 for panel in question(key).panels)


def _drawer_starts() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # one that came meanwhile ends it now


def drawing_pool(jobs: int) -> multiprocessing.pool.Pool:
    """``jobs`` forked processes to draw figures in. Each takes SIGTERM's default action: the pool ends
    its idle drawers with SIGTERM when the figures are done, and the handler a command inherits to
    them (SIGTERM as an exception, :mod:`analysis.stop`) made each print a traceback as it ended.
    A drawer is forked with SIGTERM blocked until it has dropped that handler: a pool ended before a
    drawer had started (a busy machine) sent it SIGTERM while it still held the inherited one."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # the pool's threads keep it blocked
    try:
        with warnings.catch_warnings():
            # Python >= 3.12 warns on fork from a process with threads; the children draw with
            # matplotlib only and never touch the parent's threads or their locks
            warnings.filterwarnings("ignore", message=r".*fork\(\) may lead to deadlocks", category=DeprecationWarning)
            return multiprocessing.get_context("fork").Pool(jobs, initializer=_drawer_starts)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _draw_shared(key: str) -> tuple[str, Path]:
    return _draw(key, *_SHARED["args"])


def _path(out_dir: Path, key: str, fmt: str = "png") -> Path:
    return out_dir / f"{SUMMARY_STEM if key == SUMMARY_STEM else question(key).stem}.{fmt}"


def report_formats(formats: str | Sequence[str] | None) -> tuple[str, ...]:
    """The formats a report's figures are written in: PNG first (report.md shows the PNG), then the
    others asked for (``"pdf,svg"``: PNG, PDF and SVG)."""
    return tuple(dict.fromkeys(("png", *figure_formats(formats))))


@contextmanager
def drawing(run: RunTables, out_dir: str | os.PathLike, hardware=None, jobs: int | None = None,
            formats: str | Sequence[str] | None = None) -> Iterator[dict[str, Path]]:
    """Draw the summary figure and every question's figure into ``out_dir`` while the ``with``
    body runs, as PNG and each of ``formats`` (:func:`report_formats`); yields ``{id: png path}`` in
    report order (the paths the figures will have; the other formats lie beside them), and
    every figure is drawn when the body ends. ``jobs``: processes drawing at once (None:
    :func:`figure_jobs`); the figures are independent, so on Linux forked processes draw them,
    sharing ``run`` without copying it, while this process goes on (the report's text). With one
    job they are drawn before the body runs. A figure that fails to draw is replaced by one that
    says why, so one bad table never hides the rest."""
    out_dir = Path(out_dir)
    formats = report_formats(formats)
    keys = [SUMMARY_STEM] + [entry.qid for entry in ordered_questions()]
    paths = {key: _path(out_dir, key) for key in keys}
    jobs = figure_jobs() if jobs is None else max(1, min(int(jobs), len(keys)))
    if jobs == 1:
        for key in keys:
            _draw(key, run, out_dir, hardware, formats)
        yield paths
        return
    _SHARED["args"] = (run, out_dir, hardware, formats)
    try:
        with drawing_pool(jobs) as pool:
            # the figures with the most panels first, so that no large one is left for last
            pending = pool.map_async(_draw_shared, sorted(keys, key=lambda k: -_panels(run, k, hardware)),
                                     chunksize=1)
            yield paths
            pending.get()
    finally:
        _SHARED.clear()


def draw_all(run: RunTables, out_dir: str | os.PathLike, hardware=None, jobs: int | None = None,
             formats: str | Sequence[str] | None = None) -> dict[str, Path]:
    """Draw the summary figure (``summary``) and every question's figure (PNG, and each of
    ``formats``) into ``out_dir``; returns ``{id: png path}`` in report order (see :func:`drawing`)."""
    with drawing(run, out_dir, hardware, jobs, formats) as paths:
        return paths
