"""Verdicts that rest on a user table's unpriced events say so.

A user's energy table (a TOML file) need not price every event the ledgers count: a table that
prices only ``mac`` and ``ac`` leaves neurons, membranes and memory at 0 pJ, and a verdict under it
("OneSpike ranks first", "mul/mod are 0%") holds only if those events really are free. The energy
model lists what it left unpriced in ``warnings.csv`` ("<model> does not price these events ...").
:func:`qualified` appends to the verdict of every question whose claims (or sentence) rest on such a
model one clause naming the unpriced events. The built-in models are left alone: what each leaves
at zero is documented with its reason (``hardware.csv``'s ``zero_by_construction``).
"""

from __future__ import annotations

import re

from analysis.report.questions import Answer
from analysis.report.tables import WHAT_IF, RunTables

__all__ = ["is_user_table", "qualified", "unpriced_events"]

#: The start of an energy model's warning listing the events it did not price.
UNPRICED_WARNING = "does not price these events"
#: Events named in such a warning: ``add=1.2e+03 (neuron)``.
EVENT = re.compile(r"(\w+)=[-+0-9.eE]+")
#: Name at most this many events in a verdict's clause; more are counted.
NAMED_EVENTS = 4


def is_user_table(info: dict) -> bool:
    """Whether ``hardware.csv``'s row ``info`` is a user's table: a family of its own, not a primary
    model (a built-in model is its family's primary or a variant of another model's family)."""
    truthy = str(info.get("primary", "")).strip().lower() in ("true", "1")
    return bool(info) and not truthy and str(info.get("family", "")) == str(info.get("name", ""))


def unpriced_events(run: RunTables) -> dict[str, list[str]]:
    """``{user model: the events it left unpriced for some network of the run}``, in ledger order
    of first appearance; built-in models and events zero by construction are not listed."""
    table = run.table("warnings")
    if table.empty or not {"hardware", "warning"} <= set(table.columns):
        return {}
    out: dict[str, list[str]] = {}
    for hardware, rows in table.groupby("hardware", sort=False):
        model = str(hardware)
        info = run.hardware_info(model)
        if not is_user_table(info):
            continue
        by_construction = set(info.get("zero_by_construction", {}))
        events: dict[str, None] = {}
        for warning in rows["warning"].astype(str):
            if UNPRICED_WARNING in warning:
                events.update(dict.fromkeys(e for e in EVENT.findall(warning.split(":", 1)[-1])
                                            if e not in by_construction))
        if events:
            out[model] = list(events)
    return out


def qualified(answer: Answer, unpriced: dict[str, list[str]]) -> Answer:
    """``answer`` with one clause appended to its verdict when a model it rests on (a claim's model,
    or one its sentence names) left events unpriced: they cost 0 pJ there, so the verdict holds
    only as far as they are free."""
    verdict = answer.verdict
    if verdict is None or not unpriced:
        return answer
    models = {hardware for hardware, _ in verdict.claims} | {m for m in unpriced if m in verdict.sentence}
    hit = [m for m in unpriced if m in models or m.split(WHAT_IF)[0] in models]
    if not hit:
        return answer
    clauses = []
    for model in hit:
        # the events the sentence itself names (Q3's "mul/mod") first
        events = sorted(unpriced[model], key=lambda e: not re.search(rf"\b{e}\b", verdict.sentence))
        named = ", ".join(events[:NAMED_EVENTS]) + (f" and {len(events) - NAMED_EVENTS} more"
                                                     if len(events) > NAMED_EVENTS else "")
        clauses.append(f"{model} leaves {named} unpriced (0 pJ)")
    sentence = (f"{verdict.sentence.rstrip('.')}. Qualified: {'; '.join(clauses)}, so this holds only if those "
                "events are free (Pricing warnings).")
    verdict = verdict.with_(sentence=sentence)
    return Answer(verdict.line, answer.table, answer.more, verdict, answer.details)
