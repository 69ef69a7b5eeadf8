"""What makes a study resumable: the run's cache of finished units and trained networks, and the
per-unit seeds.

Each unit and each trained network is written atomically into ``<run>/cache/`` under a key that
carries the config's compute digest; a unit already there is read instead of recomputed (a corrupt
one is named, moved aside and recomputed). Each unit seeds torch from the study seed and its own
key (:func:`seed_for`), so a resumed run computes exactly what an uninterrupted one would have.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from torch import nn

from analysis.run_folder import RunFolder
from analysis.study import distributed
from analysis.study.ahead import Claims
from analysis.study.checkpoint_files import CheckpointError, load_checkpoint

__all__ = ["RunCache", "seed_for"]


def seed_for(seed: int, *parts: Any) -> int:
    """A per-unit seed: the same for the same unit, whatever ran before it."""
    return int(hashlib.sha256(json.dumps([seed, *parts]).encode()).hexdigest()[:8], 16)


class RunCache:
    """JSON units and checkpoints under ``<run>/cache``; a unit exists only once fully written."""

    def __init__(self, folder: RunFolder):
        self.folder = folder
        self.root = folder.cache_dir
        #: unit keys a helper process computes (:meth:`expect`), each with a test of whether it still runs
        self.pending: dict[str, Callable[[], bool]] = {}
        #: the pieces of work this process and a helper share (None: this process computes what it needs)
        self.claims: Claims | None = None

    def expect(self, keys: Iterable[str], running: Callable[[], bool]) -> None:
        """Units ``keys`` are being computed by a helper process for which ``running()`` is True while
        it works: :meth:`unit` waits for such a unit to appear instead of computing it a second time
        (and computes it itself once the helper has ended without it)."""
        self.pending.update(dict.fromkeys(keys, running))

    def _set_aside(self, path: Path, why: str) -> None:
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        path.replace(aside)
        warnings.warn(f"cache file {path} was unreadable ({why}); moved to {aside.name} and recomputed", stacklevel=3)

    def has(self, key: str) -> bool:
        """Whether unit ``key`` is in the cache (written in full)."""
        return (self.root / f"{key}.json").is_file()

    def unit(self, key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The unit ``key``: read back when the cache holds it, else computed now and written."""
        path = self.root / f"{key}.json"
        running = self.pending.pop(key, None)
        while running is not None and not path.is_file() and running():
            time.sleep(0.02)
        if running is None and self.claims is not None and not path.is_file() and not self.claims.claim(key):
            self.claims.wait_for(path)  # the helper computes it (or ended without it: computed here)
        if path.is_file():
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                if distributed.is_main():
                    self._set_aside(path, type(exc).__name__)
        text = json.dumps(compute(), sort_keys=True)  # under torchrun every rank computes its share
        if distributed.is_main():
            self.folder.write_text(path, text)
        distributed.barrier()
        # a fresh unit is returned exactly as a resumed run would read it back (key order, float repr)
        return json.loads(text)

    def load_network(self, path: Path, model: nn.Module, method: str | None = None) -> bool:
        """Load ``path`` into ``model``; False (and the file set aside) when it is unreadable or
        records another method than ``method``."""
        if not path.is_file():
            return False
        try:
            load_checkpoint(path, model, expected_method=method)
            return True
        except CheckpointError as exc:
            if distributed.is_main():
                self._set_aside(path, str(exc).split(":")[0])
            return False
