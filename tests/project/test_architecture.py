"""The tree reads as the data flow: each stage imports only the stages before it, no module is a
hodgepodge (≤ 450 lines), and no module compares a method's name or a step axis's spelling (the
words are read from the method registry and the spiking vocabulary; nothing is exempt)."""

import ast
import re
from pathlib import Path

import pytest

from analysis.methods import Method, method_names
from analysis.snn.vocabulary import StepAxis, Word

ROOT = Path(__file__).resolve().parents[2]

#: Stages in data-flow order; a module may import its own stage and earlier ones only.
STAGES = (
    ("energy_models",),
    ("analysis.registry", "analysis.run_folder", "analysis.validate", "analysis.palette"),
    ("analysis.data",),
    ("analysis.models",),  # the zoo is plain PyTorch, below the converter (it imports no spiking module)
    ("analysis.snn", "analysis.neurons", "analysis.convert"),
    ("analysis.methods",),
    ("analysis.counting",),
    ("analysis.study",),
    ("analysis.report",),
    ("analysis.cli", "analysis.stop"),
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


# -- one spelling per closed set: words are asked of their vocabulary, never compared -----------------
#: The words, read from their registries: every registered method's name, every spelling of a step axis.
METHOD_NAMES = frozenset(method_names())
AXIS_WORDS = frozenset(spelling for axis in StepAxis for spelling in (axis.value, axis.alias))
#: The long spellings of an axis (``"time"``, ``"group"``): never a column name, unlike ``"T"``.
AXIS_ALIASES = frozenset(axis.alias for axis in StepAxis)
#: What an expression holding a step axis is called (``spec.steps``, ``stepwise.axis``, ``axis``).
AXIS_HOLDERS = frozenset({"axis", "steps", "step_axis"})


def _vocabulary_classes() -> frozenset[tuple[str, str]]:
    """(module, class) of every class whose body defines words: the method constants and each
    :class:`~analysis.snn.vocabulary.Word` (a definition of a word is not a use of it)."""
    found, stack = {(Method.__module__, Method.__qualname__)}, [Word]
    while stack:
        cls = stack.pop()
        found.add((cls.__module__, cls.__qualname__))
        stack += cls.__subclasses__()
    return frozenset(found)


VOCABULARY_CLASSES = _vocabulary_classes()


def _word(node: ast.expr) -> str | None:
    """The word ``node`` spells: a string constant, or a method constant (``Method.IF`` is ``"if"``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == Method.__name__:
        return getattr(Method, node.attr, None)
    return None


def _words(node: ast.expr) -> list[str]:
    """The words an operand of a comparison is: itself, or the elements of a literal tuple, list or set."""
    items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    return [w for w in map(_word, items) if w is not None]


def _holds_axis(node: ast.expr) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name in AXIS_HOLDERS


def vocabulary_comparisons(source: str, names: frozenset[str] = METHOD_NAMES,
                           axis_words: frozenset[str] = AXIS_WORDS) -> list[tuple[int, str]]:
    """(line, code) of every comparison that tests a word of a closed vocabulary by its spelling or its
    constant: ``ctx.method == "if"``, ``method not in ("if", "onespike")``, ``Method.IF in methods``,
    ``rows["method"].isin([Method.IF])``, ``spec.steps != "G"``, ``axis not in ("time", "group")``. A
    method is asked of the method registry (its properties, its role), an axis of :class:`StepAxis`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "isin"
                and any(w in names for arg in node.args for w in _words(arg))):
            found.append((node.lineno, ast.unparse(node)))
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        words = [w for operand in operands for w in _words(operand)]
        on_axis = any(w in AXIS_ALIASES for w in words) or (
            any(w in axis_words for w in words) and any(_holds_axis(o) for o in operands))
        if any(w in names for w in words) or on_axis:
            found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def method_name_literals(source: str, module: str, names: frozenset[str] = METHOD_NAMES) -> list[tuple[int, str]]:
    """(line, word) of every method name written as a string (compared, a dict key, a default, a
    list) except where a vocabulary class of ``module`` defines it (``Method.IF``, ``SpikingForm.IF``)."""
    tree = ast.parse(source)
    defined = set()
    for cls in ast.walk(tree):
        if isinstance(cls, ast.ClassDef) and (module, cls.name) in VOCABULARY_CLASSES:
            for statement in cls.body:
                value = statement.value if isinstance(statement, ast.Assign | ast.AnnAssign) else None
                if isinstance(value, ast.Constant):
                    defined.add(id(value))
    words = [node for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
             and node.value in names and id(node) not in defined]
    return [(node.lineno, node.value) for node in sorted(words, key=lambda n: (n.lineno, n.col_offset))]


def test_no_module_compares_a_vocabulary_word():
    """No module, the method registry and the spiking vocabulary included, compares a method's name or
    a step axis's spelling: it asks the registry (``spec.steps``, ``spec.spiking``, a role) or the enum."""
    offenders = [f"{path.relative_to(ROOT)}:{line}: {code}" for _, path in modules()
                 for line, code in vocabulary_comparisons(path.read_text())]
    assert not offenders, "ask analysis.methods / analysis.snn.vocabulary instead:\n" + "\n".join(offenders)


def test_no_method_name_literal_outside_its_definition():
    """A method's name is written once, where its vocabulary class defines it; every other module of
    ``analysis`` (``analysis.snn`` and ``analysis.methods`` included) uses the constant or asks the
    registry. ``energy_models`` is below the registry and names no method (its words, e.g. the
    precision ``"int8"``, are its own; it never compares one: the test above, and
    tests/energy_models/test_fair_by_construction.py, which prices any method name alike)."""
    offenders = [f"{path.relative_to(ROOT)}:{line}: {word!r}" for name, path in modules() if name.startswith("analysis")
                 for line, word in method_name_literals(path.read_text(), name)]
    assert not offenders, "use the Method constant or ask analysis.methods instead:\n" + "\n".join(offenders)


def test_the_checkers_catch_a_planted_comparison_and_literal():
    planted = (
        "def bad(ctx, spec, rows, axis, k):\n"
        "    a = ctx.method == 'if'\n"
        "    b = spec.name in ('qcfs', 'cq')\n"
        "    c = spec.steps != 'G'\n"
        "    d = axis not in ('time', 'group')\n"
        "    e = rows['T'] == 4 and k in ('T', 'levels') and 'T' in rows.columns\n"
        "    return 'direct_if' if a else None\n"
        "def also_bad(methods, rows):\n"
        "    return Method.IF in methods or {Method.IF, Method.QCFS} <= set(methods) or rows.isin([Method.BNN])\n"
    )
    assert [line for line, _ in vocabulary_comparisons(planted)] == [2, 3, 4, 5, 9, 9, 9]
    assert [(line, word) for line, word in method_name_literals(planted, "m")] == [
        (2, "if"), (3, "qcfs"), (3, "cq"), (7, "direct_if")]
    # a registered method's name is a word the moment it is registered (the names come from the registry)
    assert vocabulary_comparisons("x = m == 'lif_user'", METHOD_NAMES | {"lif_user"})
    # the definition of a word is not a use; the same word elsewhere in that module is
    defining = "class Method:\n    IF = 'if'\n\nDEFAULT = 'if'\n"
    assert method_name_literals(defining, Method.__module__) == [(4, "if")]


# -- one way inside packages too -------------------------------------------------------------------
FIRST_PARTY = ("analysis", "energy_models")
MODULES = dict(modules())


def _is_first_party(name: str) -> bool:
    return name.split(".")[0] in FIRST_PARTY


def _resolve(target: str) -> str | None:
    """The first-party module an imported name lives in: the longest module prefix of ``target``."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def _module_level_imports(path: Path, name: str) -> set[str]:
    """First-party modules ``name`` imports when it is imported (module level, ``TYPE_CHECKING``
    blocks included: an import hidden there still ties the two modules into one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()

    def visit(body):
        for node in body:
            if isinstance(node, ast.Import):
                out.update(filter(None, (_resolve(a.name) for a in node.names)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    root = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{root}.{base}" if base else root
                for alias in node.names:
                    found = _resolve(f"{base}.{alias.name}") or _resolve(base)
                    if found:
                        out.add(found)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
    visit(tree.body)
    out.discard(name)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def test_no_import_circle_anywhere():
    """No two modules import each other, directly or through others (inside a package too)."""
    graph = {name: _module_level_imports(path, name) for name, path in MODULES.items()}
    circles = _cycles(graph)
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


#: Lazy imports that dodge no circle: the command line loads torch and the study only for the
#: command that needs them, so `onespike --help` answers at once.
LAZY_IMPORTERS = ("analysis.cli",)


def test_no_first_party_import_inside_a_function():
    offenders = []
    for name, path in MODULES.items():
        if name in LAZY_IMPORTERS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                targets = []
                if isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    targets = ["analysis" if node.level else (node.module or "")]
                if any(_is_first_party(t) for t in targets):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, "import at the top of the module instead:\n" + "\n".join(sorted(set(offenders)))


def test_no_private_name_used_across_modules():
    offenders = []
    for path in MODULES.values():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules_bound: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and _is_first_party(node.module):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.module}.{alias.name}")
                    elif _resolve(f"{node.module}.{alias.name}") == f"{node.module}.{alias.name}":
                        modules_bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if _is_first_party(alias.name):
                        modules_bound[alias.asname or alias.name.split(".")[0]] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in modules_bound and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {modules_bound[node.value.id]}.{node.attr}")
    assert not offenders, "make it public (or move it) instead:\n" + "\n".join(offenders)


#: What builds, lists or prices a hardware model: the report reads all of that from the run folder.
MODEL_BUILDERS = frozenset({"get_model", "available_models", "conventions_table", "conventions_rows", "conventions_row",
                            "model_spec", "model_names", "load_table", "model_from_table", "primary_models",
                            "convention_alternatives", "family_members", "model_family", "register_model"})


def test_the_report_reads_the_run_folder_only():
    """`analysis.report` never imports what builds or lists hardware models (#18: the run folder is
    the only contract between study and report)."""
    offenders = []
    for name, path in MODULES.items():
        if not name.startswith("analysis.report"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("energy_models"):
                offenders += [f"{path.relative_to(ROOT)}:{node.lineno}: {node.module}.{a.name}" for a in node.names
                              if a.name in MODEL_BUILDERS | {"registry", "applied"}
                              or node.module in ("energy_models.registry", "energy_models.applied")]
            elif isinstance(node, ast.Import) and any(a.name.startswith("energy_models") for a in node.names):
                # a plain import would reach every builder as an attribute: name what is used instead
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: import energy_models (use `from`)")
    assert not offenders, "read hardware.csv / results.csv / sensitivity.csv instead:\n" + "\n".join(offenders)


#: Test folders that are not a package of the tree: whole-project checks (the CLI, the README, the
#: notebooks, run-folder safety, this file).
PROJECT_TESTS = "project"


def test_tests_mirror_the_packages():
    """A test lives in the folder of the package it tests (tests/counting/ for analysis.counting, ...),
    never at the top of tests/, and is named after its subject, never after a review round."""
    packages = {p.name for p in (ROOT / "analysis").iterdir() if (p / "__init__.py").exists()} | {"energy_models"}
    tests = ROOT / "tests"
    loose = sorted(p.name for p in tests.glob("test_*.py"))
    assert not loose, f"move these into the folder of the package they test: {loose}"
    folders = {p.name for p in tests.iterdir() if p.is_dir() and any(p.glob("test_*.py"))}
    strays = sorted(folders - packages - {PROJECT_TESTS})
    assert not strays, f"test folders named after no package: {strays}"
    rounds = sorted(str(p.relative_to(tests)) for p in tests.rglob("test_*.py")
                    if re.search(r"round\d|issue\d", p.name))
    assert not rounds, f"name these after what they test: {rounds}"
