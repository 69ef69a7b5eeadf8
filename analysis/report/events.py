"""Q15 (does one-step conversion hold when the input changes over time: event cameras, video?).

Reads ``events.csv`` (:mod:`analysis.study.events`: per event task, T, directly trained method and
hardware model, the accuracy of the SNN fed one frame per step and of its OneSpike form, which sees
the frames only through their sum, their agreement and the energy per inference of both). One step
**serves** a task where, at every T of the run, a one-step form keeps at least :data:`RETAINED` of
its SNN's accuracy above chance (the better of the run's neurons: the question is whether the input
allows it; what the leak costs on its own is Q14's), serves it **with a loss** where it keeps at least
half, and **cannot serve** it where it keeps less (the direction task's summed frames allow at most
(50% − 25%) / (100% − 25%) = 1/3 of a perfect SNN).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.methods import get_method
from analysis.palette import OKABE_ITO
from analysis.report.plotting import log2_x, open_panel
from analysis.report.questions import Answer, Panel, Question, panel, register_question
from analysis.report.tables import RunTables, method_color
from analysis.report.text import percent, ratio_text, span
from analysis.report.verdict import Verdict, unanswered

__all__ = ["HALF", "RETAINED", "answer_q15", "event_summary", "retained", "served", "verdict_q15"]

#: One step serves a task where its accuracy above chance is at least this share of the SNN's.
RETAINED = 0.9
#: Below this share one step cannot serve the task: it lost more than half of what the SNN learned.
HALF = 0.5
#: The order tasks are reported in, and what each needs of the frames.
TASK_NOTES = {"digit": "order-free", "direction": "needs the order", "nmnist": "N-MNIST"}


def event_summary(run: RunTables, hardware: str | None = None) -> pd.DataFrame:
    """One row per (task, T, method) of ``events.csv`` under ``hardware`` (default: the run's main
    model): accuracies of the SNN and of its one-step form, their difference (pp), agreement, the
    share of the SNN's accuracy above chance the one-step form keeps (``retained``), the ceiling of
    a network seeing only the summed frames, and both energies per inference and their ratio."""
    table = run.table("events")
    if table.empty:
        return table
    hardware = hardware or run.main_hardware()
    if hardware in set(table["hardware"]):
        table = table[table["hardware"] == hardware]
    else:
        table = table[table["hardware"] == table["hardware"].iloc[0]]
    out = table[["task", "T", "method", "snn_accuracy", "onestep_accuracy", "agreement", "chance_accuracy",
                 "onestep_ceiling", "snn_energy_pj", "onestep_energy_pj", "hardware"]].copy()
    out.insert(3, "neuron", [get_method(m).short for m in out["method"]])
    out["delta_pp"] = 100 * (out["onestep_accuracy"] - out["snn_accuracy"])
    above = out["snn_accuracy"] - out["chance_accuracy"]
    out["retained"] = np.where(above > 0, (out["onestep_accuracy"] - out["chance_accuracy"]) / above.where(above > 0),
                               np.nan)
    out["energy_ratio"] = out["onestep_energy_pj"] / out["snn_energy_pj"]
    order = {task: i for i, task in enumerate(TASK_NOTES)}
    return out.sort_values(["task", "T", "method"], key=lambda c: c.map(order).fillna(99) if c.name == "task" else c,
                           kind="stable").reset_index(drop=True)


def retained(rows: pd.DataFrame) -> float:
    """The share of its SNN's accuracy above chance that one step keeps on a task (its rows of
    :func:`event_summary`): the better neuron's at each T, the worst T (NaN without rows)."""
    best = rows.groupby("T")["retained"].max()
    return float(best.min()) if len(best) else float("nan")


def served(rows: pd.DataFrame) -> str:
    """How one step serves a task: ``"yes"`` where it keeps at least :data:`RETAINED` of its SNN's
    accuracy above chance (:func:`retained`), ``"with a loss"`` where it keeps at least
    :data:`HALF`, else ``"no"``."""
    share = retained(rows)
    if share >= RETAINED:
        return "yes"
    return "with a loss" if share >= HALF else "no"


def _clause(task: str, rows: pd.DataFrame) -> str:
    top = rows[rows["T"] == rows["T"].max()]
    one = "/".join(percent(v, 0) for v in top["onestep_accuracy"])
    snn = "/".join(percent(v, 0) for v in top["snn_accuracy"])
    text = f"{task} ({TASK_NOTES.get(task, task)}), keeping {percent(retained(rows), 0)} ({one} vs {snn}"
    ceiling = float(top["onestep_ceiling"].iloc[0])
    if math.isfinite(ceiling) and ceiling < 1:
        text += f"; the summed frames cap it near {percent(ceiling, 0)}"
    return text + ")"


def verdict_q15(run: RunTables) -> Verdict:
    """Per event task, how one step serves it (:func:`served`): the share of the SNN's accuracy
    above chance it keeps, and the accuracies of the one-step forms and of their SNNs at the
    largest T. Accuracy only: no hardware model enters it."""
    summary = event_summary(run)
    if summary.empty:
        return unanswered("Q15", "not in this run — no events.csv (needs events on and a directly trained method: "
                                 "direct_if, direct_lif)")
    tasks = list(dict.fromkeys(summary["task"]))
    results = {task: served(summary[summary["task"] == task]) for task in tasks}
    groups = {kind: [_clause(t, summary[summary["task"] == t]) for t in tasks if results[t] == kind]
              for kind in ("yes", "with a loss", "no")}
    if len(groups["yes"]) == len(tasks):
        opening = "Yes, for every task"
    elif len(groups["no"]) == len(tasks):
        opening = "No, for no task"
    else:
        opening = "Depends on the task"
    top = summary[summary["T"] == summary["T"].max()]
    neurons = "/".join(dict.fromkeys(top["neuron"]))
    parts = ([f"serves {'; '.join(groups['yes'])}"] if groups["yes"] else []) + (
        [f"serves with a loss {'; '.join(groups['with a loss'])}"] if groups["with a loss"] else []) + (
        [f"cannot serve {'; '.join(groups['no'])}"] if groups["no"] else [])
    text = "; ".join(parts).replace("%", "% of the SNN's accuracy above chance", 1)  # the first share says of what
    numbers = {f"{task} retained": retained(summary[summary["task"] == task]) for task in tasks}
    return Verdict("Q15", f"{opening}: one step ({neurons}, T={int(top['T'].iloc[0])}) {text}.", numbers)


def answer_q15(run: RunTables) -> Answer:
    verdict = verdict_q15(run)
    summary = event_summary(run)
    if summary.empty:
        return Answer.of(verdict, summary)
    hardware = summary["hardware"].iloc[0]
    table = run.table("events")
    first = table.iloc[0]
    details = (f"Networks: {first['arch']} trained directly on {int(first['train_samples'])} event sequences per "
               f"task, tested on {int(first['test_samples'])}. OneSpike sums every step's current before it spikes, "
               f"so its first layer sees W·mean_t(frame_t) + b: "
               f"the frames in any order give the same output (tested). One step serves a task where it keeps ≥ "
               f"{RETAINED:.0%} of the SNN's accuracy above chance at every T (the better neuron), with a loss where "
               f"it keeps ≥ {HALF:.0%}. Agreement with the SNN: "
               f"{span(summary['agreement'], percent)}. Energy per inference ({hardware}): the one-step form "
               f"{span(summary['energy_ratio'], ratio_text)} of its SNN's (the same events enter both as ACs).")
    columns = ["task", "T", "neuron", "snn_accuracy", "onestep_accuracy", "delta_pp", "agreement", "retained",
               "onestep_ceiling", "snn_energy_pj", "onestep_energy_pj", "energy_ratio"]
    energies = table.pivot_table(index=["task", "T", "method"], columns="hardware",
                                 values=["snn_energy_pj", "onestep_energy_pj"], sort=False)
    energies.columns = [f"{form.removesuffix('_energy_pj')} {hw} (pJ)" for form, hw in energies.columns]
    more = {"Energy per inference under every headline model": energies.reset_index()}
    return Answer.of(verdict, summary[columns], details, more)


# -- the figure ---------------------------------------------------------------------------------------
@panel
def panel_accuracy(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Per task and neuron at the largest T: the SNN's accuracy beside its one-step form's, chance
    and the ceiling of the summed frames marked."""
    summary = event_summary(run)
    if not open_panel(ax, xlabel="task, neuron, T", ylabel="test accuracy (%)",
                      title="SNN (frames in order) vs one step (their sum)",
                      empty=summary.empty, missing="events.csv"):
        return
    top = summary[summary["T"] == summary.groupby("task")["T"].transform("max")]
    x = np.arange(len(top))
    ax.bar(x - 0.2, 100 * top["snn_accuracy"], 0.4, color=[method_color(m) for m in top["method"]], label="SNN")
    ax.bar(x + 0.2, 100 * top["onestep_accuracy"], 0.4, color=[method_color(m) for m in top["method"]],
           hatch="//", edgecolor="white", label="one step")
    for i, (_, row) in enumerate(top.iterrows()):
        ax.hlines(100 * row["chance_accuracy"], i - 0.45, i + 0.45, colors="#888888", linestyles=":",
                  label="chance" if i == 0 else None)
        if math.isfinite(row["onestep_ceiling"]) and row["onestep_ceiling"] < 1:
            ax.hlines(100 * row["onestep_ceiling"], i, i + 0.45, colors=OKABE_ITO["vermillion"], linestyles="--",
                      label="ceiling of the sum" if i == int(np.argmax(top["onestep_ceiling"] < 1)) else None)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{r['task']}, {r['neuron']}, T={int(r['T'])}" for _, r in top.iterrows()], fontsize=7,
                       rotation=30, ha="right", rotation_mode="anchor")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7)


@panel
def panel_energy(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Energy per inference of each SNN (solid) and of its one-step form (dashed) per T under the
    run's main model, digit task (the direction task's inputs are the same events, labelled otherwise)."""
    summary = event_summary(run)
    rows = summary[summary["task"] == summary["task"].iloc[0]] if not summary.empty else summary
    if not open_panel(ax, xlabel="T (frames) = G", ylabel="energy per inference (pJ)",
                      title=f"energy per T ({rows['hardware'].iloc[0] if not rows.empty else 'n/a'})",
                      empty=rows.empty, missing="events.csv"):
        return
    for method, group in rows.groupby("method", sort=False):
        group = group.sort_values("T")
        short = get_method(method).short
        ax.plot(group["T"], group["snn_energy_pj"], "-o", color=method_color(method), label=f"{short} SNN")
        ax.plot(group["T"], group["onestep_energy_pj"], "--s", color=method_color(method), label=f"{short} one step")
    log2_x(ax, sorted(rows["T"].astype(int).unique()))
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)


@panel
def panel_energy_ratio(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """The one-step form's energy over its SNN's at the largest T, digit task, under each of the
    figure's hardware models (every model of ``events.csv`` when none is given; below 1: one step
    is cheaper)."""
    table = run.table("events")
    present = list(dict.fromkeys(table["hardware"])) if not table.empty else []
    models = [m for m in hardware if m in present] if hardware else present
    if not open_panel(ax, xlabel="hardware model", ylabel="one step / SNN energy",
                      title="energy ratio per hardware model",
                      empty=not models, missing="events.csv"):
        return
    frames = [event_summary(run, model) for model in models]
    methods = list(dict.fromkeys(frames[0]["method"]))
    width = 0.8 / len(methods)
    x = np.arange(len(models))
    for i, method in enumerate(methods):
        ratios = []
        for frame in frames:
            rows = frame[(frame["method"] == method) & (frame["task"] == frame["task"].iloc[0])]
            ratios.append(float(rows.loc[rows["T"].idxmax(), "energy_ratio"]) if not rows.empty else float("nan"))
        ax.bar(x + (i - (len(methods) - 1) / 2) * width, ratios, width, color=method_color(method),
               label=get_method(method).short)
    ax.axhline(1.0, color="#444444", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(models, rotation=30, ha="right", fontsize=7)
    ax.legend(fontsize=7)


register_question(Question(
    "Q15", "Does one-step conversion hold when the input changes over time (event data)?", "q15_events",
    answer_q15, (Panel(panel_accuracy), Panel(panel_energy), Panel(panel_energy_ratio)),
    "Digits moving across a frame as ON/OFF events: the digit does not depend on the order of the frames, the "
    "direction does (a digit moving left sums to exactly what it sums to moving right). SNNs trained on the frames "
    "one per step, and their OneSpike forms, which see only the frames' sum.", columns=3, all_archs=True,
    verdict=verdict_q15,
    note=f"One step serves a task where it keeps ≥ {RETAINED:.0%} of its SNN's accuracy above chance at every T "
         f"(the better neuron), with a loss where it keeps ≥ {HALF:.0%}, and cannot serve it below.",
))
