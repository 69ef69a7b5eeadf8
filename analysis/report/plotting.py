"""Drawing helpers shared by the question panels. Importing this module never changes the
matplotlib backend (interactive sessions keep theirs; the CLI sets ``MPLBACKEND=Agg``)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

__all__ = [
    "COMPONENT_COLORS",
    "NO_DATA",
    "bar_labels",
    "energy_scale",
    "grid",
    "log2_x",
    "log_axis",
    "no_data",
    "open_panel",
    "save",
]

NO_DATA = "no data"
COMPONENT_COLORS = {
    "compute": "#4c72b0",
    "weight_memory": "#dd8452",
    "activation_memory": "#55a868",
    "membrane_memory": "#c44e52",
    "neuron": "#8172b3",
    "interconnect": "#937860",
    "dram": "#da8bc3",
}


def no_data(ax: Axes, what: str = "") -> None:
    """Mark an empty panel: "no data (what)"."""
    ax.text(0.5, 0.5, NO_DATA + (f"\n({what})" if what else ""), ha="center", va="center",
            transform=ax.transAxes, fontsize=10, color="#888888")
    ax.set_xticks([])
    ax.set_yticks([])


def open_panel(ax: Axes, *, xlabel: str | None = None, ylabel: str | None = None, title: str | None = None,
               title_size: int = 9, empty: bool = False, missing: str = "") -> bool:
    """Open a question panel: label its axes and title it; when it has nothing to draw (``empty``),
    mark it "no data (``missing``)" and return False, so the panel returns at once::

        if not open_panel(ax, xlabel="T", ylabel="energy (pJ)", title="energy", empty=rows.empty):
            return
    """
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title, fontsize=title_size)
    if empty:
        no_data(ax, missing)
        return False
    return True


def energy_scale(values: Iterable[float]) -> tuple[float, str]:
    """(divisor, unit) so that energies read comfortably: µJ from 0.01 µJ up, pJ below."""
    finite = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    largest = float(np.max(np.abs(finite))) if finite.size else 0.0
    return (1e6, "µJ") if largest >= 1e4 else (1.0, "pJ")


def _tick(value: float) -> str:
    return f"{value:,.0f}" if 1000 <= abs(value) < 1e7 else f"{value:.3g}"


def log_axis(ax: Axes, axis: str = "y") -> None:
    """Log scale with ticks at 1, 2, 5 × 10^k written as plain numbers. Only for line plots and
    ratios: bar charts keep a linear axis from zero."""
    getattr(ax, f"set_{axis}scale")("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: _tick(v)))
    target.set_minor_formatter(NullFormatter())


def log2_x(ax: Axes, steps: Sequence[int]) -> None:
    ax.set_xscale("log", base=2)
    if steps:
        ax.set_xticks(list(steps))
        ax.set_xticklabels([str(t) for t in steps])
        ax.minorticks_off()


def bar_labels(ax: Axes, bars, fmt: str = "{:.3g}", fontsize: int = 7, above=None) -> None:
    """Write each bar's height above it (``above``: per bar, the height to write it over, such as
    the top of its error bar), and leave room for the labels under the axes' top."""
    tops = []
    for index, bar in enumerate(bars):
        height = bar.get_height()
        if np.isfinite(height) and height > 0:
            y = height if above is None else max(height, float(np.nan_to_num(above[index])))
            ax.annotate(fmt.format(height), (bar.get_x() + bar.get_width() / 2, y), ha="center",
                        va="bottom", fontsize=fontsize, xytext=(0, 1), textcoords="offset points")
            tops.append(y)
    if tops and ax.get_yscale() == "linear":
        low, high = ax.get_ylim()
        ax.set_ylim(low, max(high, max(tops) * 1.12))


def grid(n: int, ncols: int = 3, size: tuple[float, float] = (4.4, 3.4)) -> tuple[Figure, list[Axes]]:
    """A figure with ``n`` visible axes in rows of ``ncols``."""
    n = max(n, 1)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows + 0.8), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


#: Image formats a figure path may name that :func:`save` does not write.
OTHER_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".eps", ".ps")


def models_of(hardware: Sequence[str] | str | None) -> list[str]:
    """A panel's ``hardware`` argument as a list: one model name (``hardware="sata"``) or several;
    empty when not given (the panel then draws its default models)."""
    if hardware is None:
        return []
    return [hardware] if isinstance(hardware, str) else list(hardware)


def save(fig: Figure, path: str | os.PathLike, formats: Sequence[str] = ("png",)) -> list[Path]:
    """Save ``fig`` as ``<path>.<format>`` for each format (PNG at 150 dpi; ``"svg"`` or ``"pdf"``
    for a paper); returns the paths, the PNG first. A ``path`` that names its format (``x.pdf``) is
    written in that format (with the default ``formats``); another image format is refused."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".png", ".svg", ".pdf"):
        path = path.with_suffix("")
        if tuple(formats) == ("png",):
            formats = (suffix[1:],)
    elif suffix in OTHER_IMAGE_SUFFIXES:
        raise ValueError(f"path {str(path)!r}: figures are written as PNG, SVG or PDF, not {suffix[1:].upper()}: "
                         f"name one of those, e.g. {str(path.with_suffix('.pdf'))!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        target = path.with_name(f"{path.name}.{fmt}")
        # no bbox_inches="tight": the figures lay themselves out (tight_layout), and a tight bbox would
        # draw every text once more only to measure it
        fig.savefig(target, dpi=150)
        out.append(target)
    return out
