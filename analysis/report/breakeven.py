"""Q7: is handling sparse 1-bit spikes cheaper than dense multi-bit activations? The sparsity sweep
(with the per-spike overhead varied and the float ANN beside it) and the break-even spike rate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.methods import Method, get_method, reference_method
from analysis.report.plotting import energy_scale, open_panel
from analysis.report.questions import Answer, Panel, Question, register_question
from analysis.report.tables import RunTables, method_color, method_label, numeric, select
from analysis.report.text import not_in_run, number, percent, rate_text

#: The published break-even the report sets beside ours.
PUBLISHED_RATE = 0.057
PUBLISHED_SOURCE = "arXiv 2409.08290, Yan et al., T=5 SNN vs the ceil(log2(T+1))-bit QNN"


def _overheads(sweep: pd.DataFrame) -> list[float]:
    return sorted(set(numeric(sweep, "spike_event_pj", 0.0)))


def panel_sweep(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Under one hardware model: SNN energy vs input sparsity, one line per method (its colour) and
    per-spike overhead (fainter = larger), the equivalent QNN (dotted) and the float ANN (dash-dot)
    as levels, the break-even sparsity (dashed) and the measured sparsity (star)."""
    model = hardware[0] if hardware else run.main_hardware()
    arch = run.first_arch(arch)
    sweep = select(run.table("sweep"), arch=arch, hardware=model)
    if not open_panel(ax, xlabel="input spike sparsity (1 − spike rate)", ylabel="energy per inference",
                      title=str(model), title_size=10, empty=sweep.empty, missing="sweep.csv"):
        return
    sweep = sweep.assign(spike_event_pj=numeric(sweep, "spike_event_pj", 0.0))
    divisor, unit = energy_scale(list(numeric(sweep, "snn_energy_pj")) + list(numeric(sweep, "qnn_energy_pj")))
    overheads = _overheads(sweep)
    fades = np.linspace(1.0, 0.35, len(overheads))
    for method, method_rows in sweep.groupby("method", sort=False):
        for fade, overhead in zip(fades, overheads, strict=True):
            rows = select(method_rows, spike_event_pj=overhead).sort_values("input_sparsity")
            ax.plot(rows["input_sparsity"], numeric(rows, "snn_energy_pj") / divisor, "-", color=method_color(method),
                    alpha=fade, label=f"{get_method(method).short}, +{number(overhead)} pJ/spike")
    ax.axhline(float(numeric(sweep, "qnn_energy_pj").iloc[0]) / divisor, color=method_color(Method.QCFS), ls=":",
               lw=1.5, label="equivalent QNN")
    if "ann_energy_pj" in sweep.columns:
        ax.axhline(float(numeric(sweep, "ann_energy_pj").iloc[0]) / divisor, color=method_color(reference_method()),
                   ls="-.", lw=1.2, label="float ANN")
    point = select(run.table("breakeven"), arch=arch, hardware=model)
    if not point.empty:
        sparsity = float(numeric(point, "break_even_sparsity").iloc[0])
        if math.isfinite(sparsity):
            ax.axvline(sparsity, color="#333333", ls="--", lw=0.9, label=f"break-even rate {rate_text(1 - sparsity)}")
        measured = float(numeric(point, "measured_spike_rate").iloc[0])
        base = select(sweep, spike_event_pj=overheads[0], method=point["method"].iloc[0]).sort_values("input_sparsity")
        if math.isfinite(measured) and not base.empty:
            y = np.interp(1 - measured, base["input_sparsity"], numeric(base, "snn_energy_pj") / divisor)
            ax.plot([1 - measured], [y], marker="*", ms=10, color="#333333", ls="none", label="measured")
    ax.set_ylim(bottom=0)
    ax.set_ylabel(f"energy per inference ({unit})")
    ax.legend(fontsize=6)


def _reason(reason) -> str:
    text = str(reason or "").lower()
    if "more" in text:
        return "none (SNN dearer at every rate)"
    if "less" in text:
        return "none (SNN cheaper at every rate)"
    return "none"


def answer_q7(run: RunTables) -> Answer:
    arch = run.first_arch()
    points = select(run.table("breakeven"), arch=arch)
    published = f"published ≈{100 * PUBLISHED_RATE:.1f}% ({PUBLISHED_SOURCE})"
    if points.empty:
        return Answer(not_in_run("Q7", f"no breakeven.csv rows (needs if and qcfs); {published}"), points)
    points = points.assign(break_even_spike_rate=1 - numeric(points, "break_even_sparsity"))
    method = points["method"].iloc[0]
    points = select(points, method=method)
    order = [m for m in run.hardware_models() if m in set(points["hardware"])]
    rates, overheads = [], []
    for model in order:
        row = select(points, hardware=model).iloc[0]
        rate = float(row["break_even_spike_rate"])
        rates.append(f"{model} {rate_text(rate)}" if math.isfinite(rate) else f"{model} {_reason(row.get('reason'))}")
        overhead = float(row.get("spike_event_pj_for_published", float("nan")))
        if math.isfinite(overhead):
            overheads.append(f"{model} {number(overhead)} pJ")
    first = points.iloc[0]
    steps, bits = int(first["T"]), int(first["qnn_act_bits"])
    line = (f"Q7 ({arch}): break-even average spike rate of {method_label(method, steps)} vs the equivalent "
            f"{bits}-bit QNN: " + ", ".join(rates)
            + f"; measured spike rate {percent(first['measured_spike_rate'])}; {published}")
    if "spike_event_pj_for_published" in points.columns:
        line += ("; per-spike overhead that would put the break-even at the published rate: "
                 + (", ".join(overheads) if overheads else "none under any model"))
    sweep = select(run.table("sweep"), arch=arch)
    if "ann_energy_pj" in sweep.columns and not sweep.empty:
        cheaper = [m for m in order if (numeric(select(sweep, hardware=m), "ann_energy_pj")
                                        < numeric(select(sweep, hardware=m), "qnn_energy_pj")).any()]
        line += f"; the float ANN is cheaper than the {bits}-bit QNN under {len(cheaper)} of {len(order)} model(s)"
    targets = run.table("yan2024_targets")
    if not targets.empty:
        line += "; Yan et al.'s cases, published vs ours: " + ", ".join(
            f"{row['case']} {rate_text(float(row['published_rate']))} vs {rate_text(float(row['our_rate']))}"
            for _, row in targets.iterrows())
    columns = ["method", "T", "qnn_act_bits", "hardware", "break_even_sparsity", "break_even_spike_rate",
               "measured_spike_rate", "spike_event_pj_for_published", "published_rate", "reason"]
    return Answer(line + ".", points[[c for c in columns if c in points.columns]])


NOTE = (
    "Reading the break-even: the sweep rescales the SNN's spike-driven counts to each input sparsity and prices "
    "them under the same model as the equivalent ceil(log2(T+1))-bit QNN, once per per-spike overhead "
    "(addressing/routing energy added to every spike). \"No break-even, cheaper at every rate\" means the model "
    "prices even a fully dense spike train below the QNN; \"dearer at every rate\" means the SNN's "
    "activity-independent costs alone exceed the QNN's. Yan et al. find ≈5.7% for T=5 under a model that charges "
    "sparse-activation addressing, weights, memory and NoC; a model here without a per-spike cost finds a "
    "higher break-even rate, or none."
)

register_question(Question(
    "Q7", "Is handling 1-bit sparse activations really cheaper than dense 8-bit ones (address decoding, routing)?",
    "q7_breakeven", answer_q7, (Panel(panel_sweep, per_hardware=True),),
    "Where an SNN line crosses the dotted QNN level is the break-even sparsity; fainter lines charge more per "
    "spike, moving the crossing right; the dash-dot level is the float ANN; the star is the measured sparsity.",
    note=NOTE, columns=4,
))
