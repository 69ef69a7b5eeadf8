"""RepVGG-A (Ding et al., CVPR 2021) with multi-branch training blocks and ``reparameterize()``."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from analysis.models.blocks import check_width, downsample, uses_small_input
from analysis.models.registry import register_model
from analysis.models.residual import ResidualAdd, fuse_conv_bn
from analysis.validate import check_positive_int


# -- RepVGG -----------------------------------------------------------------------------------------
def _branch_kernel(branch: nn.Sequential) -> tuple[Tensor, Tensor]:
    """Weight and bias of a ``conv [-> BN]`` branch with the BN (if not already folded) folded in."""
    conv, bn = branch.conv, branch.bn
    if isinstance(bn, nn.BatchNorm2d):
        conv = fuse_conv_bn(conv, bn)
    bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels, dtype=conv.weight.dtype,
                                                                device=conv.weight.device)
    return conv.weight.detach(), bias.detach()


class RepVGGBlock(nn.Module):
    """RepVGG block (Ding et al., CVPR 2021).

    Training form: ``relu(BN(conv3x3(x)) + BN(conv1x1(x)) [+ BN(x)])``, the identity branch only
    when ``in == out`` and ``stride == 1``; the sums are :class:`ResidualAdd` modules.
    :meth:`reparameterize` (in place, uses the BNs' running statistics, i.e. eval-mode semantics)
    fuses the branches into one 3x3 conv with bias: ``relu(conv3x3'(x))``.

    Conversion (``to_spiking``) always converts the re-parameterized form (a copy is
    re-parameterized when needed, the input is not changed): a plain conv -> neuron layer.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.conv3 = nn.Sequential(OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            bn=nn.BatchNorm2d(out_channels),
        ))
        self.conv1 = nn.Sequential(OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
            bn=nn.BatchNorm2d(out_channels),
        ))
        self.add = ResidualAdd()
        has_identity = in_channels == out_channels and stride == 1
        self.identity = nn.BatchNorm2d(in_channels) if has_identity else None
        self.add_identity = ResidualAdd() if has_identity else None
        self.reparam = None  # the fused 3x3 conv, after reparameterize()
        self.act = nn.ReLU()

    @property
    def reparameterized(self) -> bool:
        return self.reparam is not None

    def forward(self, x: Tensor) -> Tensor:
        if self.reparam is not None:
            return self.act(self.reparam(x))
        y = self.add(self.conv3(x), self.conv1(x))
        if self.identity is not None:
            y = self.add_identity(y, self.identity(x))
        return self.act(y)

    @torch.no_grad()
    def fused_kernel(self) -> tuple[Tensor, Tensor]:
        """``(weight [out, in, 3, 3], bias [out])`` of the equivalent single 3x3 conv."""
        weight, bias = _branch_kernel(self.conv3)
        w1, b1 = _branch_kernel(self.conv1)
        weight = weight + nn.functional.pad(w1, [1, 1, 1, 1])  # 1x1 kernel at the 3x3 centre
        bias = bias + b1
        if self.identity is not None:
            bn = self.identity
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            eye = torch.zeros_like(weight)
            idx = torch.arange(self.in_channels)
            eye[idx, idx, 1, 1] = 1.0
            weight = weight + eye * scale.to(weight.dtype).reshape(-1, 1, 1, 1)
            bias = bias + (bn.bias - bn.running_mean * scale).to(bias.dtype)
        return weight, bias

    def reparameterize(self) -> RepVGGBlock:
        """Fuse the branches into one 3x3 conv with bias (in place; returns ``self``)."""
        if self.reparam is not None:
            return self
        weight, bias = self.fused_kernel()
        conv = nn.Conv2d(self.in_channels, self.out_channels, 3, stride=self.stride, padding=1, bias=True)
        conv.weight = nn.Parameter(weight.clone())
        conv.bias = nn.Parameter(bias.clone())
        self.reparam = conv
        self.conv3 = self.conv1 = self.identity = None
        self.add = self.add_identity = None
        return self

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}, reparameterized={self.reparameterized}"


class RepVGG(nn.Sequential):
    """A RepVGG network: ``stage0..stage4`` of :class:`RepVGGBlock`, global average pool, Linear."""

    def reparameterize(self) -> RepVGG:
        """Re-parameterize every block in place (inference form); returns ``self``."""
        for m in self.modules():
            if isinstance(m, RepVGGBlock):
                m.reparameterize()
        return self


REPVGG_VARIANTS: dict[str, tuple[float, float]] = {"repvgg_a0": (0.75, 2.5), "repvgg_a1": (1.0, 2.5),
                                                   "repvgg_a2": (1.5, 2.75)}


def _repvgg(
    num_classes: int,
    in_channels: int,
    image_size: int,
    a: float,
    b: float,
    width: int = 64,
    blocks: Sequence[int] = (1, 2, 4, 14, 1),
    small_input: bool | None = None,
) -> RepVGG:
    width = check_width(width)
    if len(blocks) != 5:
        raise ValueError(f"blocks must give 5 stage depths, got {tuple(blocks)!r}")
    blocks = [check_positive_int("blocks", n) for n in blocks]
    if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"width multipliers a, b must be finite and > 0, got a={a!r}, b={b!r}")
    widths = [min(width, int(width * a)), int(width * a), int(2 * width * a), int(4 * width * a), int(8 * width * b)]
    widths = [max(1, w) for w in widths]
    small = uses_small_input(image_size, small_input)
    parts: OrderedDict[str, nn.Module] = OrderedDict()
    size, channels = image_size, in_channels
    for stage, (count, out) in enumerate(zip(blocks, widths, strict=True)):
        layer = nn.Sequential()
        for j in range(count):
            stride = 1
            if j == 0 and not (stage == 0 and small):  # small inputs: no downsampling in stage 0
                stride, size = downsample(size)
            layer.add_module(str(j), RepVGGBlock(channels, out, stride))
            channels = out
        parts[f"stage{stage}"] = layer
    parts["pool"] = nn.AdaptiveAvgPool2d(1)
    parts["flatten"] = nn.Flatten()
    parts["fc"] = nn.Linear(channels, num_classes)
    return RepVGG(parts)


def _register_repvgg(name: str, a: float, b: float) -> None:
    def builder(num_classes: int, in_channels: int, image_size: int, width: int = 64,
                blocks: Sequence[int] = (1, 2, 4, 14, 1), small_input: bool | None = None) -> RepVGG:
        return _repvgg(num_classes, in_channels, image_size, a, b, width, blocks, small_input)

    builder.__name__ = name
    builder.__doc__ = (
        f"RepVGG-{name[-2:].upper()} (a={a}, b={b}): stages of {{1, 2, 4, 14, 1}} blocks, widths "
        "[min(w, w·a), w·a, 2w·a, 4w·a, 8w·b] for ``width`` w (64). ``small_input`` (default "
        "``image_size < 64``): stage 0 keeps stride 1. Call ``model.reparameterize()`` for inference."
    )
    register_model(name)(builder)


for _name, (_a, _b) in REPVGG_VARIANTS.items():
    _register_repvgg(_name, _a, _b)
