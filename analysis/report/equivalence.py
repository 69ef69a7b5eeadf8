"""Q1 (is OneSpike a quantized ANN in disguise?) and Q2 (is "one timestep" real?)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.methods import Method, Role, first_with_role, get_method
from analysis.report.cycles import cycles_sentence, with_cycles
from analysis.report.plotting import bar_labels, log2_x, open_panel
from analysis.report.questions import Answer, Panel, Question, panel, register_question
from analysis.report.tables import RunTables, method_color, method_label, numeric, select
from analysis.report.text import number, percent, span, times
from analysis.report.verdict import Verdict, unanswered

#: equivalence.csv holds, per stepped method, these two columns (prefix = the method's name).
EQUIVALENCE_METHODS = (Method.ONESPIKE, Method.IF)
FLOOR = 1e-17
#: OneSpike/IF ACs at or above this: the groups do the timesteps' work ("no for work").
SAME_WORK = 0.9
#: A float64 logit difference below this is rounding, not a different network.
EXACT = 1e-9


# -- Q1 ---------------------------------------------------------------------------------------------
@panel
def panel_logit_gap(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Max |logit difference| to the quantized ANN with as many levels, per T (log y; exact 0 drawn
    at 1e-17)."""
    _equivalence_lines(run, ax, "max_abs_logit_diff", "max |logit difference| (0 drawn at 1e-17)",
                       "distance to QCFS(L = T = G)")


@panel
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


def _precision_facts(table: pd.DataFrame) -> list[str]:
    """Facts about precision the equivalence table records beyond the float64 comparison: any
    ``*float32*`` column (the deploy form's level flips and their cause, where the study measures
    them), as ``column max value``."""
    out = []
    for column in [c for c in table.columns if "float32" in c]:
        values = table[column]
        if pd.api.types.is_numeric_dtype(values):
            out.append(f"{column.replace('_', ' ')} up to {number(numeric(table, column).max())}")
        else:
            distinct = [str(v) for v in dict.fromkeys(values.dropna().astype(str)) if v]
            if distinct:
                out.append(f"{column.replace('_', ' ')}: {'; '.join(distinct[:3])}")
    return out


def verdict_q1(run: RunTables) -> Verdict:
    table = run.table("equivalence")
    if table.empty:
        return unanswered("Q1", "not in this run — no equivalence.csv (needs the if and onespike methods)")
    steps = sorted(table["T"].astype(int).unique())
    gap = float(numeric(table, "onespike_max_abs_logit_diff").max())
    agreement = float(numeric(table, "onespike_agreement").min())
    if_gap, if_agreement = numeric(table, "if_max_abs_logit_diff"), numeric(table, "if_agreement")
    images = run.data.get("test_samples")
    same = (f"identical predictions on all {images} images" if agreement == 1 and images else
            f"same class on {percent(agreement)} of images")
    where = f"G={steps[0]}..{steps[-1]}, {table['arch'].nunique()} arch(s)"
    if gap == 0:
        opening = f"Yes: OneSpike(G) reproduces QCFS(L=G)'s logits exactly (max |Δlogit| 0 in float64, {same}, {where})"
    elif gap < EXACT:
        opening = (f"Yes, up to float64 rounding: OneSpike(G) vs QCFS(L=G) max |Δlogit| {number(gap, 2)} "
                   f"({same}, {where})")
    else:
        opening = f"No: OneSpike(G) differs from QCFS(L=G) (max |Δlogit| {number(gap)}, {same}, {where})"
    sentence = (f"{opening}; IF(T) does not (max |Δlogit| up to {number(if_gap.max())}, agreement "
                f"{span(if_agreement, percent)}).")
    return Verdict("Q1", sentence, {"onespike max |Δlogit|": gap, "onespike agreement": agreement,
                                    "if max |Δlogit|": float(if_gap.max())})


def answer_q1(run: RunTables) -> Answer:
    verdict, table = verdict_q1(run), run.table("equivalence")
    if table.empty:
        return Answer.of(verdict, table)
    worst = table.loc[numeric(table, "if_max_abs_logit_diff").idxmax()]
    details = (f"Compared in float64 (the quantized ANN and both converted networks in double precision, so "
               f"that folding batch norm adds no float32 rounding of its own); IF(T)'s largest distance is at "
               f"T={int(worst['T'])} ({worst['arch']}).")
    facts = _precision_facts(table)
    details += (" Float32 deploy form: " + "; ".join(facts) + "." if facts else
                " This run records no float32 comparison (no float32 column in equivalence.csv).")
    return Answer.of(verdict, table, details)


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


@panel
def panel_latency(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Sequential steps per inference of each stepped method, per T."""
    _bars(run, ax, arch, "latency_steps", "sequential steps per inference", "latency (steps)")


@panel
def panel_groups(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Parallel groups per step of each stepped method, per T."""
    _bars(run, ax, arch, "groups", "parallel groups per step", "parallelism (groups)")


@panel
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
    quantized = run.present_rows(run.quantized_parent, arch=arch)
    if not quantized.empty:  # the count that is priced: zero-gated MACs where the run records them
        gated = numeric(quantized, "ops_mac_nonzero")
        macs, label = ((gated, "QCFS ANN: zero-gated MACs") if gated.notna().any()
                       else (numeric(quantized, "ops_mac"), "QCFS ANN: MACs"))
        ax.axhline(float(macs.iloc[0]), color=method_color(run.quantized_parent), ls="--", lw=1, label=label)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)


def _q2_row(counts: pd.DataFrame, method: str, steps: int) -> pd.Series | None:
    row = select(counts, method=method, T=steps)
    return None if row.empty else row.iloc[0]


def verdict_q2(run: RunTables) -> Verdict:
    arch, steps = run.first_arch(), run.reference_steps()
    _, _, counts = _stepped_counts(run, arch)
    pair = run.time_conversion, run.group_conversion
    integrate, onespike = _q2_row(counts, pair[0], steps), _q2_row(counts, pair[1], steps)
    if integrate is None or onespike is None:
        return unanswered("Q2", f"not in this run — needs {method_label(pair[0], steps)} and "
                          f"{method_label(pair[1], steps)} rows")
    ratio = float(onespike["ops_ac"]) / float(integrate["ops_ac"]) if float(integrate["ops_ac"]) > 0 else float("nan")
    groups = number(onespike["groups"])
    # the latency in steps is the method's declaration (its groups are parallel by definition), not a
    # measured or priced hardware time: say so, and what G parallel groups take in hardware
    latency = (f"{method_label(pair[1], steps)}'s {number(onespike['latency_steps'])} step vs "
               f"{method_label(pair[0], steps)}'s {number(integrate['latency_steps'])} is declared (its {groups} "
               f"groups run in parallel, unpriced); in hardware {groups} groups need {groups}× the units or "
               f"{groups}× the cycles")
    if ratio >= SAME_WORK:
        work = "and no for work"
    elif ratio >= 0.5:
        work = "and mostly not for work"
    else:
        work = "with fewer accumulates"
    sentence = (f"Only by construction, {work}: {latency}; its groups do {times(ratio)} IF's accumulates "
                f"({number(onespike['ops_ac'])} vs {number(integrate['ops_ac'])} ACs per inference, {arch}).")
    return Verdict("Q2", sentence, {"OneSpike/IF ACs": ratio, "OneSpike latency": float(onespike["latency_steps"]),
                                    "IF latency": float(integrate["latency_steps"])})


def answer_q2(run: RunTables) -> Answer:
    verdict = verdict_q2(run)
    arch = run.first_arch()
    swept, methods, counts = _stepped_counts(run, arch)
    columns = ["method", "T", "latency_steps", "groups", "ops_ac", "ops_add"]
    counts = select(counts, method=methods)
    table = counts[[c for c in columns if c in counts.columns]].sort_values(["T", "method"]) if methods else counts
    table = with_cycles(run, table, arch) if methods else table  # cycles beside steps, where a model maps layers
    ratios = []
    pair = first_with_role(Role.GROUP_CONVERSION, methods), first_with_role(Role.TIME_CONVERSION, methods)
    if all(pair):
        for t in swept:
            onespike, integrate = _q2_row(counts, pair[0], t), _q2_row(counts, pair[1], t)
            if onespike is not None and integrate is not None and float(integrate["ops_ac"]) > 0:
                ratios.append(float(onespike["ops_ac"]) / float(integrate["ops_ac"]))
    details = (f"OneSpike/IF ACs {span(ratios, times)} over T in {swept[0]}..{swept[-1]}; " if ratios else "")
    quantized = run.present_rows(run.quantized_parent, arch=arch)
    if not quantized.empty:
        gated = numeric(quantized, "ops_mac_nonzero")
        count = gated if gated.notna().any() else numeric(quantized, "ops_mac")
        what = "zero-gated MACs (the count a zero-skipping model prices)" if gated.notna().any() else "dense MACs"
        details += f"the quantized ANN QCFS(L={run.levels()}) does {number(count.iloc[0])} {what} per inference."
    details += " " + cycles_sentence(run, arch, run.reference_steps())
    return Answer.of(verdict, table, details.strip())


register_question(Question(
    "Q1", "Is a OneSpike/PSG network just an activation-quantized network (QCFS) in disguise?", "q1_equivalence",
    answer_q1, (Panel(panel_logit_gap), Panel(panel_agreement)),
    "OneSpike's curve at the floor means its logits equal the quantized ANN's bit for bit; IF's distance and "
    "agreement show how far a T-step IF SNN is from the same quantized ANN.", columns=2, all_archs=True,
    verdict=verdict_q1,
))
register_question(Question(
    "Q2", 'Is "one timestep" real, or are the T timesteps just moved into G groups?', "q2_steps_groups_acs",
    answer_q2, (Panel(panel_latency), Panel(panel_groups), Panel(panel_accumulates)),
    "Compare the third panel's bars of IF and OneSpike at the same T: equal heights mean the groups do the "
    "same accumulation work as the timesteps, only in parallel (first two panels).", verdict=verdict_q2,
))
