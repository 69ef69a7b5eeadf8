"""A report a reviewer reads (#34): report.md holds the Limits, the glance and one short section per
question (verdict, a compact table of at most 12 columns, conventions, figure) in at most ~400 lines,
with no line over 600 characters; the long tables are in report_appendix.md, linked from it and
listed in the manifest; each table states one unit for its shares."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from analysis.report import all_answers
from analysis.report.appendix import (
    MAX_COLUMNS,
    MAX_LINE,
    MAX_ROWS,
    WRAP,
    anchor,
    compact,
    percent_units,
    short_details,
    wrap_long_lines,
)
from analysis.report.questions import ordered_questions
from analysis.run_folder import APPENDIX_NAME

#: The main report's length on the synthetic run (the quick study's is measured in the closing note).
MAX_REPORT_LINES = 400


#: tests/report/conftest.py's written report is shared with test_figures_report and test_paper_figures.
pytestmark = pytest.mark.xdist_group("written_report")


@pytest.fixture(scope="module")
def written(written_report):
    return written_report


def _tables(text: str) -> list[list[str]]:
    tables, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


def test_the_main_report_is_short_with_short_lines(written):
    _, report, appendix = written
    lines = report.splitlines()
    assert 100 < len(lines) <= MAX_REPORT_LINES, len(lines)
    for text in (report, appendix):
        long = [line[:80] for line in text.splitlines() if len(line) > MAX_LINE and not line.startswith("|")]
        assert not long, long
    assert max(len(line) for line in lines) <= MAX_LINE


def test_every_table_of_the_main_report_is_compact(written):
    _, report, appendix = written
    tables = _tables(report)
    assert len(tables) >= len(ordered_questions()) - 2  # nearly every question has its table
    for table in tables:
        columns = table[0].count(" | ") + 1
        assert columns <= MAX_COLUMNS, table[0]
        assert len(table) - 2 <= MAX_ROWS, table[0]
    assert max(len(t) - 2 for t in _tables(appendix)) > MAX_ROWS  # the long ones are there


def test_the_main_report_links_the_appendix_and_the_manifest_lists_it(written):
    run_dir, report, appendix = written
    links = re.findall(rf"\]\({re.escape(APPENDIX_NAME)}(?:#([\w-]+))?\)", report)
    assert "" in links and len(links) > 5  # the intro links the file, the questions their sections
    headings = {anchor(line) for line in appendix.splitlines() if line.startswith("## ")}
    missing = [link for link in links if link and link not in headings]
    assert not missing, missing
    assert APPENDIX_NAME in json.loads((run_dir / "manifest.json").read_text())["files"]
    assert appendix.startswith("# OneSpike Study report — synthetic: appendix")
    for heading in ("## Limits", "## Answers at a glance", "## Appendix"):
        assert heading in report
    sections = [line for line in report.splitlines() if line.startswith("## Q") or line.startswith("## Pareto")]
    assert len(sections) == len(ordered_questions())


def test_a_table_states_one_unit_for_its_shares(written):
    _, report, appendix = written
    q14 = appendix.split("## Q14:")[1] if "## Q14:" in appendix else report.split("## Q14:")[1]
    header = next(line for line in q14.splitlines() if line.startswith("| method"))
    assert "snn_accuracy %" in header and "agreement %" in header
    frame = pd.DataFrame({"hardware": ["a", "b"], "spike_rate": [0.25, "n/a"], "energy share %": [50.0, 20.0],
                          "delta_pp": [0.5, -0.2], "ratio": [0.4, 2.0]})
    shown = percent_units(frame)
    assert list(shown.columns) == ["hardware", "spike_rate %", "energy share %", "delta_pp", "ratio"]
    assert shown["spike_rate %"].tolist() == [25.0, "n/a"]
    assert frame["spike_rate"].tolist() == [0.25, "n/a"]  # the caller's frame is left alone


def test_compact_keeps_the_reference_step_then_one_model_then_cuts_columns():
    wide = pd.DataFrame({"T": [1, 2, 4, 8], **{f"m{i} pJ": [1.0, 2.0, 3.0, 4.0] for i in range(42)}})
    shown, cut = compact(wide, steps=4)
    assert shown.shape == (4, MAX_COLUMNS) and cut == f"{MAX_COLUMNS} of 43 columns"
    long = pd.DataFrame({"hardware": ["a"] * 20 + ["b"] * 20, "T": [1, 2, 4, 8] * 10, "x": range(40)})
    shown, cut = compact(long, steps=4)
    assert set(shown["T"]) == {4} and len(shown) == 10 and cut == "10 of 40 rows (T = 4)"
    many = pd.DataFrame({"hardware": ["a"] * 11 + ["b"] * 11, "x": range(22)})
    shown, cut = compact(many)
    assert len(shown) == MAX_ROWS and "hardware a" in cut and "the first rows" in cut
    assert compact(pd.DataFrame({"x": [1, 2]})) [1] == ""


def test_long_prose_is_wrapped_and_table_rows_are_not():
    item = "- " + " ".join(["word"] * 400)
    row = "| " + " | ".join(["cell"] * 200) + " |"
    text = wrap_long_lines("\n".join([item, row, "short"]))
    lines = text.splitlines()
    assert lines[-2:] == [row, "short"]
    wrapped = lines[:-2]
    assert len(wrapped) > 1 and all(len(line) <= MAX_LINE for line in wrapped)
    assert all(line.startswith("  word") for line in wrapped[1:])  # still the list item's paragraph
    assert " ".join(w for line in wrapped for w in line.split()) == " ".join(item.split())


def test_long_details_are_shortened_in_the_report_and_whole_in_the_appendix(written):
    details = "; ".join(f"model {i} costs {i}.5 pJ per inference under the rule" for i in range(40))
    short, cut = short_details(details)
    assert cut and len(short) <= WRAP + 2 and short.endswith(" …") and details.startswith(short[:-2])
    assert short_details("one short fact") == ("one short fact", False)
    run_dir, report, appendix = written
    found = all_answers(run_dir)
    long = [qid for qid, answer in found.items() if len(answer.details) > MAX_LINE]
    assert long  # the synthetic run has some (Q5, Q9, ...)
    flat = " ".join(appendix.split())
    for qid in long:
        section = report.split(f"## {qid}:")[1].split("\n## ")[0]
        assert "every detail" in section and f"_Details_ — {short_details(found[qid].details)[0]}" in section
        assert f"_Details_ — {' '.join(found[qid].details.split())}" in flat  # whole, though wrapped
