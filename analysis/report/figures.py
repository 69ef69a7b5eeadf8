"""Figures of the study, one function per reviewer question, drawn from a run folder's tables only.

Every ``fig_*`` function takes the run's tables (``{"results": DataFrame, "layers": ..., ...}`` as
:func:`load_run` returns them; it never runs a network), returns a matplotlib ``Figure`` and, given
``path``, saves it as ``<path>.png`` and ``<path>.svg``. A table or rows that are missing (a study
run without ``bnn``, without ``if``, ...) are drawn as far as they exist, and an empty panel says
"no data" instead of failing.

    from analysis.figures import load_run, fig_q8_ranking
    tables = load_run("reports/quick")
    fig_q8_ranking(tables, path="reports/quick/figures/q8_ranking")

Energies are per inference (one sample), in pJ or µJ as the axis label says.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

__all__ = [
    "COMPONENTS",
    "FIGURES",
    "HARDWARE_ORDER",
    "METHOD_LABELS",
    "draw_all",
    "fig_pareto",
    "fig_q1_equivalence",
    "fig_q2_steps_groups_acs",
    "fig_q3_psg_ops",
    "fig_q4_fidelity",
    "fig_q5_energy_breakdown",
    "fig_q6_membrane",
    "fig_q7_breakeven",
    "fig_q8_ranking",
    "fig_q9_scaling",
    "fig_q10_ladder",
    "fig_q11_group_thresholds",
    "fig_q12_architectures",
    "fig_q13_bnn",
    "load_run",
]

Tables = dict[str, Any]

METHODS = ("ann", "qcfs", "cq", "if", "onespike", "bnn")
METHOD_LABELS = {
    "ann": "ANN (float)",
    "qcfs": "QCFS (L levels)",
    "cq": "clamp-quant (L)",
    "if": "IF SNN (T steps)",
    "onespike": "OneSpike (G groups)",
    "bnn": "BNN",
}
SHORT = {"ann": "ANN", "qcfs": "QCFS", "cq": "CQ", "if": "IF", "onespike": "OneSpike", "bnn": "BNN"}
METHOD_COLORS = {
    "ann": "#444444",
    "qcfs": "#1f77b4",
    "cq": "#17becf",
    "if": "#d62728",
    "onespike": "#2ca02c",
    "bnn": "#9467bd",
}
COMPONENTS = ("compute", "weight_memory", "activation_memory", "membrane_memory", "neuron", "interconnect", "dram")
COMPONENT_COLORS = {
    "compute": "#4c72b0",
    "weight_memory": "#dd8452",
    "activation_memory": "#55a868",
    "membrane_memory": "#c44e52",
    "neuron": "#8172b3",
    "interconnect": "#937860",
    "dram": "#da8bc3",
}
HARDWARE_ORDER = (
    "flops45nm",
    "flops45nm_memory",
    "sata",
    "sata_gated",
    "sata_hw",
    "spikesim",
    "spikesim_event",
    "weight_stationary",
    "loihi",
    "lemaire",
    "yan2024",
)
NO_DATA = "no data"


# -- reading ---------------------------------------------------------------------------------------
def load_run(run_dir: str | os.PathLike) -> Tables:
    """Every ``*.csv`` of a run folder as a DataFrame keyed by its stem, plus ``config`` (the parsed
    ``config.json``, ``{}`` when absent). A table that is absent or empty is an empty DataFrame."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {str(run_dir)!r} does not exist: run `onespike study --out {run_dir}`")
    tables: Tables = {}
    for path in sorted(run_dir.glob("*.csv")):
        try:
            tables[path.stem] = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            tables[path.stem] = pd.DataFrame()
    config_path = run_dir / "config.json"
    tables["config"] = json.loads(config_path.read_text()) if config_path.is_file() else {}
    return tables


def _table(tables: Tables, name: str) -> pd.DataFrame:
    frame = tables.get(name)
    return frame if isinstance(frame, pd.DataFrame) else pd.DataFrame()


def _config(tables: Tables) -> dict[str, Any]:
    cfg = tables.get("config") or {}
    return cfg.get("config", cfg) if isinstance(cfg, dict) else {}


def _col(frame: pd.DataFrame, name: str, default: float = 0.0) -> pd.Series:
    """A numeric column, or ``default`` everywhere when the table lacks it."""
    if name in frame.columns:
        return pd.to_numeric(frame[name], errors="coerce").fillna(default)
    return pd.Series(default, index=frame.index, dtype=float)


def sel(frame: pd.DataFrame, **where: Any) -> pd.DataFrame:
    """Rows of ``frame`` matching every ``column=value`` (a list/tuple value: any of them). A missing
    column matches nothing."""
    if frame.empty:
        return frame
    mask = pd.Series(True, index=frame.index)
    for key, value in where.items():
        if value is None:
            continue
        if key not in frame.columns:
            return frame.iloc[0:0]
        if isinstance(value, (list, tuple, set)):
            mask &= frame[key].isin(list(value))
        else:
            mask &= frame[key] == value
    return frame[mask]


def hardware_models(tables: Tables) -> list[str]:
    """The hardware models present in ``results``, known ones first in a fixed order."""
    results = _table(tables, "results")
    if "hardware" not in results.columns:
        return []
    present = list(dict.fromkeys(results["hardware"].dropna().astype(str)))
    known = [h for h in HARDWARE_ORDER if h in present]
    return known + [h for h in present if h not in known]


def archs(tables: Tables) -> list[str]:
    """The architectures in the run, in config order where known."""
    results = _table(tables, "results")
    present = list(dict.fromkeys(results["arch"].astype(str))) if "arch" in results.columns else []
    for name in ("equivalence", "breakeven"):
        frame = _table(tables, name)
        if "arch" in frame.columns:
            present += [a for a in dict.fromkeys(frame["arch"].astype(str)) if a not in present]
    order = [a for a in _config(tables).get("archs", []) if a in present]
    return order + [a for a in present if a not in order]


def levels(tables: Tables) -> int:
    """L: the quantized ANN's levels (config, else the ``qcfs`` default row's ``levels``, else 4)."""
    value = _config(tables).get("levels")
    if value:
        return int(value)
    rows = sel(_table(tables, "results"), method="qcfs", variant="default")
    if not rows.empty and "levels" in rows.columns and rows["levels"].notna().any():
        return int(rows["levels"].dropna().iloc[0])
    return 4


def timesteps(tables: Tables, method: str | Sequence[str] = ("if", "onespike"), variant: str = "default") -> list[int]:
    """The T (= G) values swept for ``method``: the config's ``timesteps`` where given (so the extra
    T of the break-even pair is not mistaken for a swept value), else every T in the rows."""
    rows = sel(
        _table(tables, "results"), method=list(method) if not isinstance(method, str) else method, variant=variant
    )
    present = sorted({int(t) for t in rows["T"].dropna()}) if "T" in rows.columns else []
    swept = _config(tables).get("timesteps")
    if swept:
        chosen = [t for t in present if t in {int(v) for v in swept}]
        return chosen or present
    return present


def reference_T(tables: Tables) -> int:
    """T = L where the run has it, else the run's T closest to L."""
    L = levels(tables)
    ts = timesteps(tables)
    if not ts or L in ts:
        return L
    return min(ts, key=lambda t: (abs(t - L), t))


def main_hardware(tables: Tables, prefer: Sequence[str] = ("sata", "weight_stationary", "flops45nm")) -> str | None:
    models = hardware_models(tables)
    for name in prefer:
        if name in models:
            return name
    return models[0] if models else None


def panel_hardware(tables: Tables, limit: int = 8) -> list[str]:
    """The models given a panel each: the paper's core models first, at most ``limit``."""
    models = hardware_models(tables)
    core = [h for h in ("flops45nm", "sata", "spikesim", "weight_stationary", "loihi", "lemaire") if h in models]
    rest = [h for h in models if h not in core]
    return (core + rest)[:limit]


def per_inference(tables: Tables) -> pd.DataFrame:
    """``results`` with one row per (arch, method, T, variant): the counts, which do not depend on
    the hardware model (the first model's row is kept)."""
    results = _table(tables, "results")
    if results.empty:
        return results
    keys = [k for k in ("arch", "method", "T", "variant") if k in results.columns]
    return results.drop_duplicates(subset=keys, keep="first")


def method_rows(tables: Tables, arch: str | None, hardware: str | None, T: int | None = None) -> pd.DataFrame:
    """One row per method for the ladder/ranking views: ann, qcfs, cq, bnn (their default rows),
    IF(T) and OneSpike(G=T) at ``T`` (default T = L), in :data:`METHODS` order, column ``label``."""
    results = _table(tables, "results")
    T = reference_T(tables) if T is None else T
    out = []
    for method in METHODS:
        where = {"arch": arch, "hardware": hardware, "method": method, "variant": "default"}
        if method in ("if", "onespike"):
            where["T"] = T
        rows = sel(results, **where)
        if rows.empty:
            continue
        row = rows.iloc[[0]].copy()
        row["label"] = (
            f"{SHORT[method]}(T={T})"
            if method == "if"
            else (f"{SHORT[method]}(G={T})" if method == "onespike" else SHORT[method])
        )
        out.append(row)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


# -- drawing helpers -------------------------------------------------------------------------------
def rate_text(rate: float) -> str:
    """A spike rate as a percentage; a positive rate under 0.05% reads "<0.1%" rather than "0.0%"."""
    if not np.isfinite(rate):
        return "n/a"
    return "<0.1%" if 0 < rate < 5e-4 else f"{100 * rate:.1f}%"


def _no_data(ax, what: str = "") -> None:
    ax.text(
        0.5,
        0.5,
        NO_DATA + (f"\n({what})" if what else ""),
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=11,
        color="#888888",
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _energy_scale(values: Iterable[float]) -> tuple[float, str]:
    """(divisor, unit) so that energies read comfortably: µJ from 0.01 µJ up, pJ below."""
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    big = float(np.nanmax(np.abs(arr))) if arr.size else 0.0
    return (1e6, "µJ") if big >= 1e4 else (1.0, "pJ")


def _tick(v: float) -> str:
    """A log-axis tick: 0.05, 2, 5,000, 2e+07."""
    return f"{v:,.0f}" if 1000 <= abs(v) < 1e7 else f"{v:.3g}"


def _log_axis(ax, axis: str = "y") -> None:
    """Log scale with ticks at 1, 2, 5 × 10^k written as plain numbers (readable over few decades)."""
    getattr(ax, f"set_{axis}scale")("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: _tick(v)))
    target.set_minor_formatter(NullFormatter())


def _grid(n: int, ncols: int = 3, size: tuple[float, float] = (4.4, 3.4)) -> tuple[Figure, list]:
    n = max(n, 1)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows + 0.6), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _finish(fig: Figure, title: str, path: str | os.PathLike | None, legend: dict | None = None) -> Figure:
    """Title, layout (leaving room for a figure-wide ``legend`` {label: handle} at the bottom), save."""
    fig.suptitle(title, fontsize=12, fontweight="bold")
    if legend:
        rows = math.ceil(len(legend) / 7)
        height = fig.get_figheight()
        fig.legend(
            list(legend.values()),
            list(legend),
            loc="lower center",
            ncol=min(len(legend), 7),
            fontsize=8,
            bbox_to_anchor=(0.5, 0.0),
            frameon=False,
        )
        fig.tight_layout(rect=(0, (0.3 * rows + 0.1) / height, 1, 1))
    else:
        fig.tight_layout()
    if path is not None:
        save(fig, path)
    return fig


def save(fig: Figure, path: str | os.PathLike) -> tuple[Path, Path]:
    """Save ``fig`` as ``<path>.png`` (150 dpi) and ``<path>.svg``; returns both paths."""
    path = Path(path)
    if path.suffix.lower() in (".png", ".svg"):
        path = path.with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    png, svg = path.with_name(path.name + ".png"), path.with_name(path.name + ".svg")
    fig.savefig(png, dpi=150, bbox_inches="tight")
    fig.savefig(svg, bbox_inches="tight")
    return png, svg


def _log2_x(ax, ts: Sequence[int]) -> None:
    ax.set_xscale("log", base=2)
    if ts:
        ax.set_xticks(list(ts))
        ax.set_xticklabels([str(t) for t in ts])
        ax.minorticks_off()


def _bar_labels(ax, bars, fmt: str = "{:.3g}", fontsize: int = 7) -> None:
    for bar in bars:
        h = bar.get_height()
        if np.isfinite(h) and h > 0:
            ax.annotate(
                fmt.format(h),
                (bar.get_x() + bar.get_width() / 2, h),
                ha="center",
                va="bottom",
                fontsize=fontsize,
                xytext=(0, 1),
                textcoords="offset points",
            )


def _first_arch(tables: Tables, arch: str | None) -> str | None:
    if arch is not None:
        return arch
    names = archs(tables)
    return names[0] if names else None


# -- Q1 --------------------------------------------------------------------------------------------
def fig_q1_equivalence(tables: Tables, path=None) -> Figure:
    """Max |logit difference| of OneSpike(G) and IF(T) against the quantized ANN with the same number
    of levels (log y; exact zeros drawn at the floor), and prediction agreement, per T and arch."""
    eq = _table(tables, "equivalence")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    floor = 1e-17
    if eq.empty or "T" not in eq.columns:
        _no_data(ax1, "equivalence.csv")
        _no_data(ax2, "equivalence.csv")
    else:
        styles = ["-", "--", ":", "-."]
        markers = ["o", "s", "^", "D", "v", "P"]
        for i, (arch, rows) in enumerate(eq.groupby("arch", sort=False)):
            rows = rows.sort_values("T")
            ls, mk = styles[i % len(styles)], markers[i % len(markers)]
            for method, prefix in (("onespike", "onespike"), ("if", "if")):
                diff = _col(rows, f"{prefix}_max_abs_logit_diff", np.nan).clip(lower=floor)
                agree = _col(rows, f"{prefix}_agreement", np.nan) * 100
                name = f"{SHORT[method]} vs QCFS(L=T), {arch}"
                ax1.plot(rows["T"], diff, ls, marker=mk, color=METHOD_COLORS[method], label=name)
                ax2.plot(rows["T"], agree, ls, marker=mk, color=METHOD_COLORS[method], label=name)
        ax1.set_yscale("log")
        ax1.axhline(2.2e-16, color="#999999", lw=0.8, ls=":")
        ax1.text(
            0.01, 2.2e-16, " float64 eps", fontsize=7, color="#777777", va="bottom", transform=ax1.get_yaxis_transform()
        )
        ts = sorted(eq["T"].astype(int).unique())
        _log2_x(ax1, ts)
        _log2_x(ax2, ts)
        ax1.legend(fontsize=7)
        ax2.legend(fontsize=7)
        ax2.set_ylim(min(90.0, float(np.nanmin(_col(eq, "if_agreement", 1.0))) * 100 - 2), 100.8)
    ax1.set_xlabel("T (IF timesteps) = G (OneSpike groups) = levels of the QCFS ANN")
    ax1.set_ylabel("max |logit difference| (exact 0 drawn at 1e-17)")
    ax1.set_title("distance to the quantized ANN")
    ax2.set_xlabel("T = G = levels")
    ax2.set_ylabel("prediction agreement with the quantized ANN (%)")
    ax2.set_title("same predicted class")
    return _finish(fig, "Q1: is OneSpike a quantized ANN in disguise? (same weights, same levels)", path)


# -- Q2 --------------------------------------------------------------------------------------------
def fig_q2_steps_groups_acs(tables: Tables, path=None, arch: str | None = None) -> Figure:
    """At each T: sequential steps, parallel groups and ACs / adds per inference of IF(T) and
    OneSpike(G=T) (one arch), with the quantized ANN's MACs for reference."""
    arch = _first_arch(tables, arch)
    counts = sel(per_inference(tables), arch=arch, variant="default")
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ts = timesteps(tables)
    methods = [m for m in ("if", "onespike") if not sel(counts, method=m).empty]
    if not ts or not methods:
        for ax in axes:
            _no_data(ax, "no IF / OneSpike rows")
    else:
        x = np.arange(len(ts))
        width = 0.8 / len(methods)
        for k, method in enumerate(methods):
            rows = sel(counts, method=method).set_index("T").reindex(ts)
            off = (k - (len(methods) - 1) / 2) * width
            for ax, col in ((axes[0], "latency_steps"), (axes[1], "groups")):
                bars = ax.bar(
                    x + off, _col(rows, col, np.nan), width, color=METHOD_COLORS[method], label=METHOD_LABELS[method]
                )
                _bar_labels(ax, bars, "{:.0f}")
            ac = _col(rows, "ops_ac", np.nan)
            add = _col(rows, "ops_add", np.nan)
            axes[2].bar(x + off, ac, width, color=METHOD_COLORS[method], label=f"{SHORT[method]}: ACs")
            axes[2].bar(
                x + off,
                add,
                width,
                bottom=ac,
                color=METHOD_COLORS[method],
                alpha=0.45,
                hatch="//",
                label=f"{SHORT[method]}: other adds",
            )
        q = sel(counts, method="qcfs", variant="default")
        if not q.empty:
            macs = float(_col(q, "ops_mac").iloc[0])
            if macs > 0:
                axes[2].axhline(macs, color=METHOD_COLORS["qcfs"], ls="--", lw=1, label="QCFS ANN: MACs")
        _log_axis(axes[2])
        for ax in axes:
            ax.set_xticks(x)
            ax.set_xticklabels([str(t) for t in ts])
            ax.legend(fontsize=7)
    for ax, ylabel, title in (
        (axes[0], "sequential steps per inference", "latency (steps)"),
        (axes[1], "parallel groups per step", "parallelism (groups)"),
        (axes[2], "operations per inference (log)", "accumulates + adds"),
    ):
        ax.set_xlabel("T (IF) = G (OneSpike)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
    return _finish(fig, f"Q2: is 'one timestep' real, or are T steps moved into G groups? ({arch})", path)


# -- Q3 --------------------------------------------------------------------------------------------
def _neuron_count(tables: Tables, arch, method, T, variant) -> float:
    layers = sel(_table(tables, "layers"), arch=arch, method=method, T=T, variant=variant)
    if layers.empty or "neurons" not in layers.columns:
        return float("nan")
    rows = sel(layers, kind="neuron")
    return float(_col(rows if not rows.empty else layers, "neurons").sum())


def psg_ops_per_neuron_group(tables: Tables, arch: str | None = None) -> pd.DataFrame:
    """OneSpike exact (``default``) vs hardware mode, per G: each neuron-op event per spiking neuron
    per group (from ``results`` totals and ``layers`` neuron counts)."""
    arch = _first_arch(tables, arch)
    counts = sel(per_inference(tables), arch=arch, method="onespike", variant=["default", "hardware"])
    rows = []
    for _, r in counts.iterrows():
        neurons = _neuron_count(tables, arch, "onespike", r["T"], r["variant"])
        denom = neurons * max(float(r.get("groups", r["T"]) or r["T"]), 1.0)
        row = {"T": int(r["T"]), "mode": "exact" if r["variant"] == "default" else "hardware"}
        for event in ("mul", "mod", "shift", "mask", "cmp", "add"):
            value = float(r.get(f"ops_{event}", 0.0) or 0.0)
            row[event] = value / denom if denom and np.isfinite(denom) and denom > 0 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def fig_q3_psg_ops(tables: Tables, path=None, arch: str | None = None) -> Figure:
    """PSG op mix (mul/mod vs shift/mask/cmp per neuron per group) in exact and hardware mode, the
    neuron component's share of energy under each hardware model, and accuracy of both modes."""
    arch = _first_arch(tables, arch)
    results = sel(_table(tables, "results"), arch=arch, method="onespike")
    ops = psg_ops_per_neuron_group(tables, arch)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    events = ("mul", "mod", "shift", "mask", "cmp")
    hatches = {"exact": "", "hardware": "//"}
    if ops.empty:
        _no_data(axes[0], "no OneSpike rows")
    else:
        common = sorted(set(ops[ops["mode"] == "hardware"]["T"])) or sorted(set(ops["T"]))
        T = reference_T(tables) if reference_T(tables) in common else common[-1]
        x = np.arange(len(events))
        for k, mode in enumerate(("exact", "hardware")):
            row = ops[(ops["mode"] == mode) & (ops["T"] == T)]
            if row.empty:
                continue
            vals = [float(row[e].iloc[0]) for e in events]
            bars = axes[0].bar(
                x + (k - 0.5) * 0.4,
                vals,
                0.4,
                color=["#c44e52", "#c44e52", "#4c72b0", "#4c72b0", "#4c72b0"],
                hatch=hatches[mode],
                edgecolor="white",
                label=f"{mode} mode",
            )
            _bar_labels(axes[0], bars, "{:.2g}")
        axes[0].set_xticks(x)
        axes[0].set_xticklabels(events)
        axes[0].legend(fontsize=8)
        axes[0].set_title(f"op mix at G={T} (red: mul/mod, blue: shift/mask/cmp)", fontsize=9)
    axes[0].set_xlabel("operation")
    axes[0].set_ylabel("operations per neuron per group")

    models = hardware_models(tables)
    if results.empty or not models:
        _no_data(axes[1])
    else:
        x = np.arange(len(models))
        T_ref = reference_T(tables)
        for k, (variant, mode) in enumerate((("default", "exact"), ("hardware", "hardware"))):
            rows = sel(results, variant=variant, T=T_ref)
            if rows.empty:
                rows = sel(results, variant=variant)
                rows = rows[rows["T"] == rows["T"].max()] if not rows.empty else rows
            rows = rows.set_index("hardware").reindex(models)
            share = 100 * _col(rows, "neuron_pj", np.nan) / _col(rows, "energy_pj", np.nan).replace(0, np.nan)
            axes[1].bar(
                x + (k - 0.5) * 0.4,
                share,
                0.4,
                color=METHOD_COLORS["onespike"],
                hatch=hatches[mode],
                edgecolor="white",
                alpha=1.0 if mode == "exact" else 0.6,
                label=f"{mode} mode",
            )
        axes[1].set_xticks(x)
        axes[1].set_xticklabels(models, rotation=35, ha="right", fontsize=8)
        axes[1].legend(fontsize=8)
    axes[1].set_xlabel("hardware model")
    axes[1].set_ylabel("neuron (PSG) share of energy (%)")
    axes[1].set_title("spike-generation energy share", fontsize=9)

    acc = per_inference({"results": results})
    if acc.empty:
        _no_data(axes[2])
    else:
        for variant, mode, ls in (("default", "exact", "-"), ("hardware", "hardware", "--")):
            rows = sel(acc, variant=variant).sort_values("T")
            if not rows.empty:
                axes[2].plot(
                    rows["T"],
                    100 * _col(rows, "accuracy"),
                    ls,
                    marker="o",
                    color=METHOD_COLORS["onespike"],
                    label=f"{mode} mode",
                )
        _log2_x(axes[2], sorted(acc["T"].astype(int).unique()))
        axes[2].legend(fontsize=8)
    axes[2].set_xlabel("G (groups)")
    axes[2].set_ylabel("test accuracy (%)")
    axes[2].set_title("accuracy: exact vs power-of-two hardware mode", fontsize=9)
    return _finish(fig, f"Q3: what do PSG's multiply and modulus cost? ({arch})", path)


# -- Q4 --------------------------------------------------------------------------------------------
def fig_q4_fidelity(tables: Tables, path=None) -> Figure:
    """The worked example as a raster (IF row vs PSG row, inputs annotated), and MAE of the
    spike-count value vs the ideal clipped value per T for IF and PSG."""
    worked = _table(tables, "worked_example")
    fid = _table(tables, "fidelity")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [1.1, 1]})
    if worked.empty or "if_spike" not in worked.columns:
        _no_data(ax1, "worked_example.csv")
    else:
        steps = worked["step"].to_numpy() if "step" in worked.columns else np.arange(len(worked))
        for y, col, method in ((1, "if_spike", "if"), (0, "psg_spike", "onespike")):
            spikes = _col(worked, col).to_numpy()
            ax1.scatter(
                steps,
                np.full(len(steps), y),
                s=[260 if s > 0 else 60 for s in spikes],
                marker="|",
                linewidths=[3 if s > 0 else 0.8 for s in spikes],
                color=[METHOD_COLORS[method] if s > 0 else "#bbbbbb" for s in spikes],
            )
            ax1.text(steps[-1] + 0.6, y, f"{int(spikes.sum())} spikes", va="center", fontsize=9)
        inputs = _col(worked, "input").to_numpy()
        for s, v in zip(steps, inputs, strict=False):
            ax1.annotate(f"x={v:g}", (s, 1.55), ha="center", fontsize=8, color="#333333")
        total = float(inputs.sum())
        ax1.text(
            0.0,
            -0.62,
            f"PSG sees the total current Σx = {total:g} (θ = 2 in the seed example)",
            fontsize=8,
            color="#555555",
            transform=ax1.transData,
        )
        ax1.set_yticks([0, 1])
        ax1.set_yticklabels(["PSG / OneSpike", "IF (soft reset)"])
        ax1.set_xticks(steps)
        ax1.set_xlim(steps[0] - 0.5, steps[-1] + 1.9)
        ax1.set_ylim(-0.8, 1.9)
    ax1.set_xlabel("timestep (IF) / group (PSG)")
    ax1.set_ylabel("neuron")
    ax1.set_title("worked example: same inputs, different spike trains", fontsize=9)
    if fid.empty or "mae" not in fid.columns:
        _no_data(ax2, "fidelity.csv")
    else:
        for (v_init, neuron), rows in fid.groupby(["v_init", "neuron"], sort=False):
            rows = rows.sort_values("T")
            method = "if" if neuron == "IF" else "onespike"
            ax2.plot(
                rows["T"],
                rows["mae"],
                "-" if "θ/2" in str(v_init) else ":",
                marker="o",
                color=METHOD_COLORS[method],
                label=f"{neuron}, {v_init}",
            )
        _log2_x(ax2, sorted(fid["T"].astype(int).unique()))
        _log_axis(ax2)
        ax2.legend(fontsize=8)
    ax2.set_xlabel("T = G")
    ax2.set_ylabel("mean |spike value − clip(x̄, 0, θ)| (units of θ)")
    ax2.set_title("fidelity on random uneven currents", fontsize=9)
    return _finish(fig, "Q4: does PSG approximate a value better than an IF neuron?", path)


# -- Q5 --------------------------------------------------------------------------------------------
def fig_q5_energy_breakdown(tables: Tables, path=None, arch: str | None = None, normalise: bool = False) -> Figure:
    """Stacked component energy per method per hardware model at T = L (one panel per model).
    ``normalise=True`` draws each bar as shares of its total (%)."""
    arch = _first_arch(tables, arch)
    models = panel_hardware(tables, limit=12)
    fig, axes = _grid(len(models), ncols=4, size=(4.0, 3.6))
    T = reference_T(tables)
    comps = [c for c in COMPONENTS if f"{c}_pj" in _table(tables, "results").columns]
    handles = {}
    for ax, hw in zip(axes, models or [None], strict=False):
        rows = method_rows(tables, arch, hw, T)
        if rows.empty or not comps:
            _no_data(ax)
            ax.set_xlabel("method")
            ax.set_ylabel("energy per inference")
            continue
        total = _col(rows, "energy_pj").to_numpy()
        div, unit = (1.0, "%") if normalise else _energy_scale(total)
        bottom = np.zeros(len(rows))
        for comp in comps:
            vals = _col(rows, f"{comp}_pj").to_numpy()
            if normalise:
                vals = 100 * vals / np.where(total > 0, total, np.nan)
            else:
                vals = vals / div
            if np.nansum(vals) <= 0:
                continue
            h = ax.bar(rows["label"], vals, bottom=bottom, color=COMPONENT_COLORS.get(comp), label=comp)
            handles[comp.replace("_", " ")] = h
            bottom += np.nan_to_num(vals)
        if not normalise:
            for i, t in enumerate(total):
                ax.annotate(f"{t / div:.3g}", (i, bottom[i]), ha="center", va="bottom", fontsize=7)
            ax.set_ylim(0, max(bottom.max(), 1e-30) * 1.15)
        ax.set_title(hw, fontsize=10)
        ax.set_xlabel("method")
        ax.set_ylabel("share of energy (%)" if normalise else f"energy per inference ({unit})")
        ax.tick_params(axis="x", rotation=40, labelsize=7)
    return _finish(fig, f"Q5: energy by component once memory is counted ({arch}, T = G = {T})", path, legend=handles)


# -- Q6 --------------------------------------------------------------------------------------------
def fig_q6_membrane(tables: Tables, path=None, arch: str | None = None) -> Figure:
    """Membrane-potential reads/writes per inference vs T for IF and OneSpike, and the membrane
    component's share of energy per hardware model and T."""
    arch = _first_arch(tables, arch)
    ts = timesteps(tables)
    counts = sel(per_inference(tables), arch=arch, method=["if", "onespike"], variant="default", T=ts or None)
    results = sel(_table(tables, "results"), arch=arch, method=["if", "onespike"], variant="default", T=ts or None)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    if counts.empty:
        _no_data(ax1)
    else:
        for method, rows in counts.groupby("method", sort=False):
            rows = rows.sort_values("T")
            ax1.plot(
                rows["T"],
                _col(rows, "ops_vmem_reads"),
                "-",
                marker="o",
                color=METHOD_COLORS[method],
                label=f"{SHORT[method]}: reads",
            )
            ax1.plot(
                rows["T"],
                _col(rows, "ops_vmem_writes"),
                "--",
                marker="s",
                color=METHOD_COLORS[method],
                label=f"{SHORT[method]}: writes",
            )
        _log_axis(ax1)
        _log2_x(ax1, ts)
        ax1.legend(fontsize=8)
    ax1.set_xlabel("T (IF) = G (OneSpike)")
    ax1.set_ylabel("membrane accesses per inference")
    ax1.set_title("membrane-potential reads / writes", fontsize=9)
    share_models = []
    if not results.empty and "membrane_memory_pj" in results.columns:
        share_models = [
            h for h in hardware_models(tables) if _col(sel(results, hardware=h), "membrane_memory_pj").sum() > 0
        ]
    if not share_models:
        _no_data(ax2, "no model prices membrane memory")
    else:
        cmap = plt.get_cmap("tab10")
        for i, hw in enumerate(share_models):
            for method, ls in (("if", "-"), ("onespike", "--")):
                rows = sel(results, hardware=hw, method=method).sort_values("T")
                if rows.empty:
                    continue
                share = 100 * _col(rows, "membrane_memory_pj") / _col(rows, "energy_pj").replace(0, np.nan)
                ax2.plot(
                    rows["T"],
                    share,
                    ls,
                    marker="o",
                    ms=3,
                    color=cmap(i % 10),
                    label=f"{hw}" if method == "if" else None,
                )
        ax2.plot([], [], "k-", label="IF (solid)")
        ax2.plot([], [], "k--", label="OneSpike (dashed)")
        _log2_x(ax2, ts)
        _log_axis(ax2)
        ax2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax2.set_xlabel("T (IF) = G (OneSpike)")
    ax2.set_ylabel("membrane-memory share of energy (%, log)")
    ax2.set_title("membrane energy share per hardware model", fontsize=9)
    return _finish(fig, f"Q6: what do membrane-potential updates cost? ({arch})", path)


# -- Q7 --------------------------------------------------------------------------------------------
def fig_q7_breakeven(tables: Tables, path=None, arch: str | None = None) -> Figure:
    """SNN energy vs input spike sparsity (one panel per hardware model) with the equivalent QNN as
    a horizontal line, the break-even sparsity and the measured sparsity marked."""
    arch = _first_arch(tables, arch)
    sweep = sel(_table(tables, "sweep"), arch=arch)
    be = sel(_table(tables, "breakeven"), arch=arch)
    models = [h for h in panel_hardware(tables, limit=12) if not sel(sweep, hardware=h).empty] or (
        list(dict.fromkeys(sweep["hardware"])) if "hardware" in sweep.columns else []
    )
    fig, axes = _grid(len(models), ncols=4, size=(4.0, 3.3))
    if not models:
        _no_data(axes[0], "sweep.csv")
        axes[0].set_xlabel("input spike sparsity")
        axes[0].set_ylabel("energy per inference (pJ)")
    for ax, hw in zip(axes, models, strict=False):
        rows = sel(sweep, hardware=hw)
        div, unit = _energy_scale(list(_col(rows, "snn_energy_pj")) + list(_col(rows, "qnn_energy_pj")))
        for method, mrows in rows.groupby("method", sort=False):
            mrows = mrows.sort_values("input_sparsity")
            color = METHOD_COLORS.get(method)
            b = sel(be, hardware=hw, method=method)
            T = int(b["T"].iloc[0]) if not b.empty and "T" in b.columns else None
            name = (
                f"{SHORT.get(method, method)}({'T' if method == 'if' else 'G'}={T})" if T else SHORT.get(method, method)
            )
            s = float(_col(b, "break_even_sparsity", np.nan).iloc[0]) if not b.empty else float("nan")
            if np.isfinite(s):
                label = f"{name}: break-even sparsity {s:.2f} (rate {rate_text(1 - s)})"
                ax.axvline(s, color=color, ls="--", lw=0.9)
            elif not b.empty:
                reason = str(b["reason"].iloc[0]) if "reason" in b.columns else ""
                label = f"{name}: no break-even ({'cheaper' if 'less' in reason else 'dearer'} at every rate)"
            else:
                label = name
            ax.plot(mrows["input_sparsity"], _col(mrows, "snn_energy_pj") / div, "-", color=color, label=label)
            ax.axhline(float(_col(mrows, "qnn_energy_pj").iloc[0]) / div, color=color, ls=":", lw=1.3)
            m = float(_col(b, "measured_spike_rate", np.nan).iloc[0]) if not b.empty else float("nan")
            if np.isfinite(m):
                sp = 1 - m
                y = np.interp(sp, mrows["input_sparsity"], _col(mrows, "snn_energy_pj") / div)
                ax.plot([sp], [y], marker="*", ms=10, color=color, ls="none")
        ax.set_title(hw, fontsize=10)
        ax.set_xlabel("input spike sparsity (1 − spike rate)")
        ax.set_ylabel(f"energy per inference ({unit})")
        ax.legend(fontsize=6, loc="best")
    legend = {}
    if models:
        legend = {
            "SNN energy vs sparsity (solid)": plt.Line2D([], [], color="k"),
            "equivalent ceil(log2(T+1))-bit QNN (dotted)": plt.Line2D([], [], color="k", ls=":"),
            "break-even sparsity (dashed)": plt.Line2D([], [], color="k", ls="--", lw=0.9),
            "measured sparsity": plt.Line2D([], [], color="k", marker="*", ls="none", ms=9),
        }
    return _finish(
        fig, f"Q7: when are sparse 1-bit spikes cheaper than the equivalent QNN? ({arch})", path, legend=legend
    )


# -- Q8 --------------------------------------------------------------------------------------------
def ranking_table(tables: Tables, arch: str | None = None) -> pd.DataFrame:
    """Energy of each method relative to the quantized ANN (QCFS, L levels) under every hardware
    model: rows are methods (IF and OneSpike at T = L), columns hardware models."""
    arch = _first_arch(tables, arch)
    cols = {}
    for hw in hardware_models(tables):
        rows = method_rows(tables, arch, hw)
        if rows.empty:
            continue
        base = rows[rows["method"] == "qcfs"]
        ref = float(base["energy_pj"].iloc[0]) if not base.empty else float("nan")
        cols[hw] = pd.Series(_col(rows, "energy_pj").to_numpy() / ref, index=rows["label"].to_numpy())
    return pd.DataFrame(cols)


def fig_q8_ranking(tables: Tables, path=None, arch: str | None = None) -> Figure:
    """Heatmap of energy relative to the quantized ANN, methods × hardware models, with the rank of
    each method under each model (1 = cheapest)."""
    arch = _first_arch(tables, arch)
    rel = ranking_table(tables, arch)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.0 * rel.shape[1] + 3), max(3.5, 0.55 * rel.shape[0] + 1.8)))
    if rel.empty or not np.isfinite(rel.to_numpy(dtype=float)).any():
        _no_data(ax, "no method rows / no quantized ANN")
    else:
        data = rel.to_numpy(dtype=float)
        finite = data[np.isfinite(data) & (data > 0)]
        vmax = max(float(np.max(np.abs(np.log10(finite)))) if finite.size else 1.0, 0.1)
        im = ax.imshow(data, cmap="RdYlGn_r", norm=LogNorm(10**-vmax, 10**vmax), aspect="auto")
        ranks = rel.rank(axis=0, method="min")
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                if np.isfinite(data[i, j]):
                    ax.text(j, i, f"{data[i, j]:.2g}×\n#{int(ranks.iat[i, j])}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(rel.shape[1]))
        ax.set_xticklabels(rel.columns, rotation=35, ha="right", fontsize=8)
        ax.set_yticks(range(rel.shape[0]))
        ax.set_yticklabels(rel.index, fontsize=8)
        cbar = fig.colorbar(im, ax=ax)
        cbar.set_label("energy / quantized ANN's (log)")
    ax.set_xlabel("hardware model")
    ax.set_ylabel("method")
    return _finish(fig, f"Q8: does the ranking depend on the hardware model? ({arch}, #rank, 1 = cheapest)", path)


# -- Q9 --------------------------------------------------------------------------------------------
def fig_q9_scaling(tables: Tables, path=None, arch: str | None = None) -> Figure:
    """Energy (per hardware model), latency steps and accuracy vs T for IF and OneSpike (log2 x)."""
    arch = _first_arch(tables, arch)
    ts = timesteps(tables)
    results = sel(_table(tables, "results"), arch=arch, method=["if", "onespike"], variant="default", T=ts or None)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    legend: dict[str, Any] = {}
    if results.empty:
        for ax in axes:
            _no_data(ax)
    else:
        models = panel_hardware(tables, limit=6)
        div, unit = _energy_scale(_col(sel(results, hardware=models), "energy_pj"))
        cmap = plt.get_cmap("tab10")
        for i, hw in enumerate(models):
            for method, ls in (("if", "-"), ("onespike", "--")):
                rows = sel(results, hardware=hw, method=method).sort_values("T")
                if not rows.empty:
                    axes[0].plot(
                        rows["T"],
                        _col(rows, "energy_pj") / div,
                        ls,
                        marker="o",
                        ms=3,
                        color=cmap(i),
                    )
            legend[hw] = plt.Line2D([], [], color=cmap(i), marker="o", ms=3)
        legend["IF (solid)"] = plt.Line2D([], [], color="k")
        legend["OneSpike (dashed)"] = plt.Line2D([], [], color="k", ls="--")
        _log_axis(axes[0])
        counts = per_inference({"results": results})
        for method, rows in counts.groupby("method", sort=False):
            rows = rows.sort_values("T")
            axes[1].plot(
                rows["T"],
                _col(rows, "latency_steps"),
                marker="o",
                color=METHOD_COLORS[method],
                label=METHOD_LABELS[method],
            )
            axes[2].plot(
                rows["T"],
                100 * _col(rows, "accuracy"),
                marker="o",
                color=METHOD_COLORS[method],
                label=METHOD_LABELS[method],
            )
        q = sel(per_inference(tables), arch=arch, method="qcfs")
        q = (
            q[q["variant"].astype(str).str.startswith("levels") & q["T"].isin(ts)].sort_values("T")
            if not q.empty
            else q
        )
        if not q.empty:
            axes[2].plot(
                q["T"],
                100 * _col(q, "accuracy"),
                ":",
                marker="x",
                color=METHOD_COLORS["qcfs"],
                label="QCFS re-levelled to T",
            )
        ann = sel(per_inference(tables), arch=arch, method="ann")
        if not ann.empty:
            axes[2].axhline(
                100 * float(ann["accuracy"].iloc[0]), color=METHOD_COLORS["ann"], ls="--", lw=0.8, label="ANN"
            )
        axes[1].set_yscale("log", base=2)
        axes[1].yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        for ax in axes:
            _log2_x(ax, ts)
        axes[1].legend(fontsize=8)
        axes[2].legend(fontsize=8)
        unit_label = unit
        axes[0].set_ylabel(f"energy per inference ({unit_label}, log)")
    if results.empty:
        axes[0].set_ylabel("energy per inference (pJ)")
    for ax, title in zip(axes, ("energy", "latency", "accuracy"), strict=True):
        ax.set_xlabel("T (IF) = G (OneSpike), log2")
        ax.set_title(title, fontsize=9)
    axes[1].set_ylabel("sequential steps per inference")
    axes[2].set_ylabel("test accuracy (%)")
    return _finish(fig, f"Q9: how does cost grow with T (or G)? ({arch})", path, legend=legend)


# -- Q10 -------------------------------------------------------------------------------------------
def ladder_table(tables: Tables) -> pd.DataFrame:
    """Per arch, accuracy of ANN → QCFS → CQ → IF(T=L) → OneSpike(G=L) → BNN (%), columns by step."""
    counts = per_inference(tables)
    T = reference_T(tables)
    out = {}
    for arch in archs(tables):
        rows = method_rows({"results": counts, "config": tables.get("config")}, arch, None, T)
        if not rows.empty:
            out[arch] = pd.Series(100 * _col(rows, "accuracy").to_numpy(), index=rows["label"].to_numpy())
    return pd.DataFrame(out).T if out else pd.DataFrame()


def fig_q10_ladder(tables: Tables, path=None) -> Figure:
    """Accuracy ladder per arch: ANN → QCFS/CQ → IF(T=L) → OneSpike(G=L) → BNN, drop labelled in
    percentage points against the ANN."""
    ladder = ladder_table(tables)
    fig, ax = plt.subplots(figsize=(max(7.0, 2.2 * max(len(ladder), 1) + 3), 4.4))
    if ladder.empty:
        _no_data(ax)
    else:
        steps = list(ladder.columns)
        x = np.arange(len(ladder))
        width = 0.8 / len(steps)
        ann = ladder["ANN"] if "ANN" in ladder.columns else None
        for k, step in enumerate(steps):
            method = next((m for m, s in SHORT.items() if step.startswith(s)), "ann")
            vals = ladder[step].to_numpy(dtype=float)
            bars = ax.bar(x + (k - (len(steps) - 1) / 2) * width, vals, width, color=METHOD_COLORS[method], label=step)
            for bar, v, a in zip(bars, vals, ann if ann is not None else vals, strict=False):
                if np.isfinite(v):
                    text = f"{v:.1f}" if step == "ANN" or ann is None else f"{v:.1f}\n({v - a:+.1f})"
                    ax.annotate(
                        text,
                        (bar.get_x() + bar.get_width() / 2, v),
                        ha="center",
                        va="bottom",
                        fontsize=6,
                        xytext=(0, 1),
                        textcoords="offset points",
                    )
        lo = float(np.nanmin(ladder.to_numpy(dtype=float)))
        ax.set_ylim(max(0.0, lo - 12), 103)
        ax.set_xticks(x)
        ax.set_xticklabels(ladder.index)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_xlabel("architecture")
    ax.set_ylabel("test accuracy (%)  (in brackets: pp vs ANN)")
    return _finish(fig, "Q10: how lossy is each conversion step?", path)


# -- Q11 -------------------------------------------------------------------------------------------
def fig_q11_group_thresholds(tables: Tables, path=None, arch: str | None = None) -> Figure:
    """OneSpike with a shared threshold vs per-group power-of-two thresholds: accuracy per G and the
    energy ratio (per-group / shared) per hardware model."""
    arch = _first_arch(tables, arch)
    results = sel(_table(tables, "results"), arch=arch, method="onespike", variant=["default", "per_group_thresholds"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    per_group = sel(results, variant="per_group_thresholds")
    if per_group.empty:
        _no_data(ax1, "no per-group threshold rows")
        _no_data(ax2, "no per-group threshold rows")
    else:
        counts = per_inference({"results": results})
        ts = sorted(counts["T"].astype(int).unique())
        for variant, ls, label in (
            ("default", "-", "shared threshold"),
            ("per_group_thresholds", "--", "per-group power-of-two thresholds"),
        ):
            rows = sel(counts, variant=variant).sort_values("T")
            ax1.plot(
                rows["T"], 100 * _col(rows, "accuracy"), ls, marker="o", color=METHOD_COLORS["onespike"], label=label
            )
        ax1.legend(fontsize=8)
        _log2_x(ax1, ts)
        cmap = plt.get_cmap("tab10")
        for i, hw in enumerate(hardware_models(tables)):
            a = sel(results, hardware=hw, variant="per_group_thresholds").set_index("T")["energy_pj"]
            b = sel(results, hardware=hw, variant="default").set_index("T")["energy_pj"]
            ratio = (a / b.reindex(a.index)).dropna().sort_index()
            if not ratio.empty:
                ax2.plot(ratio.index, ratio.to_numpy(), marker="o", ms=3, color=cmap(i % 10), label=hw)
        ax2.axhline(1.0, color="#888888", lw=0.8)
        _log2_x(ax2, ts)
        ax2.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax1.set_xlabel("G (groups)")
    ax1.set_ylabel("test accuracy (%)")
    ax1.set_title("accuracy", fontsize=9)
    ax2.set_xlabel("G (groups)")
    ax2.set_ylabel("energy per-group / shared (ratio)")
    ax2.set_title("energy ratio per hardware model", fontsize=9)
    return _finish(fig, f"Q11: would different thresholds per group help? ({arch})", path)


# -- Q12 -------------------------------------------------------------------------------------------
def architecture_table(tables: Tables, hardware: str | None = None) -> pd.DataFrame:
    """Rows (arch, method label) with accuracy (%) and energy (pJ) under ``hardware``."""
    hardware = hardware or main_hardware(tables)
    rows = []
    for arch in archs(tables):
        m = method_rows(tables, arch, hardware)
        for _, r in m.iterrows():
            rows.append(
                {
                    "arch": arch,
                    "method": r["label"],
                    "accuracy_pct": 100 * float(r["accuracy"]),
                    "energy_pj": float(r["energy_pj"]),
                }
            )
    return pd.DataFrame(rows)


def fig_q12_architectures(tables: Tables, path=None, hardware: str | None = None) -> Figure:
    """Accuracy and energy (one hardware model) per arch per method, grouped bars."""
    hardware = hardware or main_hardware(tables)
    table = architecture_table(tables, hardware)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(8.0, 2.4 * max(len(archs(tables)), 1) + 3), 7.5))
    if table.empty:
        _no_data(ax1)
        _no_data(ax2)
        unit = "pJ"
    else:
        arch_names = list(dict.fromkeys(table["arch"]))
        labels = list(dict.fromkeys(table["method"]))
        x = np.arange(len(arch_names))
        width = 0.8 / len(labels)
        div, unit = _energy_scale(table["energy_pj"])
        for k, label in enumerate(labels):
            method = next((m for m, s in SHORT.items() if label.startswith(s)), "ann")
            rows = table[table["method"] == label].set_index("arch").reindex(arch_names)
            off = (k - (len(labels) - 1) / 2) * width
            b1 = ax1.bar(x + off, rows["accuracy_pct"], width, color=METHOD_COLORS[method], label=label)
            _bar_labels(ax1, b1, "{:.1f}", fontsize=6)
            b2 = ax2.bar(x + off, rows["energy_pj"] / div, width, color=METHOD_COLORS[method], label=label)
            _bar_labels(ax2, b2, "{:.2g}", fontsize=6)
        lo = float(np.nanmin(table["accuracy_pct"]))
        ax1.set_ylim(max(0.0, lo - 12), 104)
        _log_axis(ax2)
        for ax in (ax1, ax2):
            ax.set_xticks(x)
            ax.set_xticklabels(arch_names)
        ax1.legend(fontsize=7, ncol=min(len(labels), 6), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax1.set_xlabel("architecture")
    ax1.set_ylabel("test accuracy (%)")
    ax2.set_xlabel("architecture")
    ax2.set_ylabel(f"energy per inference ({unit}, {hardware}, log)")
    return _finish(fig, "Q12: is the advantage the architecture's or the method's?", path)


# -- Q13 -------------------------------------------------------------------------------------------
def fig_q13_bnn(tables: Tables, path=None, arch: str | None = None) -> Figure:
    """BNN vs OneSpike(G=L) vs the quantized ANN at equal shape: accuracy per arch, and energy per
    hardware model (log y)."""
    arch = _first_arch(tables, arch)
    counts = per_inference(tables)
    T = reference_T(tables)
    trio = (("qcfs", "default", None), ("onespike", "default", T), ("bnn", "default", None))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 4.4), gridspec_kw={"width_ratios": [1, 2]})
    names = archs(tables)
    drew = False
    x = np.arange(len(names))
    for k, (method, variant, t) in enumerate(trio):
        rows = sel(counts, method=method, variant=variant, T=t)
        if rows.empty:
            continue
        rows = rows.drop_duplicates("arch").set_index("arch").reindex(names)
        bars = ax1.bar(
            x + (k - 1) * 0.27,
            100 * _col(rows, "accuracy", np.nan),
            0.27,
            color=METHOD_COLORS[method],
            label=f"{SHORT[method]}(G={T})" if t else SHORT[method],
        )
        _bar_labels(ax1, bars, "{:.1f}")
        drew = True
    if drew:
        ax1.set_xticks(x)
        ax1.set_xticklabels(names)
        ax1.legend(fontsize=8, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
        acc = 100 * _col(sel(counts, method=["qcfs", "onespike", "bnn"]), "accuracy", np.nan)
        ax1.set_ylim(max(0.0, float(np.nanmin(acc)) - 12) if acc.notna().any() else 0, 104)
    else:
        _no_data(ax1)
    ax1.set_xlabel("architecture")
    ax1.set_ylabel("test accuracy (%)")
    results = sel(_table(tables, "results"), arch=arch)
    models = hardware_models(tables)
    drew = False
    if not results.empty and models:
        xm = np.arange(len(models))
        div, unit = _energy_scale(_col(results, "energy_pj"))
        for k, (method, variant, t) in enumerate(trio):
            rows = sel(results, method=method, variant=variant, T=t)
            if rows.empty:
                continue
            rows = rows.drop_duplicates("hardware").set_index("hardware").reindex(models)
            ax2.bar(
                xm + (k - 1) * 0.27,
                _col(rows, "energy_pj", np.nan) / div,
                0.27,
                color=METHOD_COLORS[method],
                label=f"{SHORT[method]}(G={T})" if t else SHORT[method],
            )
            drew = True
    if drew:
        _log_axis(ax2)
        ax2.set_xticks(xm)
        ax2.set_xticklabels(models, rotation=30, ha="right", fontsize=8)
        ax2.legend(fontsize=8)
        ax2.set_ylabel(f"energy per inference ({unit}, log)")
        ax2.set_title(arch, fontsize=9)
    else:
        _no_data(ax2)
        ax2.set_ylabel("energy per inference (pJ)")
    ax2.set_xlabel("hardware model")
    return _finish(fig, "Q13: OneSpike vs a BNN of the same shape (and the quantized ANN)", path)


# -- Pareto ----------------------------------------------------------------------------------------
def fig_pareto(tables: Tables, path=None, arch: str | None = None) -> Figure:
    """Accuracy vs energy (log x), one panel per hardware model: one marker per method, IF and
    OneSpike drawn at every T (joined, marker size grows with T)."""
    arch = _first_arch(tables, arch)
    results = sel(_table(tables, "results"), arch=arch, variant="default")
    models = panel_hardware(tables, limit=12)
    fig, axes = _grid(len(models), ncols=4, size=(4.0, 3.3))
    handles = {}
    for ax, hw in zip(axes, models or [None], strict=False):
        rows = sel(results, hardware=hw)
        if rows.empty:
            _no_data(ax)
            ax.set_xlabel("energy per inference (pJ, log)")
            ax.set_ylabel("test accuracy (%)")
            continue
        div, unit = _energy_scale(_col(rows, "energy_pj"))
        for method in METHODS:
            mrows = sel(rows, method=method).sort_values("T")
            if mrows.empty:
                continue
            e, a = _col(mrows, "energy_pj") / div, 100 * _col(mrows, "accuracy")
            if method in ("if", "onespike"):
                ax.plot(e, a, "-", color=METHOD_COLORS[method], lw=0.8, alpha=0.6)
                sizes = 12 + 10 * np.log2(mrows["T"].astype(float))
            else:
                sizes = 40
            h = ax.scatter(
                e,
                a,
                s=sizes,
                color=METHOD_COLORS[method],
                label=METHOD_LABELS[method],
                zorder=3,
                marker="o" if method in ("if", "onespike") else "D",
            )
            handles[METHOD_LABELS[method]] = h
        _log_axis(ax, "x")
        ax.set_title(hw, fontsize=10)
        ax.set_xlabel(f"energy per inference ({unit}, log)")
        ax.set_ylabel("test accuracy (%)")
    return _finish(
        fig,
        f"Pareto: accuracy vs energy per hardware model ({arch}; IF/OneSpike marker grows with T)",
        path,
        legend=handles,
    )


#: (question id, file stem, function) for every figure, in report order.
FIGURES: tuple[tuple[str, str, Callable[..., Figure]], ...] = (
    ("Q1", "q1_equivalence", fig_q1_equivalence),
    ("Q2", "q2_steps_groups_acs", fig_q2_steps_groups_acs),
    ("Q3", "q3_psg_ops", fig_q3_psg_ops),
    ("Q4", "q4_fidelity", fig_q4_fidelity),
    ("Q5", "q5_energy_breakdown", fig_q5_energy_breakdown),
    ("Q6", "q6_membrane", fig_q6_membrane),
    ("Q7", "q7_breakeven", fig_q7_breakeven),
    ("Q8", "q8_ranking", fig_q8_ranking),
    ("Q9", "q9_scaling", fig_q9_scaling),
    ("Q10", "q10_ladder", fig_q10_ladder),
    ("Q11", "q11_group_thresholds", fig_q11_group_thresholds),
    ("Q12", "q12_architectures", fig_q12_architectures),
    ("Q13", "q13_bnn", fig_q13_bnn),
    ("Pareto", "pareto", fig_pareto),
)


def draw_all(tables: Tables, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Draw every figure into ``out_dir`` (PNG + SVG); returns ``{question: png path}``. A figure
    that fails to draw is replaced by a figure saying why, so one bad table never hides the rest."""
    out_dir = Path(out_dir)
    paths: dict[str, Path] = {}
    for qid, stem, func in FIGURES:
        try:
            fig = func(tables, path=out_dir / stem)
        except Exception as exc:  # keep the other figures; say what went wrong in this one
            fig, ax = plt.subplots(figsize=(6, 2.5))
            ax.text(
                0.5,
                0.5,
                f"{NO_DATA}: {type(exc).__name__}: {exc}"[:300],
                ha="center",
                va="center",
                wrap=True,
                fontsize=8,
                transform=ax.transAxes,
            )
            ax.set_axis_off()
            fig.suptitle(f"{qid}: figure could not be drawn")
            save(fig, out_dir / stem)
        plt.close(fig)
        paths[qid] = out_dir / f"{stem}.png"
    return paths
