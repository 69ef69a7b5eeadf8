"""Drawing helpers shared by the question panels. Importing this module never changes the
matplotlib backend (interactive sessions keep theirs; the CLI sets ``MPLBACKEND=Agg``).

Figures are sized for a two-column paper: :data:`PAGE_WIDTH` (7 in) wide, drawn under :func:`style`
(text at :data:`MIN_FONT_PT` = 7 pt or more at that size, colours from :mod:`analysis.palette`), and
saved by :func:`save` as PNG, PDF or SVG (:func:`figure_formats`)."""

from __future__ import annotations

import math
import os
import textwrap
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from analysis.palette import COMPONENT_COLORS, NEUTRAL, SERIES

__all__ = [
    "BAR_LABELS",
    "COMPONENT_COLORS",
    "FORMATS",
    "LABEL_MARGIN_PT",
    "MIN_FONT_PT",
    "NO_DATA",
    "PAGE_WIDTH",
    "bar_labels",
    "energy_scale",
    "figure_formats",
    "fit_bar_labels",
    "fit_title",
    "grid",
    "label_bar",
    "log2_x",
    "log_axis",
    "no_data",
    "open_panel",
    "save",
    "style",
]

NO_DATA = "no data"
#: Width of a figure spanning both columns of a two-column page (inches).
PAGE_WIDTH = 7.0
#: The smallest text a figure holds at :data:`PAGE_WIDTH` (points).
MIN_FONT_PT = 7
#: The formats :func:`save` writes.
FORMATS = ("png", "pdf", "svg")
#: Image formats a figure path may name that :func:`save` does not write.
OTHER_IMAGE_SUFFIXES = ("jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp", "eps", "ps")
#: PNG resolution (dots per inch): 7 in -> 1400 pixels.
PNG_DPI = 200

#: matplotlib settings every figure is drawn under (see :func:`style`).
RC = {
    "font.size": MIN_FONT_PT,
    "axes.titlesize": MIN_FONT_PT + 1,
    "axes.labelsize": MIN_FONT_PT,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": MIN_FONT_PT + 2,
    "axes.prop_cycle": cycler(color=list(SERIES)),
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "lines.markersize": 3.5,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "legend.frameon": False,
    "pdf.fonttype": 42,  # TrueType in the PDF: the text stays text (journals ask for it)
    "svg.fonttype": "none",
}


@contextmanager
def style() -> Iterator[None]:
    """Draw under the paper style (:data:`RC`) inside the ``with`` block; the caller's settings
    come back after it."""
    with plt.rc_context(RC):
        yield


def figure_formats(formats: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"png,pdf"`` or ``["png", "pdf"]`` -> ``("png", "pdf")`` (lower case, no repeats); None ->
    ``("png",)``. A format outside :data:`FORMATS` is a ValueError naming the ones there are."""
    if formats is None:
        return ("png",)
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    if not all(isinstance(f, str) for f in items):
        raise TypeError(f"figure formats are strings such as 'png' or 'pdf', not {formats!r}")
    out = tuple(dict.fromkeys(f.strip().lower().lstrip(".") for f in items if f.strip()))
    bad = [f for f in out if f not in FORMATS]
    if bad or not out:
        raise ValueError(f"figure format(s) {bad or formats!r} not supported; use one or more of {', '.join(FORMATS)} "
                         "(e.g. --format png,pdf)")
    return out


def no_data(ax: Axes, what: str = "") -> None:
    """Mark an empty panel: "no data (what)"."""
    ax.text(0.5, 0.5, NO_DATA + (f"\n({what})" if what else ""), ha="center", va="center",
            transform=ax.transAxes, fontsize=MIN_FONT_PT + 1, color=NEUTRAL)
    ax.set_xticks([])
    ax.set_yticks([])


def open_panel(ax: Axes, *, xlabel: str | None = None, ylabel: str | None = None, title: str | None = None,
               title_size: int = MIN_FONT_PT + 1, empty: bool = False, missing: str = "") -> bool:
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
        ax.set_title(fit_title(ax, title, title_size), fontsize=title_size)
    if empty:
        no_data(ax, missing)
        return False
    return True


def fit_title(ax: Axes, title: str, size: float = MIN_FONT_PT + 1) -> str:
    """``title`` wrapped onto as many lines as the axes' width needs at ``size`` points (a character
    is taken as 0.55 em), so that neighbouring panels' titles never run into each other."""
    width_pt = ax.get_position().width * ax.figure.get_figwidth() * 72
    chars = max(12, int(width_pt / (0.55 * size)))
    return textwrap.fill(title, width=chars)


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


def bar_labels(ax: Axes, bars, fmt: str = "{:.3g}", fontsize: int = MIN_FONT_PT, above=None) -> None:
    """Write each bar's height above it (``above``: per bar, the height to write it over, such as
    the top of its error bar), and leave room for the labels under the axes' top (a first guess;
    :func:`fit_bar_labels` makes the room exact once the figure is laid out)."""
    tops = []
    for index, bar in enumerate(bars):
        height = bar.get_height()
        if np.isfinite(height) and height > 0:
            y = height if above is None else max(height, float(np.nan_to_num(above[index])))
            label_bar(ax, fmt.format(height), bar.get_x() + bar.get_width() / 2, y, fontsize=fontsize)
            tops.append(y)
    if tops and ax.get_yscale() == "linear":
        low, high = ax.get_ylim()
        ax.set_ylim(low, max(high, max(tops) * 1.12))


#: The labels :func:`label_bar` wrote, which :func:`fit_bar_labels` keeps inside their axes (held weakly: a
#: closed figure's labels go with it).
BAR_LABELS: weakref.WeakSet[Annotation] = weakref.WeakSet()
#: Space kept between a bar label's top and its axes' top (points).
LABEL_MARGIN_PT = 2.0


def label_bar(ax: Axes, text: str, x: float, y: float, *, fontsize: float = MIN_FONT_PT, rotation: float = 0,
              offset_pt: float = 1.0) -> Annotation:
    """Write ``text`` centred above the data point ``(x, y)`` (a bar's top), ``offset_pt`` above it, upright or
    turned by ``rotation`` degrees; :func:`fit_bar_labels` then keeps it inside the axes."""
    label = ax.annotate(text, (x, y), ha="center", va="bottom", fontsize=fontsize, rotation=rotation,
                        xytext=(0, offset_pt), textcoords="offset points")
    BAR_LABELS.add(label)
    return label


def fit_bar_labels(fig: Figure) -> None:
    """Raise the top of every linear, upright y axis of ``fig`` just enough that its bar labels
    (:func:`label_bar`) end :data:`LABEL_MARGIN_PT` below it, so that none runs into the panel's title or
    the panel above. Call it once the figure is laid out (after ``tight_layout``), before saving: a label's
    height is fixed in points, so the room it needs in data units depends on the axes' final height (a
    4-digit label turned upright is a third of a 0.75-inch panel). A label taller than three quarters of its
    panel is left as it is: making room for it would squash the bars under it to under a quarter of the panel."""
    renderer = fig.canvas.get_renderer()
    margin = LABEL_MARGIN_PT * fig.dpi / 72
    for ax in fig.axes:
        labels = [t for t in ax.texts if t in BAR_LABELS and t.get_visible() and t.get_text()]
        if not labels or not ax.get_visible() or ax.get_yscale() != "linear" or ax.yaxis_inverted():
            continue
        low, high = ax.get_ylim()
        box = ax.get_window_extent(renderer)
        needed = high
        for label in labels:
            x, y = label.xy
            if not (np.isfinite(y) and y > low):
                continue
            anchor = ax.transData.transform((x, y))[1]
            above = label.get_window_extent(renderer).y1 - anchor  # the offset and the text, in pixels
            room = box.height - margin - above
            if room >= box.height / 4:  # the label's anchor may rise to room / height of the axes
                needed = max(needed, low + (y - low) * box.height / room)
        if needed > high:
            ax.set_ylim(low, needed)


def grid(n: int, ncols: int = 3, aspect: float = 0.8, width: float = PAGE_WIDTH) -> tuple[Figure, list[Axes]]:
    """A figure ``width`` inches wide (the two-column page by default) with ``n`` visible axes in rows
    of ``ncols``, each ``aspect`` (height / width) of its column, plus room for a title."""
    n = max(n, 1)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    column = width / ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, column * aspect * nrows + 0.45), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def save(fig: Figure, path: str | os.PathLike, formats: str | Sequence[str] | None = None) -> list[Path]:
    """Save ``fig`` as ``<path>.<format>`` for each of ``formats`` (PNG at :data:`PNG_DPI` dpi; PDF and
    SVG keep text as text). A ``path`` ending in .png, .pdf or .svg with no ``formats`` writes that
    format alone (``save(fig, "q8.pdf")`` writes a PDF); otherwise ``formats`` (default PNG) decide.
    Returns the paths in the order of ``formats``."""
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix in FORMATS:
        path = path.with_suffix("")
        if formats is None:
            formats = (suffix,)
    elif suffix in OTHER_IMAGE_SUFFIXES:  # "x.jpg" would become "x.jpg.png": name the formats there are
        raise ValueError(f"path {str(path)!r}: figures are written as PNG, SVG or PDF, not {suffix.upper()}: "
                         f"name one of those, e.g. {str(path.with_suffix('.pdf'))!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in figure_formats(formats):
        target = path.with_name(f"{path.name}.{fmt}")
        # no bbox_inches="tight": the figures lay themselves out (tight_layout), and a tight bbox would
        # draw every text once more only to measure it (and change the figure's width)
        fig.savefig(target, dpi=PNG_DPI, format=fmt)
        out.append(target)
    return out
