"""Models by name: ``get_model(name, **options)``, ``available_models()``, ``load_table(path)``, and
the families they belong to.

Every built-in name is a :class:`ModelSpec`: a model class, fixed options and a family. Each family
has one **primary** model, the one a verdict is stated under; every other member is a **variant**
that changes one named convention of its primary, so the report can say "holds under ...; flips
under ..." (:func:`convention_alternatives` lists, for any model, the alternative conventions to
re-price the same ledgers under). The seven primaries, and why each is one:

- ``flops45nm``: the FLOP model SNN papers use (Horowitz 45 nm), at each layer's real widths and with
  zero-skipping for every method: arithmetic alone, the reference every other model adds to;
- ``sata``: a digital systolic SNN accelerator with a memory hierarchy that runs timesteps one after
  the other (the "actual hardware" of arXiv 2309.03388): membranes and weights move;
- ``spikesim``: a compute-in-memory crossbar accelerator (the other hardware of arXiv 2309.03388):
  weights never move, cost per crossbar cycle, the reference code's dense form;
- ``weight_stationary``: an Eyeriss-like dataflow, the design the OneSpike authors say they had in
  mind, with data gating for every method;
- ``loihi``: per-event neuromorphic cost, the hardware built for sparse spikes;
- ``lemaire``: the memory-aware analytical model of Lemaire et al. (per-spike weight and potential
  lookups), the "unified energy model with memory lookups" reviewers ask for; no variants;
- ``yan2024``: the fair SNN-vs-QNN anchor of the OneSpike authors' group, pricing data movement as
  sparse events vs dense bits.

A name that ends in ``.toml`` or names an existing file is loaded as a user table (see
:mod:`energy_models.user`). A wrong name is a ``ValueError`` with a did-you-mean suggestion.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from energy_models.base import EnergyModel, TableModel
from energy_models.checks import check_choice
from energy_models.flops45nm import Flops45nm
from energy_models.keyed import Registry
from energy_models.lemaire import Lemaire
from energy_models.loihi import Loihi
from energy_models.sata import Sata
from energy_models.spikesim import SpikeSim
from energy_models.table import EnergyTable, EnergyTableError, read_table
from energy_models.user import UserTableModel
from energy_models.weight_stationary import WeightStationary
from energy_models.yan2024 import Yan2024
from energy_models.zigzag import ZigZagModel, is_zigzag_name


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its class, fixed options, one-line description, family (the name of the
    family's primary model) and, for a variant, the convention it changes."""

    name: str
    cls: type[TableModel]
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    family: str = ""
    changes: str = ""

    @property
    def primary(self) -> bool:
        return self.family == self.name

    def build(self, table: EnergyTable | None = None, name: str | None = None, **options: Any) -> TableModel:
        """The model, with ``options`` over the fixed ones (and ``table`` instead of the packaged one)."""
        return self.cls(table=table, name=name or self.name, **{**self.options, **options})


def _spec(name: str, cls: type[TableModel], options: dict[str, Any], description: str, family: str = "",
          changes: str = "") -> ModelSpec:
    return ModelSpec(name, cls, options, description, family or name, changes)


#: Every hardware model by name (the toolkit's one registry type: duplicates refused unless replace=True).
_REGISTRY: Registry[ModelSpec] = Registry("hardware model")
for _builtin_spec in (
    _spec("flops45nm", Flops45nm, {}, "45 nm arithmetic at each method's real operand widths (Horowitz INT table, "
                                      "width-scaled), zero-skipping for every method; compute only"),
    _spec("flops45nm_fp32", Flops45nm, {"precision": "fp32", "zero_skipping": "spikes_only"},
          "literature convention: 4.6 pJ/MAC + 0.9 pJ/AC (FP32) for every method, dense MACs, event-driven ACs",
          "flops45nm", "FP32 literature convention: every method at FP32, dense MACs, event-driven ACs"),
    _spec("flops45nm_memory", Flops45nm, {"memory": True, "neuron_ops": True},
          "FLOPs + neuron ops + every logical memory access priced by SRAM size class (no reuse)",
          "flops45nm", "adds neuron operations and every logical memory access (no reuse)"),
    _spec("flops45nm_memory_time_inner", Flops45nm, {"memory": True, "neuron_ops": True, "if_dataflow": "time_inner"},
          "flops45nm_memory with IF processed time-inner (each membrane touched once)",
          "flops45nm", "memory accesses, with the time-inner IF dataflow (each membrane touched once)"),
    _spec("sata", Sata, {}, "SATA systolic array, TCAD analytical form; no zero gating (spikes or activations)"),
    _spec("sata_gated", Sata, {"zero_skipping": True}, "SATA with zero gating: counted spike-MACs, zero-gated MACs",
          "sata", "zero-skipping on for every method"),
    _spec("sata_time_inner", Sata, {"if_dataflow": "time_inner"},
          "SATA with IF processed time-inner (each membrane read and written once per inference)",
          "sata", "time-inner IF dataflow (each membrane read and written once per inference)"),
    _spec("sata_hw", Sata, {"variant": "hw_kernels"}, "SATA with hw_kernels.py unit powers and CACTI buffer energies",
          "sata", "constants: synthesised unit powers and CACTI buffer energies instead of the TCAD table"),
    _spec("spikesim", SpikeSim, {}, "SpikeSim RRAM crossbars, dense mode (the reference code's per-cycle energies; "
                                    "first layer per step or group; multi-bit inputs read bit-serially)"),
    _spec("spikesim_event", SpikeSim, {"zero_skipping": True},
          "SpikeSim with crossbar/ADC energy scaled by input activity (spikes and activations)",
          "spikesim", "zero-skipping on: crossbar and ADC energy scaled by the active input fraction"),
    _spec("spikesim_one_read", SpikeSim, {"bit_serial_analog": False},
          "SpikeSim dense with every input applied in one crossbar read whatever its width (the reference code)",
          "spikesim", "every input in one crossbar read whatever its width (the reference code)"),
    _spec("weight_stationary", WeightStationary, {}, "Eyeriss-like weight-stationary hierarchy, INT8 MAC anchor"),
    _spec("weight_stationary_time_inner", WeightStationary, {"if_dataflow": "time_inner"},
          "weight_stationary with IF processed time-inner (membrane once per inference)",
          "weight_stationary", "time-inner IF dataflow (membrane once per inference)"),
    _spec("loihi", Loihi, {}, "Loihi per-event costs (Davies 2018 Table 2), 1 tile hop per spike"),
    _spec("lemaire", Lemaire, {}, "memory-aware analytical model of Lemaire et al., ICONIP 2022"),
    _spec("yan2024", Yan2024, {}, "SNN(T) vs ceil(log2(T+1))-bit QNN with sparse-event vs dense-bit NoC movement "
                                  "(Yan et al., arXiv 2409.08290, from a secondary summary)"),
    _spec("yan2024_dram", Yan2024, {"spike_move": "dram"},
          "yan2024 with the worst-case sparse move: one 64-bit DRAM read (1.3 nJ) per spike",
          "yan2024", "worst-case spike move: one 64-bit DRAM read per spike"),
):
    _REGISTRY.add(_builtin_spec.name, _builtin_spec)


def model_names() -> tuple[str, ...]:
    """The registered model names now (built-ins and every :func:`register_model` since)."""
    return tuple(_REGISTRY.names())


def __getattr__(name: str) -> Any:  # PEP 562: MODEL_NAMES is computed on access, never frozen at import
    if name == "MODEL_NAMES":
        return model_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _unknown(name: Any) -> ValueError:
    close = difflib.get_close_matches(str(name), _REGISTRY.names(), n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(f"unknown hardware model {name!r}.{hint} Available: {', '.join(_REGISTRY.names())}; "
                      "or a path to a .toml table")


def model_spec(name: str) -> ModelSpec:
    """The registration of the built-in (or registered) model ``name``: class, fixed options, family."""
    if name not in _REGISTRY:
        raise _unknown(name)
    return _REGISTRY[name]


def register_model(name: str, cls: type[TableModel], options: dict[str, Any] | None = None,
                   description: str = "", replace: bool = False, family: str | None = None,
                   changes: str = "") -> None:
    """Register a model class under ``name`` (for users adding a model in code). A name already
    registered is refused unless ``replace=True``. ``family``: the primary model it is a variant of
    (default: its own family, as a primary), with ``changes`` saying which convention it changes."""
    if not name or not isinstance(name, str):
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    if name in _REGISTRY and not replace:  # checked first: a duplicate is refused before anything else is said
        _REGISTRY.add(name, _REGISTRY[name])
    if not (isinstance(cls, type) and issubclass(cls, TableModel)):
        raise TypeError(f"cls must be a TableModel subclass, got {cls!r}")
    if family is not None and family != name and (family not in _REGISTRY or not _REGISTRY[family].primary):
        raise ValueError(f"family {family!r} is not a registered primary model; primaries: "
                         f"{', '.join(primary_models())}")
    if family not in (None, name) and not changes:
        raise ValueError(f"a variant of {family!r} must say which convention it changes (changes=...)")
    _REGISTRY.add(name, ModelSpec(name, cls, dict(options or {}), description, family or name, changes),
                  replace=replace)


def unregister_model(name: str) -> None:
    """Remove a model added with :func:`register_model` (a built-in or a family's primary with
    variants is refused)."""
    spec = model_spec(name)
    if any(s.family == name and s.name != name for s in _REGISTRY.values()):
        raise ValueError(f"{name!r} is the primary of {spec.family!r}'s variants; remove them first")
    if name in _BUILTIN_NAMES:
        raise ValueError(f"{name!r} is a built-in model; it cannot be removed")
    _REGISTRY.remove(name)


_BUILTIN_NAMES = frozenset(_REGISTRY.names())


def primary_models() -> tuple[str, ...]:
    """The primary model of every family (see the module docstring for why each)."""
    return tuple(name for name, spec in _REGISTRY.items() if spec.primary)


def model_family(name: str) -> str:
    """The family (its primary model's name) that model ``name`` belongs to."""
    return model_spec(name).family


def family_members(family: str) -> tuple[str, ...]:
    """The primary ``family`` and its variants, primary first."""
    if family not in _REGISTRY or not _REGISTRY[family].primary:
        raise ValueError(f"{family!r} is not a family; families: {', '.join(primary_models())}")
    return tuple(n for n, s in _REGISTRY.items() if s.family == family)


def convention_alternatives(name: str, model: EnergyModel | None = None) -> list[tuple[str, dict[str, Any]]]:
    """``[(label, options), ...]``: the alternative conventions under which ``get_model(name, **options)``
    re-prices the same ledgers, so a verdict can say "holds under ...; flips under ...": zero-skipping on
    and off, the time-inner IF dataflow (where membranes are priced), the other first-layer
    convention, an unfused activation, a wider pre-activation width, the other placements (every tensor
    on chip, weights streamed, everything streamed),
    and the FP32 literature convention (FLOP models). Only conventions ``name`` takes, each at a value
    other than its own. ``model``: the model ``name`` builds, when the caller has built it already."""
    model = model if model is not None else model_spec(name).build()
    options, accepted = model.options, model.option_specs()
    out: list[tuple[str, dict[str, Any]]] = []
    zs = options["zero_skipping"]
    if zs is not True:
        out.append(("zero-skipping on (zero spikes and zero activations skipped alike)", {"zero_skipping": True}))
    if zs is not False:
        out.append(("zero-skipping off (dense for every method)", {"zero_skipping": False}))
    if options["if_dataflow"] == "time_outer" and model.prices_membrane():
        out.append(("time-inner IF dataflow (each membrane read and written once per inference)",
                    {"if_dataflow": "time_inner"}))
    other = "once" if options["first_layer"] == "per_step" else "per_step"
    out.append((f"first layer {other.replace('_', ' ')} (a layer reused by every step or group, every method alike)",
                {"first_layer": other}))
    if options["fused_activation"]:
        out.append(("activation not fused (pre-activations written and read)", {"fused_activation": False}))
    if "psum_bits" in accepted:
        wider = 32.0 if options["psum_bits"] < 32 else 16.0
        out.append((f"pre-activations (partial sums and membranes) stored at {wider:g} bits", {"psum_bits": wider}))
    if "placement" in accepted:
        labels = {"by_size": "every tensor placed by its size and lifetime (weights first)",
                  "all_on_chip": "every tensor on chip (weights, activations, partial sums, membranes)",
                  "weights_streamed": "weights streamed from off chip every inference, the other tensors by size",
                  "all_streamed": "every tensor streamed from off chip"}
        out += [(label, {"placement": name}) for name, label in labels.items() if name != options["placement"]]
    if "precision" in accepted and options["precision"] != "fp32":
        out.append(("FP32 literature convention (4.6 pJ/MAC, 0.9 pJ/AC, dense MACs, event-driven ACs)",
                    {"precision": "fp32", "zero_skipping": "spikes_only"}))
    return out


def load_table(path: str | Path, **options: Any) -> EnergyModel:
    """A model from the TOML table at ``path``: a generic per-event model (``[events]``), or the
    built-in model named by ``[model] base`` run with the table's ``[constants]``."""
    table = read_table(path)
    return model_from_table(table, **options)


def model_from_table(table: EnergyTable, **options: Any) -> EnergyModel:
    base = table.meta.get("base")
    if base is None:
        return UserTableModel(table, **options)
    check_choice(f"{table.path}: key 'model.base'", base, _REGISTRY.names(), error=EnergyTableError)
    return _REGISTRY[base].build(table=table, name=str(table.meta.get("name") or base), **options)


def get_model(name: str | Path, **options: Any) -> EnergyModel:
    """The model called ``name`` (see :func:`available_models`) or built from the table file ``name``.

    ``options`` override the model's defaults (e.g. ``get_model("flops45nm", precision="int8")``).
    """
    if is_zigzag_name(name):  # zigzag:<template> or zigzag:path/to/accelerator.yaml (energy_models.zigzag)
        return ZigZagModel(str(name), **options)
    if isinstance(name, Path) or str(name).endswith(".toml") or Path(str(name)).is_file():
        return load_table(name, **options)
    return model_spec(name).build(**options)


def available_models() -> list[dict[str, Any]]:
    """One row per registered model: name, family, primary, the convention a variant changes,
    description, paper, repository, technology, assumptions, options, the events it prices at zero by
    construction, table path (plain dicts, for a CLI or a DataFrame)."""
    rows = []
    for name, spec in _REGISTRY.items():
        prov = spec.build().provenance
        rows.append({"name": name, "family": spec.family, "primary": spec.primary, "changes": spec.changes,
                     "description": spec.description, "paper": prov["paper"],
                     "repository": prov["repository"], "technology": prov["technology"],
                     "assumptions": "; ".join(prov["assumptions"]), "options": dict(spec.options),
                     "zero_by_construction": "; ".join(f"{e}: {why}"
                                                       for e, why in prov["zero_by_construction"].items()),
                     "table": prov["table"]})
    return rows
