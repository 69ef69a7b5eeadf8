"""Unrecognised stateful neurons: a user's leaf module, with no counting rule, that keeps state
across calls (it rebinds or changes a tensor attribute or buffer while it runs, as a membrane does)
or returns a ``(spikes, state)`` tuple, as Norse-style cells do.

Its arithmetic would otherwise be counted operator by operator as a dense ANN's: it is refused
under ``strict=True`` and listed in ``ledger.unsupported`` otherwise, and a ledger that was to be
an ANN's (``method="ann"``, inferred) becomes a directly trained LIF SNN's, with a note: a network
that spikes is never priced as an ANN.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from torch import Tensor, nn

from analysis.methods import Method, MethodSpec
from energy_models.ledger import EventLedger

__all__ = ["StateWatch", "returns_spikes_and_state", "state_snapshot"]


def state_snapshot(module: nn.Module) -> dict[str, tuple[int, int]]:
    """``{name: (identity, version)}`` of the tensors a module holds outside its parameters."""
    held: dict[str, Any] = {k: v for k, v in vars(module).items() if isinstance(v, Tensor)}
    held.update((f"buffer:{k}", v) for k, v in module._buffers.items() if isinstance(v, Tensor))
    return {k: (id(v), v._version) for k, v in held.items()}


def returns_spikes_and_state(module: nn.Module, output: Any) -> bool:
    """A Norse-style cell: ``forward(x, state)`` returns ``(spikes, state)``, spikes of 0/1."""
    if not (isinstance(output, tuple | list) and len(output) == 2 and isinstance(output[0], Tensor)
            and output[1] is not None):
        return False
    try:
        takes_state = len(inspect.signature(module.forward).parameters) >= 2
    except (TypeError, ValueError):
        takes_state = False
    spikes = output[0]
    return takes_state and spikes.is_floating_point() and bool(((spikes == 0) | (spikes == 1)).all())


class StateWatch:
    """Watches the user's leaf modules without a rule; ``flag(path, type_name)`` lists (or, under
    ``strict=True``, refuses) one found to be a stateful neuron. The counter's plan calls
    :meth:`start` when such a module starts and :meth:`end` when it returns."""

    def __init__(self, flag: Callable[[str, str], None], quiet: Callable[[], AbstractContextManager]):
        self.flag = flag
        self.quiet = quiet  # the counter's own tensor reads are no operators of the network
        self.found: list[str] = []
        self.before: dict[int, dict[str, tuple[int, int]]] = {}

    def start(self, module: nn.Module) -> None:
        self.before[id(module)] = state_snapshot(module)

    def end(self, module: nn.Module, path: str, output: Any) -> None:
        changed = state_snapshot(module) != self.before.pop(id(module), {})
        with self.quiet():
            cell = not changed and returns_spikes_and_state(module, output)
        if (changed or cell) and path not in self.found:
            self.found.append(path)
            why = "keeps state across calls" if changed else "returns (output, state)"
            self.flag(path, f"{type(module).__module__}.{type(module).__qualname__} (a stateful neuron no rule "
                            f"recognises: it {why})")

    def finish(self, ledger: EventLedger, spec: MethodSpec) -> None:
        """A network with an unrecognised stateful neuron is no ANN: its ledger says so."""
        if self.found and not spec.spiking:
            ledger.meta.setdefault("method_counted_as", ledger.method)
            ledger.method = Method.DIRECT_LIF
            for layer in ledger.layers:
                layer.method = Method.DIRECT_LIF
            ledger.meta.setdefault("notes", f"unrecognised stateful neuron(s) {self.found}: a spiking network, "
                                            "not an ANN; their own arithmetic is counted operator by operator")
