"""Shared fixtures: small seeded tensors; one torch thread per test process.

The suite's tensors are small (8x8 digits, a few samples), too small for torch's intra-op threads to
pay for their synchronisation; `make test` runs one test process per core instead (pytest-xdist).

`make test` hands out tests one at a time (``--dist loadgroup``), so that no long file keeps one
worker busy while the other idles at the end; a file whose tests share a fixture wider than one test
(module, class or session scope: a trained network, a study run, a written report) stays in one
process, so that fixture is built once: :func:`pytest_collection_modifyitems` puts such a file in an
``xdist_group`` of its own unless it names one itself (files sharing a session fixture name the same).
pytest-xdist 3.8 reads those groups from test ids that pytest 9 no longer lets it rewrite, so the
workers write each test's group to a file and :class:`FixtureGroupScheduling` hands out the groups,
the longest first by the seconds each test took when ``make test-durations`` last ran (tests/durations.json),
so that no long test is handed out last while the other worker idles.
"""

import importlib
import json
import shutil
import tempfile
from collections import Counter, OrderedDict
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

#: Heavy packages the test modules import as they are collected, besides torch, those collecting reaches last
#: first: what the second worker imports before torch (:func:`pytest_configure`; tests/project/test_suite_start.py).
COLLECTED_BESIDES_TORCH = ("sklearn.model_selection", "sklearn.datasets", "scipy.stats", "nbclient",
                           "matplotlib.pyplot", "pandas", "hypothesis")


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread in each process that runs tests. `make test`'s controller (pytest-xdist's, which
    runs none) never imports torch: it started the workers 1-2 s later for it.

    In a fresh venv the first import of a module compiles it, 12 of a worker's 17 CPU s of collecting, and two
    workers starting together compiled the same modules side by side; the second worker imports the other heavy
    packages first while the first compiles torch, so each compiles about half (two cold collections at once:
    17.4 -> 11.4 s wall, 34 -> 22 CPU s)."""
    worker = getattr(config, "workerinput", None)
    if worker is None and config.getoption("store_durations"):
        config.pluginmanager.register(DurationRecorder(), "onespike_durations")
    if worker is None and getattr(config.option, "tx", None):
        return  # the controller of a distributed run
    if worker is not None and worker["workerid"] == "gw1":
        for name in COLLECTED_BESIDES_TORCH:
            importlib.import_module(name)
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


#: workerinput key: the file a worker writes ``{test id: group}`` into (its id appended), for the scheduler.
GROUPS_FILE = "onespike_groups_file"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    grouped = {item.path for item in items if _shares_a_fixture(item)}
    groups = {}
    for item in items:
        if item.path in grouped and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(str(item.path.relative_to(config.rootpath))))
        mark = item.get_closest_marker("xdist_group")
        if mark is not None:
            groups[item.nodeid] = str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
    worker = getattr(config, "workerinput", None)
    if worker and GROUPS_FILE in worker:
        path = Path(f"{worker[GROUPS_FILE]}.{worker['workerid']}")
        path.with_suffix(".tmp").write_text(json.dumps(groups))
        path.with_suffix(".tmp").replace(path)  # whole before the controller schedules


def groups_file(config: pytest.Config) -> Path:
    """Where the workers write their groups (``.<worker id>`` appended): one temporary folder per run."""
    if GROUPS_DIR not in config.stash:
        config.stash[GROUPS_DIR] = Path(tempfile.mkdtemp(prefix="onespike-groups-"))
    return config.stash[GROUPS_DIR] / "groups"


GROUPS_DIR = pytest.StashKey[Path]()


#: Each test's seconds (setup, call and teardown; those of 0.1 s or more), written by ``make test-durations``.
DURATIONS = Path(__file__).with_name("durations.json")
#: Tests shorter than this are left out of tests/durations.json (~240 tests of 0.1 s or more: 94% of the time).
RECORDED_MIN_S = 0.1


def longest_first(workqueue: OrderedDict, seconds: dict[str, float]) -> OrderedDict:
    """``workqueue`` (unit -> {test id: done}) with the units in descending order of their tests' ``seconds``
    (a test not in it: 0); units of equal seconds keep their order."""
    total = {unit: sum(seconds.get(test, 0.0) for test in tests) for unit, tests in workqueue.items()}
    return OrderedDict((unit, workqueue[unit]) for unit in sorted(workqueue, key=lambda unit: -total[unit]))


class FixtureGroupScheduling(LoadScopeScheduling):
    """``--dist loadgroup`` by the groups the workers wrote: a group's tests go to one worker, every
    other test is a unit of its own; units are handed out longest first (tests/durations.json), those of
    no recorded seconds largest first (pytest-xdist's reorder)."""

    def __init__(self, config: pytest.Config, log=None) -> None:
        super().__init__(config, log)
        self.groups_file = groups_file(config)
        self.groups: dict[str, str] | None = None
        self.ordered = False

    def _assign_work_unit(self, node) -> None:
        if not self.ordered:  # the first hand-out: the queue is complete
            self.ordered = True
            seconds = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
            self.workqueue = longest_first(self.workqueue, seconds)
        super()._assign_work_unit(node)

    def _split_scope(self, nodeid: str) -> str:
        if self.groups is None:  # the workers have all collected (and written) before scheduling starts
            self.groups = {}
            for path in self.groups_file.parent.glob(f"{self.groups_file.name}.*"):
                self.groups.update(json.loads(path.read_text()))
        return self.groups.get(nodeid, nodeid)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    return FixtureGroupScheduling(config, log) if config.getvalue("dist") == "loadgroup" else None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    node.workerinput[GROUPS_FILE] = str(groups_file(node.config))


def pytest_unconfigure(config: pytest.Config) -> None:
    if GROUPS_DIR in config.stash:
        shutil.rmtree(config.stash[GROUPS_DIR], ignore_errors=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--store-durations", action="store_true",
                     help="write each test's seconds to tests/durations.json (make test-durations)")


class DurationRecorder:
    """Each test's seconds as reported to the process that reports them (xdist's controller, or the
    only process), written to tests/durations.json when every test has passed."""

    def __init__(self, path: Path = DURATIONS) -> None:
        self.path = path
        self.seconds: Counter = Counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid] += report.duration

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if exitstatus == 0:
            kept = {test: round(s, 1) for test, s in sorted(self.seconds.items()) if s >= RECORDED_MIN_S}
            self.path.write_text(json.dumps(kept, indent=0) + "\n")


@pytest.fixture(autouse=True)
def _seed():
    import torch  # loaded by pytest_configure in a test process

    # the CPU generator, which every test draws from: torch.manual_seed also queues the seed for each accelerator
    # module not yet started (CUDA, XPU, MTIA), each formatting the caller's stack (0.47 ms a test under pytest)
    torch.default_generator.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def tiny_study_run(tmp_path_factory):
    """test_study's tiny study (every method, every primary hardware model) run by the CLI's main()
    in this process, on one torch thread (above): test_study's run, which test_notebooks copies and
    re-prices (the two files are one ``xdist_group``, so the study runs once). A new interpreter for
    it imported torch and the toolkit again (3 CPU s); test_study's killed study still runs in one."""
    import torch

    from analysis.cli import main
    from tests.study.test_study import tiny_config  # a test module's config: imported when first asked for

    config = tmp_path_factory.mktemp("tiny_config") / "tiny.json"
    config.write_text(json.dumps(tiny_config().to_dict()))
    out = tmp_path_factory.mktemp("tiny") / "run"
    assert torch.get_num_threads() == 1
    assert main(["study", "--config", str(config), "--out", str(out), "--no-progress", "--no-report"]) == 0
    return out
