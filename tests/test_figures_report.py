"""Report and figures from a run folder's tables: the answers state known values of a synthetic run
(tests/report_run.py: the study's table schema, numbers chosen so every answer is known), the
figures and their panels draw into given axes with bars from zero, the report has every section, and
a run lacking optional tables or methods says "not in this run" instead of failing."""

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

from analysis.report import QUESTIONS, answers, load_run, write_report
from analysis.report.markdown import render
from analysis.report.plotting import NO_DATA
from analysis.report.questions import ordered_questions
from analysis.run_folder import IncompleteRunError
from tests.report_run import HARDWARE, make_run

ROOT = Path(__file__).resolve().parents[1]
QUESTION_IDS = [f"Q{i}" for i in range(1, 15)] + ["Pareto"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("run") / "synthetic")


@pytest.fixture(scope="module")
def run(run_dir):
    return load_run(run_dir)


@pytest.fixture(scope="module")
def lines(run) -> dict[str, str]:
    return answers(run)


@pytest.fixture(scope="module")
def report(run_dir) -> str:
    return write_report(run_dir).read_text(encoding="utf-8")


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


# -- the registry and the figures -------------------------------------------------------------------
def test_one_registry_in_report_order():
    assert [q.qid for q in ordered_questions()] == QUESTION_IDS
    for _, question in QUESTIONS.items():
        assert question.title and question.caption and question.panels and callable(question.answer)
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


def test_a_figure_takes_a_hardware_subset(run):
    fig = QUESTIONS.get("Q5").figure(run, hardware=["sata", "spikesim"])
    try:
        assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["sata", "spikesim"]
        assert fig._suptitle.get_text().startswith("Q5:")
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="not in this run"):
        QUESTIONS.get("Q5").figure(run, hardware=["loihi"])


def test_importing_the_report_keeps_the_backend():
    code = "import matplotlib; matplotlib.use('svg'); import analysis.report; print(matplotlib.get_backend())"
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "svg"


# -- the answers state the run's values ------------------------------------------------------------
def test_answers_state_the_known_values(lines):
    assert "max |logit difference| 2.4e-14" in lines["Q1"] and "agreement ≥ 100.0%" in lines["Q1"]
    assert "OneSpike(G=4) takes 1 sequential step(s) × 4 parallel group(s)" in lines["Q2"]
    assert "OneSpike/IF ACs 1×" in lines["Q2"]
    # Q3: every op kind per neuron per group, pooling/readout apart, mul/mod priced on the same network
    assert "exact PSG does 2.32 add + 1 mul + 1 mod + 1 cmp per neuron per group" in lines["Q3"]
    assert "hardware PSG does 2.32 add + 1 mask + 1 cmp per neuron per group" in lines["Q3"]
    assert "pool pool1 512 shift" in lines["Q3"] and "other readout 10 shift" in lines["Q3"]
    assert "mul/mod cost 4.8% of exact PSG's energy" in lines["Q3"]  # exact_pow2 priced 1.05× hardware
    assert "94.2% [91.2–96.2]" in lines["Q3"] and "−2.8 pp (within the interval)" in lines["Q3"]
    assert "recorded currents" in lines["Q4"] and "at T=8 IF 0.05 vs PSG 0.0125" in lines["Q4"]
    assert "sata 95%/95% (largest: weight_memory/weight_memory)" in lines["Q5"]
    assert "IF(T=4) 2.4e+04, OneSpike(G=4) 6e+03" in lines["Q6"] and "(OneSpike/IF 0.25×)" in lines["Q6"]
    assert "flops45nm 38.0%" in lines["Q7"] and "sata none (SNN dearer at every rate)" in lines["Q7"]
    assert "flops45nm 0.75 pJ, spikesim 2.5 pJ" in lines["Q7"] and "5.7%" in lines["Q7"]
    assert "float ANN is cheaper than the 3-bit QNN under 1 of 3" in lines["Q7"]
    assert "Yan et al.'s cases, published vs ours: T=5 5.7% vs 38.0%." in lines["Q7"]
    assert "QCFS cheaper than OneSpike(G=4) under spikesim but dearer under flops45nm, sata" in lines["Q8"]
    assert "OneSpike(G=4) 16× / 5× / 1.4×" in lines["Q8"]
    assert "energy grows 8× (IF), 8× (OneSpike)" in lines["Q9"]
    assert "IF(T=4) 83.3% [79.1–86.8] (−13.6 pp vs QCFS)" in lines["Q10"]
    assert "error enters at conv2 (relative error 0.15)" in lines["Q10"] and "block layer1.0" in lines["Q10"]
    assert "calibrated on training activations: accuracy vs the shared threshold G=2 +0.3 pp (within" in lines["Q11"]
    assert "θ_i = 2^i·θ₀: accuracy vs the shared threshold G=2 −33.3 pp," in lines["Q11"]
    assert "spikesim OneSpike/QCFS 1.4×" in lines["Q12"] and "sata OneSpike/QCFS 0.8×" in lines["Q12"]
    assert "OneSpike(G=1) (equal bits) 77.5% [72.9–81.5], BNN +11.1 pp" in lines["Q13"]
    assert "BNN trained 6 epochs, ANN 8" in lines["Q13"]
    assert "sata OneSpike(G=4) 4e+05 pJ" in lines["Pareto"]


def test_answers_follow_the_tables(run, lines):
    results = run.results.copy()
    ann = results["method"] == "ann"
    results.loc[ann, ["correct", "accuracy"]] = [180, 0.5]
    equivalence = run.table("equivalence").copy()
    equivalence.loc[equivalence["T"] == 2, "if_max_abs_logit_diff"] = 7.25
    changed = answers(run.replace(results=results, equivalence=equivalence))
    assert "ANN 50.0% [44.9–55.1]" in changed["Q10"] and "ANN 50.0%" not in lines["Q10"]
    assert "up to 7.25 (T=2" in changed["Q1"]


def test_several_seeds_give_mean_and_spread(tmp_path):
    lines = answers(load_run(make_run(tmp_path / "seeds", seeds=(0, 1, 2))))
    # correct counts 300, 299, 298 of 360 → mean 83.1%, sd 0.28 pp, pooled Wilson interval
    assert "IF(T=4) 83.1% ± 0.3 over 3 seeds [80.7–85.2] (−13.6 pp vs QCFS)" in lines["Q10"]


def test_a_run_without_optional_tables_or_methods_says_not_in_this_run(tmp_path):
    run_dir = make_run(tmp_path / "small", methods=("ann", "qcfs"), optional_tables=False)
    lines = answers(load_run(run_dir))
    for qid in ("Q1", "Q2", "Q3", "Q4", "Q6", "Q7", "Q9", "Q11"):
        assert lines[qid].startswith(f"{qid}: not in this run — "), lines[qid]
    assert "BNN not in this run" in lines["Q13"]
    assert "QCFS 96.9% [94.6–98.3] (−0.6 pp (within the interval) vs ANN)" in lines["Q10"]
    text = render(load_run(run_dir), "small")
    assert "## Q7:" in text and "**Answer** — Q7: not in this run — no breakeven.csv rows" in text
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
def test_report_has_every_section_with_figure_caption_answer_and_table(run_dir, report):
    sections = {s.split(":")[0].split("\n")[0].strip(): s for s in re.split(r"^## ", report, flags=re.M)[1:]}
    for qid in QUESTION_IDS:
        body = sections[qid]
        links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", body)
        assert links and all((run_dir / link).is_file() and (run_dir / link).with_suffix(".svg").is_file()
                             for link in links), qid
        assert f"_{QUESTIONS.get(qid).caption}_" in body
        answer = next(line for line in body.splitlines() if line.startswith("**Answer** — "))
        assert answer.removeprefix("**Answer** — ").startswith(qid) and "could not be computed" not in answer
        assert "|---" in body, qid
    assert "_Per-layer IF error against the quantized activation (T=4)_" in sections["Q10"]
    assert "| cnn_small | 4 | act2 | 3 | layer1.0 |" in sections["Q10"]
    for heading in ("## Limits", "## Accuracies (95% Wilson interval", "## Pricing conventions", "## Hardware models",
                    "## Pricing warnings", "## Configuration"):
        assert heading in report
    assert "Horowitz" in report and "0123456789abcdef" in report
    assert not list(run_dir.glob(".report.md*"))


def test_every_accuracy_in_the_report_tables_has_its_interval(report):
    table = report.split("## Accuracies")[1].split("## ")[0]
    rows = [line for line in table.splitlines() if line.startswith("| cnn_small") or line.startswith("| resnet")]
    assert len(rows) == 2 * 31  # every evaluated network of both archs (tests/report_run.py's _units)
    assert all(re.search(r"\d+\.\d% \[\d+\.\d–\d+\.\d\]", row) for row in rows)
    assert "| cnn_small | 4 | 4 | default | IF(T=4) | 83.3% [79.1–86.8] | 360 |" in table


def test_warnings_are_grouped_and_none_is_dropped(run, report):
    warnings = report.split("## Pricing warnings")[1].split("## Configuration")[0]
    expected = {w for text in run.results["warnings"].dropna() for w in str(text).split(" | ") if w}
    assert len(expected) > 30  # more than the old 30-line cut
    for warning in expected:
        assert warning in warnings
    assert all(f"### {model}" in warnings for model in HARDWARE)
    assert "- IF, cnn_small (T/G = 4): flops45nm does not price these events (per inference): cmp=1.2e+04\n" in warnings
    assert "78 distinct warning(s) over 12 (hardware model, method, architecture) group(s)" in warnings


def test_limits_section_is_computed_from_the_run(report):
    limits = report.split("## Limits")[1].split("## ")[0]
    assert "Data: digits, 8×8 pixels, 1 channel(s), 10 classes; 1437 training and 360 test images: one test image " \
           "= 0.28 pp of accuracy." in limits
    assert "Seeds: 1 (0): one training run per network" in limits
    assert "Model cnn_small: 12,345 parameters (width=8); 1 of 2 conv layers work on 1×1 maps" in limits
    assert "flops45nm compute 100%, sata weight_memory 93%, spikesim interconnect 50%" in limits
    assert ("accuracy differences under about ±4.4 pp between two networks (the 95% interval of a difference at "
            "the run's median accuracy 90.0% on 360 images; one accuracy alone is ±3.1 pp)") in limits
    assert "a method ranking under flops45nm, sata as a statement about computation" in limits
    assert "claims about 32×32 or larger images; these are 8×8" in limits


def test_conventions_section_prints_every_row():
    from analysis.report.sections import conventions_section

    rows = [{"hardware": "sata", "method": m, "weight_bits": 8, "act_bits": 1 if m == "if" else 3,
             "accumulator_bits": 24, "vmem_bits": 16, "zero_skipping": True, "fused_activation": False,
             "first_layer_reuse": "once", "if_dataflow": "time-outer", "deploy_form": "bn-folded", "option": ""}
            for m in ("qcfs", "if")]
    text = conventions_section(rows)
    header = ("| hardware | method | weight_bits | act_bits | accumulator_bits | vmem_bits | zero_skipping | "
              "fused_activation | first_layer_reuse | if_dataflow | deploy_form | option |")
    assert header in text
    assert "| sata | if | 8 | 1 | 24 | 16 | True | False | once | time-outer | bn-folded |  |" in text
    assert "No conventions table" in conventions_section(None)


def test_answers_of_a_run_folder_path(run_dir, lines):
    assert answers(run_dir) == lines
