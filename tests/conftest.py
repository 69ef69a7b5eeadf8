"""Shared fixtures: small seeded tensors; one torch thread per test process.

The suite's tensors are small (8x8 digits, a few samples), too small for torch's intra-op threads to
pay for their synchronisation; `make test` runs one test process per core instead (pytest-xdist).

`make test` hands out tests one at a time (``--dist loadgroup``), so that no long file keeps one
worker busy while the other idles at the end; a file whose tests share a fixture wider than one test
(module, class or session scope: a trained network, a study run, a written report) stays in one
process, so that fixture is built once: :func:`pytest_collection_modifyitems` puts such a file in an
``xdist_group`` of its own unless it names one itself (files sharing a session fixture name the same).
"""

import json
import os
import subprocess
import sys

import pytest
import torch

torch.set_num_threads(1)

#: Fixture scopes that outlive one test: a file using one of its own (or its conftest's) runs in one process.
SHARED_SCOPES = frozenset({"class", "module", "package", "session"})


def _shares_a_fixture(item: pytest.Item) -> bool:
    """Whether ``item`` uses a project fixture (not one of pytest's own) wider than one test."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(d.scope in SHARED_SCOPES and d.baseid for defs in info.name2fixturedefs.values() for d in defs)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups into the test ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    grouped = {item.path for item in items if _shares_a_fixture(item)}
    for item in items:
        if item.path in grouped and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(str(item.path.relative_to(config.rootpath))))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def tiny_study_run(tmp_path_factory):
    """test_study's tiny study (every method, every primary hardware model) run by the CLI in a
    subprocess with one torch thread: test_study's run, which test_notebooks copies and re-prices
    (the two files are one ``xdist_group``, so the study runs once)."""
    from tests.study.test_study import tiny_config  # a test module's config: imported when first asked for

    config = tmp_path_factory.mktemp("tiny_config") / "tiny.json"
    config.write_text(json.dumps(tiny_config().to_dict()))
    out = tmp_path_factory.mktemp("tiny") / "run"
    done = subprocess.run([sys.executable, "-m", "analysis.cli", "study", "--config", str(config), "--out", str(out),
                           "--no-progress", "--no-report"], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return out
