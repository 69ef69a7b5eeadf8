"""Model zoo with a registry: ``build_model(name, num_classes, in_channels, image_size)``.

Every model is a plain ANN with ``nn.ReLU`` activations and ``nn.AvgPool2d`` pooling, so the
conversion ladder (``analysis.convert``) and the event counter see ordinary layers:

- pooling sits **between** a conv's batch norm and its activation (conv -> BN -> avgpool -> ReLU),
  so every spiking layer feeds binary spikes to the next conv (pooling acts on currents, which is
  linear and exact);
- the classifier is a Linear layer whose output is never quantized;
- residual additions are explicit modules (:class:`~analysis.layers.ResidualAdd` inside a
  :class:`~analysis.layers.ResidualBlock`), so conversion and counting see them. A block converts
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

import copy
import difflib
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from analysis.convert import ConversionContext, fuse_conv_bn
from analysis.layers import ResidualAdd, ResidualBlock
from analysis.neurons import check_positive_int

__all__ = [
    "MODELS",
    "BasicBlock",
    "RepVGG",
    "RepVGGBlock",
    "available_models",
    "build_model",
    "register_model",
]

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


# -- helpers ----------------------------------------------------------------------------------------
def _scaled(channels: int, width: int, base: int = 64) -> int:
    """``channels`` of the standard net (first stage ``base``) for a net whose first stage is ``width``."""
    return max(1, round(channels * width / base))


def _check_width(width: object) -> int:
    return check_positive_int("width", width)


def _down(size: int) -> tuple[int, int]:
    """``(stride, new_size)`` of a 3x3/pad-1 downsampling conv: stride 2 until the map is 1x1."""
    if size > 1:
        return 2, (size + 1) // 2
    return 1, size


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
    width = _check_width(width)
    layers: list[nn.Module] = []
    size, channels = image_size, in_channels
    for i, item in enumerate(config):
        if item == "M":
            continue
        out = _scaled(int(item), width)
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
                stride, size = _down(size)
            layer.add_module(str(j), BasicBlock(channels, out, stride))
            channels = out
        parts[f"layer{stage + 1}"] = layer
    parts["pool"] = nn.AdaptiveAvgPool2d(1)
    parts["flatten"] = nn.Flatten()
    parts["fc"] = nn.Linear(channels, num_classes)
    return nn.Sequential(parts)


def _small_input(image_size: int, small_input: bool | None) -> bool:
    return image_size < 64 if small_input is None else bool(small_input)


@register_model("resnet18")
def resnet18(num_classes: int, in_channels: int, image_size: int, width: int = 64,
             small_input: bool | None = None) -> nn.Module:
    """ResNet-18 (BasicBlock [2, 2, 2, 2], channels width·[1, 2, 4, 8]).

    ``small_input`` (default: ``image_size < 64``) uses a 3x3/1 stem without pooling; otherwise
    the ImageNet 7x7/2 stem with a 3x3/2 *average* pool.
    """
    width = _check_width(width)
    return _resnet([2, 2, 2, 2], [width, 2 * width, 4 * width, 8 * width], num_classes, in_channels,
                   image_size, _small_input(image_size, small_input))


@register_model("resnet34")
def resnet34(num_classes: int, in_channels: int, image_size: int, width: int = 64,
             small_input: bool | None = None) -> nn.Module:
    """ResNet-34 (BasicBlock [3, 4, 6, 3], channels width·[1, 2, 4, 8]); stem as :func:`resnet18`."""
    width = _check_width(width)
    return _resnet([3, 4, 6, 3], [width, 2 * width, 4 * width, 8 * width], num_classes, in_channels,
                   image_size, _small_input(image_size, small_input))


@register_model("resnet20")
def resnet20(num_classes: int, in_channels: int, image_size: int, width: int = 16) -> nn.Module:
    """CIFAR ResNet-20 (He et al. 2016): 3x3 stem, 3 stages x 3 BasicBlocks, width·[1, 2, 4]
    channels (16/32/64), 1x1 conv + BN downsampling shortcuts (option B)."""
    width = _check_width(width)
    return _resnet([3, 3, 3], [width, 2 * width, 4 * width], num_classes, in_channels, image_size, True)


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

    def to_spiking(self, ctx: ConversionContext, convert) -> tuple[nn.Module, ConversionContext]:
        block = self if self.reparam is not None else copy.deepcopy(self).reparameterize()
        return convert(nn.Sequential(OrderedDict(conv=block.reparam, act=block.act)), ctx)

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
    width = _check_width(width)
    if len(blocks) != 5:
        raise ValueError(f"blocks must give 5 stage depths, got {tuple(blocks)!r}")
    blocks = [check_positive_int("blocks", n) for n in blocks]
    if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"width multipliers a, b must be finite and > 0, got a={a!r}, b={b!r}")
    widths = [min(width, int(width * a)), int(width * a), int(2 * width * a), int(4 * width * a), int(8 * width * b)]
    widths = [max(1, w) for w in widths]
    small = _small_input(image_size, small_input)
    parts: OrderedDict[str, nn.Module] = OrderedDict()
    size, channels = image_size, in_channels
    for stage, (count, out) in enumerate(zip(blocks, widths, strict=True)):
        layer = nn.Sequential()
        for j in range(count):
            stride = 1
            if j == 0 and not (stage == 0 and small):  # small inputs: no downsampling in stage 0
                stride, size = _down(size)
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
