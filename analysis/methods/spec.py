"""What a method is: the built-in methods' names (:class:`Method`), how a method gets its weights
(:class:`TrainingKind`), and the record the registry holds for each method (:class:`MethodSpec`: its
parent, step axis, training kind, bit widths, builder and detector).

The step axis is the closed vocabulary :class:`~analysis.snn.vocabulary.StepAxis` (owned by
:mod:`analysis.snn`); a method is asked through its spec (``spec.is_time_stepped``,
``spec.trains_quantized``), never compared by name. The registry of these records is
:mod:`analysis.methods.registry`; the built-in methods are registered in :mod:`analysis.methods.builtin`.

Weight width: every evaluated network is counted with the weights it holds (the study quantizes each
deploy form per channel, ``analysis.snn.quantize_weights``); ``MethodSpec.weight_bits`` is the width a
method *requests*: 32 (float: the ANN), a fixed width (8: the INT8 ANN), or None (the study's
``weight_bits``, default 8). A BNN's binary layers are 1 bit whatever is requested.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from torch import nn

from analysis.snn.vocabulary import QuantizerKind, SpikingForm, StepAxis, Word

__all__ = ["Builder", "Method", "MethodSpec", "TrainingKind"]

#: How a method's network is made: ``build(parent, steps=..., levels=..., **options)``.
Builder = Callable[..., nn.Module]


class Method:
    """The built-in methods' names, written once (``Method.IF`` is the string ``"if"``). A method a
    user registers has its own name; every name is a plain string in tables, ledgers and configs."""

    ANN: Final = "ann"
    INT8: Final = "int8"
    QCFS: Final = QuantizerKind.QCFS.value
    CQ: Final = QuantizerKind.CQ.value
    IF: Final = SpikingForm.IF.value
    ONESPIKE: Final = SpikingForm.ONESPIKE.value
    BNN: Final = "bnn"
    DIRECT_IF: Final = "direct_if"
    DIRECT_LIF: Final = "direct_lif"
    DIRECT_IF_PSG: Final = "direct_if_psg"
    DIRECT_LIF_PSG: Final = "direct_lif_psg"


class TrainingKind(Word):
    """How a method gets its weights: trained as a full-precision ANN, fine-tuned with quantized
    activations from its parent, trained as a binary network, or trained directly as a T-step SNN
    (surrogate gradients, BPTT over T; once per T, from scratch in its parent's shape)."""

    FULL_PRECISION = "ann"
    QUANTIZED = "quantized"
    BINARY = "binary"
    DIRECT = "direct"


def _vocabulary(kind: type[Word], field_name: str, value: object) -> Word | None:
    if value is None:
        return None
    try:
        return kind.parse(value, field_name)
    except ValueError:
        raise ValueError(f"MethodSpec {field_name} must be one of {kind.accepted()} or None, got {value!r}") from None


@dataclass(frozen=True)
class MethodSpec:
    """One method of the study.

    ``steps``: a :class:`StepAxis` (``"T"``, sequential timesteps; ``"G"``, parallel groups in one
    timestep) or ``None`` (one pass, no steps). ``parent``: the method whose trained network this
    one is built from (None for the ANN). ``training``: a :class:`TrainingKind` (``"ann"``, trained
    from scratch; ``"quantized"``, fine-tuned with quantized activations; ``"binary"``, trained as a
    BNN) or ``None`` (converted, not trained). Strings are accepted and stored as the enums.
    ``quantized``: its activations have L levels (their width is ceil(log2(L+1)) bits).
    ``act_levels``: activation levels fixed by the method whatever the study's L (the INT8 ANN: 255).
    ``weight_bits``: the weight width the method requests (see the module docstring: None takes the
    study's); the counter reads the width from the network, never from here. ``vmem_bits``: the
    counter's default membrane width (``count_events(vmem_bits=...)``).
    ``needs_calibration``: ``build`` takes ``calibration_data`` (training images).
    """

    name: str
    label: str
    short: str
    color: str
    build: Builder
    parent: str | None = None
    training: TrainingKind | None = None
    spiking: bool = False
    steps: StepAxis | None = None
    quantized: bool = False
    act_levels: int | None = None
    weight_bits: int | None = None
    vmem_bits: int = 0
    needs_calibration: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    #: Whether a module marks a network as this method: the counter infers an unnamed model's method
    #: as the last-registered method whose ``detect`` matches one of its modules (the first method
    #: without a detector, the ANN, when none does).
    detect: Callable[[nn.Module], bool] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", _vocabulary(StepAxis, "steps", self.steps))
        object.__setattr__(self, "training", _vocabulary(TrainingKind, "training", self.training))

    @property
    def trained(self) -> bool:
        """Whether the method has its own training stage and checkpoint."""
        return self.training is not None

    @property
    def trains_quantized(self) -> bool:
        """Fine-tuned from its parent with quantized activations (QCFS, clamp-and-quantize)."""
        return self.training is TrainingKind.QUANTIZED

    @property
    def trains_binary(self) -> bool:
        """Trained as a binary network (trained to its plateau)."""
        return self.training is TrainingKind.BINARY

    @property
    def trains_directly(self) -> bool:
        """Trained directly as a T-step SNN, once per T, in its parent's shape (not its weights)."""
        return self.training is TrainingKind.DIRECT

    @property
    def stepped(self) -> bool:
        """Runs T timesteps or G groups (the study sweeps its steps)."""
        return self.steps is not None

    @property
    def is_time_stepped(self) -> bool:
        """Runs T sequential timesteps (the IF SNN)."""
        return self.steps is StepAxis.TIME

    @property
    def is_group_parallel(self) -> bool:
        """Runs G parallel groups in one timestep (OneSpike)."""
        return self.steps is StepAxis.GROUPS

    def sequential_steps(self, steps: int) -> int:
        """Sequential timesteps of one inference with ``steps`` = T or G."""
        return int(steps) if self.is_time_stepped else 1

    def parallel_groups(self, steps: int) -> int:
        """Parallel groups of one inference with ``steps`` = T or G."""
        return int(steps) if self.is_group_parallel else 1

    def requested_weight_bits(self, study_bits: int) -> int:
        """The width this method's (non-binary) weights are quantized to in a study whose
        ``weight_bits`` is ``study_bits``: the method's own when it fixes one, else the study's."""
        return int(study_bits if self.weight_bits is None else self.weight_bits)

    def act_bits(self, levels: int) -> int:
        """Width of one activation leaving a layer: 1 for spikes, ceil(log2(L+1)) for an L-level
        quantized activation (``act_levels`` when the method fixes them), 32 for a float one."""
        if self.spiking:
            return 1
        if self.act_levels is not None:
            return max(1, math.ceil(math.log2(self.act_levels + 1)))
        if self.quantized:
            return max(1, math.ceil(math.log2(levels + 1)))
        return 1 if self.trains_binary else 32

    def display(self, steps: int | None = None) -> str:
        """A short label with the step count: ``IF(T=4)``, ``OneSpike(G=4)``, ``QCFS``."""
        if self.steps is None or steps is None:
            return self.short
        return f"{self.short}({self.steps}={steps})"
