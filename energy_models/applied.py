"""The conventions table: what each model applied to each ledger, built from the pricing itself.

Every :class:`~energy_models.report.EnergyReport` carries ``conventions``, the record its pricing
wrote while it priced (see :mod:`energy_models.conventions`). This module turns those records into
the table the report prints, so that the table printed is the rule priced:

- :func:`conventions_rows` from reports already priced (what a study writes: the ledgers it priced);
- :func:`conventions_table` prices ledgers to get them (by default the example ledger of every network
  style, :func:`energy_models.examples.style_examples`) under every registered model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from energy_models.conventions import APPLIED_KEYS
from energy_models.examples import style_examples
from energy_models.ledger import EventLedger
from energy_models.registry import get_model, model_names
from energy_models.report import EnergyReport

#: Options that change a column of the conventions table (listed per model where it accepts them).
CONVENTION_OPTIONS: tuple[str, ...] = ("zero_skipping", "fused_activation", "first_layer", "if_dataflow",
                                       "psum_bits", "placement", "precision", "spike_event_pj")
#: The columns of a conventions row, in order.
CONVENTION_COLUMNS: tuple[str, ...] = ("hardware", "method", *APPLIED_KEYS, "priced_at_zero", "option")


def conventions_row(report: EnergyReport) -> dict[str, Any]:
    """One row of the conventions table from a priced report: its model and method, what the pricing
    applied (:data:`~energy_models.conventions.APPLIED_KEYS`), the events the model prices at zero by
    construction, and the options that change them."""
    if not isinstance(report, EnergyReport):
        raise TypeError(f"conventions_row() needs an EnergyReport, got {type(report).__name__}")
    if not report.conventions:
        raise ValueError(f"report {report.model!r}/{report.method!r} records no conventions (it was not priced by "
                         "a TableModel); price the ledger with energy_models.get_model(...).price(ledger)")
    options = report.provenance.get("options", {})
    zero = report.provenance.get("zero_by_construction", {})
    return {"hardware": report.model, "method": report.method, **report.conventions,
            "priced_at_zero": ", ".join(zero) if zero else "-",
            "option": ", ".join(o for o in CONVENTION_OPTIONS if o in options)}


def conventions_rows(reports: Iterable[EnergyReport]) -> list[dict[str, Any]]:
    """The conventions table of reports already priced (one row each, in order)."""
    return [conventions_row(report) for report in reports]


def conventions_table(models: Sequence[str] | None = None,
                      ledgers: Mapping[str, EventLedger] | None = None) -> list[dict[str, Any]]:
    """One plain dict per (hardware model, ledger): what pricing that ledger under that model applied.

    ``models``: names or table paths (default: every registered model). ``ledgers``: ``{label: ledger}``
    (the label becomes the row's ``method``); default: the example ledger of every network style
    (dense, quantized, multi-step SNN, grouped one-step SNN, binary) at T = G = 4."""
    if isinstance(models, str):
        raise ValueError(f"models = {models!r}; expected a sequence of model names, not one string")
    if ledgers is None:
        ledgers = style_examples()
    if not isinstance(ledgers, Mapping) or not all(isinstance(v, EventLedger) for v in ledgers.values()):
        raise ValueError("ledgers: expected a mapping {label: EventLedger}")
    rows = []
    for name in (models if models is not None else model_names()):
        model = get_model(name)
        for label, ledger in ledgers.items():
            rows.append({**conventions_row(model.price(ledger)), "method": str(label)})
    return rows
