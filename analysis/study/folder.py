"""Claiming a run folder for a study: the lock, the config check, and what ``--force`` may remove.

- A folder is usable when it does not exist, is empty, or is a run folder (its ``config.json`` is
  one the study wrote). Anything else is refused, with or without ``--force``: a study never writes
  into, or removes from, a folder of the user's own files.
- A run folder of the same computation (same compute digest) is resumed; pricing-only changes
  (hardware models, sweeps) are allowed and re-price from the cache.
- A run folder of another computation needs ``force``, which removes only the files that study
  wrote: the tables and the report files (``report.md``, figures) its manifest lists, the cache
  files named with its compute digest, its ``config.json`` and ``manifest.json``. Every other file,
  at any depth (``figures/my_plot.png``, ``cache/notes/x.txt``), is kept; a folder is removed only
  when that leaves it empty.
- To continue the study a folder holds, ``onespike study --resume DIR`` reads its ``config.json``.
- ``.lock`` holds the pid and host of the study using the folder; a second study stops with a
  message naming that process. A lock whose process is gone (on this host) is taken over, by one
  study only when several try at once (``.lock.breaking``, see :meth:`FolderLock.acquire`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
from pathlib import Path

from analysis.run_folder import TABLE_NAMES, RunFolder, RunFolderError
from analysis.study.config import StudyConfig

__all__ = ["FolderLock", "claim_folder", "prepare_folder", "study_files", "study_folder"]


def _check_writable_folder(root: Path) -> None:
    """A one-line error for an ``--out`` that cannot be a folder we write (a file, under a file,
    read-only, a system folder)."""
    for parent in (root, *root.parents):
        if parent.exists():
            if not parent.is_dir():
                raise RunFolderError(
                    f"--out {str(root)!r}: {str(parent)!r} is a file, not a folder; choose another --out"
                )
            if not os.access(parent, os.W_OK | os.X_OK):
                raise RunFolderError(f"--out {str(root)!r}: {str(parent)!r} is not writable; choose another --out")
            break


def _is_run_folder(folder: RunFolder) -> bool:
    try:
        payload = json.loads(folder.config_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(payload, dict) and "compute_digest" in payload and isinstance(payload.get("config"), dict)


def study_files(folder: RunFolder) -> list[Path]:
    """The files the study in ``folder`` wrote (see the module docstring): what ``--force`` removes.
    Each is a file inside the folder: a manifest entry that is not a table name the study writes or
    a report file inside the folder (``../victim/x``, ``/abs/path``) is a :class:`RunFolderError`
    naming it, raised before anything is removed."""
    paths = {folder.config_path, folder.manifest_path}
    manifest = folder.read_manifest()
    tables = manifest.get("tables")
    for name, entry in (tables if isinstance(tables, dict) else {}).items():
        if not folder.wrote_table(name, entry):
            raise RunFolderError(
                f"{folder.manifest_path}: table entry {name!r} is not a table a study writes, and {name}.csv does "
                "not hold the bytes the manifest records: the manifest was edited; nothing was removed: rerun the "
                "study into a new --out")
        paths.add(folder.table_path(name))
    paths.update(folder.written_files())
    if "files" not in manifest and manifest:  # a manifest written before report files were listed
        paths.add(folder.report_path)
    try:
        digest = json.loads(folder.config_path.read_text(encoding="utf-8")).get("compute_digest")
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        digest = None
    if isinstance(digest, str) and len(digest) >= 8 and folder.cache_dir.is_dir():
        # every cache file of a study carries its compute digest in its name (units, checkpoints,
        # and the .corrupt-* and .tmp files made from them)
        paths.update(p for p in folder.cache_dir.iterdir() if p.is_file() and digest in p.name)
    outside = sorted(str(p) for p in paths if not folder.inside(p))
    if outside:  # e.g. a cache/ or figures/ that is a link to another folder
        raise RunFolderError(f"{str(folder.root)!r}: {outside[0]} lies outside the run folder (a link?); --force "
                             "removes nothing outside it: remove that link, or choose another --out")
    return sorted(p for p in paths if p.is_file())


def _remove_run_files(folder: RunFolder) -> None:
    """Remove what the study in ``folder`` wrote and nothing else (then its folders, if left empty)."""
    for path in study_files(folder):
        path.unlink(missing_ok=True)
    for directory in (folder.figures_dir, folder.cache_dir):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()


def prepare_folder(root: str | os.PathLike, compute_digest: str, force: bool) -> RunFolder:
    """Check ``root`` can hold this study (see the module docstring); returns the RunFolder.
    Nothing is written here."""
    folder = RunFolder(root)
    _check_writable_folder(folder.root)
    if not folder.root.exists() or not any(folder.root.iterdir()):
        return folder
    if not _is_run_folder(folder):
        raise RunFolderError(
            f"{str(folder.root)!r} is not empty and is not a study run folder (no config.json written by a study); "
            "a study writes only into an empty or new folder, or one it wrote before: choose another --out"
        )
    existing = json.loads(folder.config_path.read_text(encoding="utf-8"))["compute_digest"]
    if existing != compute_digest and not force:
        raise RunFolderError(
            f"run folder {str(folder.root)!r} holds a study with another config (digest {existing}); continue that "
            f"study with `onespike study --resume {folder.root}`, choose another --out, or pass --force to replace "
            "the files that study wrote (every other file in the folder, at any depth, is kept)"
        )
    if existing != compute_digest:
        study_files(folder)  # a tampered manifest is refused now, before any work, not when --force removes
    return folder


class FolderLock:
    """An exclusive ``.lock`` file in a run folder (a context manager)."""

    def __init__(self, folder: RunFolder):
        self.folder = folder
        self.held = False
        self.created = False  # the folder did not exist: released empty, it is removed again

    def _holder(self) -> dict:
        try:
            return json.loads(self.folder.lock_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            return {}

    def _alive(self, holder: dict) -> bool:
        if holder.get("host") != socket.gethostname():
            return True  # cannot tell for another host: treat as held
        try:
            os.kill(int(holder.get("pid", -1)), 0)
        except (ProcessLookupError, ValueError):
            return False
        except PermissionError:
            return True
        return True

    @property
    def breaking_path(self) -> Path:
        """Held (created exclusively) by the one process that removes a stale ``.lock``."""
        return self.folder.root / ".lock.breaking"

    def _in_use(self, holder: dict) -> RunFolderError:
        return RunFolderError(
            f"run folder {str(self.folder.root)!r} is in use by another study (pid {holder.get('pid')} on "
            f"{holder.get('host')}); wait for it, or remove {self.folder.lock_path} if that process is gone"
        )

    def _create(self, text: str) -> bool:
        """Create ``.lock`` holding ``text``, complete or not at all (a hard link of a written temporary
        file: no other process ever reads a half-written lock); False when it exists."""
        tmp = self.folder.root / f".lock.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        tmp.write_text(text, encoding="utf-8")
        try:
            os.link(tmp, self.folder.lock_path)
            return True
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: an exclusive create, then the text
            try:
                fd = os.open(self.folder.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def _break_stale(self, stale: dict) -> None:
        """Remove ``.lock`` if it still holds ``stale`` (a holder that is gone). Only the process that
        creates ``.lock.breaking`` may do so, and it re-reads the holder first: two studies taking over
        the same stale lock never remove each other's fresh lock. The other one is refused."""
        try:
            fd = os.open(self.breaking_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            raise RunFolderError(
                f"run folder {str(self.folder.root)!r}: another study is taking over its stale lock right now; wait "
                f"for it (if no study runs, remove {self.breaking_path}, left by one that was killed)") from None
        try:
            os.close(fd)
            if self._holder() == stale:
                self.folder.lock_path.unlink(missing_ok=True)
        finally:
            self.breaking_path.unlink(missing_ok=True)

    def acquire(self) -> None:
        self.created = not self.folder.root.exists()
        try:
            self.folder.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. under /proc or /sys: the parent exists but takes no new folder
            parent = next((p for p in self.folder.root.parents if p.exists()), self.folder.root.anchor)
            raise RunFolderError(
                f"--out {str(self.folder.root)!r}: cannot create the folder ({exc.strerror or exc}): {str(parent)!r} "
                "does not take new folders (a read-only or virtual file system such as /proc?); choose another "
                "--out") from None
        text = json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
        for _ in range(3):
            if self._create(text):
                self.held = True
                return
            holder = self._holder()
            if not holder:
                if not self.folder.lock_path.exists():
                    continue  # released just now: try again
                raise RunFolderError(f"{self.folder.lock_path} is not a lock this program wrote (unreadable); "
                                     "if no study uses the folder, remove it")
            if self._alive(holder):
                raise self._in_use(holder)
            self._break_stale(holder)  # a stale lock of a process that is gone
        raise RunFolderError(f"could not take the lock {self.folder.lock_path}: other studies keep taking it; "
                             "run one study per folder")

    def release(self) -> None:
        """Remove the lock; a folder this lock created and nothing else was written to (a study that
        stopped on an error before its first file) is removed too."""
        if self.held:
            self.folder.lock_path.unlink(missing_ok=True)
            self.held = False
            if self.created and not any(self.folder.root.iterdir()):
                self.folder.root.rmdir()

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


#: A temporary file of an atomic write (:func:`analysis.run_folder.atomic_write_bytes`): ``.<target>.<8 random>.tmp``.
_INTERRUPTED = re.compile(r"^\.(?P<target>.+)\.[A-Za-z0-9_]{8}\.tmp$")


def _remove_interrupted_writes(folder: RunFolder, compute_digest: str) -> None:
    """Remove the temporary files of atomic writes that a killed study left beside the files it was
    writing: only those whose target is a file this study writes (a cache file named with its compute
    digest, a table it writes, its config, manifest or reports); nothing else is touched."""
    own = {folder.config_path.name, folder.manifest_path.name, folder.report_path.name, folder.appendix_path.name,
           *(f"{name}.csv" for name in TABLE_NAMES)}
    for directory, mine in ((folder.root, lambda target: target in own),
                            (folder.cache_dir, lambda target: compute_digest in target)):
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            match = _INTERRUPTED.match(path.name)
            if match and mine(match.group("target")) and path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)


def claim_folder(folder: RunFolder, compute_digest: str, payload: dict) -> None:
    """With the lock held: replace another computation's run files (``prepare_folder`` allowed it
    only with ``force``), remove what a killed run of this study left half-written, and write this
    study's ``config.json``."""
    if folder.config_path.is_file() and _is_run_folder(folder):
        existing = json.loads(folder.config_path.read_text(encoding="utf-8"))["compute_digest"]
        if existing != compute_digest:
            _remove_run_files(folder)
        else:
            _remove_interrupted_writes(folder, compute_digest)
    folder.write_config({**payload, "compute_digest": compute_digest})


def study_folder(resume: str | None, out: str | None, quick: bool, config: StudyConfig, force: bool) -> str:
    """The run folder ``onespike study`` writes: ``--resume DIR``, ``--out DIR`` or the default
    (``reports/quick`` with ``--quick``, else ``reports/default``). An empty name is refused (it is no
    folder, and ``""`` would quietly mean the default); so is ``--resume DIR`` with flags that change
    what the folder's study computes (``--seed 5``: another study), naming them, unless ``force``."""
    for flag, value in (("--resume", resume), ("--out", out)):
        if value is not None and not value.strip():
            raise RunFolderError(f"{flag} is empty: give the run folder, e.g. {flag} reports/mine")
    if resume is not None and not force:
        recorded = RunFolder(resume).read_config()["config"]
        if StudyConfig.from_dict(dict(recorded)).compute_digest() != config.compute_digest():
            changed = [k for k, v in config.to_dict().items() if k in recorded and recorded[k] != v]
            names = {"archs": "arch", "checkpoints": "checkpoint"}
            flags = ", ".join(f"--{names.get(k, k).replace('_', '-')}" for k in changed) or "the flags given"
            raise RunFolderError(
                f"--resume {resume} continues the study its config.json records, but {flags} "
                f"{'changes' if len(changed) == 1 else 'change'} what it computes (a new study): drop {flags} to "
                "continue it, or run the new study into another folder with --out NEW (--force replaces this one)")
    return resume or out or ("reports/quick" if quick else "reports/default")
