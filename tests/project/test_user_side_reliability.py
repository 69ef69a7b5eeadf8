"""Hostile use from the user's side: nothing outside the run folder is ever
touched, bad names are refused before any work, and every refusal names its cause and fix."""

import json
import os
import re
import warnings
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import torch

from analysis.cli import main
from analysis.report.questions import ordered_questions
from analysis.report.summary import SUMMARY_STEM
from analysis.run_folder import RunFolder
from analysis.study import RunFolderError, StudyConfig, run_study
from tests.project.forked_cli import start_cli
from tests.project.test_cli_run_folders import no_training, one_line, project  # noqa: F401 (fixtures)
from tests.report_run import make_run

TINY = dict(archs=["mlp"], timesteps=[1, 2], epochs_ann=2, epochs_quant=1, epochs_bnn=1, count_samples=32,
            sparsity_sweep=[0.0, 1.0], spike_event_sweep=[0.0], breakeven_timesteps=2,
            hardware=["sata", "flops45nm"], methods=["ann", "qcfs", "if", "onespike"],
            # a direct method's event training (Q15) once at one T, as test_study's tiny study does
            direct_max_steps=2, event_timesteps=[2], event_epochs=1)


def snapshot(root) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (links as their target's name)."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = (os.readlink(path).encode() if os.path.islink(path)
                                                else open(path, "rb").read())
    return out


def cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def another_study(tmp_path):
    """A complete run folder of another computation (``--force`` would replace its files)."""
    out = make_run(tmp_path / "run", optional_tables=False)
    folder = RunFolder(out)
    payload = json.loads(folder.config_path.read_text())
    folder.write_config({**payload, "compute_digest": "f" * 16})
    return folder


# -- item 1: --force never deletes outside the run folder ---------------------------------------------------------
@pytest.mark.parametrize("entry", ["tables:../victim/important", "tables:ABS", "files:../victim/important.csv",
                                   "files:ABS", "files:notes/mine.txt", "tables:my_own_table"])
def test_force_with_a_tampered_manifest_removes_nothing_and_names_the_entry(tmp_path, capsys, entry):
    folder = another_study(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "important.csv").write_text("thesis data")
    (folder.root / "notes").mkdir()
    (folder.root / "notes" / "mine.txt").write_text("mine")
    (folder.root / "my_own_table.csv").write_text("a\n1\n")
    kind, name = entry.split(":")
    name = name.replace("ABS", str(victim / "important"))
    manifest = json.loads(folder.manifest_path.read_text())
    if kind == "tables":
        manifest["tables"][name] = {"rows": 1, "sha256": "0" * 64}
    else:
        manifest["files"].append(name if name.startswith("/") or name.endswith((".csv", ".txt")) else name + ".csv")
    folder.manifest_path.write_text(json.dumps(manifest))
    before = snapshot(tmp_path)
    with pytest.raises(RunFolderError, match="the manifest was edited") as caught:
        run_study(StudyConfig(**TINY), folder.root, force=True, progress=False)
    assert repr(name)[1:-1] in str(caught.value)
    assert snapshot(tmp_path) == before
    code, err = cli(capsys, "study", "--quick", "--arch", "mlp", "--out", str(folder.root), "--force")
    assert code == 2 and "the manifest was edited" in err and len(err.strip().splitlines()) == 1
    assert snapshot(tmp_path) == before


def test_force_refuses_a_cache_folder_that_links_outside(tmp_path):
    folder = another_study(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / f"unit__{'f' * 16}.json").write_text("{}")
    os.symlink(elsewhere, folder.cache_dir)
    before = snapshot(tmp_path)
    with pytest.raises(RunFolderError, match="outside the run folder"):
        run_study(StudyConfig(**TINY), folder.root, force=True, progress=False)
    assert snapshot(tmp_path) == before


# -- item 2: --arch names are checked before any work ---------------------------------------------------------------
@pytest.mark.parametrize("arch", ["../../x/pwn", "/tmp/pwn", "a" * 300, "my..net", "net/sub", ".hidden", "n\\et"])
def test_an_unsafe_arch_name_for_a_users_model_is_refused_before_any_work(project, no_training, capsys, arch):  # noqa: F811
    before = snapshot(project.parent)
    code, err = cli(capsys, "study", "--quick", "--model", "r3pkg.nets:net", "--arch", arch, "--out", "out",
                    "--no-progress")
    assert code == 2 and one_line(err), err
    assert "cannot name your model" in err and "e.g. --arch my_net" in err and len(err) < 400
    assert snapshot(project.parent) == before


def test_a_safe_module_like_arch_name_is_accepted():
    config = StudyConfig(**{**TINY, "archs": ["my_pkg.net-v2"], "methods": ["ann"]}, model="r3pkg.nets:net")
    assert config.archs == ["my_pkg.net-v2"]


# -- item 3: user names never run as spreadsheet formulas or render as markup ---------------------------------------
HOSTILE_NAME = "=HYPERLINK(\"http://evil/\",\"x\")"
HOSTILE_PAPER = "<img src=x onerror=alert(1)> ![pwn](http://evil/x.png) [click](http://evil/) *bold* `code` a|b"


def formula_cells(path) -> list[str]:
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        return [cell for row in csv.reader(handle) for cell in row
                if cell[:1] in ("=", "+", "@", "\t", "\r") or (cell[:1] == "-" and cell.strip("-")
                                                               and not cell.lstrip("-").replace(".", "").isdigit())]


def test_text_cells_that_spreadsheets_run_are_quoted_and_read_back_as_written(tmp_path):
    from tests.report_run import make_run

    folder = RunFolder(make_run(tmp_path / "run", optional_tables=False))
    tables = folder.read_tables()
    cells = [HOSTILE_NAME, "+1+cmd", "-2+3*cmd", "@SUM(A1)", "'=already quoted", "-", "-1.5", "sata", "\tx"]
    columns = ("paper", "description", "technology")
    assert len(tables["hardware"]) * len(columns) == len(cells)
    tables["hardware"] = tables["hardware"].assign(**{c: cells[i::len(columns)] for i, c in enumerate(columns)})
    folder.write_tables(tables)
    raw = folder.table_path("hardware").read_text()
    assert not formula_cells(folder.table_path("hardware")), raw
    assert "'=HYPERLINK" in raw and "''=already quoted" in raw and ",-1.5," in raw and ",-," in raw
    back = folder.read_tables()["hardware"]
    assert sorted(back[list(columns)].to_numpy().ravel().tolist()) == sorted(cells)


@contextmanager
def figures_not_drawn(run, out_dir, hardware=None, jobs=None, formats=None):
    """write_report's drawing step without the drawing: the figures' paths (what the report's text
    links), no file (a figure is an image: no markup reaches the report through it)."""
    yield {key: Path(out_dir) / f"{stem}.png" for key, stem in
           [(SUMMARY_STEM, SUMMARY_STEM), *((entry.qid, entry.stem) for entry in ordered_questions())]}


def test_a_hostile_user_table_reaches_no_csv_formula_and_no_report_markup(tmp_path, monkeypatch):
    from analysis.report import markdown, write_report
    from energy_models.table import TABLES_DIR

    text = (TABLES_DIR / "example_user_chip.toml").read_text()
    text = text.replace('name = "example_user_chip"', f"name = {json.dumps(HOSTILE_NAME)}")
    text = text.replace(text.split("paper = ")[1].split("\n")[0], json.dumps(HOSTILE_PAPER))
    table = tmp_path / "chip.toml"
    table.write_text(text)
    out = tmp_path / "run"
    run_study(StudyConfig(**{**TINY, "hardware": ["sata", str(table)], "methods": ["ann", "qcfs", "if"]}), out,
              progress=False)
    csvs = sorted(out.glob("*.csv"))
    assert any(HOSTILE_NAME in RunFolder(out).read_tables()[p.stem].to_string() for p in csvs)
    for path in csvs:
        assert not formula_cells(path), f"{path.name} holds a formula cell"
    monkeypatch.setattr(markdown, "drawing", figures_not_drawn)  # its 17 figures took 5 of this test's 9 CPU s
    report = write_report(out).read_text() + (out / "report_appendix.md").read_text()
    assert "(figures/q1_equivalence.png)" in report  # the text links each figure as when it is drawn
    assert not re.search(r"(?<!\\)<img|\]\(http://evil|!\[pwn", report)
    assert "\\<img src=x onerror=alert(1)\\>" in report and "\\*bold\\*" in report


# -- item 4: the lock, SIGTERM, helpers, permissions --------------------------------------------------------------
def _contend(root: str, barrier) -> None:
    """One study taking the lock of ``root``; while it holds it, it records when, in ``held.<pid>``."""
    import time

    from analysis.study.folder import FolderLock

    lock = FolderLock(RunFolder(root))
    barrier.wait()
    try:
        lock.acquire()
    except RunFolderError:
        return
    start = time.monotonic()
    time.sleep(0.02)
    held = f"{start} {time.monotonic()}"
    lock.release()
    with open(os.path.join(root, f"held.{os.getpid()}"), "w") as handle:
        handle.write(held)


def test_two_studies_taking_a_stale_lock_at_once_never_both_hold_it(tmp_path):
    import multiprocessing
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = json.dumps({"pid": dead.pid, "host": os.uname().nodename})
    context = multiprocessing.get_context("fork")
    trials, overlaps, untaken = 60, 0, 0
    for trial in range(trials):
        root = tmp_path / f"t{trial}"
        root.mkdir()
        RunFolder(root).lock_path.write_text(stale)
        barrier = context.Barrier(2)
        procs = [context.Process(target=_contend, args=(str(root), barrier)) for _ in range(2)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(30)
        held = [tuple(map(float, p.read_text().split())) for p in root.glob("held.*")]
        untaken += not held
        overlaps += len(held) == 2 and held[0][0] < held[1][1] and held[1][0] < held[0][1]
        assert not RunFolder(root).lock_path.exists() and not (root / ".lock.breaking").exists()
    assert overlaps == 0, f"both studies held the lock at once in {overlaps} of {trials} trials"
    assert untaken == 0, f"the stale lock was taken by neither study in {untaken} of {trials} trials"


def test_sigterm_releases_the_lock_and_says_so(tmp_path):
    import signal
    import time

    out = tmp_path / "terminated"
    config = tmp_path / "config.json"
    config.write_text(json.dumps(StudyConfig(**{**TINY, "epochs_ann": 200, "plateau_patience": None}).to_dict()))
    proc = start_cli(["study", "--config", str(config), "--out", str(out), "--no-progress"], tmp_path / "stderr")
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "config.json").exists():
        time.sleep(0.1)
    assert RunFolder(out).lock_path.exists()
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGTERM)
    proc.join(120)
    err = (tmp_path / "stderr").read_text()
    assert proc.exitcode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines() == ["onespike study: stopped by SIGTERM; the lock is released and finished work "
                                        "kept: rerun the same command to resume"]
    assert not RunFolder(out).lock_path.exists()


def _study_with_a_helper(path: str, pipe) -> None:
    """A study process: its SharedWork's forked helper appends to ``path`` until it ends; sends the helper's pid."""
    import time

    from analysis.study.ahead import SharedWork

    def work(index):
        while True:
            with open(path, "a") as handle:
                handle.write("x")
            time.sleep(0.02)

    shared = SharedWork([0, 1], work)
    pipe.send(shared.process.pid)
    time.sleep(60)


def test_a_forked_helper_ends_when_the_study_is_killed(tmp_path):
    import multiprocessing
    import signal
    import time

    written = tmp_path / "written.txt"
    context = multiprocessing.get_context("fork")  # the study: the loaded toolkit, not a second import of torch
    receive, send = context.Pipe(duplex=False)
    study = context.Process(target=_study_with_a_helper, args=(str(written), send))
    study.start()
    assert receive.poll(60), "the study started no helper"
    helper = receive.recv()
    deadline = time.time() + 30
    while time.time() < deadline and not written.exists():
        time.sleep(0.05)
    os.kill(study.pid, signal.SIGKILL)
    study.join()

    def ended() -> bool:  # gone, or a zombie nobody reaps yet (it has exited either way)
        try:
            with open(f"/proc/{helper}/stat") as handle:
                return handle.read().rsplit(")", 1)[-1].split()[0] == "Z"
        except FileNotFoundError:
            return True

    deadline = time.time() + 5
    while time.time() < deadline and not ended():
        time.sleep(0.05)
    assert ended(), "the helper outlived its killed study by 5 s"
    size = written.stat().st_size
    time.sleep(0.5)
    assert written.stat().st_size == size, "the helper kept writing after its study was killed"


def test_checkpoints_get_the_umasks_permissions(tmp_path):
    import torch

    from analysis.study.training import save_checkpoint

    previous = os.umask(0o027)
    try:
        path = save_checkpoint(tmp_path / "net.pt", torch.nn.Linear(2, 2), {"arch": "mlp"})
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o640


# -- item 5: a user's directly trained SNN really spikes, and is counted as spiking ---------------------------------
class MixedReLUs(torch.nn.Module):
    """Notebook 04's pattern: an ``nn.ReLU`` module and functional ``F.relu`` calls in one forward."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Conv2d(4, 4, 3, padding=1)
        self.relu = torch.nn.ReLU()
        self.fc = torch.nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        x = torch.nn.functional.relu(self.conv1(x))
        x = self.relu(self.conv2(x)) + x.relu()
        return self.fc(x.flatten(1))


def test_every_relu_call_site_of_a_users_model_becomes_a_spiking_neuron():
    from analysis.snn.onestep import spiking_from_ann

    snn = spiking_from_ann(MixedReLUs(), 4).eval()
    assert len(snn.neurons) == 3  # F.relu, self.relu, x.relu(): none stays analog
    seen = []
    hooks = [m.register_forward_pre_hook(lambda m, a: seen.append(a[0])) for m in (snn.body.conv2, snn.body.fc)]
    snn(torch.rand(2, 1, 8, 8) * 4)
    for hook in hooks:
        hook.remove()
    conv2_input = seen[0]
    assert set(conv2_input.unique().tolist()) <= {0.0, 1.0}, "conv2 was fed analog ReLU outputs"


def test_a_model_with_a_non_relu_activation_is_refused_by_name_for_a_direct_snn():
    from analysis.snn import ConversionError
    from analysis.snn.onestep import spiking_from_ann

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8),
                                torch.nn.GELU(), torch.nn.Linear(8, 2))
    with pytest.raises(ConversionError, match=r"every activation must be a ReLU.*'4' \(GELU\).*replace those"):
        spiking_from_ann(model, 2)


def test_a_direct_snn_counted_in_training_form_counts_spikes_after_its_neurons():
    from analysis.counting import count_events
    from analysis.snn.onestep import spiking_from_ann
    from analysis.study.direct import count_form

    torch.manual_seed(0)
    snn = spiking_from_ann(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                               torch.nn.Linear(32, 10)), 4).eval()
    images = torch.rand(4, 1, 8, 8) * 3
    with count_events(snn) as training:
        snn(images)
    deploy, _ = count_form(snn, None, 4)
    with count_events(deploy) as deployed:
        deploy(images)
    after = training.layers[-2]
    assert after.kind == "linear" and after.input_spiking and after.mac == 0 and after.ac > 0
    assert after.ac == pytest.approx(deployed.layers[-2].ac)


def test_a_study_of_a_users_functional_relu_model_trains_a_spiking_direct_snn(project, capsys):  # noqa: F811
    from analysis.study import load_tables

    config = StudyConfig(**{**TINY, "archs": ["net"], "methods": ["ann", "direct_if"], "timesteps": [2],
                            "hardware": ["sata"], "epochs_direct": 1}, model="r3pkg.nets:net")
    run_study(config, project / "run", progress=False)
    results = load_tables(project / "run")["results"]
    direct = results[results.method == "direct_if"]
    assert len(direct) == 1 and direct["ops_spikes"].iloc[0] > 0 and direct["spike_rate"].iloc[0] > 0


def test_power_of_two_thresholds_keep_a_graph_direct_snns_spikes():
    from analysis.snn import ConversionError
    from analysis.snn.onestep import pow2_thresholds, spiking_from_ann

    torch.manual_seed(0)
    snn = spiking_from_ann(MixedReLUs(), 4).eval()
    neurons = {name.removesuffix(".neuron"): m for name, m in snn.body.named_modules() if name.endswith(".neuron")}
    assert sorted(neurons) == ["relu", "relu_1", "relu_2"]  # self.relu, F.relu, x.relu()
    for name, theta in (("relu", 0.7), ("relu_1", 1.3), ("relu_2", 1.0)):
        neurons[name].threshold.data.fill_(theta)
    images = torch.rand(8, 1, 8, 8) * 4
    rounded = pow2_thresholds(snn)
    assert sorted(float(n.threshold) for n in rounded.neurons) == [0.5, 1.0, 1.0]
    assert torch.allclose(rounded(images), snn(images), atol=1e-5)
    neurons["relu_2"].threshold.data.fill_(3.1)  # fed by relu_1's spikes: nothing to fold its scale into
    with pytest.raises(ConversionError, match=r"relu_2: no conv/linear/batch norm feeding only this neuron"):
        pow2_thresholds(snn)


# -- item 6: OneSpike through torch.cat ---------------------------------------------------------------------------
class TwoBranches(torch.nn.Module):
    def __init__(self, pool_first: bool):
        super().__init__()
        self.a, self.b = torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.Conv2d(1, 16, 3, padding=1)
        self.fc = torch.nn.Linear(32, 10)
        self.pool_first = pool_first

    def forward(self, x):
        pool = torch.nn.functional.adaptive_avg_pool2d
        a, b = torch.nn.functional.relu(self.a(x)), torch.nn.functional.relu(self.b(x))
        if self.pool_first:
            return self.fc(torch.cat([pool(a, 1), pool(b, 1)], 1).flatten(1))
        return self.fc(pool(torch.cat([a, b], 1), 1).flatten(1))


class OneBranch(torch.nn.Module):
    """:class:`TwoBranches` with its two convs as one (the same activations, no torch.cat)."""

    def __init__(self, two: TwoBranches):
        super().__init__()
        self.ab = torch.nn.Conv2d(1, 32, 3, padding=1)
        with torch.no_grad():
            self.ab.weight.copy_(torch.cat([two.a.weight, two.b.weight]))
            self.ab.bias.copy_(torch.cat([two.a.bias, two.b.bias]))
        self.fc = two.fc

    def forward(self, x):
        return self.fc(torch.nn.functional.adaptive_avg_pool2d(torch.nn.functional.relu(self.ab(x)), 1).flatten(1))


@pytest.mark.parametrize("pool_first", [True, False])
@pytest.mark.parametrize("mode", ["exact", "hardware"])
def test_onespike_through_torch_cat_is_counted_as_the_same_network_without_it(pool_first, mode):
    from analysis.counting import count_events
    from analysis.snn import to_onespike, to_quantized

    torch.manual_seed(0)
    two = TwoBranches(pool_first)
    images = torch.rand(4, 1, 8, 8) * 2
    ledgers = []
    for model in (two, OneBranch(two)):
        net = to_onespike(to_quantized(model, 4), 4, mode=mode)  # equal thresholds: no calibration
        with count_events(net) as ledger:
            logits = net(images)
        ledgers.append((ledger, logits))
    (with_cat, cat_logits), (without, plain_logits) = ledgers
    assert torch.allclose(cat_logits, plain_logits, atol=1e-5)
    fc_cat, fc_plain = (next(layer for layer in led.layers if layer.name == "fc") for led in (with_cat, without))
    for field in ("ac", "mac", "input_nonzero", "weight_reads"):
        assert getattr(fc_cat, field) == pytest.approx(getattr(fc_plain, field)), field


# -- item 7: a count is never silently empty or wrong ---------------------------------------------------------------
def small_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(256, 10))


def test_a_block_that_runs_another_model_warns_of_an_empty_ledger():
    from analysis.counting import count_events

    counted, other = small_net().eval(), small_net().eval()
    with pytest.warns(UserWarning, match=r"ran no forward pass of the counted Sequential.*0 pJ.*inside the block"):
        with count_events(counted) as ledger:
            other(torch.rand(2, 1, 8, 8))
    assert ledger.samples == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with count_events(counted) as ledger:
            counted(torch.rand(2, 1, 8, 8))
    assert ledger.samples == 2


def test_a_model_in_training_mode_is_counted_with_a_warning():
    from analysis.counting import count_events

    net = small_net()  # a new module is in training mode
    with pytest.warns(UserWarning, match=r"training mode \(BatchNorm2d\).*call model\.eval\(\) before counting"):
        with count_events(net):
            net(torch.rand(2, 1, 8, 8))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_half_precision_model_is_refused_with_the_fix(dtype):
    from analysis.counting import count_events

    net = small_net().eval().to(dtype)
    with pytest.raises(ValueError, match=rf"{dtype} parameters.*at 32 bits: count model\.float\(\).*weight_bits=16"):
        with count_events(net):
            pass


def test_a_batch_of_zero_samples_is_refused():
    from analysis.counting import count_events

    net = small_net().eval()
    with pytest.raises(ValueError, match=r"batch of 0 samples.*give at least one sample"):
        with count_events(net):
            net(torch.rand(0, 1, 8, 8))


def test_count_events_of_a_function_or_a_meta_model_names_the_fix():
    from analysis.counting import count_events

    def forward(x):
        return x

    with pytest.raises(TypeError, match=r"counts an nn\.Module, got function '.*forward'.*count_events\(model\)"):
        with count_events(forward):
            pass
    with torch.device("meta"):
        meta = small_net()
    with pytest.raises(ValueError, match=r"meta device .*to_empty\(device='cpu'\).*load_state_dict"):
        with count_events(meta):
            pass


# -- item 8: a resume with another --hardware re-prices the break-even and the sweep -------------------------------
def test_a_resume_with_other_hardware_reprices_breakeven_and_sweep(tmp_path):
    from analysis.study import load_tables

    out = tmp_path / "run"
    run_study(StudyConfig(**{**TINY, "hardware": ["sata"]}), out, progress=False)
    before = load_tables(out)
    assert set(before["breakeven"]["hardware"]) == {"sata"} and set(before["sweep"]["hardware"]) == {"sata"}
    run_study(StudyConfig(**{**TINY, "hardware": ["sata", "flops45nm"]}), out, progress=False)  # no --force needed
    after = load_tables(out)
    assert set(after["results"]["hardware"]) == {"sata", "flops45nm"}
    assert set(after["breakeven"]["hardware"]) == {"sata", "flops45nm"}
    assert set(after["sweep"]["hardware"]) == {"sata", "flops45nm"}
    run_study(StudyConfig(**{**TINY, "hardware": ["sata"], "sparsity_sweep": [0.0, 0.5, 1.0]}), out, progress=False)
    assert sorted(set(load_tables(out)["sweep"]["input_sparsity"])) == [0.0, 0.5, 1.0]


# -- item 9: a user table's unpriced events qualify the verdicts resting on it --------------------------------------
def test_verdicts_under_a_table_pricing_only_mac_and_ac_say_what_is_unpriced(tmp_path):
    from analysis.report import answers
    from energy_models.table import TABLES_DIR

    text = (TABLES_DIR / "example_user_chip.toml").read_text()
    table = tmp_path / "macac.toml"
    table.write_text(text.split("[events.mac]")[0] + "[events.mac]" + text.split("[events.mac]")[1].split(
        "[events.add]")[0])
    out = tmp_path / "run"
    run_study(StudyConfig(**{**TINY, "hardware": [str(table)], "methods": ["ann", "qcfs", "if", "onespike"],
                             "timesteps": [1, 2, 4]}), out, progress=False)
    lines = answers(out)
    for qid in ("Q3", "Q8"):
        assert re.search(rf"Qualified: {re.escape(str(table))} leaves .*unpriced \(0 pJ\), so this holds only if",
                         lines[qid]), lines[qid]
    assert re.search(r"leaves mul, mod, ", lines["Q3"]), lines["Q3"]  # the events Q3 names come first
    assert "cmp" in lines["Q8"] or "more unpriced" in lines["Q8"]
    assert "Qualified" not in lines["Q1"]  # no hardware model enters Q1


def test_verdicts_under_built_in_models_are_not_qualified(tmp_path):
    from analysis.report import answers

    lines = answers(make_run(tmp_path / "run"))
    assert not [line for line in lines.values() if "Qualified:" in line]


# -- item 11: an uncalibrated to_quantized warns, and the README's snippets run as written --------------------------
def readme_block(heading: str) -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_an_uncalibrated_to_quantized_warns_that_the_network_is_near_chance():
    from analysis.models import build_model
    from analysis.snn import to_quantized

    ann = build_model("cnn_small", 10, 1, 8)
    with pytest.warns(UserWarning, match=r"no calibration_data, so all \d+ thresholds start at 1\.0 .*near chance"):
        to_quantized(ann, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_quantized(ann, 4, calibration_data=torch.rand(8, 1, 8, 8))


def test_the_readme_python_snippet_runs_as_written_without_a_warning(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(compile(readme_block("Use it from Python"), "README.md", "exec"), {})
    assert "compute" in capsys.readouterr().out  # the priced components were printed


class UsersNet(MixedReLUs):
    """A user's own forward: a functional ReLU and an ``nn.ReLU`` module."""

    def forward(self, x):
        x = self.relu(self.conv2(torch.nn.functional.relu(self.conv1(x))))
        return self.fc(x.flatten(1))


def test_the_readme_own_model_snippet_runs_as_written_on_a_users_model(tmp_path, monkeypatch):
    torch.manual_seed(0)
    torch.save(UsersNet().state_dict(), tmp_path / "weights.pt")
    monkeypatch.chdir(tmp_path)
    namespace = {"MyResNet18": UsersNet, "x": torch.rand(256, 1, 8, 8)}  # the README's "your training images"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(compile(readme_block("Your own model"), "README.md", "exec"), namespace)
    qann, x = namespace["qann"], namespace["x"]
    assert torch.equal(qann(x).argmax(1), namespace["onespike"](x).argmax(1))
    assert namespace["frame"] is not None and len(namespace["frame"]) > 0


# -- item 10: edited run folders, empty --out, what a given SNN is called ---------------------------------------------
def rehashed(tmp_path, edit) -> RunFolder:
    """A synthetic run whose results.csv was edited by ``edit`` and re-hashed into the manifest."""
    folder = RunFolder(make_run(tmp_path / "run", optional_tables=False))
    tables = folder.read_tables()
    tables["results"] = edit(tables["results"])
    folder.write_tables(tables)
    return folder


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda r: r.assign(energy_pj=-r["energy_pj"]), r"negative, NaN or infinite energy \(first: energy_pj of arch="),
    (lambda r: r.assign(compute_pj=float("nan")), r"negative, NaN or infinite energy \(first: compute_pj"),
    (lambda r: pd.concat([r, r.head(3)]), r"3 row\(s\) repeat a network under the same hardware model"),
    (lambda r: r.drop(columns=["accuracy"]), r"lacks the column\(s\) accuracy the report reads"),
    (lambda r: r.drop(columns=["energy_pj", "hardware"]), r"lacks the column\(s\) hardware, energy_pj"),
    (lambda r: r.assign(accuracy=r["accuracy"] * 100), r"accuracy .* outside \[0, 1\]"),
])
def test_report_on_an_edited_rehashed_results_table_is_one_line_naming_the_rows(tmp_path, capsys, edit, expected):
    folder = rehashed(tmp_path, edit)
    before = snapshot(folder.root)
    code, err = cli(capsys, "report", str(folder.root))
    assert code == 2 and one_line(err), err
    assert re.search(expected, err) and "rerun the study into a new --out" in err, err
    assert snapshot(folder.root) == before


def test_an_edited_config_json_is_caught_like_an_edited_table(tmp_path, capsys):
    folder = RunFolder(make_run(tmp_path / "run", optional_tables=False))
    payload = json.loads(folder.config_path.read_text())
    payload["config"]["levels"] = 8
    folder.config_path.write_text(json.dumps(payload))
    code, err = cli(capsys, "report", str(folder.root))
    assert code == 2 and one_line(err) and "config.json does not match manifest.json (edited or replaced)" in err


@pytest.mark.parametrize("flag", ["--out", "--resume"])
def test_an_empty_out_is_refused_and_nothing_is_written(tmp_path, capsys, monkeypatch, flag):
    monkeypatch.chdir(tmp_path)
    code, err = cli(capsys, "study", "--quick", flag, "")
    assert code == 2 and one_line(err) and f"{flag} is empty: give the run folder, e.g. {flag} reports/mine" in err
    assert list(tmp_path.iterdir()) == []


def test_an_out_where_no_folder_can_be_made_names_the_cause_and_the_fix(capsys):
    code, err = cli(capsys, "study", "--quick", "--out", "/proc/onespike-run", "--no-progress")
    assert code == 2 and one_line(err), err
    assert "cannot create the folder" in err and "'/proc' does not take new folders" in err
    assert "choose another --out" in err and "[Errno" not in err


def test_a_given_direct_snn_checkpoint_is_not_called_trained_by_the_study(tmp_path):
    from analysis.study import load_tables

    config = {**TINY, "methods": ["ann", "direct_if"], "timesteps": [2], "hardware": ["sata"], "epochs_direct": 1}
    run_study(StudyConfig(**config), tmp_path / "first", progress=False)
    made = load_tables(tmp_path / "first")["results"].set_index("method")["made"]
    assert made["direct_if"].startswith("trained directly at T=2")
    checkpoint = next((tmp_path / "first" / "cache").glob("mlp__direct_if__T2__*.pt"))
    run_study(StudyConfig(**config, checkpoints=[str(checkpoint)]), tmp_path / "second", progress=False)
    made = load_tables(tmp_path / "second")["results"].set_index("method")["made"]
    assert made["direct_if"] == "given (the direct_if checkpoint), not trained by the study"


# -- unclear refusals: each one line naming the cause and the fix (from the user's side) -----------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("round4") / "run"
    run_study(StudyConfig(**{**TINY, "hardware": ["sata"]}), out, progress=False)
    return out


def test_resume_with_another_seed_names_the_flag_and_both_ways_on(tiny_run, capsys):
    before = snapshot(tiny_run)
    code, err = cli(capsys, "study", "--resume", str(tiny_run), "--seed", "5", "--no-progress")
    assert code == 2 and one_line(err), err
    assert "but --seed changes what it computes (a new study): drop --seed to continue it" in err
    assert "--out NEW" in err and f"`onespike study --resume {tiny_run}`" not in err
    assert snapshot(tiny_run) == before
    code, err = cli(capsys, "study", "--resume", str(tiny_run), "--hardware", "sata,flops45nm", "--no-progress",
                    "--no-report")
    assert code == 0, err  # a pricing flag re-prices: still the same study


def test_a_huge_seed_is_refused_by_name_before_any_work(tmp_path, capsys):
    code, err = cli(capsys, "study", "--quick", "--seed", "99999999999", "--out", str(tmp_path / "x"))
    assert code == 2 and one_line(err) and not (tmp_path / "x").exists()
    assert "seed must be in [0, 4294967295], got 99999999999" in err and "choose a smaller --seed" in err
    assert "random_state" not in err


def test_a_config_list_field_given_as_a_string_shows_an_example_of_that_field(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"methods": "ann"}))
    code, err = cli(capsys, "study", "--config", str(config), "--out", str(tmp_path / "x"))
    assert code == 2 and one_line(err)
    assert 'methods must be a list (e.g. ["ann", "qcfs", "onespike"]), got str \'ann\'' in err


def _checkpoints(tmp_path):
    from analysis.models import build_model
    from analysis.study.training import save_checkpoint

    cifar = build_model("cnn_small", 10, 3, 32)
    save_checkpoint(tmp_path / "cifar.pt", cifar, {"arch": "cnn_small", "method": "ann", "options": {},
                                                   "input": {"data": "cifar10", "num_classes": 10,
                                                             "in_channels": 3, "image_size": 32}})
    torch.save(cifar.state_dict(), tmp_path / "cifar_bare.pt")
    digits = build_model("cnn_small", 10, 1, 8, width=16).state_dict()
    torch.save({"model": digits, "epoch": 3}, tmp_path / "wrapped.pt")
    variance = next(k for k in digits if k.endswith("running_var"))
    torch.save({**digits, variance: -torch.ones_like(digits[variance])}, tmp_path / "negvar.pt")
    return variance


@pytest.mark.parametrize("command", ["count", "study"])
@pytest.mark.parametrize(("name", "expected"), [
    ("cifar.pt", r"was trained on cifar10 \(3×32×32 images, 10 classes\), not digits: pass --data cifar10"),
    ("cifar_bare.pt", r"first layer takes 3 input channel\(s\), this data 1: .*pass that data set with --data"),
    ("wrapped.pt", r"holds a dict with keys \['model', 'epoch'\].*its 'model' entry looks like the state dict: save "
                   r"that alone"),
    ("negvar.pt", r"batch norm '\d+\.running_var' holds a negative variance \(-1;.*damaged or was edited"),
])
def test_a_checkpoint_that_does_not_fit_names_why_and_the_fix(tmp_path, capsys, command, name, expected):
    _checkpoints(tmp_path)
    argv = (["count", "--checkpoint", str(tmp_path / name), "--samples", "4"] + (
        ["--arch", "cnn_small"] if name != "cifar.pt" else []) if command == "count" else
        ["study", "--quick", "--checkpoint", str(tmp_path / name), "--out", str(tmp_path / "out"), "--no-progress"])
    code, err = cli(capsys, *argv)
    assert code == 2 and one_line(err), err
    assert re.search(expected, err), err
    assert not (tmp_path / "out").exists()


def test_a_users_own_neuron_class_is_named_not_taken_for_an_ann(project, capsys):  # noqa: F811
    (project / "r3pkg" / "own.py").write_text(
        "import torch.nn as nn\n\n\n"
        "class Spiker(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.v_threshold, self.v = 1.0, 0.0\n\n"
        "    def forward(self, x):\n"
        "        self.v = self.v + x\n"
        "        return (self.v >= self.v_threshold).float()\n\n\n"
        "def net(num_classes, in_channels, image_size):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size ** 2, 16), Spiker(),\n"
        "                         nn.Linear(16, num_classes))\n")
    code, err = cli(capsys, "study", "--quick", "--model", "r3pkg.own:net", "--out", "out", "--no-progress")
    assert code == 2 and one_line(err), err
    assert "module '2' (Spiker) looks like a spiking neuron" in err and "snn.Leaky" in err
    assert "found no nn.ReLU" not in err and not (project / "out").exists()


def test_a_snntorch_network_returning_spikes_and_membrane_names_time_loop(project, capsys):  # noqa: F811
    pytest.importorskip("snntorch")
    (project / "r3pkg" / "sn.py").write_text(
        "import torch.nn as nn\nimport snntorch as snn\n\n\n"
        "def net(num_classes, in_channels, image_size):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size ** 2, 16),\n"
        "                         snn.Leaky(beta=0.9, init_hidden=True), nn.Linear(16, num_classes),\n"
        "                         snn.Leaky(beta=0.9, init_hidden=True, output=True))\n")
    code, err = cli(capsys, "study", "--quick", "--model", "r3pkg.sn:net", "--out", "out", "--no-progress")
    assert code == 2 and one_line(err), err
    assert "(your SNN, as given) returns tuple" in err and "analysis.snn.TimeLoop(net, T)" in err
    assert "(ANN)" not in err


def test_a_panel_given_one_hardware_name_draws_that_model(tmp_path):
    import matplotlib.pyplot as plt

    from analysis.report import load_run
    from analysis.report.energy import panel_breakdown

    run = load_run(make_run(tmp_path / "run"))
    fig, ax = plt.subplots()
    panel_breakdown(run, ax, hardware="sata")
    assert ax.get_title() == "sata"
    plt.close(fig)


@pytest.mark.parametrize("suffix", ["pdf", "svg", "png"])
def test_a_question_figure_is_written_in_the_format_its_path_names(tmp_path, suffix):
    import matplotlib.pyplot as plt

    from analysis.report import load_run, question

    run = load_run(make_run(tmp_path / "run"))
    fig = question("Q5").figure(run, path=tmp_path / f"x.{suffix}")
    plt.close(fig)
    assert [p.name for p in tmp_path.glob("x.*")] == [f"x.{suffix}"]
    with pytest.raises(ValueError, match=r"written as PNG, SVG or PDF, not JPG: name one of those"):
        question("Q5").figure(run, path=tmp_path / "y.jpg")


# -- item 10: a study without an ANN answers honestly -----------------------------------
def test_without_a_float_ann_pareto_and_q10_say_what_is_missing(tmp_path):
    from analysis.report import answers

    folder = rehashed(tmp_path, lambda r: r[r["method"] == "bnn"])  # no ANN, nothing converted from one
    lines = answers(folder.root)
    assert lines["Pareto"].startswith("Pareto: n/a: not in this run — no float-ANN rows"), lines["Pareto"]
    assert lines["Q10"].startswith("Q10: n/a: not in this run — no conversion step"), lines["Q10"]
    assert "n/a is" not in lines["Pareto"] and "): ." not in lines["Q10"]


def test_report_on_a_manifest_naming_a_table_outside_reads_nothing_there(tmp_path, capsys):
    folder = RunFolder(make_run(tmp_path / "run", optional_tables=False))
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "secret.csv").write_text("a\n1\n")
    manifest = json.loads(folder.manifest_path.read_text())
    manifest["tables"]["../victim/secret"] = {"rows": 1, "sha256": "0" * 64}
    folder.manifest_path.write_text(json.dumps(manifest))
    code, err = cli(capsys, "report", str(folder.root))
    assert code == 2 and one_line(err) and "table entry '../victim/secret' is not a table a study writes" in err
    assert not (folder.root / "report.md").exists()


@pytest.mark.parametrize(("stop", "code", "line"), [
    ("Terminated", 143, "onespike hardware: stopped by SIGTERM; the lock is released and finished work kept"),
    ("KeyboardInterrupt", 130, "onespike hardware: interrupted; rerun the same command to resume"),
])
def test_a_stop_wrapped_by_library_code_still_stops_with_one_line(monkeypatch, capsys, stop, code, line):
    from analysis import cli as cli_module
    from analysis.stop import Terminated

    def wrapped(args):  # what Python does to a stop raised inside a lazy import's class body
        try:
            raise Terminated if stop == "Terminated" else KeyboardInterrupt
        except BaseException as exc:
            raise RuntimeError("Error calling __set_name__ on 'Field' instance") from exc

    monkeypatch.setattr(cli_module, "_cmd_hardware", wrapped)
    assert main(["hardware"]) == code
    err = capsys.readouterr().err
    assert err.startswith(line) and one_line(err), err

