"""Q1 (is OneSpike a quantized ANN in disguise?) and Q2 (is "one timestep" real?)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.methods import Method, get_method
from analysis.report.plotting import bar_labels, log2_x, open_panel
from analysis.report.questions import Answer, Panel, Question, register_question
from analysis.report.tables import RunTables, method_color, method_label, numeric, select
from analysis.report.text import not_in_run, number, percent, span, times

#: equivalence.csv holds, per stepped method, these two columns (prefix = the method's name).
EQUIVALENCE_METHODS = (Method.ONESPIKE, Method.IF)
FLOOR = 1e-17


# -- Q1 ---------------------------------------------------------------------------------------------
def panel_logit_gap(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Max |logit difference| to the quantized ANN with as many levels, per T (log y; exact 0 drawn
    at 1e-17)."""
    _equivalence_lines(run, ax, "max_abs_logit_diff", "max |logit difference| (0 drawn at 1e-17)",
                       "distance to QCFS(L = T = G)")


def panel_agreement(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Prediction agreement with the quantized ANN with as many levels, per T."""
    _equivalence_lines(run, ax, "agreement", "same predicted class as QCFS (%)", "prediction agreement")
    ax.set_ylim(0, 102)


def _equivalence_lines(run: RunTables, ax: Axes, measure: str, ylabel: str, title: str) -> None:
    table = run.table("equivalence")
    if not open_panel(ax, xlabel="T = G = levels of the quantized ANN", ylabel=ylabel, title=title, empty=table.empty,
                      missing="equivalence.csv"):
        return
    styles = ["-", "--", ":", "-."]
    for index, (arch, rows) in enumerate(table.groupby("arch", sort=False)):
        rows = rows.sort_values("T")
        for method in EQUIVALENCE_METHODS:
            values = numeric(rows, f"{method}_{measure}")
            values = values.clip(lower=FLOOR) if measure == "max_abs_logit_diff" else 100 * values
            ax.plot(rows["T"], values, styles[index % 4], marker="o", color=method_color(method),
                    label=f"{get_method(method).short} vs QCFS, {arch}")
    if measure == "max_abs_logit_diff":
        ax.set_yscale("log")
    log2_x(ax, sorted(table["T"].astype(int).unique()))
    ax.legend(fontsize=7)


def answer_q1(run: RunTables) -> Answer:
    table = run.table("equivalence")
    if table.empty:
        return Answer(not_in_run("Q1", "no equivalence.csv (needs the if and onespike methods)"), table)
    steps = sorted(table["T"].astype(int).unique())
    onespike_gap = float(numeric(table, "onespike_max_abs_logit_diff").max())
    if_gap = numeric(table, "if_max_abs_logit_diff")
    worst = table.loc[if_gap.idxmax()]
    gap_text = "0 (bit-identical)" if onespike_gap == 0 else number(onespike_gap, 2)
    line = (
        f"Q1: OneSpike(G) vs QCFS(L=G) on the same weights: max |logit difference| {gap_text}, agreement "
        f"≥ {percent(numeric(table, 'onespike_agreement').min())}, for G in {steps[0]}..{steps[-1]} over "
        f"{table['arch'].nunique()} arch(s); IF(T) vs QCFS(L=T): max |logit difference| up to "
        f"{number(if_gap.max())} (T={int(worst['T'])}, {worst['arch']}), agreement "
        f"{span(numeric(table, 'if_agreement'), percent)}."
    )
    return Answer(line, table)


# -- Q2 ---------------------------------------------------------------------------------------------
def _stepped_counts(run: RunTables, arch: str | None) -> tuple[list[int], list[str], pd.DataFrame]:
    steps = run.timesteps()
    counts = select(run.per_inference(), arch=arch, variant="default", T=steps or None)
    methods = [m for m in run.methods() if get_method(m).stepped and not select(counts, method=m).empty]
    return steps, methods, counts


def _method_groups(run: RunTables, ax: Axes, arch: str | None, ylabel: str,
                   title: str) -> tuple[list[int], list[tuple[str, pd.DataFrame, np.ndarray, float]]]:
    """Label ``ax`` and lay out one bar group per T: ``(steps, [(method, rows by T, x, width)])``
    for each stepped method (empty, with a no-data note, when the run has none)."""
    steps, methods, counts = _stepped_counts(run, arch)
    if not open_panel(ax, xlabel="T (IF) = G (OneSpike)", ylabel=ylabel, title=title, empty=not methods,
                      missing="no stepped-method rows"):
        return steps, []
    x = np.arange(len(steps))
    width = 0.8 / len(methods)
    groups = []
    for k, method in enumerate(methods):
        rows = select(counts, method=method).drop_duplicates("T").set_index("T").reindex(steps)
        groups.append((method, rows, x + (k - (len(methods) - 1) / 2) * width, width))
    ax.set_xticks(x)
    ax.set_xticklabels([str(t) for t in steps])
    return steps, groups


def _bars(run: RunTables, ax: Axes, arch: str | None, column: str, ylabel: str, title: str) -> None:
    _, groups = _method_groups(run, ax, arch, ylabel, title)
    for method, rows, x, width in groups:
        bars = ax.bar(x, numeric(rows, column), width, color=method_color(method), label=get_method(method).label)
        bar_labels(ax, bars, "{:.0f}")
    if groups:
        ax.legend(fontsize=7)


def panel_latency(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Sequential steps per inference of each stepped method, per T."""
    _bars(run, ax, arch, "latency_steps", "sequential steps per inference", "latency (steps)")


def panel_groups(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Parallel groups per step of each stepped method, per T."""
    _bars(run, ax, arch, "groups", "parallel groups per step", "parallelism (groups)")


def panel_accumulates(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """ACs (solid) and other adds (hatched) per inference of each stepped method, per T; the
    quantized ANN's MACs as a dashed line. Linear axis from zero."""
    _, groups = _method_groups(run, ax, arch, "operations per inference", "accumulates + other adds")
    if not groups:
        return
    for method, rows, x, width in groups:
        accumulates, adds = numeric(rows, "ops_ac"), numeric(rows, "ops_add")
        short = get_method(method).short
        ax.bar(x, accumulates, width, color=method_color(method), label=f"{short}: ACs")
        ax.bar(x, adds, width, bottom=accumulates, color=method_color(method), alpha=0.45, hatch="//",
               label=f"{short}: other adds")
    quantized = run.present_rows(Method.QCFS, arch=arch)
    if not quantized.empty:
        ax.axhline(float(numeric(quantized, "ops_mac").iloc[0]), color=method_color(Method.QCFS), ls="--", lw=1,
                   label="QCFS ANN: MACs")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)


def answer_q2(run: RunTables) -> Answer:
    arch, steps = run.first_arch(), run.reference_steps()
    swept, methods, counts = _stepped_counts(run, arch)
    columns = ["method", "T", "latency_steps", "groups", "ops_mac", "ops_ac", "ops_add"]
    table = counts[[c for c in columns if c in counts.columns]].sort_values(["T", "method"]) if methods else counts
    if not methods:
        return Answer(not_in_run("Q2", "no IF or OneSpike rows"), table)
    parts = []
    for method in methods:
        row = select(counts, method=method, T=steps)
        if row.empty:
            continue
        row = row.iloc[0]
        parts.append(
            f"{method_label(method, steps)} takes {number(row['latency_steps'])} sequential step(s) × "
            f"{number(row['groups'])} parallel group(s) and {number(row['ops_ac'])} ACs + "
            f"{number(row['ops_add'])} other adds per inference"
        )
    ratios = []
    if {Method.IF, Method.ONESPIKE} <= set(methods):
        for t in swept:
            onespike, integrate = select(counts, method=Method.ONESPIKE, T=t), select(counts, method=Method.IF, T=t)
            if not onespike.empty and not integrate.empty and float(integrate["ops_ac"].iloc[0]) > 0:
                ratios.append(float(onespike["ops_ac"].iloc[0]) / float(integrate["ops_ac"].iloc[0]))
    tail = f" (OneSpike/IF ACs {span(ratios, times)} over T in {swept[0]}..{swept[-1]})" if ratios else ""
    return Answer(f"Q2 ({arch}): " + "; ".join(parts) + tail + ".", table)


register_question(Question(
    "Q1", "Is a OneSpike/PSG network just an activation-quantized network (QCFS) in disguise?", "q1_equivalence",
    answer_q1, (Panel(panel_logit_gap), Panel(panel_agreement)),
    "OneSpike's curve at the floor means its logits equal the quantized ANN's bit for bit; IF's distance and "
    "agreement show how far a T-step IF SNN is from the same quantized ANN.", columns=2, all_archs=True,
))
register_question(Question(
    "Q2", 'Is "one timestep" real, or are the T timesteps just moved into G groups?', "q2_steps_groups_acs",
    answer_q2, (Panel(panel_latency), Panel(panel_groups), Panel(panel_accumulates)),
    "Compare the third panel's bars of IF and OneSpike at the same T: equal heights mean the groups do the "
    "same accumulation work as the timesteps, only in parallel (first two panels).",
))
