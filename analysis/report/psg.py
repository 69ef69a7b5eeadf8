"""Q3 (what do PSG's multiply and modulus cost?) and Q4 (does PSG approximate a value better than IF?).

Q3 compares exact PSG (mul/mod, variant ``exact_pow2``) with hardware PSG (shift/mask, variant
``hardware``) on the same power-of-two-rounded network: the spikes are the same, so the energy
difference is the price of mul/mod alone. The accuracy effect of rounding the thresholds is shown
separately (QCFS ``pow2`` against QCFS ``default``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.methods import Method
from analysis.report.plotting import bar_labels, log2_x, log_axis, no_data, open_panel
from analysis.report.questions import Answer, Panel, Question, register_question
from analysis.report.tables import RunTables, method_color, numeric, select
from analysis.report.text import not_in_run, number, percent, span
from analysis.report.uncertainty import accuracy_of, difference_text
from energy_models import SYNAPTIC_KINDS
from energy_models.ledger import EVENTS

#: Ledger events that are arithmetic (the op mix); the rest are memory traffic and spike counts.
ARITHMETIC = tuple(e for e in EVENTS if e not in
                   ("spikes", "weight_reads", "input_reads", "output_writes", "vmem_reads", "vmem_writes"))
SPIKE_GENERATION_KIND = "neuron"


def psg_modes(run: RunTables) -> tuple[str, str, bool]:
    """(exact variant, hardware variant, same network?): ``exact_pow2`` vs ``hardware`` where the run
    has them, else ``default`` vs ``hardware`` (thresholds not rounded alike: not the same spikes)."""
    onespike = select(run.results, method=Method.ONESPIKE)
    variants = set(onespike["variant"]) if "variant" in run.results.columns else set()
    if "exact_pow2" in variants:
        return "exact_pow2", "hardware", True
    return "default", "hardware", False


def _mode_steps(run: RunTables, arch: str | None) -> int | None:
    exact, hardware, _ = psg_modes(run)
    rows = select(run.results, arch=arch, method=Method.ONESPIKE)
    both = sorted(set(select(rows, variant=exact)["T"]) & set(select(rows, variant=hardware)["T"]))
    if not both:
        return None
    reference = run.reference_steps()
    return reference if reference in both else int(both[-1])


def op_mix(run: RunTables, arch: str | None = None, steps: int | None = None) -> pd.DataFrame:
    """Per PSG mode: every arithmetic op per spike-generating neuron per group (PSG layers), and the
    ops per inference of the layers that are neither synaptic nor PSG (pooling, readout), by kind."""
    arch = run.first_arch(arch)
    steps = _mode_steps(run, arch) if steps is None else steps
    layers = select(run.table("layers"), arch=arch, method=Method.ONESPIKE, T=steps)
    exact, hardware, _ = psg_modes(run)
    rows = []
    for variant, mode in ((exact, "exact"), (hardware, "hardware")):
        mode_layers = select(layers, variant=variant)
        if "seed" in mode_layers.columns:
            mode_layers = select(mode_layers, seed=mode_layers["seed"].min())
        if mode_layers.empty:
            continue
        psg = select(mode_layers, kind=SPIKE_GENERATION_KIND)
        per = float(numeric(psg, "neurons").sum()) * max(steps or 1, 1)
        rows.append({"mode": mode, "where": "PSG, per neuron per group",
                     **{e: float(numeric(psg, e).sum()) / per for e in ARITHMETIC}})
        others = mode_layers[~mode_layers["kind"].isin([SPIKE_GENERATION_KIND, *SYNAPTIC_KINDS])]
        for kind, group in others.groupby("kind", sort=False):
            counts = {e: float(numeric(group, e).sum()) for e in ARITHMETIC}
            if any(counts.values()):
                names = "+".join(group["name"].astype(str)) if "name" in group.columns else kind
                rows.append({"mode": mode, "where": f"{kind} {names}, per inference", **counts})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    used = [e for e in ARITHMETIC if table[e].abs().sum() > 0]
    return table[["mode", "where", *used]]


def panel_op_mix(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Every arithmetic op kind per PSG neuron per group, exact (solid) vs hardware mode (hatched)."""
    table = op_mix(run, arch)
    psg = table[table["where"].str.startswith("PSG")] if not table.empty else table
    if not open_panel(ax, xlabel="operation", ylabel="operations per neuron per group", empty=psg.empty,
                      missing="no OneSpike layer rows"):
        return
    events = [c for c in psg.columns if c not in ("mode", "where")]
    x = np.arange(len(events))
    for k, (_, row) in enumerate(psg.iterrows()):
        bars = ax.bar(x + (k - 0.5) * 0.4, [row[e] for e in events], 0.4, color=method_color(Method.ONESPIKE),
                      hatch="" if row["mode"] == "exact" else "//", edgecolor="white", alpha=1 - 0.4 * k,
                      label=f"{row['mode']} mode")
        bar_labels(ax, bars, "{:.2g}")
    ax.set_xticks(x)
    ax.set_xticklabels(events)
    ax.legend(fontsize=8)
    ax.set_title(f"PSG op mix at G={_mode_steps(run, arch)}", fontsize=9)


def panel_other_ops(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Ops outside the PSG layers (pooling, readout) per inference, hardware mode: these shifts and
    adds are not spike generation."""
    table = op_mix(run, arch)
    other = table[(table["mode"] == "hardware") & ~table["where"].str.startswith("PSG")] if not table.empty else table
    if not open_panel(ax, xlabel="layer kind: operation", ylabel="operations per inference",
                      title="outside PSG (pooling, readout), hardware mode", empty=other.empty,
                      missing="no pooling/readout ops"):
        return
    labels, values = [], []
    for _, row in other.iterrows():
        for event in [c for c in other.columns if c not in ("mode", "where")]:
            if row[event] > 0:
                labels.append(f"{row['where'].split(',')[0]}: {event}")
                values.append(row[event])
    bars = ax.bar(range(len(values)), values, color="#8c8c8c")
    bar_labels(ax, bars, "{:.3g}")
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(labels, rotation=35, ha="right", fontsize=7)


def mul_mod_price(run: RunTables, arch: str | None = None) -> pd.DataFrame:
    """Per hardware model: OneSpike's energy in exact and hardware mode at one G and the share of the
    exact mode's energy that mul/mod cost (exact − hardware, over exact)."""
    arch = run.first_arch(arch)
    steps = _mode_steps(run, arch)
    exact, hardware, _ = psg_modes(run)
    rows = []
    for model in run.hardware_models():
        e = numeric(run.rows(Method.ONESPIKE, arch=arch, steps=steps, variant=exact, hardware=model), "energy_pj")
        h = numeric(run.rows(Method.ONESPIKE, arch=arch, steps=steps, variant=hardware, hardware=model), "energy_pj")
        if e.empty or h.empty:
            continue
        e_pj, h_pj = float(e.iloc[0]), float(h.iloc[0])
        rows.append({"hardware": model, "G": steps, "exact_pj": e_pj, "hardware_pj": h_pj,
                     "mul/mod share %": 100 * (e_pj - h_pj) / e_pj if e_pj > 0 else float("nan")})
    return pd.DataFrame(rows)


def panel_mul_mod_price(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """The share of exact PSG's energy that its mul/mod cost, per hardware model (same spikes)."""
    table = mul_mod_price(run, arch)
    if hardware and not table.empty:
        table = table[table["hardware"].isin(hardware)]
    if not open_panel(ax, xlabel="hardware model", ylabel="(exact − hardware) / exact energy (%)",
                      title="what mul/mod cost", empty=table.empty, missing="no exact + hardware OneSpike rows"):
        return
    bars = ax.bar(range(len(table)), table["mul/mod share %"], color=method_color(Method.ONESPIKE))
    bar_labels(ax, bars, "{:.2g}")
    ax.axhline(0, color="#555555", lw=0.8)
    ax.set_xticks(range(len(table)))
    ax.set_xticklabels(table["hardware"], rotation=35, ha="right", fontsize=8)


def panel_mode_accuracy(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Accuracy per G of OneSpike default, exact on the rounded network and hardware mode, with 95%
    Wilson intervals."""
    arch = run.first_arch(arch)
    open_panel(ax, xlabel="G (groups)", ylabel="test accuracy (%)", title="accuracy of each PSG mode (95% interval)")
    exact, hardware_variant, _ = psg_modes(run)
    rows = select(run.per_inference(), arch=arch, method=Method.ONESPIKE)
    drew = []
    for variant, style in (("default", "-"), (exact, "--"), (hardware_variant, ":")):
        steps = sorted({int(t) for t in select(rows, variant=variant)["T"]}) if not rows.empty else []
        if variant in [d for d, _ in drew] or not steps:
            continue
        accuracies = [accuracy_of(run.rows(Method.ONESPIKE, arch=arch, steps=t, variant=variant)) for t in steps]
        means = np.array([100 * a.mean for a in accuracies])
        errors = np.array([[100 * (a.mean - a.low) for a in accuracies], [100 * (a.high - a.mean) for a in accuracies]])
        ax.errorbar(steps, means, yerr=np.nan_to_num(errors), fmt=style, marker="o", capsize=3, label=variant)
        drew.append((variant, steps))
    if not drew:
        no_data(ax, "no OneSpike rows")
        return
    log2_x(ax, sorted({t for _, s in drew for t in s}))
    ax.legend(fontsize=8)


def answer_q3(run: RunTables) -> Answer:
    arch = run.first_arch()
    steps = _mode_steps(run, arch)
    if steps is None:
        return Answer(not_in_run("Q3", "no OneSpike rows in both exact and hardware PSG mode"), pd.DataFrame())
    exact, hardware, same_network = psg_modes(run)
    table = op_mix(run, arch, steps)
    bits = []
    for mode in ("exact", "hardware"):
        psg = table[(table["mode"] == mode) & table["where"].str.startswith("PSG")] if not table.empty else table
        if not psg.empty:
            row = psg.iloc[0]
            ops = " + ".join(f"{number(row[e])} {e}" for e in table.columns[2:] if row[e] > 0)
            bits.append(f"{mode} PSG does {ops} per neuron per group")
    other = table[(table["mode"] == "hardware") & ~table["where"].str.startswith("PSG")] if not table.empty else table
    if not other.empty:
        outside = ", ".join(f"{row['where'].split(',')[0]} "
                            + " + ".join(f"{number(row[e])} {e}" for e in table.columns[2:] if row[e] > 0)
                            for _, row in other.iterrows())
        bits.append(f"outside PSG per inference: {outside}")
    price = mul_mod_price(run, arch)
    if not price.empty:
        bits.append(f"mul/mod cost {span(price['mul/mod share %'] / 100, percent)} of exact PSG's energy across "
                    f"{len(price)} hardware model(s)" + ("" if same_network else
                                                         " (no exact_pow2 rows: this mixes mul/mod with rounding)"))
    exact_acc = accuracy_of(run.rows(Method.ONESPIKE, arch=arch, steps=steps, variant=exact))
    hardware_acc = accuracy_of(run.rows(Method.ONESPIKE, arch=arch, steps=steps, variant=hardware))
    bits.append(f"accuracy {exact} {exact_acc.text()} vs hardware {hardware_acc.text()} "
                f"({difference_text(hardware_acc, exact_acc)})")
    rounded = run.present_rows(Method.QCFS, arch=arch, variant="pow2")
    if rounded.empty:
        bits.append("rounding thresholds to powers of two: not in this run (no qcfs pow2 rows)")
    else:
        base, pow2 = accuracy_of(run.rows(Method.QCFS, arch=arch)), accuracy_of(rounded)
        bits.append(f"rounding QCFS thresholds to powers of two: {base.text()} → {pow2.text()} "
                    f"({difference_text(pow2, base)})")
    return Answer(f"Q3 ({arch}, G={steps}): " + "; ".join(bits) + ".", table)


# -- Q4 ---------------------------------------------------------------------------------------------
def panel_worked_example(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """The seed's worked example as a raster: IF row vs PSG row for the same inputs."""
    worked = run.table("worked_example")
    if not open_panel(ax, xlabel="timestep (IF) / group (PSG)", ylabel="neuron",
                      title="worked example: same inputs, different spike trains", empty=worked.empty,
                      missing="worked_example.csv"):
        return
    steps = worked["step"].to_numpy()
    for y, column, method in ((1, "if_spike", Method.IF), (0, "psg_spike", Method.ONESPIKE)):
        spikes = numeric(worked, column).to_numpy()
        ax.scatter(steps, np.full(len(steps), y), s=[260 if s > 0 else 60 for s in spikes], marker="|",
                   linewidths=[3 if s > 0 else 0.8 for s in spikes],
                   color=[method_color(method) if s > 0 else "#bbbbbb" for s in spikes])
        ax.text(steps[-1] + 0.6, y, f"{int(spikes.sum())} spikes", va="center", fontsize=9)
    for step, value in zip(steps, numeric(worked, "input"), strict=True):
        ax.annotate(f"x={value:g}", (step, 1.55), ha="center", fontsize=8)
    ax.set_yticks([0, 1])
    ax.set_yticklabels(["PSG", "IF"])
    ax.set_xticks(steps)
    ax.set_xlim(steps[0] - 0.5, steps[-1] + 1.9)
    ax.set_ylim(-0.6, 1.9)


def fidelity_summary(run: RunTables) -> pd.DataFrame:
    """Mean MAE per (source, v_init, neuron, T) over layers (recorded currents) or draws (random)."""
    fidelity = run.table("fidelity")
    if fidelity.empty:
        return fidelity
    if "source" not in fidelity.columns:
        fidelity = fidelity.assign(source="random")
    return fidelity.groupby(["source", "v_init", "neuron", "T"], as_index=False, sort=False)["mae"].mean()


def panel_fidelity(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """MAE between spike-count value and the ideal clipped value per T, IF vs PSG, on random (solid)
    and recorded layer currents (dashed), θ/2 start."""
    summary = fidelity_summary(run)
    if not open_panel(ax, xlabel="T = G", ylabel="mean |spike value − clip(x̄, 0, θ)| (θ units, log)",
                      title="fidelity: random and recorded currents", empty=summary.empty, missing="fidelity.csv"):
        return
    start = "v_init=θ/2" if (summary["v_init"] == "v_init=θ/2").any() else summary["v_init"].iloc[0]
    for (source, neuron), rows in select(summary, v_init=start).groupby(["source", "neuron"], sort=False):
        rows = rows.sort_values("T")
        ax.plot(rows["T"], rows["mae"], "-" if source == "random" else "--", marker="o",
                color=method_color(Method.IF if neuron == "IF" else Method.ONESPIKE), label=f"{neuron}, {source}")
    log2_x(ax, sorted(summary["T"].astype(int).unique()))
    log_axis(ax)
    ax.legend(fontsize=8)


def answer_q4(run: RunTables) -> Answer:
    worked, summary = run.table("worked_example"), fidelity_summary(run)
    bits = []
    if not worked.empty:
        bits.append(
            f"inputs {', '.join(number(v) for v in worked['input'])}: IF "
            f"{' '.join(str(int(v)) for v in worked['if_spike'])}, PSG "
            f"{' '.join(str(int(v)) for v in worked['psg_spike'])} (from Σx = {number(worked['input'].sum())})"
        )
    if summary.empty:
        return Answer(not_in_run("Q4", "no worked_example.csv or fidelity.csv") if not bits
                      else "Q4: " + bits[0] + "; fidelity: not in this run.", summary)
    start = "v_init=θ/2" if (summary["v_init"] == "v_init=θ/2").any() else summary["v_init"].iloc[0]
    for source in ("random", "recorded"):
        wide = select(summary, source=source, v_init=start).pivot_table(index="T", columns="neuron", values="mae")
        if not {"IF", "PSG"} <= set(wide.columns):
            bits.append(f"{source} layer currents: not in this run")
            continue
        top = int(wide.index.max())
        below = int((wide["PSG"] < wide["IF"]).sum())
        bits.append(f"{source} currents ({start}, θ units): PSG's MAE below IF's at {below}"
                    f" of {len(wide)} T; at T={top} IF {number(wide.loc[top, 'IF'])} vs PSG "
                    f"{number(wide.loc[top, 'PSG'])}")
    table = summary.pivot_table(index="T", columns=["source", "neuron", "v_init"], values="mae")
    table.columns = [f"{source} {neuron} ({start})" for source, neuron, start in table.columns]
    return Answer("Q4: " + "; ".join(bits) + ".", table.reset_index())


register_question(Question(
    "Q3", "PSG's spike generation uses multiplication and modulus — what does it really cost?", "q3_psg_ops",
    answer_q3, (Panel(panel_op_mix), Panel(panel_other_ops), Panel(panel_mul_mod_price), Panel(panel_mode_accuracy)),
    "Exact and hardware PSG run on the same power-of-two-rounded network, so the third panel's bars are the "
    "price of mul/mod alone; pooling/readout shifts (second panel) are not spike generation.", columns=2,
))
register_question(Question(
    "Q4", "Does PSG approximate a value better than an IF neuron?", "q4_fidelity",
    answer_q4, (Panel(panel_worked_example), Panel(panel_fidelity)),
    "Lower is better: where the dashed (recorded currents) PSG curve sits below IF's, PSG's spike count "
    "tracks the trained network's real layer inputs more closely.", columns=2, all_archs=True,
))
