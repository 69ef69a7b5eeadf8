"""Paired statistics: every method runs on the same test images, so two networks' accuracies are
compared image by image with an exact McNemar test on the discordant pairs (``predictions.csv``).

For networks A and B on the same images, ``b`` counts the images A classifies correctly and B does
not, ``c`` the reverse; under "equally accurate" each discordant image is a fair coin, so the exact
two-sided p-value is the binomial test of ``b`` successes in ``b + c`` trials at 1/2. The accuracy
difference is ``(b − c) / n``. Networks whose predicted classes agree on every image are called
identical ("identical predictions on all 360 images"), not "+0.0 pp (within the interval)".

A run without per-image predictions falls back to the unpaired interval
(:func:`analysis.report.uncertainty.difference_text`) and says so ("..., unpaired"; the report's
Limits section says why: :data:`NO_PREDICTIONS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

# scipy.special, not scipy.stats: the same exact binomial tail without a second of import time
from scipy.special import bdtr

from analysis.report.tables import UNIT_KEYS, RunTables
from analysis.report.uncertainty import Accuracy, accuracy_of, difference_resolved, difference_text

__all__ = ["ALPHA", "NO_PREDICTIONS", "Comparison", "Paired", "accuracy", "compare", "comparison", "comparison_text",
           "identity", "mcnemar_exact", "predictions_of"]

#: A McNemar p-value under this resolves a difference.
ALPHA = 0.05
#: What a comparison says when the run has no per-image predictions.
NO_PREDICTIONS = "unpaired: this run has no per-image predictions"


@dataclass(frozen=True)
class Paired:
    """An exact McNemar comparison of A against B over ``n`` image pairs (images × seeds)."""

    n: int
    b: int
    c: int
    p: float
    identical: bool

    @property
    def difference(self) -> float:
        """Accuracy of A minus accuracy of B (a fraction)."""
        return (self.b - self.c) / self.n if self.n else float("nan")

    @property
    def resolved(self) -> bool:
        return self.p < ALPHA

    def text(self) -> str:
        """``identical predictions on all 360 images`` or ``−0.6 pp (McNemar b=3, c=5, p=0.73)``."""
        if self.identical:
            return f"identical predictions on all {self.n} images"
        d = f"{100 * self.difference:+.1f} pp".replace("-", "−")
        return f"{d} (McNemar b={self.b}, c={self.c}, p={self.p:.2g})"


def _key(row: pd.Series) -> tuple:
    return tuple(int(row[k]) if k in ("T", "levels", "seed") else str(row[k]) for k in UNIT_KEYS)


def _by_unit(run: RunTables) -> dict[tuple, pd.DataFrame]:
    def build() -> dict[tuple, pd.DataFrame]:
        table = run.table("predictions")
        if table.empty or not {*UNIT_KEYS, "sample", "label", "predicted"} <= set(table.columns):
            return {}
        out = {}
        for key, index in table.groupby(list(UNIT_KEYS), sort=False).indices.items():
            frame = table.iloc[index].sort_values("sample")
            out[_key(pd.Series(dict(zip(UNIT_KEYS, key, strict=True))))] = frame
        return out
    return run.remember("predictions by unit", build, shared=True)


def predictions_of(run: RunTables, rows: pd.DataFrame) -> dict[int, pd.DataFrame] | None:
    """``{seed: predictions}`` of the network whose results ``rows`` are given (any hardware model);
    None when the run has none for one of its seeds."""
    found = _by_unit(run)
    if not found or rows.empty:
        return None
    out = {}
    for _, row in rows.drop_duplicates(subset=[k for k in UNIT_KEYS if k in rows.columns]).iterrows():
        frame = found.get(_key(row))
        if frame is None:
            return None
        out[int(row["seed"])] = frame
    return out


def compare(run: RunTables, a_rows: pd.DataFrame, b_rows: pd.DataFrame) -> Paired | None:
    """Exact McNemar of network A (its ``results`` rows) against B on the images and seeds both
    have; None when the run lacks either's predictions or they share no image."""
    a, b = predictions_of(run, a_rows), predictions_of(run, b_rows)
    if not a or not b:
        return None
    right_a, right_b, same = [], [], []
    for seed in sorted(set(a) & set(b)):
        joined = a[seed][["sample", "label", "predicted"]].merge(b[seed][["sample", "predicted"]], on="sample",
                                                                    suffixes=("_a", "_b"))
        right_a.append(joined["predicted_a"].to_numpy() == joined["label"].to_numpy())
        right_b.append(joined["predicted_b"].to_numpy() == joined["label"].to_numpy())
        same.append(joined["predicted_a"].to_numpy() == joined["predicted_b"].to_numpy())
    if not right_a or not sum(len(x) for x in right_a):
        return None
    ra, rb, agree = np.concatenate(right_a), np.concatenate(right_b), np.concatenate(same)
    b_count, c_count = int(np.sum(ra & ~rb)), int(np.sum(~ra & rb))
    p = mcnemar_exact(b_count, c_count)
    return Paired(len(ra), b_count, c_count, float(p), bool(agree.all()))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value of ``b`` and ``c`` discordant pairs (A right where B is wrong,
    and the reverse): under no difference each discordant pair goes either way with probability ½,
    so p = min(1, 2·P[Binomial(b + c, ½) ≤ min(b, c)]) (1 when there is no discordant pair)."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    if b + c == 0:
        return 1.0
    return float(min(1.0, 2.0 * bdtr(min(b, c), b + c, 0.5)))


@dataclass(frozen=True)
class Comparison:
    """A against B as an answer states it: the ``text``, the accuracy ``difference`` (a fraction),
    whether it is ``resolved`` (paired: McNemar p < :data:`ALPHA`; unpaired: the interval excludes
    0), whether the predictions are ``identical`` on every image, and whether it was ``paired``."""

    text: str
    difference: float
    resolved: bool
    identical: bool
    paired: bool
    p: float = float("nan")
    n: int = 0

    def short(self) -> str:
        """For a verdict sentence: ``identical on all 360 images``, ``−1.7 pp (p=0.02)``, or unpaired
        ``−1.7 pp (unresolved)``."""
        if self.identical:
            return f"identical on all {self.n} images"
        d = f"{100 * self.difference:+.1f} pp".replace("-", "−") if math.isfinite(self.difference) else "n/a"
        if self.paired:
            return f"{d} (p={self.p:.2g})"
        return d if self.resolved else f"{d} (unresolved)"


def identity(rows: pd.DataFrame) -> tuple:
    """The networks (unit keys) whose results ``rows`` are: a key for lookups no hardware model changes."""
    keys = [k for k in UNIT_KEYS if k in rows.columns]
    if rows.empty or not keys:
        return ()
    # column by column in plain Python: a DataFrame round trip here cost a second per report
    return tuple(sorted(set(zip(*([str(v) for v in rows[k].tolist()] for k in keys), strict=True))))


def accuracy(run: RunTables, rows: pd.DataFrame) -> Accuracy:
    """:func:`~analysis.report.uncertainty.accuracy_of` of ``rows``, computed once per run and its
    what-if copies."""
    return run.remember(("accuracy", identity(rows)), lambda: accuracy_of(rows), shared=True)


def comparison(run: RunTables, a_rows: pd.DataFrame, b_rows: pd.DataFrame) -> Comparison:
    """A against B: paired (exact McNemar) where the run has per-image predictions, else the
    unpaired difference with its interval, marked as unpaired (computed once per run and its
    what-if copies)."""
    return run.remember(("comparison", identity(a_rows), identity(b_rows)),
                        lambda: _comparison(run, a_rows, b_rows), shared=True)


def _comparison(run: RunTables, a_rows: pd.DataFrame, b_rows: pd.DataFrame) -> Comparison:
    found = compare(run, a_rows, b_rows)
    if found is not None:
        return Comparison(found.text(), found.difference, found.resolved, found.identical, True, found.p, found.n)
    a, b = accuracy_of(a_rows), accuracy_of(b_rows)
    text = difference_text(a, b)
    if math.isfinite(a.mean) and math.isfinite(b.mean):  # say it is unpaired (the Limits section says why)
        text = f"{text} (unpaired)" if "(" not in text else text.replace(")", ", unpaired)", 1)
    return Comparison(text, a.mean - b.mean, difference_resolved(a, b), False, False)


def comparison_text(run: RunTables, a_rows: pd.DataFrame, b_rows: pd.DataFrame) -> str:
    """:func:`comparison`'s text."""
    return comparison(run, a_rows, b_rows).text
