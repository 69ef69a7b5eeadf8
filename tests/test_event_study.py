"""Q15 in the study: event SNNs trained one frame per step, their one-step forms, tabled and priced."""

from __future__ import annotations

import math

import pytest

from analysis.run_folder import RunFolder
from analysis.study import StudyConfig
from analysis.study.cache import RunCache
from analysis.study.events import event_methods, event_rows, event_tasks, onestep_ceiling, psg_of
from energy_models import get_model


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
