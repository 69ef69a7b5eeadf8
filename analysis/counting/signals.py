"""What a tensor carries (:class:`Signal`, set by the module that produced it, never read from its
values) and what a counting rule knows about one call besides the module and its tensors
(:class:`Context`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from analysis.counting.nonzero import NonzeroMaps
from analysis.snn.vocabulary import StepAxis

__all__ = ["ANALOG_BITS", "UNKNOWN", "Context", "Signal"]

#: Bits of an analog value (pixels, ANN activations, currents) and of a conv/linear accumulator.
ANALOG_BITS = 32


@dataclass(frozen=True, eq=False)
class Signal:
    """What a tensor carries, set by the module that produced it.

    ``kind``: ``analog`` | ``quant`` | ``spike`` | ``pooled_spike`` | ``binary``. ``levels``: the
    number of non-zero levels (L for ``quant``; the pooling window for ``pooled_spike``; for
    ``spike``, the most spikes one element carries in one step where that can exceed 1: a sum pool
    of spikes, Sinabs ``MultiSpike``, an event input with several events per pixel and frame; 0 or 1
    for binary spikes). A spike count is still spikes: the next layer counts one AC per spike and
    synapse; ``bits`` is the width of the count.
    ``steps``: steps/groups the tensor stands for; ``stepped``: a leading step axis is present
    (otherwise, with ``steps > 1``, the tensor is the sum over the groups: one-pass OneSpike).
    ``per_step``: the explicit ``[S, B, ...]`` form of such a sum when a rule needs it (pooled spikes),
    or a zero-argument function streaming its ``[B, ...]`` maps one step at a time, so that one-pass
    OneSpike computes them only when asked and never holds all G at once.
    ``weighted``: the sum is weighted by per-group spike values (not a plain count).
    ``known``: False for tensors no hooked module produced (then treated as analog, with a note).
    """

    kind: str = "analog"
    levels: int = 0
    steps: int = 1
    stepped: bool = False
    per_step: Tensor | Callable[[], Iterable[Tensor]] | None = None
    weighted: bool = False
    known: bool = True

    @property
    def bits(self) -> int:
        if self.kind == "binary" or (self.kind == "spike" and self.levels <= 1):
            return 1
        if self.kind in ("quant", "pooled_spike", "spike") and self.levels > 0:
            return max(1, math.ceil(math.log2(self.levels + 1)))
        return ANALOG_BITS

    @property
    def single_step(self) -> bool:
        """The tensor stands for one step (no step axis, not a sum over groups)."""
        return not self.stepped and self.steps == 1


UNKNOWN = Signal(known=False)


@dataclass(slots=True)
class Context:
    """What a rule knows about one call besides the module and its tensors.

    ``path``: the module's path in the counted model; ``name``: its ledger layer name (where it runs
    in the user's ANN, with its call's ``#k``, see :mod:`analysis.counting.naming`). ``signals``: one
    :class:`Signal` per tensor input. ``steps``/``stepped``/``batch``: the layout of the input tensor
    (see :class:`Signal`).
    ``axis``: the :class:`~analysis.snn.vocabulary.StepAxis` of the :class:`~analysis.snn.Stepwise`
    the call runs inside (``StepAxis.TIME`` or ``StepAxis.GROUPS``), else None.
    ``timesteps``/``groups``: the network's T and G. ``weight_bits``: a width the caller imposes on
    every non-binary weight (``count_events(weight_bits=...)``), or None: each layer's own width
    (:func:`~analysis.snn.weight_bits_of`, 32 for float weights).
    ``extras``: values other hooks left for this call (``"psg_spikes"``: the ``[G, B, ...]`` output
    of a PSGLayer's neuron). ``nonzero``: the count's shared non-zero maps (see
    :class:`~analysis.counting.nonzero.NonzeroMaps`), or None: computed afresh.

    A count keeps one context and refills its per-call fields for every rule call, so a rule reads
    it during its call only (``dataclasses.replace(ctx, ...)`` makes a copy to keep).
    """

    path: str
    method: str
    signals: tuple[Signal, ...]
    steps: int
    stepped: bool
    batch: int
    axis: StepAxis | None
    timesteps: int
    groups: int
    weight_bits: int | None
    vmem_bits: int
    track_ties: bool
    extras: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    nonzero: NonzeroMaps | None = None

    @property
    def signal(self) -> Signal:
        return self.signals[0] if self.signals else UNKNOWN

    @property
    def encoder(self) -> bool:
        """The call belongs to the network's spike encoder (``input_encoding="spikes"``)."""
        return ".encoder" in f".{self.path}"

    def sample_shape(self, t: Tensor) -> tuple[int, ...]:
        """Shape of one sample at one step (no step or batch axis)."""
        return tuple(t.shape[2:] if self.stepped else t.shape[1:])

    def per_sample(self, t: Tensor) -> int:
        return math.prod(self.sample_shape(t))

    def step_elements(self, t: Tensor) -> int:
        """Elements over the batch and all S steps/groups the tensor stands for."""
        return self.per_sample(t) * self.batch * self.steps

    def out_signal(self, kind: str = "analog", **kw: Any) -> Signal:
        if kw and kw.keys() != {"levels"}:
            return Signal(kind, steps=self.steps, stepped=self.stepped, **kw)
        # a signal is immutable: the plain ones are made once and shared (a frozen dataclass costs 1 us)
        key = (kind, kw.get("levels", 0), self.steps, self.stepped)
        found = _PLAIN_SIGNALS.get(key)
        if found is None:
            found = Signal(kind, key[1], self.steps, self.stepped)
            if len(_PLAIN_SIGNALS) < 4096:
                _PLAIN_SIGNALS[key] = found
        return found


#: The signals :meth:`Context.out_signal` has made without a per-step form, by (kind, levels, steps, stepped).
_PLAIN_SIGNALS: dict[tuple[str, int, int, bool], Signal] = {}
