"""Directly trained SNNs in the study and Q14 (issue 20): the methods are registered like every
other, a small study trains them, counts and prices them and answers Q14 with numbers, Q14's
verdict follows its rule on a synthetic run, and a user's SpikingJelly/snnTorch network is counted
by `onespike count --model` and studied by the direct branch alone."""

import json
import sys

import pandas as pd
import pytest
import torch

from analysis.cli import main
from analysis.methods import Method, StepAxis, TrainingKind, get_method, infer_method
from analysis.report import all_answers, load_run
from analysis.report.direct import TOLERANCE_PP, answer_q14
from analysis.report.tables import RunTables
from analysis.study.config import StudyConfig
from analysis.study.plan import ONESTEP, build_plan
from analysis.study.runner import run_study
from energy_models import EventLedger

DIRECT = [Method.DIRECT_IF, Method.DIRECT_LIF, Method.DIRECT_IF_PSG, Method.DIRECT_LIF_PSG]

NETS = '''
import torch
from torch import nn
from spikingjelly.activation_based import functional, layer, neuron
import snntorch as snn

from analysis.snn import TimeLoop


def sj_net(num_classes=10, in_channels=1, image_size=8):
    net = nn.Sequential(layer.Conv2d(in_channels, 4, 3, padding=1), neuron.LIFNode(tau=2.0), layer.Flatten(),
                        layer.Linear(4 * image_size * image_size, num_classes))
    functional.set_step_mode(net, "m")
    return TimeLoop(net, 4)


class Tutorial(nn.Module):
    """snnTorch's tutorial shape: its own loop over T."""

    def __init__(self, num_classes=10, in_channels=1, image_size=8):
        super().__init__()
        self.fc1 = nn.Linear(in_channels * image_size * image_size, 16)
        self.lif1 = snn.Leaky(beta=1.0)
        self.fc2 = nn.Linear(16, num_classes)
        self.lif2 = snn.Leaky(beta=1.0)

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        out = 0
        for _ in range(4):
            spk1, mem1 = self.lif1(self.fc1(x.flatten(1)), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out = out + spk2
        return out / 4
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    pytest.importorskip("spikingjelly.activation_based.neuron")
    pytest.importorskip("snntorch")
    folder = tmp_path / "project"
    (folder / "fwpkg").mkdir(parents=True)
    (folder / "fwpkg" / "__init__.py").write_text("")
    (folder / "fwpkg" / "nets.py").write_text(NETS)
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name in [m for m in sys.modules if m.split(".")[0] == "fwpkg"]:
        del sys.modules[name]


def test_direct_methods_are_registered_beside_the_others():
    for name in (Method.DIRECT_IF, Method.DIRECT_LIF):
        spec = get_method(name)
        assert spec.training is TrainingKind.DIRECT and spec.trains_directly and spec.steps is StepAxis.TIME
        assert spec.spiking and spec.parent == Method.ANN
    for name, parent in ((Method.DIRECT_IF_PSG, Method.DIRECT_IF), (Method.DIRECT_LIF_PSG, Method.DIRECT_LIF)):
        spec = get_method(name)
        assert spec.parent == parent and spec.steps is StepAxis.GROUPS and not spec.trained
    assert len({get_method(m).color for m in DIRECT}) == 4


def test_the_plan_trains_them_per_t_up_to_the_limit():
    config = StudyConfig.quick(methods=[Method.ANN, *DIRECT], timesteps=[1, 4, 16], direct_max_steps=8)
    plan = build_plan(config)
    direct = {(u.method, u.steps, u.kind) for u in plan if u.method in DIRECT}
    assert (Method.DIRECT_LIF, 4, ONESTEP) in direct and (Method.DIRECT_LIF_PSG, 4, "eval") in direct
    assert not any(steps == 16 for _, steps, _ in direct)  # T = 16 is past direct_max_steps
    assert len(direct) == 2 * (4 + 2)  # T = 1 and 4: four evaluated networks and two Q14 units each


@pytest.fixture(scope="module")
def direct_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("direct") / "run"
    config = StudyConfig.quick(methods=DIRECT, timesteps=[2, 4], epochs_direct=1, subset=300, count_samples=32,
                               hardware=["sata", "flops45nm"])
    run_study(config, out, progress=False)
    return out


def test_a_quick_study_with_direct_methods_answers_q14_with_numbers(direct_run):
    run = load_run(direct_run)
    results = run.results
    for method in DIRECT:
        rows = results[results["method"] == method]
        assert set(rows["T"]) == {2, 4} and rows["energy_pj"].gt(0).all() and rows["accuracy"].between(0, 1).all()
    layers = pd.read_csv(direct_run / "layers.csv")
    lif = layers[(layers["method"] == Method.DIRECT_LIF) & (layers["kind"] == "neuron")]
    # the leak of λ = 0.5 is a shift, the hard reset a mask per spike, counted in the ledger
    assert lif["rule"].str.contains("leak_shift.hard_reset").all() and (lif["mask"] == lif["spikes"]).all()
    onestep = run.table("onestep")
    assert set(onestep["method"]) == {Method.DIRECT_IF, Method.DIRECT_LIF} and set(onestep["T"]) == {2, 4}
    first = run.table("onestep_layers").groupby(["method", "T"]).head(1)
    assert (first[first["method"] == Method.DIRECT_IF]["count_error"] == 0).all()  # PSG exact on a constant current
    line = all_answers(run)["Q14"].line
    assert line.startswith("Q14: ") and "not in this run" not in line
    assert "IF, soft reset" in line and "LIF λ=0.5, hard reset" in line
    working = results[results["method"].isin([Method.DIRECT_IF, Method.DIRECT_LIF])]["working"].astype(bool)
    if working.all():
        assert " pp " in line and "n/a" not in line
    else:  # one epoch on 300 images may leave an SNN at chance: the verdict must say so, with its accuracy
        assert "not a working SNN" in line and "near chance" in line and "%" in line


def _synthetic(rows):
    onestep = pd.DataFrame([{"arch": "net", "seed": 0, "samples": 1000, "count_error": 0.1, **row} for row in rows])
    for rung in ("snn", "no_leak", "psg_reset", "onestep", "hardware_onestep"):
        onestep[f"{rung}_accuracy"] = onestep.get(f"{rung}_accuracy", onestep["snn_accuracy"])
        onestep[f"{rung}_agreement"] = onestep.get(f"{rung}_agreement", 1.0)
    results = pd.DataFrame([{"arch": "net", "method": m, "T": t, "variant": "default", "hardware": "sata", "seed": 0,
                             "levels": 4, "energy_pj": 100.0 if m.endswith("psg") else 200.0, "accuracy": 0.9}
                            for m in DIRECT for t in (2, 8)])
    return RunTables({"results": results, "onestep": onestep, "onestep_layers": pd.DataFrame()},
                     {"config": {"archs": ["net"], "levels": 4}})


def test_q14_verdict_on_a_synthetic_run():
    base = {"method": Method.DIRECT_IF, "decay": 1.0, "reset": "soft"}
    lif = {"method": Method.DIRECT_LIF, "decay": 0.5, "reset": "hard"}
    run = _synthetic([
        {**base, "T": 2, "snn_accuracy": 0.950, "onestep_accuracy": 0.948, "onestep_agreement": 0.994},
        {**base, "T": 8, "snn_accuracy": 0.960, "onestep_accuracy": 0.957, "onestep_agreement": 0.996},
        {**lif, "T": 2, "snn_accuracy": 0.950, "onestep_accuracy": 0.940, "onestep_agreement": 0.97,
         "no_leak_accuracy": 0.93, "psg_reset_accuracy": 0.94},
        {**lif, "T": 8, "snn_accuracy": 0.960, "onestep_accuracy": 0.915, "onestep_agreement": 0.95,
         "no_leak_accuracy": 0.93, "psg_reset_accuracy": 0.92},
    ])
    answer = answer_q14(run)
    verdict = answer.verdict.sentence
    assert verdict == ("Depends on the neuron (net): holds for IF, soft reset (within 0.3 pp of the SNN at T=2–8, "
                       "agreement ≥ 99.4%); fails for LIF λ=0.5, hard reset (−4.5 pp at T=8, agreement 95.0%).")
    assert len(verdict) <= 300 and answer.line == f"Q14: {verdict}"
    assert "leak −3.0 pp, reset −1.0 pp, timing −0.5 pp" in answer.details
    assert "0.5× of its SNN's" in answer.details
    row = answer.table.set_index(["method", "T"]).loc[(Method.DIRECT_LIF, 8)]
    assert row["delta_pp"] == pytest.approx(-4.5) and row["onestep_energy_pj"] == 100.0
    # within the tolerance either way is "yes"; past it, "no" even when the one step is better
    better = _synthetic([{**lif, "T": 4, "snn_accuracy": 0.90, "onestep_accuracy": 0.90 + (TOLERANCE_PP + 1) / 100}])
    assert answer_q14(better).line.startswith("Q14: No (net): fails for LIF λ=0.5, hard reset (+2.0 pp at T=4")
    only_if = _synthetic([{**base, "T": 2, "snn_accuracy": 0.950, "onestep_accuracy": 0.948}])
    assert answer_q14(only_if).line.startswith("Q14: Yes (net): holds for IF, soft reset (within 0.2 pp")
    assert "not in this run" in answer_q14(RunTables({"results": run.results}, run.payload)).line


def test_count_accepts_a_spikingjelly_and_an_snntorch_network(project, capsys):
    from fwpkg import nets

    for name, net in (("sj.pt", nets.sj_net()), ("tut.pt", nets.Tutorial())):
        torch.manual_seed(0)
        state = {k: v * 6 if k.endswith("weight") else v for k, v in net.state_dict().items()}
        torch.save(state, project / name)  # weights that make it spike
    for ckpt, factory, method in (("sj.pt", "sj_net", Method.DIRECT_LIF), ("tut.pt", "Tutorial", Method.DIRECT_IF)):
        for asked in (None, get_method(method).name + "_psg"):
            argv = ["count", "--checkpoint", ckpt, "--model", f"fwpkg.nets:{factory}", "--samples", "8",
                    "--hardware", "sata", "--json", "ledger.json"] + (["--method", asked] if asked else [])
            assert main(argv) == 0, capsys.readouterr().err
            assert "sata" in capsys.readouterr().out
            ledger = EventLedger.from_dict(json.loads((project / "ledger.json").read_text()))
            assert ledger.method == (asked or method) and ledger.samples == 8 and not ledger.unsupported
            assert ledger.total("spikes") > 0 and (ledger.groups, ledger.timesteps) == ((4, 1) if asked else (1, 4))
    assert main(["count", "--checkpoint", "sj.pt", "--model", "fwpkg.nets:sj_net", "--method", "qcfs"]) == 2
    assert "--method direct_lif" in capsys.readouterr().err


def test_a_study_of_a_users_snn_runs_the_direct_branch_only(project, tmp_path, capsys):
    from fwpkg import nets

    assert infer_method(nets.sj_net()).name == Method.DIRECT_LIF
    torch.save(nets.Tutorial().state_dict(), project / "tut.pt")
    config = StudyConfig.quick(model="fwpkg.nets:Tutorial", archs=["tutorial"], checkpoints=["tut.pt"],
                               timesteps=[2, 4], subset=200, count_samples=16, hardware=["sata"])
    tables = run_study(config, tmp_path / "user", progress=False)
    assert set(tables["results"]["method"]) == {Method.DIRECT_IF, Method.DIRECT_IF_PSG}
    assert set(tables["onestep"]["T"]) == {2, 4}
    assert not list((tmp_path / "user" / "cache").glob("*.pt"))  # the given weights: nothing trained
    with pytest.raises(ValueError, match="need an ANN"):
        run_study(StudyConfig.quick(model="fwpkg.nets:Tutorial", archs=["tutorial"], methods=["ann", "direct_if"]),
                  tmp_path / "refused", progress=False)


def test_snns_trained_ahead_in_another_process_equal_those_trained_in_turn(direct_run, tmp_path, monkeypatch):
    from analysis.study.direct import TrainingAhead

    if not TrainingAhead.possible("cpu"):
        pytest.skip("one CPU (or no fork): the study trains its SNNs in turn, there is nothing to compare")
    monkeypatch.setattr(TrainingAhead, "possible", staticmethod(lambda device: False))
    config = StudyConfig.quick(methods=DIRECT, timesteps=[2, 4], epochs_direct=1, subset=300, count_samples=32,
                               hardware=["sata", "flops45nm"])
    run_study(config, tmp_path / "in_turn", progress=False)
    for table in ("results.csv", "onestep.csv", "predictions.csv"):
        assert (tmp_path / "in_turn" / table).read_bytes() == (direct_run / table).read_bytes(), table
