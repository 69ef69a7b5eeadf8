"""The study report: every figure plus ``report.md``, drawn from a run folder's tables only.

:func:`write_report` draws the figures into ``<run>/figures/`` and writes ``<run>/report.md``
(atomically): the config, one section per reviewer question (Q1..Q13, then Pareto) with its figure,
a small table and a one-line answer computed from the tables, the hardware models' provenance and
the pricing warnings. :func:`answers` returns the one-line answers alone, for tests and notebooks:

    from analysis.figures import load_run
    from analysis.report import answers
    print(answers(load_run("reports/quick"))["Q1"])

Every number in an answer is read from the tables; where a table lacks the rows a question needs,
the answer says which rows are missing instead of guessing.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.report import figures as F

__all__ = ["PUBLISHED", "answers", "markdown_table", "write_report"]

#: Published reference figures the report sets beside ours (ENERGY_MODELS.md sections 5c and 6).
PUBLISHED = {
    "breakeven_rate": 0.057,
    "breakeven_source": "arXiv 2409.08290, Yan et al., T=5 SNN vs the ceil(log2(T+1))-bit QNN",
    "gain_source": "arXiv 2309.03388 Table II",
    "gain_flops": "10–83×",
    "gain_sata": "2.3–6.8×",
    "gain_spikesim": "4–25×",
}

QUESTIONS = {
    "Q1": "Is a OneSpike/PSG network just an activation-quantized network (QCFS) in disguise?",
    "Q2": 'Is "one timestep" real, or are the T timesteps just moved into G groups?',
    "Q3": "PSG's spike generation uses multiplication and modulus — what does it really cost?",
    "Q4": "Does PSG approximate a value better than an IF neuron?",
    "Q5": "What happens to energy once memory is counted — weight SRAM, activations, membrane potentials?",
    "Q6": "Most membrane potentials must be updated despite sparse spikes: how much does that cost?",
    "Q7": "Is handling 1-bit sparse activations really cheaper than dense 8-bit ones?",
    "Q8": "Does the result depend on the hardware model assumed (FLOPs, SATA, SpikeSim, weight-stationary)?",
    "Q9": "How does cost grow with T (or G)?",
    "Q10": 'How lossy is each conversion step ("near-lossless")?',
    "Q11": "Would different thresholds per group help?",
    "Q12": "Is the advantage the architecture's (RepVGG) or the method's?",
    "Q13": "How does OneSpike compare with a BNN at equal model shape?",
    "Pareto": "Which configurations are on the accuracy/energy front under each hardware model?",
}

#: Fixed reading notes printed under a section's table (definitions and published references only:
#: every measured statement is in the computed answer line).
NOTES = {
    "Q7": (
        "Reading the break-even: the sweep rescales the SNN's spike-driven counts to each input sparsity and "
        'prices them under the same model as the equivalent ceil(log2(T+1))-bit QNN. "No break-even, cheaper at '
        'every rate" means the model prices even a fully dense spike train below the QNN (the `reason` column '
        'gives both energies); "dearer at every rate" means the SNN\'s activity-independent costs (per-step '
        "membrane updates, per-cycle crossbar reads) alone exceed the QNN's. Yan et al. (arXiv 2409.08290) find "
        "≈5.7% for T=5 under their model of computation plus data movement (sparse-activation addressing, "
        "weights, memory system, NoC); a model here that charges no per-spike addressing or routing cost will "
        "find a higher break-even rate, or none."
    ),
    "Q8": (
        "Published pattern (arXiv 2309.03388 Table II, gain over the ANN, FLOP estimate / SATA / SpikeSim): "
        "S-BP T=50 10× / 4.5× / 5.2×; BNTT T=20 20× / 2.8× / 4×; Direct T=10 20× / 2.3× / 4×; TSSL T=5 "
        "80× / 4.9× / 16×; TDBN T=4 83× / 6.8× / 25×. The FLOP model's gain sits far above the hardware models'."
    ),
}

MEMORY = ("weight_memory", "activation_memory", "membrane_memory", "dram")


# -- formatting ------------------------------------------------------------------------------------
def _g(x: Any, digits: int = 3) -> str:
    """A number in ``digits`` significant digits (``nan`` as n/a)."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def _pct(x: Any, digits: int = 1) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "n/a"
    return f"{100 * x:.{digits}f}%" if math.isfinite(x) else "n/a"


def _pp(x: float) -> str:
    return f"{x:+.1f} pp".replace("-", "−") if math.isfinite(x) else "n/a"


def _times(x: float) -> str:
    return f"{x:.2g}×" if math.isfinite(x) else "n/a"


def _span(values, fmt: Callable[[float], str]) -> str:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return "n/a"
    lo, hi = min(vals), max(vals)
    sep = " to " if lo < 0 else "–"
    return fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)}{sep}{fmt(hi)}"


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return _g(value, 4)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame, index: bool = False, max_rows: int = 40) -> str:
    """A GitHub-flavoured markdown table (numbers in 4 significant digits); no tabulate needed."""
    if frame is None or frame.empty:
        return "_(no rows)_"
    frame = frame.reset_index() if index else frame
    more = len(frame) - max_rows
    frame = frame.head(max_rows)
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    if more > 0:
        lines.append(f"\n_({more} more rows in the CSV)_")
    return "\n".join(lines)


# -- shared lookups --------------------------------------------------------------------------------
def _row(frame: pd.DataFrame, **where) -> pd.Series | None:
    rows = F.sel(frame, **where)
    return None if rows.empty else rows.iloc[0]


def _num(row: pd.Series | None, col: str) -> float:
    if row is None or col not in row.index:
        return float("nan")
    try:
        return float(row[col])
    except (TypeError, ValueError):
        return float("nan")


def _context(tables) -> dict[str, Any]:
    arch = F._first_arch(tables, None)
    return {
        "arch": arch,
        "T": F.reference_T(tables),
        "L": F.levels(tables),
        "models": F.hardware_models(tables),
        "main": F.main_hardware(tables),
        "counts": F.per_inference(tables),
        "results": F._table(tables, "results"),
        "ts": F.timesteps(tables),
    }


# -- the answers -----------------------------------------------------------------------------------
def _q1(tables, c) -> tuple[str, pd.DataFrame]:
    eq = F._table(tables, "equivalence")
    if eq.empty or "T" not in eq.columns:
        return "Q1: no equivalence rows in this run (equivalence.csv is absent or empty; needs if and onespike).", eq
    ts = sorted(eq["T"].astype(int).unique())
    os_diff, os_agree = F._col(eq, "onespike_max_abs_logit_diff", np.nan), F._col(eq, "onespike_agreement", np.nan)
    if_diff, if_agree = F._col(eq, "if_max_abs_logit_diff", np.nan), F._col(eq, "if_agreement", np.nan)
    worst = eq.loc[if_diff.idxmax()] if if_diff.notna().any() else None
    gap = float(os_diff.max())
    gap_text = "0 (bit-identical)" if gap == 0 else _g(gap, 2)
    line = (
        f"Q1: OneSpike(G) vs QCFS(L=G) on the same weights: max |logit difference| {gap_text}, agreement "
        f"≥ {_pct(os_agree.min())}, for G in {ts[0]}..{ts[-1]} over {eq['arch'].nunique()} arch(s); IF(T) vs "
        f"QCFS(L=T): max |logit difference| up to {_g(if_diff.max(), 3)}"
        + (f" (T={int(worst['T'])}, {worst['arch']})" if worst is not None else "")
        + f", agreement {_span(if_agree, _pct)}."
    )
    table = eq.copy()
    return line, table


def _q2(tables, c) -> tuple[str, pd.DataFrame]:
    counts = F.sel(c["counts"], arch=c["arch"], method=["if", "onespike", "qcfs"])
    T = c["T"]
    r_os = _row(counts, method="onespike", variant="default", T=T)
    r_if = _row(counts, method="if", variant="default", T=T)
    cols = ["method", "T", "latency_steps", "groups", "ops_mac", "ops_ac", "ops_add"]
    table = F.sel(counts, method=["if", "onespike"], variant="default", T=c["ts"] or None)
    table = table[[k for k in cols if k in table.columns]].sort_values(["T", "method"]) if not table.empty else table
    if r_os is None and r_if is None:
        return "Q2: no IF or OneSpike rows in this run.", table
    parts = []
    if r_os is not None:
        parts.append(
            f"OneSpike(G={T}) takes {_g(_num(r_os, 'latency_steps'))} sequential step(s) × "
            f"{_g(_num(r_os, 'groups'))} parallel groups and {_g(_num(r_os, 'ops_ac'))} ACs + "
            f"{_g(_num(r_os, 'ops_add'))} adds per inference"
        )
    if r_if is not None:
        parts.append(
            f"IF(T={T}) takes {_g(_num(r_if, 'latency_steps'))} steps × {_g(_num(r_if, 'groups'))} group(s) "
            f"and {_g(_num(r_if, 'ops_ac'))} ACs + {_g(_num(r_if, 'ops_add'))} adds"
        )
    ratios = []
    for t in c["ts"]:
        a = _row(counts, method="onespike", variant="default", T=t)
        b = _row(counts, method="if", variant="default", T=t)
        if a is not None and b is not None and _num(b, "ops_ac") > 0:
            ratios.append(_num(a, "ops_ac") / _num(b, "ops_ac"))
    tail = f" (OneSpike/IF ACs {_span(ratios, _times)} over T in {c['ts'][0]}..{c['ts'][-1]})" if ratios else ""
    return f"Q2 ({c['arch']}): " + "; ".join(parts) + tail + ".", table


def _q3(tables, c) -> tuple[str, pd.DataFrame]:
    ops = F.psg_ops_per_neuron_group(tables, c["arch"])
    res = F.sel(c["results"], arch=c["arch"], method="onespike")
    if ops.empty:
        return "Q3: no OneSpike rows in this run.", ops
    hw_ts = sorted(ops[ops["mode"] == "hardware"]["T"]) if (ops["mode"] == "hardware").any() else []
    T = c["T"] if (not hw_ts or c["T"] in hw_ts) else hw_ts[-1]
    ex = ops[(ops["mode"] == "exact") & (ops["T"] == T)]
    hw = ops[(ops["mode"] == "hardware") & (ops["T"] == T)]
    bits = []
    if not ex.empty:
        e = ex.iloc[0]
        bits.append(f"exact PSG does {_g(e['mul'])} mul + {_g(e['mod'])} mod + {_g(e['cmp'])} cmp per neuron per group")
    if not hw.empty:
        h = hw.iloc[0]
        bits.append(
            f"hardware mode {_g(h['mul'] + h['mod'])} mul/mod and {_g(h['shift'])} shift + {_g(h['mask'])} "
            f"mask + {_g(h['cmp'])} cmp"
        )
    shares = {}
    for variant, mode in (("default", "exact"), ("hardware", "hardware")):
        rows = F.sel(res, variant=variant, T=T)
        if not rows.empty:
            shares[mode] = F._col(rows, "neuron_pj") / F._col(rows, "energy_pj").replace(0, np.nan)
    if shares:
        bits.append(
            "the neuron component is "
            + ", ".join(f"{_span(s, _pct)} ({m})" for m, s in shares.items())
            + f" of OneSpike's energy across {len(c['models'])} hardware model(s)"
        )
    acc = {
        m: _num(_row(c["counts"], arch=c["arch"], method="onespike", variant=v, T=T), "accuracy")
        for v, m in (("default", "exact"), ("hardware", "hardware"))
    }
    bits.append("accuracy " + " vs ".join(f"{_pct(a)} {m}" for m, a in acc.items() if math.isfinite(a)))
    table = ops.sort_values(["T", "mode"])
    return f"Q3 ({c['arch']}, G={T}): " + "; ".join(bits) + ".", table


def _q4(tables, c) -> tuple[str, pd.DataFrame]:
    worked = F._table(tables, "worked_example")
    fid = F._table(tables, "fidelity")
    bits = []
    if not worked.empty and {"if_spike", "psg_spike", "input"} <= set(worked.columns):
        s_if = " ".join(str(int(v)) for v in worked["if_spike"])
        s_psg = " ".join(str(int(v)) for v in worked["psg_spike"])
        inputs = ", ".join(_g(v) for v in worked["input"])
        bits.append(
            f"inputs {inputs}: IF {s_if} ({int(worked['if_spike'].sum())} spikes), PSG {s_psg} "
            f"({int(worked['psg_spike'].sum())} spikes, from Σx = {_g(worked['input'].sum())})"
        )
    table = pd.DataFrame()
    if not fid.empty and "mae" in fid.columns:
        table = fid.pivot_table(index="T", columns=["v_init", "neuron"], values="mae")
        table.columns = [f"MAE {n} ({v})" for v, n in table.columns]
        table = table.reset_index()
        v_pref = "v_init=θ/2" if (fid["v_init"] == "v_init=θ/2").any() else fid["v_init"].iloc[0]
        sub = fid[fid["v_init"] == v_pref].pivot_table(index="T", columns="neuron", values="mae")
        if {"IF", "PSG"} <= set(sub.columns):
            better = int((sub["PSG"] < sub["IF"]).sum())
            Tm = int(sub.index.max())
            bits.append(
                f"MAE ({v_pref}, θ units) PSG below IF at {better} of {len(sub)} T; at T={Tm}: IF "
                f"{_g(sub.loc[Tm, 'IF'])} vs PSG {_g(sub.loc[Tm, 'PSG'])}"
            )
    if not bits:
        return "Q4: no worked_example or fidelity rows in this run.", table
    return "Q4: " + "; ".join(bits) + ".", table


def _q5(tables, c) -> tuple[str, pd.DataFrame]:
    rows = []
    for hw in c["models"]:
        m = F.method_rows(tables, c["arch"], hw, c["T"])
        for _, r in m.iterrows():
            total = _num(r, "energy_pj")
            row = {"hardware": hw, "method": r["label"], "energy_pj": total}
            for comp in F.COMPONENTS:
                if f"{comp}_pj" in r.index:
                    row[f"{comp} %"] = 100 * _num(r, f"{comp}_pj") / total if total > 0 else float("nan")
            row["memory %"] = sum(row.get(f"{k} %", 0.0) for k in MEMORY if math.isfinite(row.get(f"{k} %", 0.0)))
            rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return "Q5: no per-method rows at T = L in this run.", table
    table = table[[c_ for c_ in table.columns if not c_.endswith(" %") or table[c_].fillna(0).abs().sum() > 0]]
    per = []
    for hw in c["models"]:
        sub = table[table["hardware"] == hw]
        os_ = sub[sub["method"].str.startswith("OneSpike")]
        if_ = sub[sub["method"].str.startswith("IF")]
        bits = []
        for s in (os_, if_):
            if not s.empty and "memory %" in s.columns:
                bits.append(f"{s['memory %'].iloc[0]:.0f}%")
        if bits:
            per.append(f"{hw} {'/'.join(bits)}")
    largest = ""
    main = table[(table["hardware"] == c["main"]) & table["method"].str.startswith("OneSpike")]
    comp_cols = [k for k in table.columns if k.endswith(" %") and k != "memory %"]
    if not main.empty and comp_cols:
        top = main[comp_cols].iloc[0].astype(float).idxmax()
        largest = (
            f"; OneSpike's largest component under {c['main']} is {top.removesuffix(' %')} ({main[top].iloc[0]:.0f}%)"
        )
    return (
        f"Q5 ({c['arch']}, T=G={c['T']}): memory (weight+activation+membrane+DRAM) share of energy, "
        f"OneSpike/IF: " + ", ".join(per) + largest + "."
    ), table


def _q6(tables, c) -> tuple[str, pd.DataFrame]:
    counts = F.sel(c["counts"], arch=c["arch"], method=["if", "onespike"], variant="default", T=c["ts"] or None)
    res = F.sel(c["results"], arch=c["arch"], method=["if", "onespike"], variant="default")
    if counts.empty:
        return "Q6: no IF or OneSpike rows in this run.", counts
    table = (
        counts[["method", "T", "ops_vmem_reads", "ops_vmem_writes"]].copy()
        if "ops_vmem_reads" in counts
        else counts[["method", "T"]].copy()
    )
    if c["main"] is not None and "membrane_memory_pj" in res.columns:
        share = F.sel(res, hardware=c["main"])
        name = f"membrane share ({c['main']}) %"
        share = share.assign(
            **{name: 100 * F._col(share, "membrane_memory_pj") / F._col(share, "energy_pj").replace(0, np.nan)}
        )
        table = table.merge(share[["method", "T", name]], on=["method", "T"], how="left")
    table = table.sort_values(["T", "method"])
    T = c["T"]
    acc = {}
    for m in ("if", "onespike"):
        r = _row(counts, method=m, T=T)
        acc[m] = _num(r, "ops_vmem_reads") + _num(r, "ops_vmem_writes")
    bits = [
        f"IF(T={T}) reads+writes membrane potentials {_g(acc['if'])} times per inference vs OneSpike(G={T}) "
        f"{_g(acc['onespike'])} ({_times(acc['onespike'] / acc['if']) if acc['if'] > 0 else 'n/a'})"
    ]
    if "membrane_memory_pj" in res.columns and not res.empty:
        for m in ("if", "onespike"):
            sub = F.sel(res, method=m, T=T)
            if sub.empty:
                continue
            s = F._col(sub, "membrane_memory_pj") / F._col(sub, "energy_pj").replace(0, np.nan)
            if s.notna().any():
                i = s.idxmax()
                bits.append(f"{F.SHORT[m]}'s membrane energy share peaks at {_pct(s[i])} ({sub.loc[i, 'hardware']})")
    ts = c["ts"]
    r0, r1 = _row(counts, method="if", T=ts[0]) if ts else None, _row(counts, method="if", T=ts[-1]) if ts else None
    if r0 is not None and r1 is not None and _num(r0, "ops_vmem_reads") > 0:
        bits.append(
            f"IF's grow {_times(_num(r1, 'ops_vmem_reads') / _num(r0, 'ops_vmem_reads'))} from T={ts[0]} to T={ts[-1]}"
        )
    return f"Q6 ({c['arch']}): " + "; ".join(bits) + ".", table


def _short_reason(reason: Any) -> str:
    text = str(reason or "").lower()
    if "more" in text:
        return "none (SNN dearer at every rate)"
    if "less" in text:
        return "none (SNN cheaper at every rate)"
    return "none"


def _q7(tables, c) -> tuple[str, pd.DataFrame]:
    be = F.sel(F._table(tables, "breakeven"), arch=c["arch"])
    pub = f"published ≈{PUBLISHED['breakeven_rate'] * 100:.1f}% ({PUBLISHED['breakeven_source']})"
    if be.empty:
        return f"Q7: no break-even rows in this run (needs if and qcfs); {pub}.", be
    be = be.copy()
    be["break_even_spike_rate"] = 1 - F._col(be, "break_even_sparsity", np.nan)
    method = "if" if (be["method"] == "if").any() else be["method"].iloc[0]
    sub = be[be["method"] == method]
    order = [h for h in F.hardware_models(tables) if h in set(sub["hardware"])] + [
        h for h in dict.fromkeys(sub["hardware"]) if h not in F.hardware_models(tables)
    ]
    parts = []
    for hw in order:
        r = sub[sub["hardware"] == hw].iloc[0]
        rate = float(r["break_even_spike_rate"])
        parts.append(f"{hw} {F.rate_text(rate)}" if math.isfinite(rate) else f"{hw} {_short_reason(r.get('reason'))}")
    r0 = sub.iloc[0]
    T, bits = int(r0["T"]), int(r0.get("qnn_act_bits", math.ceil(math.log2(int(r0["T"]) + 1))))
    measured = _num(r0, "measured_spike_rate")
    line = (
        f"Q7 ({c['arch']}): break-even average spike rate of {F.SHORT.get(method, method)}(T={T}) vs the "
        f"equivalent {bits}-bit QNN: " + ", ".join(parts) + f"; measured spike rate {_pct(measured)}; " + pub + "."
    )
    cols = [
        k
        for k in (
            "method",
            "T",
            "qnn_act_bits",
            "hardware",
            "break_even_sparsity",
            "break_even_spike_rate",
            "measured_spike_rate",
            "reason",
        )
        if k in be.columns
    ]
    return line, be[cols]


def _gain(tables, arch, hw, label_prefix, T) -> float:
    rows = F.method_rows(tables, arch, hw, T)
    if rows.empty:
        return float("nan")
    ann = rows[rows["method"] == "ann"]
    m = rows[rows["label"].str.startswith(label_prefix)]
    if ann.empty or m.empty or float(m["energy_pj"].iloc[0]) <= 0:
        return float("nan")
    return float(ann["energy_pj"].iloc[0]) / float(m["energy_pj"].iloc[0])


def _q8(tables, c) -> tuple[str, pd.DataFrame]:
    rel = F.ranking_table(tables, c["arch"])
    published = (
        f"published ({PUBLISHED['gain_source']}, FLOP estimate / SATA / SpikeSim): {PUBLISHED['gain_flops']}"
        f" / {PUBLISHED['gain_sata']} / {PUBLISHED['gain_spikesim']}"
    )
    if rel.empty:
        return f"Q8: no per-method rows in this run; {published}.", rel
    trio = [h for h in ("flops45nm", "sata", "spikesim") if h in c["models"]]
    gains = []
    for prefix in ("OneSpike", "IF"):
        g = [_gain(tables, c["arch"], hw, prefix, c["T"]) for hw in trio]
        if any(math.isfinite(x) for x in g):
            gains.append(f"{prefix} " + " / ".join(_times(x) for x in g))
    cheapest = []
    for hw in rel.columns:
        col = rel[hw].dropna()
        if not col.empty:
            cheapest.append(f"{hw} {col.idxmin()}")
    line = f"Q8 ({c['arch']}, T=G={c['T']}): "
    if gains and trio:
        line += f"energy gain over the float ANN under {' / '.join(trio)}: " + ", ".join(gains) + f"; {published}; "
    else:
        line += f"{published}; "
    line += "cheapest method: " + ", ".join(cheapest) + "."
    table = rel.map(lambda v: float(v)).reset_index().rename(columns={"index": "method (energy / QCFS)"})
    return line, table


def _q9(tables, c) -> tuple[str, pd.DataFrame]:
    res = F.sel(c["results"], arch=c["arch"], method=["if", "onespike"], variant="default", T=c["ts"] or None)
    ts = c["ts"]
    if res.empty or not ts:
        return "Q9: no IF or OneSpike rows in this run.", res
    growth = {}
    for m in ("if", "onespike"):
        g = []
        for hw in c["models"]:
            a, b = _row(res, method=m, hardware=hw, T=ts[0]), _row(res, method=m, hardware=hw, T=ts[-1])
            if a is not None and b is not None and _num(a, "energy_pj") > 0:
                g.append(_num(b, "energy_pj") / _num(a, "energy_pj"))
        growth[m] = g
    counts = F.per_inference({"results": res})
    bits = [
        f"from T={ts[0]} to {ts[-1]} energy grows "
        + ", ".join(f"{_span(g, _times)} ({F.SHORT[m]})" for m, g in growth.items() if g)
        + f" across {len(c['models'])} model(s)"
    ]
    lat = {m: _num(_row(counts, method=m, T=ts[-1]), "latency_steps") for m in ("if", "onespike")}
    bits.append(f"latency at T={ts[-1]}: IF {_g(lat['if'])} vs OneSpike {_g(lat['onespike'])} step(s)")
    for m in ("if", "onespike"):
        a, b = _row(counts, method=m, T=ts[0]), _row(counts, method=m, T=ts[-1])
        if a is not None and b is not None:
            bits.append(f"{F.SHORT[m]} accuracy {_pct(_num(a, 'accuracy'))} → {_pct(_num(b, 'accuracy'))}")
    # the T at which the SNN first costs as much as the float ANN on SATA (arXiv 2309.03388's finding)
    ann = F.sel(c["results"], arch=c["arch"], method="ann", variant="default")
    for hw_name in [h for h in ("sata", "spikesim") if h in c["models"]]:
        ann_row = _row(ann, hardware=hw_name)
        if ann_row is None:
            continue
        ann_energy = _num(ann_row, "energy_pj")
        for m in ("if", "onespike"):
            crossing = [t for t in ts if (r := _row(res, method=m, hardware=hw_name, T=t)) is not None
                        and _num(r, "energy_pj") >= ann_energy]
            if crossing:
                bits.append(f"{F.SHORT[m]} reaches the float ANN's {hw_name} energy at T={crossing[0]}")
            else:
                bits.append(f"{F.SHORT[m]} stays below the float ANN's {hw_name} energy up to T={ts[-1]}")
    hw = c["main"]
    table = F.sel(res, hardware=hw).pivot_table(
        index="T", columns="method", values=["energy_pj", "accuracy", "latency_steps"]
    )
    table.columns = [f"{m} {v}" + (f" ({hw})" if v == "energy_pj" else "") for v, m in table.columns]
    return f"Q9 ({c['arch']}): " + "; ".join(bits) + ".", table.reset_index()


def _q10(tables, c) -> tuple[str, pd.DataFrame]:
    ladder = F.ladder_table(tables)
    if ladder.empty:
        return "Q10: no accuracy rows in this run.", ladder
    parts = []
    for arch, row in ladder.iterrows():
        row = row.dropna()
        ann = row.get("ANN", float("nan"))
        steps = [
            f"{k} {v:.1f}%" + (f" ({_pp(v - ann)})" if k != "ANN" and math.isfinite(ann) else "")
            for k, v in row.items()
        ]
        parts.append(f"{arch}: " + " → ".join(steps))
    return ("Q10 (accuracy, pp vs ANN): " + "; ".join(parts) + "."), ladder.reset_index().rename(
        columns={"index": "arch"}
    )


def _q11(tables, c) -> tuple[str, pd.DataFrame]:
    res = F.sel(c["results"], arch=c["arch"], method="onespike", variant=["default", "per_group_thresholds"])
    pg = F.sel(res, variant="per_group_thresholds")
    if pg.empty:
        return "Q11: no per-group threshold rows in this run (OneSpike with G > 1 needed).", pg
    counts = F.per_inference({"results": res})
    rows, dacc, ratios = [], [], []
    for T in sorted(pg["T"].astype(int).unique()):
        a, b = _row(counts, variant="per_group_thresholds", T=T), _row(counts, variant="default", T=T)
        d = 100 * (_num(a, "accuracy") - _num(b, "accuracy"))
        dacc.append(d)
        row = {
            "G": T,
            "shared acc %": 100 * _num(b, "accuracy"),
            "per-group acc %": 100 * _num(a, "accuracy"),
            "Δ pp": d,
        }
        for hw in c["models"]:
            ea = _num(_row(res, variant="per_group_thresholds", T=T, hardware=hw), "energy_pj")
            eb = _num(_row(res, variant="default", T=T, hardware=hw), "energy_pj")
            r = ea / eb if eb > 0 else float("nan")
            ratios.append(r)
            row[f"energy ratio {hw}"] = r
        rows.append(row)
    Gs = [r["G"] for r in rows]
    line = (
        f"Q11 ({c['arch']}): per-group power-of-two thresholds change accuracy by {_span(dacc, _pp)} "
        f"(G in {Gs[0]}..{Gs[-1]}) and energy by {_span(ratios, _times)} across {len(c['models'])} hardware "
        f"model(s), vs one shared threshold."
    )
    return line, pd.DataFrame(rows)


def _q12(tables, c) -> tuple[str, pd.DataFrame]:
    hw = c["main"]
    table = F.architecture_table(tables, hw)
    if table.empty:
        return "Q12: no per-method rows in this run.", table
    names = list(dict.fromkeys(table["arch"]))
    acc_bits, e_bits, orders = [], [], []
    for arch in names:
        sub = table[table["arch"] == arch].set_index("method")
        os_ = [m for m in sub.index if m.startswith("OneSpike")]
        q = "QCFS" if "QCFS" in sub.index else None
        if os_ and q:
            acc_bits.append(f"{arch} {_pp(sub.loc[os_[0], 'accuracy_pct'] - sub.loc[q, 'accuracy_pct'])}")
            if sub.loc[q, "energy_pj"] > 0:
                e_bits.append(f"{arch} {_times(sub.loc[os_[0], 'energy_pj'] / sub.loc[q, 'energy_pj'])}")
        orders.append(tuple(sub["energy_pj"].sort_values().index))
    same = sum(o == orders[0] for o in orders)
    line = f"Q12 ({hw}, T=G={c['T']}): "
    if acc_bits:
        line += "OneSpike − QCFS accuracy " + ", ".join(acc_bits) + "; OneSpike/QCFS energy " + ", ".join(e_bits) + "; "
    line += f"the energy ranking of methods is the same as {names[0]}'s in {same} of {len(names)} architecture(s)."
    wide = table.pivot_table(index="arch", columns="method", values=["accuracy_pct", "energy_pj"], sort=False)
    wide.columns = [f"{m} {'acc %' if v == 'accuracy_pct' else 'pJ'}" for v, m in wide.columns]
    return line, wide.reset_index()


def _q13(tables, c) -> tuple[str, pd.DataFrame]:
    counts, T = c["counts"], c["T"]
    rows, bits = [], []
    for arch in F.archs(tables):
        acc = {
            "BNN": _num(_row(counts, arch=arch, method="bnn"), "accuracy"),
            f"OneSpike(G={T})": _num(_row(counts, arch=arch, method="onespike", variant="default", T=T), "accuracy"),
            "QCFS": _num(_row(counts, arch=arch, method="qcfs", variant="default"), "accuracy"),
        }
        bits.append(f"{arch} " + " / ".join(_pct(v) for v in acc.values()))
        row = {"arch": arch, **{f"{k} acc %": 100 * v for k, v in acc.items()}}
        for hw in c["models"]:
            b = _num(_row(c["results"], arch=arch, method="bnn", hardware=hw), "energy_pj")
            o = _num(_row(c["results"], arch=arch, method="onespike", variant="default", T=T, hardware=hw), "energy_pj")
            row[f"BNN/OneSpike energy {hw}"] = b / o if o > 0 else float("nan")
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return "Q13: no accuracy rows in this run.", table
    ratios = table[[k for k in table.columns if k.startswith("BNN/OneSpike energy")]].to_numpy(dtype=float).ravel()
    has_bnn = bool(table["BNN acc %"].notna().any())
    line = f"Q13 (accuracy BNN / OneSpike(G={T}) / QCFS): " + ", ".join(bits)
    if has_bnn:
        line += f"; BNN energy is {_span(ratios, _times)} OneSpike's across {len(c['models'])} hardware model(s)."
    else:
        line += "; no BNN rows in this run (add bnn to the methods to compare)."
    return line, table


def _pareto(tables, c) -> tuple[str, pd.DataFrame]:
    res = F.sel(c["results"], arch=c["arch"], variant="default")
    ann = _row(c["counts"], arch=c["arch"], method="ann")
    if res.empty:
        return "Pareto: no rows in this run.", res
    ref = _num(ann, "accuracy") if ann is not None else float(res["accuracy"].max())
    rows, bits = [], []
    for hw in c["models"]:
        sub = F.sel(res, hardware=hw)
        ok = sub[sub["accuracy"] >= ref - 0.01]
        if ok.empty:
            continue
        best = ok.loc[ok["energy_pj"].idxmin()]
        label = F.SHORT.get(best["method"], best["method"]) + (
            f"(T={int(best['T'])})"
            if best["method"] == "if"
            else f"(G={int(best['T'])})"
            if best["method"] == "onespike"
            else ""
        )
        rows.append(
            {
                "hardware": hw,
                "cheapest within 1 pp of the ANN": label,
                "energy_pj": float(best["energy_pj"]),
                "accuracy %": 100 * float(best["accuracy"]),
            }
        )
        bits.append(f"{hw} {label} {_g(best['energy_pj'])} pJ")
    line = (
        f"Pareto ({c['arch']}): cheapest configuration within 1 pp of the ANN's {_pct(ref)}: "
        + (", ".join(bits) if bits else "none")
        + "."
    )
    return line, pd.DataFrame(rows)


SECTIONS: dict[str, Callable[[dict, dict], tuple[str, pd.DataFrame]]] = {
    "Q1": _q1,
    "Q2": _q2,
    "Q3": _q3,
    "Q4": _q4,
    "Q5": _q5,
    "Q6": _q6,
    "Q7": _q7,
    "Q8": _q8,
    "Q9": _q9,
    "Q10": _q10,
    "Q11": _q11,
    "Q12": _q12,
    "Q13": _q13,
    "Pareto": _pareto,
}


def _sections(tables) -> dict[str, tuple[str, pd.DataFrame]]:
    c = _context(tables)
    out = {}
    for qid, func in SECTIONS.items():
        try:
            out[qid] = func(tables, c)
        except Exception as exc:  # one malformed table must not hide the other answers: say what failed
            out[qid] = (f"{qid}: could not be computed from the tables ({type(exc).__name__}: {exc}).", pd.DataFrame())
    return out


def answers(tables: dict) -> dict[str, str]:
    """The one-line measured answer to each question (``Q1``..``Q13``, ``Pareto``), from the tables
    (as :func:`analysis.figures.load_run` returns them)."""
    return {qid: line for qid, (line, _) in _sections(tables).items()}


# -- the report ------------------------------------------------------------------------------------
def _hardware_section(tables) -> str:
    present = F.hardware_models(tables)
    try:
        from energy_models import available_models

        rows = available_models()
        error = None
    except Exception as exc:  # the report still lists what the results table holds
        rows, error = [], f"{type(exc).__name__}: {exc}"
    lines = ["## Hardware models", ""]
    if error:
        lines += [
            f"_energy_models.available_models() is not available ({error}); listing the models named in "
            "results.csv without their provenance._",
            "",
        ]
    known = {r["name"]: r for r in rows}
    for name in present or list(known):
        r = known.get(name)
        if r is None:
            lines.append(
                f"- **{name}**: not a built-in model (a user table or a model added at run time): its "
                "provenance is in its TOML file."
            )
            continue
        lines.append(
            f"- **{name}** — {r.get('description', '')}. Paper: {r.get('paper', '')}."
            + (f" Code: {r['repository']}." if r.get("repository") else "")
            + (f" Technology: {r['technology']}." if r.get("technology") else "")
        )
        if r.get("assumptions"):
            lines.append(f"  - Assumptions: {r['assumptions']}")
    unused = [n for n in known if n not in present]
    if present and unused:
        lines += ["", f"Built-in models not priced in this run: {', '.join(unused)}."]
    return "\n".join(lines)


def _warnings_section(tables) -> str:
    res = F._table(tables, "results")
    if "warnings" not in res.columns:
        return ""
    found: dict[str, set[str]] = {}
    for _, r in res.iterrows():
        text = r["warnings"]
        if isinstance(text, str) and text.strip():
            for w in text.split(" | "):
                found.setdefault(w.strip(), set()).add(str(r.get("hardware", "")))
    if not found:
        return ""
    lines = ["## Pricing warnings", ""]
    for w, models in list(found.items())[:30]:
        lines.append(f"- {w} ({', '.join(sorted(models))})")
    if len(found) > 30:
        lines.append(f"- … {len(found) - 30} more in results.csv")
    return "\n".join(lines)


def _config_section(tables) -> str:
    raw = tables.get("config") or {}
    cfg = raw.get("config", raw) if isinstance(raw, dict) else {}
    digest = raw.get("digest", "n/a") if isinstance(raw, dict) else "n/a"
    lines = ["## Configuration", "", f"Config digest `{digest}` (`config.json` re-runs it exactly).", ""]
    if cfg:
        frame = pd.DataFrame({"key": list(cfg), "value": [str(v) for v in cfg.values()]})
        lines.append(markdown_table(frame, max_rows=100))
    else:
        lines.append("_(no config.json in the run folder)_")
    return "\n".join(lines)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_report(run_dir: str | os.PathLike) -> Path:
    """Draw every figure into ``<run_dir>/figures/`` (PNG + SVG) and write ``<run_dir>/report.md``
    (atomically); returns the report's path."""
    run_dir = Path(run_dir)
    tables = F.load_run(run_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tight_layout / empty-log-axis chatter
        pngs = F.draw_all(tables, run_dir / "figures")
    sections = _sections(tables)
    raw = tables.get("config") or {}
    cfg = raw.get("config", raw) if isinstance(raw, dict) else {}
    out = [
        f"# OneSpike Study report — {run_dir.name}",
        "",
        f"Data: {cfg.get('data', 'n/a')}; architectures: {', '.join(F.archs(tables)) or 'n/a'}; "
        f"quantization levels L = {F.levels(tables)}; T/G swept: {F.timesteps(tables) or 'n/a'}; "
        f"hardware models: {', '.join(F.hardware_models(tables)) or 'n/a'}. Energies are per inference "
        "(one sample). Every number below is read from the CSV tables in this folder.",
        "",
        "## Answers at a glance",
        "",
    ]
    out += [f"- {line}" for line, _ in sections.values()]
    out += ["", _config_section(tables), ""]
    for qid, (line, table) in sections.items():
        png = pngs.get(qid)
        out += [f"## {qid}: {QUESTIONS[qid]}", ""]
        if png is not None:
            rel = png.relative_to(run_dir).as_posix()
            out += [f"![{qid}]({rel})", "", f"([SVG]({Path(rel).with_suffix('.svg').as_posix()}))", ""]
        out += [f"**Answer** — {line}", "", markdown_table(table), ""]
        if qid in NOTES:
            out += [NOTES[qid], ""]
    out += [_hardware_section(tables), ""]
    warn = _warnings_section(tables)
    if warn:
        out += [warn, ""]
    path = run_dir / "report.md"
    _atomic_write(path, "\n".join(out))
    return path
