"""Q7: is handling sparse 1-bit spikes cheaper than dense multi-bit activations? The sparsity sweep
(with the per-spike overhead varied and the float ANN beside it) and the break-even spike rate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.methods import Role, first_with_role, get_method, reference_method
from analysis.report.plotting import MIN_FONT_PT, energy_scale, fit_title, open_panel
from analysis.report.questions import Answer, Panel, Question, panel, register_question
from analysis.report.tables import RunTables, by_hardware, method_color, method_label, numeric, select
from analysis.report.text import number, percent, rate_text, span, times
from analysis.report.verdict import CHEAPER, Verdict, models_text, order_claim, unanswered

#: The published break-even the report sets beside ours.
PUBLISHED_RATE = 0.057
PUBLISHED_SOURCE = "arXiv 2409.08290, Yan et al., T=5 SNN vs the ceil(log2(T+1))-bit QNN"
#: Q7's hardware-dependent claim.
CLAIM = "the SNN vs the equivalent QNN at its measured spike rate"


def _overheads(sweep: pd.DataFrame) -> list[float]:
    return sorted(set(numeric(sweep, "spike_event_pj", 0.0)))


@panel
def panel_sweep(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Under one hardware model: SNN energy vs input sparsity, one line per method (its colour) and
    per-spike overhead (fainter = larger), the equivalent QNN (dotted) and the float ANN (dash-dot)
    as levels, the break-even sparsity (dashed) and the measured sparsity (star)."""
    model = hardware[0] if hardware else run.main_hardware()
    arch = run.first_arch(arch)
    sweep = select(run.table("sweep"), arch=arch, hardware=model)
    if not open_panel(ax, xlabel="input spike sparsity (1 − spike rate)", ylabel="energy per inference",
                      title=str(model), empty=sweep.empty, missing="sweep.csv"):
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
    ax.axhline(float(numeric(sweep, "qnn_energy_pj").iloc[0]) / divisor, color=method_color(run.quantized_parent),
               ls=":", lw=1.5, label="equivalent QNN")
    if "ann_energy_pj" in sweep.columns:
        ax.axhline(float(numeric(sweep, "ann_energy_pj").iloc[0]) / divisor, color=method_color(reference_method()),
                   ls="-.", lw=1.2, label="float ANN")
    point = select(run.table("breakeven"), arch=arch, hardware=model)
    if not point.empty:
        sparsity = float(numeric(point, "break_even_sparsity").iloc[0])
        if math.isfinite(sparsity):
            ax.axvline(sparsity, color="#333333", ls="--", lw=0.9, label="break-even sparsity")
        where = f"break-even rate {rate_text(1 - sparsity)}" if math.isfinite(sparsity) else \
            _reason(point["reason"].iloc[0] if "reason" in point.columns else "")
        ax.set_title(fit_title(ax, f"{model}: {where}"), fontsize=MIN_FONT_PT + 1)
        measured = float(numeric(point, "measured_spike_rate").iloc[0])
        base = select(sweep, spike_event_pj=overheads[0], method=point["method"].iloc[0]).sort_values("input_sparsity")
        if math.isfinite(measured) and not base.empty:
            y = np.interp(1 - measured, base["input_sparsity"], numeric(base, "snn_energy_pj") / divisor)
            ax.plot([1 - measured], [y], marker="*", ms=10, color="#333333", ls="none", label="measured")
    ax.set_ylim(bottom=0)
    ax.set_ylabel(f"energy per inference ({unit})")
    ax.legend(fontsize=7)


def _reason(reason) -> str:
    text = str(reason or "").lower()
    if "more" in text:
        return "none (SNN dearer at every rate)"
    if "less" in text:
        return "none (SNN cheaper at every rate)"
    return "none"


def _pair(run: RunTables) -> tuple[str, int, int] | None:
    """(SNN method, its T, the equivalent QNN's levels = T) of the break-even pair: the breakeven
    table's first method, else IF at the config's break-even T."""
    points = select(run.table("breakeven"), arch=run.first_arch())
    if not points.empty:
        return str(points["method"].iloc[0]), int(points["T"].iloc[0]), int(points["T"].iloc[0])
    steps, snn = run.config.get("breakeven_timesteps"), first_with_role(Role.TIME_CONVERSION, run.methods())
    return (snn, int(steps), int(steps)) if steps and snn else None


def verdict_q7(run: RunTables) -> Verdict:
    arch, pair = run.first_arch(), _pair(run)
    published = f"published ≈{100 * PUBLISHED_RATE:.1f}%"
    if pair is None:
        return unanswered("Q7", f"not in this run — no breakeven.csv rows (needs if and qcfs); {published}")
    method, steps, levels = pair
    parent = get_method(method).parent
    bits = math.ceil(math.log2(levels + 1))
    claims, ratios = {}, {}
    snns = by_hardware(run.present_rows(method, arch=arch, steps=steps))
    qnns = by_hardware(run.present_rows(parent, arch=arch, levels=levels))
    for model in run.hardware_models():
        snn, qnn = snns.get(model, math.nan), qnns.get(model, math.nan)
        if math.isfinite(snn) and math.isfinite(qnn) and qnn > 0:
            ratios[model] = snn / qnn
            claims[(model, CLAIM)] = order_claim(snn / qnn)
    if not claims:
        return unanswered("Q7", f"not in this run — no {method_label(method, steps)} or {bits}-bit QNN rows")
    label, total = method_label(method, steps), len(ratios)
    cheaper = [m for (m, _), c in claims.items() if c.value == CHEAPER]
    opening = "Yes" if len(cheaper) == total else "No" if not cheaper else "Depends on the hardware model"
    points = select(run.table("breakeven"), arch=arch, method=method)
    rate = float(numeric(points, "measured_spike_rate").iloc[0]) if not points.empty else float("nan")
    measured = f" ({rate_text(rate)})" if math.isfinite(rate) else ""
    sentence = (f"{opening}: at its measured spike rate{measured} {label} costs {span(ratios.values(), times)} the "
                f"equivalent {bits}-bit QNN"
                + (f", less under {models_text(cheaper, total)}" if 0 < len(cheaper) < total else ""))
    rates = {r["hardware"]: 1 - float(r["break_even_sparsity"]) for _, r in points.iterrows()
             if math.isfinite(float(r["break_even_sparsity"])) and r["hardware"] in ratios}
    if rates:
        sentence += (f"; it breaks even below a spike rate of {span(rates.values(), rate_text)} under "
                     f"{models_text(list(rates), total)} ({published})")
    return Verdict("Q7", sentence + ".", {**{f"{m} SNN/QNN": r for m, r in ratios.items()},
                                          **{f"{m} break-even rate": r for m, r in rates.items()},
                                          "measured spike rate": rate}, claims)


def answer_q7(run: RunTables) -> Answer:
    verdict = verdict_q7(run)
    arch = run.first_arch()
    points = select(run.table("breakeven"), arch=arch)
    if points.empty:
        return Answer.of(verdict, points)
    published = f"published ≈{100 * PUBLISHED_RATE:.1f}% ({PUBLISHED_SOURCE})"
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
    details = (f"Break-even average spike rate of {method_label(method, steps)} vs the equivalent {bits}-bit QNN: "
               + ", ".join(rates) + f"; measured spike rate {percent(first['measured_spike_rate'])}; {published}")
    if "spike_event_pj_for_published" in points.columns:
        details += ("; per-spike overhead that would put the break-even at the published rate: "
                    + (", ".join(overheads) if overheads else "none under any model"))
    sweep = select(run.table("sweep"), arch=arch)
    if "ann_energy_pj" in sweep.columns and not sweep.empty:
        cheaper = [m for m in order if (numeric(select(sweep, hardware=m), "ann_energy_pj")
                                        < numeric(select(sweep, hardware=m), "qnn_energy_pj")).any()]
        details += f"; the float ANN is cheaper than the {bits}-bit QNN under {len(cheaper)} of {len(order)} model(s)"
    targets = run.table("yan2024_targets")
    if not targets.empty:
        details += "; Yan et al.'s cases, published vs ours: " + ", ".join(
            f"{row['case']} {rate_text(float(row['published_rate']))} vs {rate_text(float(row['our_rate']))}"
            for _, row in targets.iterrows())
    columns = ["hardware", "break_even_spike_rate", "measured_spike_rate", "spike_event_pj_for_published", "reason"]
    more = {"Yan et al.'s reported cases beside ours": targets} if not targets.empty else {}
    return Answer.of(verdict, points[[c for c in columns if c in points.columns]], details + ".", more)


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
    note=NOTE, columns=4, verdict=verdict_q7, shared_legend=True,
))
