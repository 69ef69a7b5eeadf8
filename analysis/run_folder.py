"""The run folder: the only contract between the study (which writes it) and the report (which
reads it). Paths, atomic writes, the manifest that proves a run is complete, and the readers of
every table and of ``config.json`` live here and nowhere else.

Layout of ``<run>/``::

    config.json      the study config, its digest, and facts about the data and models
    manifest.json    written last: every table's row count and SHA-256 (a run without it, or whose
                     tables do not match it, is incomplete and is not reported), config.json's
                     SHA-256 (``config_sha256``, checked alike), and ``files``: the
                     other files the study and its report wrote (report.md, figures), which
                     ``--force`` may replace
    <table>.csv      results, layers, equivalence, level_flips, predictions (one row per evaluated
                     network and test image), fidelity, worked_example, breakeven, sweep, ...
    cache/           resumable units (JSON) and checkpoints (.pt)
    figures/         PNG + SVG, one per question
    report.md
    .lock            held while a study runs (the pid of the process holding it)

A report drawn from older tables is never passed off as current: when the tables change,
``report.md`` first gets a banner saying so (``onespike report`` redraws it), so a study stopped
between its tables and its report leaves no silent mismatch.

A text cell a spreadsheet would run as a formula (``=...``, ``+...``, ``-...``, ``@...``: a user's
model or table name) is written with a leading apostrophe, and read back without it.

Files are written through a temporary file and a rename (complete or absent, never half), with the
permissions the user's umask gives a new file (not ``mkstemp``'s 0600), so a shared results folder
stays readable to colleagues.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pandas.api.types import is_object_dtype, is_string_dtype

__all__ = [
    "APPENDIX_NAME",
    "REQUIRED_TABLES",
    "STALE_REPORT_BANNER",
    "TABLE_NAMES",
    "IncompleteRunError",
    "RunFolder",
    "RunFolderError",
    "atomic_write_bytes",
    "atomic_write_text",
    "new_file_mode",
]

#: Tables every complete run has.
REQUIRED_TABLES: tuple[str, ...] = ("results", "layers")
#: The tables a study writes (``<name>.csv``). ``--force`` removes these when the manifest lists them;
#: another plain name only when its file still holds the bytes the manifest records (a table a newer
#: version wrote), never a name that is a path (``../x``, ``/abs/path``).
TABLE_NAMES: frozenset[str] = frozenset({
    "results", "layers", "sensitivity", "warnings", "hardware", "equivalence", "level_flips", "predictions",
    "fidelity", "worked_example", "layer_errors", "breakeven", "sweep", "yan2024_targets", "onestep",
    "onestep_layers", "events", "crosscheck",
})
#: A table name: a plain lower-case identifier (so ``<run>/<name>.csv`` is a file in the run folder).
TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: The figure files a report writes (``figures/<name><suffix>``).
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
#: The report's appendix (long tables), beside ``report.md`` and linked from it.
APPENDIX_NAME = "report_appendix.md"
#: The first line of a ``report.md`` whose tables were rewritten after it was drawn.
STALE_REPORT_BANNER = "> **Out of date:** this folder's tables were rewritten after this report was drawn"


class RunFolderError(ValueError):
    """A run folder cannot be used as asked (another study's config, not a run folder, ...)."""


class IncompleteRunError(RunFolderError, FileNotFoundError):
    """A run folder's tables are missing, empty, truncated or do not match its manifest."""


def new_file_mode() -> int:
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
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


#: A text cell starting with one of these is a formula to a spreadsheet (CSV injection): it is written
#: with a leading apostrophe (OWASP's rule), which :meth:`RunFolder.read_tables` removes again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_plain(text: str) -> bool:
    """A number (``-1.5``) or dashes alone (``-``, how a table marks a missing value): text that starts
    like a formula but cannot be one."""
    try:
        float(text)
        return True
    except ValueError:
        return set(text) <= {"-"}


def _needs_quote(text: str) -> bool:
    if text.startswith(FORMULA_STARTS):
        return not _is_plain(text)
    return text.startswith("'") and _needs_quote(text[1:])  # so that a cell "'=x" reads back as written


def _neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell a spreadsheet would run as a formula quoted by an apostrophe."""
    columns = {}
    for column in frame.columns:
        if is_object_dtype(frame[column]) or is_string_dtype(frame[column]):
            cells = frame[column]
            hit = cells.map(lambda v: isinstance(v, str) and _needs_quote(v))
            if hit.any():
                columns[column] = cells.mask(hit, "'" + cells[hit].astype(str))
    return frame.assign(**columns) if columns else frame


def _restored(frame: pd.DataFrame) -> pd.DataFrame:
    """The inverse of :func:`_neutralised` on a table read back."""
    columns = {}
    for column in frame.columns:
        if is_object_dtype(frame[column]) or is_string_dtype(frame[column]):
            cells = frame[column]
            hit = cells.map(lambda v: isinstance(v, str) and v.startswith("'") and _needs_quote(v[1:]))
            if hit.any():
                columns[column] = cells.mask(hit, cells[hit].str[1:])
    return frame.assign(**columns) if columns else frame


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
    def appendix_path(self) -> Path:
        return self.root / APPENDIX_NAME

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    def table_path(self, name: str) -> Path:
        """``<run>/<name>.csv`` of a table named by a plain identifier (:data:`TABLE_NAME`); any other
        name (a tampered manifest's ``../x`` or ``/abs/path``) is a :class:`RunFolderError` naming it."""
        if not isinstance(name, str) or not TABLE_NAME.fullmatch(name):
            raise RunFolderError(
                f"{self.manifest_path}: table entry {name!r} is not a table a study writes (a plain name such as "
                "'results', never a path); the manifest was edited: rerun the study into a new --out"
            )
        return self.root / f"{name}.csv"

    def wrote_table(self, name: str, entry: object) -> bool:
        """Whether the study wrote table ``name`` (what ``--force`` may remove): one of
        :data:`TABLE_NAMES`, or a file that still holds the bytes the manifest ``entry`` records."""
        path = self.table_path(name)
        if name in TABLE_NAMES:
            return True
        return (isinstance(entry, dict) and path.is_file() and not path.is_symlink()
                and _digest(path.read_bytes()) == entry.get("sha256"))

    def inside(self, path: Path) -> bool:
        """Whether ``path`` itself (a link, not its target) lies inside the run folder."""
        root = self.root.resolve()
        return path.parent.resolve().is_relative_to(root) and path.parent.resolve() / path.name != root

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
        (the manifest last: a run stopped in between has a manifest without tables and reads as
        incomplete). The manifest keeps the list of other files the run wrote (``files``); when the
        tables change, an existing ``report.md`` is first marked out of date."""
        previous = self.read_manifest()
        files = previous.get("files", [])
        for name in tables:
            self.table_path(name)  # a table the study writes (and so a name a manifest may hold)
        encoded = {name: _neutralised(frame).to_csv(index=False).encode("utf-8") for name, frame in tables.items()}
        manifest = {name: {"rows": len(tables[name]), "sha256": _digest(data)} for name, data in encoded.items()}
        if previous.get("tables") != manifest:
            self._mark_report_stale()
        atomic_write_text(self.manifest_path, json.dumps({"tables": None, "files": files}, indent=2, sort_keys=True))
        for name, data in encoded.items():
            atomic_write_bytes(self.table_path(name), data)
        # config.json too: the report reads it, so an edited one is caught like an edited table
        config = _digest(self.config_path.read_bytes()) if self.config_path.is_file() else None
        self._write_manifest({"tables": manifest, "files": files, "config_sha256": config})

    def write_report(self, text: str, figures: Iterable[str | os.PathLike] = (), appendix: str | None = None) -> Path:
        """Write ``report.md`` (and ``appendix`` as :data:`APPENDIX_NAME` when given) and record them
        and its ``figures`` (each PNG with its PDF and SVG siblings) in the manifest's ``files``: the
        files ``--force`` may later replace."""
        written = {self.report_path}
        if appendix is not None:
            self.write_text(self.appendix_path, appendix)
            written.add(self.appendix_path)
        path = self.write_text(self.report_path, text)
        for figure in figures:
            figure = Path(figure)
            written.update(p for p in (figure, *(figure.with_suffix(f".{f}") for f in ("png", "pdf", "svg")))
                           if p.is_file())
        manifest = self.read_manifest()
        if manifest:
            # only files the folder holds are recorded: --force never removes a file outside it
            names = {p.relative_to(self.root).as_posix() for p in written if p.is_relative_to(self.root)}
            manifest["files"] = sorted(set(manifest.get("files", [])) | names)
            self._write_manifest(manifest)
        return path

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(self.manifest_path, json.dumps(manifest, indent=2, sort_keys=True))

    def _mark_report_stale(self) -> None:
        if not self.report_path.is_file():
            return
        text = self.report_path.read_text(encoding="utf-8", errors="replace")
        if text.startswith(STALE_REPORT_BANNER):
            return
        banner = (f"{STALE_REPORT_BANNER}; its numbers and figures may not match them. Redraw it with "
                  f"`onespike report {self.root}`.\n\n")
        atomic_write_text(self.report_path, banner + text)

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

    def read_manifest(self) -> dict[str, Any]:
        """The parsed ``manifest.json`` (``{"tables": {...} or None, "files": [...]}``), or ``{}``
        when there is none or it is unreadable."""
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            return {}
        if not isinstance(manifest, dict):
            return {}
        files = manifest.get("files", [])
        manifest["files"] = [f for f in files if isinstance(f, str)] if isinstance(files, list) else []
        return manifest

    def written_files(self) -> list[Path]:
        """The files the manifest says the run wrote besides its tables: ``report.md``, its appendix
        and figures (``figures/<name>.png``, ``.pdf`` or ``.svg``). Any other entry (``../victim/x``,
        an absolute path, a path through a link that leads outside the folder) is a
        :class:`RunFolderError` naming it: the manifest was edited, and nothing it names is trusted."""
        paths = []
        for name in self.read_manifest().get("files", []):
            relative = Path(name)
            is_figure = (len(relative.parts) == 2 and relative.parts[0] == self.figures_dir.name
                         and relative.suffix in FIGURE_SUFFIXES)
            path = self.root / relative
            if (relative.is_absolute() or not (name in (self.report_path.name, APPENDIX_NAME) or is_figure)
                    or not self.inside(path)):
                raise RunFolderError(
                    f"{self.manifest_path}: file entry {name!r} is not a file a study writes inside "
                    f"{str(self.root)!r} (report.md, {APPENDIX_NAME} or figures/*.png|pdf|svg); the manifest was "
                    "edited: nothing was removed; rerun the study into a new --out"
                )
            paths.append(path)
        return paths

    def read_tables(self) -> dict[str, pd.DataFrame]:
        """Every table named in the manifest, checked against it. A missing folder, manifest or
        table, a table whose bytes differ from the manifest (truncated, edited) or a required table
        with no rows is an :class:`IncompleteRunError` that says how to finish the run."""
        rerun = f"run `onespike study --resume {self.root}` to complete it"
        if self.root.exists() and not self.root.is_dir():
            raise IncompleteRunError(f"{str(self.root)!r} is a file, not a run folder: give the folder that "
                                     "`onespike study --out` wrote")
        if not self.root.is_dir():
            raise IncompleteRunError(f"run folder {str(self.root)!r} does not exist: check the path, or write it "
                                     f"with `onespike study --out {self.root}`")
        if not self.manifest_path.is_file():
            raise IncompleteRunError(f"{str(self.root)!r} has no manifest.json, so its tables are incomplete: {rerun}")
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))["tables"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            raise IncompleteRunError(f"{self.manifest_path} is damaged: {rerun}") from None
        if manifest is None:
            raise IncompleteRunError(f"{str(self.root)!r}: the study stopped while writing its tables: {rerun}")
        if not isinstance(manifest, dict):
            raise IncompleteRunError(f"{self.manifest_path} is damaged: {rerun}")
        config = self.read_manifest().get("config_sha256")
        if config is not None and (not self.config_path.is_file()
                                   or _digest(self.config_path.read_bytes()) != config):
            raise IncompleteRunError(f"{self.config_path} does not match manifest.json (edited or replaced), so the "
                                     "report would describe another study: restore it, or rerun the study into a "
                                     "new --out")
        tables: dict[str, pd.DataFrame] = {}
        for name, entry in manifest.items():
            path = self.table_path(name)
            if not isinstance(entry, dict) or not path.is_file():
                raise IncompleteRunError(f"{path} is missing: {rerun}")
            data = path.read_bytes()
            if _digest(data) != entry.get("sha256"):
                raise IncompleteRunError(f"{path} does not match manifest.json (truncated or edited): {rerun}")
            frame = _restored(pd.read_csv(io.BytesIO(data))) if data.strip() else pd.DataFrame()
            if len(frame) != entry.get("rows"):
                raise IncompleteRunError(
                    f"{path} has {len(frame)} rows, manifest.json says {entry.get('rows')}: {rerun}"
                )
            tables[name] = frame
        for name in REQUIRED_TABLES:
            if tables.get(name) is None or tables[name].empty:
                raise IncompleteRunError(f"{self.table_path(name)} is missing or empty: {rerun}")
        return tables
