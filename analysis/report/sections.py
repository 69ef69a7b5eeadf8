"""The report's sections that are not one question: Limits (what the run can and cannot support),
Accuracies (every evaluated network with its interval), Pricing conventions, Hardware models,
Pricing warnings (grouped, none dropped) and Configuration."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from analysis.report.tables import COMPONENTS, RunTables, method_label, numeric, select
from analysis.report.text import markdown_table
from analysis.report.uncertainty import accuracy_of, difference_interval
from energy_models import available_models

#: A component over this share of a model's energy dominates it: conclusions under that model are
#: mostly about this component's price.
DOMINANT_SHARE = 0.8
#: Conventions table columns, in the order the report prints them.
CONVENTION_KEYS = ("hardware", "method", "weight_bits", "act_bits", "accumulator_bits", "vmem_bits",
                   "zero_skipping", "fused_activation", "first_layer_reuse", "if_dataflow", "deploy_form", "option")


def _spatial(shape: Any) -> int | None:
    """Spatial size (H·W) of an ``in_shape`` such as ``16x8x8``; None for a vector."""
    parts = [int(p) for p in str(shape).split("x") if p.strip().isdigit()]
    return parts[-1] * parts[-2] if len(parts) >= 3 else None


def energy_dominance(run: RunTables) -> pd.DataFrame:
    """Per hardware model: the component with the largest share of the energy summed over every
    method's default network (stepped ones at T = G = L), and that share."""
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
        convs = select(run.table("layers"), arch=arch, method=run.methods()[:1], kind="conv")
        if "seed" in convs.columns and not convs.empty:
            convs = select(convs, seed=convs["seed"].min())
        convs = convs.drop_duplicates("name") if "name" in convs.columns else convs
        if "in_shape" in convs.columns and not convs.empty:
            single = sum(_spatial(s) == 1 for s in convs["in_shape"])
            text += f"; {single} of {len(convs)} conv layers work on 1×1 maps (each weight used once per inference)"
        lines.append(text + ".")
    dominance = energy_dominance(run)
    if not dominance.empty:
        lines.append("What dominates the energy (largest component, all methods at T = G = L): " + ", ".join(
            f"{r['hardware']} {r['largest component']} {100 * r['share']:.0f}%" for _, r in dominance.iterrows()) + ".")
    lines += cannot_support(run, test, dominance)
    return lines


def cannot_support(run: RunTables, test: int, dominance: pd.DataFrame) -> list[str]:
    """The conclusions this run cannot support."""
    lines = []
    accuracy = float(numeric(run.per_inference(), "accuracy").median()) if not run.results.empty else math.nan
    if test and math.isfinite(accuracy):
        probe = accuracy_of(pd.DataFrame({"accuracy": [accuracy], "test_samples": [test],
                                          "correct": [round(accuracy * test)]}))
        low, high = difference_interval(probe, probe)
        lines.append(f"Cannot support: accuracy differences under about ±{100 * (high - low) / 2:.1f} pp between two "
                     f"networks (the 95% interval of a difference at the run's median accuracy {100 * accuracy:.1f}% "
                     f"on {test} images; one accuracy alone is ±{100 * probe.half_width:.1f} pp); answers mark such "
                     "differences \"within the interval\".")
    if len(run.seeds()) == 1:
        lines.append("Cannot support: claims that one training recipe is better than another (one seed).")
    size = run.data.get("image_size")
    if size and int(size) < 32:
        lines.append(f"Cannot support: claims about 32×32 or larger images; these are {size}×{size}, so the deep "
                     "layers' feature maps, weight reuse and memory traffic differ from CIFAR or ImageNet.")
    dominated = dominance[dominance["share"] > DOMINANT_SHARE]["hardware"].tolist() if not dominance.empty else []
    if dominated:
        lines.append(f"Cannot support: a method ranking under {', '.join(dominated)} as a statement about "
                     f"computation: one component is over {100 * DOMINANT_SHARE:.0f}% of the energy there.")
    return lines


def limits_section(run: RunTables) -> str:
    return "\n".join(["## Limits", "", *[f"- {line}" for line in limit_lines(run)]])


def accuracy_table(run: RunTables) -> pd.DataFrame:
    """Every evaluated network (arch, method, T, levels, variant) with its accuracy and interval."""
    keys = [k for k in ("arch", "method", "T", "levels", "variant") if k in run.results.columns]
    rows = []
    for values, group in run.results.groupby(keys, sort=False):
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


def conventions_section(rows: Sequence[dict[str, Any]] | None) -> str:
    """The pricing conventions (one row per hardware model and method), as
    ``energy_models.conventions_table()`` returns them."""
    lines = ["## Pricing conventions", ""]
    if not rows:
        return "\n".join([*lines, "_No conventions table was given to this report._"])
    frame = pd.DataFrame(list(rows))
    columns = [k for k in CONVENTION_KEYS if k in frame.columns]
    columns += [c for c in frame.columns if c not in CONVENTION_KEYS]
    return "\n".join([*lines, markdown_table(frame[columns], max_rows=10_000)])


def hardware_section(run: RunTables) -> str:
    known = {row["name"]: row for row in available_models()}
    present = run.hardware_models()
    lines = ["## Hardware models", ""]
    for name in present:
        row = known.get(name)
        if row is None:
            lines.append(f"- **{name}**: a user table or a model added at run time (its provenance is in its TOML).")
            continue
        lines.append(f"- **{name}** — {row['description']}. Paper: {row['paper']}."
                     + (f" Code: {row['repository']}." if row.get("repository") else "")
                     + (f" Technology: {row['technology']}." if row.get("technology") else ""))
        if row.get("assumptions"):
            lines.append(f"  - Assumptions: {row['assumptions']}")
    unused = [n for n in known if n not in present]
    if unused:
        lines += ["", f"Built-in models not priced in this run: {', '.join(unused)}."]
    return "\n".join(lines)


def grouped_warnings(run: RunTables) -> dict[tuple[str, str, str], dict[str, list[int]]]:
    """``{(hardware, method, arch): {warning: [T, ...]}}`` for every warning in ``results``."""
    results = run.results
    found: dict[tuple[str, str, str], dict[str, list[int]]] = {}
    if "warnings" not in results.columns:
        return found
    warned = results["warnings"].map(lambda text: isinstance(text, str) and text.strip() != "")
    for _, row in results[warned].iterrows():
        key = (str(row["hardware"]), str(row["method"]), str(row["arch"]))
        for warning in str(row["warnings"]).split(" | "):
            steps = found.setdefault(key, {}).setdefault(warning.strip(), [])
            if int(row["T"]) not in steps:
                steps.append(int(row["T"]))
    return found


def warnings_section(run: RunTables) -> str:
    found = grouped_warnings(run)
    lines = ["## Pricing warnings", ""]
    if not found:
        return "\n".join([*lines, "No pricing warnings in this run."])
    total = sum(len(w) for w in found.values())
    lines.append(f"{total} distinct warning(s) over {len(found)} (hardware model, method, architecture) group(s); "
                 "all are listed.")
    for hardware in dict.fromkeys(h for h, _, _ in found):
        lines += ["", f"### {hardware}"]
        for (model, method, arch), warnings in found.items():
            if model != hardware:
                continue
            for warning, steps in warnings.items():
                at = f" (T/G = {', '.join(map(str, sorted(steps)))})" if len(steps) > 1 or steps != [1] else ""
                lines.append(f"- {method_label(method)}, {arch}{at}: {warning}")
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
    "energy_dominance",
    "grouped_warnings",
    "hardware_section",
    "limit_lines",
    "limits_section",
    "warnings_section",
]
