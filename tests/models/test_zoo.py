"""Model zoo: every architecture builds, converts to IF and OneSpike, and OneSpike(G) equals QCFS(L=G).

Equivalence checks run in float64 on random weights with randomized batch-norm statistics (taken
from a batch, then perturbed) and thresholds calibrated on that batch; small ``width`` options keep
them fast. The residual rule is checked on a hand-built block against an independent reference.
"""

import copy

import pytest
import torch
from torch import nn

from analysis.models import BasicBlock, RepVGG, RepVGGBlock, available_models, build_model
from analysis.snn import (
    PSGLayer,
    RepeatGroups,
    RepeatSteps,
    ResidualAdd,
    ResidualBlock,
    ShortcutScale,
    Stepwise,
    to_binary,
    to_if_snn,
    to_onespike,
    to_quantized,
)
from analysis.snn.neurons import QCFS, BinaryActivation, IFNeuron, PSGNeuron

#: zoo model -> small options for fast tests (RepVGG needs width 8: at 4 its 3-channel stages lose the input)
ZOO = {
    "vgg11": {"width": 8},
    "vgg16": {"width": 8},
    "resnet18": {"width": 4},
    "resnet34": {"width": 4},
    "resnet20": {"width": 4},
    "repvgg_a0": {"width": 8},
}
SHAPES = [(1, 8), (3, 32)]  # (in_channels, image_size)


@torch.no_grad()
def randomize_bn(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Random affine BN parameters, running statistics from ``x`` then perturbed; eval mode."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)]
    for m in bns:
        m.momentum = 1.0  # running stats := this batch's stats
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.3, 0.3)
    model.train()
    model(x)
    for m in bns:
        m.running_mean.add_(torch.empty_like(m.running_mean).uniform_(-0.1, 0.1))
        m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.8, 1.25))
    return model.eval()


def quantized(arch: str, in_channels: int, size: int, levels: int = 4, batch: int = 8, **options):
    x = torch.rand(batch, in_channels, size, size)
    ann = randomize_bn(build_model(arch, 10, in_channels, size, **{**ZOO.get(arch, {}), **options}), x)
    qann = to_quantized(ann, levels, "qcfs", calibration_data=x).double().eval()
    return ann, qann, x.double()


def test_registry_lists_the_zoo():
    assert set(ZOO) <= set(available_models())
    assert {"repvgg_a1", "repvgg_a2"} <= set(available_models())


@pytest.mark.parametrize("in_channels,size", SHAPES)
@pytest.mark.parametrize("arch", list(ZOO))
def test_zoo_onespike_equals_qcfs_and_if_runs(arch, in_channels, size):
    ann, qann, x = quantized(arch, in_channels, size)
    # to_quantized reaches every activation, including those inside residual / RepVGG blocks
    relus = sum(type(m) is nn.ReLU for m in ann.modules())
    assert relus > 0 and sum(isinstance(m, QCFS) for m in qann.modules()) == relus
    assert not any(isinstance(m, nn.MaxPool2d | nn.AdaptiveMaxPool2d) for m in ann.modules())
    expected = qann(x)
    assert expected.shape == (8, 10)
    assert expected.std(dim=0).max() > 1e-3  # the logits depend on the input: the check is not vacuous
    onespike = to_onespike(qann, 4)
    assert torch.allclose(onespike(x), expected, rtol=0, atol=1e-9)
    snn = to_if_snn(qann, 4)
    out = snn(x)
    assert out.shape == (8, 10) and torch.isfinite(out).all()
    psg = [m for m in onespike.modules() if isinstance(m, PSGNeuron)]
    ifs = [m for m in snn.modules() if isinstance(m, IFNeuron)]
    assert len(psg) == len(ifs) == relus  # one spiking layer per activation
    assert not any(isinstance(m, nn.BatchNorm2d) for m in onespike.modules())  # every BN folded


@pytest.mark.parametrize("arch", ["resnet20", "repvgg_a0"])
def test_onespike_from_if_snn_of_residual_net_equals_qcfs(arch):
    _, qann, x = quantized(arch, 1, 8)
    via_if = to_onespike(to_if_snn(qann, 4), 4)
    assert torch.allclose(via_if(x), qann(x), rtol=0, atol=1e-9)


@pytest.mark.parametrize("arch", ["resnet20", "repvgg_a0"])
def test_residual_nets_run_in_every_layout(arch):
    _, qann, x = quantized(arch, 1, 8)
    expected = qann(x)
    for layout in ("grouped", "onepass"):
        assert torch.allclose(to_onespike(qann, 4, layout=layout)(x), expected, rtol=0, atol=1e-9), layout
    sequence = to_if_snn(qann, 4, layout="sequence")(x)
    assert torch.allclose(to_if_snn(qann, 4, layout="stream")(x), sequence, rtol=0, atol=1e-9)


def test_residual_net_conversion_keeps_residual_adds_and_shortcut_scales():
    _, qann, x = quantized("resnet20", 1, 8)
    net = to_onespike(qann, 4)
    blocks = [m for m in net.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 9 and all(isinstance(b.add, ResidualAdd) for b in blocks)
    assert all(isinstance(b.act, PSGLayer) and b.act.grouped_input for b in blocks)
    identity = [b for b in blocks if isinstance(b.shortcut, Stepwise) and isinstance(b.shortcut.module, ShortcutScale)]
    assert len(identity) == 7  # 9 blocks, 2 with conv shortcuts
    # an identity shortcut carries θ·s: its scale is the threshold of the neuron feeding the block
    thetas = [float(m.threshold.detach()) for m in qann.modules() if isinstance(m, QCFS)]
    scales = [float(b.shortcut.module.scale) for b in identity]
    assert all(any(abs(s - t) < 1e-6 for t in thetas) for s in scales)
    # per-group thresholds flow through the identity shortcut as step scales
    pg = to_onespike(qann, 4, group_threshold_scales=[2.0, 1.0, 1.0, 0.5], layout="grouped")
    pg_identity = [m for m in pg.modules() if isinstance(m, Stepwise) and isinstance(m.module, ShortcutScale)]
    assert pg_identity and all(m.step_scales.tolist() == [2.0, 1.0, 1.0, 0.5] for m in pg_identity)
    grouped = pg(x)
    pg.layout = "onepass"  # the spike-count layout weights the groups in the PSG layer instead
    assert grouped.shape == (8, 10) and torch.allclose(pg(x), grouped, rtol=0, atol=1e-9)


# -- a hand-built residual block against an independent reference ---------------------------------
def tiny_residual(identity: bool) -> nn.Sequential:
    """stem conv -> BN -> ReLU -> block(conv -> BN -> ReLU -> conv -> BN, shortcut) -> ReLU -> GAP -> Linear."""
    main = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.Conv2d(3, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3))
    shortcut = None if identity else nn.Sequential(nn.Conv2d(3, 3, 1, bias=False), nn.BatchNorm2d(3))
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3), nn.ReLU(),
        ResidualBlock(main, shortcut, nn.ReLU()),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4),
    )


def reference_spiking(qann: nn.Sequential, identity: bool, method: str, steps: int, x: torch.Tensor):
    """By hand: each layer an IF neuron (θ = λ, v_init = ½θ); OneSpike feeds the step-average current."""
    stem_conv, stem_bn, q0, block, pool, flat, fc = qann
    main_conv1, main_bn1, q1, main_conv2, main_bn2 = block.main
    thetas = [float(q.threshold) for q in (q0, q1, block.act)]

    def neuron(current, theta):  # current [S, B, ...] -> spikes worth theta
        if method == "onespike":  # PSG: the constant group-average current for G groups
            current = current.mean(0, keepdim=True).expand_as(current)
        return IFNeuron(theta, steps, 0.5)(current.contiguous()) * theta

    def each(f, t):
        return torch.stack([f(s) for s in t])

    a0 = neuron(stem_bn(stem_conv(x)).unsqueeze(0).expand(steps, -1, -1, -1, -1), thetas[0])
    a1 = neuron(each(lambda s: main_bn1(main_conv1(s)), a0), thetas[1])
    main = each(lambda s: main_bn2(main_conv2(s)), a1)
    short = a0 if identity else each(lambda s: block.shortcut(s), a0)
    a2 = neuron(main + short, thetas[2])  # the add on the currents, before the block's neuron
    return each(lambda s: fc(flat(pool(s))), a2).mean(0)


LAYOUTS = [("if", "sequence"), ("if", "stream"), ("onespike", "grouped"), ("onespike", "onepass")]


def convert(qann, method, layout, steps=4):
    return to_if_snn(qann, steps, layout=layout) if method == "if" else to_onespike(qann, steps, layout=layout)


@pytest.mark.parametrize("identity", [True, False])
@pytest.mark.parametrize("method,layout", LAYOUTS)
def test_hand_built_residual_block_matches_reference(identity, method, layout):
    x = torch.rand(6, 1, 6, 6)
    ann = randomize_bn(tiny_residual(identity), x)
    qann = to_quantized(ann, 4, calibration_data=x).double().eval()
    x = x.double()
    net = convert(qann, method, layout)
    with torch.no_grad():
        expected = reference_spiking(qann, identity, method, 4, x)
    assert torch.allclose(net(x), expected, rtol=0, atol=1e-9)
    if method == "onespike":
        assert torch.allclose(net(x), qann(x), rtol=0, atol=1e-9)


@pytest.mark.parametrize("method,layout", LAYOUTS)
def test_residual_block_on_analog_input_repeats_the_shortcut(method, layout):
    # A block right on the pixels: the identity shortcut is analog (the same current every step)
    block = ResidualBlock(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 3, padding=1)),
                          None, nn.ReLU())
    ann = nn.Sequential(block, nn.Flatten(), nn.Linear(2 * 5 * 5, 3)).eval()
    x = torch.rand(4, 2, 5, 5)
    qann = to_quantized(ann, 4, calibration_data=x).double().eval()
    x = x.double()
    net = convert(qann, method, layout)
    converted = next(m for m in net.modules() if isinstance(m, ResidualBlock))
    assert isinstance(converted.shortcut, RepeatSteps if method == "if" else RepeatGroups)
    assert net(x).shape == (4, 3)
    if method == "onespike":
        assert torch.allclose(net(x), qann(x), rtol=0, atol=1e-9)
    else:  # IF: the first neuron sees a constant current, so the whole block equals the IF reference
        conv1, q1, conv2 = qann[0].main
        t1, t2 = float(q1.threshold.detach()), float(qann[0].act.threshold.detach())
        s1 = IFNeuron(t1, 4, 0.5)(conv1(x).unsqueeze(0).expand(4, -1, -1, -1, -1).contiguous())
        cur = torch.stack([conv2(s * t1) for s in s1]) + x
        s2 = IFNeuron(t2, 4, 0.5)(cur) * t2
        expected = torch.stack([qann[2](qann[1](s)) for s in s2]).mean(0)
        assert torch.allclose(net(x), expected, rtol=0, atol=1e-9)


def test_basic_block_shortcut_choice():
    assert isinstance(BasicBlock(8, 8).shortcut, nn.Identity)
    down = BasicBlock(8, 16, stride=2).shortcut
    assert isinstance(down.conv, nn.Conv2d) and down.conv.kernel_size == (1, 1) and down.conv.stride == (2, 2)
    assert isinstance(down.bn, nn.BatchNorm2d)


# -- RepVGG ---------------------------------------------------------------------------------------
def test_repvgg_reparameterization_is_exact():
    x = torch.rand(6, 3, 16, 16)
    model = randomize_bn(build_model("repvgg_a0", 10, 3, 16, width=8), x).double()
    assert isinstance(model, RepVGG)
    blocks = [m for m in model.modules() if isinstance(m, RepVGGBlock)]
    assert len(blocks) == 22 and sum(b.identity is not None for b in blocks) == 17  # 22 blocks - 5 stage heads
    x = x.double()
    before = model(x)
    assert model.reparameterize() is model
    after = model(x)
    assert torch.allclose(before, after, rtol=0, atol=1e-9)
    assert all(b.reparameterized for b in blocks)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 22 and all(c.kernel_size == (3, 3) and c.bias is not None for c in convs)
    assert not any(isinstance(m, nn.BatchNorm2d | ResidualAdd) for m in model.modules())
    assert torch.equal(model.reparameterize()(x), after)  # idempotent


def test_repvgg_block_reparameterization_with_stride_and_no_identity():
    for in_ch, out_ch, stride in [(4, 4, 1), (4, 6, 1), (4, 4, 2), (3, 5, 2)]:
        block = RepVGGBlock(in_ch, out_ch, stride)
        x = torch.rand(3, in_ch, 7, 7)
        block = randomize_bn(block, x).double()
        x = x.double()
        before = block(x)
        assert torch.allclose(block.reparameterize()(x), before, rtol=0, atol=1e-9)


def test_repvgg_conversion_uses_reparameterized_form_without_mutating_input():
    _, qann, x = quantized("repvgg_a0", 3, 32)
    net = to_onespike(qann, 4)
    assert not any(b.reparameterized for b in qann.modules() if isinstance(b, RepVGGBlock))  # input untouched
    assert not any(isinstance(m, ResidualAdd) for m in net.modules())  # plain conv -> PSG layers
    deployed = copy.deepcopy(qann).reparameterize()
    assert torch.allclose(net(x), deployed(x), rtol=0, atol=1e-9)
    assert torch.allclose(to_onespike(deployed, 4)(x), deployed(x), rtol=0, atol=1e-9)


# -- BNN, large inputs, structure -----------------------------------------------------------------
@pytest.mark.parametrize("arch", list(ZOO))
def test_to_binary_builds_same_shape(arch):
    ann = build_model(arch, 10, 3, 32, **ZOO[arch])
    bnn = to_binary(ann).eval()
    assert sum(isinstance(m, BinaryActivation) for m in bnn.modules()) == sum(type(m) is nn.ReLU for m in ann.modules())
    assert not any(type(m) is nn.ReLU for m in bnn.modules())
    assert bnn(torch.rand(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("arch", list(ZOO))
def test_builds_at_224_and_small_width_runs(arch):
    full = build_model(arch, 1000, 3, 224)  # standard widths
    convs = [m for m in full.modules() if isinstance(m, nn.Conv2d)]
    assert max(c.out_channels for c in convs) == {"repvgg_a0": 1280, "resnet20": 64}.get(arch, 512)
    small = build_model(arch, 7, 3, 224, **ZOO[arch]).eval()
    with torch.no_grad():
        assert small(torch.rand(1, 3, 224, 224)).shape == (1, 7)


@pytest.mark.parametrize("arch", ["resnet34", "repvgg_a0"])
def test_full_width_forward_at_224(arch):
    model = build_model(arch, 1000, 3, 224).eval()
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        y = model(x)
        assert y.shape == (1, 1000) and torch.isfinite(y).all()
        if arch == "repvgg_a0":
            assert torch.allclose(model.reparameterize()(x), y, atol=1e-4)


def test_stems_and_pooling_follow_input_size():
    big, small = build_model("resnet18", 10, 3, 224), build_model("resnet18", 10, 3, 32)
    assert big.stem.conv.kernel_size == (7, 7) and big.stem.conv.stride == (2, 2)
    assert isinstance(big.stem.pool, nn.AvgPool2d)
    assert small.stem.conv.kernel_size == (3, 3) and small.stem.conv.stride == (1, 1)
    assert not hasattr(small.stem, "pool")
    # VGG at 8x8 pools 8 -> 4 -> 2 -> 1 and stops; the classifier sees the 1x1 map
    vgg = build_model("vgg16", 10, 1, 8)
    assert sum(isinstance(m, nn.AvgPool2d) for m in vgg) == 3 and vgg[-1].in_features == 512
    assert build_model("vgg11", 10, 3, 224)[-1].in_features == 512 * 7 * 7
    assert build_model("vgg11", 10, 3, 32, classifier_hidden=(64,))[-1].in_features == 64
    with pytest.raises(ValueError, match="width"):
        build_model("resnet18", width=0)
