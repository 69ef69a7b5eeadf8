"""The suite's own machinery (tests/conftest.py): what the second test process imports ahead of torch is what
collecting the tests imports anyway, so it only moves work, never adds any; and the tests are handed out longest
first by tests/durations.json, which still describes the suite."""

import ast
import json
import re
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

from tests.conftest import COLLECTED_BESIDES_TORCH, DURATIONS, RECORDED_MIN_S, DurationRecorder, longest_first

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent


def collected_imports() -> set[str]:
    """Every module a test module imports at its top level (so collecting it imports them), with its packages."""
    names = set()
    for path in TESTS.rglob("test_*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found = [node.module]
            else:
                continue
            for name in found:
                parts = name.split(".")
                names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return names


def test_the_second_worker_imports_ahead_only_what_collecting_imports_and_not_torch():
    imported = collected_imports()
    assert "torch" in imported and "pandas" in imported  # the scan sees the test modules' imports
    assert not any(name == "torch" or name.startswith("torch.") for name in COLLECTED_BESIDES_TORCH)
    assert [name for name in COLLECTED_BESIDES_TORCH if name not in imported] == []


def test_units_are_handed_out_longest_first_and_unrecorded_ones_keep_their_order():
    queue = OrderedDict([("group_a", {"a1": False, "a2": False}), ("t.py::x", {"t.py::x": False}),
                         ("t.py::y", {"t.py::y": False}), ("group_b", {"b1": False}), ("t.py::z", {"t.py::z": False})])
    seconds = {"a1": 0.5, "a2": 0.5, "t.py::y": 3.0, "b1": 2.0, "gone.py::old": 9.0}
    ordered = longest_first(queue, seconds)
    assert list(ordered) == ["t.py::y", "group_b", "group_a", "t.py::x", "t.py::z"]  # a group: its tests' sum
    assert all(ordered[unit] is queue[unit] for unit in queue)


def test_the_recorder_sums_each_tests_phases_and_keeps_those_of_a_tenth_of_a_second(tmp_path):
    recorder = DurationRecorder(tmp_path / "durations.json")
    for nodeid, when, duration in [("a.py::slow", "setup", 2.06), ("a.py::slow", "call", 1.0),
                                   ("a.py::slow", "teardown", 0.01), ("a.py::quick", "call", RECORDED_MIN_S / 2)]:
        recorder.pytest_runtest_logreport(SimpleNamespace(nodeid=nodeid, when=when, duration=duration))
    recorder.pytest_sessionfinish(None, exitstatus=1)  # a failed run writes nothing
    assert not recorder.path.exists()
    recorder.pytest_sessionfinish(None, exitstatus=0)
    assert json.loads(recorder.path.read_text()) == {"a.py::slow": 3.1}


def test_the_recorded_durations_still_describe_the_suite():
    """A renamed or removed test's entry only goes unused (its unit counts as unrecorded); once such entries hold
    a tenth of the recorded seconds, the order no longer follows the suite and the file must be written again."""
    seconds = json.loads(DURATIONS.read_text())
    assert len(seconds) > 100 and all(isinstance(s, float) and s >= RECORDED_MIN_S for s in seconds.values())
    gone = {}
    for nodeid, recorded in seconds.items():
        path, *names = nodeid.split("::")
        name = re.sub(r"\[.*\]$", "", names[-1])
        source = (ROOT / path).read_text(encoding="utf-8") if (ROOT / path).is_file() else ""
        if not re.search(rf"^\s*def {re.escape(name)}\(", source, re.M):
            gone[nodeid] = recorded
    share = sum(gone.values()) / sum(seconds.values())
    assert share <= 0.1, f"tests/durations.json: {share:.0%} of its seconds are tests that are gone ({list(gone)[:3]}" \
                         "...): run make test-durations"
