"""Q10 (how lossy is each conversion step, and why) and Q11 (would per-group thresholds help?)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from analysis.methods import Role, get_method, with_role
from analysis.palette import SERIES, hardware_color, hardware_marker
from analysis.report.paired import accuracy, comparison
from analysis.report.plotting import log2_x, no_data, open_panel
from analysis.report.questions import Answer, Panel, Question, panel, register_question
from analysis.report.tables import RunTables, by_hardware, method_color, method_label, not_working, numeric, select
from analysis.report.text import number, percent, percentage_points, span, times
from analysis.report.uncertainty import accuracy_of
from analysis.report.verdict import Claim, Verdict, listing, unanswered

#: A layer whose IF error relative to its mean activation exceeds this is where the error "enters".
ERROR_ENTERS = 0.1
#: QCFS's own reported drops at T=4 (Bu et al., ICLR 2022, CIFAR-10), set beside ours.
PUBLISHED_DROPS = "QCFS reports −1.5 pp (VGG-16) and −8 pp (ResNet-20) at T=4 on CIFAR-10"


def ladder(run: RunTables) -> pd.DataFrame:
    """Per arch and method (stepped ones at T = G = L): accuracy with its interval, and the change
    against the method it is built from (its registry ``parent``)."""
    steps = run.reference_steps()
    rows = []
    for arch in run.archs():
        configurations = {m: run.rows(m, arch=arch, steps=steps) for m in run.methods()}
        for method, rows_of in configurations.items():
            accuracy = accuracy_of(rows_of)
            if not math.isfinite(accuracy.mean):
                continue
            parent = get_method(method).parent
            change = comparison(run, rows_of, configurations[parent]) if parent in configurations else None
            rows.append({"arch": arch, "method": method, "step": method_label(method, steps),
                         "accuracy": accuracy.text(), "accuracy %": 100 * accuracy.mean,
                         "low %": 100 * accuracy.low, "high %": 100 * accuracy.high,
                         "vs parent": f"{change.text} vs {get_method(parent).short}" if change else "",
                         "short": change.short() if change else "", "parent": parent or "",
                         "Δ pp": 100 * change.difference if change else np.nan,
                         "identical": bool(change.identical) if change else False,
                         "working": not not_working(rows_of)})
    return pd.DataFrame(rows)


@panel
def panel_ladder(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Accuracy per arch and method with 95% intervals; bars from zero."""
    table = ladder(run)
    if not open_panel(ax, xlabel="architecture", ylabel="test accuracy (%)", title="accuracy ladder (95% interval)",
                      empty=table.empty):
        return
    archs, methods = list(dict.fromkeys(table["arch"])), list(dict.fromkeys(table["method"]))
    x = np.arange(len(archs))
    width = 0.8 / len(methods)
    for k, method in enumerate(methods):
        rows = select(table, method=method).set_index("arch").reindex(archs)
        errors = np.nan_to_num([rows["accuracy %"] - rows["low %"], rows["high %"] - rows["accuracy %"]])
        ax.bar(x + (k - (len(methods) - 1) / 2) * width, rows["accuracy %"], width, yerr=errors, capsize=2,
               color=method_color(method), label=rows["step"].dropna().iloc[0])
    ax.set_ylim(0, 105)
    ax.set_xticks(x)
    ax.set_xticklabels(archs)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def layer_errors(run: RunTables, steps: int | None = None) -> pd.DataFrame:
    errors = run.table("layer_errors")
    if errors.empty:
        return errors
    steps = run.reference_steps() if steps is None else steps
    chosen = select(errors, T=steps)
    return (chosen if not chosen.empty else select(errors, T=errors["T"].max())).sort_values(["arch", "layer_index"])


@panel
def panel_layer_errors(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Per layer, the IF rate's error against the quantized activation relative to the mean
    activation (T = L), one line per arch; residual-block boundaries marked."""
    errors = layer_errors(run)
    if not open_panel(ax, xlabel="layer index", ylabel="|IF rate·θ − quantized| / mean activation",
                      title="where the IF error enters and grows", empty=errors.empty, missing="layer_errors.csv"):
        return
    for index, (name, rows) in enumerate(errors.groupby("arch", sort=False)):
        ax.plot(rows["layer_index"], numeric(rows, "relative_error"), marker="o", ms=3,
                color=SERIES[index % len(SERIES)], label=f"{name} (T={int(rows['T'].iloc[0])})")
    ax.axhline(ERROR_ENTERS, color="#999999", ls=":", lw=0.8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)


def explain_drop(errors: pd.DataFrame) -> str:
    """Where the IF error enters (first layer over :data:`ERROR_ENTERS`), its largest value and the
    residual block where it is largest."""
    if errors.empty:
        return "no per-layer errors"
    relative = numeric(errors, "relative_error")
    over = errors[relative > ERROR_ENTERS]
    worst = errors.loc[relative.idxmax()]
    text = (f"error enters at {over['layer'].iloc[0]} (relative error {number(relative[over.index[0]], 2)})"
            if not over.empty else f"relative error stays under {ERROR_ENTERS} in every layer")
    text += f", grows to {number(relative.iloc[-1], 2)} at the last layer (largest {number(worst['relative_error'], 2)}"
    block = str(worst.get("block", "") or "")
    return text + (f" in block {block})" if block and block != "nan" else f" at {worst['layer']})")


def _from_direct_training(method: str) -> bool:
    """A directly trained SNN, or a network made from one."""
    spec = get_method(method)
    return spec.trains_directly or (spec.parent is not None and get_method(spec.parent).trains_directly)


def verdict_q10(run: RunTables) -> Verdict:
    """Every architecture's ladder: whether OneSpike is lossless against its quantized ANN on each,
    the worst step (largest drop, with its architecture), and each step's change — for one
    architecture as measured, for several as its span across them."""
    table = ladder(run)
    if table.empty:
        return unanswered("Q10", "not in this run — no accuracy rows")
    archs = list(dict.fromkeys(table["arch"]))
    # the conversion ladder from the ANN; the directly trained SNNs and their one-step forms are Q14's
    rows = table[(table["short"] != "") & ~table["method"].map(_from_direct_training)]
    if rows.empty:
        return unanswered("Q10", "not in this run — no conversion step with its parent in the run")
    onespike = select(rows, method=run.group_conversion)
    lossless = [a for a in archs if not select(onespike, arch=a).empty
                and select(onespike, arch=a)["identical"].iloc[0]]
    if len(archs) == 1:
        scope = archs[0]
    else:
        scope = f"all {len(archs)} archs" if len(lossless) == len(archs) else f"{len(lossless)} of {len(archs)} archs"
    opening = (f"OneSpike is lossless against its quantized ANN on {scope}" if lossless
               else f"Each conversion step's change ({archs[0] if len(archs) == 1 else f'{len(archs)} archs'})")
    worst = rows.loc[rows["Δ pp"].idxmin()]
    bits = []
    if len(archs) > 1 and float(worst["Δ pp"]) < 0:
        bits.append(f"worst step {worst['step']} vs {get_method(worst['parent']).short} "
                    f"{percentage_points(float(worst['Δ pp']))} ({worst['arch']})")
    for _, steps in rows.groupby("method", sort=False):
        name = f"{steps['step'].iloc[0]} vs {get_method(steps['parent'].iloc[0]).short}"
        idle = list(steps.loc[~steps["working"].astype(bool), "arch"])
        if idle:  # a network near chance: its step is no conversion loss to quote as one
            name = f"{name} (not a working network{'' if len(archs) == 1 else ' on ' + listing(idle)})"
        if len(archs) == 1:
            bits.append(f"{name} {steps['short'].iloc[0]}")
        elif (steps["identical"].all() and steps["method"].iloc[0] == run.group_conversion
              and len(lossless) == len(archs) and not idle):
            continue  # the opening says it: lossless on all archs
        elif steps["identical"].all():
            bits.append(f"{name} identical on {'all ' if len(steps) == len(archs) else ''}{len(steps)} archs")
        else:
            bits.append(f"{name} {_pp_span(steps['Δ pp'])}")
    numbers = {f"{r['arch']} {r['step']} accuracy": r["accuracy %"] / 100 for _, r in table.iterrows()}
    return Verdict("Q10", f"{opening}: " + "; ".join(bits) + ".", numbers)


def _pp_span(values: pd.Series) -> str:
    """``−6.9 to −0.6 pp`` (one value: ``−0.6 pp``)."""
    low, high = percentage_points(float(values.min())), percentage_points(float(values.max()))
    return low if low == high else f"{low.removesuffix(' pp')} to {high}"


def answer_q10(run: RunTables) -> Answer:
    verdict = verdict_q10(run)
    table = ladder(run)
    if table.empty:
        return Answer.of(verdict, table)
    errors = layer_errors(run)
    parts = []
    for arch, rows in table.groupby("arch", sort=False):
        explanation = ""
        if with_role(Role.TIME_CONVERSION, rows["method"]):
            explanation = ("IF: " + explain_drop(select(errors, arch=arch)) if not errors.empty
                           else "IF's per-layer error: not in this run")
        if explanation:
            parts.append(f"{arch}: {explanation}")
    details = "; ".join([*parts, PUBLISHED_DROPS]) + "."
    shown = table.drop(columns=["method", "accuracy %", "low %", "high %", "short", "parent", "Δ pp", "identical",
                                "working"])
    if errors.empty:
        return Answer.of(verdict, shown, details)
    return Answer.of(verdict, shown, details, {
        f"Per-layer IF error against the quantized activation (T={int(errors['T'].iloc[0])})": errors})


# -- Q11 --------------------------------------------------------------------------------------------
#: The per-group threshold variants, with how the report names them.
GROUP_VARIANTS = {
    "per_group_calibrated": "per-group thresholds calibrated on training activations",
    "per_group_binary": "bit-plane code θ_i = 2^i·θ₀ (spikes: the bits of one of 2^G levels)",
}
#: The same, as a verdict sentence names them.
SHORT_NAMES = {"per_group_calibrated": "calibrated per-group thresholds",
               "per_group_binary": "bit-plane thresholds θ_i = 2^i·θ₀ (2^G levels)"}


def at_chance(run: RunTables, accuracy: float) -> bool:
    """Whether ``accuracy`` is no better than guessing: under twice the chance rate 1/classes."""
    classes = run.data.get("num_classes")
    return bool(classes) and accuracy < 2.0 / float(classes)


def group_threshold_table(run: RunTables, arch: str | None = None) -> pd.DataFrame:
    """Per G and per-group variant: accuracy against the shared threshold (paired where the run has
    per-image predictions), and the energy ratio (variant / shared) under every hardware model; a
    variant at chance gets no energy ratio (it is not a working configuration)."""
    arch = run.first_arch(arch)
    onespike = select(run.results, arch=arch, method=run.group_conversion)
    rows = []
    for variant in GROUP_VARIANTS:
        for steps in sorted({int(t) for t in select(onespike, variant=variant)["T"]}):
            variant_rows = run.rows(run.group_conversion, arch=arch, steps=steps, variant=variant)
            shared_rows = run.rows(run.group_conversion, arch=arch, steps=steps)
            variant_acc, shared_acc = accuracy(run, variant_rows), accuracy(run, shared_rows)
            chance = at_chance(run, variant_acc.mean)
            row = {"variant": variant, "G": steps, "shared acc %": 100 * shared_acc.mean,
                   "variant acc %": 100 * variant_acc.mean,
                   "Δ": "at chance: not a working configuration" if chance else
                   comparison(run, variant_rows, shared_rows).text}
            mine, shared = by_hardware(variant_rows), by_hardware(shared_rows)
            for model in run.hardware_models():
                ratio = mine[model] / shared[model] if model in mine and model in shared else np.nan
                row[f"energy ratio {model}"] = np.nan if chance else ratio
            rows.append(row)
    return pd.DataFrame(rows)


@panel
def panel_group_accuracy(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Accuracy per G with 95% intervals: shared threshold vs each per-group variant."""
    arch = run.first_arch(arch)
    open_panel(ax, xlabel="G (groups)", ylabel="test accuracy (%)", title="accuracy (95% interval)")
    onespike = select(run.results, arch=arch, method=run.group_conversion)
    steps_seen: set[int] = set()
    for variant, style in (("default", "-"), ("per_group_calibrated", "--"), ("per_group_binary", ":")):
        steps = sorted({int(t) for t in select(onespike, variant=variant)["T"]})
        if not steps:
            continue
        points = [accuracy_of(run.rows(run.group_conversion, arch=arch, steps=t, variant=variant)) for t in steps]
        errors = np.nan_to_num([[100 * (a.mean - a.low) for a in points], [100 * (a.high - a.mean) for a in points]])
        ax.errorbar(steps, [100 * a.mean for a in points], yerr=errors, fmt=style, marker="o", capsize=3,
                    label=GROUP_VARIANTS.get(variant, "shared threshold"))
        steps_seen.update(steps)
    if not steps_seen:
        no_data(ax, "no OneSpike rows")
        return
    log2_x(ax, sorted(steps_seen))
    ax.legend(fontsize=7)


@panel
def panel_group_energy(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Energy of each per-group variant over the shared threshold's, per G and hardware model."""
    table = group_threshold_table(run, arch)
    if not open_panel(ax, xlabel="G (groups)", ylabel="energy: per-group / shared",
                      title="energy ratio per hardware model", empty=table.empty,
                      missing="no per-group threshold rows"):
        return
    styles = {"per_group_calibrated": "--", "per_group_binary": ":"}
    for model in hardware or run.hardware_models():
        for variant, rows in table.groupby("variant", sort=False):
            ax.plot(rows["G"], rows[f"energy ratio {model}"], styles[variant], marker=hardware_marker(model), ms=3,
                    color=hardware_color(model), label=model if variant == table["variant"].iloc[0] else None)
    ax.axhline(1.0, color="#888888", lw=0.8)
    log2_x(ax, sorted(table["G"].unique()))
    ax.legend(fontsize=7, title="dashed: calibrated; dotted: bit-plane", title_fontsize=7)


def verdict_q11(run: RunTables) -> Verdict:
    arch, steps = run.first_arch(), run.reference_steps()
    table = group_threshold_table(run, arch)
    if table.empty:
        return unanswered("Q11", "not in this run — no per_group_calibrated or per_group_binary OneSpike rows")
    bits, claims, numbers, helped = [], {}, {}, False
    for variant, rows in table.groupby("variant", sort=False):
        name = GROUP_VARIANTS[variant]
        if rows["Δ"].str.startswith("at chance").all():
            bits.append(f"{SHORT_NAMES[variant]} are at chance ({span(rows['variant acc %'] / 100, percent)}): "
                        "not a working configuration")
            continue
        at = select(rows, G=steps) if not select(rows, G=steps).empty else rows.iloc[[-1]]
        g = int(at["G"].iloc[0])
        delta = comparison(run, run.rows(run.group_conversion, arch=arch, steps=g, variant=variant),
                           run.rows(run.group_conversion, arch=arch, steps=g))
        ratios = {c.removeprefix("energy ratio "): float(at[c].iloc[0]) for c in at.columns
                  if c.startswith("energy ratio") and np.isfinite(float(at[c].iloc[0]))}
        for model, ratio in ratios.items():
            claims[(model, f"{name} cost no more energy (G={g})")] = Claim(bool(ratio <= 1), ratio, times(ratio))
        numbers[f"{variant} accuracy change"] = delta.difference
        helped = helped or (delta.resolved and delta.difference > 0)
        at_chance = str(at["Δ"].iloc[0]).startswith("at chance")
        if at_chance:  # no energy ratio: it is not a working configuration
            bits.append(f"{SHORT_NAMES[variant]} are at chance at G={g} "
                        f"({percent(float(at['variant acc %'].iloc[0]) / 100)}; {delta.short()}): not a working "
                        "configuration")
        else:
            effect = (f"give identical predictions on all {delta.n} images" if delta.identical
                      else f"change accuracy by {delta.short()}")
            bits.append(f"{SHORT_NAMES[variant]} {effect} at G={g}"
                        + (f", for {span(ratios.values(), times)} the energy" if ratios else ""))
        numbers.update({f"{variant} energy ratio {m}": r for m, r in ratios.items()})
    opening = "Yes" if helped else "No"
    return Verdict("Q11", f"{opening}: " + "; ".join(bits) + ".", numbers, claims)


def answer_q11(run: RunTables) -> Answer:
    verdict = verdict_q11(run)
    table = group_threshold_table(run, run.first_arch())
    if table.empty:
        return Answer.of(verdict, table)
    ratio_columns = [c for c in table.columns if c.startswith("energy ratio")]
    parts = []
    for variant, rows in table.groupby("variant", sort=False):
        changes = ", ".join(f"G={r['G']} {r['Δ']}" for _, r in rows.iterrows())
        energy = span(rows[ratio_columns].to_numpy().ravel(), times)
        parts.append(f"{GROUP_VARIANTS[variant]}: accuracy vs the shared threshold {changes}"
                     + (f"; energy {energy} the shared one's across {len(ratio_columns)} hardware model(s)"
                        if energy != "n/a" else "; energy not compared (not a working configuration)"))
    return Answer.of(verdict, table, "; ".join(parts) + ".")


register_question(Question(
    "Q10", 'How lossy is each conversion step ("near-lossless")?', "q10_ladder", answer_q10,
    (Panel(panel_ladder), Panel(panel_layer_errors)),
    "Bars whose intervals overlap are not resolved by this test set; the right panel shows in which layer the "
    "IF network's error against the quantized ANN enters and how it grows.", columns=2, all_archs=True,
    verdict=verdict_q10,
))
register_question(Question(
    "Q11", "Would different thresholds per group help?", "q11_group_thresholds", answer_q11,
    (Panel(panel_group_accuracy), Panel(panel_group_energy)),
    "A per-group variant helps where its curve sits above the shared threshold's by more than the intervals, "
    "at an energy ratio near or under 1.", columns=2, verdict=verdict_q11,
))
