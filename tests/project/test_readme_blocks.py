"""The README runs (#34): every Python block is executed, with what its ``<!-- readme-test: NAME -->``
marker names (a small network and its weights, SNNs of two frameworks, a run folder at reports/quick);
every shell line is a Makefile target, the venv's activation or an ``onespike`` command its parser
accepts. A block or a command the README gains without a way to run it fails here."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from analysis.cli import HARDWARE_LINE, build_parser, main
from energy_models import available_models, model_names, primary_models
from tests.report_run import make_run

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"(?:<!-- readme-test: (\w+)[^\n]*-->\n)?```(\w+)\n(.*?)```", re.S)
BLOCKS = [(m.group(1) or "", m.group(2), m.group(3)) for m in FENCE.finditer(README)]
PYTHON = [(needs, code) for needs, lang, code in BLOCKS if lang == "python"]
SHELL = [code for _, lang, code in BLOCKS if lang in ("bash", "sh", "shell")]


class MyResNet18(nn.Module):
    """A small stand-in for the README's own network: its own forward, functional ReLUs and a residual
    ``out += identity``."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = F.relu(self.stem(x))
        identity = x
        out = self.conv2(F.relu(self.conv1(x)))
        out += identity
        return self.fc(F.adaptive_avg_pool2d(F.relu(out), 1).flatten(1))


def _own_model(tmp_path: Path) -> dict:
    torch.manual_seed(0)
    torch.save(MyResNet18().state_dict(), tmp_path / "weights.pt")
    return {"MyResNet18": MyResNet18, "x": torch.rand(2, 3, 8, 8)}


def _snn(tmp_path: Path) -> dict:
    from tests.snn.test_frameworks import SnnTorchLoop, sj_net

    torch.manual_seed(0)
    return {"sj_net": sj_net("s"), "tutorial_net": SnnTorchLoop(), "x": torch.rand(3, 1, 8, 8) * 3,
            "y": torch.tensor([0, 1, 2])}


def _run(tmp_path: Path) -> dict:
    make_run(tmp_path / "reports" / "quick")
    return {}


FIXTURES = {"": lambda tmp_path: {}, "own_model": _own_model, "snn": _snn, "run": _run}


def test_the_readme_has_its_blocks_and_each_marker_is_known():
    assert len(PYTHON) >= 4 and len(SHELL) >= 3
    assert {needs for needs, _ in PYTHON} <= set(FIXTURES), "a marker the test does not know"
    assert {"run", "own_model", "snn", ""} <= {needs for needs, _ in PYTHON}


@pytest.mark.parametrize(("needs", "code"), PYTHON, ids=[f"python-{i}-{n or 'plain'}" for i, (n, _) in
                                                         enumerate(PYTHON)])
def test_every_python_block_of_the_readme_runs(needs, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "readme", **FIXTURES[needs](tmp_path)}
    exec(compile(code, f"README.md ({needs or 'plain'} block)", "exec"), namespace)
    if needs == "run":  # the files the block says it writes
        assert (tmp_path / "q8_ranking.pdf").read_bytes()[:5] == b"%PDF-"
        assert {p.name for p in tmp_path.glob("summary.*")} == {"summary.png", "summary.svg"}
        assert (tmp_path / "breakdown_sata.pdf").is_file()
    plt.close("all")


def _commands(block: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", block)
    out = []
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


PHONY = set(re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).split())


@pytest.mark.parametrize("command", [c for block in SHELL for c in _commands(block)])
def test_every_shell_line_of_the_readme_is_a_target_or_a_command_the_cli_accepts(command):
    words = shlex.split(command)
    if words[0] == "make":
        assert set(words[1:]) <= PHONY, f"{command}: not a Makefile target ({sorted(PHONY)})"
    elif words[0] == ".":
        assert words[1:] == [".venv/bin/activate"], command
    else:
        assert words[0] == "onespike", f"{command}: the README runs only make and onespike"
        build_parser().parse_args(words[1:])  # SystemExit (a failure) on a flag or value it refuses


def test_onespike_hardware_prints_one_line_per_model_and_long_the_assumptions(capsys):
    assert main(["hardware"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = list(model_names())
    assert [line.split()[0] for line in lines[:len(names)]] == names
    assert all(len(line) <= HARDWARE_LINE for line in lines[:len(names)])
    primary = {line.split()[0] for line in lines[:len(names)] if line.split()[1] == "*"}
    assert primary == set(primary_models())
    assert "sata_gated" in lines[names.index("sata_gated")] and "sata, changed: zero-skipping" in "\n".join(lines)
    assert lines[len(names)].startswith(f"{len(names)} models") and "--long" in lines[len(names) + 1]
    assert all(len(line) <= HARDWARE_LINE for line in lines[len(names) + 2:])  # the ZigZag templates too
    assert main(["hardware", "--long"]) == 0
    long = capsys.readouterr().out
    assert long.count("    assumptions: ") == len(available_models())
