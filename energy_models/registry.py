"""Models by name: ``get_model(name, **options)``, ``available_models()``, ``load_table(path)``.

Built-in names (each a model class plus fixed options) are listed by :func:`available_models`. A
name that ends in ``.toml`` or names an existing file is loaded as a user table (see
:mod:`energy_models.user`). A wrong name is a ``ValueError`` with a did-you-mean suggestion.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from energy_models.base import EnergyModel, TableModel
from energy_models.flops45nm import Flops45nm
from energy_models.lemaire import Lemaire
from energy_models.loihi import Loihi
from energy_models.sata import Sata
from energy_models.spikesim import SpikeSim
from energy_models.table import EnergyTable, EnergyTableError, read_table
from energy_models.user import UserTableModel
from energy_models.weight_stationary import WeightStationary
from energy_models.yan2024 import Yan2024

#: name -> (class, fixed options, one-line description)
_BUILTINS: dict[str, tuple[type[TableModel], dict[str, Any], str]] = {
    "flops45nm": (Flops45nm, {}, "45 nm arithmetic at each method's real operand widths (Horowitz INT table, "
                                 "width-scaled), zero-skipping for every method; compute only"),
    "flops45nm_fp32": (Flops45nm, {"precision": "fp32", "zero_skipping": "spikes_only"},
                       "literature convention: 4.6 pJ/MAC + 0.9 pJ/AC (FP32) for every method, dense MACs, "
                       "event-driven ACs"),
    "flops45nm_memory": (Flops45nm, {"memory": True, "neuron_ops": True},
                         "FLOPs + neuron ops + every logical memory access priced by SRAM size class (no reuse)"),
    "flops45nm_memory_time_inner": (Flops45nm, {"memory": True, "neuron_ops": True, "if_dataflow": "time_inner"},
                                    "flops45nm_memory with IF processed time-inner (each membrane touched once)"),
    "sata": (Sata, {}, "SATA systolic array, TCAD analytical form; no zero gating (spikes or activations)"),
    "sata_gated": (Sata, {"zero_skipping": True}, "SATA with zero gating: counted spike-MACs, zero-gated MACs"),
    "sata_time_inner": (Sata, {"if_dataflow": "time_inner"},
                        "SATA with IF processed time-inner (each membrane read and written once per inference)"),
    "sata_hw": (Sata, {"variant": "hw_kernels"}, "SATA with hw_kernels.py unit powers and CACTI buffer energies"),
    "spikesim": (SpikeSim, {}, "SpikeSim RRAM crossbars, dense mode (= the reference code, first layer per step)"),
    "spikesim_event": (SpikeSim, {"zero_skipping": True},
                       "SpikeSim with crossbar/ADC energy scaled by input activity (spikes and activations)"),
    "spikesim_bit_serial": (SpikeSim, {"bit_serial_analog": True},
                            "SpikeSim dense with multi-bit inputs read bit-serially (one crossbar read per bit)"),
    "weight_stationary": (WeightStationary, {}, "Eyeriss-like weight-stationary hierarchy, INT8 MAC anchor"),
    "weight_stationary_time_inner": (WeightStationary, {"if_dataflow": "time_inner"},
                                     "weight_stationary with IF processed time-inner (membrane once per inference)"),
    "loihi": (Loihi, {}, "Loihi per-event costs (Davies 2018 Table 2), 1 tile hop per spike"),
    "lemaire": (Lemaire, {}, "memory-aware analytical model of Lemaire et al., ICONIP 2022"),
    "yan2024": (Yan2024, {}, "SNN(T) vs ceil(log2(T+1))-bit QNN with sparse-event vs dense-bit NoC movement "
                             "(Yan et al., arXiv 2409.08290, from a secondary summary)"),
    "yan2024_dram": (Yan2024, {"spike_move": "dram"},
                     "yan2024 with the worst-case sparse move: one 64-bit DRAM read (1.3 nJ) per spike"),
}


def model_names() -> tuple[str, ...]:
    """The registered model names now (built-ins and every :func:`register_model` since)."""
    return tuple(_BUILTINS)


def __getattr__(name: str) -> Any:  # PEP 562: MODEL_NAMES is computed on access, never frozen at import
    if name == "MODEL_NAMES":
        return model_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register_model(name: str, cls: type[TableModel], options: dict[str, Any] | None = None,
                   description: str = "", replace: bool = False) -> None:
    """Register a model class under ``name`` (for users adding a model in code). A name already
    registered is refused unless ``replace=True``."""
    if not name or not isinstance(name, str):
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    if name in _BUILTINS and not replace:
        raise ValueError(f"a hardware model named {name!r} is already registered; pass replace=True to replace it")
    if not (isinstance(cls, type) and issubclass(cls, TableModel)):
        raise TypeError(f"cls must be a TableModel subclass, got {cls!r}")
    _BUILTINS[name] = (cls, dict(options or {}), description)


def load_table(path: str | Path, **options: Any) -> EnergyModel:
    """A model from the TOML table at ``path``: a generic per-event model (``[events]``), or the
    built-in model named by ``[model] base`` run with the table's ``[constants]``."""
    table = read_table(path)
    return model_from_table(table, **options)


def model_from_table(table: EnergyTable, **options: Any) -> EnergyModel:
    base = table.meta.get("base")
    if base is None:
        return UserTableModel(table, **options)
    if base not in _BUILTINS:
        raise EnergyTableError(f"{table.path}: key 'model.base' = {base!r}; expected one of {', '.join(_BUILTINS)}")
    cls, fixed, _ = _BUILTINS[base]
    return cls(table=table, name=str(table.meta.get("name") or base), **{**fixed, **options})


def get_model(name: str | Path, **options: Any) -> EnergyModel:
    """The model called ``name`` (see :func:`available_models`) or built from the table file ``name``.

    ``options`` override the model's defaults (e.g. ``get_model("flops45nm", precision="int8")``).
    """
    if isinstance(name, Path) or str(name).endswith(".toml") or Path(str(name)).is_file():
        return load_table(name, **options)
    if name in _BUILTINS:
        cls, fixed, _ = _BUILTINS[name]
        return cls(name=name, **{**fixed, **options})
    close = difflib.get_close_matches(str(name), list(_BUILTINS), n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown hardware model {name!r}.{hint} Available: {', '.join(_BUILTINS)}; or a path to a "
                     ".toml table")


def available_models() -> list[dict[str, Any]]:
    """One row per built-in model: name, description, paper, repository, technology, assumptions,
    options, table path (plain dicts, for a CLI or a DataFrame)."""
    rows = []
    for name, (cls, fixed, description) in _BUILTINS.items():
        prov = cls(name=name, **fixed).provenance
        rows.append({"name": name, "description": description, "paper": prov["paper"],
                     "repository": prov["repository"], "technology": prov["technology"],
                     "assumptions": "; ".join(prov["assumptions"]), "options": dict(fixed), "table": prov["table"]})
    return rows
