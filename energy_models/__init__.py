"""Hardware energy models: price an :class:`~energy_models.ledger.EventLedger` in picojoules.

Knows nothing of torch or ``analysis``: it only reads ledgers (plain numbers) and TOML tables.

>>> from energy_models import get_model, available_models
>>> report = get_model("sata").price(ledger)            # doctest: +SKIP
>>> report.total_pj, report.by_component(), report.by_component_and_level()   # doctest: +SKIP
>>> report.conventions                                   # what the pricing applied  # doctest: +SKIP

Models (``available_models()`` lists them with sources, assumptions and families; ``model_names()``
their names now, ``MODEL_NAMES`` the same, computed on access). Seven families, each with a primary
model (``primary_models()``; why each, in :mod:`energy_models.registry`) and variants that change one
named convention (``model_family(name)``, ``family_members(family)``): ``flops45nm`` (45 nm
arithmetic at each method's real widths; ``flops45nm_fp32``, ``flops45nm_memory``), ``sata``
(``sata_gated``, ``sata_hw``, ``sata_time_inner``), ``spikesim`` (``spikesim_event``,
``spikesim_one_read``), ``weight_stationary`` (``weight_stationary_time_inner``), ``loihi``,
``lemaire``, ``yan2024`` (``yan2024_dram``); or a path to a user ``.toml`` table (format in
:mod:`energy_models.table` and :mod:`energy_models.user`, example in
``energy_models/tables/example_user_chip.toml``). ``convention_alternatives(name)`` lists the
alternative conventions to re-price under. Sensitivity sweeps and the break-even sparsity are in
:mod:`energy_models.sensitivity`; the pricing conventions every model shares in
:mod:`energy_models.conventions`; the conventions table, built from what pricing applied, in
:func:`conventions_table` / :func:`conventions_rows`.

Layers, lowest first (each imports only those above it): ``ledger``, ``layer_facts``, ``report``,
``options``, ``table``, ``horowitz``, ``conventions``, ``base``, one module per model, ``user``,
``registry``, ``examples``, ``applied``, ``sensitivity``.
"""

from energy_models.applied import conventions_row, conventions_rows, conventions_table
from energy_models.base import EnergyModel, TableModel
from energy_models.conventions import APPLIED_KEYS
from energy_models.examples import STYLES, NetworkStyle, vgg_like_ledger
from energy_models.layer_facts import MEMORY_EVENTS, NEURON_OP_EVENTS, SUMMING_KINDS, SYNAPTIC_KINDS
from energy_models.ledger import ACTIVITY, EVENTS, KINDS, EventLedger, LayerEvents, LedgerError
from energy_models.options import FromTable, Option
from energy_models.registry import (
    ModelSpec,
    available_models,
    convention_alternatives,
    family_members,
    get_model,
    load_table,
    model_family,
    model_names,
    model_spec,
    primary_models,
    register_model,
    unregister_model,
)
from energy_models.report import (
    COMPONENT_LEVELS,
    COMPONENTS,
    LEVELS,
    MEMORY_COMPONENTS,
    EnergyReport,
    LayerCost,
    results_columns,
)
from energy_models.table import ACCEPTED_UNITS, EnergyTable, EnergyTableError, read_table

__all__ = [
    "ACCEPTED_UNITS",
    "ACTIVITY",
    "APPLIED_KEYS",
    "COMPONENTS",
    "COMPONENT_LEVELS",
    "EVENTS",
    "KINDS",
    "LEVELS",
    "MEMORY_COMPONENTS",
    "MEMORY_EVENTS",
    "NEURON_OP_EVENTS",
    "STYLES",
    "SUMMING_KINDS",
    "SYNAPTIC_KINDS",
    "EnergyModel",
    "EnergyReport",
    "EnergyTable",
    "EnergyTableError",
    "EventLedger",
    "FromTable",
    "LayerCost",
    "LayerEvents",
    "LedgerError",
    "ModelSpec",
    "NetworkStyle",
    "Option",
    "TableModel",
    "available_models",
    "convention_alternatives",
    "conventions_row",
    "conventions_rows",
    "conventions_table",
    "family_members",
    "get_model",
    "load_table",
    "model_family",
    "model_names",
    "model_spec",
    "primary_models",
    "read_table",
    "register_model",
    "results_columns",
    "unregister_model",
    "vgg_like_ledger",
]


def __getattr__(name: str):  # MODEL_NAMES: the registered names at the time of access (not frozen at import)
    if name == "MODEL_NAMES":
        return model_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
