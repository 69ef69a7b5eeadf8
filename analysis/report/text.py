"""Numbers as the report writes them, and markdown tables (no tabulate needed)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "literal",
    "markdown_table",
    "not_in_run",
    "number",
    "percent",
    "percentage_points",
    "rate_text",
    "ratio_text",
    "span",
    "times",
]


def number(value: Any, digits: int = 3) -> str:
    """``value`` in ``digits`` significant digits (NaN as n/a)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(value):
        return "n/a"
    return "0" if value == 0 else f"{value:.{digits}g}"


def percent(fraction: Any, digits: int = 1) -> str:
    try:
        fraction = float(fraction)
    except (TypeError, ValueError):
        return "n/a"
    return f"{100 * fraction:.{digits}f}%" if math.isfinite(fraction) else "n/a"


def percentage_points(difference: float) -> str:
    """A difference of two percentages: ``−3.2 pp``."""
    return f"{difference:+.1f} pp".replace("-", "−") if math.isfinite(difference) else "n/a"


def times(ratio: float) -> str:
    return f"{ratio:.2g}×" if math.isfinite(ratio) else "n/a"


def ratio_text(ratio: float) -> str:
    """A ratio of two energies: two significant digits, three near 1 (``1.01×``, ``0.996×``) where
    two would round a difference away."""
    if not math.isfinite(ratio):
        return "n/a"
    return f"{ratio:.3g}×" if 0.9 <= ratio < 1.1 else f"{ratio:.2g}×"


def rate_text(rate: float) -> str:
    """A spike rate as a percentage; a positive rate under 0.05% reads "<0.1%" rather than "0.0%"."""
    if not np.isfinite(rate):
        return "n/a"
    return "<0.1%" if 0 < rate < 5e-4 else f"{100 * rate:.1f}%"


def span(values: Iterable[Any], fmt: Callable[[float], str]) -> str:
    """``lo–hi`` of the finite values (one value when both ends read the same)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return "n/a"
    low, high = min(finite), max(finite)
    separator = " to " if low < 0 else "–"
    return fmt(low) if fmt(low) == fmt(high) else f"{fmt(low)}{separator}{fmt(high)}"


def not_in_run(qid: str, what: str) -> str:
    """The answer line of a question the run cannot answer: says plainly what is missing."""
    return f"{qid}: not in this run — {what}."


#: Characters that would make a user's text markup in report.md (emphasis, code, an HTML tag or
#: autolink, a table column): :func:`literal` escapes each with a backslash.
MARKUP = "\\`*<>|"


def literal(value: Any) -> str:
    """``value`` (a user's model, table, paper or folder name) as literal markdown text: markup and HTML
    characters backslash-escaped, a link or image (``[x](...)``, ``![x](...)``) broken so that it
    shows as text and never loads, line breaks as spaces. Brackets alone stay (``[0.1–0.2]``)."""
    text = "" if value is None else str(value)
    text = "".join(f"\\{c}" if c in MARKUP else c for c in text)
    return text.replace("](", "]\\(").replace("![", "!\\[").replace("\r", " ").replace("\n", " ")


def _cell(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return number(value, 4)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return literal(value)


def markdown_table(frame: pd.DataFrame, max_rows: int = 60) -> str:
    """A GitHub-flavoured markdown table (numbers in 4 significant digits); rows past ``max_rows``
    are counted, not dropped silently."""
    if frame.empty:
        return "_(no rows)_"
    more = len(frame) - max_rows
    frame = frame.head(max_rows)
    columns = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    if more > 0:
        lines.append(f"\n_({more} more rows in the CSV)_")
    return "\n".join(lines)
