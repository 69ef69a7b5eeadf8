"""Run folders and the CLI under careless and hostile use (issue 15), and studying given weights
(issue 13): never delete what a study did not write, never mix runs, one clear line per error."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pandas as pd
import pytest
import torch

from analysis.cli import main
from analysis.run_folder import RunFolder
from analysis.study import IncompleteRunError, RunFolderError, StudyConfig, load_tables, run_study
from analysis.study.training import save_checkpoint
from tests.project.forked_cli import start_cli

TINY = dict(archs=["mlp"], timesteps=[1, 2], epochs_ann=2, epochs_quant=1, epochs_bnn=1, count_samples=32,
            sparsity_sweep=[0.0, 1.0], spike_event_sweep=[0.0], breakeven_timesteps=2,
            hardware=["sata", "flops45nm"], methods=["ann", "qcfs", "if", "onespike"])


def tiny(**overrides) -> StudyConfig:
    return StudyConfig(**{**TINY, **overrides})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("safety") / "run"
    run_study(tiny(), out, progress=False)
    return out


def cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


# -- --force never removes what a study did not write ---------------------------------------------------------
def test_force_replaces_only_the_study_files_and_never_mixes_levels(tmp_path):
    out = tmp_path / "shared"
    run_study(tiny(), out, progress=False)
    (out / "notes.txt").write_text("my notes")
    (out / "mine").mkdir()
    (out / "mine" / "data.csv").write_text("a,b\n1,2\n")
    with pytest.raises(RunFolderError, match="--force"):
        run_study(tiny(levels=2), out, progress=False)
    run_study(tiny(levels=2), out, force=True, progress=False)
    assert (out / "notes.txt").read_text() == "my notes"
    assert (out / "mine" / "data.csv").read_text() == "a,b\n1,2\n"
    results = load_tables(out)["results"]
    spiking = results[results.method.isin(["if", "onespike"])]
    assert set(spiking["levels"]) == {2}, "rows of the L=4 study survived into the L=2 one"
    assert not [p for p in (out / "cache").iterdir() if tiny().compute_digest() in p.name]


def test_a_folder_of_user_files_is_refused_and_left_untouched(tmp_path):
    (tmp_path / "thesis.tex").write_text("\\documentclass{article}")
    (tmp_path / "config.json").write_text(json.dumps({"name": "my own config"}))
    before = sorted(p.name for p in tmp_path.iterdir())
    for force in (False, True):
        with pytest.raises(RunFolderError, match="not a study run folder"):
            run_study(tiny(), tmp_path, force=force, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert json.loads((tmp_path / "config.json").read_text()) == {"name": "my own config"}


def test_a_typo_writes_nothing(tmp_path, capsys):
    code, err = cli(capsys, "study", "--arch", "cnn_smal", "--out", str(tmp_path / "new"))
    assert code == 2 and "did you mean 'cnn_small'" in err.lower()
    assert not (tmp_path / "new").exists()


def test_a_second_study_on_a_locked_folder_names_the_first(run_dir):
    lock = RunFolder(run_dir).lock_path
    lock.write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))
    try:
        with pytest.raises(RunFolderError, match=rf"in use by another study \(pid {os.getpid()}"):
            run_study(tiny(), run_dir, progress=False)
    finally:
        lock.unlink()


def test_a_stale_lock_is_taken_over(run_dir):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    RunFolder(run_dir).lock_path.write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename}))
    run_study(tiny(), run_dir, progress=False)
    assert not RunFolder(run_dir).lock_path.exists()


def test_pricing_only_changes_reprice_without_force_or_recompute(run_dir, monkeypatch):
    from analysis.study import work

    def refuse(*args, **kwargs):
        raise AssertionError("pricing-only change recomputed a unit")

    monkeypatch.setattr(work.StudyWork, "compute", refuse)
    tables = run_study(tiny(hardware=["loihi"]), run_dir, progress=False)
    assert set(tables["results"]["hardware"]) == {"loihi"}
    run_study(tiny(), run_dir, progress=False)  # back to the fixture's pricing


# -- corrupt cache, incomplete tables ---------------------------------------------------------------------------
def test_a_corrupt_cache_unit_is_named_moved_aside_and_recomputed(run_dir):
    before = load_tables(run_dir)["results"]
    unit = sorted((run_dir / "cache").glob("eval__mlp__if__*.json"))[0]
    unit.write_text('{"accuracy": 0.5, "ledg')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_study(tiny(), run_dir, progress=False)
    assert any(unit.name in str(w.message) and "recomputed" in str(w.message) for w in caught)
    assert list((run_dir / "cache").glob(unit.name + ".corrupt-*"))
    pd.testing.assert_frame_equal(load_tables(run_dir)["results"], before)


@pytest.mark.parametrize("damage", ["truncate", "empty", "delete_manifest"])
def test_report_refuses_an_incomplete_run(run_dir, tmp_path, capsys, damage):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    results = copy / "results.csv"
    if damage == "truncate":
        results.write_bytes(results.read_bytes()[: len(results.read_bytes()) // 2])
    elif damage == "empty":
        results.write_text("")
    else:
        (copy / "manifest.json").unlink()
    with pytest.raises(IncompleteRunError):
        load_tables(copy)
    code, err = cli(capsys, "report", str(copy))
    assert code == 2 and "Traceback" not in err and f"onespike study --resume {copy}" in err
    assert not (copy / "report.md").exists()


def test_tables_are_written_with_the_users_umask(run_dir):
    mode = (run_dir / "results.csv").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


# -- one clear line for every bad input -----------------------------------------------------------------------
def _checkpoint(tmp_path, config, name: str) -> str:
    from analysis.models import build_model

    path = tmp_path / name
    save_checkpoint(path, build_model("mlp", 10, 1, 8), config)
    return str(path)


def test_bad_inputs_give_one_line_and_status_2(tmp_path, capsys, run_dir):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    ckpt = str(next((run_dir / "cache").glob("mlp__qcfs__*.pt")))
    huge = _checkpoint(tmp_path, {"arch": "mlp", "method": "ann", "options": {"hidden": [1_000_000, 1_000_000]}},
                       "huge.pt")
    bad_options = str(tmp_path / "bad_options.pt")
    save_checkpoint(bad_options, torch.nn.Linear(2, 2), {"arch": "mlp", "method": "ann", "options": [1, 2]})
    wrong_type = str(tmp_path / "wrong_type.pt")
    torch.save({"state_dict": {}, "config_json": "[1, 2]"}, wrong_type)
    unknown_option = _checkpoint(tmp_path, {"arch": "mlp", "method": "ann", "options": {"widht": 8}},
                                 "unknown_option.pt")
    cases = {
        "config_json of the wrong type": ("count", "--checkpoint", wrong_type),
        "unknown option in a checkpoint": ("count", "--checkpoint", unknown_option),
        "out is a file": ("study", "--quick", "--out", str(a_file)),
        "out under a file": ("study", "--quick", "--out", str(a_file / "run")),
        "out under /proc": ("study", "--quick", "--out", "/proc/onespike-run"),
        "cuda without cuda": ("study", "--quick", "--device", "cuda", "--out", str(tmp_path / "c")),
        "steps over the maximum": ("study", "--quick", "--timesteps", "1,100000", "--out", str(tmp_path / "t")),
        "json is a folder": ("count", "--checkpoint", ckpt, "--json", str(tmp_path)),
        "count steps over the maximum": ("count", "--checkpoint", ckpt, "--method", "if", "--timesteps", "1000000"),
        "hardware mode without pow2": ("count", "--checkpoint", ckpt, "--method", "onespike", "--mode", "hardware"),
        "huge width in a checkpoint": ("count", "--checkpoint", huge),
        "options of the wrong type": ("count", "--checkpoint", bad_options),
        "missing checkpoint": ("count", "--checkpoint", str(tmp_path / "nope.pt")),
    }
    if torch.cuda.is_available():
        del cases["cuda without cuda"]
    expected = {"hardware mode without pow2": "--pow2", "steps over the maximum": "--max-steps",
                "count steps over the maximum": "--max-steps", "huge width in a checkpoint": "parameters",
                "json is a folder": "is a folder", "cuda without cuda": "no CUDA",
                "config_json of the wrong type": "JSON object", "unknown option in a checkpoint": "'widht'",
                "out is a file": "is a file, not a folder; choose another --out",
                "out under a file": "is a file, not a folder; choose another --out",
                "out under /proc": "'/proc' does not take new folders",
                "options of the wrong type": "its recorded 'options' must be an object, got list",
                "missing checkpoint": "nope.pt' does not exist"}
    assert set(expected) >= set(cases), f"cases without an expected message: {set(cases) - set(expected)}"
    for name, argv in cases.items():
        code, err = cli(capsys, *argv)
        assert code == 2, name
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, (name, err)
        assert expected[name] in err, (name, err)
        assert "[Errno" not in err, (name, err)  # the cause in words, never the bare OS error


@pytest.mark.parametrize("argv", [["--timesteps", "1e20"], ["--samples", "0"], ["--samples", "-5"]])
def test_bad_numbers_are_refused_by_the_parser(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main(["count", "--checkpoint", "x.pt", *argv])
    assert exit_.value.code == 2 and "Traceback" not in capsys.readouterr().err


def test_count_reads_the_architecture_from_the_checkpoint_and_rounds_thresholds_on_request(run_dir, capsys,
                                                                                           tmp_path):
    ckpt = str(next((run_dir / "cache").glob("mlp__qcfs__*.pt")))
    ledger_path = tmp_path / "ledger.json"
    code, err = cli(capsys, "count", "--checkpoint", ckpt, "--method", "onespike", "--mode", "hardware", "--pow2",
                    "--hardware", "sata", "--samples", "16", "--json", str(ledger_path))
    assert code == 0, err
    ledger = json.loads(ledger_path.read_text())
    assert ledger["method"] == "onespike" and ledger["samples"] == 16 and ledger["meta"]["arch"] == "mlp"
    assert sum(layer["shift"] for layer in ledger["layers"]) > 0  # hardware mode: shifts, not mul/mod
    assert sum(layer["mod"] for layer in ledger["layers"]) == 0


def test_ctrl_c_prints_one_line_and_exits_130(tmp_path):
    out = tmp_path / "interrupted"
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tiny(epochs_ann=200, plateau_patience=None).to_dict()))  # still training at ^C
    proc = start_cli(["study", "--config", str(config), "--out", str(out), "--no-progress"], tmp_path / "stderr")
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "config.json").exists():
        time.sleep(0.1)
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGINT)
    proc.join(120)
    err = (tmp_path / "stderr").read_text()
    assert proc.exitcode == 130, err
    assert err.strip().splitlines() == ["onespike study: interrupted; rerun the same command to resume"]
    assert not RunFolder(out).lock_path.exists()


# -- studying given weights (issue 13) -------------------------------------------------------------------------
def test_a_study_of_given_weights_reproduces_the_run_without_training(run_dir, tmp_path, monkeypatch):
    from analysis.study import trained

    def refuse(*args, **kwargs):
        raise AssertionError("given weights were trained again")

    monkeypatch.setattr(trained, "train_for", refuse)
    checkpoints = [str(next((run_dir / "cache").glob(f"mlp__{method}__*.pt"))) for method in ("ann", "qcfs")]
    start = time.perf_counter()
    tables = run_study(tiny(checkpoints=checkpoints), tmp_path / "given", progress=False)
    print(f"study of given weights: {time.perf_counter() - start:.1f} s")
    key = ["arch", "method", "T", "levels", "variant", "hardware"]
    ours = tables["results"].set_index(key).sort_index()
    theirs = load_tables(run_dir)["results"].set_index(key).sort_index()
    for column in ("accuracy", "energy_pj", "spike_rate"):
        pd.testing.assert_series_equal(ours[column], theirs[column])


def test_a_bare_state_dict_of_a_user_model_is_counted(tmp_path, capsys, monkeypatch):
    package = tmp_path / "userpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(
        "import torch.nn as nn\n"
        "def build(num_classes, in_channels, image_size):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size ** 2, 32), nn.ReLU(),\n"
        "                         nn.Linear(32, num_classes))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from userpkg.nets import build

    weights = tmp_path / "weights.pt"
    torch.save(build(10, 1, 8).state_dict(), weights)
    ledger = tmp_path / "ledger.json"
    code, err = cli(capsys, "count", "--checkpoint", str(weights), "--model", "userpkg.nets:build", "--hardware",
                    "sata", "--samples", "8", "--json", str(ledger))
    assert code == 0, err
    data = json.loads(ledger.read_text())
    assert data["method"] == "ann" and sum(layer["mac"] for layer in data["layers"]) == 64 * 32 + 32 * 10


def test_a_relative_run_folder_is_written_where_it_says(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = RunFolder("reports/default")
    folder.write_text(folder.report_path, "report")
    folder.write_text(folder.cache_dir / "unit.json", "{}")
    folder.write_text("notes.md", "notes")
    assert (tmp_path / "reports/default/report.md").read_text() == "report"
    assert (tmp_path / "reports/default/cache/unit.json").read_text() == "{}"
    assert (tmp_path / "reports/default/notes.md").read_text() == "notes"
    assert not (tmp_path / "reports/default/reports").exists()
