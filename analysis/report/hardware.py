"""Q8 (does the result depend on the hardware model?) and Q9 (how does cost grow with T or G?)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm

from analysis.methods import Method, StepAxis, get_method, reference_method
from analysis.report.plotting import energy_scale, log2_x, log_axis, no_data, open_panel
from analysis.report.questions import Answer, Panel, Question, register_question
from analysis.report.tables import RunTables, method_color, method_label, numeric, select
from analysis.report.text import not_in_run, number, span, times
from analysis.report.uncertainty import accuracy_of

#: Published gains over the ANN (arXiv 2309.03388 Table II: FLOP estimate / SATA / SpikeSim).
PUBLISHED_GAINS = "arXiv 2309.03388 Table II, FLOP estimate / SATA / SpikeSim: 10–83× / 2.3–6.8× / 4–25×"
GAIN_MODELS = ("flops45nm", "sata", "spikesim")


def ranking_table(run: RunTables, arch: str | None = None, hardware=None) -> pd.DataFrame:
    """Energy of each method relative to the quantized ANN (L levels) under every hardware model:
    rows are methods (stepped ones at T = G = L), columns hardware models."""
    arch = run.first_arch(arch)
    columns = {}
    for model in hardware or run.hardware_models():
        rows = run.ladder_rows(arch, model)
        base = select(rows, method=Method.QCFS)
        if rows.empty or base.empty:
            continue
        columns[model] = pd.Series(numeric(rows, "energy_pj").to_numpy() / float(base["energy_pj"].iloc[0]),
                                   index=rows["label"].to_numpy())
    return pd.DataFrame(columns)


def panel_ranking(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Heatmap of energy relative to the quantized ANN with each method's rank (1 = cheapest)."""
    relative = ranking_table(run, arch, hardware)
    if not open_panel(ax, xlabel="hardware model", ylabel="method", empty=relative.empty,
                      missing="no quantized-ANN rows"):
        return
    data = relative.to_numpy(dtype=float)
    finite = data[np.isfinite(data) & (data > 0)]
    spread = max(float(np.max(np.abs(np.log10(finite)))) if finite.size else 1.0, 0.1)
    image = ax.imshow(data, cmap="RdYlGn_r", norm=LogNorm(10 ** -spread, 10 ** spread), aspect="auto")
    ranks = relative.rank(axis=0, method="min")
    for i, j in itertools.product(range(data.shape[0]), range(data.shape[1])):
        if np.isfinite(data[i, j]):
            ax.text(j, i, f"{data[i, j]:.2g}×\n#{int(ranks.iat[i, j])}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(relative.shape[1]))
    ax.set_xticklabels(relative.columns, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(relative.shape[0]))
    ax.set_yticklabels(relative.index, fontsize=8)
    ax.figure.colorbar(image, ax=ax, label="energy / quantized ANN's (log)")


def rank_changes(relative: pd.DataFrame) -> list[str]:
    """Every pair of methods whose energy order differs between hardware models, as
    ``A cheaper than B under x, y; dearer under z``."""
    changes = []
    for a, b in itertools.combinations(relative.index, 2):
        cheaper = [m for m in relative.columns if relative.at[a, m] < relative.at[b, m]]
        dearer = [m for m in relative.columns if relative.at[a, m] > relative.at[b, m]]
        if cheaper and dearer:
            changes.append(f"{a} cheaper than {b} under {', '.join(cheaper)} but dearer under {', '.join(dearer)}")
    return changes


def answer_q8(run: RunTables) -> Answer:
    arch, steps = run.first_arch(), run.reference_steps()
    relative = ranking_table(run, arch)
    if relative.empty:
        return Answer(not_in_run("Q8", f"no quantized-ANN rows to compare against; published ({PUBLISHED_GAINS})"),
                      relative)
    models = [m for m in GAIN_MODELS if m in relative.columns]
    gains = []
    for method in [m for m in run.methods() if get_method(m).spiking]:
        label = method_label(method, steps)
        if label in relative.index and "ANN" in relative.index and models:
            gains.append(f"{label} " + " / ".join(times(relative.at["ANN", m] / relative.at[label, m])
                                                  for m in models))
    line = f"Q8 ({arch}, T=G={steps}): "
    if gains:
        line += f"energy gain over the float ANN under {' / '.join(models)}: {', '.join(gains)}; "
    line += f"published ({PUBLISHED_GAINS}); cheapest: " + ", ".join(
        f"{m} {relative[m].idxmin()}" for m in relative.columns if relative[m].notna().any())
    changes = rank_changes(relative)
    line += ("; rank changes between hardware models: " + "; ".join(changes)) if changes else \
        "; the ranking of methods is the same under every hardware model"
    return Answer(line + ".", relative.reset_index().rename(columns={"index": "method (energy / QCFS)"}))


# -- Q9 ---------------------------------------------------------------------------------------------
def _swept(run: RunTables, arch: str | None) -> pd.DataFrame:
    stepped = [m for m in run.methods() if get_method(m).stepped]
    return select(run.results, arch=arch, method=stepped, variant="default", T=run.timesteps() or None)


def panel_energy_vs_steps(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Energy per inference vs T per hardware model (colour) and method (IF solid, OneSpike dashed)."""
    rows = _swept(run, run.first_arch(arch))
    if not open_panel(ax, xlabel="T (IF) = G (OneSpike), log2", ylabel="energy per inference", title="energy",
                      empty=rows.empty):
        return
    models = hardware or run.hardware_models()
    divisor, unit = energy_scale(numeric(select(rows, hardware=models), "energy_pj"))
    styles = {StepAxis.TIME: "-", StepAxis.GROUPS: "--"}
    for index, model in enumerate(models):
        for method, sub in select(rows, hardware=model).groupby("method", sort=False):
            sub = sub.drop_duplicates("T").sort_values("T")
            ax.plot(sub["T"], numeric(sub, "energy_pj") / divisor, styles[get_method(method).steps], marker="o",
                    ms=3, color=f"C{index % 10}", label=model if get_method(method).is_time_stepped else None)
    log_axis(ax)
    log2_x(ax, run.timesteps())
    ax.set_ylabel(f"energy per inference ({unit}, log)")
    ax.legend(fontsize=6, title="IF solid, OneSpike dashed", title_fontsize=6)


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
    ax.legend(fontsize=8)


def panel_accuracy_vs_steps(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Accuracy vs T with 95% intervals: IF, OneSpike and the quantized ANN re-levelled to L = T,
    the float ANN as a level."""
    arch = run.first_arch(arch)
    steps = run.timesteps()
    open_panel(ax, xlabel="T (IF) = G (OneSpike) = L (QCFS), log2", ylabel="test accuracy (%)",
               title="accuracy (95% interval)")
    curves = {m: [(t, run.rows(m, arch=arch, steps=t)) for t in steps]
              for m in run.methods() if get_method(m).stepped}
    if Method.QCFS in run.methods():
        curves[Method.QCFS] = [(t, run.rows(Method.QCFS, arch=arch, levels=t)) for t in steps]
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


def answer_q9(run: RunTables) -> Answer:
    arch, swept = run.first_arch(), run.timesteps()
    rows = _swept(run, arch)
    if rows.empty or len(swept) < 2:
        return Answer(not_in_run("Q9", "fewer than two T values of IF or OneSpike"), rows)
    first, last = swept[0], swept[-1]
    methods = list(dict.fromkeys(rows["method"]))
    growth = {m: [float(select(rows, method=m, hardware=h, T=last)["energy_pj"].iloc[0])
                  / float(select(rows, method=m, hardware=h, T=first)["energy_pj"].iloc[0])
                  for h in run.hardware_models()
                  if not select(rows, method=m, hardware=h, T=first).empty
                  and not select(rows, method=m, hardware=h, T=last).empty]
              for m in methods}
    bits = [f"from T={first} to {last} energy grows "
            + ", ".join(f"{span(g, times)} ({get_method(m).short})" for m, g in growth.items() if g)
            + f" across {len(run.hardware_models())} model(s)"]
    counts = run.per_inference(rows)
    bits.append("latency at T=" + str(last) + ": " + ", ".join(
        f"{get_method(m).short} {number(select(counts, method=m, T=last)['latency_steps'].iloc[0])} step(s)"
        for m in methods if not select(counts, method=m, T=last).empty))
    for method in methods:
        a = accuracy_of(run.rows(method, arch=arch, steps=first))
        b = accuracy_of(run.rows(method, arch=arch, steps=last))
        bits.append(f"{get_method(method).short} accuracy {a.text()} → {b.text()}")
    ann = run.present_rows(reference_method(), arch=arch)
    for model in [m for m in ("sata", "spikesim") if m in run.hardware_models()]:
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
    model = run.main_hardware()
    table = select(rows, hardware=model).pivot_table(index="T", columns="method",
                                                     values=["energy_pj", "accuracy", "latency_steps"])
    table.columns = [f"{m} {v}" + (f" ({model})" if v == "energy_pj" else "") for v, m in table.columns]
    return Answer(f"Q9 ({arch}): " + "; ".join(bits) + ".", table.reset_index())


register_question(Question(
    "Q8", "Does the result depend on the hardware model assumed (FLOPs, SATA, SpikeSim, weight-stationary)?",
    "q8_ranking", answer_q8, (Panel(panel_ranking),),
    "Read each column's ranks: a method whose rank changes from column to column owes its advantage to the "
    "hardware model, not to the method.", columns=1,
))
register_question(Question(
    "Q9", "How does cost grow with T (or G)?", "q9_scaling", answer_q9,
    (Panel(panel_energy_vs_steps), Panel(panel_latency_vs_steps), Panel(panel_accuracy_vs_steps)),
    "Energy grows with T for both stepped methods (left); only IF's latency does (middle); accuracy saturates "
    "(right): the useful T is where the right panel flattens.",
))
