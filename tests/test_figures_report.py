"""Figures and report from a run folder's tables: every figure draws (labelled, PNG + SVG), the report
has a section per question with an existing figure and a measured one-line answer, the answers follow
the tables, and missing rows (no BNN, no IF) are drawn as "no data" instead of failing.

The run folder here is a TEST FIXTURE: synthetic tables written with numpy/pandas in the schema of
``analysis/study.py`` (2 archs, every method, T in 1, 2, 4, 8, 3 hardware models); no network runs.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from analysis.report import answers, figures, write_report
from energy_models.ledger import EVENTS

ARCHS = {"cnn_small": (2.0e5, 3.0e3), "vgg11": (1.2e6, 1.5e4)}  # arch: (dense MACs, spiking neurons)
TS = [1, 2, 4, 8]
L = 4
HARDWARE = ["flops45nm", "sata", "spikesim"]


def _ops(method: str, variant: str, T: int, macs: float, neurons: float, rate: float) -> dict[str, float]:
    ops = dict.fromkeys(EVENTS, 0.0)
    if method in ("ann", "qcfs", "cq"):
        ops.update(mac=macs, add=neurons, weight_reads=macs, input_reads=macs / 9, output_writes=neurons)
    elif method == "bnn":
        ops.update(mac=macs * 0.02, xnor=macs, popcount=macs, weight_reads=macs, output_writes=neurons)
    else:
        spikes = neurons * T * rate
        ops.update(
            mac=macs * 0.02,
            ac=macs * T * rate,
            add=neurons * T,
            cmp=neurons * T,
            spikes=spikes,
            weight_reads=macs * T * rate,
            input_reads=spikes * 9,
            output_writes=spikes,
        )
        if method == "if":
            ops.update(vmem_reads=neurons * T, vmem_writes=neurons * T)
        else:
            ops.update(vmem_reads=neurons, vmem_writes=neurons)
            if variant == "hardware":
                ops.update(shift=2 * neurons * T, mask=neurons * T)
            else:
                ops.update(mul=neurons * T, mod=neurons * T)
    return ops


def _energy(hw: str, method: str, T: int, ops: dict[str, float], neurons: float) -> dict[str, float]:
    c = dict.fromkeys(figures.COMPONENTS, 0.0)
    if hw == "flops45nm":
        c["compute"] = 4.6 * ops["mac"] + 0.9 * ops["ac"] + 0.1 * (ops["xnor"] + ops["popcount"]) / 32
    elif hw == "sata":
        c["compute"] = 0.23 * ops["mac"] + 0.04 * ops["ac"] + 0.01 * ops["xnor"]
        c["weight_memory"] = 0.2 * ops["weight_reads"] / (1 if method in ("if",) else 2) + 3e3 * T
        c["activation_memory"] = 0.1 * (ops["input_reads"] + ops["output_writes"])
        c["membrane_memory"] = 0.06 * (ops["vmem_reads"] + ops["vmem_writes"])
        c["neuron"] = 0.05 * ops["cmp"] + 0.2 * (ops["mul"] + ops["mod"]) + 0.006 * (ops["shift"] + ops["mask"])
    else:  # spikesim: dense, activity-independent crossbar cycles
        cycles = ops["mac"] / 64 + (ops["ac"] + 1) / 64 / 0.2
        c["compute"] = 1.76 * cycles
        c["interconnect"] = 157.0 * cycles / 8
        c["neuron"] = 5.1 * neurons * max(T, 1) / 64
        c["weight_memory"] = 4.64 * cycles / 4
    return c


def make_run(root: Path, drop_methods: tuple[str, ...] = ()) -> Path:
    """Write a synthetic run folder (the schema of analysis/study.py) into ``root`` and return it."""
    rng = np.random.default_rng(0)
    results, layers, equivalence, breakeven, sweep = [], [], [], [], []
    for a, (arch, (macs, neurons)) in enumerate(ARCHS.items()):
        ann_acc = 0.975 - 0.01 * a
        units = [
            ("ann", 1, "default", ann_acc),
            ("qcfs", 1, "default", ann_acc - 0.006),
            ("cq", 1, "default", ann_acc - 0.01),
            ("bnn", 1, "default", ann_acc - 0.09),
        ]
        for T in [*TS, 5]:
            lv = ann_acc - 0.2 / T
            units.append(("qcfs", T, f"levels{T}", lv))
            units.append(("if", T, "default", lv - 0.25 / T))
            if T == 5:
                continue
            units.append(("onespike", T, "default", lv))
            units.append(("onespike", T, "hardware", lv - 0.004))
            if T > 1:
                units.append(("onespike", T, "per_group_thresholds", lv - 0.003 * T))
        for method, T, variant, acc in units:
            if method in drop_methods:
                continue
            rate = 0.12 + 0.01 * a
            ops = _ops(method, variant, T, macs, neurons, rate)
            snn = method in ("if", "onespike")
            for hw in HARDWARE:
                comp = _energy(hw, method, T, ops, neurons)
                results.append(
                    {
                        "arch": arch,
                        "method": method,
                        "T": T,
                        "variant": variant,
                        "hardware": hw,
                        "accuracy": round(acc, 4),
                        "levels": T if variant.startswith("levels") else L,
                        "latency_steps": T if method == "if" else 1,
                        "groups": T if method == "onespike" else 1,
                        "energy_pj": sum(comp.values()),
                        **{f"{k}_pj": v for k, v in comp.items()},
                        **{f"ops_{k}": v for k, v in ops.items()},
                        "spike_rate": rate if snn else 0.0,
                        "warnings": "synthetic fixture" if hw == "sata" else "",
                    }
                )
            for i, (name, kind) in enumerate((("conv1", "conv"), ("act1", "neuron"), ("fc", "linear"))):
                share = {"conv": 0.8, "neuron": 0.0, "linear": 0.2}[kind]
                layers.append(
                    {
                        "arch": arch,
                        "method": method,
                        "T": T,
                        "variant": variant,
                        "name": name,
                        "kind": kind,
                        "module_type": kind,
                        "rule": kind,
                        "timesteps": T if method == "if" else 1,
                        "groups": T if method == "onespike" else 1,
                        "weight_bits": 8,
                        "act_bits": 1,
                        **{
                            e: (
                                v * share
                                if kind != "neuron"
                                else v
                                * (e in ("mul", "mod", "shift", "mask", "cmp", "spikes", "vmem_reads", "vmem_writes"))
                            )
                            for e, v in ops.items()
                        },
                        "input_sparsity": 0.88,
                        "output_sparsity": 0.88,
                        "firing_rate": rate,
                        "neurons": neurons if kind == "neuron" else 10.0,
                        "synapses": macs * share,
                        "index": i,
                    }
                )
        for T in TS:
            equivalence.append(
                {
                    "arch": arch,
                    "T": T,
                    "onespike_max_abs_logit_diff": 0.0 if T == 1 else 3e-15 * T,
                    "onespike_agreement": 1.0,
                    "if_max_abs_logit_diff": 0.9 / T + 0.05 * a,
                    "if_agreement": 0.9 + 0.012 * T,
                }
            )
        if "if" not in drop_methods:
            for hw, s in zip(HARDWARE, (0.62, math.nan, 0.97), strict=True):
                breakeven.append(
                    {
                        "arch": arch,
                        "method": "if",
                        "T": 5,
                        "qnn_act_bits": 3,
                        "hardware": hw,
                        "break_even_sparsity": s,
                        "reason": ""
                        if np.isfinite(s)
                        else "the SNN costs more than the quantized ANN at every sparsity",
                        "measured_spike_rate": 0.12 + 0.01 * a,
                    }
                )
                for sp in (0.0, 0.25, 0.5, 0.75, 0.9, 1.0):
                    dense = {"flops45nm": 4e6, "sata": 3e5, "spikesim": 9e5}[hw]
                    sweep.append(
                        {
                            "arch": arch,
                            "method": "if",
                            "hardware": hw,
                            "input_sparsity": sp,
                            "snn_energy_pj": dense * (1 - sp) + dense * 0.05 * (hw != "flops45nm"),
                            "qnn_energy_pj": dense * 0.38 if hw != "sata" else dense * 0.02,
                        }
                    )
    fidelity, worked = (
        [],
        pd.DataFrame(
            {
                "step": range(5),
                "input": [0.1, 0.1, 0.5, 1.9, 4.9],
                "if_spike": [0, 0, 0, 1, 1],
                "psg_spike": [0, 1, 1, 1, 0],
            }
        ),
    )
    for T in TS:
        for v_init in ("v_init=0", "v_init=θ/2"):
            fidelity.append({"T": T, "v_init": v_init, "neuron": "IF", "mae": 0.3 / T + rng.uniform(0, 0.01)})
            fidelity.append({"T": T, "v_init": v_init, "neuron": "PSG", "mae": 0.2 / T})
    root.mkdir(parents=True, exist_ok=True)
    for name, rows in (
        ("results", results),
        ("layers", layers),
        ("equivalence", equivalence),
        ("breakeven", breakeven),
        ("sweep", sweep),
        ("fidelity", fidelity),
    ):
        pd.DataFrame(rows).to_csv(root / f"{name}.csv", index=False)
    worked.to_csv(root / "worked_example.csv", index=False)
    config = {
        "levels": L,
        "timesteps": TS,
        "archs": list(ARCHS),
        "data": "digits",
        "hardware": HARDWARE,
        "methods": [m for m in figures.METHODS if m not in drop_methods],
        "seed": 0,
    }
    (root / "config.json").write_text(json.dumps({"digest": "0123456789abcdef", "config": config}))
    return root


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("run") / "synthetic")


@pytest.fixture(scope="module")
def tables(run_dir) -> dict:
    return figures.load_run(run_dir)


def _data_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


@pytest.mark.parametrize("qid,stem,func", figures.FIGURES, ids=[q for q, _, _ in figures.FIGURES])
def test_every_figure_draws_labelled_and_saves_png_svg(tables, tmp_path, qid, stem, func):
    fig = func(tables, path=tmp_path / stem)
    try:
        assert isinstance(fig, Figure)
        axes = _data_axes(fig)
        assert axes
        for ax in axes:
            assert ax.get_xlabel().strip() and ax.get_ylabel().strip(), f"{qid}: unlabelled axes {ax.get_title()!r}"
        assert fig._suptitle is not None and qid.lower() in fig._suptitle.get_text().lower()
        texts = [t.get_text() for ax in axes for t in ax.texts]
        assert not any(figures.NO_DATA in t for t in texts), f"{qid} drew 'no data' on a full run: {texts}"
        for suffix in (".png", ".svg"):
            out = tmp_path / f"{stem}{suffix}"
            assert out.is_file() and out.stat().st_size > 1000
    finally:
        plt.close(fig)


def test_log_scales_where_ranges_span_decades(tables):
    fig = figures.fig_q1_equivalence(tables)
    assert fig.axes[0].get_yscale() == "log"
    plt.close(fig)
    fig = figures.fig_pareto(tables)
    assert all(ax.get_xscale() == "log" for ax in _data_axes(fig))
    plt.close(fig)
    fig = figures.fig_q9_scaling(tables)
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_yscale() == "log"
    plt.close(fig)


def test_write_report_sections_links_and_numbers(run_dir):
    path = write_report(run_dir)
    assert path == run_dir / "report.md"
    text = path.read_text()
    assert "0123456789abcdef" in text and "levels" in text
    assert not list(run_dir.glob(".report.md*"))  # the temporary file is gone
    sections = re.split(r"^## ", text, flags=re.M)
    by_id = {s.split(":")[0].split()[0]: s for s in sections[1:]}
    for qid in [f"Q{i}" for i in range(1, 14)] + ["Pareto"]:
        assert qid in by_id, f"no section {qid}"
        body = by_id[qid]
        links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", body)
        assert links, f"{qid}: no figure link"
        for link in links:
            assert not Path(link).is_absolute()
            assert (run_dir / link).is_file(), link
            assert (run_dir / link).with_suffix(".svg").is_file()
        answer = [line for line in body.splitlines() if line.startswith(f"**Answer** — {qid}")]
        assert answer and re.search(r"\d", answer[0]), f"{qid}: no measured answer line"
        assert "|" in body and "---" in body, f"{qid}: no markdown table"
    assert "## Hardware models" in text
    assert "Horowitz" in text  # provenance of flops45nm from energy_models.available_models()
    assert "5.7%" in text and "2409.08290" in text and "2309.03388" in text


def test_answers_are_computed_from_the_tables(tables):
    base = answers(tables)
    assert set(base) >= {f"Q{i}" for i in range(1, 14)}
    for qid, line in base.items():
        assert line.startswith(f"{qid}") and "\n" not in line and re.search(r"\d", line), (qid, line)
    assert "100.0%" in base["Q1"] and "2.4e-14" in base["Q1"]  # max OneSpike gap: 3e-15 * 8
    assert "38.0%" in base["Q7"]  # break-even spike rate 1 - 0.62 under flops45nm
    assert "5.7%" in base["Q7"]
    assert "×" in base["Q8"] and "2309.03388" in base["Q8"]

    changed = {k: (v.copy() if isinstance(v, pd.DataFrame) else v) for k, v in tables.items()}
    eq = changed["equivalence"]
    eq.loc[eq["T"] == 2, "if_max_abs_logit_diff"] = 7.25
    be = changed["breakeven"]
    be.loc[be["hardware"] == "flops45nm", "break_even_sparsity"] = 0.9
    res = changed["results"]
    res.loc[(res["method"] == "ann"), "accuracy"] = 0.5
    new = answers(changed)
    assert "7.25" in new["Q1"] and "7.25" not in base["Q1"]
    assert "10.0%" in new["Q7"] and new["Q7"] != base["Q7"]
    assert "50.0%" in new["Q10"] and new["Q10"] != base["Q10"]


def test_missing_bnn_and_if_rows_are_tolerated(tmp_path):
    run = make_run(tmp_path / "nobnn", drop_methods=("bnn",))
    tables = figures.load_run(run)
    fig = figures.fig_q13_bnn(tables)
    assert isinstance(fig, Figure)
    plt.close(fig)
    lines = answers(tables)
    assert "BNN" in lines["Q13"] and re.search(r"\d", lines["Q13"])

    run = make_run(tmp_path / "noif", drop_methods=("if", "bnn"))
    tables = figures.load_run(run)
    fig = figures.fig_q7_breakeven(tables)
    assert any(figures.NO_DATA in t.get_text() for ax in fig.axes for t in ax.texts)
    plt.close(fig)
    lines = answers(tables)
    assert all(re.search(r"\d", lines[f"Q{i}"]) for i in range(1, 14)), lines
    for _, _, func in figures.FIGURES:  # drawn, not saved (write_report on partial tables: the next test)
        plt.close(func(tables))


def test_empty_and_absent_tables_draw_no_data(tmp_path):
    run = tmp_path / "bare"
    run.mkdir()
    pd.DataFrame({"arch": [], "method": []}).to_csv(run / "results.csv", index=False)
    tables = figures.load_run(run)
    for qid, _, func in figures.FIGURES:
        fig = func(tables)
        assert any(figures.NO_DATA in t.get_text() for ax in fig.axes for t in ax.texts), qid
        plt.close(fig)
    assert all(f"Q{i}" in answers(tables) for i in range(1, 14))
    assert (write_report(run)).is_file()
