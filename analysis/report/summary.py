"""The one-page summary figure of the headline answers, for a paper or a slide: accuracy of every
method on the same weights (Q1/Q10), energy relative to the float ANN under each figure model (Q8),
OneSpike's energy against IF's as T grows (Q2/Q9) and the break-even spike rate against the measured
one (Q7). Each panel's title states what it shows; every number comes from the run folder.

    from analysis.report import load_run
    from analysis.report.summary import summary_figure
    summary_figure(load_run("reports/quick"), path="summary", formats=("png", "pdf"))
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis.methods import Role, first_with_role, get_method, reference_method
from analysis.palette import hardware_color, hardware_marker
from analysis.report.plotting import PAGE_WIDTH, fit_bar_labels, log_axis, open_panel, save, style
from analysis.report.tables import RunTables, method_color, method_label, numeric, select
from analysis.report.uncertainty import accuracy_of

__all__ = ["SUMMARY_STEM", "panel_accuracy", "panel_breakeven", "panel_energy", "panel_scaling", "summary_figure"]

#: The summary figure's file name (without suffix) in the run's figures folder.
SUMMARY_STEM = "summary"


def panel_accuracy(run: RunTables, ax: Axes) -> None:
    """Accuracy of each method's reference network (95% interval), on the same trained weights."""
    arch, steps = run.first_arch(), run.reference_steps()
    methods = [m for m in run.methods() if not run.rows(m, arch=arch, steps=steps).empty]
    if not open_panel(ax, xlabel="test accuracy (%)", title=f"Q10: accuracy on the same weights ({arch}, T = G = L)",
                      empty=not methods, missing="no rows"):
        return
    accuracies = [accuracy_of(run.rows(m, arch=arch, steps=steps)) for m in methods]
    y = np.arange(len(methods))[::-1]
    means = np.array([100 * a.mean for a in accuracies])
    errors = np.nan_to_num([[100 * (a.mean - a.low) for a in accuracies],
                            [100 * (a.high - a.mean) for a in accuracies]])
    ax.barh(y, means, xerr=errors, color=[method_color(m) for m in methods], capsize=3, height=0.6)
    for yi, value, error in zip(y, means, errors[1], strict=True):
        ax.annotate(f"{value:.1f}%", (value + error, yi), xytext=(4, 0), textcoords="offset points", va="center",
                    fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels([method_label(m, steps) for m in methods], fontsize=8)
    low = max(0.0, float(np.nanmin(means)) - 15)
    ax.set_xlim(low, 108)  # room for the labels; no tick past 100%
    ax.set_xticks([t for t in ax.get_xticks() if low <= t <= 100])


def panel_energy(run: RunTables, ax: Axes) -> None:
    """Energy of each method relative to the float ANN, one marker per figure model (log x)."""
    arch, steps, reference = run.first_arch(), run.reference_steps(), reference_method()
    models = run.figure_models()
    if not open_panel(ax, xlabel="energy / float ANN's (log; left of 1 = cheaper)",
                      title="Q8: energy relative to the float ANN, per hardware model", empty=not models):
        return
    methods = [m for m in run.methods() if m != reference]
    y = np.arange(len(methods))[::-1]
    for k, model in enumerate(models):
        ann = run.energy(reference, model, arch=arch)
        ratios = [run.energy(m, model, arch=arch, steps=steps) / ann for m in methods]
        offset = (k - (len(models) - 1) / 2) * 0.09
        ax.scatter(ratios, y + offset, marker=hardware_marker(model), s=28, color=hardware_color(model), label=model,
                   zorder=3)
    ax.axvline(1.0, color="#555555", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([method_label(m, steps) for m in methods], fontsize=8)
    log_axis(ax, "x")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def panel_scaling(run: RunTables, ax: Axes) -> None:
    """OneSpike(G)'s energy over IF(T)'s at equal T per figure model (latency: 1 step against T)."""
    arch, swept = run.first_arch(), run.timesteps()
    integrate = first_with_role(Role.TIME_CONVERSION, run.methods())
    onespike = first_with_role(Role.GROUP_CONVERSION, run.methods())
    have = bool(integrate and onespike)
    if not open_panel(ax, xlabel="T = G", ylabel="energy: OneSpike(G) / IF(T)",
                      title="Q2/Q9: OneSpike(G) vs IF(T) energy (latency 1 step vs T)",
                      empty=not have or not swept, missing="needs IF and OneSpike rows"):
        return
    for model in run.figure_models():
        ratios = [run.energy(onespike, model, arch=arch, steps=t) / run.energy(integrate, model, arch=arch, steps=t)
                  for t in swept]
        ax.plot(swept, ratios, marker=hardware_marker(model), ms=4, color=hardware_color(model), label=model)
    ax.axhline(1.0, color="#555555", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xticks(swept)
    ax.set_xticklabels([str(t) for t in swept])
    ax.minorticks_off()


def panel_breakeven(run: RunTables, ax: Axes) -> None:
    """Per figure model, the spike rate below which the SNN beats the equivalent QNN, the measured
    rate and the published ≈5.7%."""
    points = select(run.table("breakeven"), arch=run.first_arch())
    models = [m for m in run.figure_models() if not select(points, hardware=m).empty]
    if not open_panel(ax, xlabel="average spike rate (%)", title="Q7: break-even spike rate vs the equivalent QNN",
                      empty=not models, missing="breakeven.csv"):
        return
    method = str(points["method"].iloc[0])
    steps = int(points["T"].iloc[0])
    y = np.arange(len(models))[::-1]
    rates = [100 * (1 - float(select(points, hardware=m)["break_even_sparsity"].iloc[0])) for m in models]
    shown = [r if math.isfinite(r) else 0.0 for r in rates]
    ax.barh(y, shown, color=method_color(method), height=0.6)
    for yi, rate in zip(y, rates, strict=True):
        text = f"{rate:.1f}%" if math.isfinite(rate) else "none (no break-even)"
        ax.annotate(text, (rate if math.isfinite(rate) else 0, yi), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=8)
    measured = 100 * float(numeric(points, "measured_spike_rate").iloc[0])
    published = 100 * float(numeric(points, "published_rate").iloc[0]) if "published_rate" in points.columns else np.nan
    ax.axvline(measured, color="#333333", ls="--", lw=1, label=f"measured {get_method(method).short}(T={steps}) "
                                                                 f"{measured:.1f}%")
    if math.isfinite(published):
        ax.axvline(published, color="#999999", ls=":", lw=1.2, label=f"published {published:.1f}%")
    ax.set_yticks(y)
    ax.set_yticklabels(models, fontsize=8)
    ax.set_xlim(0, max([measured, *[r for r in rates if math.isfinite(r)], 1.0]) * 1.3)
    ax.set_ylim(-0.6, len(models) + 1.4)  # an empty band above the bars holds the legend, clear of their labels
    ax.legend(fontsize=7, loc="upper right", framealpha=1, edgecolor="none")  # opaque: the rate lines pass behind


def summary_figure(run: RunTables, path: str | os.PathLike | None = None,
                   formats: str | Sequence[str] | None = None) -> Figure:
    """The four headline panels on one 7-inch-wide page (saved at ``path`` when given: ``"s.pdf"``
    writes a PDF; ``formats`` such as ``("png", "pdf")`` write each beside ``path``)."""
    with style():
        fig, axes = plt.subplots(2, 2, figsize=(PAGE_WIDTH, 5.6))
        for draw, ax in zip((panel_accuracy, panel_energy, panel_scaling, panel_breakeven), axes.flat, strict=True):
            draw(run, ax)
        data = run.data.get("name", run.config.get("data", ""))
        fig.suptitle(f"OneSpike Study — the headline answers ({data}, {run.first_arch()}, L = {run.levels()})",
                     fontweight="bold")
        handles, labels = axes.flat[2].get_legend_handles_labels()
        if handles:  # a band above the ratios holds the legend, clear of every line
            low, high = axes.flat[2].get_ylim()
            axes.flat[2].set_ylim(low, high + 0.6 * (high - low))
            axes.flat[2].legend(handles, labels, ncol=2, fontsize=7, loc="upper left", frameon=False)
        fig.tight_layout(pad=0.4)
        fit_bar_labels(fig)
        if path is not None:
            save(fig, path, formats)
    return fig
