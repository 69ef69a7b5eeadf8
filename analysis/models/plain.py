"""Plain feed-forward architectures: ``mlp``, ``cnn_small``, ``vgg11``, ``vgg16``."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from analysis.models.blocks import check_width, conv_bn, scaled_channels
from analysis.models.registry import register_model
from analysis.validate import check_positive_int


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



# -- VGG --------------------------------------------------------------------------------------------
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


def _vgg(
    config: list[int | str],
    num_classes: int,
    in_channels: int,
    image_size: int,
    width: int = 64,
    classifier_hidden: Sequence[int] = (),
) -> nn.Module:
    width = check_width(width)
    layers: list[nn.Module] = []
    size, channels = image_size, in_channels
    for i, item in enumerate(config):
        if item == "M":
            continue
        out = scaled_channels(int(item), width)
        pool = i + 1 < len(config) and config[i + 1] == "M" and size >= 2  # stop pooling at 1x1
        layers += conv_bn(channels, out, pool=2 if pool else 1)
        if pool:
            size //= 2
        channels = out
    layers.append(nn.Flatten())
    features = channels * size * size
    for hidden in classifier_hidden:
        hidden = check_positive_int("classifier_hidden", hidden)
        layers += [nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(0.5)]
        features = hidden
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)


@register_model("vgg11")
def vgg11(num_classes: int, in_channels: int, image_size: int, width: int = 64,
          classifier_hidden: Sequence[int] = ()) -> nn.Module:
    """VGG-11 (config A) with average pooling; ``width`` = first-stage channels (64 -> 64..512)."""
    return _vgg(VGG_CONFIGS["vgg11"], num_classes, in_channels, image_size, width, classifier_hidden)


@register_model("vgg16")
def vgg16(num_classes: int, in_channels: int, image_size: int, width: int = 64,
          classifier_hidden: Sequence[int] = ()) -> nn.Module:
    """VGG-16 (config D) with average pooling; ``width`` = first-stage channels (64 -> 64..512)."""
    return _vgg(VGG_CONFIGS["vgg16"], num_classes, in_channels, image_size, width, classifier_hidden)

