"""Row selection on a run's tables (plain pandas, no run needed): a column as floats
(:func:`numeric`), the rows matching some column values (:func:`select`), one configuration's value
per hardware model (:func:`by_hardware`) and whether its rows are a working network
(:func:`not_working`). :mod:`analysis.report.tables` re-exports them beside the run they select from."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["by_hardware", "not_working", "numeric", "select"]


def numeric(frame: pd.DataFrame, name: str, default: float = float("nan")) -> pd.Series:
    """Column ``name`` as floats (``default`` where a value, or the whole column, is missing)."""
    if name in frame.columns:
        return pd.to_numeric(frame[name], errors="coerce").fillna(default)
    return pd.Series(default, index=frame.index, dtype=float)


def select(frame: pd.DataFrame, **where: Any) -> pd.DataFrame:
    """Rows of ``frame`` matching every ``column=value`` (a list/tuple/set value: any of them; ``None``:
    no condition). A column the table lacks matches nothing."""
    if frame.empty:
        return frame
    mask = np.ones(len(frame), dtype=bool)
    for key, value in where.items():
        if value is None:
            continue
        if key not in frame.columns:
            return frame.iloc[0:0]
        column = frame[key].to_numpy()
        mask &= np.isin(column, list(value)) if isinstance(value, (list, tuple, set)) else column == value
    return frame[mask]


def not_working(rows: pd.DataFrame) -> bool:
    """Whether a network of ``rows`` is not a working configuration: ``results.csv``'s ``working``
    is False (within 10 points of chance accuracy), so its energy is no price anyone would pay and a
    verdict on it must say so. A run without the column has every network working."""
    if rows.empty or "working" not in rows.columns:
        return False
    return bool(rows["working"].astype(str).str.strip().str.lower().isin(("false", "0")).any())


def by_hardware(rows: pd.DataFrame, column: str = "energy_pj") -> dict[str, float]:
    """``{hardware model: value of column}`` of one configuration's results rows (first row per model)."""
    if rows.empty or "hardware" not in rows.columns or column not in rows.columns:
        return {}
    first = rows.drop_duplicates("hardware")
    return dict(zip(first["hardware"].astype(str), pd.to_numeric(first[column], errors="coerce"), strict=True))
