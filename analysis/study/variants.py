"""The variants a unit's network may have: one registry entry each (name -> what it means and how
its network is built), so the runner builds every unit the same way and a new variant is one entry.

A variant's ``build`` takes a :class:`VariantInput` (the method, its steps and levels, the network
it starts from and the weight width to quantize to) and returns ``(network, facts)``; the facts go
into the unit's ledger meta (``deploy_form``, ``made``, ``mode``, ``scales``, ...). A duplicate name
is refused unless ``replace=True``.

Every network a variant returns is in deploy form with its weights quantized at ``weight_bits``
(:func:`~analysis.study.networks.priced_form`): a trained method's own network directly, a
converted method's through its parent's priced form (so OneSpike(G) and QCFS(L = G) hold the same
weights, Q1). Built again with ``weight_bits = 32`` it is the same network with float weights.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from analysis.methods import get_method
from analysis.registry import Registry
from analysis.snn import quantize_weights
from analysis.study.direct import deploy_direct
from analysis.study.evaluate import batches
from analysis.study.networks import derive, pow2_network, priced_form, relevel
from analysis.study.thresholds import binary_scales, calibrate_scales

__all__ = [
    "CALIBRATION_SAMPLES",
    "DEFAULT",
    "EXACT_POW2",
    "FINETUNED",
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

#: What converted units start from, made once per trained network (a study converts some 40 units
#: per architecture from the same quantized ANN, each conversion a copy): network -> its
#: power-of-two-rounded form (``"pow2"``) and its priced forms (``("priced", weight_bits)``).
#: Weak keys: an architecture's entries go with its networks.
SOURCES: weakref.WeakKeyDictionary[nn.Module, dict[Any, Any]] = weakref.WeakKeyDictionary()

DEFAULT = "default"
POW2 = "pow2"
EXACT_POW2 = "exact_pow2"
HARDWARE = "hardware"
PER_GROUP_CALIBRATED = "per_group_calibrated"
PER_GROUP_BINARY = "per_group_binary"
FINETUNED = "finetuned"


@dataclass(frozen=True)
class VariantInput:
    """What a variant's network is built from. ``base``: the method's own trained network (a
    trained method; a directly trained SNN: the one trained at T = ``steps``) or its parent's (a
    method converted from its parent); ``levels``: the unit's L; ``trained_levels``: the L ``base``
    (or the quantized network it is) was trained with; ``train``: training data (for a calibration;
    never the test set); ``weight_bits``: the width the network's weights are quantized to (32:
    float); ``made``: how ``base`` was made."""

    method: str
    steps: int
    levels: int
    trained_levels: int
    base: nn.Module
    train: Dataset
    weight_bits: int = 32
    made: str = ""

    @property
    def converted(self) -> bool:
        """The method is converted from its parent's weights, not trained itself."""
        return not get_method(self.method).trained

    def priced(self, net: nn.Module) -> tuple[nn.Module, dict[str, Any]]:
        """``net`` in deploy form with weights at ``weight_bits``, and the ``deploy_form`` fact."""
        net, phrase = priced_form(net, self.weight_bits)
        return net, {"deploy_form": phrase}

    def calibration_images(self) -> torch.Tensor:
        """The first :data:`CALIBRATION_SAMPLES` training images (never test images)."""
        images, _ = next(iter(batches(self.train, CALIBRATION_SAMPLES, CALIBRATION_SAMPLES)))
        return images

    def pow2_base(self) -> nn.Module:
        """``base`` with every threshold rounded to the nearest power of two (made once per ``base``)."""
        made = SOURCES.setdefault(self.base, {})
        if "pow2" not in made:
            made["pow2"] = pow2_network(self.base)
        return made["pow2"]

    def source(self, parent: nn.Module) -> tuple[nn.Module, dict[str, Any]]:
        """``parent``'s priced form (:meth:`priced`), made once per ``parent`` and width: only ever
        converted from, and a conversion copies what it converts, so every unit shares it."""
        made = SOURCES.setdefault(parent, {})
        key = ("priced", self.weight_bits)
        if key not in made:
            made[key] = self.priced(parent)
        net, facts = made[key]
        return net, dict(facts)

    def converted_from(self, parent: nn.Module, **options: Any) -> tuple[nn.Module, dict[str, Any]]:
        """The method's network converted from ``parent``'s priced form, and its facts."""
        spec = get_method(self.method)
        priced, facts = self.source(parent)
        calibration = self.calibration_images() if spec.needs_calibration else None
        net = derive(self.method, priced, self.steps, calibration=calibration, **options)
        how = f"{calibration.shape[0]} training images calibrate its activation ranges" if calibration is not None \
            else "no training"
        parent_label = get_method(spec.parent).short + (f"(L={self.levels})" if get_method(spec.parent).quantized
                                                         else "")
        return net, {**facts, "made": f"converted from {parent_label} [{self.made}], {how}"}


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
def _trained_only(name: str, given: VariantInput) -> None:
    if given.converted:
        raise ValueError(f"variant {name!r} applies to a trained method's own network, not to {given.method!r}")


def _converted_only(name: str, given: VariantInput) -> None:
    if not given.converted:
        raise ValueError(f"variant {name!r} applies to a method converted from its parent, not to {given.method!r}")


def _default(given: VariantInput) -> tuple[nn.Module, dict[str, Any]]:
    spec = get_method(given.method)
    if spec.trains_directly or (spec.parent is not None and get_method(spec.parent).trains_directly):
        return _direct_deployed(given)
    if given.converted:
        return given.converted_from(given.base)
    if given.levels == given.trained_levels:
        net, facts = given.priced(given.base)
        return net, {**facts, "made": given.made}
    net, facts = given.priced(relevel(given.base, given.levels))
    short = get_method(given.method).short
    return net, {**facts, "made": f"re-levelled from {short}(L={given.trained_levels}) [{given.made}] without "
                                  "fine-tuning"}


def _direct_deployed(given: VariantInput) -> tuple[nn.Module, dict[str, Any]]:
    # base: the SNN trained at this T, in training form. Its deploy form (batch norm folded) and its
    # OneSpike form (PSG with the SNN's own thresholds) are each quantized per channel after folding,
    # as every other deploy form is, so that both run and are priced with the same weights.
    if get_method(given.method).trains_directly:
        net, facts = deploy_direct(given.base)
    else:
        net, facts = derive(given.method, given.base, given.steps), {}
        facts["made"] = f"converted from {get_method(get_method(given.method).parent).short}(T={given.steps}) " \
                        f"[{given.made}], PSG with its own thresholds, no training"
    return quantize_weights(net, given.weight_bits).eval(), {"made": given.made, **facts}


def _finetuned(given: VariantInput) -> tuple[nn.Module, dict[str, Any]]:
    if given.levels != given.trained_levels:
        raise ValueError(f"variant {FINETUNED!r} needs the network fine-tuned at L={given.levels}, got one trained at "
                         f"L={given.trained_levels}")
    return _default(given)


def _pow2(given: VariantInput) -> tuple[nn.Module, dict[str, Any]]:
    _trained_only(POW2, given)
    net, facts = given.priced(pow2_network(given.base))
    return net, {**facts, "made": f"{given.made}; thresholds rounded to powers of two"}


def _psg_mode(name: str, mode: str) -> Builder:
    def build(given: VariantInput) -> tuple[nn.Module, dict[str, Any]]:
        _converted_only(name, given)
        net, facts = given.converted_from(given.pow2_base(), mode=mode)
        return net, {**facts, "mode": mode}

    build.__doc__ = f"The converted network in {mode} PSG mode on the power-of-two-rounded parent."
    return build


def _per_group_binary(given: VariantInput) -> tuple[nn.Module, dict[str, Any]]:
    _converted_only(PER_GROUP_BINARY, given)
    scales = binary_scales(given.steps)
    net, facts = given.converted_from(given.base, group_threshold_scales=scales, group_code="bitplane")
    return net, {**facts, "scales": scales, "code": "bitplane", "levels_coded": 2**given.steps}


def _per_group_calibrated(given: VariantInput) -> tuple[nn.Module, dict[str, Any]]:
    _converted_only(PER_GROUP_CALIBRATED, given)
    images, labels = next(iter(batches(given.train, CALIBRATION_SAMPLES, CALIBRATION_SAMPLES)))
    priced, _ = given.source(given.base)
    name, scales, loss = calibrate_scales(
        lambda s: derive(given.method, priced, given.steps, group_threshold_scales=s), images, labels, given.steps)
    net, facts = given.converted_from(given.base, group_threshold_scales=scales)
    return net, {**facts, "scales": scales, "calibrated": name, "calibration_loss": loss}


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
    Variant(PER_GROUP_BINARY, "OneSpike with a bit-plane code: binary-weighted per-group thresholds θ_i = 2^i·θ₀, "
            "the G spikes the binary digits of one of 2^G levels (Q11)",
            _per_group_binary),
    Variant(FINETUNED, "the quantized ANN fine-tuned from the ANN at the unit's own L (not re-levelled from the "
            "study's L), or a method converted from it: Q13's equal-bits networks", _finetuned),
):
    register_variant(_variant)
