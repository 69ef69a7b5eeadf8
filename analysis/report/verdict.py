"""A question's verdict: one sentence a reviewer can quote, the numbers behind it, and the
hardware-dependent claims it rests on (so the sensitivity section can re-check each claim under every
alternative pricing convention and say "holds under ...; flips under ...").

    from analysis.report import load_run, question
    verdict = question("Q8").verdict(load_run("reports/quick"))
    verdict.sentence        # "Yes: OneSpike(G=4) is cheaper than the float ANN under 5 of 7 models ..."
    verdict.claims          # {("sata", "OneSpike(G=4) < ANN"): Claim(True, 0.2, "0.2×"), ...}

A sentence opens with its answer ("Yes: ...", "No: ...", "Depends on the hardware model: ...") and
carries its number; it is at most about :data:`MAX_SENTENCE` characters, over the run's headline
models.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from analysis.report.text import ratio_text

__all__ = ["CHEAPER", "DEARER", "MAX_SENTENCE", "TIE", "TIED", "Claim", "Verdict", "by_value", "finite", "listing",
           "models_text", "order_claim", "unanswered"]

#: A verdict sentence's length budget (characters).
MAX_SENTENCE = 300
#: Name at most this many models in a sentence; more are counted ("5 of 7 models").
NAMED_MODELS = 3


@dataclass(frozen=True)
class Claim:
    """One statement a verdict rests on, under one hardware model: its ``value`` (True/False, or
    the configuration it names), the ``number`` behind it and that number as printed (``text``)."""

    value: Hashable
    number: float = float("nan")
    text: str = ""


@dataclass(frozen=True)
class Verdict:
    """A question's verdict. ``claims``: ``{(hardware model, statement): Claim}``, the
    hardware-dependent statements the sentence rests on (empty for a question no hardware model
    changes); ``depends_on``, ``holds_under`` and ``flips_under`` are filled in by
    :func:`analysis.report.sensitivity.with_sensitivity` from the run's alternative pricings."""

    qid: str
    sentence: str
    numbers: dict[str, float] = field(default_factory=dict)
    claims: dict[tuple[str, str], Claim] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    holds_under: tuple[str, ...] = ()
    flips_under: tuple[str, ...] = ()
    #: The flips themselves (:class:`analysis.report.sensitivity.Flip`), for tables.
    flips: tuple = ()
    #: The networks the question asks about that are not working (``working`` False): the sentence
    #: says so, and no pricing convention is said to make a verdict on them hold.
    not_working: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        """The glance line: ``Q8: Yes: ...``."""
        return f"{self.qid}: {self.sentence}"

    @property
    def hardware_dependent(self) -> bool:
        return bool(self.claims)

    def with_(self, **changes) -> Verdict:
        return replace(self, **changes)


#: Two energies within this relative margin are a tie: neither network is cheaper.
TIE = 0.01
CHEAPER, TIED, DEARER = "cheaper", "within 1%", "dearer"


def order_claim(ratio: float) -> Claim:
    """The claim "A costs ``ratio`` × B": ``cheaper`` (under 1 − :data:`TIE`), ``dearer`` (over
    1 + :data:`TIE`) or ``within 1%`` (a tie), with the ratio."""
    value = CHEAPER if ratio < 1 - TIE else DEARER if ratio > 1 + TIE else TIED
    return Claim(value, ratio, ratio_text(ratio))


def listing(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def models_text(names: Sequence[str], total: int, named: int = NAMED_MODELS) -> str:
    """The models a statement holds under: named when at most ``named`` (``sata and loihi``), else
    counted (``5 of 7 models``); ``all 7 models`` / ``no model`` at the ends."""
    if total and len(names) == total and total > 1:
        return f"all {total} models"
    if not names:
        return "no model"
    if len(names) <= named:
        return listing(names)
    return f"{len(names)} of {total} models"


def by_value(values: dict[str, Hashable]) -> dict[Hashable, list[str]]:
    """``{value: [models with it]}``, in the models' order."""
    out: dict[Hashable, list[str]] = {}
    for model, value in values.items():
        out.setdefault(value, []).append(model)
    return out


def finite(values: Iterable[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def unanswered(qid: str, what: str) -> Verdict:
    """The verdict of a question this run cannot answer: ``n/a: <what is missing>.``"""
    return Verdict(qid, f"n/a: {what.rstrip('.')}.")
