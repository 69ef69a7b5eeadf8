"""Model zoo with a registry: ``build_model(name, num_classes, in_channels, image_size)``.

Every model is a plain ANN with ``nn.ReLU`` activations and ``nn.AvgPool2d`` pooling, so the
conversion ladder (:mod:`analysis.snn`) and the event counter see ordinary layers:

- pooling sits **between** a conv's batch norm and its activation (conv -> BN -> avgpool -> ReLU),
  so every spiking layer feeds binary spikes to the next conv (pooling acts on currents, which is
  linear and exact);
- the classifier is a Linear layer whose output is never quantized;
- residual additions are explicit modules (:class:`~analysis.snn.modules.ResidualAdd` inside a
  :class:`~analysis.snn.modules.ResidualBlock`), so conversion and counting see them. A block converts
  itself: out = neuron(main_current + shortcut_current); a spike is worth θ, an identity shortcut
  carries θ·s;
- there is no max pooling anywhere (the max of spike counts is not the count of a max).

The zoo (every model builds for any ``in_channels`` / ``image_size`` / ``num_classes``; ``width``
shrinks channels for fast tests):

- ``vgg11``, ``vgg16``: 3x3 conv -> BN -> [2x2 avgpool] -> ReLU stacks; pooling stops once the map
  is 1x1 (small inputs); the classifier is ``Flatten -> Linear`` over the final map (optional
  hidden layers with ``classifier_hidden``). ``width`` = first-stage channels (64).
- ``resnet18``, ``resnet34``: ImageNet-style BasicBlock ResNets. ``image_size >= 64``: 7x7/2 stem
  conv -> BN -> 3x3/2 avgpool -> ReLU (avg pooling instead of the usual max pooling, placed before
  the ReLU); smaller inputs: 3x3/1 stem, no pooling. Global average pooling of the last block's
  output (spikes after conversion: pooled spikes are fractional, exact by linearity) -> Linear.
- ``resnet20``: CIFAR-style (3 stages x 3 blocks, 16/32/64 channels).
- ResNet downsampling shortcuts are 1x1 conv (stride 2) + BN ("option B"), everywhere.
- ``repvgg_a0`` (and ``repvgg_a1``, ``repvgg_a2``): RepVGG-A (Ding et al. 2021), stages of
  [1, 2, 4, 14, 1] blocks, widths ``[min(64, 64a), 64a, 128a, 256a, 512b]``; training-time blocks
  are 3x3 conv+BN + 1x1 conv+BN (+ identity BN) summed, then ReLU; ``model.reparameterize()`` fuses
  every block into one 3x3 conv with bias (in place, for inference); conversion always uses the
  re-parameterized form.

Stride-2 stages (ResNet, RepVGG) keep stride 1 once the map is 1x1.

Add a model with ``@register_model("name")`` on a function
``(num_classes, in_channels, image_size, **options) -> nn.Module``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from analysis.registry import Registry
from analysis.validate import check_positive_int

__all__ = ["MODELS", "available_models", "build_model", "register_model"]

Builder = Callable[..., nn.Module]
#: name -> builder ``(num_classes, in_channels, image_size, **options) -> nn.Module``
MODELS: Registry[Builder] = Registry("architecture")


def register_model(name: str, replace: bool = False) -> Callable[[Builder], Builder]:
    """Register a model builder under ``name`` (decorator); a taken name is refused unless
    ``replace=True``."""
    return MODELS.register(name, replace=replace)


def available_models() -> list[str]:
    """Registered architecture names, sorted."""
    return sorted(MODELS.names())


def build_model(
    name: str, num_classes: int = 10, in_channels: int = 1, image_size: int = 8, **options
) -> nn.Module:
    """Build a registered architecture for ``in_channels`` x ``image_size`` x ``image_size`` input."""
    builder = MODELS.get(name)
    num_classes = check_positive_int("num_classes", num_classes)
    in_channels = check_positive_int("in_channels", in_channels)
    image_size = check_positive_int("image_size", image_size)
    model = builder(num_classes, in_channels, image_size, **options)
    model.arch_name = name  # recorded in checkpoints, checked when loading
    return model
