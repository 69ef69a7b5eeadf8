"""What keeps a study fast: its torch threads, its stage timer and the plateau rule's settings."""

import time

import pytest
import torch

from analysis.study import StudyConfig
from analysis.study.config import ONE_THREAD_MAX_IMAGE_SIZE
from analysis.study.speed import StageTimes, torch_threads


def test_small_images_run_on_one_thread_unless_the_config_says_otherwise():
    config = StudyConfig.quick()
    assert config.threads_for(8) == 1 and config.threads_for(ONE_THREAD_MAX_IMAGE_SIZE) == 1
    assert config.threads_for(32) == torch.get_num_threads()
    assert StudyConfig.quick(threads=1).threads_for(224) == 1
    # threads change where the arithmetic runs, not what a unit is: the cache stays valid
    assert StudyConfig.quick(threads=1).compute_digest() == StudyConfig.quick().compute_digest()
    with pytest.raises(ValueError, match="threads"):
        StudyConfig.quick(threads=0)


def test_the_plateau_rule_is_part_of_what_a_network_is():
    base = StudyConfig.quick()
    assert StudyConfig.quick(plateau_patience=5).compute_digest() != base.compute_digest()
    assert StudyConfig.quick(plateau_delta=0.02).compute_digest() != base.compute_digest()
    assert StudyConfig.quick(plateau_patience=None).compute_digest() != base.compute_digest()
    with pytest.raises(ValueError, match="plateau_patience"):
        StudyConfig.quick(plateau_patience=0)
    with pytest.raises(ValueError, match="plateau_delta must be a fraction"):
        StudyConfig.quick(plateau_delta=1.5)


def test_torch_threads_restores_the_callers_count_also_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="boom"), torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_stage_times_add_up_per_stage_in_first_run_order():
    times = StageTimes()
    for stage in ("train ann", "units eval if", "train ann"):
        with times.stage(stage):
            time.sleep(0.01)
    rows = times.rows()
    assert [row["stage"] for row in rows] == ["train ann", "units eval if"]
    assert rows[0]["wall_s"] >= 0.02 and rows[1]["wall_s"] >= 0.01
    assert all(row["cpu_s"] >= 0 for row in rows)


def test_a_helper_working_from_the_back_gives_the_same_tables_as_one_process(tmp_path, monkeypatch):
    from analysis.study import ahead, run_study
    from analysis.study.direct import TrainingAhead

    if not ahead.second_cpu("cpu"):
        pytest.skip("one CPU (or no fork): the study runs in one process, there is nothing to compare")
    config = StudyConfig.quick(archs=["mlp", "cnn_small"], timesteps=[1, 2], epochs_ann=1, epochs_quant=1,
                               epochs_bnn=1, epochs_direct=1, direct_max_steps=1, count_samples=32,
                               sparsity_sweep=[0.0, 1.0], spike_event_sweep=[0.0], breakeven_timesteps=2,
                               hardware=["sata", "flops45nm"], event_timesteps=[2], event_epochs=1)
    started = []
    original = ahead.SharedWork.__init__

    def counted(self, *args, **kwargs):
        started.append(sorted(args[0]))
        original(self, *args, **kwargs)

    monkeypatch.setattr(ahead.SharedWork, "__init__", counted)
    run_study(config, tmp_path / "helped", progress=False)
    # two architectures, shared between this process and a helper: counted, then priced
    assert started == [[0, 1], [0, 1]]
    monkeypatch.setattr("analysis.study.runner.second_cpu", lambda *a: False)
    monkeypatch.setattr(TrainingAhead, "possible", staticmethod(lambda device: False))
    run_study(config, tmp_path / "alone", progress=False)
    for table in ("results.csv", "layers.csv", "equivalence.csv", "predictions.csv", "onestep.csv", "sensitivity.csv",
                  "warnings.csv", "breakeven.csv", "sweep.csv", "yan2024_targets.csv"):
        assert (tmp_path / "helped" / table).read_bytes() == (tmp_path / "alone" / table).read_bytes(), table


def test_when_the_helper_fails_its_item_is_left_to_the_study():
    from analysis.study import ahead

    if not ahead.second_cpu("cpu"):
        pytest.skip("no second CPU (or no fork)")

    def fail(index):
        raise RuntimeError(f"item {index} cannot be computed")

    work = ahead.SharedWork([2, 0, 1], fail)
    work.process.join(timeout=30)
    assert work.process.exitcode == 1  # quietly: the study raises the error itself, with its reason
    assert [index for index in range(3) if not work.claim(index)] == [2]  # the helper took the largest first
    work.wait(2)  # returns at once: the helper has ended without finishing it
    assert not work.done[2]
    work.stop()


def test_a_training_step_is_measured_in_seconds():
    from analysis.models import build_model
    from analysis.study.ahead import training_step_seconds

    net = build_model("cnn_small", num_classes=10, in_channels=1, image_size=8)
    seconds = training_step_seconds(net, torch.rand(8, 1, 8, 8))
    assert 0 < seconds < 5 and all(p.grad is None for p in net.parameters())


def test_the_cache_waits_for_a_unit_a_helper_computes_and_computes_it_once_the_helper_has_ended(tmp_path):
    import json

    from analysis.run_folder import RunFolder
    from analysis.study.cache import RunCache

    cache = RunCache(RunFolder(tmp_path / "run"))
    cache.root.mkdir(parents=True)
    polls = []

    def running():  # the helper writes the unit on its third poll
        polls.append(1)
        if len(polls) == 3:
            (cache.root / "a.json").write_text(json.dumps({"by": "helper"}))
        return True

    cache.expect(["a", "b"], running)
    assert cache.unit("a", lambda: {"by": "study"}) == {"by": "helper"} and len(polls) == 3
    cache.pending["b"] = lambda: False  # the helper ended without it: the study computes it
    assert cache.unit("b", lambda: {"by": "study"}) == {"by": "study"} and cache.has("b")


def test_a_piece_is_claimed_once_and_the_other_process_waits_for_its_result(tmp_path):
    import multiprocessing
    import os

    from analysis.study import ahead

    claims = ahead.Claims()
    try:
        assert claims.claim("unit-a") and not claims.claim("unit-a")  # this process took it first
        context = multiprocessing.get_context("fork")
        taken = context.Value("b", 0)

        def helper():
            claims.join(lambda: True)
            taken.value = int(claims.claim("unit-b")) + 2 * int(claims.claim("unit-a"))
            (tmp_path / "unit-b.json").write_text("{}")

        process = context.Process(target=helper)
        process.start()
        claims.join(process.is_alive)
        claims.wait_for(tmp_path / "unit-b.json")  # returns once the helper wrote it, or ended
        process.join()
        assert taken.value == 1  # the helper got unit-b, not unit-a
        assert not claims.claim("unit-b")
        claims.wait_for(tmp_path / "never.json")  # the helper has ended: no waiting for what it will not write
        outsider = context.Process(target=lambda: os._exit(0 if claims.claim("unit-b") else 1))
        outsider.start()  # a process that did not join (the one training ahead) computes what it needs
        outsider.join()
        assert outsider.exitcode == 0
        assert "waiting for the helper" in claims.timings.wall
    finally:
        claims.close()
    assert not claims.root.exists()


def test_working_an_item_from_the_back_trains_each_parent_first_and_gives_the_units_in_plan_order(tmp_path):
    from analysis.run_folder import RunFolder
    from analysis.study.cache import RunCache
    from analysis.study.plan import build_plan
    from analysis.study.work import StudyWork

    config = StudyConfig.quick()
    made = []

    class Networks:  # what StudyWork.parents asks of TrainedNetworks
        def __init__(self):
            self.build, self.finetuned = ["ann", "qcfs", "cq", "bnn"], [("qcfs", 1)]

        def network(self, arch, method, seed, split, parents, levels=None):
            parent = {"qcfs": "ann", "cq": "ann", "bnn": "ann"}.get(method)
            assert parent is None or parent in parents, f"{method} made before its parent {parent}"
            made.append(method if levels is None else (method, levels))
            return made[-1]

    cache = RunCache(RunFolder(tmp_path / "run"))
    cache.root.mkdir(parents=True)
    work = StudyWork(config, "d", cache, Networks(), None, StageTimes())
    forward = work.parents(0, "cnn_small", None)
    assert made == ["ann", "qcfs", "cq", "bnn", ("qcfs", 1)]
    made.clear()
    backward = work.parents(0, "cnn_small", None, reverse=True)
    assert made == ["ann", ("qcfs", 1), "bnn", "cq", "qcfs"]  # the parent first, then from the back
    assert list(backward.items()) == list(forward.items())  # the same networks, in the same order

    plan = [u for u in build_plan(config) if u.arch == "cnn_small"][:6]
    computed = []
    work.compute = lambda unit, parents, split: computed.append(unit) or {"n": len(computed)}
    work.can_build = lambda unit, parents: True
    units = list(work.units(0, "cnn_small", plan, backward, None, reverse=True))
    assert computed == plan[::-1] and [u for u, _ in units] == plan  # computed from the back, given in order
    assert [outcome["n"] for _, outcome in units] == [6, 5, 4, 3, 2, 1]
