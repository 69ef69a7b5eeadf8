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

#: name -> (class, fixed options, one-line description)
_BUILTINS: dict[str, tuple[type[TableModel], dict[str, Any], str]] = {
    "flops45nm": (Flops45nm, {}, "FLOP model of the SNN literature: 4.6 pJ/MAC + 0.9 pJ/AC (FP32), nothing else"),
    "flops45nm_memory": (Flops45nm, {"memory": True, "neuron_ops": True},
                         "FLOPs + neuron ops + every logical memory access priced by SRAM size class (no reuse)"),
    "sata": (Sata, {}, "SATA systolic array, TCAD analytical form; no zero-spike gating"),
    "sata_gated": (Sata, {"gated": True}, "SATA with sparsity-aware gating: only counted spike-MACs"),
    "sata_hw": (Sata, {"variant": "hw_kernels"}, "SATA with hw_kernels.py unit powers and CACTI buffer energies"),
    "spikesim": (SpikeSim, {}, "SpikeSim RRAM crossbars, dense mode (= the reference code)"),
    "spikesim_event": (SpikeSim, {"mode": "event"}, "SpikeSim with crossbar/ADC energy scaled by input activity"),
    "weight_stationary": (WeightStationary, {}, "Eyeriss-like weight-stationary hierarchy, INT8 MAC anchor"),
    "loihi": (Loihi, {}, "Loihi per-event costs (Davies 2018 Table 2), 1 tile hop per spike"),
    "lemaire": (Lemaire, {}, "memory-aware analytical model of Lemaire et al., ICONIP 2022"),
}

#: The built-in model names (the "all" of a study).
MODEL_NAMES: tuple[str, ...] = tuple(_BUILTINS)


def register_model(name: str, cls: type[TableModel], options: dict[str, Any] | None = None,
                   description: str = "") -> None:
    """Register a model class under ``name`` (for users adding a model in code)."""
    if not name or not isinstance(name, str):
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
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
