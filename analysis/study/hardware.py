"""Which hardware models a study prices, and what it records about them.

- **Headline models** (:func:`headline_models`): the models a study's answers and figures are stated
  under. ``["primary"]`` (the default) is the primary model of every family
  (:func:`energy_models.primary_models`, argued in :mod:`energy_models.registry`); ``["all"]`` makes
  every built-in model a headline model; any other list (names or TOML tables) is taken as given.
- **Alternatives** (:func:`alternatives`): for each headline model, the other members of its family
  and every alternative pricing convention it takes (:func:`energy_models.convention_alternatives`,
  with the stored pre-activation width swept over :data:`PSUM_WIDTHS`), each priced on the same
  ledgers so the report can say whether a verdict "holds under ...; flips under ...".
- **Models built once** (:class:`ModelBook`): every model a study prices (headline, alternatives,
  the break-even solver's, the sweep's) is built once per identity (its name or table path and every
  option it is given), so two pricings that differ in any option never share a model.
- **Provenance** (:func:`hardware_table`): one row per model priced (paper, repository, technology,
  assumptions, options, the events it prices at zero by construction), so the report never builds a
  hardware model itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from energy_models import (
    EnergyModel,
    convention_alternatives,
    family_members,
    get_model,
    model_names,
    model_spec,
    primary_models,
)
from energy_models.zigzag import is_zigzag_name

__all__ = ["ALL", "PRIMARY", "PSUM_WIDTHS", "Alternative", "ModelBook", "alternatives", "hardware_table",
           "headline_models"]

#: ``--hardware primary``: every family's primary model (the default).
PRIMARY = "primary"
#: ``--hardware all``: every built-in model, each a headline model.
ALL = "all"
#: Widths (bits) at which a model's stored pre-activations (partial sums and membranes) are re-priced.
PSUM_WIDTHS: tuple[float, ...] = (8.0, 16.0, 32.0)


def headline_models(hardware: Sequence[str]) -> list[str]:
    """The headline models of a study's ``hardware`` list: ``"primary"`` -> the primaries, ``"all"``
    -> every built-in model, other names as given (in order, without repeats)."""
    names: list[str] = []
    for entry in hardware:
        names += list(primary_models()) if entry == PRIMARY else list(model_names()) if entry == ALL else [entry]
    return list(dict.fromkeys(names))


def _builtin(name: str) -> bool:
    return not (str(name).endswith(".toml") or Path(str(name)).is_file()) and name in model_names()


class ModelBook:
    """The hardware models of one study, each built once: :meth:`model` returns the model built for an
    identity the first time it is asked for. The identity is everything a price depends on: the model's
    name (a table file by its resolved path) and every option it is given, so ``model("sata")`` and
    ``model("sata", zero_skipping=True)`` are two models and never stand in for each other. A ZigZag
    model keeps its layer mappings in ``cache_dir`` (the run's cache). ``build`` makes a model from a
    name and options (:func:`energy_models.get_model`); :attr:`builds` counts its calls."""

    def __init__(self, cache_dir: str | Path | None = None, build: Callable[..., EnergyModel] = get_model):
        self.cache_dir = cache_dir
        self._build = build
        self._models: dict[tuple[str, str], EnergyModel] = {}
        self.builds = 0

    @staticmethod
    def identity(name: str | Path, options: dict[str, Any]) -> tuple[str, str]:
        """``(name or resolved table path, options as sorted JSON)``: the key a model is built once under."""
        where = str(Path(name).resolve()) if isinstance(name, Path) or Path(str(name)).is_file() else str(name)
        return where, json.dumps(options, sort_keys=True, default=str)

    def model(self, name: str | Path, **options: Any) -> EnergyModel:
        """The model ``name`` with ``options`` (built now if this identity is new)."""
        key = self.identity(name, options)
        if key not in self._models:
            where = {"cache_dir": self.cache_dir} if is_zigzag_name(name) and self.cache_dir is not None else {}
            self._models[key] = self._build(name, **where, **options)
            self.builds += 1
        return self._models[key]

    def __len__(self) -> int:
        return len(self._models)


@dataclass(frozen=True)
class Alternative:
    """One alternative pricing of a headline model's ledgers: ``name`` (a variant's model name, or
    ``option=value`` pairs), ``changes`` (what it changes, in words), the ``options`` it sets over the
    headline model's, and the model that prices it."""

    hardware: str
    name: str
    changes: str
    options: dict[str, Any]
    model: EnergyModel = field(compare=False, repr=False)


def _option_label(options: dict[str, Any]) -> str:
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "on" if value else "off"
        return f"{value:g}" if isinstance(value, float) else str(value)

    return ", ".join(f"{key}={text(value)}" for key, value in options.items())


def _convention_options(name: str, model: EnergyModel) -> list[tuple[str, dict[str, Any]]]:
    """``convention_alternatives(name)`` with the pre-activation width swept over :data:`PSUM_WIDTHS`
    (``model``: the model ``name`` builds, already built)."""
    own = model.options
    out = [(changes, options) for changes, options in convention_alternatives(name, model)
           if set(options) != {"psum_bits"}]
    if "psum_bits" in own:
        for bits in PSUM_WIDTHS:
            if bits != float(own["psum_bits"]):
                out.append((f"pre-activations (partial sums and membranes) stored at {bits:g} bits",
                            {"psum_bits": bits}))
    return out


def alternatives(name: str, book: ModelBook | None = None) -> list[Alternative]:
    """Every alternative pricing of built-in model ``name``: the other members of its family (each by
    its name) and its convention alternatives; two that set the same options are one (the variant's
    name kept). A ZigZag model has its zero-gated variant; a user table has none. Models come from
    ``book`` (a new :class:`ModelBook` when none is given), each distinct one built once: a convention
    that gives the options a family member is registered with is that member, and is not built again."""
    book = book if book is not None else ModelBook()
    if is_zigzag_name(name):  # ZigZag maps dense loop nests: its named convention is the zero-gated MAC energy
        return [Alternative(name, "zero_skipping=on", "zero-gated: each layer's MAC energy scaled by its counted "
                            "active fraction (data movement and cycles stay dense)", {"zero_skipping": True},
                            book.model(name, zero_skipping=True)),
                Alternative(name, "if_dataflow=time_inner", "time-inner IF dataflow: a layer runs all T steps as one "
                            "batch of T with its weights in place (membrane once per inference)",
                            {"if_dataflow": "time_inner"}, book.model(name, if_dataflow="time_inner"))]
    if not _builtin(name):
        return []
    spec = model_spec(name)
    headline = book.model(name)
    resolved = {**headline.options}
    seen: set[str] = set()
    given: set[tuple[type, str]] = set()  # (class, options over its defaults) of the members: built already
    out: list[Alternative] = []

    def add(label: str, changes: str, options: dict[str, Any], model: EnergyModel) -> None:
        key = json.dumps(sorted({**resolved, **model.options}.items()), default=str)
        if key in seen or key == json.dumps(sorted(resolved.items()), default=str):
            return
        seen.add(key)
        out.append(Alternative(name, label, changes, options, model))

    for member in family_members(spec.family):
        if member != name:
            member_spec = model_spec(member)
            given.add((member_spec.cls, _json(member_spec.options)))
            changes = member_spec.changes or f"the family's primary model ({member})"
            add(member, changes, dict(member_spec.options), book.model(member))
    for changes, options in _convention_options(name, headline):
        if (spec.cls, _json({**spec.options, **options})) in given:
            continue  # the same class with the same options as a member: that member, priced already
        add(_option_label(options), changes, dict(options), book.model(name, **options))
    return out


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def hardware_table(models: dict[str, EnergyModel], headline: Sequence[str],
                   alternative_models: Sequence[Alternative] = ()) -> pd.DataFrame:
    """One row per model priced: ``name``, ``headline`` (its answers are stated under it), ``family``,
    ``primary``, ``changes`` (what a variant changes), ``description``, ``paper``, ``repository``,
    ``technology``, ``published_gain`` (the SNN gain over the ANN a paper reports on this hardware, with
    its source, from the model's table; a family's primary model only: the one it is compared under);
    ``assumptions`` (a JSON list), ``options`` and ``zero_by_construction`` (JSON
    objects: option -> value, event -> why it costs nothing there). Variants priced only as
    alternatives are listed with ``headline`` False."""
    rows, listed = [], set()
    entries = [(name, model, name in headline) for name, model in models.items()]
    entries += [(alt.name, alt.model, False) for alt in alternative_models if alt.name in model_names()]
    for name, model, is_headline in entries:
        if name in listed:
            continue
        listed.add(name)
        prov = model.provenance
        spec = model_spec(name) if _builtin(name) else None
        rows.append({
            "name": name, "headline": is_headline,
            "family": spec.family if spec else name, "primary": bool(spec and spec.primary),
            "changes": spec.changes if spec else "",
            "description": spec.description if spec else str(prov.get("title", "")),
            "paper": prov.get("paper", ""), "repository": prov.get("repository", ""),
            "technology": prov.get("technology", ""),
            "published_gain": prov.get("published_gain", "") if spec is None or spec.primary else "",
            "assumptions": _json(list(prov.get("assumptions", []))),
            "options": _json(dict(model.options)),
            "zero_by_construction": _json(dict(prov.get("zero_by_construction", {}))),
        })
    return pd.DataFrame(rows)
