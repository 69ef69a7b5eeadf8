"""Q12 (the architecture's advantage or the method's?) and Q13 (OneSpike vs a BNN, at equal shape and at
equal bits); the accuracy/energy front is :mod:`analysis.report.pareto`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.methods import Role, first_with_role, get_method
from analysis.palette import hardware_color, hardware_marker
from analysis.report.paired import accuracy as run_accuracy
from analysis.report.paired import comparison as paired_comparison
from analysis.report.plotting import MIN_FONT_PT, bar_labels, fit_title, log_axis, open_panel
from analysis.report.questions import Answer, Panel, Question, panel, register_question
from analysis.report.tables import (
    RunTables,
    by_hardware,
    method_color,
    method_label,
    not_working,
    select,
)
from analysis.report.text import ratio_text, span, times
from analysis.report.verdict import (
    CHEAPER,
    DEARER,
    TIED,
    Claim,
    Verdict,
    by_value,
    listing,
    models_text,
    order_claim,
    unanswered,
)


# -- Q12 --------------------------------------------------------------------------------------------
def converted_pair(energy: pd.Series) -> tuple[str, str] | None:
    """(the method converted on G from a quantized parent, that parent) where ``energy`` (by method)
    has both and the parent's is positive: OneSpike(G=L) and QCFS(L) for the built-in methods."""
    subject = first_with_role(Role.GROUP_CONVERSION, energy.index)
    base = get_method(subject).parent if subject else None
    return (subject, base) if base in energy.index and energy[base] > 0 else None


def architecture_table(run: RunTables) -> pd.DataFrame:
    """Per arch and method (stepped ones at T = G = L): accuracy with its interval and the energy
    under every hardware model."""
    steps = run.reference_steps()
    rows = []
    for arch in run.archs():
        for method in run.methods():
            configuration = run.rows(method, arch=arch, steps=steps)
            if configuration.empty:
                continue
            row = {"arch": arch, "method": method, "configuration": method_label(method, steps),
                   "accuracy": run_accuracy(run, configuration).text()}
            energy = by_hardware(configuration)
            for model in run.hardware_models():
                row[f"{model} pJ"] = energy.get(model, np.nan)
            rows.append(row)
    return pd.DataFrame(rows)


@panel
def panel_architecture_ratio(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """OneSpike(G=L)'s energy over QCFS(L)'s per architecture, one line per hardware model (log y;
    1 = as dear as the quantized ANN). A method's advantage is the method's where every line stays on
    one side of 1 across architectures."""
    table = architecture_table(run)
    archs = list(dict.fromkeys(table["arch"])) if not table.empty else []
    if not open_panel(ax, xlabel="architecture", ylabel="energy: OneSpike(G=L) / QCFS(L) (log)",
                      title="OneSpike / QCFS energy per architecture", empty=table.empty):
        return
    x = np.arange(len(archs))
    for model in hardware or run.figure_models():
        column = f"{model} pJ"
        ratios = []
        for name in archs:
            sub = select(table, arch=name).set_index("method")[column]
            pair = converted_pair(sub)
            ratios.append(sub[pair[0]] / sub[pair[1]] if pair else np.nan)
        ax.plot(x, ratios, marker=hardware_marker(model), ms=5, color=hardware_color(model), label=model)
    ax.axhline(1.0, color="#555555", lw=0.8)
    log_axis(ax)
    ax.set_xticks(x)
    ax.set_xticklabels(archs)
    ax.set_xlim(-0.5, len(archs) - 0.5)
    if len(archs) < 2:
        ax.set_title(fit_title(ax, "one architecture: Q12 needs two or more"), fontsize=MIN_FONT_PT + 1)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


@panel
def panel_architecture_accuracy(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """OneSpike(G=L)'s accuracy minus QCFS(L)'s per architecture (pp; bars from 0)."""
    archs, steps = run.archs(), run.reference_steps()
    if not open_panel(ax, xlabel="architecture", ylabel="OneSpike − QCFS accuracy (pp)",
                      title="accuracy difference on the same images", empty=not archs):
        return
    differences = [100 * (run_accuracy(run, run.rows(run.group_conversion, arch=a, steps=steps)).mean
                          - run_accuracy(run, run.rows(run.quantized_parent, arch=a)).mean) for a in archs]
    ax.bar(range(len(archs)), differences, color=method_color(run.group_conversion), width=0.5)
    for index, difference in enumerate(differences):  # zero and negative differences are labelled too
        up = difference >= 0
        ax.annotate(f"{difference:+.1f} pp", (index, difference), ha="center", va="bottom" if up else "top",
                    fontsize=8, xytext=(0, 2 if up else -2), textcoords="offset points")
    ax.axhline(0, color="#555555", lw=0.8)
    ax.set_xticks(range(len(archs)))
    ax.set_xticklabels(archs)
    low, high = min([0.0, *differences]), max([0.0, *differences])
    ax.set_ylim(min(low * 1.3, -1.0), max(high * 1.3, 1.0))


def verdict_q12(run: RunTables) -> Verdict:
    table = architecture_table(run)
    if table.empty:
        return unanswered("Q12", "not in this run — no per-method rows")
    archs, steps = list(dict.fromkeys(table["arch"])), run.reference_steps()
    if len(archs) < 2:
        return unanswered("Q12", "Q12 needs two or more architectures to tell the method's advantage from the "
                          f"architecture's; this run has one ({archs[0]}): run the study with --arch naming two or "
                          "more")
    subject, base = method_label(run.group_conversion, steps), method_label(run.quantized_parent)
    idle = [a for a in archs if not_working(run.rows(run.group_conversion, arch=a, steps=steps))
            or not_working(run.rows(run.quantized_parent, arch=a))]
    archs = [a for a in archs if a not in idle]  # a network near chance has no energy worth comparing
    excluded = f"; not working on {listing(idle)} (left out)" if idle else ""
    if len(archs) < 2:
        return Verdict("Q12", f"n/a: {subject} or {base} is not a working network on {listing(idle)}, which leaves "
                       f"{len(archs)} architecture(s) to compare.", not_working=tuple(idle))
    claims, ratios, mixed = {}, {}, []
    for model in run.hardware_models():
        per_arch = {}
        for arch in archs:
            sub = select(table, arch=arch).set_index("method")[f"{model} pJ"]
            pair = converted_pair(sub)
            if pair:
                per_arch[arch] = float(sub[pair[0]] / sub[pair[1]])
        if len(per_arch) < 2:
            continue
        sides = [order_claim(r).value for r in per_arch.values()]
        ratios[model] = list(per_arch.values())
        claims[(model, f"{subject} vs {base} on {' / '.join(per_arch)}")] = Claim(
            " / ".join(sides), max(per_arch.values()), span(per_arch.values(), times))
        if len(set(sides)) > 1:
            mixed.append(model)
    if not ratios:
        return unanswered("Q12", f"not in this run — no {subject} and {base} rows on two architectures")
    total = len(ratios)
    accuracy = [paired_comparison(run, run.rows(run.group_conversion, arch=a, steps=steps),
                                  run.rows(run.quantized_parent, arch=a)) for a in archs]
    same = sum(c.identical for c in accuracy)
    side = [m for m in ratios if m not in mixed]
    predictions = f"; predictions identical to {base}'s on {same} of {len(archs)} archs{excluded}."
    stays = f"on all {len(archs)} archs {subject} " + _direction_text(ratios, side, total, base)
    if not mixed:  # the advantage (or its absence) holds whatever the architecture: the method's
        sentence = f"The method's: {stays}{predictions}"
    elif not side:
        sentence = (f"The architecture's: {subject}/{base} energy changes side of 1 between the {len(archs)} "
                    f"architectures under {models_text(mixed, total)}{predictions}")
    else:
        sentence = (f"Depends on the hardware model: {stays}, the method's; it changes side under "
                    f"{models_text(mixed, total)}, the architecture's{predictions}")
    return Verdict("Q12", sentence, {f"{m} {subject}/{base} max": max(r) for m, r in ratios.items()}, claims)


#: How a side of 1 reads in Q12's sentence: OneSpike costs more/less/as much (than) its own QCFS.
DIRECTIONS = {DEARER: ("more than", "more"), CHEAPER: ("less than", "less"), TIED: ("as much as", "as much")}


def _direction_text(ratios: dict[str, list[float]], models: list[str], total: int, base: str) -> str:
    """``costs more than its own QCFS under a and b (1.5×–17×) and less under c (0.4×)``: the models
    whose ratio stays on one side of 1 on every architecture, grouped by that side (most models
    first), each with its span of ratios, so the sentence says which way the method's advantage goes."""
    groups = by_value({m: order_claim(ratios[m][0]).value for m in models})
    parts = []
    for value, names in sorted(groups.items(), key=lambda item: -len(item[1])):
        spread = span([r for m in names for r in ratios[m]], ratio_text)
        full, short = DIRECTIONS[value]
        how = short if parts else f"{full} its own {base}"
        parts.append(f"{how} under {models_text(names, total)} ({spread})")
    return "costs " + " and ".join(parts)


def answer_q12(run: RunTables) -> Answer:
    verdict = verdict_q12(run)
    table = architecture_table(run)
    if table.empty:
        return Answer.of(verdict, table)
    archs, steps = list(dict.fromkeys(table["arch"])), run.reference_steps()
    bits = []
    for arch in archs:
        onespike = run.rows(run.group_conversion, arch=arch, steps=steps)
        quantized = run.rows(run.quantized_parent, arch=arch)
        found = paired_comparison(run, onespike, quantized)
        bits.append(f"{arch} OneSpike − QCFS accuracy {found.text}")
    shown = table[["arch", "configuration", "accuracy", *[f"{m} pJ" for m in run.figure_models()]]]
    return Answer.of(verdict, shown, "; ".join(bits) + ".")


# -- Q13 --------------------------------------------------------------------------------------------
#: The variant of the networks the study fine-tuned at one level for Q13's equal bits
#: (``analysis.study.variants``); a run without them compares the re-levelled default networks.
FINETUNED_VARIANT = "finetuned"


def equal_bits_variant(run: RunTables) -> str:
    """``finetuned`` where the run has OneSpike(G=1) fine-tuned at L=1, else ``default`` (the
    trained QCFS re-levelled to one level, not trained for it)."""
    onespike = first_with_role(Role.GROUP_CONVERSION, run.methods())
    rows = run.rows(onespike, steps=1, variant=FINETUNED_VARIANT) if onespike else pd.DataFrame()
    return FINETUNED_VARIANT if not rows.empty else "default"


def bnn_configurations(run: RunTables) -> list[tuple[str, str, int | None, int | None, str]]:
    """(comparison, method, steps, levels, variant): equal shape (OneSpike(G=L), QCFS(L)) and equal
    bits (one-bit activations: OneSpike(G=1), QCFS(L=1), fine-tuned at L=1 where the run has them),
    each beside the BNN."""
    levels, steps, bits = run.levels(), run.reference_steps(), equal_bits_variant(run)
    return [
        ("equal shape", run.binary, None, None, "default"),
        ("equal shape", run.group_conversion, steps, None, "default"),
        ("equal shape", run.quantized_parent, None, levels, "default"),
        ("equal bits", run.group_conversion, 1, None, bits), ("equal bits", run.quantized_parent, None, 1, bits),
    ]


def bnn_table(run: RunTables) -> pd.DataFrame:
    rows = []
    for arch in run.archs():
        for comparison, method, steps, levels, variant in bnn_configurations(run):
            if method not in run.methods():
                continue
            configuration = run.rows(method, arch=arch, steps=steps, levels=levels, variant=variant)
            if configuration.empty:
                continue
            label = method_label(method, steps) + (f"(L={levels})" if get_method(method).quantized else "")
            row = {"arch": arch, "comparison": comparison, "configuration": label, "method": method,
                   "steps": steps, "levels": levels, "variant": variant,
                   "accuracy": run_accuracy(run, configuration)}
            energy = by_hardware(configuration)
            for model in run.hardware_models():
                row[f"{model} pJ"] = energy.get(model, np.nan)
            rows.append(row)
    return pd.DataFrame(rows)


def _hatch_equal_bits(bars, table: pd.DataFrame) -> None:
    """Hatch the equal-bit configurations' bars."""
    for bar, comparison in zip(bars, table["comparison"], strict=True):
        bar.set_hatch("//" if comparison == "equal bits" else "")


@panel
def panel_bnn_accuracy(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Accuracy (95% interval) of the BNN, OneSpike and QCFS at equal shape and at equal bits."""
    table = select(bnn_table(run), arch=run.first_arch(arch))
    if not open_panel(ax, xlabel="configuration", ylabel="test accuracy (%)", title="accuracy (95% interval)",
                      empty=table.empty):
        return
    means = [100 * a.mean for a in table["accuracy"]]
    errors = np.nan_to_num([[100 * (a.mean - a.low) for a in table["accuracy"]],
                            [100 * (a.high - a.mean) for a in table["accuracy"]]])
    bars = ax.bar(range(len(table)), means, yerr=errors, capsize=3, color=[method_color(m) for m in table["method"]],
                  edgecolor="white")
    _hatch_equal_bits(bars, table)
    ax.set_ylim(0, 112)
    bar_labels(ax, bars, "{:.1f}", above=np.asarray(means) + errors[1])
    ax.set_xticks(range(len(table)))
    ax.set_xticklabels([f"{c} ({k})" for c, k in zip(table["configuration"], table["comparison"], strict=True)],
                       rotation=35, ha="right", fontsize=7)


@panel
def panel_bnn_energy(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Energy of each Q13 configuration relative to the BNN's, one marker per hardware model (log y;
    above 1 = dearer than the BNN)."""
    table = select(bnn_table(run), arch=run.first_arch(arch))
    bnn = select(table, method=run.binary) if not table.empty else table
    if not open_panel(ax, xlabel="configuration", ylabel="energy / the BNN's (log)",
                      title="energy relative to the BNN, per hardware model", empty=bnn.empty,
                      missing="no BNN rows"):
        return
    x = np.arange(len(table))
    models = list(hardware or run.figure_models())
    for k, model in enumerate(models):
        column = f"{model} pJ"
        if column not in table.columns:
            continue
        offset = (k - (len(models) - 1) / 2) * 0.07  # side by side, so equal values do not hide each other
        # unclipped: a marker at the axis' end is drawn whole over the frame, not cut in half by it
        ax.plot(x + offset, table[column] / float(bnn[column].iloc[0]), ls="none", marker=hardware_marker(model), ms=6,
                color=hardware_color(model), label=model, clip_on=False)
    ax.axhline(1.0, color="#555555", lw=0.8)
    log_axis(ax)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{c} ({k})" for c, k in zip(table["configuration"], table["comparison"], strict=True)],
                       rotation=35, ha="right", fontsize=7)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def verdict_q13(run: RunTables) -> Verdict:
    table = bnn_table(run)
    arch, steps = run.first_arch(), run.reference_steps()
    bnn = select(table, arch=arch, method=run.binary) if not table.empty else table
    onespike = select(table, arch=arch, method=run.group_conversion, comparison="equal shape") \
        if not table.empty else table
    if bnn.empty or onespike.empty:
        return unanswered("Q13", "not in this run — needs BNN and OneSpike rows")
    label = method_label(run.group_conversion, steps)
    shape = paired_comparison(run, run.rows(run.binary, arch=arch),
                              run.rows(run.group_conversion, arch=arch, steps=steps))
    claims, ratios = {}, {}
    for model in run.hardware_models():
        b, o = float(bnn[f"{model} pJ"].iloc[0]), float(onespike[f"{model} pJ"].iloc[0])
        if np.isfinite(b) and np.isfinite(o) and o > 0:
            ratios[model] = b / o
            claims[(model, f"the BNN vs {label}")] = order_claim(b / o)
    cheaper = [m for (m, _), c in claims.items() if c.value == CHEAPER]
    more = "less" if shape.difference < 0 else "more"
    opening = (f"The BNN is {more} accurate" + (" and cheaper" if len(cheaper) == len(ratios) else
                                                 " and dearer" if not cheaper else ", its energy depends on the model"))
    bits = [f"at equal shape BNN vs {label} {shape.short()}",
            f"the BNN costs {span(ratios.values(), times)} {label}'s energy (cheaper under "
            f"{models_text(cheaper, len(ratios))})"]
    bits_row = select(table, arch=arch, comparison="equal bits", method=run.group_conversion)
    if not bits_row.empty:
        variant = equal_bits_variant(run)
        equal = paired_comparison(run, run.rows(run.binary, arch=arch),
                                  run.rows(run.group_conversion, arch=arch, steps=1, variant=variant))
        how = "fine-tuned at L=1" if variant == FINETUNED_VARIANT else "re-levelled, not trained for it"
        bits.append(f"vs OneSpike(G=1) (equal bits, {how}) {equal.short()}")
    numbers = {"BNN − OneSpike accuracy": shape.difference, **{f"{m} BNN/OneSpike": r for m, r in ratios.items()}}
    return Verdict("Q13", f"{opening}: " + "; ".join(bits) + ".", numbers, claims)


def answer_q13(run: RunTables) -> Answer:
    verdict = verdict_q13(run)
    table = bnn_table(run)
    if table.empty:
        return Answer.of(verdict, table)
    epochs = {k: run.config.get(k) for k in ("epochs_ann", "epochs_bnn")}
    parts = []
    for arch, rows in table.groupby("arch", sort=False):
        bnn = select(rows, method=run.binary)
        if bnn.empty:
            parts.append(f"{arch}: BNN not in this run")
            continue
        bnn_rows = run.rows(run.binary, arch=arch)
        others = rows.drop(index=bnn.index)
        texts = []
        for _, r in others.iterrows():
            steps, levels = (None if pd.isna(r[k]) else int(r[k]) for k in ("steps", "levels"))
            other = run.rows(r["method"], arch=arch, steps=steps, levels=levels, variant=r["variant"])
            texts.append(f"{r['configuration']} ({r['comparison']}) {r['accuracy'].text()}, BNN "
                         f"{paired_comparison(run, bnn_rows, other).text}")
        comparisons = ", ".join(texts)
        parts.append(f"{arch}: BNN {bnn['accuracy'].iloc[0].text()}; {comparisons}")
    trained = (f"The BNN is trained {epochs['epochs_bnn']} epochs as a binary network (the ANN "
               f"{epochs['epochs_ann']}); " if all(v is not None for v in epochs.values()) else "")
    finetuned = equal_bits_variant(run) == FINETUNED_VARIANT
    made = ("the equal-bit networks OneSpike(G=1) and QCFS(L=1) are QCFS fine-tuned from the ANN at L=1 (as the "
            "BNN is trained from it for ±1), OneSpike converted from it. " if finetuned
            else f"the equal-bit networks OneSpike(G=1) and QCFS(L=1) are the trained QCFS(L={run.levels()}) network "
            "re-levelled to one level without fine-tuning (this run has no network fine-tuned at L=1), so they are "
            "not trained for one-bit activations as the BNN is. ")
    shown = table.assign(accuracy=[a.text() for a in table["accuracy"]])
    shown = shown.drop(columns=["method", "steps", "levels", "variant"])
    shown = shown[[c for c in shown.columns if not c.endswith(" pJ") or c[:-3] in run.figure_models()]]
    return Answer.of(verdict, shown, trained + made + "; ".join(parts) + ".")


register_question(Question(
    "Q12", "Is the advantage the architecture's (RepVGG) or the method's?", "q12_architectures", answer_q12,
    (Panel(panel_architecture_ratio), Panel(panel_architecture_accuracy)),
    "If a model's line stays on one side of 1 across architectures, OneSpike's energy advantage (or cost) is the "
    "method's under that model; if it crosses 1 from one architecture to the next, it is the architecture's.",
    columns=2,
    all_archs=True, verdict=verdict_q12,
))
register_question(Question(
    "Q13", "How does OneSpike compare with a BNN at equal model shape?", "q13_bnn", answer_q13,
    (Panel(panel_bnn_accuracy), Panel(panel_bnn_energy)),
    "Compare like with like: the equal-bit bars (one-bit activations: OneSpike(G=1), QCFS(L=1)) are the fair "
    "match for the BNN; the equal-shape bars show what the extra levels buy.", columns=2, verdict=verdict_q13,
    aspect=0.75,
))
