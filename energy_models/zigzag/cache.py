"""One ZigZag mapping per distinct (layer shape, precisions, template, search bounds), kept in memory
for the process and, when a folder is given (a study's run cache), on disk as one small JSON file
per mapping, so a re-priced or resumed run maps nothing twice.

The key hashes the template's hardware and mapping files' *contents* (an edited YAML is a new
template), the loop nest, the operand widths, the search bounds and ZigZag's version. Nothing here
imports ZigZag: an entry is the plain dict of a :class:`~energy_models.zigzag.mapping.Mapped`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

#: Entries of this process, by key (shared by every model instance, so the study's repeated builds of
#: one model map each layer once).
MEMORY: dict[str, dict[str, Any]] = {}
#: The run-cache subfolder mappings are written to.
SUBFOLDER = "zigzag"


def file_digest(path: str) -> str:
    """SHA-256 of a file's bytes (a template is its content, not its name)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def template_key(hardware_yaml: str, mapping_yaml: str) -> str:
    """What identifies a template for the cache: its two files' contents and ZigZag's version (computed
    once per model, not per layer)."""
    try:
        version = metadata.version("zigzag-dse")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"{file_digest(hardware_yaml)}:{file_digest(mapping_yaml)}:{version}"


def mapping_key(template: str, shape: Any, precisions: Any, bounds: dict[str, int]) -> str:
    """The cache key of one mapping: :func:`template_key`, the loop nest and widths (the pipeline's
    ``LayerShape``/``Precisions``) and the search bounds."""
    payload = {"template": template, "shape": vars(shape), "precisions": vars(precisions), "bounds": bounds}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


class MappingCache:
    """Mappings by key: the process's memory first, then ``folder/zigzag/<key>.json`` (when ``folder``
    is given), else computed and stored in both. ``hits``/``misses`` count this instance's lookups."""

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.folder = Path(folder) / SUBFOLDER if folder is not None else None
        self.hits = 0
        self.misses = 0
        #: keys known to be in ``folder`` (read from or written to it by this instance)
        self.kept: set[str] = set()

    def get(self, key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        path = self.folder / f"{key}.json" if self.folder is not None else None
        if key in MEMORY:
            self.hits += 1
            self.keep(key, path)  # mapped by a model without this folder (the study's break-even): keep it here too
            return MEMORY[key]
        if path is not None and path.is_file():
            try:
                MEMORY[key] = json.loads(path.read_text(encoding="utf-8"))
                self.hits += 1
                self.kept.add(key)
                return MEMORY[key]
            except (OSError, ValueError):
                path.unlink(missing_ok=True)  # a torn or foreign file: map again
        self.misses += 1
        MEMORY[key] = compute()
        self.keep(key, path)
        return MEMORY[key]

    def keep(self, key: str, path: Path | None) -> None:
        """Write entry ``key`` to ``path`` (atomically) unless it is there already."""
        if path is None or key in self.kept:
            return
        self.kept.add(key)
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(MEMORY[key], stream)
        os.replace(temporary, path)


def clear_memory() -> None:
    """Forget this process's mappings (the on-disk files stay): for measuring the cache."""
    MEMORY.clear()
