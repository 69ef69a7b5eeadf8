"""The tree reads as the data flow: each stage imports only the stages before it, no module is a
hodgepodge (≤ 450 lines), and only the method registry compares method-name strings."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Stages in data-flow order; a module may import its own stage and earlier ones only.
STAGES = (
    ("energy_models",),
    ("analysis.registry", "analysis.run_folder"),
    ("analysis.data",),
    ("analysis.snn", "analysis.neurons", "analysis.convert"),
    ("analysis.models",),
    ("analysis.methods",),
    ("analysis.counting",),
    ("analysis.study",),
    ("analysis.report",),
    ("analysis.cli",),
)


def stage_of(module: str) -> int | None:
    if module == "analysis":  # the package's own __init__ (empty)
        return 0
    for index, prefixes in enumerate(STAGES):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


def modules() -> list[tuple[str, Path]]:
    found = []
    for package in ("analysis", "energy_models"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found.append((name, path))
    return found


def imports(path: Path, name: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                out.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                out.add(node.module)
                out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


@pytest.mark.parametrize(("name", "path"), modules(), ids=[n for n, _ in modules()])
def test_imports_point_one_way(name, path):
    own = stage_of(name)
    assert own is not None, f"{name} belongs to no stage of the data flow"
    later = sorted(i for i in imports(path, name) if (stage_of(i) or -1) > own)
    assert not later, f"{name} (stage {own}) imports later stages: {later}"


def test_energy_models_know_nothing_of_torch_or_analysis():
    for name, path in modules():
        if name.startswith("energy_models"):
            bad = [i for i in imports(path, name) if i.split(".")[0] in ("torch", "analysis")]
            assert not bad, f"{name} imports {bad}"


def test_no_module_over_450_lines():
    long = {name: n for name, path in modules() if (n := len(path.read_text().splitlines())) > 450}
    assert not long, f"split these by responsibility: {long}"


NAMES = "ann|qcfs|cq|if|onespike|bnn"
METHOD_COMPARISON = re.compile(rf"""(==|!=)\s*["']({NAMES})["']|["']({NAMES})["']\s*(==|!=)""")


def test_only_the_method_registry_compares_method_names():
    offenders = []
    for name, path in modules():
        # analysis.snn defines what an "if" and a "onespike" network are (the registry is built on it);
        # energy_models keys on ledger facts and is tested for that in its own tests
        if name == "analysis.methods" or name.startswith(("energy_models", "analysis.snn")):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if METHOD_COMPARISON.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "ask analysis.methods instead:\n" + "\n".join(offenders)
