"""The one question registry: for each reviewer question its id, title, figure (a tuple of panels),
one-line answer, caption and reading note. The question modules register themselves; markdown and
figures only walk this registry.

A *panel* is a function ``panel(run, ax, *, arch=None, hardware=None)`` that draws one axes: use
it to put a single panel into a paper figure. :meth:`Question.figure` lays a question's panels out
(a ``per_hardware`` panel once per hardware model of the subset) and returns the figure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import Figure

from analysis.registry import Registry
from analysis.report.plotting import grid, save
from analysis.report.tables import RunTables

__all__ = ["QUESTIONS", "Answer", "Panel", "Question", "ordered_questions", "question", "register_question"]


@dataclass(frozen=True)
class Answer:
    """A question's one-line measured answer, the table printed under it and any further tables
    (``{heading: table}``) that explain it."""

    line: str
    table: pd.DataFrame
    more: dict[str, pd.DataFrame] = field(default_factory=dict)


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

    def figure(self, run: RunTables, *, arch: str | None = None, hardware: Sequence[str] | str | None = None,
               path: str | os.PathLike | None = None) -> Figure:
        """Every panel of this question in one figure (PNG + SVG at ``path`` when given)."""
        models = run.hardware_subset(hardware)
        calls: list[tuple[Panel, list[str]]] = []
        for panel in self.panels:
            if panel.per_hardware:
                calls += [(panel, [model]) for model in models] or [(panel, [])]
            else:
                calls.append((panel, models))
        fig, axes = grid(len(calls), ncols=min(self.columns, len(calls)))
        for ax, (panel, subset) in zip(axes, calls, strict=True):
            panel.draw(run, ax, arch=run.first_arch(arch), hardware=subset)
        arch_name = None if self.all_archs else run.first_arch(arch)
        fig.suptitle(f"{self.qid}: {self.title}" + (f" ({arch_name})" if arch_name else ""), fontsize=11,
                     fontweight="bold")
        fig.tight_layout()
        if path is not None:
            save(fig, path)
        return fig


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
