"""Sensitivity to pricing conventions: does a verdict hold when the same ledgers are priced under the
other members of a hardware model's family, or under an alternative convention (``sensitivity.csv``,
written by the study's pricing stage)?

For each headline model ``h`` and each alternative ``a`` the study priced, :func:`what_if` builds the
run as if ``h`` priced every network as ``a`` does (only ``h``'s rows, energies replaced); the
question's verdict function runs on it, and each of the verdict's claims under ``h`` is compared with
the original. A claim whose value changes *flips* under ``a``; the verdict then *depends on* that
convention. Questions whose verdict no hardware model changes (Q1, Q4, Q10) say so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from analysis.report.tables import UNIT_KEYS, WHAT_IF, RunTables, select
from analysis.report.verdict import Claim, Verdict, listing

__all__ = ["Flip", "alternatives_of", "every_what_if", "flips", "flips_table", "sensitivity_line", "what_if",
           "with_sensitivity"]


def _value(claim: Claim) -> str:
    return "true" if claim.value is True else "false" if claim.value is False else str(claim.value)


@dataclass(frozen=True)
class Flip:
    """Claim ``statement`` under ``hardware`` changes from ``before`` to ``after`` when priced as
    ``alternative`` (which ``changes`` a convention)."""

    hardware: str
    alternative: str
    changes: str
    statement: str
    before: Claim
    after: Claim

    @property
    def pricing(self) -> str:
        return f"{self.hardware} · {self.alternative}"

    def text(self) -> str:
        """``sata · psum_bits=16: "OneSpike(G=4) vs QCFS" cheaper → dearer (0.98× → 1.07×)``."""
        numbers = f" ({self.before.text} → {self.after.text})" if self.before.text or self.after.text else ""
        return f"{self.pricing}: \"{self.statement}\" {_value(self.before)} → {_value(self.after)}{numbers}"

    def row(self) -> dict[str, str]:
        return {"pricing": self.pricing, "what it changes": self.changes, "claim": self.statement,
                f"under {self.hardware}": f"{_value(self.before)} ({self.before.text})".replace(" ()", ""),
                "under the alternative": f"{_value(self.after)} ({self.after.text})".replace(" ()", "")}


def alternatives_of(run: RunTables) -> list[tuple[str, str, str]]:
    """``(headline model, alternative, what it changes)`` for every alternative the run priced."""
    table = run.table("sensitivity")
    if table.empty or not {"hardware", "alternative"} <= set(table.columns):
        return []
    def build() -> list[tuple[str, str, str]]:
        cols = ["hardware", "alternative", "changes"] if "changes" in table.columns else ["hardware", "alternative"]
        pairs = table[cols].drop_duplicates()
        headline = set(run.hardware_models())
        return [(str(r["hardware"]), str(r["alternative"]), str(r.get("changes", "")))
                for _, r in pairs.iterrows() if str(r["hardware"]) in headline]
    return run.remember("alternatives", build)


#: The results columns a verdict reads besides the energies (the what-if copy keeps only these).
VERDICT_COLUMNS = ("accuracy", "correct", "test_samples", "latency_steps", "groups", "spike_rate",
                   "ops_ac", "ops_vmem_reads", "ops_vmem_writes")


def _repriced_rows(run: RunTables, hardware: str, alternatives: pd.DataFrame) -> pd.DataFrame:
    """``hardware``'s results rows once per alternative in ``alternatives`` (sensitivity rows), with
    that alternative's energies and ``hardware`` renamed ``"<hardware> @ <alternative>"``."""
    base = select(run.results, hardware=hardware)
    energy = [c for c in alternatives.columns if c.endswith("_pj") and c in base.columns]
    keys = [k for k in UNIT_KEYS if k in base.columns and k in alternatives.columns]
    kept = [*keys, *(c for c in VERDICT_COLUMNS if c in base.columns)]
    merged = base[kept].merge(alternatives[[*keys, "alternative", *energy]], on=keys, how="inner")
    merged["hardware"] = hardware + WHAT_IF + merged.pop("alternative").astype(str)
    return merged


def what_if(run: RunTables, hardware: str, alternative: str) -> RunTables:
    """``run`` as if ``hardware`` priced every network as ``alternative`` does (its rows only, named
    ``"<hardware> @ <alternative>"``, energies from ``sensitivity.csv``)."""
    alternatives = select(run.table("sensitivity"), hardware=hardware, alternative=alternative)
    return run.repriced(_repriced_rows(run, hardware, alternatives).reset_index(drop=True))


def every_what_if(run: RunTables) -> RunTables:
    """One run holding every headline model under every alternative the study priced, each as a
    model of its own (``"sata @ psum_bits=16"``): a verdict computed on it once gives its claims under
    every alternative (a claim under a model reads that model's rows only). Built once per run."""
    def build() -> RunTables:
        table = run.table("sensitivity")
        parts = [_repriced_rows(run, h, select(table, hardware=h)) for h in dict.fromkeys(h for h, _, _ in
                                                                                         alternatives_of(run))]
        parts = [p for p in parts if not p.empty]
        return run.repriced(pd.concat(parts, ignore_index=True).copy() if parts else run.results.iloc[0:0])
    return run.remember("every what-if", build)


def flips(run: RunTables, verdict_fn: Callable[[RunTables], Verdict], base: Verdict) -> tuple[list[Flip], list[str]]:
    """Every claim of ``base`` that flips under an alternative, and the alternatives
    (``"h · a"``) under which all of ``h``'s claims hold."""
    found, holding = [], []
    models = {h for h, _ in base.claims}
    pairs = [(h, a, c) for h, a, c in alternatives_of(run) if h in models]
    if not pairs:
        return found, holding
    other = verdict_fn(every_what_if(run))
    for hardware, alternative, changes in pairs:
        changed = []
        for (model, statement), claim in base.claims.items():
            if model != hardware:
                continue
            after = other.claims.get((hardware + WHAT_IF + alternative, statement))
            if after is not None and after.value != claim.value:
                changed.append(Flip(hardware, alternative, changes, statement, claim, after))
        found += changed
        if not changed:
            holding.append(f"{hardware} · {alternative}")
    return found, holding


def with_sensitivity(run: RunTables, verdict_fn: Callable[[RunTables], Verdict], base: Verdict) -> Verdict:
    """``base`` with ``depends_on`` (the ``model · alternative`` pricings that flip a claim),
    ``holds_under`` and ``flips_under`` (each flip's text) filled in."""
    if not base.claims:
        return base
    found, holding = flips(run, verdict_fn, base)
    depends = tuple(dict.fromkeys(f.pricing for f in found))
    return base.with_(depends_on=depends, holds_under=tuple(holding), flips_under=tuple(f.text() for f in found),
                      flips=tuple(found))


def sensitivity_line(verdict: Verdict, priced: int) -> str:
    """One line: which alternative pricings change the verdict (by name), and how many it holds under."""
    if verdict.not_working:
        return (f"Rests on {listing(list(verdict.not_working))}, not a working network (near chance accuracy): no "
                "pricing convention makes a verdict on it hold.")
    if not verdict.claims:
        return "No hardware model enters this verdict: no pricing convention can change it."
    if priced == 0:
        return "This run priced no alternative conventions (sensitivity.csv is empty or absent)."
    checked = len(verdict.depends_on) + len(verdict.holds_under)
    if not verdict.depends_on:
        return f"Holds under all {checked} alternative pricings of its models."
    return (f"Flips under {len(verdict.depends_on)} of {checked} alternative pricings: "
            + ", ".join(verdict.depends_on) + f"; holds under the other {len(verdict.holds_under)} "
            "(each flip in the Sensitivity section).")


def flips_table(found: dict[str, Verdict]) -> pd.DataFrame:
    """One row per (question, flip): the pricing, what it changes, the claim, its value under the
    model's own conventions and under the alternative."""
    rows = []
    for qid, verdict in found.items():
        for flip in verdict.flips:
            row = flip.row()
            rows.append({"question": qid, "pricing": row["pricing"], "what it changes": row["what it changes"],
                         "claim": row["claim"], "as priced": row[f"under {flip.hardware}"],
                         "under the alternative": row["under the alternative"]})
    return pd.DataFrame(rows)
