"""The variants a unit's network may have: one registry entry each (name -> what it means and how
its network is built), so the runner builds every unit the same way and a new variant is one entry.

A variant's ``build`` takes a :class:`VariantInput` (the method, its steps and levels, and the
network it starts from) and returns ``(network, facts)``; the facts go into the unit's ledger meta
(``deploy_form``, ``mode``, ``scales``, ...). A duplicate name is refused unless ``replace=True``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from analysis.methods import get_method
from analysis.registry import Registry
from analysis.study.direct import deploy_direct
from analysis.study.evaluate import batches
from analysis.study.networks import deploy_form, derive, pow2_network, relevel
from analysis.study.thresholds import binary_scales, calibrate_scales

__all__ = [
    "CALIBRATION_SAMPLES",
    "DEFAULT",
    "EXACT_POW2",
    "HARDWARE",
    "PER_GROUP_BINARY",
    "PER_GROUP_CALIBRATED",
    "POW2",
    "VARIANTS",
    "Variant",
    "VariantInput",
    "register_variant",
    "variant_network",
]

#: Training images the per-group threshold calibration (Q11) uses.
CALIBRATION_SAMPLES = 512

DEFAULT = "default"
POW2 = "pow2"
EXACT_POW2 = "exact_pow2"
HARDWARE = "hardware"
PER_GROUP_CALIBRATED = "per_group_calibrated"
PER_GROUP_BINARY = "per_group_binary"


@dataclass(frozen=True)
class VariantInput:
    """What a variant's network is built from. ``base``: the method's own trained network (a
    trained method; a directly trained SNN: the one trained at T = ``steps``) or its parent's (a
    method converted from its parent); ``levels``: the unit's L;
    ``trained_levels``: the L the trained quantized networks have; ``train``: training data (for a
    calibration; never the test set)."""

    method: str
    steps: int
    levels: int
    trained_levels: int
    base: nn.Module
    train: Dataset

    @property
    def converted(self) -> bool:
        """The method is converted from its parent's weights, not trained itself."""
        return not get_method(self.method).trained


Builder = Callable[[VariantInput], tuple[nn.Module, dict[str, Any]]]


@dataclass(frozen=True)
class Variant:
    """One variant: its ``name``, a ``description`` the plan and report use, and its ``build``."""

    name: str
    description: str
    build: Builder


#: The variant registry (name -> :class:`Variant`).
VARIANTS: Registry[Variant] = Registry("variant")


def register_variant(variant: Variant, replace: bool = False) -> Variant:
    """Add a variant (refused when the name is taken, unless ``replace=True``)."""
    return VARIANTS.add(variant.name, variant, replace=replace)


def variant_network(variant: str, given: VariantInput) -> tuple[nn.Module, dict[str, Any]]:
    """The network of ``variant`` (a registered name) built from ``given``, and its facts."""
    return VARIANTS.get(variant).build(given)


# -- the built-in variants ------------------------------------------------------------------------------
def _deployed(net: nn.Module) -> tuple[nn.Module, dict[str, Any]]:
    net, phrase = deploy_form(net)
    return net, {"deploy_form": phrase}


def _trained_only(name: str, given: VariantInput) -> None:
    if given.converted:
        raise ValueError(f"variant {name!r} applies to a trained method's own network, not to {given.method!r}")


def _converted_only(name: str, given: VariantInput) -> None:
    if not given.converted:
        raise ValueError(f"variant {name!r} applies to a method converted from its parent, not to {given.method!r}")


def _default(given: VariantInput) -> tuple[nn.Module, dict[str, Any]]:
    if get_method(given.method).trains_directly:  # base: the SNN trained at this T, in training form
        return deploy_direct(given.base)
    if given.converted:
        return derive(given.method, given.base, given.steps), {}
    base = given.base if given.levels == given.trained_levels else relevel(given.base, given.levels)
    return _deployed(base)


def _pow2(given: VariantInput) -> tuple[nn.Module, dict[str, Any]]:
    _trained_only(POW2, given)
    return _deployed(pow2_network(given.base))


def _psg_mode(name: str, mode: str) -> Builder:
    def build(given: VariantInput) -> tuple[nn.Module, dict[str, Any]]:
        _converted_only(name, given)
        return derive(given.method, pow2_network(given.base), given.steps, mode=mode), {"mode": mode}

    build.__doc__ = f"The converted network in {mode} PSG mode on the power-of-two-rounded parent."
    return build


def _per_group_binary(given: VariantInput) -> tuple[nn.Module, dict[str, Any]]:
    _converted_only(PER_GROUP_BINARY, given)
    scales = binary_scales(given.steps)
    return derive(given.method, given.base, given.steps, group_threshold_scales=scales), {"scales": scales}


def _per_group_calibrated(given: VariantInput) -> tuple[nn.Module, dict[str, Any]]:
    _converted_only(PER_GROUP_CALIBRATED, given)
    images, labels = next(iter(batches(given.train, CALIBRATION_SAMPLES, CALIBRATION_SAMPLES)))
    name, scales, loss = calibrate_scales(
        lambda s: derive(given.method, given.base, given.steps, group_threshold_scales=s), images, labels,
        given.steps)
    return (derive(given.method, given.base, given.steps, group_threshold_scales=scales),
            {"scales": scales, "calibrated": name, "calibration_loss": loss})


for _variant in (
    Variant(DEFAULT, "the method as converted/trained", _default),
    Variant(POW2, "quantized ANN with every threshold rounded to the nearest power of two (the rounding's accuracy "
            "effect)", _pow2),
    Variant(EXACT_POW2, "OneSpike in exact mode (mul/mod) on the power-of-two-rounded network",
            _psg_mode(EXACT_POW2, "exact")),
    Variant(HARDWARE, "OneSpike in hardware mode (shift/mask) on the same power-of-two-rounded network",
            _psg_mode(HARDWARE, "hardware")),
    Variant(PER_GROUP_CALIBRATED, "OneSpike with per-group thresholds calibrated on training activations (Q11)",
            _per_group_calibrated),
    Variant(PER_GROUP_BINARY, "OneSpike with binary-weighted per-group thresholds θ_i = 2^i·θ₀ (Q11)",
            _per_group_binary),
):
    register_variant(_variant)
