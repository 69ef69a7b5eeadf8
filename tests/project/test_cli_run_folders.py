"""The CLI and run folders: --force keeps what the study did not write, a study refuses before it trains, a folder
resumes with one command, and every error names its cause in one line (CLI tests in-process)."""

import json
import re
import shutil
import sys
import time
import warnings

import pytest
import torch

from analysis.cli import _model_arch_name, build_parser, main
from analysis.models import build_model
from analysis.run_folder import STALE_REPORT_BANNER, RunFolder
from analysis.study import RunFolderError, StudyConfig, load_tables, run_study
from analysis.study.folder import study_files
from analysis.study.networks import import_factory
from analysis.study.training import load_checkpoint, save_checkpoint

TINY = dict(archs=["mlp"], timesteps=[1, 2], epochs_ann=2, epochs_quant=1, epochs_bnn=1, count_samples=32,
            sparsity_sweep=[0.0, 1.0], spike_event_sweep=[0.0], breakeven_timesteps=2,
            hardware=["sata", "flops45nm"], methods=["ann", "qcfs", "if", "onespike"])

NETS = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Small(nn.Module):
    def __init__(self, num_classes=10, in_channels=1, image_size=8, pool=False):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()
        self.fc = nn.Linear(4 * (image_size // (2 if pool else 1)) ** 2, num_classes)

    def act(self, x):
        return F.relu(x)

    def forward(self, x):
        return self.fc(self.pool(self.act(self.conv(x))).flatten(1))


class Gelu(Small):
    def act(self, x):
        return F.gelu(x)


class Tanh(Small):
    def act(self, x):
        return torch.tanh(x)


class Hswish(Small):
    def act(self, x):
        return F.relu(nn.functional.hardswish(x))


class Shape(Small):
    def forward(self, x):
        x = F.relu(self.conv(x))
        if x.shape[-1] > 4:
            x = x * 1.0
        return self.fc(x.flatten(1))


def net(num_classes, in_channels, image_size):
    return Small(num_classes, in_channels, image_size)

def cnn_small(num_classes, in_channels, image_size):
    return Small(num_classes, in_channels, image_size)

def gelu_net(num_classes, in_channels, image_size):
    return Gelu(num_classes, in_channels, image_size)

def norelu_net(num_classes, in_channels, image_size):
    return Tanh(num_classes, in_channels, image_size)

def hswish_net(num_classes, in_channels, image_size):
    return Hswish(num_classes, in_channels, image_size)

def shape_net(num_classes, in_channels, image_size):
    return Shape(num_classes, in_channels, image_size)

def maxpool_net(num_classes, in_channels, image_size):
    return Small(num_classes, in_channels, image_size, pool=True)

def wrong_input(num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, num_classes))

def no_params():
    return nn.Sequential(nn.Flatten(), nn.ReLU())

def raises(num_classes):
    raise RuntimeError("cannot find my weights file")
'''


def cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def one_line(err: str) -> bool:
    return "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A user's project folder holding the package ``r3pkg``, as the working folder of a console
    script: the folder is not on sys.path (a console script's sys.path[0] is its bin folder)."""
    folder = tmp_path / "project"
    (folder / "r3pkg").mkdir(parents=True)
    (folder / "r3pkg" / "__init__.py").write_text("")
    (folder / "r3pkg" / "nets.py").write_text(NETS)
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(folder))])
    yield folder
    for name in [m for m in sys.modules if m.split(".")[0] == "r3pkg"]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One small study; tests work on copies of it."""
    out = tmp_path_factory.mktemp("round3") / "run"
    run_study(StudyConfig(**TINY), out, progress=False)
    return out


def copy_of(run, tmp_path):
    return shutil.copytree(run, tmp_path / "copy")


@pytest.fixture
def no_training(monkeypatch):
    from analysis.study import trained, work

    def refuse(*args, **kwargs):
        raise AssertionError("trained before the refusal")

    monkeypatch.setattr(trained, "train_for", refuse)
    monkeypatch.setattr(work.StudyWork, "compute", refuse)


# -- data loss: --force keeps every file the study did not write ------------------------------------------------
def test_force_keeps_every_file_the_study_did_not_write_at_any_depth(tiny_run, tmp_path, capsys):
    out = copy_of(tiny_run, tmp_path)
    folder = RunFolder(out)
    for name in ("q5_energy.png", "q5_energy.svg"):  # what write_report draws and records
        (folder.figures_dir / name).parent.mkdir(exist_ok=True)
        (folder.figures_dir / name).write_text("study figure")
    folder.write_report("# report", [folder.figures_dir / "q5_energy.png"])
    mine = ["figures/my_extra_plot.png", "cache/my_extra.bin", "cache/deep/er/notes.txt", "figures/sub/x.svg",
            "notes.txt", "mine/data.csv"]
    for name in mine:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(name)
    old_cache = [p for p in folder.cache_dir.iterdir() if p.is_file() and p.name != "my_extra.bin"]
    assert old_cache and {"report.md", "figures/q5_energy.png", "figures/q5_energy.svg"} <= set(
        folder.read_manifest()["files"])
    assert not {str(p.relative_to(out)) for p in study_files(folder)} & set(mine)
    with pytest.raises(RunFolderError, match="at any depth"):
        run_study(StudyConfig(**TINY, seed=1), out, progress=False)
    run_study(StudyConfig(**TINY, seed=1), out, force=True, progress=False)
    for name in mine:
        assert (out / name).read_text() == name, f"--force removed the user's {name}"
    assert not any(p.exists() for p in old_cache) and not (out / "report.md").exists()
    assert not (folder.figures_dir / "q5_energy.png").exists()
    assert set(load_tables(out)["results"]["seed"]) == {1}
    with pytest.raises(SystemExit):
        main(["study", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "every other file in the folder, at any depth, is kept" in help_text


# -- work lost before a validation error --------------------------------------------------------------------------
@pytest.mark.parametrize(("factory", "expected"), [
    ("gelu_net", r"uses F\.gelu at node 'gelu' \(.*nets\.py:\d+ in act\(\): return F\.gelu\(x\)\)"),
    ("shape_net", r"nets\.py:\d+ in forward\(\): if x\.shape\[-1\] > 4:"),
    ("maxpool_net", r"layer pool \(MaxPool2d\): MaxPool2d cannot be converted"),
    ("norelu_net", r"found no nn\.ReLU .*torch\.tanh"),
    ("hswish_net", r"F\.hardswish at node"),
    ("wrong_input", r"'r3pkg\.nets:wrong_input' \(ANN\) does not accept 1×8×8 input .*784x32"),
    ("no_params", r"'r3pkg\.nets:no_params' has no parameters"),
    ("raises", r"'r3pkg\.nets:raises' raised RuntimeError: cannot find my weights file \(at .*nets\.py:\d+\)"),
])
def test_a_model_the_study_cannot_run_is_refused_before_training_and_nothing_is_written(
        project, no_training, capsys, factory, expected):
    out = project / "out"
    start = time.perf_counter()
    code, err = cli(capsys, "study", "--quick", "--model", f"r3pkg.nets:{factory}", "--timesteps", "1,2",
                    "--out", str(out), "--no-progress")
    print(f"{factory}: refused in {time.perf_counter() - start:.2f} s")
    assert code == 2 and one_line(err), err
    assert re.search(expected, err), err
    assert not out.exists(), "a refused study left a folder behind"


def test_nan_weights_are_refused_before_training(project, no_training, capsys):
    net = import_factory("r3pkg.nets:net")  # imported from the working folder, as the CLI does
    state = net(10, 1, 8).state_dict()
    state["fc.weight"][0, 0] = float("nan")
    torch.save(state, project / "nan.pt")
    code, err = cli(capsys, "study", "--quick", "--model", "r3pkg.nets:net", "--checkpoint", "nan.pt", "--out", "out",
                    "--no-progress")
    assert code == 2 and one_line(err) and "NaN/Inf weights in 1 tensor(s): 'fc.weight' (1)" in err, err
    assert not (project / "out").exists()


def test_an_uninstalled_model_package_leaves_no_folder(project, capsys):
    code, err = cli(capsys, "study", "--quick", "--model", "nosuch.nets:build", "--out", "out", "--no-progress")
    assert code == 2 and one_line(err) and "not installed and not in the current folder" in err
    assert not (project / "out").exists()


def test_resume_is_one_command_that_needs_no_flags(tiny_run, tmp_path, capsys, monkeypatch):
    out = copy_of(tiny_run, tmp_path)
    (out / "manifest.json").unlink()  # stopped before its tables: the report says how to finish it
    code, err = cli(capsys, "report", str(out))
    assert code == 2 and one_line(err) and f"onespike study --resume {out}" in err
    code, err = cli(capsys, "study", "--out", str(out))  # the default config: refused, naming --resume
    assert code == 2 and f"onespike study --resume {out}" in err
    from analysis.study import work

    monkeypatch.setattr(work.StudyWork, "compute", lambda *a: pytest.fail("a resumed unit was recomputed"))
    assert main(["study", "--resume", str(out), "--no-progress", "--no-report"]) == 0
    assert main(["study", "--config", str(out / "config.json"), "--out", str(out), "--no-progress",
                 "--no-report"]) == 0  # a run folder's own config.json is accepted as --config
    assert not load_tables(out)["results"].empty


# -- errors that name the cause -----------------------------------------------------------------------------------
def test_weights_that_do_not_fit_name_keys_shapes_and_the_architecture(project, tmp_path, capsys, no_training):
    net = import_factory("r3pkg.nets:net")  # imported from the working folder, as the CLI does
    zoo = tmp_path / "mlp.pt"
    save_checkpoint(zoo, build_model("mlp", 10, 1, 8), {"arch": "mlp", "method": "ann", "options": {}})
    code, err = cli(capsys, "study", "--quick", "--arch", "cnn_small", "--checkpoint", str(zoo), "--out", "o1")
    assert code == 2 and one_line(err) and "was saved for architecture 'mlp' (options {}), not 'cnn_small'" in err
    state = net(10, 1, 8).state_dict()
    state["head.weight"] = state.pop("fc.weight")
    state["conv.bias"] = torch.zeros(7)
    torch.save(state, tmp_path / "bare.pt")
    code, err = cli(capsys, "study", "--quick", "--model", "r3pkg.nets:net", "--checkpoint", str(tmp_path / "bare.pt"),
                    "--out", "o2")
    assert code == 2 and one_line(err), err
    assert "1 missing key(s) 'fc.weight'" in err and "1 unexpected key(s) 'head.weight'" in err
    assert "conv.bias [7] in the checkpoint vs [4] in the model" in err
    code, err = cli(capsys, "count", "--checkpoint", str(tmp_path / "bare.pt"), "--model", "r3pkg.nets:net")
    assert code == 2 and one_line(err) and "missing key(s) 'fc.weight'" in err


def _save_under_a_file_size_limit(path: str, pipe) -> None:
    """In a forked process (the limit must not reach the tests): save a 1 MB checkpoint under a 64 KB
    file-size limit and send back the traceback it raised, as Python would print it uncaught."""
    import resource
    import traceback

    from analysis.study.training import save_checkpoint

    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    try:
        save_checkpoint(path, torch.nn.Linear(512, 512), {"arch": "x"})
        pipe.send("")
    except BaseException as error:  # sent to the test, which judges it
        pipe.send("".join(traceback.format_exception(error)))


def test_a_failed_checkpoint_write_names_the_file_and_the_cause(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("fork")  # the loaded toolkit, not a second import of torch
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_save_under_a_file_size_limit, args=(str(tmp_path / "big.pt"), send))
    child.start()
    text = receive.recv() if receive.poll(120) else "(no answer)"
    child.join(30)
    last = text.strip().splitlines()[-1] if text.strip() else ""
    assert last.startswith("OSError: cannot write checkpoint"), text
    assert "file-size limit" in last and "RuntimeError" not in text, text
    assert not list(tmp_path.iterdir()), "a partial checkpoint was left"


def test_smaller_bad_inputs_each_get_one_line(tmp_path, capsys):
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    for argv, expected in ((["study", "--levels", "0"], "expected a positive integer"),
                           (["study", "--timesteps", "1,,2"], "expected comma-separated integers"),
                           (["study", "--hardware", ""], "expected comma-separated names"),
                           (["study", "--arch", "cnn_small,,vgg11"], "empty item")):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        err = capsys.readouterr().err.strip().splitlines()[-1]  # after the usage lines
        assert exit_.value.code == 2 and expected in err and "--max-steps" not in err, (argv, err)
    assert build_parser().prog == "onespike"  # the console script's name, also under python -m
    with pytest.raises(ValueError, match=r"levels must be in \[1, 256\], got 0$"):
        StudyConfig(levels=0)
    bad_config = tmp_path / "bad.json"
    bad_config.write_text(json.dumps({"archs": "cnn_small"}))
    ckpt = tmp_path / "ok.pt"
    save_checkpoint(ckpt, build_model("mlp", 10, 1, 8), {"arch": "mlp", "method": "qcfs", "levels": 4, "options": {}})
    crafted = {}
    for name, meta in {"width": {"arch": "cnn_small", "method": "ann", "options": {"width": -5}},
                       "word": {"arch": "mlp", "method": "qcfs", "levels": "four", "options": {}},
                       "huge": {"arch": "mlp", "method": "qcfs", "levels": 1e9, "options": {}}}.items():
        crafted[name] = tmp_path / f"{name}.pt"
        save_checkpoint(crafted[name], build_model("mlp", 10, 1, 8), meta)
    cases = [
        (["report", str(a_file)], "is a file, not a run folder"),
        (["study", "--config", str(bad_config), "--out", str(tmp_path / "c")], "archs must be a list"),
        (["study", "--checkpoint", str(tmp_path), "--out", str(tmp_path / "d")], "is a folder"),
        (["count", "--checkpoint", str(tmp_path)], "is a folder"),
        (["count", "--checkpoint", str(ckpt), "--method", "if", "--mode", "hardware"], "has no PSG mode"),
        (["count", "--checkpoint", str(crafted["width"])], "refuses options {'width': -5}"),
        (["count", "--checkpoint", str(crafted["word"])], "'levels' must be an integer in [1, 256], got 'four'"),
        (["count", "--checkpoint", str(crafted["huge"])], "'levels' must be an integer in [1, 256], got 1000000000.0"),
    ]
    for argv, expected in cases:
        code, err = cli(capsys, *argv)
        assert code == 2 and one_line(err) and expected in err, (argv, err)


def test_an_error_under_the_progress_bar_starts_its_own_line(tmp_path, capsys, monkeypatch):
    from analysis.study import work

    def fail(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(work.StudyWork, "compute", fail)
    config = tmp_path / "c.json"
    config.write_text(json.dumps(TINY))
    code, err = cli(capsys, "study", "--config", str(config), "--out", str(tmp_path / "run"))
    assert code == 2 and "study (training epochs + units)" in err
    assert re.search(r"(^|\n)onespike study: error: boom\n$", err), repr(err[-300:])


def test_a_users_model_never_takes_a_zoo_name_and_its_checkpoints_record_the_factory(project, capsys):
    assert _model_arch_name("r3pkg.nets:net") == "net"
    assert _model_arch_name("r3pkg.nets:cnn_small") == "nets_cnn_small"
    code, err = cli(capsys, "study", "--quick", "--model", "r3pkg.nets:net", "--arch", "cnn_small", "--out", "x")
    assert code == 2 and one_line(err) and "names a zoo architecture" in err and not (project / "x").exists()
    config = StudyConfig(**{**TINY, "archs": ["net"], "methods": ["ann", "qcfs"], "timesteps": [1],
                            "hardware": ["sata"]}, model="r3pkg.nets:net")
    run_study(config, project / "mine", progress=False)
    ckpt = next((project / "mine" / "cache").glob("net__qcfs__*.pt"))
    assert load_checkpoint(ckpt)[1]["model"] == "r3pkg.nets:net"
    code, err = cli(capsys, "count", "--checkpoint", str(ckpt), "--samples", "4", "--hardware", "sata")
    assert code == 2 and one_line(err) and "pass --model r3pkg.nets:net" in err
    code, err = cli(capsys, "count", "--checkpoint", str(ckpt), "--model", "r3pkg.nets:net", "--samples", "4",
                    "--hardware", "sata")
    assert code == 0, err


# -- silent or half-wrong -----------------------------------------------------------------------------------------
def test_a_cache_checkpoint_of_another_method_is_named_and_recomputed(tiny_run, tmp_path):
    out = copy_of(tiny_run, tmp_path)
    ckpt = next((out / "cache").glob("mlp__qcfs__*.pt"))
    state, meta = load_checkpoint(ckpt)
    model = build_model("mlp", 10, 1, 8)
    from analysis.snn import to_quantized

    qann = to_quantized(model, 4, "cq")
    qann.load_state_dict(state)
    save_checkpoint(ckpt, qann, {**meta, "method": "cq"})  # a CQ net under a QCFS name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_study(StudyConfig(**TINY), out, progress=False)
    assert any("records method 'cq', not 'qcfs'" in str(w.message) for w in caught), [str(w.message) for w in caught]
    assert load_checkpoint(ckpt)[1]["method"] == "qcfs" and list((out / "cache").glob(ckpt.name + ".corrupt-*"))


@pytest.fixture
def stale_report(tmp_path):
    """A synthetic run whose study rewrote its tables and was killed before its report."""
    from tests.report_run import make_run

    root = make_run(tmp_path / "run")
    folder = RunFolder(root)
    old_figure = folder.figures_dir / "q5_energy_breakdown.png"
    old_figure.parent.mkdir(exist_ok=True)
    old_figure.write_bytes(b"drawn from the old tables")
    folder.write_report("# the old report", [old_figure])  # what write_report ends with
    tables = folder.read_tables()
    tables["results"] = tables["results"].assign(energy_pj=tables["results"]["energy_pj"] * 2)
    folder.write_tables(tables)
    return folder, old_figure


def test_a_report_drawn_from_older_tables_says_so(stale_report):
    folder, old_figure = stale_report
    first = folder.report_path.read_text().splitlines()[0]
    assert first.startswith(STALE_REPORT_BANNER) and f"onespike report {folder.root}" in first
    assert "figures/q5_energy_breakdown.png" in folder.read_manifest()["files"]
    folder.write_report("# redrawn", [old_figure])
    folder.write_tables(folder.read_tables())  # the same tables again: the report stays current
    assert not folder.report_path.read_text().startswith(STALE_REPORT_BANNER)


@pytest.mark.slow
def test_onespike_report_redraws_a_stale_report(stale_report, capsys):
    folder, old_figure = stale_report
    code, err = cli(capsys, "report", str(folder.root))
    assert code == 0, err
    assert not folder.report_path.read_text().startswith(STALE_REPORT_BANNER)
    assert old_figure.read_bytes().startswith(b"\x89PNG"), "onespike report did not redraw the figure"
    drawn = sorted(folder.figures_dir.glob("*.png"))
    assert {f"figures/{p.name}" for p in drawn} <= set(folder.read_manifest()["files"])


def test_q5_without_spiking_methods_says_not_applicable_and_why(tmp_path):
    from analysis.report import answers
    from tests.report_run import make_run

    line = answers(make_run(tmp_path / "run", methods=("ann", "qcfs", "bnn")))["Q5"]
    assert ": ." not in line and "n/a" in line and "IF SNN and OneSpike" in line, line
