"""The one question registry: for each reviewer question its id, title, verdict, figure (a tuple of
panels), answer, caption and reading note. The question modules register themselves; markdown and
figures only walk this registry.

A question's ``verdict(run)`` returns its :class:`~analysis.report.verdict.Verdict` (the quotable
sentence and the hardware-dependent claims behind it; cheap, so the sensitivity section can call it
once per alternative pricing); ``answer(run)`` returns the :class:`Answer` the report prints: the
verdict, a compact table, further measured details and tables.

A *panel* is a function ``panel(run, ax, *, arch=None, hardware=None)`` that draws one axes: use
it to put a single panel into a paper figure. :meth:`Question.figure` lays a question's panels out
(a ``per_hardware`` panel once per hardware model of the subset: by default the run's figure models,
the primaries among its headline models) and returns the figure.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import Figure

from analysis.registry import Registry
from analysis.report.plotting import grid, save
from analysis.report.tables import RunTables
from analysis.report.verdict import Verdict

__all__ = ["QUESTIONS", "Answer", "Panel", "Question", "ordered_questions", "question", "register_question",
           "shared_legend", "verdict_of"]


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
    #: Inches per panel (width, height).
    panel_size: tuple[float, float] = (4.4, 3.4)
    #: One legend for the whole figure (below the panels) instead of one per panel: for panels
    #: drawn once per hardware model, whose legends say the same thing.
    shared_legend: bool = False

    def figure(self, run: RunTables, *, arch: str | None = None, hardware: Sequence[str] | str | None = None,
               path: str | os.PathLike | None = None) -> Figure:
        """Every panel of this question in one figure (a PNG at ``path`` when given)."""
        models = run.hardware_subset(hardware)
        calls: list[tuple[Panel, list[str]]] = []
        for panel in self.panels:
            if panel.per_hardware:
                calls += [(panel, [model]) for model in models] or [(panel, [])]
            else:
                calls.append((panel, models))
        fig, axes = grid(len(calls), ncols=min(self.columns, len(calls)), size=self.panel_size)
        for ax, (panel, subset) in zip(axes, calls, strict=True):
            panel.draw(run, ax, arch=run.first_arch(arch), hardware=subset)
        arch_name = None if self.all_archs else run.first_arch(arch)
        title = f"{self.qid}: {self.title}" + (f" ({arch_name})" if arch_name else "")
        # wrapped to the figure's width (about 10 bold characters per inch at 11 pt), never cut
        fig.suptitle(textwrap.fill(title, width=max(40, int(fig.get_figwidth() * 10))), fontsize=11,
                     fontweight="bold")
        bottom = shared_legend(fig, axes) if self.shared_legend else 0.0
        fig.tight_layout(rect=(0, bottom, 1, 1))
        if path is not None:
            save(fig, path)
        return fig


def shared_legend(fig: Figure, axes: Sequence) -> float:
    """Replace the panels' legends by one below them (each label once); returns the figure fraction
    it takes at the bottom."""
    handles, labels = {}, []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in handles and not label.startswith("_"):
                handles[label] = handle
                labels.append(label)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if not labels:
        return 0.0
    columns = min(len(labels), 5)
    rows = -(-len(labels) // columns)
    height = fig.get_size_inches()[1]
    fraction = min(0.4, (0.2 + 0.22 * rows) / height)
    fig.legend([handles[label] for label in labels], labels, loc="lower center", ncol=columns, fontsize=8,
               frameon=False, bbox_to_anchor=(0.5, 0.0))
    return fraction


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
