"""Every question's figure drawn into a run's ``figures/`` folder (PNG + SVG), from the question
registry. For one figure, or one panel in your own axes::

    from analysis.report import load_run, question
    from analysis.report.energy import panel_breakdown
    run = load_run("reports/quick")
    question("Q5").figure(run, hardware=["sata", "spikesim"])       # a matplotlib Figure
    summary_figure(run)                                               # the one-page summary
    panel_breakdown(run, ax, hardware=["sata"])                       # into your own axes
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt

from analysis.report.plotting import save
from analysis.report.questions import ordered_questions
from analysis.report.summary import SUMMARY_STEM, summary_figure
from analysis.report.tables import RunTables

__all__ = ["draw_all"]


def _failed(title: str, exc: Exception, path: Path) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.text(0.5, 0.5, f"{type(exc).__name__}: {exc}"[:300], ha="center", va="center", wrap=True,
            fontsize=8, transform=ax.transAxes)
    ax.set_axis_off()
    fig.suptitle(f"{title}: figure could not be drawn")
    save(fig, path)
    return fig


def draw_all(run: RunTables, out_dir: str | os.PathLike, hardware=None) -> dict[str, Path]:
    """Draw the summary figure (``summary``) and every question's figure (PNG) into
    ``out_dir``; returns ``{id: png path}``. A figure that fails to draw is replaced by one that says
    why, so one bad table never hides the rest."""
    out_dir = Path(out_dir)
    paths: dict[str, Path] = {}
    try:
        fig = summary_figure(run, out_dir / SUMMARY_STEM)
    except Exception as exc:  # keep the question figures
        fig = _failed("summary", exc, out_dir / SUMMARY_STEM)
    plt.close(fig)
    paths[SUMMARY_STEM] = out_dir / f"{SUMMARY_STEM}.png"
    for entry in ordered_questions():
        qid = entry.qid
        try:
            fig = entry.figure(run, hardware=hardware, path=out_dir / entry.stem)
        except Exception as exc:  # keep the other figures; say in this one what went wrong
            fig = _failed(qid, exc, out_dir / entry.stem)
        plt.close(fig)
        paths[qid] = out_dir / f"{entry.stem}.png"
    return paths
