"""The run folder: the only contract between the study (which writes it) and the report (which
reads it). Paths, atomic writes, the manifest that proves a run is complete, and the readers of
every table and of ``config.json`` live here and nowhere else.

Layout of ``<run>/``::

    config.json      the study config, its digest, and facts about the data and models
    manifest.json    written last: every table's row count and SHA-256 (a run without it, or whose
                     tables do not match it, is incomplete and is not reported)
    <table>.csv      results, layers, equivalence, fidelity, worked_example, breakeven, sweep, ...
    cache/           resumable units (JSON) and checkpoints (.pt)
    figures/         PNG + SVG, one per question
    report.md
    .lock            held while a study runs (the pid of the process holding it)

Files are written through a temporary file and a rename (complete or absent, never half), with the
permissions the user's umask gives a new file (not ``mkstemp``'s 0600), so a shared results folder
stays readable to colleagues.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "REQUIRED_TABLES",
    "IncompleteRunError",
    "RunFolder",
    "RunFolderError",
    "atomic_write_bytes",
    "atomic_write_text",
]

#: Tables every complete run has.
REQUIRED_TABLES: tuple[str, ...] = ("results", "layers")
#: The files and folders a study writes; ``--force`` removes these and nothing else.
RUN_FILES: tuple[str, ...] = ("config.json", "manifest.json", "report.md")
RUN_DIRS: tuple[str, ...] = ("cache", "figures")


class RunFolderError(ValueError):
    """A run folder cannot be used as asked (another study's config, not a run folder, ...)."""


class IncompleteRunError(RunFolderError, FileNotFoundError):
    """A run folder's tables are missing, empty, truncated or do not match its manifest."""


def _new_file_mode() -> int:
    """The mode a new file gets under the current umask (0o666 & ~umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, _new_file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class RunFolder:
    """A study's run folder at ``root``."""

    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", Path(root))

    # -- paths ---------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "config.json"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def figures_dir(self) -> Path:
        return self.root / "figures"

    @property
    def report_path(self) -> Path:
        return self.root / "report.md"

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    def table_path(self, name: str) -> Path:
        return self.root / f"{name}.csv"

    # -- writing -------------------------------------------------------------------------------
    def write_text(self, path: str | os.PathLike, text: str) -> Path:
        """Atomically write ``text`` to ``path``: a path under the run folder (``self.report_path``) or
        one relative to it (``"notes.md"``)."""
        path = Path(path)
        if not path.is_absolute() and not path.is_relative_to(self.root):
            path = self.root / path
        return atomic_write_text(path, text)

    def write_config(self, payload: dict[str, Any]) -> Path:
        return atomic_write_text(self.config_path, json.dumps(payload, indent=2, sort_keys=True))

    def write_tables(self, tables: dict[str, pd.DataFrame]) -> None:
        """Write every table, then the manifest that names them with their row counts and hashes
        (the manifest last: a run stopped in between has no manifest and reads as incomplete)."""
        if self.manifest_path.exists():
            self.manifest_path.unlink()
        manifest: dict[str, dict[str, Any]] = {}
        for name, frame in tables.items():
            data = frame.to_csv(index=False).encode("utf-8")
            atomic_write_bytes(self.table_path(name), data)
            manifest[name] = {"rows": len(frame), "sha256": _digest(data)}
        atomic_write_text(self.manifest_path, json.dumps({"tables": manifest}, indent=2, sort_keys=True))

    # -- reading -------------------------------------------------------------------------------
    def read_config(self) -> dict[str, Any]:
        """The parsed ``config.json`` (``{"digest", "config", ...}``)."""
        if not self.config_path.is_file():
            raise IncompleteRunError(f"{str(self.root)!r} holds no config.json: it is not a study run folder")
        try:
            payload = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IncompleteRunError(f"{self.config_path}: not valid JSON ({exc}); rerun the study") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("config"), dict):
            raise IncompleteRunError(f"{self.config_path}: expected an object with a 'config' object; rerun the study")
        return payload

    def read_tables(self) -> dict[str, pd.DataFrame]:
        """Every table named in the manifest, checked against it. A missing folder, manifest or
        table, a table whose bytes differ from the manifest (truncated, edited) or a required table
        with no rows is an :class:`IncompleteRunError` that says how to finish the run."""
        rerun = f"run `onespike study --out {self.root}` (it resumes) to complete it"
        if not self.root.is_dir():
            raise IncompleteRunError(f"run folder {str(self.root)!r} does not exist: {rerun}")
        if not self.manifest_path.is_file():
            raise IncompleteRunError(f"{str(self.root)!r} has no manifest.json, so its tables are incomplete: {rerun}")
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))["tables"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            raise IncompleteRunError(f"{self.manifest_path} is damaged: {rerun}") from None
        tables: dict[str, pd.DataFrame] = {}
        for name, entry in manifest.items():
            path = self.table_path(name)
            if not path.is_file():
                raise IncompleteRunError(f"{path} is missing: {rerun}")
            data = path.read_bytes()
            if _digest(data) != entry.get("sha256"):
                raise IncompleteRunError(f"{path} does not match manifest.json (truncated or edited): {rerun}")
            frame = pd.read_csv(io.BytesIO(data)) if data.strip() else pd.DataFrame()
            if len(frame) != entry.get("rows"):
                raise IncompleteRunError(
                    f"{path} has {len(frame)} rows, manifest.json says {entry.get('rows')}: {rerun}"
                )
            tables[name] = frame
        for name in REQUIRED_TABLES:
            if tables.get(name) is None or tables[name].empty:
                raise IncompleteRunError(f"{self.table_path(name)} is missing or empty: {rerun}")
        return tables
