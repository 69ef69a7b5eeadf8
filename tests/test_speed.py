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
