"""What conversion rules share: the conversion context, the error, batch-norm folding and the
type -> rule registry that :func:`convert_module` dispatches on.

Both the rules (:mod:`analysis.snn.rules`, the zoo's residual and RepVGG blocks included) and the
ladder (:mod:`analysis.snn.convert`) build on this module; it imports neither.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from analysis.models.residual import fuse_conv_bn
from analysis.registry import TypeRegistry
from analysis.snn.vocabulary import SpikingForm, StepAxis

__all__ = [
    "CONVERTERS",
    "ConversionContext",
    "ConversionError",
    "convert_module",
    "fold_batchnorm",
    "fuse_conv_bn",
    "register_converter",
    "rule_for",
]


class ConversionError(TypeError):
    """A model cannot be converted (an unsupported layer, a missing quantized activation, ...)."""



# -- batch-norm folding ------------------------------------------------------------------------
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode where every BatchNorm directly after a Conv2d/Linear inside
    a Sequential is folded into it (replaced by Identity). Other BatchNorms stay (they are affine
    and convert per step)."""
    model = copy.deepcopy(model).eval()
    _fold_in_place(model)
    return model


def _fold_in_place(module: nn.Module) -> None:
    if isinstance(module, nn.Sequential):
        names = list(module._modules)
        for a, b in itertools.pairwise(names):
            first, second = module._modules[a], module._modules[b]
            if isinstance(first, nn.Conv2d | nn.Linear) and isinstance(second, nn.BatchNorm1d | nn.BatchNorm2d):
                module._modules[a] = fuse_conv_bn(first, second)
                module._modules[b] = nn.Identity()
    for child in module.children():
        _fold_in_place(child)



@dataclass(frozen=True)
class ConversionContext:
    """What the converter knows about the signal flowing into the next module.

    ``form``: the :class:`~analysis.snn.vocabulary.SpikingForm` being made (the IF SNN or OneSpike);
    ``steps``: T or G; ``stepped``: the tensor has a step axis;
    ``spike_scale``: the value of one incoming spike (None for analog values/currents);
    ``step_scales``: per-group spike values relative to ``spike_scale`` (per-group thresholds);
    ``mode``: PSG mode; ``group_threshold_scales``: multipliers of θ per group, or None;
    ``group_code``: how per-group thresholds code the G spikes (:attr:`PSGNeuron.CODES`).
    """

    form: SpikingForm
    steps: int
    stepped: bool = False
    spike_scale: float | None = None
    step_scales: tuple[float, ...] | None = None
    mode: str = "exact"
    group_threshold_scales: tuple[float, ...] | None = None
    group_code: str = "rate"

    @property
    def axis(self) -> StepAxis:
        """The axis the steps run on (T timesteps for the IF SNN, G groups for OneSpike)."""
        return self.form.axis


Rule = Callable[[nn.Module, ConversionContext, Callable], tuple[nn.Module, ConversionContext]]
#: Conversion rules by module type: ``rule(module, ctx, convert) -> (new_module, ctx_after)``.
CONVERTERS: TypeRegistry[Rule] = TypeRegistry("conversion rule")


def register_converter(*types: type, replace: bool = False) -> Callable[[Rule], Rule]:
    """Register a conversion rule for module types (users may add their own). A type that already
    has a rule is refused unless ``replace=True``."""
    return CONVERTERS.register(*types, replace=replace)


def rule_for(module: nn.Module) -> Rule | None:
    """The conversion rule of ``module``'s type, or of the nearest base class that has one; None if
    there is none. A subclass that overrides ``forward`` computes something its base's rule does not
    know, so it is refused (a :class:`ConversionError`) rather than converted as its base."""
    found = CONVERTERS.lookup(type(module))
    if found is None:
        return None
    cls, rule = found
    if type(module).forward is not cls.forward:
        raise ConversionError(
            f"{type(module).__name__} subclasses {cls.__name__} but overrides forward(): the "
            f"{cls.__name__} conversion rule would ignore your forward. Register a rule for it with "
            f"analysis.snn.register_converter({type(module).__name__}) or give it a to_spiking(ctx, "
            "convert) method"
        )
    return rule


def convert_module(module: nn.Module, ctx: ConversionContext) -> tuple[nn.Module, ConversionContext]:
    """Convert one module given the incoming signal; dispatch on type (most specific first).

    The converted modules inherit ``module``'s ``source_name`` (the layer of the user's model they
    came from) unless a nested conversion already named them."""
    if hasattr(module, "to_spiking"):
        new, ctx = module.to_spiking(ctx, convert_module)
    else:
        rule = rule_for(module)
        if rule is None:
            raise ConversionError(
                f"cannot convert layer {getattr(module, 'source_name', '?')} of type {type(module).__name__}: "
                f"supported types are {sorted(CONVERTERS.names())}; register a rule with "
                "analysis.snn.register_converter(YourType) or give the module a to_spiking(ctx, convert) method"
            )
        new, ctx = rule(module, ctx, convert_module)
    name = module.__dict__.get("source_name")
    if name is not None:
        for m in new.modules():
            if "source_name" not in m.__dict__:
                m.source_name = name
    return new, ctx
