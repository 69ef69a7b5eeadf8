"""Model zoo with a registry: ``build_model(name, num_classes, in_channels, image_size)``.

Every model is a plain ANN with ``nn.ReLU`` activations and ``nn.AvgPool2d`` pooling, so the
conversion ladder (``analysis.convert``) and the event counter see ordinary layers:

- pooling sits **between** a conv's batch norm and its activation (conv -> BN -> avgpool -> ReLU),
  so every spiking layer feeds binary spikes to the next conv (pooling acts on currents, which is
  linear and exact);
- the classifier is a Linear layer whose output is never quantized.

Add a model with ``@register_model("name")`` on a function
``(num_classes, in_channels, image_size, **options) -> nn.Module``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from torch import nn

from analysis.neurons import check_positive_int

__all__ = ["MODELS", "available_models", "build_model", "register_model"]

Builder = Callable[..., nn.Module]
#: name -> builder ``(num_classes, in_channels, image_size, **options) -> nn.Module``
MODELS: dict[str, Builder] = {}


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Register a model builder under ``name`` (decorator)."""

    def deco(builder: Builder) -> Builder:
        if name in MODELS:
            raise ValueError(f"model {name!r} is already registered")
        MODELS[name] = builder
        return builder

    return deco


def available_models() -> list[str]:
    """Registered architecture names, sorted."""
    return sorted(MODELS)


def unknown_name_message(kind: str, name: str, known: list[str]) -> str:
    """'unknown X 'name'; did you mean ...? Known: ...' for registries across the toolkit."""
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(known)}"


def build_model(
    name: str, num_classes: int = 10, in_channels: int = 1, image_size: int = 8, **options
) -> nn.Module:
    """Build a registered architecture for ``in_channels`` x ``image_size`` x ``image_size`` input."""
    if name not in MODELS:
        raise ValueError(unknown_name_message("architecture", name, available_models()))
    num_classes = check_positive_int("num_classes", num_classes)
    in_channels = check_positive_int("in_channels", in_channels)
    image_size = check_positive_int("image_size", image_size)
    model = MODELS[name](num_classes, in_channels, image_size, **options)
    model.arch_name = name  # recorded in checkpoints, checked when loading
    return model


def conv_bn(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, pool: int = 1) -> list[nn.Module]:
    """conv (no bias: BN supplies it) -> BN -> [avgpool] -> ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch),
    ]
    if pool > 1:
        layers.append(nn.AvgPool2d(pool))
    layers.append(nn.ReLU())
    return layers


@register_model("mlp")
def mlp(num_classes: int, in_channels: int, image_size: int, hidden: tuple[int, ...] = (128, 64)) -> nn.Module:
    """Flatten -> [Linear -> BN -> ReLU] x len(hidden) -> Linear."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_channels * image_size * image_size
    for h in hidden:
        layers += [nn.Linear(width, h, bias=False), nn.BatchNorm1d(h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


@register_model("cnn_small")
def cnn_small(num_classes: int, in_channels: int, image_size: int, width: int = 16) -> nn.Module:
    """Three 3x3 conv blocks (width, 2·width, 4·width), two 2x2 average pools, a linear classifier.

    At 8x8 input (digits) the classifier sees 4·width x 2 x 2 features.
    """
    if image_size < 4:
        raise ValueError(f"cnn_small needs image_size >= 4 (two 2x2 pools), got {image_size}")
    final = image_size // 4
    return nn.Sequential(
        *conv_bn(in_channels, width),
        *conv_bn(width, 2 * width, pool=2),
        *conv_bn(2 * width, 4 * width, pool=2),
        nn.Flatten(),
        nn.Linear(4 * width * final * final, num_classes),
    )
