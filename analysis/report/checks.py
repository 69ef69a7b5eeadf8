"""What the report checks in a run's tables before it answers anything.

The manifest proves the tables are the ones the study wrote; a folder whose tables were edited and
re-hashed (or written by another version) passes it. Such a ``results.csv`` must still be one a
study could have written, or the report would answer from numbers no study measured (a negated
energy flips a verdict; a duplicated row makes a comparison ambiguous): every column the report
reads, energies finite and non-negative, one row per network and hardware model. Each refusal is
one line naming the table, the rows and the fix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.run_folder import IncompleteRunError
from energy_models.report import COMPONENTS

__all__ = ["RESULTS_COLUMNS", "UNIT_KEY", "check_results"]

#: One row of results.csv per network (these columns) and hardware model.
UNIT_KEY = ("arch", "method", "T", "levels", "variant", "seed", "hardware")
#: The columns of results.csv every answer reads.
RESULTS_COLUMNS = (*UNIT_KEY, "accuracy", "energy_pj")
#: The fix every refusal names.
FIX = "the folder was edited or written by another version: rerun the study into a new --out"


def _row(frame: pd.DataFrame, index) -> str:
    row = frame.loc[index]
    return ", ".join(f"{k}={row[k]}" for k in (*UNIT_KEY, "energy_pj") if k in frame.columns)


def check_results(results: pd.DataFrame) -> None:
    """Refuse a ``results.csv`` no study writes (see the module docstring)."""
    missing = [c for c in RESULTS_COLUMNS if c not in results.columns]
    if missing:
        raise IncompleteRunError(f"results.csv lacks the column(s) {', '.join(missing)} the report reads: {FIX}")
    energies = [c for c in results.columns if c.endswith("_pj")]
    values = results[energies].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    # every energy >= 0; the total and its components also finite (another *_pj column may be NaN: n/a)
    required = np.array([c == "energy_pj" or c.removesuffix("_pj") in COMPONENTS for c in energies], dtype=bool)
    bad = (values < 0) | (~np.isfinite(values) & required) | np.isinf(values)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        column = energies[int(np.flatnonzero(bad[rows[0]])[0])]
        raise IncompleteRunError(
            f"results.csv: {len(rows)} row(s) have a negative, NaN or infinite energy (first: {column} of "
            f"{_row(results, results.index[rows[0]])}); a study writes finite energies >= 0 pJ: {FIX}")
    accuracy = pd.to_numeric(results["accuracy"], errors="coerce")
    if not accuracy.between(0, 1).all():
        first = results.index[~accuracy.between(0, 1)][0]
        raise IncompleteRunError(f"results.csv: accuracy {results.loc[first, 'accuracy']!r} outside [0, 1] "
                                 f"({_row(results, first)}): {FIX}")
    duplicated = results.duplicated(list(UNIT_KEY), keep="first")
    if duplicated.any():
        first = results.index[duplicated][0]
        raise IncompleteRunError(f"results.csv: {int(duplicated.sum())} row(s) repeat a network under the same "
                                 f"hardware model (first: {_row(results, first)}): {FIX}")
