"""Ledger building: the facts rules return, merged per layer into the ledger's ``LayerEvents``.

Every call of a layer adds its events (``EVENTS`` and activity counts are totals over the call's
batch); its other facts (shapes, widths, rule name) are overwritten by the last call. At the end
the additive facts are divided by the samples counted, so the ledger holds counts per inference.
A :class:`~analysis.counting.nonzero.Deferred` count is added when the ledger is written (or when
:data:`PENDING_LIMIT` of them or :data:`PENDING_BYTES` of their maps wait, so that a long count holds
no more than that).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from analysis.counting.nonzero import Deferred, read_counts
from analysis.methods import MethodSpec
from energy_models.ledger import ACTIVITY, EVENTS, EventLedger, LayerEvents

__all__ = ["ADDITIVE", "PENDING_BYTES", "PENDING_LIMIT", "LedgerBuilder"]

#: The facts that add up over calls (and are divided by the samples at the end).
ADDITIVE = frozenset((*EVENTS, *ACTIVITY))
#: Widths: over several calls a layer records the widest (a spike count's width is the largest seen).
WIDTHS = frozenset(("act_bits", "out_bits"))
#: Most deferred counts held before they are read (each holds one small non-zero map).
PENDING_LIMIT = 4096
#: Most bytes of non-zero maps held by deferred counts before they are read (a map shared by several
#: counts is counted for each: an upper bound).
PENDING_BYTES = 16 * 2**20


class LedgerBuilder:
    """The per-layer records of one count, named by call site (``names``: path -> ledger name, see
    :func:`~analysis.counting.naming.layer_names`; a call's ``#k`` comes with the call), with the method's step axis
    deciding whether a record runs per timestep or per group."""

    def __init__(self, ledger: EventLedger, spec: MethodSpec, names: dict[str, str]):
        self.ledger = ledger
        self.spec = spec
        self.names = names
        self.records: dict[str, dict[str, Any]] = {}
        self.owners: dict[str, str] = {}  # ledger name -> module path that recorded it
        self.pending: list[tuple[dict[str, Any], str, Deferred]] = []  # (record, field, count) to add
        self.pending_bytes = 0

    def _name_for(self, path: str, name: str | None) -> str:
        """The ledger name of the module at ``path`` called as ``name`` (default: its name; its
        own path, with the call's ``#k``, where two modules would share a name)."""
        if name is None:
            name = self.names.get(path, path)
        owner = self.owners.setdefault(name, path)
        if owner == path:
            return name
        _, index, call = name.rpartition("#")
        return f"{path}#{call}" if index and call.isdigit() else path

    def record(self, path: str, module_type: str, facts: dict[str, Any], per_step: bool,
               single_step_output: bool, name: str | None = None) -> str:
        """Add one module call's ``facts``; returns the layer's ledger name. ``per_step``: the call
        ran on a step axis (or stands for several steps); ``single_step_output``: its output stands
        for one step, so a layer of a stepped method that ran once is reused by every T step or G
        group (``repeat_steps``). ``name``: the layer name of this call (a module's k-th call is
        ``<name>#k``, :func:`~analysis.counting.naming.call_name`)."""
        name = self._name_for(path, name)
        rec = self.records.get(name)
        if rec is None:
            ledger, spec = self.ledger, self.spec
            rec = {"name": name, "module_type": module_type, "method": ledger.method,
                   "timesteps": ledger.timesteps if (per_step and spec.is_time_stepped) else 1,
                   "groups": ledger.groups if (per_step and spec.is_group_parallel) else 1}
            if spec.stepped and not per_step and single_step_output:
                # counted once, its output reused by all T steps / G groups
                rec["repeat_steps"] = ledger.timesteps * ledger.groups
            self.records[name] = rec
            self._first(rec, facts)
        else:
            self._merge(rec, facts)
        return name

    def record_op(self, name: str, op: str, facts: dict[str, Any]) -> str:
        """Add one uncovered operator's ``facts`` to its own layer ``name`` (module type ``op``)."""
        rec = self.records.get(name)
        if rec is None:
            rec = self.records[name] = {"name": name, "module_type": op, "method": self.ledger.method}
        self._merge(rec, facts)
        return name

    def mark_fused(self, producer: str, consumer: str) -> None:
        """The synaptic layer ``producer`` feeds the activation/neuron ``consumer`` directly."""
        self.records[producer]["fused_into"] = consumer

    def flag_nonfinite(self, name: str, values: int) -> None:
        """Layer ``name`` produced ``values`` NaN/Inf values in one call."""
        self.records[name]["nonfinite_values"] = self.records[name].get("nonfinite_values", 0) + values

    def _first(self, rec: dict[str, Any], facts: dict[str, Any]) -> None:
        """:meth:`_merge` into a record that holds none of ``facts``' fields yet (a layer's first call)."""
        rec.update(facts)
        for key in facts.keys() & ADDITIVE:
            value = facts[key]
            if isinstance(value, Tensor):  # a 0-d count: summed as a Python number (no int32 wrap-around)
                rec[key] = value.item()
            elif isinstance(value, Deferred):
                rec[key] = 0
                self._defer(rec, key, value)

    def _merge(self, rec: dict[str, Any], facts: dict[str, Any]) -> None:
        for key, value in facts.items():
            if key in ADDITIVE:
                if isinstance(value, Tensor):  # a 0-d count: summed as a Python number (no int32 wrap-around)
                    value = value.item()
                elif isinstance(value, Deferred):
                    self._defer(rec, key, value)
                    value = 0
                rec[key] = rec.get(key, 0) + value
            elif key in WIDTHS and key in rec:
                rec[key] = max(rec[key], value)  # the widest value any call moved (spike counts vary)
            else:
                rec[key] = value

    def _defer(self, rec: dict[str, Any], key: str, count: Deferred) -> None:
        self.pending.append((rec, key, count))
        self.pending_bytes += count.nbytes()
        if len(self.pending) >= PENDING_LIMIT or self.pending_bytes >= PENDING_BYTES:
            self.settle()

    def settle(self) -> None:
        """Add every deferred count to its record (the maps read together, :func:`read_counts`)."""
        pending, self.pending, self.pending_bytes = self.pending, [], 0
        values = read_counts([count for _, _, count in pending])
        for (rec, key, _), value in zip(pending, values, strict=True):
            rec[key] = rec[key] + value

    def finish(self, samples: int) -> None:
        """Write the records into the ledger, per inference (``samples`` counted, at least one)."""
        self.settle()
        n = max(samples, 1)
        layers = []
        for rec in self.records.values():  # the records end here: divided in place
            for key in rec.keys() & ADDITIVE:
                rec[key] = float(rec[key]) / n
            layers.append(LayerEvents.of_fields(rec))
        self.records = {}
        self.ledger.layers = layers
        self.ledger.samples = samples
