"""Q12 (the architecture's advantage or the method's?), Q13 (OneSpike vs a BNN, at equal shape and at
equal bits) and the accuracy/energy front."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.methods import Method, get_method, reference_method
from analysis.report.plotting import bar_labels, energy_scale, log_axis, open_panel
from analysis.report.questions import Answer, Panel, Question, register_question
from analysis.report.tables import RunTables, configuration_label, method_color, method_label, numeric, select
from analysis.report.text import not_in_run, number, percent, span, times
from analysis.report.uncertainty import accuracy_of, difference_text


# -- Q12 --------------------------------------------------------------------------------------------
def architecture_table(run: RunTables) -> pd.DataFrame:
    """Per arch and method (stepped ones at T = G = L): accuracy with its interval and the energy
    under every hardware model."""
    steps = run.reference_steps()
    rows = []
    for arch in run.archs():
        for method in run.methods():
            configuration = run.rows(method, arch=arch, steps=steps)
            if configuration.empty:
                continue
            row = {"arch": arch, "method": method, "configuration": method_label(method, steps),
                   "accuracy": accuracy_of(configuration).text()}
            for model in run.hardware_models():
                energy = numeric(select(configuration, hardware=model), "energy_pj")
                row[f"{model} pJ"] = float(energy.iloc[0]) if len(energy) else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def panel_architecture_energy(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Under one hardware model: each method's energy relative to the quantized ANN, per arch
    (bars from 0; 1 = as dear as the quantized ANN)."""
    model = hardware[0] if hardware else run.main_hardware()
    table, column = architecture_table(run), f"{model} pJ"
    if not open_panel(ax, xlabel="architecture", ylabel="energy / quantized ANN's", title=str(model), title_size=10,
                      empty=table.empty or column not in table.columns):
        return
    archs, methods = list(dict.fromkeys(table["arch"])), list(dict.fromkeys(table["method"]))
    reference = select(table, method=Method.QCFS).set_index("arch")[column].reindex(archs)
    x, width = np.arange(len(archs)), 0.8 / len(methods)
    for k, method in enumerate(methods):
        rows = select(table, method=method).set_index("arch").reindex(archs)
        bars = ax.bar(x + (k - (len(methods) - 1) / 2) * width, rows[column] / reference, width,
                      color=method_color(method), label=rows["configuration"].dropna().iloc[0])
        bar_labels(ax, bars, "{:.2g}", fontsize=6)
    ax.axhline(1.0, color="#888888", lw=0.8)
    ax.set_ylim(bottom=0)
    ax.set_xticks(x)
    ax.set_xticklabels(archs)
    ax.legend(fontsize=6)


def answer_q12(run: RunTables) -> Answer:
    table = architecture_table(run)
    if table.empty:
        return Answer(not_in_run("Q12", "no per-method rows"), table)
    archs, steps = list(dict.fromkeys(table["arch"])), run.reference_steps()
    parts = []
    for model in run.hardware_models():
        column = f"{model} pJ"
        ratios, orders = [], []
        for arch in archs:
            sub = select(table, arch=arch).set_index("method")[column]
            if {Method.ONESPIKE, Method.QCFS} <= set(sub.index) and sub[Method.QCFS] > 0:
                ratios.append(sub[Method.ONESPIKE] / sub[Method.QCFS])
            orders.append(tuple(sub.sort_values().index))
        same = sum(order == orders[0] for order in orders)
        parts.append(f"{model} OneSpike/QCFS {span(ratios, times)}, ranking as {archs[0]}'s in {same}/{len(archs)}")
    accuracy = []
    for arch in archs:
        a = accuracy_of(run.rows(Method.ONESPIKE, arch=arch, steps=steps))
        b = accuracy_of(run.rows(Method.QCFS, arch=arch))
        if np.isfinite(a.mean) and np.isfinite(b.mean):
            accuracy.append(f"{arch} {difference_text(a, b)}")
    line = (f"Q12 (T=G={steps}, {len(archs)} architecture(s)): OneSpike − QCFS accuracy "
            + (", ".join(accuracy) or "n/a") + "; per hardware model: " + "; ".join(parts) + ".")
    return Answer(line, table)


# -- Q13 --------------------------------------------------------------------------------------------
def bnn_configurations(run: RunTables) -> list[tuple[str, str, int | None, int | None]]:
    """(comparison, method, steps, levels): equal shape (OneSpike(G=L), QCFS(L)) and equal bits
    (one-bit activations: OneSpike(G=1), QCFS(L=1)), each beside the BNN."""
    levels, steps = run.levels(), run.reference_steps()
    return [
        ("equal shape", Method.BNN, None, None), ("equal shape", Method.ONESPIKE, steps, None),
        ("equal shape", Method.QCFS, None, levels),
        ("equal bits", Method.ONESPIKE, 1, None), ("equal bits", Method.QCFS, None, 1),
    ]


def bnn_table(run: RunTables) -> pd.DataFrame:
    rows = []
    for arch in run.archs():
        for comparison, method, steps, levels in bnn_configurations(run):
            if method not in run.methods():
                continue
            configuration = run.rows(method, arch=arch, steps=steps, levels=levels)
            if configuration.empty:
                continue
            label = method_label(method, steps) + (f"(L={levels})" if get_method(method).quantized else "")
            row = {"arch": arch, "comparison": comparison, "configuration": label, "method": method,
                   "accuracy": accuracy_of(configuration)}
            for model in run.hardware_models():
                energy = numeric(select(configuration, hardware=model), "energy_pj")
                row[f"{model} pJ"] = float(energy.iloc[0]) if len(energy) else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def _hatch_equal_bits(bars, table: pd.DataFrame) -> None:
    """Hatch the equal-bit configurations' bars."""
    for bar, comparison in zip(bars, table["comparison"], strict=True):
        bar.set_hatch("//" if comparison == "equal bits" else "")


def panel_bnn_accuracy(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Accuracy (95% interval) of the BNN, OneSpike and QCFS at equal shape and at equal bits."""
    table = select(bnn_table(run), arch=run.first_arch(arch))
    if not open_panel(ax, xlabel="configuration", ylabel="test accuracy (%)", title="accuracy (95% interval)",
                      empty=table.empty):
        return
    means = [100 * a.mean for a in table["accuracy"]]
    errors = np.nan_to_num([[100 * (a.mean - a.low) for a in table["accuracy"]],
                            [100 * (a.high - a.mean) for a in table["accuracy"]]])
    bars = ax.bar(range(len(table)), means, yerr=errors, capsize=3, color=[method_color(m) for m in table["method"]],
                  edgecolor="white")
    _hatch_equal_bits(bars, table)
    bar_labels(ax, bars, "{:.1f}")
    ax.set_xticks(range(len(table)))
    ax.set_xticklabels([f"{c}\n{k}" for c, k in zip(table["configuration"], table["comparison"], strict=True)],
                       fontsize=7)
    ax.set_ylim(0, 105)


def panel_bnn_energy(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Under one hardware model: energy of each Q13 configuration (bars from 0)."""
    model = hardware[0] if hardware else run.main_hardware()
    table, column = select(bnn_table(run), arch=run.first_arch(arch)), f"{model} pJ"
    if not open_panel(ax, xlabel="configuration", ylabel="energy per inference", title=str(model), title_size=10,
                      empty=table.empty or column not in table.columns):
        return
    divisor, unit = energy_scale(table[column])
    bars = ax.bar(range(len(table)), table[column] / divisor, color=[method_color(m) for m in table["method"]],
                  edgecolor="white")
    _hatch_equal_bits(bars, table)
    bar_labels(ax, bars, "{:.2g}", fontsize=6)
    ax.set_ylim(bottom=0)
    ax.set_xticks(range(len(table)))
    ax.set_xticklabels(table["configuration"], rotation=35, ha="right", fontsize=7)
    ax.set_ylabel(f"energy per inference ({unit})")


def answer_q13(run: RunTables) -> Answer:
    table = bnn_table(run)
    if table.empty:
        return Answer(not_in_run("Q13", "no BNN, OneSpike or QCFS rows"), table)
    epochs = {k: run.config.get(k) for k in ("epochs_ann", "epochs_bnn")}
    parts = []
    for arch, rows in table.groupby("arch", sort=False):
        bnn = select(rows, method=Method.BNN)
        if bnn.empty:
            parts.append(f"{arch}: BNN not in this run")
            continue
        reference = bnn["accuracy"].iloc[0]
        others = rows.drop(index=bnn.index)
        comparisons = ", ".join(f"{r['configuration']} ({r['comparison']}) {r['accuracy'].text()}, BNN "
                                f"{difference_text(reference, r['accuracy'])}" for _, r in others.iterrows())
        energy = [bnn[c].iloc[0] / r[c] for _, r in others[others["comparison"] == "equal bits"].iterrows()
                  for c in table.columns if c.endswith(" pJ") and r[c] > 0]
        parts.append(f"{arch}: BNN {reference.text()}; {comparisons}"
                     + (f"; BNN energy {span(energy, times)} the equal-bit networks'" if energy else ""))
    trained = (f" (BNN trained {epochs['epochs_bnn']} epochs, ANN {epochs['epochs_ann']})"
               if all(v is not None for v in epochs.values()) else "")
    shown = table.assign(accuracy=[a.text() for a in table["accuracy"]]).drop(columns=["method"])
    return Answer(f"Q13{trained}: " + "; ".join(parts) + ".", shown)


# -- the accuracy/energy front ----------------------------------------------------------------------
def panel_pareto(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Under one hardware model: accuracy vs energy (log x), stepped methods at every T joined."""
    model = hardware[0] if hardware else run.main_hardware()
    rows = select(run.results, arch=run.first_arch(arch), variant="default", hardware=model)
    if not open_panel(ax, xlabel="energy per inference", ylabel="test accuracy (%)", title=str(model), title_size=10,
                      empty=rows.empty):
        return
    divisor, unit = energy_scale(numeric(rows, "energy_pj"))
    for method in run.methods():
        spec = get_method(method)
        sub = run.rows(method, arch=run.first_arch(arch), hardware=model) if not spec.stepped else \
            select(rows, method=method).sort_values("T")
        if sub.empty:
            continue
        energy, accuracy = numeric(sub, "energy_pj") / divisor, 100 * numeric(sub, "accuracy")
        if spec.stepped:
            ax.plot(energy, accuracy, "-", color=spec.color, lw=0.8, alpha=0.6)
        ax.scatter(energy, accuracy, s=30, color=spec.color, marker="o" if spec.stepped else "D", zorder=3,
                   label=spec.label)
    log_axis(ax, "x")
    ax.set_xlabel(f"energy per inference ({unit}, log)")
    ax.legend(fontsize=6)


def answer_pareto(run: RunTables) -> Answer:
    arch = run.first_arch()
    rows = select(run.results, arch=arch, variant="default")
    if rows.empty:
        return Answer(not_in_run("Pareto", "no default rows"), rows)
    ann = run.present_rows(reference_method(), arch=arch)
    reference = accuracy_of(ann).mean if not ann.empty else float(rows["accuracy"].max())
    found, bits = [], []
    for model in run.hardware_models():
        within = select(rows, hardware=model)
        within = within[numeric(within, "accuracy") >= reference - 0.01]
        if within.empty:
            continue
        best = within.loc[numeric(within, "energy_pj").idxmin()]
        label = configuration_label(best)
        found.append({"hardware": model, "cheapest within 1 pp of the ANN": label,
                      "energy_pj": float(best["energy_pj"]), "accuracy %": 100 * float(best["accuracy"])})
        bits.append(f"{model} {label} {number(best['energy_pj'])} pJ")
    line = (f"Pareto ({arch}): cheapest configuration within 1 pp of the ANN's {percent(reference)}: "
            + (", ".join(bits) if bits else "none") + ".")
    return Answer(line, pd.DataFrame(found))


register_question(Question(
    "Q12", "Is the advantage the architecture's (RepVGG) or the method's?", "q12_architectures", answer_q12,
    (Panel(panel_architecture_energy, per_hardware=True),),
    "If a method's bar sits on the same side of 1 for every architecture under a hardware model, the advantage "
    "is the method's; if it changes side from one architecture to the next, it is the architecture's.", columns=4,
    all_archs=True,
))
register_question(Question(
    "Q13", "How does OneSpike compare with a BNN at equal model shape?", "q13_bnn", answer_q13,
    (Panel(panel_bnn_accuracy), Panel(panel_bnn_energy, per_hardware=True)),
    "Compare like with like: the equal-bit bars (one-bit activations: OneSpike(G=1), QCFS(L=1)) are the fair "
    "match for the BNN; the equal-shape bars show what the extra levels buy.", columns=4,
))
register_question(Question(
    "Pareto", "Which configurations are on the accuracy/energy front under each hardware model?", "pareto",
    answer_pareto, (Panel(panel_pareto, per_hardware=True),),
    "Up and to the left is better; a method on the front under one hardware model and off it under another "
    "owes its place to that model.", columns=4,
))
