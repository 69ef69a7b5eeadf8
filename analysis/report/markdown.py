"""``report.md``: the run folder's tables → every question's verdict, table, sensitivity, details and
figure → markdown.

:func:`write_report` draws the figures into ``<run>/figures/`` and writes ``<run>/report.md`` and
its appendix ``<run>/report_appendix.md`` (atomically, through the run folder; both listed in the
manifest). report.md holds the Limits, the answers at a glance and one section per question (its
verdict, a compact table of at most 12 columns and 10 rows, its conventions and figure) and links the
appendix, which holds the long tables (:mod:`analysis.report.appendix`). :func:`answers` returns the
glance lines alone::

    from analysis.report import answers, load_run
    print(answers(load_run("reports/quick"))["Q1"])

Every number is read from the run folder's tables (never from a hardware model built at render
time); a question whose tables or rows the run lacks says "n/a" and what is missing. Each question
opens with its verdict (one quotable sentence over the headline models), then a compact table, the
pricing conventions the verdict depends on (re-checked under every alternative pricing the study
recorded in ``sensitivity.csv``), the further measured details and the figure.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

from analysis.report.appendix import (
    MAX_ROWS,
    appendix_link,
    compact,
    question_appendix,
    question_heading,
    short_details,
    wrap_long_lines,
)
from analysis.report.figures import drawing, report_formats
from analysis.report.questions import QUESTIONS, Answer, ordered_questions
from analysis.report.sections import (
    accuracy_section,
    configuration_section,
    conventions_section,
    hardware_section,
    limits_section,
    warnings_section,
)
from analysis.report.sensitivity import alternatives_of, flips_table, sensitivity_line, with_sensitivity
from analysis.report.tables import RunTables, load_run
from analysis.report.text import literal, markdown_table
from analysis.report.unpriced import qualified, unpriced_events
from analysis.report.verdict import Verdict
from analysis.run_folder import APPENDIX_NAME, RunFolder

__all__ = ["all_answers", "answers", "render", "render_appendix", "render_both", "sensitivity_appendix", "write_report"]


def _failed(qid: str, run: RunTables, exc: Exception) -> Answer:
    verdict = Verdict(qid, f"n/a: could not be computed from the tables ({type(exc).__name__}: {exc}).")
    return Answer.of(verdict, run.results.iloc[0:0])


def all_answers(run: RunTables | str | os.PathLike, sensitivity: bool = False) -> dict[str, Answer]:
    """Every question's :class:`Answer` for a run (its :class:`RunTables` or its folder); with
    ``sensitivity``, each verdict re-checked under the run's alternative pricings. A question whose
    answer fails says so in its line (with the error) rather than hiding the other answers."""
    run = run if isinstance(run, RunTables) else load_run(run)
    unpriced = unpriced_events(run)  # a user table's unpriced events qualify the verdicts resting on it
    out = {}
    for entry in ordered_questions():
        qid = entry.qid
        try:
            answer = entry.answer(run)
            if sensitivity and entry.verdict is not None and answer.verdict is not None:
                verdict = with_sensitivity(run, entry.verdict, answer.verdict)
                answer = Answer(answer.line, answer.table, answer.more, verdict, answer.details)
            out[qid] = qualified(answer, unpriced)
        except Exception as exc:  # one malformed table must not hide the other answers
            out[qid] = _failed(qid, run, exc)
    return out


def answers(run: RunTables | str | os.PathLike) -> dict[str, str]:
    """The glance line of each question (``Q1``..``Q13``, ``Pareto``): ``"Q8: Yes: ..."``."""
    return {qid: answer.line for qid, answer in all_answers(run).items()}


def _intro(run: RunTables, name: str) -> list[str]:
    models = run.hardware_models()
    primaries = run.primary_models()
    headline = (f"headline hardware models: {', '.join(models)}"
                + (" (the primary model of each family; `--hardware all` makes every variant a headline model, "
                   "and the Sensitivity section re-checks each verdict under them)" if primaries == models else ""))
    return [
        f"# OneSpike Study report — {literal(name)}",
        "",
        f"Data: {run.data.get('name', run.config.get('data', 'n/a'))}; "
        f"architectures: {literal(', '.join(run.archs()))}; "
        f"quantization levels L = {run.levels()}; T/G swept: {run.timesteps() or 'n/a'}; {headline}.",
        "Energies are per inference (one sample); accuracies carry a 95% Wilson interval over the test images, and "
        "two networks are compared image by image (exact McNemar) where the run has per-image predictions. Every "
        "number below is read from the tables in this folder; the long tables (every accuracy, the pricing "
        f"conventions and warnings, the hardware models, the configuration) are in [{APPENDIX_NAME}]({APPENDIX_NAME}).",
        "",
    ]


def _lower_first(heading: str) -> str:
    """"Membrane energy share" -> "membrane energy share"; "PSG op mix" keeps its acronym."""
    return heading if heading[1:2].isupper() else heading[:1].lower() + heading[1:]


def _question_section(qid: str, answer: Answer, figures: dict[str, Path] | None, root: Path | None,
                      priced: int, steps: int | None) -> list[str]:
    entry = QUESTIONS.get(qid)
    verdict = answer.verdict
    sentence = verdict.sentence if verdict is not None else answer.line.removeprefix(f"{qid}:").strip()
    shown, cut = compact(answer.table, steps)
    out = [f"## {qid}: {entry.title}", "", f"**Verdict** — {sentence}", "", markdown_table(shown, max_rows=MAX_ROWS),
           ""]
    # one paragraph under the table: where the rest of it is, and the conventions the verdict depends on
    details, long = short_details(answer.details)
    more = (([f"the whole table (above: {cut})"] if cut else []) + [_lower_first(h) for h in answer.more]
            + (["every detail"] if long else []))
    paragraph = [f"_In the appendix_ — {appendix_link(question_heading(qid), qid)}: {'; '.join(more)}."] if more else []
    if verdict is not None:
        paragraph.append(f"_Conventions it depends on_ — {sensitivity_line(verdict, priced)}")
    out += [*paragraph, ""] if paragraph else []
    if answer.details:
        out += [f"_Details_ — {details}", ""]
    if figures and qid in figures:
        link = figures[qid].relative_to(root).as_posix() if root else figures[qid].as_posix()
        out += [f"![{qid}]({link})", f"_{entry.caption}_", ""]
    if entry.note:
        out += [entry.note, ""]
    return out


#: The appendix's heading of the sensitivity check (each verdict's line and every flip).
SENSITIVITY = "## Sensitivity: every verdict under every alternative pricing"


def sensitivity_section(found: dict[str, Answer], priced: int) -> str:
    """report.md's account of the sensitivity check: what was re-priced and which verdicts flip (each
    question's own line is in its section; the appendix lists them together with every flip:
    :func:`sensitivity_appendix`)."""
    verdicts = {qid: answer.verdict for qid, answer in found.items() if answer.verdict is not None}
    flipping = [qid for qid, verdict in verdicts.items() if verdict.flips_under]
    return "\n".join([
        "## Sensitivity to pricing conventions", "",
        f"The study priced every network once more under {priced} alternative pricing(s) of its headline models "
        "(the other members of each model's family and each alternative convention: zero-skipping, IF dataflow, "
        "first layer, fusion, stored pre-activation width, weights resident or fetched; sensitivity.csv). Each "
        "verdict's hardware-dependent claims are re-checked under each one (its section's _Conventions it depends "
        f"on_ line). Verdicts that flip under at least one: {', '.join(flipping) if flipping else 'none'}; every "
        f"verdict's line and every flip: {appendix_link(SENSITIVITY)}."])


def sensitivity_appendix(found: dict[str, Answer], priced: int) -> str:
    """One line per question (whether any alternative pricing changes its verdict, and which), then
    every flip: the claim, its value under the headline model and under the alternative."""
    verdicts = {qid: answer.verdict for qid, answer in found.items() if answer.verdict is not None}
    lines = [SENSITIVITY, "", *[f"- **{qid}**: {sensitivity_line(v, priced)}" for qid, v in verdicts.items()]]
    table = flips_table(verdicts)
    if not table.empty:
        lines += ["", "Every flip: the claim, its value as the headline model prices it and under the alternative.", "",
                  markdown_table(table, max_rows=10_000)]
    return "\n".join(lines)


#: The sections of the appendix that are not one question's (report order).
APPENDIX_SECTIONS = (accuracy_section, conventions_section, hardware_section, warnings_section, configuration_section)


def render_both(run: RunTables, name: str, figures: dict[str, Path] | None = None, root: Path | None = None
                ) -> tuple[str, str]:
    """The report's markdown and its appendix's (figure links relative to ``root``): every answer is
    computed once for both."""
    found = all_answers(run, sensitivity=True)
    priced = len(alternatives_of(run))
    steps = run.reference_steps()
    main = [*_intro(run, name), limits_section(run), "", "## Answers at a glance", "",
            *[f"- {answer.line}" for answer in found.values()], ""]
    if figures and "summary" in figures:
        link = figures["summary"].relative_to(root).as_posix() if root else figures["summary"].as_posix()
        main += [f"![The headline answers on one page]({link})", ""]
    for qid, answer in found.items():
        main += _question_section(qid, answer, figures, root, priced, steps)
    sections = [draw(run) for draw in APPENDIX_SECTIONS]
    headings = [section.split("\n", 1)[0] for section in sections]
    main += [sensitivity_section(found, priced), "", "## Appendix", "",
             f"[{APPENDIX_NAME}]({APPENDIX_NAME}) holds the long tables: "
             + ", ".join(appendix_link(h) for h in headings) + ", and each question's whole and further tables.", ""]
    appendix = [f"# OneSpike Study report — {name}: appendix", "",
                "The long tables of [report.md](report.md), in its order: each question's whole and further tables, "
                "the sensitivity check's flips, then the sections that are not one question's.", ""]
    for qid, answer in found.items():
        appendix += question_appendix(qid, answer, steps)
    appendix += [sensitivity_appendix(found, priced), ""]
    for section in sections:
        appendix += [section, ""]
    return wrap_long_lines("\n".join(main)), wrap_long_lines("\n".join(appendix))


def render(run: RunTables, name: str, figures: dict[str, Path] | None = None, root: Path | None = None) -> str:
    """The report's markdown (figure links relative to ``root``); :func:`render_appendix` gives its
    appendix."""
    return render_both(run, name, figures, root)[0]


def render_appendix(run: RunTables, name: str) -> str:
    """The appendix's markdown (``report_appendix.md``: the long tables)."""
    return render_both(run, name)[1]


def write_report(run_dir: str | os.PathLike, hardware: list[str] | None = None, timings: dict | None = None,
                 formats: str | list[str] | None = None) -> Path:
    """Draw every figure into ``<run_dir>/figures/`` (PNG, plus each of ``formats``: ``"pdf,svg"``
    for a paper) and write ``<run_dir>/report.md``; returns the report's path. ``hardware``: the
    models the figures show (default: the run's figure models, the primaries among its headline
    models). ``timings``, when given, receives the seconds spent drawing (``figures``) and writing
    (``markdown``)."""
    report_formats(formats)  # a bad format fails before anything is drawn
    folder = RunFolder(run_dir)
    run = load_run(folder.root)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tight_layout / empty-log-axis chatter
        # the text is written while other processes draw the figures (serially: before it)
        with drawing(run, folder.figures_dir, hardware=hardware, formats=formats) as figures:
            written = time.perf_counter()
            text, appendix = render_both(run, folder.root.name, figures, folder.root)
            rendered = time.perf_counter()
    if timings is not None:
        # figures: the wall time the figures added beyond the text
        timings.update(figures=(written - start) + (time.perf_counter() - rendered), markdown=rendered - written)
    return folder.write_report(text, figures.values(), appendix)
