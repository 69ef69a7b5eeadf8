"""The one question registry: for each reviewer question its id, title, verdict, figure (a tuple of
panels), answer, caption and reading note. The question modules register themselves; markdown and
figures only walk this registry.

A question's ``verdict(run)`` returns its :class:`~analysis.report.verdict.Verdict` (the quotable
sentence and the hardware-dependent claims behind it; cheap, so the sensitivity section can call it
once per alternative pricing); ``answer(run)`` returns the :class:`Answer` the report prints: the
verdict, a compact table, further measured details and tables.

A *panel* is a function ``panel(run, ax, *, arch=None, hardware=None)`` that draws one axes: use
it to put a single panel into a paper figure. ``hardware`` is a model name or a list of them (every
panel is wrapped by :func:`panel`, which turns a name into a one-item list and refuses a model the
run lacks). :meth:`Question.figure` lays a question's panels out
(a ``per_hardware`` panel once per hardware model of the subset: by default the run's figure models,
the primaries among its headline models) and returns the figure.
"""

from __future__ import annotations

import functools
import os
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis.registry import Registry
from analysis.report.plotting import MIN_FONT_PT, PAGE_WIDTH, fit_bar_labels, grid, save, style
from analysis.report.tables import RunTables
from analysis.report.verdict import Verdict

__all__ = ["MAX_COLUMNS", "QUESTIONS", "Answer", "Panel", "Question", "ordered_questions", "panel", "question",
           "register_question", "shared_legend", "verdict_of"]

#: At most this many panels side by side on the 7-inch page (2.33 in each).
MAX_COLUMNS = 3


def panel(draw: Callable[..., None]) -> Callable[..., None]:
    """Mark ``draw(run, ax, *, arch=None, hardware=None)`` as a panel: ``hardware`` may then be a
    model name (``"sata"``), a list of names or None (the panel's default), and a name the run lacks
    is a ValueError naming the ones it has, before anything is drawn."""

    @functools.wraps(draw)
    def wrapped(run: RunTables, ax, *, arch: str | None = None, hardware: Sequence[str] | str | None = None,
                **options) -> None:
        if hardware is not None:
            if not isinstance(hardware, str | list | tuple):
                raise TypeError(f"{draw.__name__}: hardware is a model name or a list of names, not "
                                f"{type(hardware).__name__}")
            hardware = run.hardware_subset(hardware) if len(hardware) else []
            if not isinstance(hardware, list):
                hardware = list(hardware)
        return draw(run, ax, arch=arch, hardware=hardware or None, **options)

    return wrapped


@dataclass(frozen=True)
class Answer:
    """A question's answer: its glance ``line`` (the verdict's, when it has one), the compact table
    printed under it, further tables (``{heading: table}``), its :class:`Verdict` and ``details``
    (the further measured facts, one paragraph)."""

    line: str
    table: pd.DataFrame
    more: dict[str, pd.DataFrame] = field(default_factory=dict)
    verdict: Verdict | None = None
    details: str = ""

    @classmethod
    def of(cls, verdict: Verdict, table: pd.DataFrame, details: str = "",
           more: dict[str, pd.DataFrame] | None = None) -> Answer:
        return cls(verdict.line, table, dict(more or {}), verdict, details)


@dataclass(frozen=True)
class Panel:
    """One axes of a question's figure. ``per_hardware``: drawn once per hardware model."""

    draw: Callable[..., None]
    per_hardware: bool = False


@dataclass(frozen=True)
class Question:
    qid: str
    title: str
    stem: str
    answer: Callable[[RunTables], Answer]
    panels: tuple[Panel, ...]
    caption: str
    note: str = ""
    columns: int = 3
    #: Whether the figure shows every architecture (else the first, or ``arch``, named in the title).
    all_archs: bool = False
    #: The verdict alone (see the module docstring); None for a question registered without one,
    #: whose answer line stands in for it.
    verdict: Callable[[RunTables], Verdict] | None = None
    #: Each panel's height over its width (the figure is :data:`PAGE_WIDTH` wide).
    aspect: float = 0.8
    #: One legend for the whole figure (below the panels) instead of one per panel: for panels
    #: drawn once per hardware model, whose legends say the same thing.
    shared_legend: bool = False

    def figure(self, run: RunTables, *, arch: str | None = None, hardware: Sequence[str] | str | None = None,
               path: str | os.PathLike | None = None, formats: str | Sequence[str] | None = None) -> Figure:
        """Every panel of this question in one figure, :data:`PAGE_WIDTH` (7 in) wide with text of 7 pt
        or more. With ``path`` it is also saved: ``path="q8.pdf"`` writes a PDF, ``path="q8"`` a PNG,
        and ``formats`` (``"png,pdf,svg"`` or a list) writes each of them beside ``path``."""
        models = run.hardware_subset(hardware)
        calls: list[tuple[Panel, list[str]]] = []
        for entry in self.panels:
            if entry.per_hardware:
                calls += [(entry, [model]) for model in models] or [(entry, [])]
            else:
                calls.append((entry, models))
        with style():
            fig, axes = grid(len(calls), ncols=min(self.columns, MAX_COLUMNS, len(calls)), aspect=self.aspect)
            for ax, (entry, subset) in zip(axes, calls, strict=True):
                entry.draw(run, ax, arch=run.first_arch(arch), hardware=subset)
            arch_name = None if self.all_archs else run.first_arch(arch)
            title = f"{self.qid}: {self.title}" + (f" ({arch_name})" if arch_name else "")
            # wrapped to the page's width (about 12 bold characters per inch at 9 pt), never cut
            title = textwrap.fill(title, width=int(PAGE_WIDTH * 12))
            fig.suptitle(title, fontweight="bold")
            # side by side on the page, panels are too narrow for a legend each: one below them all
            bottom = shared_legend(fig, axes) if self.shared_legend or len(axes) > 1 else 0.0
            top = 1 - (title.count("\n") + 1) * (MIN_FONT_PT + 2) * 1.35 / 72 / fig.get_figheight()
            fig.tight_layout(rect=(0, bottom, 1, top), pad=0.4, h_pad=0.6, w_pad=0.6)
            fit_bar_labels(fig)
            if path is not None:
                save(fig, path, formats)
        return fig


def shared_legend(fig: Figure, axes: Sequence) -> float:
    """Replace the panels' legends by one below them (each label once); returns the figure fraction
    it takes at the bottom."""
    handles, labels = {}, []
    for ax in axes:
        legend = ax.get_legend()
        title = legend.get_title().get_text() if legend is not None else ""
        if title and title not in handles:  # a legend's title ("IF solid, OneSpike dashed") stays, as an entry
            handles[title] = Line2D([], [], linestyle="none")
            labels.append(title)
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in handles and not label.startswith("_"):
                handles[label] = handle
                labels.append(label)
        if legend is not None:
            legend.remove()
    if not labels:
        return 0.0
    # as many columns as the page holds at the longest label (about 0.55 em a character, plus the
    # handle), and the figure made taller by the rows, so that the panels keep their size
    width_pt = fig.get_figwidth() * 72
    column_pt = max(len(label) for label in labels) * 0.55 * MIN_FONT_PT + 32
    columns = max(1, min(len(labels), int(width_pt // column_pt)))
    rows = -(-len(labels) // columns)
    legend_in = (rows * MIN_FONT_PT * 1.55 + 6) / 72
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, height + legend_in)
    fig.legend([handles[label] for label in labels], labels, loc="lower center", ncol=columns, fontsize=MIN_FONT_PT,
               frameon=False, bbox_to_anchor=(0.5, 0.0), borderaxespad=0.2, columnspacing=1.0, handlelength=1.8)
    return legend_in / (height + legend_in)


#: The question registry (id -> :class:`Question`); :func:`ordered_questions` gives the report order.
QUESTIONS: Registry[Question] = Registry("question")


def register_question(entry: Question, replace: bool = False) -> Question:
    return QUESTIONS.add(entry.qid, entry, replace=replace)


def _report_order(qid: str) -> tuple[int, str]:
    number = qid[1:]
    return (int(number), qid) if qid.startswith("Q") and number.isdigit() else (10_000, qid)


def ordered_questions() -> list[Question]:
    """Every registered question in report order: Q1..Qn by number, then the others by id."""
    return [QUESTIONS.get(qid) for qid in sorted(QUESTIONS.names(), key=_report_order)]


def question(qid: str) -> Question:
    return QUESTIONS.get(qid)


def verdict_of(entry: Question, run: RunTables) -> Verdict:
    """``entry``'s verdict on ``run``; for a question registered without a verdict function, its
    answer line (without the question id) stands in as the sentence, with no claims."""
    if entry.verdict is not None:
        return entry.verdict(run)
    answer = entry.answer(run)
    if answer.verdict is not None:
        return answer.verdict
    return Verdict(entry.qid, answer.line.removeprefix(f"{entry.qid}:").strip())
