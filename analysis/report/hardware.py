"""Q8: does the result depend on the hardware model assumed? Each method's energy relative to the float
ANN under every hardware model, its rank there, the rank changes between models, the gains the papers
publish for their hardware, and what a reader must know to read each model's column."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm

from analysis.methods import Role, first_with_role, get_method, reference_method
from analysis.report.plotting import MIN_FONT_PT, fit_title, open_panel
from analysis.report.questions import Answer, Panel, Question, panel, register_question
from analysis.report.tables import RunTables, method_label, not_working, numeric, select
from analysis.report.text import percent, span, times
from analysis.report.uncertainty import accuracy_of
from analysis.report.verdict import CHEAPER, Verdict, listing, models_text, order_claim, unanswered


def published_gains(run: RunTables) -> dict[str, str]:
    """Model -> the SNN gain over the ANN a paper reports on its hardware (with the source), as the
    model's table declares it (hardware.csv's ``published_gain``), for the models that declare one."""
    info = run.table("hardware")
    if info.empty or "published_gain" not in info.columns:
        return {}
    declared = info[info["published_gain"].fillna("").astype(str) != ""]
    return dict(zip(declared["name"].astype(str), declared["published_gain"].astype(str), strict=True))


def _published_text(run: RunTables) -> str:
    gains = published_gains(run)
    return "; ".join(f"{model}: {gain}" for model, gain in gains.items()) or "none declared by these models"


def ranking_table(run: RunTables, arch: str | None = None, hardware=None) -> pd.DataFrame:
    """Energy of each method relative to the float ANN (the reference method) under every hardware
    model: rows are methods (stepped ones at T = G = L), columns hardware models."""
    arch = run.first_arch(arch)
    reference = reference_method()
    columns = {}
    for model in hardware or run.hardware_models():
        rows = run.ladder_rows(arch, model)
        base = select(rows, method=reference)
        if rows.empty or base.empty:
            continue
        columns[model] = pd.Series(numeric(rows, "energy_pj").to_numpy() / float(base["energy_pj"].iloc[0]),
                                   index=rows["label"].to_numpy())
    return pd.DataFrame(columns)


def rank_table(relative: pd.DataFrame) -> pd.DataFrame:
    """Method × model cells ``#rank (ratio×)``: 1 = cheapest under that model, the ratio to the ANN."""
    ranks = relative.rank(axis=0, method="min")
    cells = {m: [f"#{int(r)} ({times(v)})" if np.isfinite(v) else "n/a" for r, v in
                 zip(ranks[m].fillna(0), relative[m], strict=True)] for m in relative.columns}
    return pd.DataFrame(cells, index=relative.index).reset_index().rename(columns={"index": "method"})


#: The colour map of energy ratios: diverging blue-white-red (colour-blind safe; never red-green).
RATIO_CMAP = "RdBu_r"


@panel
def panel_ranking(run: RunTables, ax: Axes, *, arch=None, hardware=None) -> None:
    """Heat map of energy relative to the float ANN with each method's rank (1 = cheapest), one
    column per hardware model."""
    relative = ranking_table(run, arch, hardware)
    if not open_panel(ax, xlabel="hardware model", ylabel="method", empty=relative.empty,
                      missing="no float-ANN rows"):
        return
    data = relative.to_numpy(dtype=float)
    finite = data[np.isfinite(data) & (data > 0)]
    spread = max(float(np.max(np.abs(np.log10(finite)))) if finite.size else 1.0, 0.1)
    # blue (cheaper) to red (dearer) through white at the float ANN's energy: a diverging map with no
    # red-green pair (RdBu reads the same to colour-blind readers)
    norm = LogNorm(10 ** -spread, 10 ** spread)
    image = ax.imshow(data, cmap=RATIO_CMAP, norm=norm, aspect="auto")
    ranks = relative.rank(axis=0, method="min")
    for i, j in itertools.product(range(data.shape[0]), range(data.shape[1])):
        if np.isfinite(data[i, j]):
            dark = abs(float(norm(data[i, j])) - 0.5) > 0.35  # white text on the deep ends of the map
            ax.text(j, i, f"{data[i, j]:.2g}× #{int(ranks.iat[i, j])}", ha="center", va="center",
                    fontsize=MIN_FONT_PT, color="white" if dark else "black")
    ax.set_xticks(range(relative.shape[1]))
    ax.set_xticklabels(relative.columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(relative.shape[0]))
    ax.set_yticklabels(relative.index, fontsize=8)
    ax.set_title(fit_title(ax, "energy / float ANN's, and rank (#1 = cheapest)"), fontsize=MIN_FONT_PT + 1)
    ax.figure.colorbar(image, ax=ax, label="energy / float ANN's (log)", shrink=0.9)


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


def _subject(run: RunTables) -> str | None:
    stepped = run.stepped_methods()
    return first_with_role(Role.GROUP_CONVERSION, stepped) or (stepped[0] if stepped else None)


def _gain_text(gains: pd.Series, cheaper: list[str]) -> str:
    """`` (gain 1.4×–16×)`` over the models where the subject is cheaper than the ANN, and, where it is
    not, how much dearer it is there, so a gain below 1 never reads as a gain."""
    won, lost = gains[gains.index.isin(cheaper)], gains[~gains.index.isin(cheaper)]
    parts = [f"gain {span(won, times)}"] if len(won) else []
    if len(lost):
        parts.append(f"{span(1 / lost, times)} the {method_label(reference_method())}'s energy under the other "
                     f"{len(lost)}")
    return f" ({'; '.join(parts)})" if parts else ""


def _if_dataflow(run: RunTables, steps: int) -> str:
    """The IF dataflow pricing applied where membranes move (results.csv's convention column), e.g.
    ``time_outer``; ``""`` when no headline model prices membrane traffic."""
    rows = select(run.results, method=run.time_conversion, T=steps, variant="default")
    if "convention_if_dataflow" not in rows.columns:
        return ""
    values = [v for v in dict.fromkeys(rows["convention_if_dataflow"].astype(str)) if v not in ("-", "nan", "")]
    return "/".join(values)


def verdict_q8(run: RunTables) -> Verdict:
    arch, steps, subject = run.first_arch(), run.reference_steps(), _subject(run)
    relative = ranking_table(run, arch)
    if relative.empty or subject is None:
        return unanswered("Q8", f"not in this run — no float-ANN or spiking rows; published ({_published_text(run)})")
    label = method_label(subject, steps)
    if label not in relative.index:
        return unanswered("Q8", f"not in this run — no {label} rows")
    subject_rows = run.rows(subject, arch=arch, steps=steps)
    if not_working(subject_rows):
        accuracy = percent(accuracy_of(subject_rows).mean)
        return Verdict("Q8", f"n/a: {label} is not a working network on {arch} ({accuracy}, near chance), so no energy "
                       "ranking of it is a verdict.", not_working=(label,))
    others = [method_label(m, steps) for m in (reference_method(), run.time_conversion,
                                                run.quantized_parent)
              if m in run.methods() and m != subject]
    claims = {}
    for model in relative.columns:
        for other in [o for o in others if o in relative.index]:
            ratio = relative.at[label, model] / relative.at[other, model]
            if np.isfinite(ratio):
                claims[(model, f"{label} vs {other}")] = order_claim(float(ratio))
    total = len(relative.columns)
    ann = method_label(reference_method())
    gains = (1 / relative.loc[label]).dropna()
    beats = {o: [m for (m, st), c in claims.items() if st == f"{label} vs {o}" and c.value == CHEAPER] for o in others}
    ranks = relative.rank(axis=0, method="min").loc[label]
    changes = rank_changes(relative)
    opening = "Yes, the ranking changes between models" if changes else "No, every model ranks the methods alike"
    # every comparison names both sides ("OneSpike is cheaper than X under ..."), so no clause can be
    # read as another method beating the ANN
    bits = [f"than the float {ann} under {models_text(beats[ann], total)}" + _gain_text(gains, beats[ann])] \
        if ann in beats else []
    integrate = method_label(run.time_conversion, steps)
    dataflow = _if_dataflow(run, steps)
    flow = f" (IF {dataflow.replace('_', '-')})" if dataflow else ""
    bits += [f"than {o} under {models_text(beats[o], total)}" + (flow if o == integrate else "")
             for o in others if o != ann]
    low, high = int(ranks.min()), int(ranks.max())
    sentence = (f"{opening}: {label} is cheaper " + listing(bits) + f"; it ranks #{low}"
                + (f"–#{high}" if high != low else "") + f" of {len(relative.index)}.")
    return Verdict("Q8", sentence, {f"{m} gain over {ann}": float(g) for m, g in gains.items()}, claims)


def _caveats(run: RunTables, relative: pd.DataFrame, steps: int) -> list[str]:
    """What a reader must know to read Q8's columns: dense SpikeSim's price follows its crossbar passes
    (T one-bit passes for an SNN, one per input bit for multi-bit inputs), and what it is with one read
    per input or activity-scaled crossbars; the FP32 literature convention."""
    notes, published = [], published_gains(run)
    integrate, ann = method_label(run.time_conversion, steps), method_label(reference_method())
    for model in [m for m in relative.columns if model_family(run, m) == "spikesim"]:
        options = run.hardware_info(model).get("options", {})
        if options.get("zero_skipping") is False and integrate in relative.index:
            gain = published.get(model) or published.get(model_family(run, model), "")
            notes.append(f"{model} prices every crossbar pass whatever fires: a T-step SNN makes T one-bit passes per "
                         "layer and a network with multi-bit inputs one pass per input bit (at most 8), so "
                         f"{integrate}/{ann} = {times(relative.at[integrate, model])} follows from the passes, not "
                         "from the spikes" + (f", which is why its gain is far below the published {gain}" if gain
                                              else ""))
            others = {name: _alternative_ratio(run, model, name, steps)
                      for name in ("spikesim_one_read", "spikesim_event")}
            shown = [f"{times(v)} with {name}" for name, v in others.items() if np.isfinite(v)]
            if shown:
                notes[-1] += (f"; re-priced with every input applied in one crossbar read (the reference code) or "
                              f"with crossbar energy scaled by input activity, the {integrate} gain over the {ann} "
                              "(ANN / SNN energy) is " + ", ".join(shown)
                              + " (sensitivity.csv)")
    if "flops45nm_fp32" in relative.columns:
        notes.append("flops45nm_fp32 is the literature convention: every method at FP32 (a 3-bit QNN priced as dense "
                     "4.6 pJ MACs against 0.9 pJ event-driven ACs), so its ranking favours spiking methods by "
                     "construction, not by hardware")
    return notes


def model_family(run: RunTables, model: str) -> str:
    return str(run.hardware_info(model).get("family", model))


def _alternative_ratio(run: RunTables, model: str, alternative: str, steps: int) -> float:
    """ANN / IF(T) energy under ``model`` priced as ``alternative`` (a headline model, or a row of
    sensitivity.csv); NaN when the run priced neither."""
    table = run.results if alternative in run.hardware_models() else select(
        run.table("sensitivity"), hardware=model, alternative=alternative)
    if table.empty:
        return float("nan")
    if alternative in run.hardware_models():
        table = select(table, hardware=alternative)
    arch = run.first_arch()
    ann = select(table, arch=arch, method=reference_method(), variant="default")
    snn = select(table, arch=arch, method=run.time_conversion, variant="default", T=steps)
    if ann.empty or snn.empty:
        return float("nan")
    return float(ann["energy_pj"].iloc[0]) / float(snn["energy_pj"].iloc[0])


def answer_q8(run: RunTables) -> Answer:
    verdict = verdict_q8(run)
    arch, steps = run.first_arch(), run.reference_steps()
    relative = ranking_table(run, arch)
    if relative.empty:
        return Answer.of(verdict, relative)
    models = [m for m in published_gains(run) if m in relative.columns]
    gains = []
    for method in [m for m in run.methods() if get_method(m).spiking]:
        label = method_label(method, steps)
        if label in relative.index and models:
            gains.append(f"{label} " + " / ".join(times(1 / relative.at[label, m]) for m in models))
    details = ""
    if gains:
        details += f"Energy gain over the float ANN under {' / '.join(models)}: {', '.join(gains)}; "
    details += f"published ({_published_text(run)})"
    caveats = _caveats(run, relative, steps)
    details += ("; " + "; ".join(caveats)) if caveats else ""
    more = {"Energy / float ANN's (every headline model)": relative.reset_index().rename(
        columns={"index": "method"})} if len(relative.columns) > len(run.figure_models()) else {}
    return Answer.of(verdict, rank_table(relative[[m for m in relative.columns if m in run.figure_models()]]
                                         if len(relative.columns) > len(run.figure_models()) else relative),
                     details + ".", more)


register_question(Question(
    "Q8", "Does the result depend on the hardware model assumed (FLOPs, SATA, SpikeSim, weight-stationary)?",
    "q8_ranking", answer_q8, (Panel(panel_ranking),),
    "Read each column's ranks: a method whose rank changes from column to column owes its advantage to the "
    "hardware model, not to the method.", columns=1, verdict=verdict_q8, aspect=0.62,
))
