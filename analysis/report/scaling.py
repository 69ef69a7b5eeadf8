"""Q9: how does cost grow with T (or G)? Energy per inference under every hardware model, sequential
steps and accuracy along the sweep of T = G = L, how much each stepped method's energy grows from the
first T to the last, and where it reaches the float ANN's energy."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.methods import Role, StepAxis, first_with_role, get_method, reference_method, with_role
from analysis.palette import hardware_color, hardware_marker
from analysis.report.cycles import cycles_by_steps, cycles_sentence
from analysis.report.plotting import energy_scale, log2_x, log_axis, no_data, open_panel
from analysis.report.questions import Answer, Panel, Question, panel, register_question
from analysis.report.tables import RunTables, method_color, numeric, select
from analysis.report.text import number, span, times
from analysis.report.uncertainty import accuracy_of
from analysis.report.verdict import Claim, Verdict, unanswered

#: Q9's hardware-dependent claim.
SLOWER = "OneSpike's energy grows less with G than IF's with T"


def _swept(run: RunTables, arch: str | None) -> pd.DataFrame:
    stepped = [m for m in run.methods() if get_method(m).stepped]
    return select(run.results, arch=arch, method=stepped, variant="default", T=run.timesteps() or None)


@panel
def panel_energy_vs_steps(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Energy per inference vs T per hardware model (colour) and method (IF solid, OneSpike dashed)."""
    rows = _swept(run, run.first_arch(arch))
    # the converted pair the question is about (the directly trained SNNs are Q14's, in the latency and
    # accuracy panels beside this one): one line per model and method stays readable
    pair = rows[rows["method"].isin(with_role(Role.TIME_CONVERSION) + with_role(Role.GROUP_CONVERSION))] \
        if not rows.empty else rows
    rows = pair if not pair.empty else rows
    if not open_panel(ax, xlabel="T (IF) = G (OneSpike), log2", ylabel="energy per inference", title="energy",
                      empty=rows.empty):
        return
    models = hardware or run.hardware_models()
    divisor, unit = energy_scale(numeric(select(rows, hardware=models), "energy_pj"))
    styles = {StepAxis.TIME: "-", StepAxis.GROUPS: "--"}
    for model in models:
        for method, sub in select(rows, hardware=model).groupby("method", sort=False):
            sub = sub.drop_duplicates("T").sort_values("T")
            first = not any(line.get_label() == model for line in ax.get_lines())
            ax.plot(sub["T"], numeric(sub, "energy_pj") / divisor, styles[get_method(method).steps],
                    marker=hardware_marker(model), ms=3, color=hardware_color(model), label=model if first else None)
    log_axis(ax)
    log2_x(ax, run.timesteps())
    ax.set_ylabel(f"energy per inference ({unit}, log)")
    ax.legend(fontsize=7, title="IF solid, OneSpike dashed", title_fontsize=7, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


@panel
def panel_latency_vs_steps(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Sequential steps per inference vs T per stepped method."""
    counts = run.per_inference(_swept(run, run.first_arch(arch)))
    if not open_panel(ax, xlabel="T (IF) = G (OneSpike), log2", ylabel="sequential steps per inference",
                      title="latency", empty=counts.empty):
        return
    for method, rows in counts.groupby("method", sort=False):
        rows = rows.drop_duplicates("T").sort_values("T")
        ax.plot(rows["T"], numeric(rows, "latency_steps"), marker="o", color=method_color(method),
                label=get_method(method).label)
    ax.set_ylim(bottom=0)
    log2_x(ax, run.timesteps())
    ax.legend(fontsize=7)


@panel
def panel_accuracy_vs_steps(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Accuracy vs T with 95% intervals: IF, OneSpike and the quantized ANN re-levelled to L = T,
    the float ANN as a level."""
    arch = run.first_arch(arch)
    steps = run.timesteps()
    open_panel(ax, xlabel="T (IF) = G (OneSpike) = L (QCFS), log2", ylabel="test accuracy (%)",
               title="accuracy (95% interval)")
    curves = {m: [(t, run.rows(m, arch=arch, steps=t)) for t in steps]
              for m in run.methods() if get_method(m).stepped}
    for quantized in with_role(Role.QUANTIZED_PARENT, run.methods()):
        curves[quantized] = [(t, run.rows(quantized, arch=arch, levels=t)) for t in steps]
    drew = False
    for method, points in curves.items():
        points = [(t, accuracy_of(rows)) for t, rows in points if not rows.empty]
        if not points:
            continue
        means = np.array([100 * a.mean for _, a in points])
        errors = np.array([[100 * (a.mean - a.low) for _, a in points], [100 * (a.high - a.mean) for _, a in points]])
        label = get_method(method).label if get_method(method).stepped else "QCFS with L = T levels"
        ax.errorbar([t for t, _ in points], means, yerr=np.nan_to_num(errors), marker="o", capsize=3,
                    color=method_color(method), ls="-" if get_method(method).stepped else ":", label=label)
        drew = True
    if not drew:
        no_data(ax)
        return
    ann = run.present_rows(reference_method(), arch=arch)
    if not ann.empty:
        ax.axhline(100 * accuracy_of(ann).mean, color=method_color(reference_method()), ls="--", lw=0.8, label="ANN")
    log2_x(ax, steps)
    ax.legend(fontsize=7)


def _growth(rows: pd.DataFrame, method: str, model: str, first: int, last: int) -> float:
    a, b = select(rows, method=method, hardware=model, T=first), select(rows, method=method, hardware=model, T=last)
    if a.empty or b.empty or float(a["energy_pj"].iloc[0]) <= 0:
        return float("nan")
    return float(b["energy_pj"].iloc[0]) / float(a["energy_pj"].iloc[0])


def verdict_q9(run: RunTables) -> Verdict:
    arch, swept = run.first_arch(), run.timesteps()
    rows = _swept(run, arch)
    if rows.empty or len(swept) < 2:
        return unanswered("Q9", "not in this run — fewer than two T values of IF or OneSpike")
    first, last = swept[0], swept[-1]
    methods = list(dict.fromkeys(rows["method"]))
    growth = {m: {h: _growth(rows, m, h, first, last) for h in run.hardware_models()} for m in methods}
    claims = {}
    integrate = first_with_role(Role.TIME_CONVERSION, methods)
    onespike = first_with_role(Role.GROUP_CONVERSION, methods)
    if integrate and onespike:
        for model in run.hardware_models():
            a, b = growth[onespike][model], growth[integrate][model]
            if np.isfinite(a) and np.isfinite(b):
                claims[(model, SLOWER)] = Claim(bool(a < b), a / b, f"{times(a)} vs {times(b)}")
    # a method not run at both ends of the sweep (the directly trained SNNs stop at direct_max_steps)
    # is in the table and the figure, not in the sentence
    growth = {m: g for m, g in growth.items() if any(np.isfinite(v) for v in g.values())}
    methods = [m for m in methods if m in growth]
    counts = run.per_inference(rows)
    latency = {m: select(counts, method=m, T=last)["latency_steps"] for m in methods}
    all_grow = all(v > 1 for g in growth.values() for v in g.values() if np.isfinite(v))
    opening = "Energy grows with T under every model" if all_grow else "Energy grows with T under some models"
    sentence = (f"{opening}: from T={first} to {last}, "
                + ", ".join(f"{get_method(m).short} ×{span(g.values(), lambda v: f'{v:.2g}')}"
                            for m, g in growth.items())
                + "; latency grows only where steps are sequential ("
                + ", ".join(f"{get_method(m).short} {number(v.iloc[0])}" for m, v in latency.items() if len(v))
                + f" step(s) at T={last}).")
    return Verdict("Q9", sentence, {f"{m} growth {h}": v for m, g in growth.items() for h, v in g.items()}, claims)


def answer_q9(run: RunTables) -> Answer:
    verdict = verdict_q9(run)
    arch, swept = run.first_arch(), run.timesteps()
    rows = _swept(run, arch)
    if rows.empty or len(swept) < 2:
        return Answer.of(verdict, rows)
    first, last = swept[0], swept[-1]
    methods = list(dict.fromkeys(rows["method"]))
    bits = []
    for method in methods:
        a = accuracy_of(run.rows(method, arch=arch, steps=first))
        b = accuracy_of(run.rows(method, arch=arch, steps=last))
        bits.append(f"{get_method(method).short} accuracy {a.text()} → {b.text()}")
    ann = run.present_rows(reference_method(), arch=arch)
    for model in run.hardware_models():
        ann_rows = select(ann, hardware=model)
        if ann_rows.empty:
            continue
        ann_energy = float(ann_rows["energy_pj"].iloc[0])
        for method in methods:
            sub = select(rows, method=method, hardware=model).sort_values("T")
            crossing = sub[numeric(sub, "energy_pj") >= ann_energy]
            bits.append(f"{get_method(method).short} reaches the float ANN's {model} energy at T="
                        f"{int(crossing['T'].iloc[0])}" if not crossing.empty else
                        f"{get_method(method).short} stays below the float ANN's {model} energy up to T={last}")
    shown = select(rows, hardware=run.figure_models())
    table = shown.drop_duplicates(["hardware", "method", "T"]).pivot_table(index="T", columns=["hardware", "method"],
                                                                          values="energy_pj")
    table.columns = [f"{h} {get_method(m).short} pJ" for h, m in table.columns]
    table = table.join(cycles_by_steps(run, rows))  # latency in cycles beside steps, where a model maps layers
    return Answer.of(verdict, table.reset_index(), ("; ".join(bits) + ". " + cycles_sentence(run, arch, last)).strip())


register_question(Question(
    "Q9", "How does cost grow with T (or G)?", "q9_scaling", answer_q9,
    (Panel(panel_energy_vs_steps), Panel(panel_latency_vs_steps), Panel(panel_accuracy_vs_steps)),
    "Energy grows with T for both stepped methods (left); only IF's latency does (middle); accuracy saturates "
    "(right): the useful T is where the right panel flattens.", verdict=verdict_q9,
))
