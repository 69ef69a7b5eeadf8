"""``report.md``: the run folder's tables → every question's figure, answer and table → markdown.

:func:`write_report` draws the figures into ``<run>/figures/`` and writes ``<run>/report.md``
(atomically, through the run folder). :func:`answers` returns the one-line answers alone::

    from analysis.report import answers, load_run
    print(answers(load_run("reports/quick"))["Q1"])

Every number in an answer is read from the tables; a question whose tables or rows the run lacks
says "not in this run" and what is missing.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis.report.figures import draw_all
from analysis.report.questions import QUESTIONS, Answer, ordered_questions
from analysis.report.sections import (
    accuracy_section,
    configuration_section,
    conventions_section,
    hardware_section,
    limits_section,
    warnings_section,
)
from analysis.report.tables import RunTables, load_run
from analysis.report.text import markdown_table
from analysis.run_folder import RunFolder
from energy_models import conventions_table

__all__ = ["all_answers", "answers", "render", "write_report"]


def all_answers(run: RunTables | str | os.PathLike) -> dict[str, Answer]:
    """Every question's :class:`Answer` for a run (its :class:`RunTables` or its folder). A question
    whose answer fails says so in its line (with the error) rather than hiding the other answers."""
    run = run if isinstance(run, RunTables) else load_run(run)
    out = {}
    for entry in ordered_questions():
        qid = entry.qid
        try:
            out[qid] = entry.answer(run)
        except Exception as exc:  # one malformed table must not hide the other answers
            out[qid] = Answer(f"{qid}: could not be computed from the tables ({type(exc).__name__}: {exc}).",
                              run.results.iloc[0:0])
    return out


def answers(run: RunTables | str | os.PathLike) -> dict[str, str]:
    """The one-line measured answer of each question (``Q1``..``Q13``, ``Pareto``)."""
    return {qid: answer.line for qid, answer in all_answers(run).items()}


def render(run: RunTables, name: str, figures: dict[str, Path] | None = None, root: Path | None = None,
           conventions: Sequence[dict[str, Any]] | None = None) -> str:
    """The report's markdown (figure links relative to ``root``)."""
    found = all_answers(run)
    out = [
        f"# OneSpike Study report — {name}",
        "",
        f"Data: {run.data.get('name', run.config.get('data', 'n/a'))}; architectures: {', '.join(run.archs())}; "
        f"quantization levels L = {run.levels()}; T/G swept: {run.timesteps() or 'n/a'}; hardware models: "
        f"{', '.join(run.hardware_models())}. Energies are per inference (one sample); accuracies carry a 95% "
        "Wilson interval over the test images. Every number below is read from the CSV tables in this folder.",
        "",
        limits_section(run),
        "",
        "## Answers at a glance",
        "",
        *[f"- {answer.line}" for answer in found.values()],
        "",
    ]
    for qid, answer in found.items():
        entry = QUESTIONS.get(qid)
        out += [f"## {qid}: {entry.title}", ""]
        if figures and qid in figures:
            link = figures[qid].relative_to(root).as_posix() if root else figures[qid].as_posix()
            out += [f"![{qid}]({link})", "", f"_{entry.caption}_ ([SVG]({Path(link).with_suffix('.svg').as_posix()}))",
                    ""]
        out += [f"**Answer** — {answer.line}", "", markdown_table(answer.table), ""]
        for heading, table in answer.more.items():
            out += [f"_{heading}_", "", markdown_table(table), ""]
        if entry.note:
            out += [entry.note, ""]
    out += [accuracy_section(run), "", conventions_section(conventions), "", hardware_section(run), "",
            warnings_section(run), "", configuration_section(run), ""]
    return "\n".join(out)


def write_report(run_dir: str | os.PathLike, conventions: Sequence[dict[str, Any]] | None = None,
                 hardware: Sequence[str] | None = None) -> Path:
    """Draw every figure into ``<run_dir>/figures/`` (PNG + SVG) and write ``<run_dir>/report.md``;
    returns the report's path. ``conventions``: the pricing-conventions rows to print;
    (default: ``energy_models.conventions_table()`` for the run's hardware models, on each network style);
    ``hardware``: the hardware models the figures show (every model of the run by default)."""
    folder = RunFolder(run_dir)
    run = load_run(folder.root)
    if conventions is None:
        conventions = conventions_table(models=run.hardware_models())  # priced on each network style's example
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tight_layout / empty-log-axis chatter
        figures = draw_all(run, folder.figures_dir, hardware=hardware)
    return folder.write_report(render(run, folder.root.name, figures, folder.root, conventions), figures.values())
