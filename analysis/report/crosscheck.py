"""The hardware section's cross-check: per layer, our ``weight_stationary`` energy beside a ZigZag
mapping's (``crosscheck.csv``, written by the study when a ``zigzag:`` model is priced), and where and
why they differ by more than the flag ratio. Reads the run folder only."""

from __future__ import annotations

import numpy as np

from analysis.methods import Method, get_method, reference_method
from analysis.report.tables import RunTables, method_label, numeric, select
from analysis.report.text import markdown_table, number, times
from energy_models.zigzag.crosscheck import WHY


def crosscheck_lines(run: RunTables) -> list[str]:
    """Markdown lines of the cross-check (none when the run priced no ZigZag model)."""
    table = run.table("crosscheck")
    if table.empty:
        return []
    steps = run.reference_steps()
    lines = []
    for model, rows in table.groupby("hardware", sort=False):
        reference = str(rows["reference"].iloc[0])
        ratio = numeric(rows, "ratio")
        flagged = rows[rows["flagged"].astype(str) == "True"]
        lines += ["", f"### Cross-check: {reference} vs {model}, per layer", "",
                  f"Over every layer of every method ({len(rows)} rows), {model}/{reference} is "
                  f"{times(float(np.nanmin(ratio)))}–{times(float(np.nanmax(ratio)))} (median "
                  f"{times(float(np.nanmedian(ratio)))}); {len(flagged)} rows differ by more than "
                  f"{float(rows['flag_ratio'].iloc[0]):g}× (all in crosscheck.csv, each with its reason).", ""]
        # the methods whose layers the section shows (every method's are in crosscheck.csv)
        methods = [reference_method(), Method.INT8, run.time_conversion, run.group_conversion]
        shown = select(rows, arch=run.first_arch(), method=methods)
        shown = shown[(shown["T"] == steps) | (shown["method"].isin([m for m in methods if not get_method(m).stepped]))]
        if shown.empty:
            continue
        marks = shown["flagged"].astype(str) == "True"
        differs = [f"{c}: {number(z)} vs {number(r)} pJ" if mark else ""
                   for c, z, r, mark in zip(shown["component"], shown["component_zigzag_pj"],
                                            shown["component_reference_pj"], marks, strict=True)]
        view = shown.assign(method=[method_label(m, int(t)) for m, t in zip(shown["method"], shown["T"], strict=True)],
                            differs=differs)
        view = view[["method", "layer", "kind", "reference_pj", "zigzag_pj", "ratio", "differs"]].rename(
            columns={"reference_pj": f"{reference} pJ", "zigzag_pj": f"{model} pJ",
                     "differs": f"beyond {float(rows['flag_ratio'].iloc[0]):g}×: differs most in (ZigZag vs ours)"})
        lines += [markdown_table(view), "", "Why each component differs:", ""]
        lines += [f"- **{c}** — {WHY[c]}" for c in dict.fromkeys(flagged["component"]) if c in WHY]
    return lines
