"""Q15 in the study: event SNNs trained one frame per step, their one-step forms, tabled and priced."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from analysis.report import RunTables, question
from analysis.report.events import answer_q15, event_summary, served, verdict_q15
from analysis.report.verdict import MAX_SENTENCE
from analysis.run_folder import RunFolder
from analysis.study import StudyConfig
from analysis.study.cache import RunCache
from analysis.study.events import event_methods, event_rows, event_split, event_tasks, onestep_ceiling, psg_of
from energy_models import get_model
from tests.data.test_event_data import write_nmnist


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    config = StudyConfig.quick(subset=96, event_timesteps=[2, 3], event_epochs=1, count_samples=16)
    cache = RunCache(RunFolder(tmp_path_factory.mktemp("run")))
    models = {"sata": get_model("sata"), "flops45nm": get_model("flops45nm")}
    calls = []
    first = event_rows(config, cache, "d1", models, calls.append)
    again = event_rows(config, cache, "d1", models)  # read back from the cache
    return config, first, again, calls


def test_one_row_per_task_t_method_and_hardware_model(rows):
    config, first, again, calls = rows
    assert event_tasks(config) == ["digit", "direction"] and event_methods(config) == ["direct_if", "direct_lif"]
    assert len(first) == 2 * 2 * 2 * 2 and len(calls) == 2 * 2 * 2
    keys = {(r["task"], r["T"], r["method"], r["hardware"]) for r in first}
    assert len(keys) == len(first)
    assert first == again  # a resumed study reads every unit back
    for row in first:
        assert row["onestep_method"] == psg_of(row["method"]) and row["test_samples"] == 96
        assert 0 <= row["snn_accuracy"] <= 1 and 0 <= row["onestep_accuracy"] <= 1 and 0 <= row["agreement"] <= 1
        assert row["snn_energy_pj"] > 0 and row["onestep_energy_pj"] > 0
        assert row["snn_ops_mac"] == 0 and row["onestep_ops_mac"] == 0  # events in, spikes through: ACs only
        assert row["snn_ops_ac"] > 0 and row["onestep_ops_ac"] > 0
    ceilings = {r["task"]: r["onestep_ceiling"] for r in first}
    assert ceilings == {"digit": 1.0, "direction": 0.5}
    assert math.isnan(onestep_ceiling("nmnist"))


def test_energy_differs_by_hardware_model_not_accuracy(rows):
    _, first, _, _ = rows
    by_unit = {}
    for row in first:
        by_unit.setdefault((row["task"], row["T"], row["method"]), []).append(row)
    for unit in by_unit.values():
        assert len({r["snn_accuracy"] for r in unit}) == 1 and len({r["snn_energy_pj"] for r in unit}) == 2


def test_event_settings_are_checked():
    with pytest.raises(ValueError, match="event_arch"):
        StudyConfig(event_arch="mlpp")
    with pytest.raises(ValueError, match="event_timesteps"):
        StudyConfig(event_timesteps=[0])
    with pytest.raises(FileNotFoundError, match="N-MNIST"):
        StudyConfig(event_data_root="/nowhere/nmnist")
    with pytest.raises(ValueError, match="events must be true or false"):
        StudyConfig(events="yes")
    assert StudyConfig(events=False, event_timesteps=[]).event_timesteps == []
    assert StudyConfig().compute_digest() != StudyConfig(event_epochs=2).compute_digest()


# -- the report's Q15 --------------------------------------------------------------------------------
def _events_table(digit: tuple[float, float], direction: tuple[float, float]) -> pd.DataFrame:
    rows = []
    for task, (snn, one), chance, ceiling in (("digit", digit, 0.1, 1.0), ("direction", direction, 0.25, 0.5)):
        for method in ("direct_if", "direct_lif"):
            for hardware, scale in (("sata", 1.0), ("loihi", 5.0)):
                rows.append({"task": task, "T": 4, "method": method, "onestep_method": psg_of(method), "arch": "mlp",
                             "train_samples": 1437, "test_samples": 360,
                             "snn_accuracy": snn, "onestep_accuracy": one, "agreement": 0.8,
                             "chance_accuracy": chance, "onestep_ceiling": ceiling, "hardware": hardware,
                             "snn_energy_pj": 100.0 * scale, "onestep_energy_pj": 90.0 * scale})
    return pd.DataFrame(rows)


def test_q15_verdict_says_which_task_one_step_serves_with_numbers():
    run = RunTables({"events": _events_table((0.9, 0.88), (1.0, 0.5))})
    sentence = verdict_q15(run).sentence
    assert sentence.startswith("Depends on the task: one step (dIF/dLIF, T=4) serves digit (order-free), keeping 98% "
                               "of the SNN's accuracy above chance (88%/88% vs 90%/90%)")
    assert "; cannot serve direction (needs the order), keeping 33% (50%/50% vs 100%/100%" in sentence
    assert "cap it near 50%" in sentence and len(sentence) <= MAX_SENTENCE
    assert verdict_q15(run).numbers["direction retained"] == pytest.approx(1 / 3)
    assert verdict_q15(RunTables({"events": _events_table((0.9, 0.88), (1.0, 0.97))})).sentence.startswith("Yes")
    assert verdict_q15(RunTables({"events": _events_table((0.9, 0.4), (1.0, 0.5))})).sentence.startswith("No")
    lossy = verdict_q15(RunTables({"events": _events_table((0.9, 0.7), (1.0, 0.5))})).sentence
    assert "serves with a loss digit (order-free), keeping 75%" in lossy  # (0.7 − 0.1) / (0.9 − 0.1)
    assert verdict_q15(RunTables({})).sentence.startswith("n/a")
    answer = answer_q15(run)
    assert list(answer.table["task"]) == ["digit", "digit", "direction", "direction"]
    assert answer.table["energy_ratio"].tolist() == pytest.approx([0.9] * 4)
    assert answer.table["retained"].iloc[0] == pytest.approx((0.88 - 0.1) / (0.9 - 0.1))
    energies = next(iter(answer.more.values()))
    assert "snn loihi (pJ)" in energies.columns and "0.9×" in answer.details


def test_q15_from_a_tiny_run_and_its_figure(rows, tmp_path):
    _, first, _, _ = rows
    run = RunTables({"events": pd.DataFrame(first)})
    summary = event_summary(run, "flops45nm")
    assert len(summary) == 2 * 2 * 2 and set(summary["hardware"]) == {"flops45nm"}
    assert served(summary[summary["task"] == "digit"]) in ("yes", "with a loss", "no")
    assert verdict_q15(run).sentence.split(":")[0] in ("Yes, for every task", "No, for no task", "Depends on the task")
    fig = question("Q15").figure(run, path=tmp_path / "q15.png")
    assert (tmp_path / "q15.png").is_file() and len(fig.axes) == 3


def test_nmnist_from_its_folder_joins_q15_as_a_third_task(tmp_path):
    pytest.importorskip("tonic")
    generator = torch.Generator().manual_seed(0)
    for part, count in (("Train", 6), ("Test", 3)):
        for digit in range(10):
            for i in range(count):
                xs, ys = torch.randint(0, 34, (2, 40), generator=generator).tolist()
                events = [(x, y, (x + digit) % 2, 1000 * k) for k, (x, y) in enumerate(zip(xs, ys, strict=True))]
                write_nmnist(tmp_path, part, digit, f"{i:05d}", events)
    config = StudyConfig.quick(event_timesteps=[2], event_epochs=1, count_samples=8, event_data_root=str(tmp_path),
                               subset=30)
    assert event_tasks(config) == ["digit", "direction", "nmnist"]
    split = event_split("nmnist", 2, config)
    assert split.train.tensors[0].shape == (30, 2, 2, 34, 34) and len(split.test) == 30
    cache = RunCache(RunFolder(tmp_path / "run"))
    rows = [r for r in event_rows(config, cache, "d2", {"sata": get_model("sata")}) if r["task"] == "nmnist"]
    assert len(rows) == 2 and all(r["snn_ops_mac"] == 0 and r["snn_ops_ac"] > 0 for r in rows)
    assert all(math.isnan(r["onestep_ceiling"]) and r["chance_accuracy"] == 0.1 for r in rows)


def test_cli_takes_the_event_settings_and_refuses_a_missing_folder_by_name(tmp_path, capsys):
    from analysis.cli import main

    out = tmp_path / "unused"
    assert main(["study", "--quick", "--event-data-root", "/nowhere", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "event_data_root '/nowhere' is not a folder" in err and "Train/<digit>/*.bin" in err
    assert not out.exists()


def test_q15_units_computed_ahead_by_another_process_equal_those_computed_in_turn(rows, tmp_path, monkeypatch):
    from analysis.study import events
    from analysis.study.direct import DirectNetworks, TrainingAhead

    if not TrainingAhead.possible("cpu"):
        pytest.skip("one CPU (or no fork): Q15's units are computed in turn, there is nothing to compare")
    config, first, _, _ = rows
    cache = RunCache(RunFolder(tmp_path / "run"))
    later = events.events_ahead(config, cache, "d1")
    assert len(later.keys) == 2 * 2 * 2  # every (task, T, method): none is in this cache yet
    ahead = TrainingAhead(DirectNetworks(config, cache, "d1", {}), None, [], 1, later)
    cache.expect(later.keys, ahead.process.is_alive)

    def refuse(*args):
        raise AssertionError("the study computed a Q15 unit the helper was computing")

    monkeypatch.setattr(events, "event_unit", refuse)  # in this process only: the helper forked before
    models = {"sata": get_model("sata"), "flops45nm": get_model("flops45nm")}
    assert event_rows(config, cache, "d1", models) == first
    ahead.process.join(timeout=60)
    assert ahead.process.exitcode == 0
    assert events.events_ahead(config, cache, "d1") is None  # all in the cache: nothing left to do ahead
