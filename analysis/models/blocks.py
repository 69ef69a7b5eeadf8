"""Building blocks the zoo's architectures share."""

from __future__ import annotations

from torch import nn

from analysis.validate import check_positive_int

__all__ = ["check_width", "conv_bn", "downsample", "scaled_channels", "uses_small_input"]


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


def scaled_channels(channels: int, width: int, base: int = 64) -> int:
    """``channels`` of the standard net (first stage ``base``) for a net whose first stage is ``width``."""
    return max(1, round(channels * width / base))


def check_width(width: object) -> int:
    """A net's ``width`` option (channels of its first stage) as a positive int."""
    return check_positive_int("width", width)


def downsample(size: int) -> tuple[int, int]:
    """``(stride, new_size)`` of a 3x3/pad-1 downsampling conv: stride 2 until the map is 1x1."""
    if size > 1:
        return 2, (size + 1) // 2
    return 1, size


def uses_small_input(image_size: int, small_input: bool | None) -> bool:
    """Whether a net for ``image_size`` uses the small-input stem (default: below 64 pixels)."""
    return image_size < 64 if small_input is None else bool(small_input)
