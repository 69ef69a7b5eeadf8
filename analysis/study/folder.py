"""Claiming a run folder for a study: the lock, the config check, and what ``--force`` may remove.

- A folder is usable when it does not exist, is empty, or is a run folder (its ``config.json`` is
  one the study wrote). Anything else is refused, with or without ``--force``: a study never writes
  into, or removes from, a folder of the user's own files.
- A run folder of the same computation (same compute digest) is resumed; pricing-only changes
  (hardware models, sweeps) are allowed and re-price from the cache.
- A run folder of another computation needs ``force``, which removes only what a study writes
  (its tables named in the manifest, ``config.json``, ``manifest.json``, ``report.md``, ``cache/``,
  ``figures/``) and nothing else.
- ``.lock`` holds the pid and host of the study using the folder; a second study stops with a
  message naming that process. A lock whose process is gone (on this host) is taken over.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

from analysis.run_folder import RUN_DIRS, RUN_FILES, RunFolder, RunFolderError

__all__ = ["FolderLock", "claim_folder", "prepare_folder"]


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


def _remove_run_files(folder: RunFolder) -> None:
    """Remove what a study writes into ``folder`` and nothing else."""
    names = set()
    if folder.manifest_path.is_file():
        try:
            names = set(json.loads(folder.manifest_path.read_text(encoding="utf-8")).get("tables", {}))
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            names = set()
    for name in names:
        folder.table_path(name).unlink(missing_ok=True)
    for name in RUN_FILES:
        (folder.root / name).unlink(missing_ok=True)
    for name in RUN_DIRS:
        shutil.rmtree(folder.root / name, ignore_errors=True)


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
            f"run folder {str(folder.root)!r} holds a study with another config (digest {existing}); choose another "
            "--out, or pass --force to replace that study's files (other files in the folder are kept)"
        )
    return folder


class FolderLock:
    """An exclusive ``.lock`` file in a run folder (a context manager)."""

    def __init__(self, folder: RunFolder):
        self.folder = folder
        self.held = False

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

    def acquire(self) -> None:
        self.folder.root.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
        for _ in range(2):
            try:
                fd = os.open(self.folder.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if self._alive(holder):
                    raise RunFolderError(
                        f"run folder {str(self.folder.root)!r} is in use by another study (pid {holder.get('pid')} on "
                        f"{holder.get('host')}); wait for it, or remove {self.folder.lock_path} if that process is gone"
                    ) from None
                self.folder.lock_path.unlink(missing_ok=True)  # a stale lock of a process that is gone
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            self.held = True
            return
        raise RunFolderError(f"could not take the lock {self.folder.lock_path}")

    def release(self) -> None:
        if self.held:
            self.folder.lock_path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim_folder(folder: RunFolder, compute_digest: str, payload: dict) -> None:
    """With the lock held: replace another computation's run files (``prepare_folder`` allowed it
    only with ``force``) and write this study's ``config.json``."""
    if folder.config_path.is_file() and _is_run_folder(folder):
        existing = json.loads(folder.config_path.read_text(encoding="utf-8"))["compute_digest"]
        if existing != compute_digest:
            _remove_run_files(folder)
    folder.write_config({**payload, "compute_digest": compute_digest})
