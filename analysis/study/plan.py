"""The study plan: every unit of work (:class:`~analysis.study.units.Unit`), in the fixed order of the
tables' rows.

Which units a method gets is read from its properties and roles (:class:`~analysis.methods.Role`),
never from its name: a trained or one-pass method is evaluated once; a spiking conversion of a
quantized network at every T, its quantized parent at L = T beside it; a directly trained one (and
the OneSpike form made from it) at every T it is trained for. The measures
(:data:`~analysis.study.measures.MEASURES`) add their per-step units to every method they apply to.
"""

from __future__ import annotations

from analysis.methods import Role, get_method, with_role
from analysis.study.config import StudyConfig
from analysis.study.direct import direct_archs, direct_steps, trained_by
from analysis.study.measures import EQUIVALENCE, ONESTEP, PER_STEP, taking_part
from analysis.study.trained import finetuned_networks
from analysis.study.units import EVAL, Unit
from analysis.study.variants import (
    DEFAULT,
    EXACT_POW2,
    FINETUNED,
    HARDWARE,
    PER_GROUP_BINARY,
    PER_GROUP_CALIBRATED,
    POW2,
)

__all__ = ["BREAKEVEN_TARGET_STEPS", "EQUIVALENCE", "EVAL", "ONESTEP", "Unit", "build_plan"]

#: The T of the break-even targets arXiv 2409.08290 reports (ENERGY_MODELS.md §6).
BREAKEVEN_TARGET_STEPS = (2, 3, 5)


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def build_plan(config: StudyConfig) -> list[Unit]:
    """Every unit of ``config``, in table order: per seed, per architecture, the trained methods and
    the one-pass methods converted from them (the INT8 ANN), then for each T the quantized parents of
    the conversions with L = T levels, each conversion at T (one on G with its variants), every
    per-step measure's units, and (up to ``direct_max_steps``, for ``direct_archs``) the directly
    trained SNNs and their OneSpike forms; then the equal-bit units (a quantized parent fine-tuned at
    a low L and the conversions on G of it) and, for the first seed, the break-even extras (each
    conversion on T against its parent at the break-even T and the reported targets' T)."""
    chosen = list(config.methods)
    # the parts methods play, read from their properties (a method a user registers with IF's
    # properties is planned as IF is): the quantized parent, the conversions on T and on G
    quantized = with_role(Role.QUANTIZED_PARENT, chosen)
    integrate, grouped = with_role(Role.TIME_CONVERSION, chosen), with_role(Role.GROUP_CONVERSION, chosen)
    per_step = taking_part(config, PER_STEP)
    L = config.levels
    plan: list[Unit] = []
    for seed in config.seed_list:
        for arch in config.archs:
            def add(method: str, steps: int = 1, levels: int = L, variant: str = DEFAULT, kind: str = EVAL,
                    arch: str = arch, seed: int = seed) -> None:
                unit = Unit(kind, arch, method, steps, levels, variant, seed)
                if unit not in plan:
                    plan.append(unit)

            for method in chosen:
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
                for method in grouped:
                    add(method, T)
                    if _is_pow2(T):
                        add(method, T, variant=EXACT_POW2)
                        add(method, T, variant=HARDWARE)
                    if T > 1:
                        add(method, T, variant=PER_GROUP_CALIBRATED)
                        add(method, T, variant=PER_GROUP_BINARY)
                for measure, methods in per_step:
                    if measure.where is None or measure.where(config, arch, T):
                        for method in methods:
                            add(method, T, levels=T if measure.levels_are_steps else L, kind=measure.name)
                if arch in direct_archs(config) and T in direct_steps(config):
                    for method in chosen:
                        if trained_by(method) is not None:
                            add(method, T)
            for method, levels in finetuned_networks(config):
                add(method, levels=levels, variant=FINETUNED)
                for converted in grouped:
                    if get_method(converted).parent == method:
                        add(converted, levels, levels=levels, variant=FINETUNED)
            for snn in integrate if seed == config.seed else ():
                # each conversion on T against the ceil(log2(T+1))-bit QNN at the break-even T and at
                # the T of the targets arXiv 2409.08290 reports (T = 2, 3, 5)
                parent = get_method(snn).parent
                for steps in sorted({config.breakeven_timesteps, *BREAKEVEN_TARGET_STEPS}) if parent in chosen else ():
                    add(snn, steps)
                    add(parent, levels=steps)
    return plan
