"""Hardware energy models: price an :class:`~energy_models.ledger.EventLedger` in picojoules.

Knows nothing of torch or ``analysis``: it only reads ledgers (plain numbers) and TOML tables.

>>> from energy_models import get_model, available_models
>>> report = get_model("sata").price(ledger)            # doctest: +SKIP
>>> report.total_pj, report.by_component(), report.by_layer()   # doctest: +SKIP

Models (``available_models()`` lists them with sources and assumptions; ``model_names()`` their
names now, ``MODEL_NAMES`` the same, computed on access): ``flops45nm`` (45 nm arithmetic at each
method's real widths), ``flops45nm_fp32`` (the literature's FP32 FLOP model), ``flops45nm_memory``,
``sata``, ``sata_gated``, ``sata_hw``, ``spikesim``, ``spikesim_event``, ``spikesim_bit_serial``,
``weight_stationary``, ``loihi``, ``lemaire``, ``yan2024``, the ``*_time_inner`` IF-dataflow
variants; or a path to a user ``.toml`` table (format in :mod:`energy_models.table` and
:mod:`energy_models.user`, example in ``energy_models/tables/example_user_chip.toml``). Sensitivity
sweeps and the break-even sparsity are in :mod:`energy_models.sensitivity`; the pricing conventions
every model shares (zero-skipping, fused activation, first-layer reuse, IF dataflow, per-spike
energy) in :mod:`energy_models.conventions` and :func:`conventions_table`.
"""

from energy_models.base import EnergyModel
from energy_models.conventions import conventions_table
from energy_models.ledger import EVENTS, EventLedger, LayerEvents, LedgerError
from energy_models.registry import available_models, get_model, load_table, model_names, register_model
from energy_models.report import COMPONENTS, EnergyReport, LayerCost
from energy_models.table import ACCEPTED_UNITS, EnergyTable, EnergyTableError, read_table

__all__ = [
    "ACCEPTED_UNITS",
    "COMPONENTS",
    "EVENTS",
    "EnergyModel",
    "EnergyReport",
    "EnergyTable",
    "EnergyTableError",
    "EventLedger",
    "LayerCost",
    "LayerEvents",
    "LedgerError",
    "available_models",
    "conventions_table",
    "get_model",
    "load_table",
    "model_names",
    "read_table",
    "register_model",
]


def __getattr__(name: str):  # MODEL_NAMES: the registered names at the time of access (not frozen at import)
    if name == "MODEL_NAMES":
        return model_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
