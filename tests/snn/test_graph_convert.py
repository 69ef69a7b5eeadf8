"""Graph-level (torch.fx) conversion of models with their own ``forward``.

The models are written with plain torch only (no project modules), as a user would: a
torchvision-style ResNet-18 (BasicBlock with a reused ``self.relu``, ``F.relu``, ``out += identity``),
a net with ``torch.cat`` / ``view`` / ``mean``, and models with dropout, clips and max pooling.
Equivalence checks run in float64 on random weights with randomized batch-norm statistics.
"""

import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

from analysis.models import build_model
from analysis.snn import (
    CONVERTERS,
    QCFS,
    BinaryActivation,
    BinaryConv2d,
    ConversionError,
    IFNeuron,
    PSGNeuron,
    ResidualAdd,
    register_converter,
    round_thresholds_pow2,
    to_binary,
    to_if_snn,
    to_onespike,
    to_quantized,
)


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet18(nn.Module):
    def __init__(self, width=4, num_classes=10, in_channels=3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.inplanes = width
        self.layer1 = self._make_layer(width, 1)
        self.layer2 = self._make_layer(2 * width, 2)
        self.layer3 = self._make_layer(4 * width, 2)
        self.layer4 = self._make_layer(8 * width, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width, num_classes)

    def _make_layer(self, planes, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample), BasicBlock(planes, planes)]
        self.inplanes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


@torch.no_grad()
def randomize_bn(model, x):
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)]
    for m in bns:
        m.momentum = 1.0
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.3, 0.3)
    model.train()
    model(x)
    for m in bns:
        m.running_mean.add_(torch.empty_like(m.running_mean).uniform_(-0.1, 0.1))
    return model.eval()


def quantized(ann, x, levels=4, kind="qcfs"):
    ann = randomize_bn(ann, x)
    return to_quantized(ann, levels, kind, calibration_data=x).double().eval(), x.double()


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    x = torch.rand(6, 3, 8, 8)
    return quantized(ResNet18(), x)


def test_resnet18_each_relu_call_site_gets_its_own_quantizer(resnet):
    qann, _ = resnet
    assert isinstance(qann, fx.GraphModule)
    quants = {name: m for name, m in qann.named_modules() if isinstance(m, QCFS)}
    assert len(quants) == 1 + 8 * 2  # the stem's F.relu + two call sites of self.relu per block
    assert {"relu", "layer1.0.relu", "layer1.0.relu_1", "layer4.1.relu_1"} <= set(quants)
    # each is named as the counter names the call in the ANN: the module path, its k-th call
    # ``path#k``, a functional op ``scope/op`` (state-dict keys keep the attribute names)
    names = {name: m.source_name for name, m in quants.items()}
    assert names["relu"] == "/relu" and names["layer1.0.relu"] == "layer1.0.relu"
    assert names["layer1.0.relu_1"] == "layer1.0.relu#2" and names["layer4.1.relu_1"] == "layer4.1.relu#2"
    assert len(set(names.values())) == len(names)
    # the reused self.relu saw two different activations: calibration gave two thresholds
    assert quants["layer1.0.relu"].threshold.item() != quants["layer1.0.relu_1"].threshold.item()
    adds = [name for name, m in qann.named_modules() if isinstance(m, ResidualAdd)]
    assert adds == [f"layer{i}.{j}.add" for i in range(1, 5) for j in range(2)]


@pytest.mark.parametrize("layout", ["grouped", "onepass"])
def test_resnet18_onespike_equals_qcfs_in_float64(resnet, layout):
    qann, x = resnet
    expected = qann(x)
    assert expected.std(dim=0).max() > 1e-3  # the logits depend on the input
    onespike = to_onespike(qann, 4, layout=layout)
    assert (onespike(x) - expected).abs().max() < 1e-9
    assert sum(isinstance(m, PSGNeuron) for m in onespike.modules()) == 17
    assert not any(isinstance(m, nn.BatchNorm2d) for m in onespike.modules())


def test_resnet18_if_snn_converts_and_layouts_agree(resnet):
    qann, x = resnet
    sequence, stream = to_if_snn(qann, 4, layout="sequence"), to_if_snn(qann, 4, layout="stream")
    assert sum(isinstance(m, IFNeuron) for m in sequence.modules()) == 17
    out = sequence(x)
    assert out.shape == (6, 10) and torch.isfinite(out).all()
    assert torch.allclose(stream(x), out, rtol=0, atol=1e-12)
    # the IF SNN converts on to OneSpike, which again equals the quantized ANN
    assert (to_onespike(sequence, 4)(x) - qann(x)).abs().max() < 1e-9


def test_converted_modules_carry_the_source_layer_name(resnet):
    qann, _ = resnet
    quant_names = {m.source_name for m in qann.modules() if isinstance(m, QCFS)}
    for net, neuron in ((to_if_snn(qann, 4), IFNeuron), (to_onespike(qann, 4), PSGNeuron)):
        assert all(isinstance(getattr(m, "source_name", None), str) for m in net.modules())
        assert {m.source_name for m in net.modules() if isinstance(m, neuron)} == quant_names
        convs = {m.source_name for m in net.modules() if isinstance(m, nn.Conv2d)}
        assert {"conv1", "layer1.0.conv1", "layer2.0.downsample.0"} <= convs


@pytest.mark.parametrize("arch,width", [("resnet20", 2), ("vgg11", 4)])
def test_graph_and_tree_converters_agree_on_the_zoo(arch, width):
    torch.manual_seed(1)
    x = torch.rand(4, 1, 8, 8)
    qann, x = quantized(build_model(arch, 10, 1, 8, width=width), x)
    for layout in ("grouped", "onepass"):
        tree = to_onespike(qann, 4, layout=layout, converter="tree")
        graph = to_onespike(qann, 4, layout=layout, converter="graph")
        assert torch.equal(graph(x), tree(x))
        assert (tree(x) - qann(x)).abs().max() < 1e-9
        # both name each neuron after the quantizer's path in the quantized ANN
        quants = {name for name, m in qann.named_modules() if isinstance(m, QCFS)}
        assert {m.source_name for m in tree.modules() if isinstance(m, PSGNeuron)} == quants
        assert {m.source_name for m in graph.modules() if isinstance(m, PSGNeuron)} == quants
        assert all(isinstance(getattr(m, "source_name", None), str) for m in (*tree.modules(), *graph.modules()))
        adds = {name for name, m in qann.named_modules() if isinstance(m, ResidualAdd)}
        assert {m.source_name for m in tree.modules() if isinstance(m, ResidualAdd)} == adds
        assert {m.source_name for m in graph.modules() if isinstance(m, ResidualAdd)} == adds
    for layout in ("sequence", "stream"):
        tree = to_if_snn(qann, 4, layout=layout, converter="tree")(x)
        assert torch.equal(to_if_snn(qann, 4, layout=layout, converter="graph")(x), tree)
    tree = to_onespike(qann, 4, input_encoding="spikes", converter="tree")(x)
    assert torch.equal(to_onespike(qann, 4, input_encoding="spikes", converter="graph")(x), tree)


class CatNet(nn.Module):
    """Two branches concatenated on channels, a view flatten and a mean pool."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(1, 3, 3, padding=1), nn.Conv2d(1, 2, 1)
        self.c = nn.Conv2d(5, 4, 3, padding=1)
        self.d = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4 + 4, 3)

    def forward(self, x):
        h = torch.cat([torch.relu(self.a(x)), self.b(x).relu()], dim=1)
        h = F.avg_pool2d(F.relu(self.c(h)), 2)
        g = F.relu(self.d(h))
        return self.fc(torch.cat([h.view(h.size(0), -1), g.mean((2, 3))], 1))


@pytest.mark.parametrize("kind", ["qcfs", "cq"])
def test_cat_view_mean_net_converts_exactly(kind):
    torch.manual_seed(2)
    qann, x = quantized(CatNet(), torch.rand(8, 1, 8, 8), kind=kind)
    expected = qann(x)
    for layout in ("grouped", "onepass"):
        assert (to_onespike(qann, 4, layout=layout)(x) - expected).abs().max() < 1e-9
    sequence = to_if_snn(qann, 4, layout="sequence")(x)
    assert torch.allclose(to_if_snn(qann, 4, layout="stream")(x), sequence, rtol=0, atol=1e-12)
    # equal thresholds everywhere: the concatenated spikes keep their common value θ
    same = to_quantized(CatNet(), 4, kind, threshold=0.5).double().eval()
    net = to_onespike(same, 4)
    assert not any(type(m).__name__ == "ShortcutScale" for m in net.modules())
    assert (net(x) - same(x)).abs().max() < 1e-9


class Gate(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace this
            return x
        return -x


class GatedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.gate, self.fc2 = nn.Linear(4, 4), Gate(), nn.Linear(4, 2)

    def forward(self, x):
        return self.fc2(self.gate(F.relu(self.fc1(x))))


def test_untraceable_model_error_names_the_user_line_and_the_way_out():
    line = inspect.getsourcelines(Gate.forward)[1] + 1
    with pytest.raises(ConversionError) as err:
        to_quantized(GatedNet(), 4)
    message = str(err.value)
    assert f"{__file__}:{line}" in message and "if x.sum() > 0" in message
    assert "leaf_modules=(Gate,)" in message and "register_converter(Gate)" in message
    # the way out: Gate as one layer with its own rule (here: the identity on non-negative input)
    qann = to_quantized(GatedNet(), 4, leaf_modules=(Gate,))
    with pytest.raises(ConversionError, match=r"layer gate \(Gate\).*register_converter"):
        to_onespike(qann, 4, leaf_modules=(Gate,))
    register_converter(Gate)(lambda module, ctx, convert: (nn.Identity(), ctx))
    try:
        x = torch.rand(5, 4, dtype=torch.float64)
        net = to_onespike(qann.double(), 4, leaf_modules=(Gate,))
        assert (net(x) - qann(x)).abs().max() < 1e-9
    finally:
        del CONVERTERS[Gate]


class Regularized(nn.Module):
    def __init__(self, clip):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.drop = nn.Dropout2d(0.3)
        self.act = clip
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        h = self.drop(self.act(self.conv(x)))
        return self.fc(F.dropout(torch.flatten(h, 1), 0.5, self.training))


class Clamp(nn.Module):
    def __init__(self, high=None):
        super().__init__()
        self.high = high

    def forward(self, x):
        return x.clamp(0, self.high) if self.high is not None else torch.clamp(x, min=0)


@pytest.mark.parametrize("clip,level", [(nn.ReLU(), 1.0), (nn.ReLU6(), 6.0), (nn.Hardtanh(0.0, 2.5), 2.5),
                                        (Clamp(), 1.0), (Clamp(3.0), 3.0)])
def test_dropout_passes_and_clips_become_the_quantizer_threshold(clip, level):
    torch.manual_seed(3)
    qann = to_quantized(Regularized(clip).eval(), 4).double().eval()
    assert [m.threshold.item() for m in qann.modules() if isinstance(m, QCFS)] == [level]
    x = torch.rand(6, 1, 8, 8, dtype=torch.float64)
    for layout in ("grouped", "onepass"):
        assert (to_onespike(qann, 4, layout=layout)(x) - qann(x)).abs().max() < 1e-9
    assert to_if_snn(qann, 4)(x).shape == (6, 3)
    # calibration never raises a threshold above the clip
    calibrated = to_quantized(Regularized(clip).eval(), 4, calibration_data=100 * torch.rand(4, 1, 8, 8))
    theta = next(m.threshold.item() for m in calibrated.modules() if isinstance(m, QCFS))
    assert theta == level if level != 1.0 else theta > 6.0  # clipped: capped; a plain ReLU: large


def test_clips_that_are_not_a_quantizer_and_unknown_ops_get_clear_errors():
    with pytest.raises(ConversionError, match=r"act is Hardtanh\(min_val=-1.0.*nn.Hardtanh\(0, a\)"):
        to_quantized(Regularized(nn.Hardtanh()), 4)

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return torch.sin(F.relu(self.fc(x)))

    with pytest.raises(ConversionError, match=r"cannot convert call_function 'sin'.*register_converter"):
        to_onespike(to_quantized(Scaled(), 4), 4)


class Pooled(nn.Module):
    def __init__(self, functional):
        super().__init__()
        self.functional = functional
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        h = F.relu(self.conv(x))
        h = F.max_pool2d(h, 2) if self.functional else self.pool(h)
        return self.fc(h.flatten(1))


@pytest.mark.parametrize("functional", [False, True])
def test_maxpool_runs_quantized_and_is_refused_for_snns_with_the_reason_and_fix(functional):
    qann = to_quantized(Pooled(functional), 4)
    assert qann(torch.rand(2, 1, 8, 8)).shape == (2, 3)  # the quantized ANN keeps max pooling
    layer = "/max_pool2d" if functional else "pool"  # F.max_pool2d at the top level: its call site
    for convert in (to_if_snn, to_onespike):
        with pytest.raises(ConversionError) as err:
            convert(qann, 4)
        message = str(err.value)
        assert "MaxPool2d cannot be converted" in message and f"layer {layer}" in message
        assert "max of spike counts" in message and "nn.AvgPool2d" in message


def test_resnet18_spike_encoding_per_group_thresholds_and_hardware_mode(resnet):
    qann, x = resnet
    # spike-encoded input: OneSpike equals the QCFS net on pixels floored to multiples of 1/G
    floored = torch.floor(x.clamp(0, 1) * 4) / 4
    assert (to_onespike(qann, 4, input_encoding="spikes")(x) - qann(floored)).abs().max() < 1e-9
    # per-group thresholds (Q11): the one-pass layout equals the explicit per-group reference
    scales = [2.0, 1.0, 1.0, 0.5]
    grouped = to_onespike(qann, 4, group_threshold_scales=scales, layout="grouped")(x)
    assert torch.allclose(to_onespike(qann, 4, group_threshold_scales=scales, layout="onepass")(x), grouped,
                          rtol=0, atol=1e-9)
    # hardware mode (power-of-two thresholds) equals the quantized ANN with those thresholds
    pow2 = round_thresholds_pow2(qann)
    assert (to_onespike(pow2, 4, mode="hardware")(x) - pow2(x)).abs().max() < 1e-9


class PostNorm(nn.Module):
    """A BatchNorm on the activations (after the ReLU): affine on spikes, not foldable."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv2, self.fc = nn.Conv2d(4, 4, 3, padding=1), nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        h = self.bn(F.relu(self.conv1(x)))
        return self.fc(F.relu(self.conv2(h)).flatten(1))


def test_batchnorm_on_spikes_converts_exactly():
    torch.manual_seed(4)
    qann, x = quantized(PostNorm(), torch.rand(8, 1, 8, 8))
    for layout in ("grouped", "onepass"):
        assert (to_onespike(qann, 4, layout=layout)(x) - qann(x)).abs().max() < 1e-9
    # the same layers as a Sequential take the module-tree converter: same rule, same result
    seq = nn.Sequential(qann.conv1, qann.relu, qann.bn, qann.conv2, qann.relu_1, nn.Flatten(), qann.fc)
    assert (to_onespike(seq, 4, converter="tree")(x) - qann(x)).abs().max() < 1e-9


class WithFlag(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 6), nn.Linear(6, 2)

    def forward(self, x, features=False):
        h = F.relu(self.a(x))
        if features:  # a Python flag, not a tensor: traced at its default
            return h
        return self.b(h)


def test_flag_arguments_are_fixed_at_their_defaults():
    torch.manual_seed(5)
    qann = to_quantized(WithFlag(), 4).double()
    x = torch.randn(7, 4, dtype=torch.float64)
    assert (to_onespike(qann, 4)(x) - qann(x)).abs().max() < 1e-9


def test_to_binary_reaches_functional_and_reused_activations():
    bnn = to_binary(ResNet18())
    acts = {m.source_name for m in bnn.modules() if isinstance(m, BinaryActivation)}
    assert len(acts) == 17 and {"/relu", "layer1.0.relu", "layer1.0.relu#2"} <= acts  # named as the ANN's calls
    assert type(bnn.conv1) is nn.Conv2d and type(bnn.fc) is nn.Linear  # first and last stay real
    assert isinstance(bnn.get_submodule("layer2.0.downsample.0"), BinaryConv2d)
    assert bnn(torch.rand(2, 3, 8, 8)).shape == (2, 10)


class StandardizedConv(nn.Conv2d):
    def forward(self, x):  # weight standardization: not what the Conv2d rule converts
        w = self.weight - self.weight.mean(dim=(1, 2, 3), keepdim=True)
        return F.conv2d(x, w, self.bias, self.stride, self.padding)


def test_subclass_overriding_forward_is_not_converted_as_its_base():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), StandardizedConv(2, 2, 3, padding=1), nn.Flatten(),
                          nn.Linear(2 * 8 * 8, 3))
    qann, x = to_quantized(model, 4), torch.ones(1, 1, 8, 8)
    assert torch.allclose(qann(x), to_quantized(model, 4, converter="tree")(x))  # the trace keeps its forward
    with pytest.raises(ConversionError, match="cannot convert"):
        to_onespike(qann, 4)
    with pytest.raises(ConversionError, match=r"StandardizedConv subclasses Conv2d but overrides forward"):
        to_onespike(to_quantized(model, 4, converter="tree"), 4, converter="tree")
