"""The study plan: every unit of work, typed, in the fixed order of the tables' rows.

A :class:`Unit` names what it computes with fields, not strings to be parsed later: the method,
its steps (T for IF, G for OneSpike, 1 for the rest), the quantization levels L, a variant and the
seed. Its cache key carries the config's compute digest, so a unit of another config (other levels,
epochs, data, ...) is never read back for this one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from analysis.methods import get_method
from analysis.study.config import StudyConfig

__all__ = ["BREAKEVEN_TARGET_STEPS", "VARIANTS", "Unit", "build_plan"]

#: The T of the break-even targets arXiv 2409.08290 reports (ENERGY_MODELS.md §6).
BREAKEVEN_TARGET_STEPS = (2, 3, 5)

#: Variants a unit may have, and what each means.
VARIANTS: dict[str, str] = {
    "default": "the method as converted/trained",
    "pow2": "quantized ANN with every threshold rounded to the nearest power of two (the rounding's accuracy effect)",
    "exact_pow2": "OneSpike in exact mode (mul/mod) on the power-of-two-rounded network",
    "hardware": "OneSpike in hardware mode (shift/mask) on the same power-of-two-rounded network",
    "per_group_calibrated": "OneSpike with per-group thresholds calibrated on training activations (Q11)",
    "per_group_binary": "OneSpike with binary-weighted per-group thresholds θ_i = 2^i·θ₀ (Q11)",
}


@dataclass(frozen=True)
class Unit:
    """One unit of work: ``kind`` is ``"eval"`` (evaluate and count one network) or
    ``"equivalence"`` (Q1: OneSpike and IF logits against the quantized ANN with L = steps)."""

    kind: str
    arch: str
    method: str
    steps: int
    levels: int
    variant: str
    seed: int

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
    """Every unit of ``config``, in table order: per seed, per architecture, the trained methods,
    then for each T the quantized ANN with L = T levels (the network OneSpike(G=T) equals, Q1), IF(T)
    and OneSpike(G=T) with its variants; then the equal-bit and break-even extras."""
    chosen = set(config.methods)
    L = config.levels
    plan: list[Unit] = []
    for seed in config.seed_list:
        for arch in config.archs:
            def add(method: str, steps: int = 1, levels: int = L, variant: str = "default", kind: str = "eval",
                    arch: str = arch, seed: int = seed) -> None:
                unit = Unit(kind, arch, method, steps, levels, variant, seed)
                if unit not in plan:
                    plan.append(unit)

            for method in config.methods:
                if get_method(method).trained:
                    add(method)
            if "qcfs" in chosen:
                add("qcfs", variant="pow2")
            for T in config.timesteps:
                if "qcfs" in chosen and T != L:
                    add("qcfs", levels=T)
                if "if" in chosen:
                    add("if", T)
                if "onespike" in chosen:
                    add("onespike", T)
                    if _is_pow2(T):
                        add("onespike", T, variant="exact_pow2")
                        add("onespike", T, variant="hardware")
                    if T > 1:
                        add("onespike", T, variant="per_group_calibrated")
                        add("onespike", T, variant="per_group_binary")
                if {"if", "onespike"} <= chosen:
                    add("onespike", T, levels=T, kind="equivalence")
            if {"if", "qcfs"} <= chosen and seed == config.seed:
                # Q7: IF(T) against the ceil(log2(T+1))-bit QNN at the break-even T and at the T of
                # the targets arXiv 2409.08290 reports (T = 2, 3, 5)
                for steps in sorted({config.breakeven_timesteps, *BREAKEVEN_TARGET_STEPS}):
                    add("if", steps)
                    add("qcfs", levels=steps)
    return plan
