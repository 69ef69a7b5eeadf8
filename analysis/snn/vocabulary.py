"""The spiking vocabulary, written once: the closed sets of words that conversion, counting, the
method registry, the study and the report share.

- :class:`StepAxis`: how a network's steps run, ``T`` (sequential timesteps: the IF SNN) or ``G``
  (parallel groups in one timestep: OneSpike). :class:`~analysis.snn.Stepwise` takes it, and
  ``"time"``/``"group"`` too (its public spelling), read once at the boundary.
- :class:`SpikingForm`: the spiking form a conversion produces (what
  :class:`~analysis.snn.SpikingNetwork` and the conversion context carry): the T-step IF SNN or
  OneSpike. Its words are the names the method registry gives those methods.
- :class:`QuantizerKind`: the quantized activation a ReLU becomes (QCFS, with its shift ½, or
  clamp-and-quantize), whose words are the quantized methods' names.

Every word is a :class:`Word`: an enum member that is also its plain string (tables, JSON, f-strings
and messages print the word; it compares and hashes as the word). Code asks a member
(``form.axis is StepAxis.TIME``), never compares the word.
"""

from __future__ import annotations

from enum import Enum
from typing import Self

__all__ = ["QuantizerKind", "SpikingForm", "StepAxis", "Word"]


class Word(str, Enum):
    """A closed vocabulary whose members are also their plain string."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(str(self), spec)

    @classmethod
    def accepted(cls) -> str:
        """The words a user may write, for a message: ``'T' (or 'time'), 'G' (or 'group')``."""
        return ", ".join(repr(str(word)) + (f" (or {word.alias!r})" if word.alias else "") for word in cls)

    @property
    def alias(self) -> str:
        """Another spelling a user may write for this word ('' when there is none)."""
        return ""

    @classmethod
    def parse(cls, value: object, what: str) -> Self:
        """``value`` as a member: a member, its word or its alias; otherwise a ``ValueError`` naming
        ``what`` and the accepted words."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            for word in cls:
                if value in (word.value, word.alias):
                    return word
        raise ValueError(f"{what} must be one of {cls.accepted()}, got {value!r}")


class StepAxis(Word):
    """How a network's steps run: ``T`` sequential timesteps or ``G`` parallel groups in one timestep."""

    TIME = "T"
    GROUPS = "G"

    @property
    def alias(self) -> str:
        return "time" if self is StepAxis.TIME else "group"

    @property
    def noun(self) -> str:
        """What the steps are called in messages: ``timesteps`` or ``groups``."""
        return "timesteps" if self is StepAxis.TIME else "groups"


class SpikingForm(Word):
    """The spiking form a conversion produces: the T-step IF SNN (IF neurons, T sequential
    timesteps) or OneSpike (PSG neurons, G parallel groups in one timestep)."""

    IF = "if"
    ONESPIKE = "onespike"

    @property
    def axis(self) -> StepAxis:
        """The axis its steps run on."""
        return StepAxis.TIME if self is SpikingForm.IF else StepAxis.GROUPS

    @classmethod
    def on(cls, axis: StepAxis | str) -> SpikingForm:
        """The form whose steps run on ``axis``."""
        axis = StepAxis.parse(axis, "axis")
        return next(form for form in cls if form.axis is axis)


class QuantizerKind(Word):
    """The quantized activation a ReLU becomes: QCFS (L levels, shift ½) or clamp-and-quantize (L
    levels, no shift)."""

    QCFS = "qcfs"
    CQ = "cq"

    @property
    def shift(self) -> float:
        """The quantizer's shift φ (QCFS's ½; clamp-and-quantize has none)."""
        return 0.5 if self is QuantizerKind.QCFS else 0.0
