"""What keeps ``report.md`` short enough to read: compact tables (at most :data:`MAX_COLUMNS` columns
and :data:`MAX_ROWS` rows), prose wrapped so that no line is longer than :data:`MAX_LINE` characters
(markdown joins the lines of a paragraph, so the rendered text is the same), and the appendix
``report_appendix.md`` that holds the rest: each question's full and further tables, the flips of the
sensitivity check, every accuracy, the pricing conventions, the hardware models' provenance, the
pricing warnings and the configuration. The main report links each question's appendix section.

    from analysis.report.appendix import compact
    shown, cut = compact(table, steps=4)   # cut: what report.md keeps, in words ("" if all)
"""

from __future__ import annotations

import re
import textwrap

import pandas as pd

from analysis.report.questions import QUESTIONS, Answer
from analysis.report.text import markdown_table
from analysis.run_folder import APPENDIX_NAME

__all__ = ["APPENDIX_NAME", "MAX_COLUMNS", "MAX_LINE", "MAX_ROWS", "WRAP", "anchor", "appendix_link", "compact",
           "percent_units", "question_appendix", "question_heading", "short_details",
           "wrap_long_lines"]

#: A compact table in report.md has at most this many columns ...
MAX_COLUMNS = 12
#: ... and this many rows; the appendix holds the whole table.
MAX_ROWS = 10
#: No line of either file is longer than this (prose is wrapped; a table row is never cut).
MAX_LINE = 600
#: Where a long line of prose is wrapped.
WRAP = 300


def anchor(heading: str) -> str:
    """The anchor GitHub (and most markdown viewers) give a heading: lower case, punctuation dropped,
    spaces as hyphens."""
    text = heading.lstrip("#").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def appendix_link(heading: str, text: str | None = None) -> str:
    """A markdown link from report.md to ``heading`` of the appendix."""
    return f"[{text or heading.lstrip('#').strip()}]({APPENDIX_NAME}#{anchor(heading)})"


def compact(table: pd.DataFrame, steps: int | None = None) -> tuple[pd.DataFrame, str]:
    """``table`` cut to at most :data:`MAX_ROWS` rows and :data:`MAX_COLUMNS` columns, and what was
    kept, in words ("" when nothing was cut; the appendix then has nothing more of it). Rows go first
    by step (only those at T = G = ``steps``, where the table has a ``T`` or ``G`` column), then by
    hardware model (only the first model's), then from the end."""
    table = percent_units(table)
    shown, kept = table, []
    for column in ("T", "G"):
        if len(shown) > MAX_ROWS and steps is not None and column in shown.columns:
            at = shown[pd.to_numeric(shown[column], errors="coerce") == steps]
            if len(at):
                shown, kept = at, [*kept, f"{column} = {steps}"]
    if len(shown) > MAX_ROWS and "hardware" in shown.columns:
        first = shown["hardware"].iloc[0]
        shown, kept = shown[shown["hardware"] == first], [*kept, f"hardware {first}"]
    if len(shown) > MAX_ROWS:
        shown, kept = shown.head(MAX_ROWS), [*kept, "the first rows"]
    words = [f"{len(shown)} of {len(table)} rows ({', '.join(kept)})"] if kept else []
    if len(shown.columns) > MAX_COLUMNS:
        shown = shown.iloc[:, :MAX_COLUMNS]
        words.append(f"{MAX_COLUMNS} of {len(table.columns)} columns")
    return shown, " and ".join(words)


#: A column whose name says it is a share of something (an accuracy, an agreement, a rate, a share, a
#: sparsity) and whose numbers all lie in [0, 1] is a fraction: :func:`percent_units` prints it in %.
FRACTION_NAME = re.compile(r"accuracy|agreement|rate|share|sparsity|fraction", re.IGNORECASE)


def percent_units(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every fraction column (see :data:`FRACTION_NAME`) printed in percent and named
    ``"<name> %"``, so that a table states one unit for its shares (the % of its other columns and
    the pp of its differences), never fractions beside percentages. Cells that are not numbers
    (``n/a``) are kept; the CSVs keep their fractions."""
    renamed = {}
    out = table.copy()
    for column in table.columns:
        name = str(column)
        if "%" in name or name.endswith("_pp") or not FRACTION_NAME.search(name):
            continue
        values = pd.to_numeric(table[column], errors="coerce")
        numbers = values.dropna()
        if numbers.empty or not numbers.between(0.0, 1.0).all() or pd.api.types.is_bool_dtype(table[column]):
            continue
        out[column] = [100 * v if pd.notna(v) else cell for v, cell in zip(values, table[column], strict=True)]
        renamed[column] = f"{name} %"
    return out.rename(columns=renamed)


def _wrap(line: str) -> list[str]:
    lead = re.match(r"^(\s*(?:[-*] |\d+\. )?)", line).group(1)
    return textwrap.wrap(line, width=WRAP, subsequent_indent=" " * len(lead), break_long_words=False,
                         break_on_hyphens=False) or [line]


def wrap_long_lines(text: str) -> str:
    """Every line of ``text`` over :data:`MAX_LINE` characters that is not a table row, a heading or
    an image, wrapped at :data:`WRAP` (continuation lines of a list item indented under it)."""
    out = []
    for line in text.split("\n"):
        keep = len(line) <= MAX_LINE or line.lstrip().startswith(("|", "#", "!["))
        out += [line] if keep else _wrap(line)
    return "\n".join(out)


def short_details(details: str) -> tuple[str, bool]:
    """``details`` as report.md prints it: whole when it fits one line (:data:`MAX_LINE`), else its
    first clauses up to :data:`WRAP` characters (cut at a "; "), and whether it was cut (the appendix
    then prints it whole)."""
    if len(details) <= MAX_LINE:
        return details, False
    head = details[:WRAP]
    cut = head.rfind("; ")
    return (head[:cut] if cut > 0 else head.rsplit(" ", 1)[0]) + " …", True


def question_heading(qid: str) -> str:
    return f"## {qid}: {QUESTIONS.get(qid).title}"


def question_appendix(qid: str, answer: Answer, steps: int | None = None) -> list[str]:
    """The appendix section of one question: its whole table when report.md shows it cut, and its
    further tables; empty when report.md shows everything."""
    _, cut = compact(answer.table, steps)
    _, long = short_details(answer.details)
    if not cut and not answer.more and not long:
        return []
    out = [question_heading(qid), ""]
    if long:
        out += [f"_Details_ — {answer.details}", ""]
    if cut:
        out += [f"_The whole table (report.md shows {cut})_", "",
                markdown_table(percent_units(answer.table), max_rows=10_000), ""]
    for heading, table in answer.more.items():
        out += [f"_{heading}_", "", markdown_table(percent_units(table), max_rows=10_000), ""]
    return out
