"""Every question's verdict on synthetic run folders (tests/report_run.py): the quotable sentence
opens with its answer and carries the number behind it, says "Depends ..." and names the models when
they disagree, names the conventions it depends on (sensitivity.csv), compares networks on the same
images with an exact McNemar test where the run has predictions, and says what it cannot answer."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pandas as pd
import pytest
from scipy.stats import binomtest

from analysis.report import all_answers, answers, load_run, question
from analysis.report.markdown import render_both
from analysis.report.paired import compare, mcnemar_exact
from analysis.report.verdict import MAX_SENTENCE
from tests.report_run import TEST_SAMPLES, make_run

QUESTION_IDS = [f"Q{i}" for i in range(1, 16)] + ["Pareto"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return load_run(make_run(tmp_path_factory.mktemp("verdicts") / "run"))


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    return load_run(make_run(tmp_path_factory.mktemp("paired") / "run", predictions=True))


@pytest.fixture(scope="module")
def one_arch(tmp_path_factory):
    return load_run(make_run(tmp_path_factory.mktemp("one") / "run", archs=("cnn_small",)))


def verdict(run, qid):
    return question(qid).verdict(run)


# -- every sentence --------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["run", "paired", "one_arch"])
def test_every_sentence_is_short_opens_with_its_answer_and_has_a_number(which, request):
    found = answers(request.getfixturevalue(which))
    assert list(found) == QUESTION_IDS
    for qid, line in found.items():
        sentence = line.removeprefix(f"{qid}: ")
        assert len(sentence) <= MAX_SENTENCE, (qid, len(sentence), sentence)
        assert any(ch.isdigit() for ch in sentence), (qid, sentence)
        assert sentence[0].isupper() or sentence.startswith("n/a"), (qid, sentence)


def test_q1_says_yes_in_float64(run):
    text = verdict(run, "Q1").sentence
    assert text.startswith("Yes, up to float64 rounding: OneSpike(G) vs QCFS(L=G) max |Δlogit| 2.4e-14")
    assert "identical predictions on all 360 images" in text and "IF(T) does not (max |Δlogit| up to 0.95" in text
    assert not verdict(run, "Q1").claims  # no hardware model enters it


def test_q1_reports_float32_deploy_form_facts_when_the_table_has_them(run):
    table = run.table("equivalence").assign(onespike_float32_level_flips=[0, 2, 5, 1] * 2)
    details = question("Q1").answer(run.replace(equivalence=table)).details
    assert "Float32 deploy form: onespike float32 level flips up to 5" in details
    assert "no float32 column" in question("Q1").answer(run).details


def test_q2_latency_by_construction_no_for_work(run):
    text = verdict(run, "Q2").sentence
    assert text.startswith("Only by construction, and no for work: OneSpike(G=4)'s 1 step vs IF(T=4)'s 4 is declared")
    assert "in hardware 4 groups need 4× the units or 4× the cycles" in text
    assert "do 1× IF's accumulates" in text


def test_q2_table_and_reference_line_use_the_counts_that_are_priced(run):
    answer = question("Q2").answer(run)
    assert set(answer.table["method"]) == {"if", "onespike"}
    assert "zero-gated MACs (the count a zero-skipping model prices)" in answer.details


def test_q3_share_of_psg_logic_and_zero_by_construction(run):
    found = verdict(run, "Q3")
    assert found.sentence.startswith("Depends on the hardware model: mul/mod are 40% of exact PSG's own logic energy "
                                     "under sata; 0 by construction under flops45nm and spikesim (G=4)")
    assert set(found.claims) == {("sata", "mul/mod are at least half of exact PSG's logic energy")}
    table = question("Q3").answer(run).more["Where mul/mod cost nothing by construction"]
    assert list(table["hardware"]) == ["flops45nm", "spikesim"]


def test_q4_recorded_currents(run):
    assert verdict(run, "Q4").sentence.startswith(
        "Yes: on the trained network's recorded layer currents PSG's spike count is closer to the ideal value than "
        "IF's at 4 of 4 T (T=8: mean |error| 0.0125 vs 0.05 θ)")


def test_q5_depends_and_names_the_models(run):
    found = verdict(run, "Q5")
    assert found.sentence == ("Depends on the hardware model: memory (weights, activations, membranes, DRAM) is 95% "
                              "of OneSpike(G=4)'s energy under sata; 10% under spikesim; 0% under flops45nm (no "
                              "memory priced).")


def test_q6_membrane_share_of_if(run):
    assert verdict(run, "Q6").sentence.startswith("Little under every model: membrane traffic is 2% of IF(T=4)'s "
                                                  "energy under sata; 0% under flops45nm and spikesim (not priced)")
    # the count ratio with the energy ratio beside it (sata prices OneSpike's membrane share at 2% of 0.8×)
    assert "OneSpike(G=4): 0.25× IF's membrane accesses, 0.67× its membrane energy" in verdict(run, "Q6").sentence


def test_q7_at_the_measured_rate_and_the_break_even(run):
    text = verdict(run, "Q7").sentence
    assert text.startswith("Depends on the hardware model: at its measured spike rate (12.0%) IF(T=5) costs "
                           "0.62×–2× the equivalent 3-bit QNN, less under flops45nm")
    assert "breaks even below a spike rate of 3.0%–38.0% under flops45nm and spikesim (published ≈5.7%)" in text


def test_q8_ranking_depends_on_the_model_and_names_the_if_dataflow(run):
    found = verdict(run, "Q8")
    assert found.sentence == ("Yes, the ranking changes between models: OneSpike(G=4) is cheaper than the float ANN "
                              "under all 3 models (gain 1.4×–16×), than IF(T=4) under sata and spikesim (IF "
                              "time-outer) and than QCFS under flops45nm and sata; it ranks #2–#4 of 6.")
    assert found.claims[("flops45nm", "OneSpike(G=4) vs IF(T=4)")].value == "within 1%"  # 0.5 vs 0.5: a tie


def test_q8_table_is_a_rank_table(run):
    table = question("Q8").answer(run).table
    assert list(table.columns) == ["method", "flops45nm", "sata", "spikesim"]
    row = table[table["method"] == "OneSpike(G=4)"].iloc[0]
    assert row["sata"] == "#2 (0.2×)" and row["spikesim"] == "#4 (0.7×)"


def test_q9_growth(run):
    assert verdict(run, "Q9").sentence.startswith(
        "Energy grows with T under every model: from T=1 to 8, IF ×8, OneSpike ×8; latency grows only where steps "
        "are sequential (IF 8, OneSpike 1 step(s) at T=8)")


def test_q10_unpaired_without_predictions(run):
    text = verdict(run, "Q10").sentence
    assert text.startswith("Each conversion step's change (2 archs): worst step IF(T=4) vs QCFS −13.6 pp (")
    assert "IF(T=4) vs QCFS −13.6 pp" in text and "OneSpike(G=4) vs QCFS +0.0 pp" in text
    table = question("Q10").answer(run).table
    row = table[table["step"] == "OneSpike(G=4)"].iloc[0]
    assert row["vs parent"] == "+0.0 pp (within the interval, unpaired) vs QCFS"


def test_q10_paired_mcnemar_with_predictions(paired):
    text = verdict(paired, "Q10").sentence
    assert text.startswith("OneSpike is lossless against its quantized ANN on all 2 archs: worst step IF(T=4) vs "
                           "QCFS −13.6 pp (cnn_small)")
    assert "OneSpike(G=4) vs QCFS" not in text  # the opening says it for every arch
    # IF(T=4) 300 right vs QCFS 349: 49 images right only under QCFS, none the other way
    p = binomtest(0, 49, 0.5).pvalue
    table = question("Q10").answer(paired).table
    assert f"−13.6 pp (McNemar b=0, c=49, p={p:.2g}) vs QCFS" in table[table["step"] == "IF(T=4)"]["vs parent"].iloc[0]


def test_mcnemar_counts_discordant_pairs(paired):
    a = paired.rows("if", arch="cnn_small", steps=4)
    b = paired.rows("qcfs", arch="cnn_small")
    found = compare(paired, a, b)
    assert (found.n, found.b, found.c, found.identical) == (TEST_SAMPLES, 0, 49, False)
    assert found.p == pytest.approx(binomtest(0, 49, 0.5).pvalue)
    same = compare(paired, paired.rows("onespike", arch="cnn_small", steps=4), b)
    assert same.identical and same.text() == "identical predictions on all 360 images"


def test_q11_at_chance_is_not_a_working_configuration(run):
    results = run.results.copy()
    binary = results["variant"] == "per_group_binary"
    results.loc[binary, ["correct", "accuracy"]] = [38, 38 / TEST_SAMPLES]
    changed = run.replace(results=results)
    text = verdict(changed, "Q11").sentence
    assert "bit-plane thresholds θ_i = 2^i·θ₀ (2^G levels) are at chance (10.6%): not a working configuration" in text
    table = question("Q11").answer(changed).table
    rows = table[table["variant"] == "per_group_binary"]
    assert rows["Δ"].eq("at chance: not a working configuration").all()
    ratios = [c for c in table.columns if c.startswith("energy ratio")]
    assert rows[ratios].isna().all().all()  # never priced as if it worked
    # at chance at the reference G only: said so there, without an energy figure
    at_g = binary & (results["T"] == 4)
    results = run.results.copy()
    results.loc[at_g, ["correct", "accuracy"]] = [38, 38 / TEST_SAMPLES]
    text = verdict(run.replace(results=results), "Q11").sentence
    assert "bit-plane thresholds θ_i = 2^i·θ₀ (2^G levels) are at chance at G=4 (10.6%; " in text
    assert text.endswith("): not a working configuration.")


def test_q11_no_when_nothing_resolved(run):
    assert verdict(run, "Q11").sentence.startswith("No: calibrated per-group thresholds change accuracy by +0.3 pp "
                                                   "(unresolved) at G=4, for 1× the energy")


def test_q12_needs_two_architectures(one_arch):
    found = verdict(one_arch, "Q12")
    assert found.sentence.startswith("n/a: Q12 needs two or more architectures")
    assert "this run has one (cnn_small)" in found.sentence and "1/1" not in found.sentence


def test_q12_the_methods_advantage_across_architectures(run):
    assert verdict(run, "Q12").sentence.startswith(
        "The method's: on all 2 archs OneSpike(G=4) costs less than its own QCFS under flops45nm and sata (0.5×–0.8×) "
        "and more under spikesim (1.4×)")


def test_q12_the_architectures_when_the_side_changes(run):
    results = run.results.copy()
    at = (results["arch"] == "resnet_small") & (results["method"] == "onespike") & (results["hardware"] == "sata")
    results.loc[at, "energy_pj"] *= 2.0
    text = verdict(run.replace(results=results), "Q12").sentence
    assert text.startswith("Depends on the hardware model: on all 2 archs OneSpike(G=4) costs less than its own QCFS "
                           "under flops45nm (0.5×) and more under spikesim (1.4×)")
    assert "it changes side under sata, the architecture's" in text
    for arch, factor in (("cnn_small", 0.5), ("resnet_small", 2.0)):  # OneSpike below QCFS on one, above on the other
        for model in set(results["hardware"]):
            where = (results["arch"] == arch) & (results["hardware"] == model)
            qcfs = results.loc[where & (results["method"] == "qcfs") & (results["levels"] == 4), "energy_pj"].iloc[0]
            results.loc[where & (results["method"] == "onespike"), "energy_pj"] = factor * qcfs
    text = verdict(run.replace(results=results), "Q12").sentence
    assert text.startswith("The architecture's: OneSpike(G=4)/QCFS energy changes side of 1 between the 2 "
                           "architectures under all 3 models")


def test_q13_accuracy_and_energy(run):
    text = verdict(run, "Q13").sentence
    assert text.startswith("The BNN is less accurate and cheaper: at equal shape BNN vs OneSpike(G=4) −8.3 pp")
    details = question("Q13").answer(run).details
    assert "re-levelled to one level without fine-tuning" in details


def test_pareto_depends_and_names_both_models(run):
    assert verdict(run, "Pareto").sentence == (
        "Depends on the hardware model: the cheapest network within 1 pp of the float ANN's 97.5% is OneSpike(G=4) "
        "under flops45nm and sata; QCFS(L=4) under spikesim (tied within 1% with QCFS(L=8)).")
    table = question("Pareto").answer(run).table
    assert "vs ANN" in table.columns


def test_a_ranking_the_same_under_every_model_says_so(run):
    results = run.results.copy()
    for model in ("flops45nm", "spikesim"):  # every model prices like sata
        for column in [c for c in results.columns if c.endswith("_pj")]:
            results.loc[results["hardware"] == model, column] = results.loc[results["hardware"] == "sata",
                                                                            column].to_numpy()
    same = run.replace(results=results)
    assert verdict(same, "Q8").sentence.startswith("No, every model ranks the methods alike")
    assert verdict(same, "Pareto").sentence.startswith("The same network under every model: ")


# -- the sensitivity to pricing conventions ---------------------------------------------------------
def test_every_verdict_names_the_conventions_it_depends_on(run):
    found = {qid: a.verdict for qid, a in all_answers(run, sensitivity=True).items()}
    q8 = found["Q8"]
    assert q8.depends_on == ("sata · psum_bits=16", "spikesim · first_layer=once")
    assert 'sata · psum_bits=16: "OneSpike(G=4) vs QCFS" cheaper → dearer (0.8× → 1.2×)' in q8.flips_under
    assert 'spikesim · first_layer=once: "OneSpike(G=4) vs QCFS" dearer → cheaper (1.4× → 0.98×)' in q8.flips_under
    assert "sata · zero_skipping=on" in q8.holds_under  # every energy 0.9×: nothing flips
    assert not found["Q1"].claims and not found["Q1"].depends_on
    assert found["Q3"].depends_on == ()  # mul/mod's share of PSG logic moves with every energy alike


def test_the_report_has_one_sensitivity_section(run):
    text, appendix = render_both(run, "x")
    assert text.count("## Sensitivity to pricing conventions") == 1
    assert "Verdicts that flip under at least one: " in text and "Q8" in text.split("flip under at least one")[1]
    section = appendix.split("## Sensitivity: every verdict")[1].split("\n## ")[0]
    assert "- **Q1**: No hardware model enters this verdict" in section
    assert ("- **Q8**: Flips under 2 of 3 alternative pricings: sata · psum_bits=16, spikesim · first_layer=once"
            in section)
    assert ("| Q8 | sata · psum_bits=16 | pre-activations (partial sums and membranes) stored at 16 bits | "
            "OneSpike(G=4) vs QCFS | cheaper (0.8×) | dearer (1.2×) |") in section
    q8 = text.split("## Q8:")[1].split("\n## ")[0]
    assert "_Conventions it depends on_ — Flips under 2 of 3 alternative pricings" in q8


def test_a_question_registered_without_a_verdict_still_reports(run):
    """A question another module registers the old way (an answer line, no verdict function) is in
    the glance, gets its own section, and is left out of the sensitivity section."""
    from analysis.report.questions import QUESTIONS, Answer, Panel, Question, register_question

    def answer(run):
        return Answer("Q99: an answer line with 1 number.", run.results.iloc[0:0])

    def panel(run, ax, *, arch=None, hardware=None):
        ax.plot([0, 1], [0, 1])

    register_question(Question("Q99", "A late question?", "q99_late", answer, (Panel(panel),), "caption"))
    try:
        assert answers(run)["Q99"] == "Q99: an answer line with 1 number."
        text, appendix = render_both(run, "x")
        assert "- Q99: an answer line with 1 number." in text
        assert "## Q99: A late question?" in text and "**Verdict** — an answer line with 1 number." in text
        assert "**Q99**" not in appendix.split("## Sensitivity: every verdict")[1].split("\n## ")[0]
    finally:
        QUESTIONS.remove("Q99")


@pytest.mark.parametrize(("b", "c"), [(0, 0), (1, 0), (3, 9), (10, 10), (0, 25), (40, 61), (200, 150), (5, 6)])
def test_exact_mcnemar_equals_scipys_binomial_test(b, c):
    expected = binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="discordant"):
        mcnemar_exact(-1, c)


def test_q13_uses_the_networks_fine_tuned_at_one_level_when_the_run_has_them(run):
    results = run.results
    equal_bits = results[((results["method"] == "onespike") & (results["T"] == 1))
                         | ((results["method"] == "qcfs") & (results["levels"] == 1))]
    assert not equal_bits.empty
    finetuned = equal_bits.assign(variant="finetuned", correct=TEST_SAMPLES - 5,
                                  accuracy=(TEST_SAMPLES - 5) / TEST_SAMPLES)
    with_finetuned = run.replace(results=pd.concat([results, finetuned], ignore_index=True))
    text = verdict(with_finetuned, "Q13").sentence
    assert "vs OneSpike(G=1) (equal bits, fine-tuned at L=1)" in text
    answer = question("Q13").answer(with_finetuned)
    assert "fine-tuned from the ANN at L=1" in answer.details
    bits = answer.table[answer.table["comparison"] == "equal bits"]
    assert set(bits["accuracy"].str[:4]) == {f"{100 * (TEST_SAMPLES - 5) / TEST_SAMPLES:.1f}"[:4]}
