"""Q2 and Q9 give cycles beside steps where a model provides them, and nothing where none does."""

import numpy as np
import pytest

from analysis.report.cycles import cycle_models, cycles_sentence, with_cycles
from analysis.report.equivalence import answer_q2
from analysis.report.scaling import answer_q9
from analysis.report.tables import load_run
from analysis.report.text import number
from tests.report_run import make_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    plain = load_run(make_run(tmp_path_factory.mktemp("cycles") / "run", archs=("cnn_small",)))
    results = plain.results.copy()
    # sata "maps layers": IF(T) T x 1000 cycles, OneSpike(G) 900 x G, others 1000; other models give none
    cycles = np.where(results["method"] == "if", 1000.0 * results["T"],
                      np.where(results["method"] == "onespike", 900.0 * results["T"], 1000.0))
    results["latency_cycles"] = np.where(results["hardware"] == "sata", cycles, np.nan)
    return plain, plain.repriced(results)


def test_no_model_with_cycles_adds_nothing(runs):
    plain, _ = runs
    assert cycle_models(plain) == []
    assert cycles_sentence(plain, "cnn_small", 4) == ""
    assert not any("cycles" in str(c) for c in answer_q2(plain).table.columns)


def test_q2_and_q9_show_cycles_beside_steps(runs):
    _, cycled = runs
    assert cycle_models(cycled) == ["sata"]
    sentence = cycles_sentence(cycled, "cnn_small", 4)
    assert f"OneSpike(G=4) takes {number(3600)} cycles vs IF(T=4)'s {number(4000)} (0.9×)" in sentence
    q2 = answer_q2(cycled)
    row = q2.table[(q2.table["method"] == "if") & (q2.table["T"] == 4)].iloc[0]
    assert row["cycles sata"] == 4000 and row["latency_steps"] == 4
    assert "In cycles" in q2.details
    q9 = answer_q9(cycled)
    assert list(q9.table.set_index("T")["sata OneSpike cycles"]) == [900.0 * t for t in sorted(q9.table["T"])]


def test_with_cycles_leaves_a_row_without_a_price_empty(runs):
    _, cycled = runs
    table = with_cycles(cycled, cycled.per_inference().head(0).reindex(columns=["method", "T"]), "cnn_small")
    assert "cycles sata" in table.columns and table.empty
