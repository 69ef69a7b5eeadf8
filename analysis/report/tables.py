"""Reading a run for the report: the run folder's tables (through :class:`RunFolder` only) and the
lookups every question shares (which archs, hardware models, T values and rows a run holds).

    from analysis.report import load_run
    run = load_run("reports/quick")          # a RunTables: run.results, run.table("fidelity"), run.config

Everything about the hardware models comes from the run folder too: ``hardware.csv`` (each model's
provenance, whether it is a headline model and a family's primary), ``warnings.csv``,
``sensitivity.csv`` and the ``convention_*`` columns of ``results.csv``; the report never builds a
hardware model. Lookups of one configuration's rows go through an index built once per run, so a
question may ask for rows as often as it likes.

The row selection the questions share (:func:`numeric`, :func:`select`, :func:`by_hardware`,
:func:`not_working`: :mod:`analysis.report.frames`) and a method's label and colour
(:func:`method_label`, :func:`configuration_label`, :func:`method_color`: :mod:`analysis.report.labels`)
are re-exported here, so a question imports what it reads of a run from this one module.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.methods import Method, Role, first_with_role, get_method, method_names
from analysis.report.checks import check_results
from analysis.report.frames import by_hardware, not_working, numeric, select
from analysis.report.labels import configuration_label, method_color, method_label
from analysis.run_folder import RunFolder
from energy_models.report import COMPONENTS

__all__ = [
    "COMPONENTS",
    "FIGURE_MODELS",
    "UNIT_KEYS",
    "WHAT_IF",
    "RunTables",
    "by_hardware",
    "configuration_label",
    "load_run",
    "method_color",
    "method_label",
    "not_working",
    "numeric",
    "select",
]

#: The keys that identify one evaluated network (the hardware model only re-prices it).
UNIT_KEYS: tuple[str, ...] = ("arch", "method", "T", "levels", "variant", "seed")
#: At most this many hardware models get a panel of their own in a figure.
FIGURE_MODELS = 7
#: How a what-if copy names a model priced under an alternative: ``"sata @ psum_bits=16"``.
WHAT_IF = " @ "


def _parse(text: Any, default: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) and text else default
    except json.JSONDecodeError:
        return default


@dataclass
class RunTables:
    """A run's tables (``{name: DataFrame}``) and its parsed ``config.json``."""

    tables: dict[str, pd.DataFrame]
    payload: dict[str, Any] = field(default_factory=dict)
    #: Lookups computed once per run (the tables never change; :meth:`replace` starts afresh).
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    #: Lookups that no hardware model changes (accuracies, paired tests): shared with the what-if
    #: copies of :meth:`repriced`, which change energies only.
    shared: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    # -- raw access ----------------------------------------------------------------------------
    def table(self, name: str) -> pd.DataFrame:
        """Table ``name`` (an empty frame when the run has none)."""
        return self.tables.get(name, pd.DataFrame())

    @property
    def results(self) -> pd.DataFrame:
        return self.table("results")

    @property
    def predictions(self) -> pd.DataFrame:
        """predictions.csv: one row per (evaluated network, test image), ``arch, method, T, levels,
        variant, seed, sample, label, predicted`` (ints but the names), for paired statistics; empty
        for a run written before it existed."""
        return self.table("predictions")

    @property
    def config(self) -> dict[str, Any]:
        """The StudyConfig fields."""
        return self.payload.get("config", {})

    @property
    def data(self) -> dict[str, Any]:
        """Facts about the data set (name, image_size, train/test samples, ...)."""
        return self.payload.get("data", {})

    @property
    def models(self) -> dict[str, Any]:
        """Per arch: its options and parameter count."""
        return self.payload.get("models", {})

    def replace(self, **tables: pd.DataFrame) -> RunTables:
        """A copy with some tables replaced (for what-if questions and tests)."""
        return RunTables({**self.tables, **tables}, self.payload)

    def repriced(self, results: pd.DataFrame) -> RunTables:
        """A copy whose ``results`` hold the same networks with other energies (a what-if pricing):
        it keeps the lookups no hardware model changes (:attr:`shared`)."""
        return RunTables({**self.tables, "results": results}, self.payload, shared=self.shared)

    def remember(self, key: Any, compute, shared: bool = False) -> Any:
        """``compute()`` once per run and ``key`` (``shared``: once for this run and its what-if
        copies; only for what no hardware model changes)."""
        memo = self.shared if shared else self.memo
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    # -- hardware models (hardware.csv) --------------------------------------------------------
    def hardware_models(self) -> list[str]:
        """The headline hardware models: those in ``results``, in the order the study priced them."""
        if "hardware" not in self.results.columns:
            return []
        return self.remember("hardware", lambda: list(dict.fromkeys(self.results["hardware"].dropna().astype(str))))

    def hardware_info(self, name: str) -> dict[str, Any]:
        """``hardware.csv``'s row of model ``name`` with its JSON fields parsed (``assumptions`` a
        list, ``options`` and ``zero_by_construction`` dicts); ``{}`` when the run does not list it."""
        rows = select(self.table("hardware"), name=name.split(WHAT_IF)[0])
        if rows.empty:
            return {}
        row = rows.iloc[0].to_dict()
        row["assumptions"] = _parse(row.get("assumptions"), [])
        row["options"] = _parse(row.get("options"), {})
        row["zero_by_construction"] = _parse(row.get("zero_by_construction"), {})
        return {k: ("" if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}

    def primary_models(self) -> list[str]:
        """The headline models that are a family's primary model (as ``hardware.csv`` says)."""
        info = self.table("hardware")
        if info.empty or "primary" not in info.columns:
            return []
        flagged = set(info.loc[info["primary"].astype(str) == "True", "name"].astype(str))
        return [m for m in self.hardware_models() if m in flagged]

    def figure_models(self) -> list[str]:
        """The models a figure draws one panel each for: every headline model when there are at most
        :data:`FIGURE_MODELS` (the default primaries, or the models a user named), else the primaries
        among them (``--hardware all``), at most :data:`FIGURE_MODELS`."""
        models = self.hardware_models()
        if len(models) <= FIGURE_MODELS:
            return models
        return (self.primary_models() or models)[:FIGURE_MODELS]

    def hardware_subset(self, hardware: Sequence[str] | str | None) -> list[str]:
        """``hardware`` (a name or a list) restricted to the run's models, in run order; the figure
        models (:meth:`figure_models`) when ``None``. A name the run lacks is a ValueError naming the
        ones it has."""
        models = self.hardware_models()
        if hardware is None:
            return self.figure_models()
        wanted = [hardware] if isinstance(hardware, str) else list(hardware)
        missing = [h for h in wanted if h not in models]
        if missing:
            raise ValueError(f"hardware {missing} not in this run; it has {models}")
        return [h for h in models if h in wanted]

    def main_hardware(self) -> str | None:
        """The model a one-model panel shows by default: the first figure model."""
        models = self.figure_models()
        return models[0] if models else None

    # -- what the run holds --------------------------------------------------------------------
    def archs(self) -> list[str]:
        """The architectures in the run, in config order."""
        present = list(dict.fromkeys(self.results["arch"].astype(str))) if "arch" in self.results.columns else []
        order = [a for a in self.config.get("archs", []) if a in present]
        return order + [a for a in present if a not in order]

    def first_arch(self, arch: str | None = None) -> str | None:
        if arch is not None:
            return arch
        names = self.archs()
        return names[0] if names else None

    def levels(self) -> int:
        """L: the quantized ANN's levels (the config's)."""
        return int(self.config["levels"])

    def seeds(self) -> list[int]:
        if "seed" in self.results.columns:
            return sorted({int(s) for s in self.results["seed"].dropna()})
        return [int(self.config.get("seed", 0))]

    def methods(self) -> list[str]:
        """Methods present in ``results``, in registry order."""
        def compute() -> list[str]:
            present = set(self.results["method"]) if "method" in self.results.columns else set()
            return [m for m in method_names() if m in present]

        return list(self.remember("methods", compute))

    def playing(self, role: Role, default: str) -> str:
        """The run's first method (registry order) that plays ``role`` (a method a user registers with
        IF's properties plays IF's part), else ``default`` (the built-in method, for a label)."""
        return first_with_role(role, self.methods()) or default

    @property
    def time_conversion(self) -> str:
        """The method playing the IF SNN's part (see :class:`~analysis.methods.Role`)."""
        return self.playing(Role.TIME_CONVERSION, Method.IF)

    @property
    def group_conversion(self) -> str:
        """The method playing OneSpike's part."""
        return self.playing(Role.GROUP_CONVERSION, Method.ONESPIKE)

    @property
    def quantized_parent(self) -> str:
        """The method playing QCFS's part (the quantized network the spiking methods are converted from)."""
        return self.playing(Role.QUANTIZED_PARENT, Method.QCFS)

    @property
    def binary(self) -> str:
        """The method playing the BNN's part."""
        return self.playing(Role.BINARY, Method.BNN)

    def stepped_methods(self) -> list[str]:
        """The run's methods that run T timesteps or G groups, in registry order."""
        return [m for m in self.methods() if get_method(m).stepped]

    def timesteps(self, variant: str = "default") -> list[int]:
        """The T (= G) values swept for the stepped methods (the config's ``timesteps`` present in the
        rows, so the extra T of the break-even pair is not mistaken for a swept value)."""
        def compute() -> list[int]:
            rows = select(self.results, method=self.stepped_methods(), variant=variant)
            present = sorted({int(t) for t in rows["T"].dropna()}) if "T" in rows.columns else []
            swept = {int(v) for v in self.config.get("timesteps", [])}
            return [t for t in present if t in swept] or present

        return list(self.remember(("timesteps", variant), compute))

    def reference_steps(self) -> int:
        """T = G = L where the run has it, else the run's T closest to L."""
        levels, steps = self.levels(), self.timesteps()
        if not steps or levels in steps:
            return levels
        return min(steps, key=lambda t: (abs(t - levels), t))

    # -- rows ----------------------------------------------------------------------------------
    def _configuration(self, key: tuple[Any, Any, Any]) -> pd.DataFrame | None:
        """The results rows of ``(arch, method, variant)`` (None when the run has none), taken from an
        index of row positions built once."""
        def index() -> dict[tuple[Any, Any, Any], np.ndarray]:
            results = self.results
            if results.empty or not {"arch", "method", "variant"} <= set(results.columns):
                return {}
            return results.groupby(["arch", "method", "variant"], sort=False).indices
        positions = self.remember("configurations", index).get(key)
        if positions is None:
            return None
        return self.remember(("configuration", key), lambda: self.results.iloc[positions])

    def rows(self, method: str, *, arch: str | None = None, steps: int | None = None, variant: str = "default",
             hardware: str | Sequence[str] | None = None, levels: int | None = None) -> pd.DataFrame:
        """``results`` rows of one method configuration (every seed). A quantized method's default
        network is the one with L levels unless ``levels`` says otherwise; a stepped method's rows are
        those at ``steps`` (T or G)."""
        spec = get_method(method)
        where: dict[str, Any] = {"hardware": hardware}
        if spec.stepped:
            where["T"] = steps
        if spec.quantized and "levels" in self.results.columns:
            where["levels"] = self.levels() if levels is None else levels
        archs = [arch] if arch is not None else self.archs()
        found = [f for f in (self._configuration((a, method, variant)) for a in archs) if f is not None]
        if not found:
            return self.results.iloc[0:0]
        return select(found[0] if len(found) == 1 else pd.concat(found), **where)

    def present_rows(self, method: str, **where: Any) -> pd.DataFrame:
        """:meth:`rows` of ``method`` when the run has that method, else an empty frame."""
        return self.rows(method, **where) if method in self.methods() else pd.DataFrame()

    def energy(self, method: str, hardware: str, **where: Any) -> float:
        """Energy per inference (pJ) of one configuration under ``hardware`` (first seed; NaN if absent)."""
        rows = self.present_rows(method, hardware=hardware, **where)
        return float(rows["energy_pj"].iloc[0]) if len(rows) else float("nan")

    def per_inference(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """One row per evaluated network (arch, method, T, levels, variant, seed): the counts and the
        accuracy, which do not depend on the hardware model (the first model's row is kept)."""
        frame = self.results if frame is None else frame
        if frame.empty:
            return frame
        return frame.drop_duplicates(subset=[k for k in UNIT_KEYS if k in frame.columns], keep="first")

    def reference_frame(self, arch: str | None = None, steps: int | None = None) -> pd.DataFrame:
        """Every hardware model's row of each method's reference network (first seed, default
        variant; stepped methods at ``steps``, default T = G = L; quantized ones at L levels), methods
        in registry order, with a ``label`` column. ``arch`` None: every architecture."""
        steps = self.reference_steps() if steps is None else steps

        def build() -> pd.DataFrame:
            results = select(self.results, arch=arch, variant="default")
            if results.empty or "method" not in results.columns:
                return results.iloc[0:0]
            keep = np.zeros(len(results), dtype=bool)
            methods = results["method"].to_numpy()
            order = {m: i for i, m in enumerate(self.methods())}
            for method in order:
                spec = get_method(method)
                mask = methods == method
                if spec.stepped:
                    mask &= results["T"].to_numpy() == steps
                if spec.quantized and "levels" in results.columns:
                    mask &= results["levels"].to_numpy() == self.levels()
                keep |= mask
            chosen = results[keep]
            chosen = chosen[chosen["seed"] == chosen["seed"].min()] if "seed" in chosen.columns else chosen
            chosen = chosen.assign(label=[method_label(m, steps) for m in chosen["method"]],
                                   _order=chosen["method"].map(order))
            return chosen.sort_values("_order", kind="stable").drop(columns="_order")
        return self.remember(("reference", arch, steps), build)

    def ladder_rows(self, arch: str | None, hardware: str | None, steps: int | None = None) -> pd.DataFrame:
        """One row per method (first seed): each method's default network, the stepped ones at
        ``steps`` (default T = G = L), in registry order, with a ``label`` column."""
        frame = self.reference_frame(arch, steps)
        rows = select(frame, hardware=hardware)
        if arch is None and not rows.empty:  # one row per method: the first architecture's
            rows = rows.drop_duplicates("method")
        return rows.reset_index(drop=True)


def load_run(run_dir: str | os.PathLike) -> RunTables:
    """A run folder's tables and config, read through :class:`RunFolder` (which refuses an
    incomplete run)."""
    folder = RunFolder(run_dir)
    tables = folder.read_tables()
    check_results(tables["results"])  # an edited, re-hashed results.csv: one line naming the rows, not a traceback
    # copies are consolidated (one block per dtype, not per column): row lookups take them ~2.5× faster
    return RunTables({name: frame.copy() for name, frame in tables.items()}, folder.read_config())
