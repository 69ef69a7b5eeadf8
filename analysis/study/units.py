"""The unit of work of a study plan, typed: what it computes is named by fields, never by strings to
be parsed later. Its own module (below the plan, the measures and the pricing stage), so that each of
them reads units without importing the others."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from analysis.study.variants import VARIANTS

__all__ = ["EVAL", "Unit"]

#: The kind of unit that evaluates and counts one network; every other kind is a measure's name
#: (:data:`~analysis.study.measures.MEASURES`).
EVAL = "eval"


@dataclass(frozen=True)
class Unit:
    """One unit of work: ``kind`` is :data:`EVAL` (evaluate and count one network) or the name of the
    measure that computes it (:mod:`~analysis.study.measures`); ``steps`` the method's T or G (1 for
    the rest); ``levels`` the quantization levels L; ``variant`` a registered variant
    (:data:`~analysis.study.variants.VARIANTS`). Its cache key carries the config's compute digest,
    so a unit of another config (other levels, epochs, data, ...) is never read back for this one."""

    kind: str
    arch: str
    method: str
    steps: int
    levels: int
    variant: str
    seed: int

    def __post_init__(self) -> None:
        VARIANTS.get(self.variant)  # an unknown variant: a did-you-mean error

    def key(self, digest: str) -> str:
        return (f"{self.kind}__{self.arch}__{self.method}__T{self.steps}__L{self.levels}__{self.variant}"
                f"__s{self.seed}__{digest}")

    def row(self) -> dict[str, object]:
        """The identifying columns of this unit's table rows (``T`` is the method's steps)."""
        data = asdict(self)
        data["T"] = data.pop("steps")
        data.pop("kind")
        return data

