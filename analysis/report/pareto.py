"""The accuracy/energy front: under each hardware model, the cheapest network within 1 pp of the
float ANN — with the networks tied with it and the margin of a narrow win named, so that a pick
resting on a 2% margin or a five-way tie is not read as a clear winner."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.methods import get_method, reference_method
from analysis.report.paired import accuracy as run_accuracy
from analysis.report.paired import comparison as paired_comparison
from analysis.report.plotting import energy_scale, log_axis, open_panel
from analysis.report.questions import Answer, Panel, Question, panel, register_question
from analysis.report.tables import RunTables, configuration_label, numeric, select
from analysis.report.text import number, percent
from analysis.report.uncertainty import accuracy_of
from analysis.report.verdict import TIE, Claim, Verdict, by_value, listing, models_text, unanswered

#: "Within 1 pp of the ANN": accuracy at least the ANN's minus this (a fraction).
WITHIN = 0.01


@panel
def panel_pareto(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Under one hardware model: accuracy vs energy (log x), stepped methods at every T joined."""
    model = hardware[0] if hardware else run.main_hardware()
    rows = select(run.results, arch=run.first_arch(arch), variant="default", hardware=model)
    if not open_panel(ax, xlabel="energy per inference", ylabel="test accuracy (%)", title=str(model),
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
    ax.legend(fontsize=7)


#: A winner less than this far (relative energy) ahead of the runner-up is named with its margin.
NARROW = 0.05


def front(run: RunTables) -> pd.DataFrame:
    """Per hardware model: the cheapest default network whose accuracy is within 1 pp of the float
    ANN's, with its energy, the paired comparison against the ANN, the networks tied with it (energy
    within :data:`~analysis.report.verdict.TIE`) and the runner-up with its margin."""
    arch = run.first_arch()
    rows = select(run.results, arch=arch, variant="default")
    if rows.empty:
        return pd.DataFrame()
    ann = run.present_rows(reference_method(), arch=arch)
    reference = run_accuracy(run, ann).mean if not ann.empty else float(rows["accuracy"].max())
    found = []
    for model in run.hardware_models():
        within = select(rows, hardware=model)
        within = within[numeric(within, "accuracy") >= reference - WITHIN]
        if within.empty:
            continue
        ranked = within.assign(label=[configuration_label(r) for _, r in within.iterrows()],
                               energy=numeric(within, "energy_pj"))
        ranked = ranked.sort_values("energy", kind="stable").drop_duplicates("label")  # first seed's row
        best = ranked.iloc[0]
        same = select(rows, method=best["method"], T=best["T"], levels=best["levels"])
        versus = paired_comparison(run, same, ann).text if not ann.empty else "n/a"
        others = ranked.iloc[1:]
        margins = others["energy"] / float(best["energy"]) - 1 if float(best["energy"]) > 0 else others["energy"] * 0
        tied = list(others["label"][margins <= TIE])
        runner = others[margins > TIE].head(1)
        found.append({"hardware": model, "cheapest within 1 pp of the ANN": best["label"],
                      "energy_pj": float(best["energy"]), "accuracy %": 100 * float(best["accuracy"]),
                      "vs ANN": versus, "tied within 1%": ", ".join(tied),
                      "runner-up": runner["label"].iloc[0] if not runner.empty else "",
                      "margin": float(margins[margins > TIE].iloc[0]) if not runner.empty else np.nan})
    return pd.DataFrame(found)


def _pick_note(row: pd.Series, model: str, alone: bool) -> str:
    """What qualifies one model's pick: a tie (named) or a margin under :data:`NARROW`."""
    where = "" if alone else f"{model}: "
    tied = [t for t in str(row["tied within 1%"]).split(", ") if t]
    if tied:
        names = listing(tied) if len(tied) <= 2 else f"{', '.join(tied[:2])} and {len(tied) - 2} more"
        return f"{where}tied within 1% with {names}"
    if np.isfinite(row["margin"]) and row["margin"] < NARROW:
        return f"{where}only {percent(row['margin'])} ahead of {row['runner-up']}"
    return ""


def verdict_pareto(run: RunTables) -> Verdict:
    table = front(run)
    if table.empty:
        return unanswered("Pareto", "not in this run — no default rows")
    arch = run.first_arch()
    ann = run.present_rows(reference_method(), arch=arch)
    if ann.empty:  # e.g. a study of a user's SNN: no float ANN to stay within 1 pp of
        return unanswered("Pareto", "not in this run — no float-ANN rows to measure 'within 1 pp' against")
    reference = accuracy_of(ann).mean
    picks = dict(zip(table["hardware"], table["cheapest within 1 pp of the ANN"], strict=True))
    energy = dict(zip(table["hardware"], table["energy_pj"], strict=True))
    rows = table.set_index("hardware")
    # a tie is no winner: the claim is the tied set, so a re-pricing that reorders it flips nothing
    claims = {(m, "cheapest network within 1 pp of the ANN"):
              Claim(" = ".join(sorted([v, *[t for t in str(rows.at[m, "tied within 1%"]).split(", ") if t]])),
                    energy[m], f"{number(energy[m])} pJ") for m, v in picks.items()}
    groups = by_value(picks)
    total = len(picks)
    opening = "The same network under every model" if len(groups) == 1 else "Depends on the hardware model"
    parts = []
    for label, models in sorted(groups.items(), key=lambda item: -len(item[1])):
        notes = [n for n in (_pick_note(rows.loc[m], m, len(models) == 1) for m in models) if n]
        parts.append(f"{label} under {models_text(models, total)}" + (f" ({'; '.join(notes)})" if notes else ""))
    sentence = (f"{opening}: the cheapest network within 1 pp of the float ANN's {percent(reference)} is "
                + "; ".join(parts) + ".")
    return Verdict("Pareto", sentence, {f"{m} energy": e for m, e in energy.items()}, claims)


def answer_pareto(run: RunTables) -> Answer:
    verdict = verdict_pareto(run)
    table = front(run)
    if not table.empty:  # the runner-up's margin as the sentence prints it
        table = table.assign(margin=[percent(m) if np.isfinite(m) else "" for m in table["margin"]])
    details = ("Within 1 pp means the network's accuracy is at least the float ANN's minus 1 percentage point on "
               "this test set; \"vs ANN\" gives the paired test of that network against the ANN on the same images; "
               "\"tied within 1%\" lists the networks within 1% of the pick's energy (no winner among them), and a "
               f"pick less than {percent(NARROW, 0)} ahead of its runner-up is named with its margin.")
    return Answer.of(verdict, table, details)


register_question(Question(
    "Pareto", "Which configurations are on the accuracy/energy front under each hardware model?", "pareto",
    answer_pareto, (Panel(panel_pareto, per_hardware=True),),
    "Up and to the left is better; a method on the front under one hardware model and off it under another "
    "owes its place to that model.", columns=4, verdict=verdict_pareto, shared_legend=True,
))
