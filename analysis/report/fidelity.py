"""Q4: does PSG approximate a value better than an IF neuron?

Two measures of how close a neuron's spike count comes to the ideal clipped value: the seed's worked
example (the same inputs into one IF and one PSG neuron) and the mean absolute error over random and
over the trained network's recorded layer currents, per T = G (``fidelity.csv``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.report.plotting import log2_x, log_axis, open_panel
from analysis.report.questions import Answer, Panel, Question, panel, register_question
from analysis.report.tables import RunTables, method_color, numeric, select
from analysis.report.text import number
from analysis.report.verdict import Verdict, unanswered


@panel
def panel_worked_example(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """The seed's worked example as a raster: IF row vs PSG row for the same inputs."""
    worked = run.table("worked_example")
    if not open_panel(ax, xlabel="timestep (IF) / group (PSG)", ylabel="neuron",
                      title="worked example: same inputs, different spike trains", empty=worked.empty,
                      missing="worked_example.csv"):
        return
    steps = worked["step"].to_numpy()
    for y, column, method in ((1, "if_spike", run.time_conversion), (0, "psg_spike", run.group_conversion)):
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


@panel
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
                color=method_color(run.time_conversion if neuron == "IF" else run.group_conversion),
                label=f"{neuron}, {source}")
    log2_x(ax, sorted(summary["T"].astype(int).unique()))
    log_axis(ax)
    ax.legend(fontsize=7)


def _fidelity_by_source(run: RunTables) -> tuple[str, dict[str, pd.DataFrame]]:
    """(the θ/2 start when present, ``{source: MAE by T (rows) and neuron (IF, PSG columns)}``)."""
    summary = fidelity_summary(run)
    if summary.empty:
        return "", {}
    start = "v_init=θ/2" if (summary["v_init"] == "v_init=θ/2").any() else summary["v_init"].iloc[0]
    out = {}
    for source in ("recorded", "random"):
        wide = select(summary, source=source, v_init=start).pivot_table(index="T", columns="neuron", values="mae")
        if {"IF", "PSG"} <= set(wide.columns):
            out[source] = wide
    return start, out


def _worked_text(worked: pd.DataFrame) -> str:
    return (f"inputs {', '.join(number(v) for v in worked['input'])}: IF "
            f"{' '.join(str(int(v)) for v in worked['if_spike'])}, PSG "
            f"{' '.join(str(int(v)) for v in worked['psg_spike'])}")


def verdict_q4(run: RunTables) -> Verdict:
    worked = run.table("worked_example")
    _, sources = _fidelity_by_source(run)
    if not sources:
        if worked.empty:
            return unanswered("Q4", "not in this run — no worked_example.csv or fidelity.csv")
        return Verdict("Q4", f"n/a: no fidelity.csv; the worked example gives {_worked_text(worked)}.")
    source = "recorded" if "recorded" in sources else "random"
    wide = sources[source]
    below, total, top = int((wide["PSG"] < wide["IF"]).sum()), len(wide), int(wide.index.max())
    opening = "Yes" if below == total else "No" if below == 0 else "Mostly yes" if 2 * below > total else "Mostly no"
    what = "the trained network's recorded layer currents" if source == "recorded" else "random currents"
    sentence = (f"{opening}: on {what} PSG's spike count is closer to the ideal value than IF's at {below} of {total} "
                f"T (T={top}: mean |error| {number(wide.loc[top, 'PSG'])} vs {number(wide.loc[top, 'IF'])} θ)")
    if not worked.empty:
        sentence += f"; worked example {' '.join(str(int(v)) for v in worked['if_spike'])} (IF) vs " \
                    f"{' '.join(str(int(v)) for v in worked['psg_spike'])} (PSG)"
    return Verdict("Q4", sentence + ".", {f"{source} PSG MAE at T={top}": float(wide.loc[top, "PSG"]),
                                          f"{source} IF MAE at T={top}": float(wide.loc[top, "IF"])})


def answer_q4(run: RunTables) -> Answer:
    verdict = verdict_q4(run)
    worked, summary = run.table("worked_example"), fidelity_summary(run)
    start, sources = _fidelity_by_source(run)
    bits = [f"worked example, {_worked_text(worked)} (from Σx = {number(worked['input'].sum())})"] \
        if not worked.empty else []
    for source, wide in sources.items():
        top = int(wide.index.max())
        below = int((wide["PSG"] < wide["IF"]).sum())
        bits.append(f"{source} currents ({start}, θ units): PSG's MAE below IF's at {below} of {len(wide)} T; "
                    f"at T={top} IF {number(wide.loc[top, 'IF'])} vs PSG {number(wide.loc[top, 'PSG'])}")
    if summary.empty:
        return Answer.of(verdict, summary, "; ".join(bits))
    table = summary.pivot_table(index="T", columns=["source", "neuron", "v_init"], values="mae")
    table.columns = [f"{source} {neuron} ({v})" for source, neuron, v in table.columns]
    return Answer.of(verdict, table.reset_index(), "; ".join(bits) + ".")


register_question(Question(
    "Q4", "Does PSG approximate a value better than an IF neuron?", "q4_fidelity",
    answer_q4, (Panel(panel_worked_example), Panel(panel_fidelity)),
    "Lower is better: where the dashed (recorded currents) PSG curve sits below IF's, PSG's spike count "
    "tracks the trained network's real layer inputs more closely.", columns=2, all_archs=True, verdict=verdict_q4,
))
