"""Latency in cycles beside latency in steps (Q2, Q9): read from the results table's ``latency_cycles``,
which a hardware model fills where it maps layers onto a PE array (the ``zigzag:`` models) and leaves
NaN otherwise. Steps count sequential timesteps; cycles count what a fixed array takes for the work,
so OneSpike's G parallel groups show up here though not in its one step."""

from __future__ import annotations

import pandas as pd

from analysis.methods import get_method
from analysis.report.tables import RunTables, method_label, numeric, select
from analysis.report.text import number, times

COLUMN = "latency_cycles"


def cycle_models(run: RunTables) -> list[str]:
    """The hardware models of the run whose results give cycles."""
    results = run.results
    if COLUMN not in results.columns:
        return []
    return [m for m in run.hardware_models() if numeric(select(results, hardware=m), COLUMN).notna().any()]


def with_cycles(run: RunTables, table: pd.DataFrame, arch: str | None) -> pd.DataFrame:
    """``table`` (rows with ``method`` and ``T``) with one ``cycles <model>`` column per model giving
    cycles, beside its steps."""
    out = table.copy()
    for model in cycle_models(run):
        rows = select(run.results, arch=arch, hardware=model, variant="default")
        lookup = {(m, int(t)): c for m, t, c in zip(rows["method"], rows["T"], numeric(rows, COLUMN), strict=True)}
        out[f"cycles {model}"] = [lookup.get((m, int(t)), float("nan")) for m, t in zip(out["method"], out["T"],
                                                                                        strict=True)]
    return out


def cycles_sentence(run: RunTables, arch: str | None, steps: int) -> str:
    """``"In cycles: on <model>, OneSpike(G) takes ... vs IF(T)'s ... (×r)."``, or "" where no model gives cycles."""
    parts = []
    for model in cycle_models(run):
        rows = select(run.results, arch=arch, hardware=model, variant="default", T=steps)
        onespike = numeric(select(rows, method=run.group_conversion), COLUMN)
        integrate = numeric(select(rows, method=run.time_conversion), COLUMN)
        if onespike.notna().any() and integrate.notna().any() and float(integrate.iloc[0]) > 0:
            a, b = float(onespike.iloc[0]), float(integrate.iloc[0])
            parts.append(f"on {model}, {method_label(run.group_conversion, steps)} takes {number(a)} cycles vs "
                         f"{method_label(run.time_conversion, steps)}'s {number(b)} ({times(a / b)})")
    return ("In cycles (the array does the groups' work too): " + "; ".join(parts) + ".") if parts else ""


def cycles_by_steps(run: RunTables, rows: pd.DataFrame) -> pd.DataFrame:
    """Q9's cycles: one ``<model> <method> cycles`` column per (model giving cycles, method), indexed by T."""
    shown = select(rows, hardware=cycle_models(run))
    if shown.empty or COLUMN not in shown.columns:
        return pd.DataFrame()
    table = shown.drop_duplicates(["hardware", "method", "T"]).pivot_table(index="T", columns=["hardware", "method"],
                                                                          values=COLUMN)
    table.columns = [f"{h} {get_method(m).short} cycles" for h, m in table.columns]
    return table
