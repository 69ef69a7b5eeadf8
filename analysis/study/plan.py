"""The study plan: every unit of work (:class:`~analysis.study.units.Unit`), in the fixed order of the
tables' rows.

Which units a method gets is read from its properties (:class:`~analysis.methods.MethodSpec`),
never from its name: a trained or one-pass method is evaluated once; a spiking method converted from
a quantized network (:func:`~analysis.study.units.converted_spiking`) at every T, its quantized
parent at L = T beside it; a directly trained one (and the OneSpike form made from it) at every T it
is trained for. The measures (:data:`~analysis.study.measures.MEASURES`) add their per-step units to
every method they apply to.
"""

from __future__ import annotations

from analysis.methods import get_method, method_names
from analysis.study.config import StudyConfig
from analysis.study.direct import direct_archs, direct_steps, trained_by
from analysis.study.measures import EQUIVALENCE, ONESTEP, PER_STEP, taking_part
from analysis.study.networks import finetuned_networks
from analysis.study.units import EVAL, Unit, converted_spiking
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
    the converted SNNs with L = T levels, each converted SNN at T (a group-parallel one with its
    variants), every per-step measure's units, and (up to ``direct_max_steps``, for ``direct_archs``)
    the directly trained SNNs and their OneSpike forms; then the equal-bit units (the quantized
    parents fine-tuned at a low L and the group-parallel SNNs converted from them) and, for the first
    seed, the break-even extras (each time-stepped SNN against its parent at the break-even T and
    the reported targets' T)."""
    chosen = list(config.methods)
    specs = {method: get_method(method) for method in chosen}
    converted = [m for m in chosen if converted_spiking(specs[m])]
    # the quantized networks a registered SNN is converted from (with or without that SNN in the study)
    parents = [m for m in chosen if any(get_method(c).parent == m and converted_spiking(get_method(c))
                                        for c in method_names())]
    timed = [m for m in converted if specs[m].is_time_stepped]
    grouped = [m for m in converted if specs[m].is_group_parallel]
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
                spec = specs[method]
                if (spec.trained and not spec.trains_directly) or not spec.stepped:
                    add(method)
            for method in parents:
                add(method, variant=POW2)
            for T in config.timesteps:
                for method in chosen:
                    if method in parents and T != L:
                        add(method, levels=T)
                    if method in converted:
                        add(method, T)
                    if method in grouped and _is_pow2(T):
                        add(method, T, variant=EXACT_POW2)
                        add(method, T, variant=HARDWARE)
                    if method in grouped and T > 1:
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
                for snn in grouped:
                    add(snn, levels, levels=levels, variant=FINETUNED)
            if seed == config.seed:
                # each time-stepped SNN against the ceil(log2(T+1))-bit QNN at the break-even T and at
                # the T of the targets arXiv 2409.08290 reports (T = 2, 3, 5)
                for snn in (m for m in timed if specs[m].parent in chosen):
                    for steps in sorted({config.breakeven_timesteps, *BREAKEVEN_TARGET_STEPS}):
                        add(snn, steps)
                        add(specs[snn].parent, levels=steps)
    return plan
