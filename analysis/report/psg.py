"""Q3: what do PSG's multiply and modulus cost?

Q3 compares exact PSG (mul/mod, variant ``exact_pow2``) with hardware PSG (shift/mask, variant
``hardware``) on the same power-of-two-rounded network: the spikes are the same, so the energy
difference is the price of mul/mod alone. The accuracy effect of rounding the thresholds is shown
separately (QCFS ``pow2`` against QCFS ``default``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.report.paired import comparison
from analysis.report.plotting import MIN_FONT_PT, bar_labels, fit_title, log2_x, no_data, open_panel
from analysis.report.questions import Answer, Panel, Question, panel, register_question
from analysis.report.tables import RunTables, by_hardware, method_color, numeric, select
from analysis.report.text import number, percent, span
from analysis.report.uncertainty import accuracy_of
from analysis.report.verdict import Claim, Verdict, models_text, unanswered
from energy_models import SYNAPTIC_KINDS
from energy_models.ledger import EVENTS

#: Ledger events that are arithmetic (the op mix); the rest are memory traffic and spike counts.
ARITHMETIC = tuple(e for e in EVENTS if e not in
                   ("spikes", "weight_reads", "input_reads", "output_writes", "vmem_reads", "vmem_writes"))
SPIKE_GENERATION_KIND = "neuron"
#: PSG's exact-mode operations that hardware mode replaces.
MUL_MOD = ("mul", "mod")
#: Q3's hardware-dependent claim.
MOST = "mul/mod are at least half of exact PSG's logic energy"


def psg_modes(run: RunTables) -> tuple[str, str, bool]:
    """(exact variant, hardware variant, same network?): ``exact_pow2`` vs ``hardware`` where the run
    has them, else ``default`` vs ``hardware`` (thresholds not rounded alike: not the same spikes)."""
    onespike = select(run.results, method=run.group_conversion)
    variants = set(onespike["variant"]) if "variant" in run.results.columns else set()
    if "exact_pow2" in variants:
        return "exact_pow2", "hardware", True
    return "default", "hardware", False


def _mode_steps(run: RunTables, arch: str | None) -> int | None:
    exact, hardware, _ = psg_modes(run)
    rows = select(run.results, arch=arch, method=run.group_conversion)
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
    layers = select(run.table("layers"), arch=arch, method=run.group_conversion, T=steps)
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


@panel
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
        bars = ax.bar(x + (k - 0.5) * 0.4, [row[e] for e in events], 0.4, color=method_color(run.group_conversion),
                      hatch="" if row["mode"] == "exact" else "//", edgecolor="white", alpha=1 - 0.4 * k,
                      label=f"{row['mode']} mode")
        bar_labels(ax, bars, "{:.2g}")
    ax.set_xticks(x)
    ax.set_xticklabels(events)
    ax.legend(fontsize=7)
    ax.set_title(fit_title(ax, f"PSG op mix at G={_mode_steps(run, arch)}"), fontsize=MIN_FONT_PT + 1)


@panel
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


def zero_by_construction(run: RunTables, model: str, events: tuple[str, ...] = MUL_MOD) -> str:
    """Why ``model`` prices ``events`` at zero by construction (its provenance in ``hardware.csv``),
    or ``""`` when it prices them."""
    reasons = run.hardware_info(model).get("zero_by_construction", {})
    found = [str(reasons[e]) for e in events if e in reasons]
    return found[0] if found else ""


def mul_mod_price(run: RunTables, arch: str | None = None, models: list[str] | None = None) -> pd.DataFrame:
    """Per hardware model: OneSpike's energy in exact and hardware mode at one G, what mul/mod cost
    (exact − hardware, same spikes) as a share of exact PSG's own logic energy (compute and neuron
    logic of the spike-generating layers, ``neuron_logic_pj``) and of the whole network, and the
    reason a model prices mul/mod at zero by construction."""
    arch = run.first_arch(arch)
    steps = _mode_steps(run, arch)
    exact, hardware, _ = psg_modes(run)
    rows = []
    exact_rows = run.rows(run.group_conversion, arch=arch, steps=steps, variant=exact)
    exact_pj, logic_pj = by_hardware(exact_rows), by_hardware(exact_rows, "neuron_logic_pj")
    hardware_pj = by_hardware(run.rows(run.group_conversion, arch=arch, steps=steps, variant=hardware))
    for model in models or run.hardware_models():
        if model not in exact_pj or model not in hardware_pj:
            continue
        e_pj, h_pj, logic = exact_pj[model], hardware_pj[model], logic_pj.get(model, np.nan)
        cost = max(e_pj - h_pj, 0.0)
        rows.append({"hardware": model, "G": steps, "exact_pj": e_pj, "hardware_pj": h_pj,
                     "mul/mod share of PSG logic %": 100 * cost / logic if logic > 0 else 0.0 if cost == 0 else np.nan,
                     "mul/mod share of network %": 100 * cost / e_pj if e_pj > 0 else np.nan,
                     "zero by construction": zero_by_construction(run, model)})
    return pd.DataFrame(rows)


@panel
def panel_mul_mod_price(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """The share of exact PSG's energy that its mul/mod cost, per hardware model (same spikes)."""
    table = mul_mod_price(run, arch, list(hardware) if hardware else run.figure_models())
    if not open_panel(ax, xlabel="hardware model", ylabel="(exact − hardware) / exact PSG logic (%)",
                      title="what mul/mod cost, share of PSG's own logic", empty=table.empty,
                      missing="no exact + hardware OneSpike rows"):
        return
    shares = table["mul/mod share of PSG logic %"].fillna(0)
    bars = ax.bar(range(len(table)), shares, color=method_color(run.group_conversion))
    bar_labels(ax, bars, "{:.2g}")
    for i, reason in enumerate(table["zero by construction"]):
        if reason:
            ax.annotate("0 by construction", (i, 0), ha="center", va="bottom", fontsize=7, color="#777777",
                        rotation=90, xytext=(0, 2), textcoords="offset points")
    ax.axhline(0, color="#555555", lw=0.8)
    ax.set_xticks(range(len(table)))
    ax.set_xticklabels(table["hardware"], rotation=35, ha="right", fontsize=8)


@panel
def panel_mode_accuracy(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Accuracy per G of OneSpike default, exact on the rounded network and hardware mode, with 95%
    Wilson intervals."""
    arch = run.first_arch(arch)
    open_panel(ax, xlabel="G (groups)", ylabel="test accuracy (%)", title="accuracy of each PSG mode (95% interval)")
    exact, hardware_variant, _ = psg_modes(run)
    rows = select(run.per_inference(), arch=arch, method=run.group_conversion)
    drew = []
    for variant, style in (("default", "-"), (exact, "--"), (hardware_variant, ":")):
        steps = sorted({int(t) for t in select(rows, variant=variant)["T"]}) if not rows.empty else []
        if variant in [d for d, _ in drew] or not steps:
            continue
        accuracies = [accuracy_of(run.rows(run.group_conversion, arch=arch, steps=t, variant=variant)) for t in steps]
        means = np.array([100 * a.mean for a in accuracies])
        errors = np.array([[100 * (a.mean - a.low) for a in accuracies], [100 * (a.high - a.mean) for a in accuracies]])
        ax.errorbar(steps, means, yerr=np.nan_to_num(errors), fmt=style, marker="o", capsize=3, label=variant)
        drew.append((variant, steps))
    if not drew:
        no_data(ax, "no OneSpike rows")
        return
    log2_x(ax, sorted({t for _, s in drew for t in s}))
    ax.legend(fontsize=7)


def verdict_q3(run: RunTables) -> Verdict:
    arch = run.first_arch()
    steps = _mode_steps(run, arch)
    if steps is None:
        return unanswered("Q3", "not in this run — no OneSpike rows in both exact and hardware PSG mode")
    exact, hardware, same_network = psg_modes(run)
    price = mul_mod_price(run, arch)
    claims, priced, zero = {}, [], []
    for _, row in price.iterrows():
        share = float(row["mul/mod share of PSG logic %"]) / 100
        if row["zero by construction"]:
            zero.append(row["hardware"])
            continue
        if np.isfinite(share):
            priced.append((row["hardware"], share))
            claims[(row["hardware"], MOST)] = Claim(bool(share >= 0.5), share, percent(share, 0))
    accuracy = comparison(run, run.rows(run.group_conversion, arch=arch, steps=steps, variant=hardware),
                          run.rows(run.group_conversion, arch=arch, steps=steps, variant=exact))
    total = len(price)
    parts = []
    if priced:
        names = [m for m, _ in priced]
        parts.append(f"{span([v for _, v in priced], lambda v: percent(v, 0))} of exact PSG's own logic energy "
                     f"under {models_text(names, total)}")
    if zero:
        parts.append(f"0 by construction under {models_text(zero, total, named=5)}")
    majority = [m for m, v in priced if v >= 0.5]
    opening = ("Depends on the hardware model" if (priced and zero) or 0 < len(majority) < len(priced) else
               "Yes, where priced" if majority else "No")
    tail = (f"; hardware mode (shift/mask) removes them: {accuracy.short()} vs exact"
            if accuracy.identical or accuracy.paired or np.isfinite(accuracy.difference) else "")
    sentence = f"{opening}: mul/mod are {'; '.join(parts) or 'not priced'} (G={steps}){tail}."
    if not same_network:
        sentence = sentence[:-1] + " (no exact_pow2 rows: this mixes mul/mod with threshold rounding)."
    return Verdict("Q3", sentence, {f"{m} share of PSG logic": v for m, v in priced}, claims)


def answer_q3(run: RunTables) -> Answer:
    verdict = verdict_q3(run)
    arch = run.first_arch()
    steps = _mode_steps(run, arch)
    if steps is None:
        return Answer.of(verdict, pd.DataFrame())
    exact, hardware, _ = psg_modes(run)
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
        bits.append(f"outside PSG per inference (not spike generation): {outside}")
    price = mul_mod_price(run, arch)
    if not price.empty:
        bits.append(f"as a share of the whole network's energy mul/mod are "
                    f"{span(price['mul/mod share of network %'] / 100, percent)}")
    accuracy = comparison(run, run.rows(run.group_conversion, arch=arch, steps=steps, variant=hardware),
                          run.rows(run.group_conversion, arch=arch, steps=steps, variant=exact))
    bits.append(f"accuracy hardware vs {exact}: {accuracy.text}")
    rounded = run.present_rows(run.quantized_parent, arch=arch, variant="pow2")
    if rounded.empty:
        bits.append("rounding thresholds to powers of two: not in this run (no qcfs pow2 rows)")
    else:
        base = run.rows(run.quantized_parent, arch=arch)
        bits.append(f"rounding QCFS thresholds to powers of two: {accuracy_of(base).text()} → "
                    f"{accuracy_of(rounded).text()} ({comparison(run, rounded, base).text})")
    zero = price[price["zero by construction"] != ""] if not price.empty else price
    more = {"Where mul/mod cost nothing by construction": zero[["hardware", "zero by construction"]]} \
        if not zero.empty else {}
    shown = price.drop(columns=["zero by construction"]) if not price.empty else price
    return Answer.of(verdict, shown, "; ".join(bits) + ".", {"PSG op mix": table, **more})


register_question(Question(
    "Q3", "PSG's spike generation uses multiplication and modulus — what does it really cost?", "q3_psg_ops",
    answer_q3, (Panel(panel_op_mix), Panel(panel_other_ops), Panel(panel_mul_mod_price), Panel(panel_mode_accuracy)),
    "Exact and hardware PSG run on the same power-of-two-rounded network, so the third panel's bars are the "
    "price of mul/mod alone; pooling/readout shifts (second panel) are not spike generation.", columns=2,
    verdict=verdict_q3,
))
