"""Q14 (does one-step conversion hold for an SNN that was trained directly?).

Reads ``onestep.csv`` (one row per directly trained SNN and T: the accuracy and the agreement with
the SNN of every rung from the SNN to its one-step form, see :mod:`analysis.study.onestep`) and
``onestep_layers.csv`` (per spiking layer: the spikes of the SNN and of the one-step form and
their count error). The verdict is per neuron kind: one-step conversion **holds** where the
one-step form's accuracy is within :data:`TOLERANCE_PP` of the SNN's at every T of the run.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from analysis.methods import get_method, method_names
from analysis.report.plotting import log2_x, open_panel
from analysis.report.questions import Answer, Panel, Question, panel, register_question
from analysis.report.tables import RunTables, method_color, not_working, numeric, select
from analysis.report.text import number, percent, percentage_points, span, times
from analysis.report.verdict import Verdict, unanswered

__all__ = ["TOLERANCE_PP", "answer_q14", "neuron_label", "onestep_summary", "verdict_q14"]

#: One-step conversion "holds" for an SNN when its one-step form's accuracy is within this many
#: percentage points of the SNN's at every T (below it, the difference is a few test images).
TOLERANCE_PP = 1.0
#: The ladder's steps: (column before, column after, what the step removes).
STEPS = (("snn", "no_leak", "leak"), ("no_leak", "psg_reset", "reset"), ("psg_reset", "onestep", "timing"))


def neuron_label(row: pd.Series) -> str:
    """``IF, soft reset`` or ``LIF λ=0.5, hard reset`` from a ``onestep.csv`` row."""
    decay = float(row.get("decay", float("nan")))
    kind = "IF" if decay == 1.0 else (f"LIF λ={number(decay, 2)}" if math.isfinite(decay) else "LIF")
    return f"{kind}, {str(row.get('reset', '?')).replace('_', ' ')} reset"


def _psg_of(method: str) -> str | None:
    """The OneSpike method made from ``method`` (the registry's child on the other axis)."""
    return next((m for m in method_names() if get_method(m).parent == method and get_method(m).is_group_parallel),
                None)


def onestep_summary(run: RunTables) -> pd.DataFrame:
    """One row per (arch, method, T), first seed: accuracies of the SNN and its one-step form (exact
    and hardware PSG), their difference in pp, agreement, mean spike-count error per neuron, the
    accuracy change of each ladder step (leak, reset, timing) in pp, and the energy per inference of
    the SNN and of the one-step form under the run's main hardware model."""
    table = run.table("onestep")
    if table.empty:
        return table
    table = table[table["seed"] == table["seed"].min()]
    hardware = run.main_hardware()
    rows = []
    for _, row in table.iterrows():
        method, steps = str(row["method"]), int(row["T"])
        out = {"arch": row["arch"], "method": method, "neuron": neuron_label(row), "T": steps,
               "snn_accuracy": float(row["snn_accuracy"]), "onestep_accuracy": float(row["onestep_accuracy"]),
               "delta_pp": 100 * (float(row["onestep_accuracy"]) - float(row["snn_accuracy"])),
               "agreement": float(row["onestep_agreement"]),
               "hardware_delta_pp": 100 * (float(row["hardware_onestep_accuracy"]) - float(row["snn_accuracy"])),
               "count_error": float(row["count_error"])}
        for before, after, what in STEPS:
            out[f"{what}_pp"] = 100 * (float(row[f"{after}_accuracy"]) - float(row[f"{before}_accuracy"]))
        for name, which in (("snn", method), ("onestep", _psg_of(method))):
            priced = select(run.results, arch=row["arch"], method=which, T=steps, variant="default",
                            hardware=hardware, seed=int(row["seed"])) if which else pd.DataFrame()
            out[f"{name}_energy_pj"] = float(priced["energy_pj"].iloc[0]) if not priced.empty else float("nan")
        rows.append(out)
    return pd.DataFrame(rows)


def _holds(rows: pd.DataFrame) -> tuple[bool, str, float]:
    """Whether one-step conversion holds for one neuron kind (all its T), the clause saying so and
    the worst accuracy change (pp)."""
    steps = sorted(rows["T"].astype(int))
    worst = rows.loc[rows["delta_pp"].abs().idxmax()]
    delta = float(worst["delta_pp"])
    t_span = f"T={steps[0]}" if len(steps) == 1 else f"T={steps[0]}–{steps[-1]}"
    neuron = rows["neuron"].iloc[0]
    if abs(delta) <= TOLERANCE_PP:
        return True, (f"holds for {neuron} (within {abs(delta):.1f} pp of the SNN at {t_span}, agreement ≥ "
                      f"{percent(rows['agreement'].min())})"), delta
    return False, (f"fails for {neuron} ({percentage_points(delta)} at T={int(worst['T'])}, agreement "
                   f"{percent(worst['agreement'])})"), delta


def verdict_q14(run: RunTables) -> Verdict:
    """Yes / No / Depends on the neuron: per directly trained SNN of the first architecture, whether
    its one-step form stays within :data:`TOLERANCE_PP` of it at every T. No hardware model enters
    it (accuracy only)."""
    summary = onestep_summary(run)
    if summary.empty:
        return unanswered("Q14", "not in this run — no onestep.csv (needs a directly trained method: direct_if, "
                                 "direct_lif)")
    arch = run.first_arch() if run.first_arch() in set(summary["arch"]) else summary["arch"].iloc[0]
    shown = summary[summary["arch"] == arch]
    results = [(_idle(run, rows) or _holds(rows), method) for method, rows in shown.groupby("method", sort=False)]
    holds = [ok for (ok, _, _), _ in results if ok is not None]
    idle = tuple(method for (ok, _, _), method in results if ok is None)
    clauses = "; ".join(text for (_, text, _), _ in results)
    if not holds:
        opening = "n/a"
    else:
        opening = "Yes" if all(holds) else "No" if not any(holds) else "Depends on the neuron"
    return Verdict("Q14", f"{opening} ({arch}): {clauses}.",
                   {f"{method} worst accuracy change pp": delta for (_, _, delta), method in results},
                   not_working=idle)


def _idle(run: RunTables, rows: pd.DataFrame) -> tuple[None, str, float] | None:
    """A directly trained SNN that is not a working network at some T (``results.csv``'s
    ``working``): one-step conversion neither holds nor fails for it, and the clause says so."""
    idle = [int(r["T"]) for _, r in rows.iterrows()
            if not_working(select(run.results, arch=r["arch"], method=r["method"], T=int(r["T"]), variant="default"))]
    if not idle:
        return None
    worst = rows[rows["T"].astype(int).isin(idle)]
    return None, (f"n/a for {rows['neuron'].iloc[0]}, not a working SNN at T={', '.join(map(str, idle))} "
                  f"({span(worst['snn_accuracy'], percent)}, near chance)"), float("nan")


def answer_q14(run: RunTables) -> Answer:
    verdict = verdict_q14(run)
    summary = onestep_summary(run)
    if summary.empty:
        return Answer.of(verdict, summary)
    arch = run.first_arch() if run.first_arch() in set(summary["arch"]) else summary["arch"].iloc[0]
    shown = summary[summary["arch"] == arch]
    explain = []
    for _, rows in shown.groupby("method", sort=False):
        top = rows.loc[rows["T"].idxmax()]
        steps = ", ".join(f"{what} {percentage_points(float(top[f'{what}_pp']))}" for _, _, what in STEPS
                          if what == "timing" or abs(float(top[f"{what}_pp"])) > 0)
        explain.append(f"{top['neuron']} at T={int(top['T'])}: {steps}")
    details = ("Accuracy change along SNN → no leak → PSG's soft reset → one step: " + "; ".join(explain)
               + f"; hardware-mode PSG (θ = 2^k) {_span_pp(shown['hardware_delta_pp'])} against the SNN.")
    first_layer = select(run.table("onestep_layers"), arch=arch)
    if not first_layer.empty:
        firsts = first_layer.groupby(["method", "T"], sort=False).head(1)
        details += (f" The first spiking layer (a constant analog current) matches spike for spike in "
                    f"{int((numeric(firsts, 'count_error') == 0).sum())}/{len(firsts)} SNNs.")
    ratio = shown["onestep_energy_pj"] / shown["snn_energy_pj"]
    if ratio.notna().any():
        details += (f" Energy per inference ({run.main_hardware()}): the one-step form "
                    f"{span(ratio.dropna(), times)} of its SNN's.")
    columns = ["method", "neuron", "T", "snn_accuracy", "onestep_accuracy", "delta_pp", "agreement",
               "hardware_delta_pp", "leak_pp", "reset_pp", "timing_pp", "count_error", "snn_energy_pj",
               "onestep_energy_pj"]
    layers = run.table("onestep_layers")
    more = {"Spike counts per layer, SNN vs its one-step form": layers} if not layers.empty else {}
    return Answer.of(verdict, shown[columns].reset_index(drop=True), details, more)


def _span_pp(values: pd.Series) -> str:
    finite = [float(v) for v in values if math.isfinite(float(v))]
    if not finite:
        return "n/a"
    low, high = min(finite), max(finite)
    if abs(high - low) < 0.05:
        return percentage_points(low)
    return f"{percentage_points(low)} to {percentage_points(high)}"


# -- the figure ---------------------------------------------------------------------------------------
def _lines(run: RunTables, ax: Axes, arch: str | None, ylabel: str, title: str, draw) -> None:
    summary = onestep_summary(run)
    summary = select(summary, arch=arch) if arch is not None and not summary.empty else summary
    if not open_panel(ax, xlabel="T = G", ylabel=ylabel, title=title, empty=summary.empty, missing="onestep.csv"):
        return
    for method, rows in summary.groupby("method", sort=False):
        draw(ax, method, rows.sort_values("T"))
    log2_x(ax, sorted(summary["T"].astype(int).unique()))
    ax.legend(fontsize=7)


@panel
def panel_accuracy(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Accuracy per T of each directly trained SNN (solid) and of its one-step form (dashed)."""
    def draw(ax, method, rows):
        psg = _psg_of(method)
        ax.plot(rows["T"], 100 * rows["snn_accuracy"], "-o", color=method_color(method),
                label=f"{get_method(method).short} ({rows['neuron'].iloc[0]})")
        ax.plot(rows["T"], 100 * rows["onestep_accuracy"], "--s", color=method_color(psg or method),
                label=get_method(psg).short if psg else "one step")

    _lines(run, ax, arch, "test accuracy (%)", "SNN vs its one-step form", draw)


@panel
def panel_agreement(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Fraction of test images on which the one-step form predicts what the SNN predicts, per T."""
    def draw(ax, method, rows):
        ax.plot(rows["T"], 100 * rows["agreement"], "-o", color=method_color(method), label=get_method(method).short)

    _lines(run, ax, arch, "same prediction as the SNN (%)", "agreement", draw)
    ax.set_ylim(top=101)


@panel
def panel_ladder(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Accuracy change (pp) of each step from the SNN to its one-step form (leak removed, PSG's soft
    reset, time-averaged current) at each T: what PSG cannot reproduce, measured."""
    summary = onestep_summary(run)
    summary = select(summary, arch=arch) if arch is not None and not summary.empty else summary
    if not open_panel(ax, xlabel="T = G", ylabel="accuracy change (pp)", title="what each difference costs",
                      empty=summary.empty, missing="onestep.csv"):
        return
    groups = list(summary.groupby("method", sort=False))
    steps = sorted(summary["T"].astype(int).unique())
    x = np.arange(len(steps))
    width = 0.8 / (len(groups) * len(STEPS))
    hatches = {"leak": "", "reset": "//", "timing": ".."}
    for g, (method, rows) in enumerate(groups):
        rows = rows.drop_duplicates("T").set_index("T").reindex(steps)
        for s, (_, _, what) in enumerate(STEPS):
            offset = (g * len(STEPS) + s - (len(groups) * len(STEPS) - 1) / 2) * width
            ax.bar(x + offset, rows[f"{what}_pp"], width, color=method_color(method), hatch=hatches[what],
                   edgecolor="white", label=f"{get_method(method).short}: {what}")
    ax.axhline(0, color="#444444", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels([str(t) for t in steps])
    ax.legend(fontsize=7, ncol=2)


@panel
def panel_layer_error(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Mean |spike-count difference| per neuron between the SNN and its one-step form, per spiking
    layer (one line per method and T; 0 where PSG reproduces the layer exactly)."""
    layers = run.table("onestep_layers")
    layers = select(layers, arch=arch) if arch is not None and not layers.empty else layers
    if not open_panel(ax, xlabel="spiking layer (input → output)", ylabel="mean |count error| per neuron",
                      title="spike-count error per layer", empty=layers.empty, missing="onestep_layers.csv"):
        return
    styles = ["-", "--", ":", "-."]
    for (method, steps), rows in layers.groupby(["method", "T"], sort=False):
        index = sorted(layers["T"].unique()).index(steps)
        ax.plot(range(len(rows)), rows["count_error"], styles[index % 4], marker="o", color=method_color(method),
                label=f"{get_method(method).short}, T={int(steps)}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # layers are counted, never halved
    ax.legend(fontsize=7, ncol=2)


register_question(Question(
    "Q14", "Does one-step conversion hold for an SNN that was trained directly?", "q14_direct_onestep",
    answer_q14, (Panel(panel_accuracy), Panel(panel_agreement), Panel(panel_ladder), Panel(panel_layer_error)),
    "OneSpike with the SNN's own thresholds (PSG) is a soft-reset, non-leaky IF neuron fed each layer's "
    "time-averaged current: it reproduces an IF SNN with soft reset exactly where the current is constant (the "
    "first spiking layer), and cannot reproduce a leak (PSG forgets nothing), a hard reset (PSG keeps the "
    "overshoot) or the timing of a current that changes over the steps. The third panel measures each, on the "
    "same weights.", columns=2,
    verdict=verdict_q14,
    note=f"One-step conversion holds when the one-step form is within {TOLERANCE_PP:g} pp of the SNN at every T.",
))
