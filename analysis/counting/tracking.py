"""Signal tracking: what each live tensor of a counted forward carries and which synaptic layer made it.

A module rule sets its output's :class:`~analysis.counting.signals.Signal` (spikes, L-level
activations, analog values), and the next rule reads its input's: a tensor's meaning comes from the
module that produced it, never from its values. The producer table serves ``fused_into``: a conv or
linear output that reaches an activation/neuron directly (through an unfolded batch norm or a
reshape at most) is fused into it. Both tables are keyed weakly by tensor identity, so a count keeps
no tensor alive.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from analysis.counting.signals import UNKNOWN, Signal
from analysis.counting.tensormap import TensorMap
from energy_models import SYNAPTIC_KINDS

__all__ = ["FUSE_THROUGH", "SignalTracker"]

#: Layer kinds through which a synaptic layer's output still reaches an activation "directly"
#: (an unfolded batch norm folds into the conv; reshapes and repeats are views).
FUSE_THROUGH = ("norm", "reshape")


class SignalTracker:
    """The signal and the producing synaptic layer of every tensor a counted module made."""

    def __init__(self) -> None:
        self.signals = TensorMap()
        self.producers = TensorMap()  # tensor -> synaptic layer name

    def signal_of(self, t: Any) -> Signal:
        """What ``t`` carries (:data:`~analysis.counting.signals.UNKNOWN` for a tensor no counted
        module made, or no tensor)."""
        if not isinstance(t, Tensor):
            return UNKNOWN
        return self.signals.get(t, UNKNOWN)

    def set_signal(self, t: Any, sig: Signal) -> None:
        if isinstance(t, Tensor):
            self.signals[t] = sig

    def pass_through(self, x: Any, output: Any) -> None:
        """A module that changes nothing worth counting (Identity, Dropout): its output carries
        its input's signal and producer."""
        if output is x:
            return
        self.set_signal(output, self.signal_of(x))
        producer = self.producers.get(x) if isinstance(x, Tensor) else None
        if producer is not None and isinstance(output, Tensor):
            self.producers[output] = producer

    def link(self, name: str, kind: str | None, x: Tensor | None, output: Any) -> str | None:
        """Follow a layer's output for ``fused_into``: a synaptic layer makes it, a batch norm or
        reshape passes its producer on. Returns the producer that layer ``name`` (an
        activation/neuron) consumes directly, to be marked fused into it; None otherwise."""
        if not isinstance(output, Tensor):
            return None
        if kind in SYNAPTIC_KINDS:
            self.producers[output] = name
            return None
        producer = self.producers.get(x) if isinstance(x, Tensor) else None
        if producer is None:
            return None
        if kind == "neuron":
            return producer
        if kind in FUSE_THROUGH:
            self.producers[output] = producer
        return None
