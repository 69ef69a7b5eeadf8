"""ResNets built from explicit residual blocks: ``resnet18``, ``resnet34``, ``resnet20``."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from analysis.models.blocks import check_width, downsample, uses_small_input
from analysis.models.registry import register_model
from analysis.models.residual import ResidualBlock


# -- ResNet -----------------------------------------------------------------------------------------
class BasicBlock(ResidualBlock):
    """ResNet BasicBlock: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    ``shortcut`` is the identity, or a 1x1 conv (``stride``) + BN when the shape changes. All
    parts are submodules (``main``, ``shortcut``, ``add``: :class:`ResidualAdd`, ``act``:
    ``nn.ReLU``); conversion (inherited ``to_spiking``): out = neuron(main_current +
    shortcut_current); a spike is worth θ, an identity shortcut carries θ·s.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        main = nn.Sequential(OrderedDict(
            conv1=nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            bn1=nn.BatchNorm2d(out_channels),
            relu1=nn.ReLU(),
            conv2=nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            bn2=nn.BatchNorm2d(out_channels),
        ))
        shortcut = None
        if stride != 1 or in_channels != out_channels:
            shortcut = nn.Sequential(OrderedDict(
                conv=nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                bn=nn.BatchNorm2d(out_channels),
            ))
        super().__init__(main, shortcut, nn.ReLU())


def _resnet(
    blocks: Sequence[int],
    widths: Sequence[int],
    num_classes: int,
    in_channels: int,
    image_size: int,
    small_input: bool,
) -> nn.Module:
    size = image_size
    if small_input:
        stem = nn.Sequential(OrderedDict(
            conv=nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
            bn=nn.BatchNorm2d(widths[0]),
            relu=nn.ReLU(),
        ))
    else:
        stem = nn.Sequential(OrderedDict(
            conv=nn.Conv2d(in_channels, widths[0], 7, stride=2, padding=3, bias=False),
            bn=nn.BatchNorm2d(widths[0]),
            pool=nn.AvgPool2d(3, stride=2, padding=1),  # not max pooling: it would not convert exactly
            relu=nn.ReLU(),
        ))
        size = ((size + 1) // 2 + 1) // 2
    parts: OrderedDict[str, nn.Module] = OrderedDict(stem=stem)
    channels = widths[0]
    for stage, (count, out) in enumerate(zip(blocks, widths, strict=True)):
        layer = nn.Sequential()
        for j in range(count):
            stride = 1
            if stage > 0 and j == 0:
                stride, size = downsample(size)
            layer.add_module(str(j), BasicBlock(channels, out, stride))
            channels = out
        parts[f"layer{stage + 1}"] = layer
    parts["pool"] = nn.AdaptiveAvgPool2d(1)
    parts["flatten"] = nn.Flatten()
    parts["fc"] = nn.Linear(channels, num_classes)
    return nn.Sequential(parts)


@register_model("resnet18")
def resnet18(num_classes: int, in_channels: int, image_size: int, width: int = 64,
             small_input: bool | None = None) -> nn.Module:
    """ResNet-18 (BasicBlock [2, 2, 2, 2], channels width·[1, 2, 4, 8]).

    ``small_input`` (default: ``image_size < 64``) uses a 3x3/1 stem without pooling; otherwise
    the ImageNet 7x7/2 stem with a 3x3/2 *average* pool.
    """
    width = check_width(width)
    return _resnet([2, 2, 2, 2], [width, 2 * width, 4 * width, 8 * width], num_classes, in_channels,
                   image_size, uses_small_input(image_size, small_input))


@register_model("resnet34")
def resnet34(num_classes: int, in_channels: int, image_size: int, width: int = 64,
             small_input: bool | None = None) -> nn.Module:
    """ResNet-34 (BasicBlock [3, 4, 6, 3], channels width·[1, 2, 4, 8]); stem as :func:`resnet18`."""
    width = check_width(width)
    return _resnet([3, 4, 6, 3], [width, 2 * width, 4 * width, 8 * width], num_classes, in_channels,
                   image_size, uses_small_input(image_size, small_input))


@register_model("resnet20")
def resnet20(num_classes: int, in_channels: int, image_size: int, width: int = 16) -> nn.Module:
    """CIFAR ResNet-20 (He et al. 2016): 3x3 stem, 3 stages x 3 BasicBlocks, width·[1, 2, 4]
    channels (16/32/64), 1x1 conv + BN downsampling shortcuts (option B)."""
    width = check_width(width)
    return _resnet([3, 3, 3], [width, 2 * width, 4 * width], num_classes, in_channels, image_size, True)

