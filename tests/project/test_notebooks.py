"""The notebooks run clean (nbclient), on a tiny study run folder so the suite stays fast."""

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from analysis.study import load_tables, run_study

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: Notebooks that train a full-size network (04: a torchvision-style ResNet-18, 11M parameters, three
#: epochs): the suite's longest single check, so it runs in `make test-slow`.
SLOW_NOTEBOOKS = ("04_your_own_model.ipynb",)


#: test_study's tiny study (tests/conftest.py's tiny_study_run) is copied here: one process runs both files
pytestmark = pytest.mark.xdist_group("tiny_study")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_study_run):
    from tests.study.test_study import tiny_config

    out = tmp_path_factory.mktemp("nbrun") / "run"
    shutil.copytree(tiny_study_run, out)
    # four hardware models keep the figures small (every model is covered by test_study): a pricing-only
    # change, so the copy is re-priced from its cached units, nothing is trained again
    run_study(tiny_config(hardware=["flops45nm", "sata", "spikesim", "yan2024"]), out, progress=False)
    assert set(load_tables(out)["results"]["hardware"]) == {"flops45nm", "sata", "spikesim", "yan2024"}
    return out


def test_the_five_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == ["01_quickstart.ipynb", "02_reviewer_questions.ipynb",
                                           "03_custom_hardware.ipynb", "04_your_own_model.ipynb",
                                           "05_your_own_snn.ipynb"]


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW_NOTEBOOKS else p
                                  for p in NOTEBOOKS], ids=lambda p: p.stem)
def test_notebook_runs_clean(path, tiny_run, monkeypatch):
    monkeypatch.setenv("ONESPIKE_RUN", str(tiny_run))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    notebook = nbformat.read(path, as_version=4)
    # notebooks only call the library: no function or class of their own, except the user's own model
    # that 04 writes in plain torch and 05 in snnTorch (it must import nothing of the project)
    own = [c for c in notebook.cells if c.cell_type == "code" and ("def " in c.source or "class " in c.source)]
    if path.name in ("04_your_own_model.ipynb", "05_your_own_snn.ipynb"):
        assert len(own) == 1 and "analysis" not in own[0].source and "energy_models" not in own[0].source
    else:
        assert not own
    # every cell has run and its outputs are read below; the kernel is then killed, not asked to exit (a polite
    # shutdown waited 0.9 s per notebook for the kernel's own exit, which checks nothing)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}},
                   shutdown_kernel="immediate").execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
