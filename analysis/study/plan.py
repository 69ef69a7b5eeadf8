"""The study plan: every unit of work, typed, in the fixed order of the tables' rows.

A :class:`Unit` names what it computes with fields, not strings to be parsed later: the method,
its steps (T for IF, G for OneSpike, 1 for the rest), the quantization levels L, a variant and the
seed. Its cache key carries the config's compute digest, so a unit of another config (other levels,
epochs, data, ...) is never read back for this one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from analysis.methods import Role, get_method, with_role
from analysis.study.config import StudyConfig
from analysis.study.direct import direct_archs, direct_steps, trained_by
from analysis.study.networks import finetuned_networks
from analysis.study.variants import (
    DEFAULT,
    EXACT_POW2,
    FINETUNED,
    HARDWARE,
    PER_GROUP_BINARY,
    PER_GROUP_CALIBRATED,
    POW2,
    VARIANTS,
)

__all__ = ["BREAKEVEN_TARGET_STEPS", "EQUIVALENCE", "EVAL", "ONESTEP", "Unit", "build_plan"]

#: The T of the break-even targets arXiv 2409.08290 reports (ENERGY_MODELS.md §6).
BREAKEVEN_TARGET_STEPS = (2, 3, 5)
#: The kinds of unit: evaluate and count one network, compare logits (Q1), or measure a directly
#: trained SNN against its one-step form (Q14).
EVAL, EQUIVALENCE, ONESTEP = "eval", "equivalence", "onestep"


@dataclass(frozen=True)
class Unit:
    """One unit of work: ``kind`` is :data:`EVAL` (evaluate and count one network),
    :data:`EQUIVALENCE` (Q1: OneSpike and IF logits against the quantized ANN with L = steps) or
    :data:`ONESTEP` (Q14: a directly trained SNN against its OneSpike form, G = T = steps);
    ``variant`` a registered variant (:data:`~analysis.study.variants.VARIANTS`)."""

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


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def build_plan(config: StudyConfig) -> list[Unit]:
    """Every unit of ``config``, in table order: per seed, per architecture, the trained methods and
    the one-pass methods converted from them (the INT8 ANN), then for each T the quantized ANN with
    L = T levels (the network OneSpike(G=T) equals, Q1), IF(T) and OneSpike(G=T) with its variants,
    and (up to ``direct_max_steps``, for ``direct_archs``) the directly trained SNNs, their OneSpike
    forms and the Q14 unit; then the equal-bit (Q13: the quantized ANN fine-tuned at L = 1 and
    OneSpike(G=1) converted from it) and break-even extras."""
    chosen = set(config.methods)
    L = config.levels
    # the parts of the questions, read from each method's properties (a method a user registers with
    # IF's properties is planned as IF is): the quantized parent, the conversions on T and on G
    quantized, integrate = with_role(Role.QUANTIZED_PARENT, chosen), with_role(Role.TIME_CONVERSION, chosen)
    onespike = with_role(Role.GROUP_CONVERSION, chosen)
    spiking_pair = bool(integrate and onespike)
    plan: list[Unit] = []
    for seed in config.seed_list:
        for arch in config.archs:
            def add(method: str, steps: int = 1, levels: int = L, variant: str = DEFAULT, kind: str = EVAL,
                    arch: str = arch, seed: int = seed) -> None:
                unit = Unit(kind, arch, method, steps, levels, variant, seed)
                if unit not in plan:
                    plan.append(unit)

            for method in config.methods:
                spec = get_method(method)
                if (spec.trained and not spec.trains_directly) or not spec.stepped:
                    add(method)
            for method in quantized:
                add(method, variant=POW2)
            for T in config.timesteps:
                for method in quantized if T != L else ():
                    add(method, levels=T)
                for method in integrate:
                    add(method, T)
                for method in onespike:
                    add(method, T)
                    if _is_pow2(T):
                        add(method, T, variant=EXACT_POW2)
                        add(method, T, variant=HARDWARE)
                    if T > 1:
                        add(method, T, variant=PER_GROUP_CALIBRATED)
                        add(method, T, variant=PER_GROUP_BINARY)
                if spiking_pair:
                    add(onespike[0], T, levels=T, kind=EQUIVALENCE)
                if arch in direct_archs(config) and T in direct_steps(config):
                    for method in config.methods:
                        if trained_by(method) is not None:
                            add(method, T)
                        if get_method(method).trains_directly:
                            add(method, T, kind=ONESTEP)
            for method, levels in finetuned_networks(config):
                add(method, levels=levels, variant=FINETUNED)
                for converted in onespike:
                    if get_method(converted).parent == method:
                        add(converted, levels, levels=levels, variant=FINETUNED)
            for snn in integrate if seed == config.seed else ():
                # Q7: IF(T) against the ceil(log2(T+1))-bit QNN at the break-even T and at the T of
                # the targets arXiv 2409.08290 reports (T = 2, 3, 5)
                parent = get_method(snn).parent
                for steps in sorted({config.breakeven_timesteps, *BREAKEVEN_TARGET_STEPS}) if parent in chosen else ():
                    add(snn, steps)
                    add(parent, levels=steps)
    return plan
