"""The report's sections that are not one question: Limits (what the run can and cannot support),
Accuracies (every evaluated network with its interval), Pricing conventions (what pricing applied,
from ``results.csv``'s ``convention_*`` columns), Hardware models (``hardware.csv``), Pricing warnings
(``warnings.csv``) and Configuration. Every one reads the run folder only."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.methods import get_method
from analysis.report.crosscheck import crosscheck_lines
from analysis.report.paired import NO_PREDICTIONS
from analysis.report.tables import COMPONENTS, RunTables, method_label, numeric, select
from analysis.report.text import literal, markdown_table, times
from analysis.report.uncertainty import accuracy_of, difference_interval
from analysis.report.verdict import listing

#: A component over this share of a model's energy dominates it: conclusions under that model are
#: mostly about this component's price.
DOMINANT_SHARE = 0.8
#: The prefix of the columns of results.csv that say what pricing applied.
CONVENTION_PREFIX = "convention_"


def reference_rows(run: RunTables, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` (results-like) of each method's reference network: the first arch and
    seed, the default variant, stepped methods at T = G = L, quantized ones at L levels."""
    if frame.empty:
        return frame
    arch, steps, levels = run.first_arch(), run.reference_steps(), run.levels()
    keep = select(frame, arch=arch, variant="default", seed=min(run.seeds()))
    mask = []
    for _, row in keep.iterrows():
        method = str(row["method"])
        spec = get_method(method) if method in run.methods() else None
        ok = True
        if spec is not None and spec.stepped:
            ok = int(row["T"]) == steps
        elif spec is not None and spec.quantized and "levels" in row.index:
            ok = int(row["levels"]) == levels
        mask.append(ok)
    return keep[np.array(mask, dtype=bool)] if len(keep) else keep


def energy_dominance(run: RunTables) -> pd.DataFrame:
    """Per headline hardware model: the component with the largest share of the energy summed over
    every method's default network (stepped ones at T = G = L), and that share."""
    rows = []
    for model in run.hardware_models():
        ladder = run.ladder_rows(None, model)
        total = float(numeric(ladder, "energy_pj", 0.0).sum())
        if total <= 0:
            continue
        shares = {c: float(numeric(ladder, f"{c}_pj", 0.0).sum()) / total for c in COMPONENTS}
        largest = max(shares, key=shares.get)
        rows.append({"hardware": model, "largest component": largest, "share": shares[largest]})
    return pd.DataFrame(rows)


def _one_by_one_convs(run: RunTables, arch: str) -> str:
    convs = select(run.table("layers"), arch=arch, method=run.methods()[:1], kind="conv")
    if "seed" in convs.columns and not convs.empty:
        convs = select(convs, seed=convs["seed"].min())
    convs = convs.drop_duplicates("name") if "name" in convs.columns else convs
    if convs.empty or not {"in_height", "in_width"} <= set(convs.columns):
        return ""
    single = int(((numeric(convs, "in_height") * numeric(convs, "in_width")) == 1).sum())
    return f"; {single} of {len(convs)} conv layers work on 1×1 maps (each weight used once per inference)"


def _weights_line(run: RunTables) -> str:
    """Whether weights are priced resident on chip or fetched from DRAM every inference, per model (as
    the shared placement rule put them), and what streaming them would cost (from the sensitivity
    table's placement=weights_streamed pricing)."""
    rows = reference_rows(run, run.results)
    if "convention_weight_fetch" not in rows.columns:
        return ""
    fetch = {}
    for model in run.hardware_models():
        column = select(rows, hardware=model)["convention_weight_fetch"].astype(str)
        values = [v for v in column if v not in ("-", "nan")]
        if values:
            fetch[model] = values[0]
    if not fetch:
        return ""
    groups: dict[str, list[str]] = {}
    for model, value in fetch.items():
        groups.setdefault(value, []).append(model)
    text = "Weights (the shared placement rule, by size and lifetime): " + "; ".join(
        f"{value} under {listing(models)}" for value, models in groups.items())
    costs = []
    sensitivity = run.table("sensitivity")
    for model in fetch:
        alt = select(sensitivity, hardware=model, alternative="placement=weights_streamed")
        if alt.empty or "resident" not in fetch[model]:
            continue
        base = reference_rows(run, select(run.results, hardware=model))
        priced = reference_rows(run, alt)
        ratio = float(priced["energy_pj"].sum()) / float(base["energy_pj"].sum()) if len(base) else math.nan
        if math.isfinite(ratio):
            costs.append(f"{model} {times(ratio)}")
    if costs:
        text += ("; fetching every weight from DRAM every inference instead would multiply the reference networks' "
                 "energy by " + ", ".join(costs) + " (Sensitivity section)")
    return text + "."


def limit_lines(run: RunTables) -> list[str]:
    """The Limits section's lines, every one computed from the run."""
    data, lines = run.data, []
    test = int(data.get("test_samples") or numeric(run.results, "test_samples", 0.0).max() or 0)
    size = data.get("image_size")
    lines.append(
        f"Data: {data.get('name', run.config.get('data', 'n/a'))}"
        + (f", {size}×{size} pixels" if size else "")
        + (f", {data['in_channels']} channel(s)" if data.get("in_channels") else "")
        + (f", {data['num_classes']} classes" if data.get("num_classes") else "")
        + f"; {data.get('train_samples', 'n/a')} training and {test or 'n/a'} test images"
        + (f": one test image = {100 / test:.2f} pp of accuracy." if test else ".")
    )
    seeds = run.seeds()
    lines.append(f"Seeds: {len(seeds)} ({', '.join(map(str, seeds))})" + (
        ": one training run per network, so training variance is not estimated; intervals cover the test set only."
        if len(seeds) == 1 else ": accuracies are the mean ± the sample standard deviation over seeds."))
    for arch in run.archs():
        facts = run.models.get(arch, {})
        options = ", ".join(f"{k}={v}" for k, v in sorted(facts.get("options", {}).items()))
        text = f"Model {arch}: {facts['parameters']:,} parameters" if "parameters" in facts else f"Model {arch}"
        text += f" ({options})" if options else ""
        lines.append(text + _one_by_one_convs(run, arch) + ".")
    dominance = energy_dominance(run)
    if not dominance.empty:
        lines.append("What dominates the energy (largest component, all methods at T = G = L): " + ", ".join(
            f"{r['hardware']} {r['largest component']} {100 * r['share']:.0f}%" for _, r in dominance.iterrows()) + ".")
    weights = _weights_line(run)
    if weights:
        lines.append(weights)
    lines += cannot_support(run, test, dominance)
    return lines


def cannot_support(run: RunTables, test: int, dominance: pd.DataFrame) -> list[str]:
    """The conclusions this run cannot support."""
    lines = []
    accuracy = float(numeric(run.per_inference(), "accuracy").median()) if not run.results.empty else math.nan
    paired = not run.table("predictions").empty
    if test and math.isfinite(accuracy):
        probe = accuracy_of(pd.DataFrame({"accuracy": [accuracy], "test_samples": [test],
                                          "correct": [round(accuracy * test)]}))
        low, high = difference_interval(probe, probe)
        how = ("comparisons of two networks on the same images use an exact McNemar test on predictions.csv, which "
               "resolves smaller differences when the networks disagree on few images" if paired else
               f"{NO_PREDICTIONS}, so every comparison is unpaired (marked \"unpaired\", and \"within the interval\" "
               "below it)")
        lines.append(f"Cannot support: unpaired accuracy differences under about ±{100 * (high - low) / 2:.1f} pp (the "
                     f"95% interval of a difference at the run's median accuracy {100 * accuracy:.1f}% on {test} "
                     f"images; one accuracy alone is ±{100 * probe.half_width:.1f} pp); {how}.")
    if len(run.seeds()) == 1:
        lines.append("Cannot support: claims that one training recipe is better than another (one seed).")
    size = run.data.get("image_size")
    if size and int(size) < 32:
        lines.append(f"Cannot support: claims about 32×32 or larger images; these are {size}×{size}, so the deep "
                     "layers' feature maps, weight reuse and memory traffic differ from CIFAR or ImageNet.")
    dominated = dominance[dominance["share"] > DOMINANT_SHARE] if not dominance.empty else dominance
    for component, rows in (dominated.groupby("largest component", sort=False) if not dominated.empty else []):
        models = listing(rows["hardware"].tolist())
        if component == "compute":
            lines.append(f"Read a ranking under {models} as one of arithmetic only: compute is over "
                         f"{100 * DOMINANT_SHARE:.0f}% of the energy there (no memory or data movement priced), so it "
                         "ranks operation counts at their operand widths, not what a chip with memory would spend.")
        else:
            lines.append(f"Read a ranking under {models} as one of {component.replace('_', ' ')}: that one component "
                         f"is over {100 * DOMINANT_SHARE:.0f}% of the energy there, so the ranking follows its price.")
    return lines


def limits_section(run: RunTables) -> str:
    return "\n".join(["## Limits", "", *[f"- {line}" for line in limit_lines(run)]])


def accuracy_table(run: RunTables) -> pd.DataFrame:
    """Every evaluated network (arch, method, T, levels, variant) with its accuracy and interval."""
    keys = [k for k in ("arch", "method", "T", "levels", "variant") if k in run.results.columns]
    rows = []
    for values, group in run.per_inference().groupby(keys, sort=False):
        entry = dict(zip(keys, values, strict=True))
        accuracy = accuracy_of(group, run.data.get("test_samples"))
        rows.append({**entry, "network": method_label(entry["method"], entry.get("T")), "accuracy": accuracy.text(),
                     "test images": int(accuracy.total / max(accuracy.seeds, 1)) if accuracy.total else "n/a"})
    return pd.DataFrame(rows).drop(columns=["method"]) if rows else pd.DataFrame()


def accuracy_section(run: RunTables) -> str:
    return "\n".join([
        "## Accuracies (95% Wilson interval over test images)", "",
        markdown_table(accuracy_table(run), max_rows=10_000),
    ])


def conventions_table(run: RunTables) -> pd.DataFrame:
    """What pricing applied to each method's reference network under each headline model: the
    ``convention_*`` columns of results.csv (the record the pricing itself wrote)."""
    rows = reference_rows(run, run.results)
    columns = [c for c in rows.columns if c.startswith(CONVENTION_PREFIX)]
    if rows.empty or not columns:
        return pd.DataFrame()
    table = rows[["hardware", "method", *columns]].rename(columns={c: c[len(CONVENTION_PREFIX):] for c in columns})
    return table.assign(method=[method_label(m, t) for m, t in zip(rows["method"], rows["T"], strict=True)])


def conventions_section(run: RunTables) -> str:
    """The pricing conventions applied (one row per headline model and method), and the events each
    model prices at zero by construction."""
    lines = ["## Pricing conventions", "",
             f"What the pricing applied to each method's reference network ({run.first_arch()}, T = G = L), as "
             "results.csv records it per row (`convention_*` columns): widths priced, zero-skipping of ACs and MACs, "
             "stored pre-activation width and accesses, membrane accesses, fusion, weight fetch, where each tensor "
             "lived (role@level, placed by size and lifetime by one rule for every method), IF dataflow, and the "
             "first layer's multiplier (under first_layer=per_step the analog first layer is recomputed for every "
             "step or group that reuses it: T for IF, G for OneSpike alike).", ""]
    table = conventions_table(run)
    if table.empty:
        return "\n".join([*lines, "_This run's results.csv records no conventions._"])
    lines.append(markdown_table(table, max_rows=10_000))
    zero = []
    for model in run.hardware_models():
        reasons = run.hardware_info(model).get("zero_by_construction", {})
        if reasons:
            zero.append(f"- **{model}** prices at zero by construction: {', '.join(reasons)}.")
    if zero:
        lines += ["", "Events priced at zero by construction (hardware.csv gives each reason):", "", *zero]
    return "\n".join(lines)


def hardware_section(run: RunTables) -> str:
    """Each headline model's provenance (hardware.csv) and the alternatives priced for sensitivity."""
    lines = ["## Hardware models", ""]
    primaries = run.primary_models()
    if primaries:
        lines += [f"Headline models: {', '.join(run.hardware_models())} ({len(primaries)} of them the primary model "
                  "of their family). Figures show the primaries.", ""]
    for name in run.hardware_models():
        row = run.hardware_info(name)
        if not row:
            lines.append(f"- **{literal(name)}**: no provenance recorded (hardware.csv lacks it).")
            continue
        # a user table's name, paper and assumptions are its author's text: literal, never markup
        lines.append(f"- **{literal(name)}** — {literal(row.get('description', ''))}. "
                     f"Paper: {literal(row.get('paper', 'n/a'))}."
                     + (f" Code: {literal(row['repository'])}." if row.get("repository") else "")
                     + (f" Technology: {literal(row['technology'])}." if row.get("technology") else ""))
        if row.get("assumptions"):
            lines.append(f"  - Assumptions: {literal('; '.join(map(str, row['assumptions'])))}")
    sensitivity = run.table("sensitivity")
    if not sensitivity.empty and {"hardware", "alternative"} <= set(sensitivity.columns):
        pairs = sensitivity.drop_duplicates(["hardware", "alternative"])
        lines += ["", "Alternative pricings of the same ledgers (the Sensitivity section):", ""]
        for model, rows in pairs.groupby("hardware", sort=False):
            lines.append(f"- **{model}**: " + "; ".join(
                f"{r['alternative']} ({r.get('changes', '')})" for _, r in rows.iterrows()))
    lines += crosscheck_lines(run)  # weight_stationary vs a ZigZag mapping, per layer (when one is priced)
    return "\n".join(lines)


def warnings_section(run: RunTables) -> str:
    """The pricing warnings of each method's reference network, per headline model (warnings.csv
    holds those of every network)."""
    table = run.table("warnings")
    lines = ["## Pricing warnings", ""]
    if table.empty:
        return "\n".join([*lines, "No pricing warnings in this run."])
    shown = reference_rows(run, table)
    lines.append(f"{len(table)} warning(s) over every network in warnings.csv; those of each method's reference "
                 f"network ({run.first_arch()}, T = G = L) follow, per hardware model.")
    for hardware, rows in shown.groupby("hardware", sort=False):
        lines += ["", f"### {literal(hardware)}"]
        for warning, group in rows.groupby("warning", sort=False):
            methods = listing([method_label(m, t) for m, t in zip(group["method"], group["T"], strict=True)])
            lines.append(f"- {methods}: {warning}")
    return "\n".join(lines)


def configuration_section(run: RunTables) -> str:
    digest = run.payload.get("digest", "n/a")
    frame = pd.DataFrame({"key": list(run.config), "value": [str(v) for v in run.config.values()]})
    return "\n".join(["## Configuration", "", f"Config digest `{digest}` (`config.json` re-runs it exactly).", "",
                      markdown_table(frame, max_rows=10_000)])


__all__ = [
    "accuracy_section",
    "configuration_section",
    "conventions_section",
    "conventions_table",
    "energy_dominance",
    "hardware_section",
    "limit_lines",
    "limits_section",
    "reference_rows",
    "warnings_section",
]
