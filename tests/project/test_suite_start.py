"""The suite's own start-up (tests/conftest.py): what the second test process imports ahead of torch is what
collecting the tests imports anyway, so it only moves work, never adds any."""

import ast
from pathlib import Path

from tests.conftest import COLLECTED_BESIDES_TORCH

TESTS = Path(__file__).resolve().parents[1]


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
