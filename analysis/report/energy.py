"""Q5 (energy once memory is counted) and Q6 (what membrane-potential updates cost)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.methods import Role, StepAxis, first_with_role, get_method, with_role
from analysis.palette import hardware_color, hardware_marker
from analysis.report.plotting import COMPONENT_COLORS, energy_scale, label_bar, log2_x, log_axis, open_panel
from analysis.report.questions import Answer, Panel, Question, panel, register_question
from analysis.report.tables import COMPONENTS, RunTables, method_color, method_label, numeric, select
from analysis.report.text import number, percent, span, times
from analysis.report.verdict import Claim, Verdict, models_text, unanswered

MEMORY = ("weight_memory", "activation_memory", "membrane_memory")  # each with its DRAM part (energy_models)
#: Q5's hardware-dependent claim.
DOMINATES = "memory is at least half of the energy"
#: Q6's hardware-dependent claim, and the share that makes membrane traffic matter.
MATTERS = "membrane traffic is at least 10% of IF's energy"
MEMBRANE_MATTERS = 0.10


def component_shares(run: RunTables, arch: str | None = None) -> pd.DataFrame:
    """Per hardware model and method (stepped ones at T = G = L): total energy and each component's
    share (%), with the memory components' sum."""
    arch = run.first_arch(arch)
    frame = run.reference_frame(arch)
    if frame.empty:
        return pd.DataFrame()
    frame = frame.assign(_order=frame["hardware"].map({m: i for i, m in enumerate(run.hardware_models())}))
    frame = frame.sort_values("_order", kind="stable")
    total = numeric(frame, "energy_pj").replace(0, np.nan)
    table = pd.DataFrame({"hardware": frame["hardware"].to_numpy(), "method": frame["method"].to_numpy(),
                          "label": frame["label"].to_numpy(), "energy_pj": numeric(frame, "energy_pj").to_numpy()})
    for component in COMPONENTS:
        table[f"{component} %"] = (100 * numeric(frame, f"{component}_pj", 0.0) / total).to_numpy()
    table["memory %"] = table[[f"{c} %" for c in MEMORY]].sum(axis=1, min_count=1)
    return table


@panel
def panel_breakdown(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Stacked energy per component per method (T = G = L) under one hardware model; bars from 0."""
    model = hardware[0] if hardware else run.main_hardware()
    rows = run.ladder_rows(run.first_arch(arch), model)
    if not open_panel(ax, xlabel="method", ylabel="energy per inference", title=str(model),
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
    crowded = len(rows) > 6  # upright labels of neighbouring bars would run into each other
    for i, value in enumerate(total / divisor):
        label_bar(ax, f"{value:.3g}", i, bottom[i], fontsize=7, rotation=90 if crowded else 0, offset_pt=2)
    ax.set_ylim(0, max(bottom.max(), 1e-30) * (1.35 if crowded else 1.15))
    ax.set_ylabel(f"energy per inference ({unit})")
    ax.tick_params(axis="x", labelsize=7)
    plt.setp(ax.get_xticklabels(), rotation=55, ha="right", rotation_mode="anchor")
    ax.legend(fontsize=7)


def _subject(run: RunTables) -> str | None:
    """The spiking method a hardware verdict is stated for: OneSpike when the run has it, else the
    first stepped method."""
    stepped = run.stepped_methods()
    return first_with_role(Role.GROUP_CONVERSION, stepped) or (stepped[0] if stepped else None)


def verdict_q5(run: RunTables) -> Verdict:
    arch, steps, subject = run.first_arch(), run.reference_steps(), _subject(run)
    table = component_shares(run, arch)
    if table.empty or subject is None:
        return unanswered("Q5", "not in this run — the memory share is given for the IF SNN and OneSpike, and "
                          "neither is among this run's methods" if not table.empty else "not in this run — no rows")
    rows = select(table, method=subject)
    shares = {r["hardware"]: float(r["memory %"]) / 100 for _, r in rows.iterrows()}
    claims = {(m, DOMINATES): Claim(v >= 0.5, v, percent(v, 0)) for m, v in shares.items()}
    label, total = method_label(subject, steps), len(shares)
    most = [m for m, v in shares.items() if v >= 0.5]
    some = [m for m, v in shares.items() if 0 < v < 0.5]
    none = [m for m, v in shares.items() if v == 0]
    parts = []
    for names in (most, some):
        if names:
            parts.append(f"{span([shares[m] for m in names], lambda v: percent(v, 0))} under "
                         f"{models_text(names, total)}")
    if none:
        parts.append(f"0% under {models_text(none, total, named=5)} (no memory priced)")
    parts[0] = parts[0].replace(" under ", f" of {label}'s energy under ", 1)
    opening = ("Yes, memory dominates" if len(most) == total else "No, memory does not dominate" if not most
               else "Depends on the hardware model")
    sentence = f"{opening}: memory (weights, activations, membranes, DRAM) is " + "; ".join(parts) + "."
    return Verdict("Q5", sentence, {f"{m} memory share": v for m, v in shares.items()}, claims)


def answer_q5(run: RunTables) -> Answer:
    verdict = verdict_q5(run)
    arch, steps = run.first_arch(), run.reference_steps()
    table = component_shares(run, arch)
    if table.empty:
        return Answer.of(verdict, table)
    stepped = run.stepped_methods()
    per_model = []
    for model in run.hardware_models():
        sub = select(table, hardware=model, method=stepped)
        if not sub.empty:
            shares = "/".join(f"{value:.0f}%" for value in sub["memory %"])
            largest = "/".join(row[[f"{c} %" for c in COMPONENTS]].astype(float).idxmax().removesuffix(" %")
                               for _, row in sub.iterrows())
            per_model.append(f"{model} {shares} (largest: {largest})")
    names = "/".join(method_label(m, steps) for m in stepped if not select(table, method=m).empty)
    details = (f"Memory share of energy, {names} (T=G={steps}, {arch}): " + ", ".join(per_model) + "."
               if names else "")
    used = [c for c in table.columns if not c.endswith(" %") or table[c].fillna(0).abs().sum() > 0]
    return Answer.of(verdict, table[[c for c in used if c != "method"]], details)


# -- Q6 ---------------------------------------------------------------------------------------------
def _stepped_rows(run: RunTables, arch: str | None) -> pd.DataFrame:
    stepped = [m for m in run.methods() if get_method(m).stepped]
    return select(run.results, arch=arch, method=stepped, variant="default", T=run.timesteps() or None)


@panel
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


@panel
def panel_membrane_share(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """The membrane-memory share of energy vs T per hardware model (IF solid, OneSpike dashed)."""
    rows = _stepped_rows(run, run.first_arch(arch))
    # the converted pair the question is about, one line per model and method (the directly trained
    # SNNs' membrane accesses are in the panel beside this one)
    pair = rows[rows["method"].isin(with_role(Role.TIME_CONVERSION) + with_role(Role.GROUP_CONVERSION))] \
        if not rows.empty else rows
    rows = pair if not pair.empty else rows
    models = [m for m in (hardware or run.hardware_models())
              if numeric(select(rows, hardware=m), "membrane_memory_pj", 0.0).sum() > 0]
    if not open_panel(ax, xlabel="T (IF) = G (OneSpike)", ylabel="membrane-memory share of energy (%)",
                      title="membrane energy share per hardware model", empty=not models,
                      missing="no model prices membrane memory"):
        return
    styles = {StepAxis.TIME: "-", StepAxis.GROUPS: "--"}
    for model in models:
        for method, sub in select(rows, hardware=model).groupby("method", sort=False):
            sub = sub.sort_values("T")
            share = 100 * numeric(sub, "membrane_memory_pj") / numeric(sub, "energy_pj").replace(0, np.nan)
            first = not any(line.get_label() == model for line in ax.get_lines())
            ax.plot(sub["T"], share, styles[get_method(method).steps], marker=hardware_marker(model), ms=3,
                    color=hardware_color(model),
                    label=model if first else None)
    ax.plot([], [], "k-", label="IF (solid)")
    ax.plot([], [], "k--", label="OneSpike (dashed)")
    ax.set_ylim(bottom=0)
    log2_x(ax, run.timesteps())
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _membrane_accesses(counts: pd.DataFrame, steps: int) -> dict[str, float]:
    out = {}
    for method in counts["method"].unique():
        row = select(counts, method=method, T=steps)
        out[method] = float(row["ops_vmem_reads"].sum() + row["ops_vmem_writes"].sum()) if len(row) else np.nan
    return out


def verdict_q6(run: RunTables) -> Verdict:
    arch, steps = run.first_arch(), run.reference_steps()
    rows = _stepped_rows(run, arch)
    integrate = select(rows, method=run.time_conversion, T=steps).drop_duplicates("hardware")  # first seed
    if integrate.empty:
        return unanswered("Q6", f"not in this run — no IF(T={steps}) rows")
    share = numeric(integrate, "membrane_memory_pj", 0.0) / numeric(integrate, "energy_pj").replace(0, np.nan)
    shares = dict(zip(integrate["hardware"], share.fillna(0.0), strict=True))
    membrane = numeric(integrate, "membrane_memory_pj").replace(0, np.nan)
    dram = numeric(integrate, "membrane_memory_dram_pj", 0.0) / membrane
    dram_part = dict(zip(integrate["hardware"], dram, strict=True))
    claims = {(m, MATTERS): Claim(v >= MEMBRANE_MATTERS, v, percent(v, 0)) for m, v in shares.items()}
    total, label = len(shares), method_label(run.time_conversion, steps)
    big = [m for m, v in shares.items() if v >= MEMBRANE_MATTERS]
    small = [m for m, v in shares.items() if 0 < v < MEMBRANE_MATTERS]
    none = [m for m, v in shares.items() if v == 0]
    parts = []
    for names in (big, small):
        if names:
            values = span([shares[m] for m in names], lambda v: percent(v, 0))
            parts.append(f"{values} under {models_text(names, total)}")
    if none:
        parts.append(f"0% under {models_text(none, total, named=5)} (not priced)")
    parts[0] = parts[0].replace(" under ", f" of {label}'s energy under ", 1)
    top = max(shares, key=shares.get)
    if shares[top] > 0 and np.isfinite(dram_part.get(top, np.nan)) and dram_part[top] > 0:
        parts[0] += f" ({top}: {percent(dram_part[top], 0)} of it DRAM)"
    opening = ("Depends on the hardware model" if big and len(big) < total else
               "A large share under every model" if big else "Little under every model")
    counts = _membrane_accesses(run.per_inference(rows), steps)
    integrate, onespike = run.time_conversion, run.group_conversion
    ratio = counts.get(onespike, np.nan) / counts[integrate] if counts.get(integrate) else np.nan
    energy = _membrane_energy_ratios(run, rows, steps)
    tail = (f"; {method_label(run.group_conversion, steps)}: {times(ratio)} IF's membrane accesses"
            if np.isfinite(ratio) else "")
    if tail and energy:  # the count ratio is not the energy ratio: fixed costs, widths and levels differ
        tail += f", {span(energy.values(), times)} its membrane energy"
    sentence = f"{opening}: membrane traffic is " + "; ".join(parts) + f"{tail}."
    return Verdict("Q6", sentence, {**{f"{m} IF membrane share": v for m, v in shares.items()},
                                    "OneSpike/IF membrane accesses": ratio,
                                    **{f"{m} OneSpike/IF membrane energy": v for m, v in energy.items()}}, claims)


def _membrane_energy_ratios(run: RunTables, rows: pd.DataFrame, steps: int) -> dict[str, float]:
    """OneSpike's membrane energy over IF's at T = G = ``steps``, per hardware model that prices IF's."""
    out = {}
    integrate, onespike = run.time_conversion, run.group_conversion
    for model in dict.fromkeys(rows["hardware"]) if not rows.empty else ():
        pair = {m: numeric(select(rows, method=m, T=steps, hardware=model).head(1), "membrane_memory_pj", 0.0)
                for m in (integrate, onespike)}
        if all(len(v) for v in pair.values()) and float(pair[integrate].iloc[0]) > 0:
            out[model] = float(pair[onespike].iloc[0]) / float(pair[integrate].iloc[0])
    return out


def answer_q6(run: RunTables) -> Answer:
    verdict = verdict_q6(run)
    arch, steps, swept = run.first_arch(), run.reference_steps(), run.timesteps()
    rows = _stepped_rows(run, arch)
    counts = run.per_inference(rows)
    if counts.empty:
        return Answer.of(verdict, counts)
    table = counts[["method", "T", "ops_vmem_reads", "ops_vmem_writes"]].sort_values(["T", "method"])
    accesses = _membrane_accesses(counts, steps)
    bits = [", ".join(f"{method_label(m, steps)} {number(v)}" for m, v in accesses.items())
            + " membrane reads+writes per inference"]
    for method in counts["method"].unique():
        sub = select(rows, method=method, T=steps)
        share = numeric(sub, "membrane_memory_pj", 0.0) / numeric(sub, "energy_pj").replace(0, np.nan)
        if share.notna().any() and share.max() > 0:
            bits.append(f"{get_method(method).short}'s membrane energy share {span(share, percent)} across "
                        f"{sub['hardware'].nunique()} hardware model(s)")
    integrate = select(counts, method=run.time_conversion)
    if len(swept) > 1 and not integrate.empty:
        first, last = select(integrate, T=swept[0]), select(integrate, T=swept[-1])
        if not first.empty and not last.empty and float(first["ops_vmem_reads"].iloc[0]) > 0:
            growth = float(last["ops_vmem_reads"].iloc[0]) / float(first["ops_vmem_reads"].iloc[0])
            bits.append(f"IF's grow {times(growth)} from T={swept[0]} to T={swept[-1]}")
    shares = select(rows, T=steps)
    energy = shares.assign(**{"membrane %": 100 * numeric(shares, "membrane_memory_pj", 0.0)
                              / numeric(shares, "energy_pj").replace(0, np.nan),
                              "of which DRAM %": 100 * numeric(shares, "membrane_memory_dram_pj", 0.0)
                              / numeric(shares, "membrane_memory_pj").replace(0, np.nan)})
    more = {f"Membrane energy share at T=G={steps}": energy[["hardware", "method", "membrane %", "of which DRAM %"]]}
    return Answer.of(verdict, table, "; ".join(bits) + ".", more)


register_question(Question(
    "Q5", "What happens to energy once memory is counted — weight SRAM, activations, membrane potentials?",
    "q5_energy_breakdown", answer_q5, (Panel(panel_breakdown, per_hardware=True),),
    "Read the colours, not only the heights: where one component (often weight memory or DRAM) fills most of "
    "every bar, the methods differ only in what is left.", columns=4, verdict=verdict_q5, shared_legend=True,
))
register_question(Question(
    "Q6", "Most membrane potentials must be updated despite sparse spikes: how much does that cost?",
    "q6_membrane", answer_q6, (Panel(panel_membrane_accesses), Panel(panel_membrane_share)),
    "IF's membrane traffic grows with T while OneSpike's does not carry state across groups; the right panel "
    "says whether that traffic matters under each hardware model.", columns=2, verdict=verdict_q6,
))
