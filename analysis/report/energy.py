"""Q5 (energy once memory is counted) and Q6 (what membrane-potential updates cost)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.methods import Method, StepAxis, get_method
from analysis.report.plotting import COMPONENT_COLORS, energy_scale, log2_x, log_axis, open_panel
from analysis.report.questions import Answer, Panel, Question, register_question
from analysis.report.tables import COMPONENTS, RunTables, method_color, method_label, numeric, select
from analysis.report.text import not_in_run, number, percent, span, times

MEMORY = ("weight_memory", "activation_memory", "membrane_memory")  # each with its DRAM part (energy_models)


def component_shares(run: RunTables, arch: str | None = None) -> pd.DataFrame:
    """Per hardware model and method (stepped ones at T = G = L): total energy and each component's
    share (%), with the memory components' sum."""
    arch, steps = run.first_arch(arch), run.reference_steps()
    rows = []
    for model in run.hardware_models():
        for _, row in run.ladder_rows(arch, model, steps).iterrows():
            total = float(row["energy_pj"])
            entry = {"hardware": model, "method": row["method"], "label": row["label"], "energy_pj": total}
            for component in COMPONENTS:
                entry[f"{component} %"] = 100 * float(row.get(f"{component}_pj", 0.0)) / total if total > 0 else np.nan
            entry["memory %"] = sum(entry[f"{c} %"] for c in MEMORY)
            rows.append(entry)
    return pd.DataFrame(rows)


def panel_breakdown(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Stacked energy per component per method (T = G = L) under one hardware model; bars from 0."""
    model = hardware[0] if hardware else run.main_hardware()
    rows = run.ladder_rows(run.first_arch(arch), model)
    if not open_panel(ax, xlabel="method", ylabel="energy per inference", title=str(model), title_size=10,
                      empty=rows.empty):
        return
    total = numeric(rows, "energy_pj").to_numpy()
    divisor, unit = energy_scale(total)
    bottom = np.zeros(len(rows))
    for component in COMPONENTS:
        values = numeric(rows, f"{component}_pj", 0.0).to_numpy() / divisor
        if values.sum() > 0:
            ax.bar(rows["label"], values, bottom=bottom, color=COMPONENT_COLORS[component],
                   label=component.replace("_", " "))
            bottom += values
    for i, value in enumerate(total / divisor):
        ax.annotate(f"{value:.3g}", (i, bottom[i]), ha="center", va="bottom", fontsize=7)
    ax.set_ylim(0, max(bottom.max(), 1e-30) * 1.15)
    ax.set_ylabel(f"energy per inference ({unit})")
    ax.tick_params(axis="x", rotation=40, labelsize=7)
    ax.legend(fontsize=6)


def answer_q5(run: RunTables) -> Answer:
    arch, steps = run.first_arch(), run.reference_steps()
    table = component_shares(run, arch)
    if table.empty:
        return Answer(not_in_run("Q5", "no per-method rows"), table)
    stepped = [m for m in run.methods() if get_method(m).stepped]
    per_model = []
    for model in run.hardware_models():
        sub = select(table, hardware=model, method=stepped)
        if not sub.empty:
            shares = "/".join(f"{value:.0f}%" for value in sub["memory %"])
            largest = "/".join(row[[f"{c} %" for c in COMPONENTS]].astype(float).idxmax().removesuffix(" %")
                               for _, row in sub.iterrows())
            per_model.append(f"{model} {shares} (largest: {largest})")
    names = "/".join(method_label(m, steps) for m in stepped if not select(table, method=m).empty)
    if not names:  # the share is read off the spiking methods' rows: none in this run
        return Answer(not_in_run("Q5", "n/a: the memory share is given for the IF SNN and OneSpike, and neither is "
                                 "among this run's methods"), table)
    line = (f"Q5 ({arch}, T=G={steps}): memory (weight+activation+membrane+DRAM) share of energy, {names}: "
            + ", ".join(per_model) + ".")
    used = [c for c in table.columns if not c.endswith(" %") or table[c].fillna(0).abs().sum() > 0]
    return Answer(line, table[[c for c in used if c != "method"]])


# -- Q6 ---------------------------------------------------------------------------------------------
def _stepped_rows(run: RunTables, arch: str | None) -> pd.DataFrame:
    stepped = [m for m in run.methods() if get_method(m).stepped]
    return select(run.results, arch=arch, method=stepped, variant="default", T=run.timesteps() or None)


def panel_membrane_accesses(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Membrane-potential reads (solid) and writes (dashed) per inference vs T."""
    counts = run.per_inference(_stepped_rows(run, run.first_arch(arch)))
    if not open_panel(ax, xlabel="T (IF) = G (OneSpike)", ylabel="membrane accesses per inference (log)",
                      title="membrane-potential reads / writes", empty=counts.empty, missing="no stepped-method rows"):
        return
    for method, rows in counts.groupby("method", sort=False):
        rows = rows.sort_values("T")
        short = get_method(method).short
        ax.plot(rows["T"], numeric(rows, "ops_vmem_reads"), "-", marker="o", color=method_color(method),
                label=f"{short}: reads")
        ax.plot(rows["T"], numeric(rows, "ops_vmem_writes"), "--", marker="s", color=method_color(method),
                label=f"{short}: writes")
    log_axis(ax)
    log2_x(ax, run.timesteps())
    ax.legend(fontsize=7)


def panel_membrane_share(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """The membrane-memory share of energy vs T per hardware model (IF solid, OneSpike dashed)."""
    rows = _stepped_rows(run, run.first_arch(arch))
    models = [m for m in (hardware or run.hardware_models())
              if numeric(select(rows, hardware=m), "membrane_memory_pj", 0.0).sum() > 0]
    if not open_panel(ax, xlabel="T (IF) = G (OneSpike)", ylabel="membrane-memory share of energy (%)",
                      title="membrane energy share per hardware model", empty=not models,
                      missing="no model prices membrane memory"):
        return
    styles = {StepAxis.TIME: "-", StepAxis.GROUPS: "--"}
    for index, model in enumerate(models):
        for method, sub in select(rows, hardware=model).groupby("method", sort=False):
            sub = sub.sort_values("T")
            share = 100 * numeric(sub, "membrane_memory_pj") / numeric(sub, "energy_pj").replace(0, np.nan)
            ax.plot(sub["T"], share, styles[get_method(method).steps], marker="o", ms=3, color=f"C{index % 10}",
                    label=model if get_method(method).is_time_stepped else None)
    ax.plot([], [], "k-", label="IF (solid)")
    ax.plot([], [], "k--", label="OneSpike (dashed)")
    ax.set_ylim(bottom=0)
    log2_x(ax, run.timesteps())
    ax.legend(fontsize=6)


def answer_q6(run: RunTables) -> Answer:
    arch, steps, swept = run.first_arch(), run.reference_steps(), run.timesteps()
    rows = _stepped_rows(run, arch)
    counts = run.per_inference(rows)
    if counts.empty:
        return Answer(not_in_run("Q6", "no IF or OneSpike rows"), counts)
    table = counts[["method", "T", "ops_vmem_reads", "ops_vmem_writes"]].sort_values(["T", "method"])
    accesses = {}
    for method in counts["method"].unique():
        row = select(counts, method=method, T=steps)
        accesses[method] = float(row["ops_vmem_reads"].sum() + row["ops_vmem_writes"].sum()) if len(row) else np.nan
    bits = [", ".join(f"{method_label(m, steps)} {number(v)}" for m, v in accesses.items())
            + " membrane reads+writes per inference"]
    if {Method.IF, Method.ONESPIKE} <= set(accesses) and accesses[Method.IF] > 0:
        bits[0] += f" (OneSpike/IF {times(accesses[Method.ONESPIKE] / accesses[Method.IF])})"
    for method in counts["method"].unique():
        sub = select(rows, method=method, T=steps)
        share = numeric(sub, "membrane_memory_pj", 0.0) / numeric(sub, "energy_pj").replace(0, np.nan)
        if share.notna().any() and share.max() > 0:
            bits.append(f"{get_method(method).short}'s membrane energy share {span(share, percent)} across "
                        f"{sub['hardware'].nunique()} hardware model(s)")
    integrate = select(counts, method=Method.IF)
    if len(swept) > 1 and not integrate.empty:
        first, last = select(integrate, T=swept[0]), select(integrate, T=swept[-1])
        if not first.empty and not last.empty and float(first["ops_vmem_reads"].iloc[0]) > 0:
            growth = float(last["ops_vmem_reads"].iloc[0]) / float(first["ops_vmem_reads"].iloc[0])
            bits.append(f"IF's grow {times(growth)} from T={swept[0]} to T={swept[-1]}")
    return Answer(f"Q6 ({arch}): " + "; ".join(bits) + ".", table)


register_question(Question(
    "Q5", "What happens to energy once memory is counted — weight SRAM, activations, membrane potentials?",
    "q5_energy_breakdown", answer_q5, (Panel(panel_breakdown, per_hardware=True),),
    "Read the colours, not only the heights: where one component (often weight memory or DRAM) fills most of "
    "every bar, the methods differ only in what is left.", columns=4,
))
register_question(Question(
    "Q6", "Most membrane potentials must be updated despite sparse spikes: how much does that cost?",
    "q6_membrane", answer_q6, (Panel(panel_membrane_accesses), Panel(panel_membrane_share)),
    "IF's membrane traffic grows with T while OneSpike's does not carry state across groups; the right panel "
    "says whether that traffic matters under each hardware model.", columns=2,
))
