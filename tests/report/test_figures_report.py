"""Report and figures from a run folder's tables: the answers state known values of a synthetic run
(tests/report_run.py: the study's table schema, numbers chosen so every answer is known), the
figures and their panels draw into given axes with bars from zero, the report has every section, and
a run lacking optional tables or methods says "n/a" instead of failing. The verdict of each question
is tested in tests/report/test_report_verdicts.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt
import pytest
from matplotlib.patches import Rectangle

from analysis.report import QUESTIONS, answers, load_run
from analysis.report.markdown import render
from analysis.report.plotting import NO_DATA
from analysis.report.questions import ordered_questions
from analysis.report.summary import summary_figure
from analysis.run_folder import IncompleteRunError
from tests.report_run import HARDWARE, make_run

ROOT = Path(__file__).resolve().parents[2]
QUESTION_IDS = [f"Q{i}" for i in range(1, 16)] + ["Pareto"]


#: tests/report/conftest.py's written report is shared with test_paper_report and test_paper_figures.
pytestmark = pytest.mark.xdist_group("written_report")


@pytest.fixture(scope="module")
def run_dir(written_report) -> Path:
    return written_report[0]


@pytest.fixture(scope="module")
def run(run_dir):
    return load_run(run_dir)


@pytest.fixture(scope="module")
def lines(run) -> dict[str, str]:
    return answers(run)


@pytest.fixture(scope="module")
def report(written_report) -> str:
    """The report drawn with every hardware model's construction refused: every hardware fact must
    come from the run folder (#18; tests/report/conftest.py)."""
    return written_report[1]


@pytest.fixture(scope="module")
def appendix(written_report) -> str:
    """report_appendix.md, written beside the report."""
    return written_report[2]


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


# -- the registry and the figures -------------------------------------------------------------------
def test_one_registry_in_report_order():
    assert [q.qid for q in ordered_questions()] == QUESTION_IDS
    for _, question in QUESTIONS.items():
        assert question.title and question.caption and question.panels and callable(question.answer)
        assert callable(question.verdict), question.qid
        assert question.stem.startswith(question.qid.lower()) or question.qid == "Pareto"


@pytest.mark.parametrize("qid", QUESTION_IDS)
def test_every_panel_draws_into_a_given_ax(run, qid):
    """Each panel draws into the axes it is given (a paper figure's), labelled, with data, and any
    bar chart starts at zero on a linear axis."""
    for panel in QUESTIONS.get(qid).panels:
        fig, ax = plt.subplots()
        try:
            panel.draw(run, ax, hardware=["sata"])
            assert fig.axes[0] is ax
            assert ax.get_xlabel().strip() and ax.get_ylabel().strip(), (qid, panel.draw.__name__)
            assert not any(NO_DATA in t for t in _texts(ax)), (qid, panel.draw.__name__, _texts(ax))
            assert ax.lines or ax.patches or ax.collections or ax.images, (qid, panel.draw.__name__)
            bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() > 0]
            if bars:
                assert ax.get_yscale() == "linear" and ax.get_ylim()[0] <= 0, (qid, panel.draw.__name__)
        finally:
            plt.close(fig)


def test_a_figure_takes_a_hardware_subset_and_defaults_to_the_primaries(run):
    fig = QUESTIONS.get("Q5").figure(run, hardware=["sata", "spikesim"])
    try:
        assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["sata", "spikesim"]
        assert fig._suptitle.get_text().startswith("Q5:")
        assert fig.legends and all(ax.get_legend() is None for ax in fig.axes)  # one legend for the figure
    finally:
        plt.close(fig)
    fig = QUESTIONS.get("Q5").figure(run)
    try:
        assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == HARDWARE == run.figure_models()
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="not in this run"):
        QUESTIONS.get("Q5").figure(run, hardware=["loihi"])


def test_the_summary_figure_has_four_panels_with_data(run):
    fig = summary_figure(run)
    try:
        axes = [ax for ax in fig.axes if ax.get_visible()]
        assert len(axes) == 4
        for ax in axes:
            assert ax.patches or ax.collections or ax.lines, ax.get_title()
            assert not any(NO_DATA in t for t in _texts(ax)), ax.get_title()
        assert [ax.get_title().split(":")[0] for ax in axes] == ["Q10", "Q8", "Q2/Q9", "Q7"]
    finally:
        plt.close(fig)


def test_importing_the_report_keeps_the_backend():
    code = "import matplotlib; matplotlib.use('svg'); import analysis.report; print(matplotlib.get_backend())"
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "svg"


# -- the answers follow the run's tables ------------------------------------------------------------
def test_answers_follow_the_tables(run, lines):
    results = run.results.copy()
    ann = results["method"] == "ann"
    results.loc[ann, ["correct", "accuracy"]] = [180, 0.5]
    equivalence = run.table("equivalence").copy()
    equivalence.loc[equivalence["T"] == 2, "if_max_abs_logit_diff"] = 7.25
    changed = answers(run.replace(results=results, equivalence=equivalence))
    # cnn_small QCFS 349 vs ANN 180 of 360: +46.9 pp; resnet_small 346 vs 180: +46.1 pp
    assert "QCFS vs ANN +46.1 to +46.9 pp" in changed["Q10"] and "QCFS vs ANN −0.6 pp" in lines["Q10"]
    assert "up to 7.25" in changed["Q1"] and "up to 7.25" not in lines["Q1"]


def test_several_seeds_give_mean_and_spread(tmp_path):
    from analysis.report import all_answers

    table = all_answers(load_run(make_run(tmp_path / "seeds", seeds=(0, 1, 2))))["Q10"].table
    # correct counts 300, 299, 298 of 360 → mean 83.1%, sd 0.28 pp, pooled Wilson interval
    row = table[(table["arch"] == "cnn_small") & (table["step"] == "IF(T=4)")].iloc[0]
    assert row["accuracy"] == "83.1% ± 0.3 over 3 seeds [80.7–85.2]"


def test_a_run_without_optional_tables_or_methods_says_not_in_this_run(tmp_path):
    run_dir = make_run(tmp_path / "small", methods=("ann", "qcfs"), optional_tables=False)
    lines = answers(load_run(run_dir))
    for qid in ("Q1", "Q2", "Q3", "Q4", "Q6", "Q7", "Q9", "Q11"):
        assert lines[qid].startswith(f"{qid}: n/a: not in this run — "), lines[qid]
    assert "n/a" in lines["Q13"]
    text = render(load_run(run_dir), "small")
    assert "## Q7:" in text and "**Verdict** — n/a: not in this run — no breakeven.csv rows" in text
    assert "## Limits" in text
    for qid in ("Q1", "Q4", "Q7"):  # their figures say what is missing instead of failing
        fig = QUESTIONS.get(qid).figure(load_run(run_dir))
        assert any(NO_DATA in t for ax in fig.axes for t in _texts(ax)), qid
        plt.close(fig)


def test_an_incomplete_run_is_refused(tmp_path):
    run_dir = make_run(tmp_path / "cut")
    (run_dir / "manifest.json").unlink()
    with pytest.raises(IncompleteRunError):
        load_run(run_dir)


# -- the report ------------------------------------------------------------------------------------
def test_report_has_every_section_with_verdict_table_figure_and_caption(run_dir, report, appendix):
    sections = {s.split(":")[0].split("\n")[0].strip(): s for s in re.split(r"^## ", report, flags=re.M)[1:]}
    for qid in QUESTION_IDS:
        body = sections[qid]
        links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", body)
        assert links and all((run_dir / link).is_file() for link in links), qid
        assert f"_{QUESTIONS.get(qid).caption}_" in body
        verdict = next(line for line in body.splitlines() if line.startswith("**Verdict** — "))
        assert "could not be computed" not in verdict, verdict
        assert "|---" in body, qid
        assert "_Conventions it depends on_ — " in body, qid
    q10 = appendix.split("## Q10:")[1].split("\n## ")[0]
    assert "_Per-layer IF error against the quantized activation (T=4)_" in q10
    assert "| cnn_small | 4 | act2 | 3 | layer1.0 |" in q10
    assert "per-layer IF error against the quantized activation (T=4)" in sections["Q10"]  # named, linked
    for heading in ("## Limits", "## Answers at a glance", "## Sensitivity to pricing conventions", "## Appendix"):
        assert heading in report
    for heading in ("## Accuracies (95% Wilson interval", "## Pricing conventions", "## Hardware models",
                    "## Pricing warnings", "## Configuration", "## Sensitivity: every verdict"):
        assert heading in appendix and heading not in report
    assert "![The headline answers on one page](figures/summary.png)" in report
    assert "Horowitz" in appendix and "0123456789abcdef" in appendix
    assert not list(run_dir.glob(".report.md*"))


def test_the_glance_has_one_line_per_question(report, lines):
    glance = report.split("## Answers at a glance")[1].split("\n## ")[0]
    items = [line for line in glance.splitlines() if line.startswith("- ")]
    assert [item[2:] for item in items] == list(lines.values())
    assert [item[2:].split(":")[0] for item in items] == QUESTION_IDS


def test_every_accuracy_in_the_report_tables_has_its_interval(appendix):
    table = appendix.split("## Accuracies")[1].split("## ")[0]
    rows = [line for line in table.splitlines() if line.startswith("| cnn_small") or line.startswith("| resnet")]
    assert len(rows) == 2 * 32  # every evaluated network of both archs (tests/report_run.py's _units)
    assert all(re.search(r"\d+\.\d% \[\d+\.\d–\d+\.\d\]", row) for row in rows)
    assert "| cnn_small | 4 | 4 | default | IF(T=4) | 83.3% [79.1–86.8] | 360 |" in table


def test_warnings_come_from_warnings_csv_per_reference_network(run, appendix):
    warnings = appendix.split("## Pricing warnings")[1].split("## Configuration")[0]
    table = run.table("warnings")
    assert f"{len(table)} warning(s) over every network in warnings.csv" in warnings
    assert all(f"### {model}" in warnings for model in HARDWARE)
    assert "- IF(T=4): flops45nm does not price these events (per inference): cmp=1.2e+04\n" in warnings
    assert " | " not in "".join(table["warning"])  # one warning per row: nothing joined


def test_limits_section_is_computed_from_the_run(report):
    limits = report.split("## Limits")[1].split("## ")[0]
    assert "Data: digits, 8×8 pixels, 1 channel(s), 10 classes; 1437 training and 360 test images: one test image " \
           "= 0.28 pp of accuracy." in limits
    assert "Seeds: 1 (0): one training run per network" in limits
    assert "Model cnn_small: 12,345 parameters (width=8); 1 of 2 conv layers work on 1×1 maps" in limits
    assert "flops45nm compute 100%, sata weight_memory 93%, spikesim interconnect 50%" in limits
    assert ("unpaired accuracy differences under about ±4.4 pp between" not in limits
            and "unpaired accuracy differences under about ±4.4 pp (the 95% interval of a difference at the run's "
                "median accuracy 90.0% on 360 images; one accuracy alone is ±3.1 pp)") in limits
    assert "this run has no per-image predictions, so every comparison is unpaired" in limits
    assert "Read a ranking under flops45nm as one of arithmetic only" in limits
    assert "Read a ranking under sata as one of weight memory" in limits
    assert "Weights (the shared placement rule, by size and lifetime): resident on chip under sata" in limits
    assert "claims about 32×32 or larger images; these are 8×8" in limits


def test_conventions_section_prints_what_pricing_applied(appendix):
    section = appendix.split("## Pricing conventions")[1].split("\n## ")[0]
    assert "| hardware | method | if_dataflow | weight_fetch |" in section
    assert "| sata | IF(T=4) | time_outer | resident on chip |" in section
    assert "- **flops45nm** prices at zero by construction: mul, mod." in section


def test_hardware_section_reads_hardware_csv(appendix):
    section = appendix.split("## Hardware models")[1].split("\n## ")[0]
    assert "- **flops45nm** — the flops45nm model. Paper: Horowitz, ISSCC 2014." in section
    assert "  - Assumptions: sata assumes this" in section
    assert "- **sata**: psum_bits=16 (pre-activations (partial sums and membranes) stored at 16 bits)" in section


def test_answers_of_a_run_folder_path(run_dir, lines):
    assert answers(run_dir) == lines


def test_the_report_reads_only_the_run_folder(report, appendix):
    """The module's report was drawn while building any hardware model raised (see the fixture)."""
    assert "## Sensitivity to pricing conventions" in report and "## Hardware models" in appendix


def test_with_every_model_a_headline_model_figures_show_the_primaries(run):
    import pandas as pd

    extra = [f"sata_variant_{i}" for i in range(6)]  # 9 headline models, 3 of them primaries
    sata = run.results[run.results["hardware"] == "sata"]
    results = pd.concat([run.results, *[sata.assign(hardware=name) for name in extra]], ignore_index=True)
    hardware = pd.concat([run.table("hardware"), pd.DataFrame(
        [{"name": name, "headline": True, "family": "sata", "primary": False, "changes": "one convention"}
         for name in extra])], ignore_index=True)
    everything = run.replace(results=results, hardware=hardware)
    assert everything.hardware_models() == [*HARDWARE, *extra]
    assert everything.figure_models() == HARDWARE
    fig = QUESTIONS.get("Q5").figure(everything)
    try:
        assert len([ax for ax in fig.axes if ax.get_visible()]) == len(HARDWARE)
    finally:
        plt.close(fig)
    assert len(answers(everything)["Q8"]) <= 320


def test_figures_drawn_by_forked_processes_equal_those_drawn_in_turn(run, run_dir, report, tmp_path):
    from analysis.report.figures import draw_all, figure_jobs

    serial = draw_all(run, tmp_path / "serial", jobs=1)
    if figure_jobs() >= 2:  # the shared report's figures were drawn by forked processes (write_report)
        parallel = {key: run_dir / "figures" / path.name for key, path in serial.items()}
    else:
        parallel = draw_all(run, tmp_path / "parallel", jobs=2)
    assert list(serial) == list(parallel) == ["summary", *(q.qid for q in ordered_questions())]
    for key, path in serial.items():
        other = parallel[key]
        assert path.name == other.name and path.stat().st_size > 10_000, key
        assert path.read_bytes() == other.read_bytes(), key  # Agg draws the same pixels in any process
    assert figure_jobs() >= 1


def test_a_drawer_ended_by_the_pool_prints_no_traceback(capfd, monkeypatch):
    """Under `onespike` SIGTERM raises an exception (analysis.stop); the drawing pool ends its idle
    drawers by SIGTERM, so a drawer must not inherit that handler (each printed a traceback), not even
    when the pool ends before the drawer has started (a busy machine: 1 pool in 50 printed one)."""
    import signal
    import time

    from analysis.report import figures
    from analysis.report.figures import drawing_pool
    from analysis.stop import stop_on_sigterm

    previous = stop_on_sigterm()
    assert previous is not None
    try:
        with drawing_pool(2) as pool:
            assert pool.apply(signal.getsignal, (signal.SIGTERM,)) == signal.SIG_DFL
            pool.terminate()  # what leaving the pool does: SIGTERM to each drawer still alive
            pool.join()
        starts = figures._drawer_starts

        def slow_start():  # a drawer still starting when the pool ends (SIGTERM comes during the sleep)
            time.sleep(0.5)
            starts()

        monkeypatch.setattr(figures, "_drawer_starts", slow_start)
        with drawing_pool(2) as pool:
            time.sleep(0.1)  # both drawers forked, neither started
            pool.terminate()
            pool.join()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert "Traceback" not in capfd.readouterr().err
