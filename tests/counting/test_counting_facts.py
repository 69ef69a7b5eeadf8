"""Ledger facts for fair pricing (mac_nonzero, repeat_steps, fused_into, nonfinite_values), stable
layer names across methods, bounded geometry caches, and the rule registry's duplicate handling."""

import pytest
import torch
from torch import nn

from analysis.counting import (
    COUNTING_RULES,
    FANOUT_CACHE_SIZE,
    NonFiniteError,
    cache_sizes,
    conv_fanout_map,
    count_events,
    register_rule,
)
from analysis.counting.rules import relu_rule
from analysis.models import build_model
from analysis.registry import DuplicateNameError
from analysis.snn import to_if_snn, to_onespike, to_quantized


def counted(model, x, **kw):
    with count_events(model, **kw) as ledger, torch.no_grad():
        model(x)
    return ledger


def nets(arch, size=8, steps=4):
    torch.manual_seed(0)
    options = {"width": 4}
    ann = build_model(arch, 10, 1, size, **options).eval()
    x = torch.rand(3, 1, size, size)
    qann = to_quantized(ann, 4, calibration_data=x).eval()
    return {"ann": ann, "qcfs": qann, "if": to_if_snn(qann, steps), "onespike": to_onespike(qann, steps)}, x


def ones_kernel_macs(conv, x):
    """MACs whose input is non-zero: a ones-kernel convolution of the non-zero map (independent of
    the fan-out maps the counter uses); padding contributes nothing."""
    active = (x != 0).double()
    ones = torch.ones(conv.out_channels, conv.in_channels // conv.groups, *conv.kernel_size, dtype=torch.float64)
    return nn.functional.conv2d(active, ones, None, conv.stride, conv.padding, conv.dilation, conv.groups).sum().item()


def test_mac_nonzero_is_exact_for_conv_and_linear():
    conv, fc = nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.Linear(8, 4)
    net = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(3 * 3 * 3, 8), nn.ReLU(), fc)
    x = torch.randn(2, 2, 5, 5)
    x[x < 0.3] = 0
    inputs = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: inputs.__setitem__(n, i[0])) for n, m in net.named_modules()
             if isinstance(m, nn.Conv2d | nn.Linear)]
    ledger = counted(net, x)
    for h in hooks:
        h.remove()
    layer = ledger.layer("0")
    assert layer.mac_nonzero == ones_kernel_macs(conv, inputs["0"]) / 2
    assert 0 < layer.mac_nonzero < layer.mac
    for name in ("3", "5"):
        linear = ledger.layer(name)
        expected = (inputs[name] != 0).sum().item() * net[int(name)].out_features / 2
        assert linear.mac_nonzero == expected <= linear.mac


def test_mac_nonzero_of_whole_networks():
    models, x = nets("cnn_small")
    for method in ("ann", "qcfs"):
        ledger = counted(models[method], x)
        synaptic = [layer for layer in ledger.layers if layer.mac]
        assert len(synaptic) == 4 and all(layer.mac_nonzero <= layer.mac for layer in synaptic)
        assert synaptic[0].mac_nonzero > 0  # pixels of torch.rand are non-zero; only padding is not
        assert synaptic[0].mac_nonzero == ones_kernel_macs(models[method][0], x) / len(x)
        assert ledger.total("mac_nonzero") < ledger.total("mac")  # ReLU/QCFS zeros and padding
    for method in ("if", "onespike"):  # only the analog first layer has MACs
        ledger = counted(models[method], x)
        (first,) = [layer for layer in ledger.layers if layer.mac]
        assert 0 < first.mac_nonzero <= first.mac


def test_repeat_steps_marks_the_layer_counted_once_for_all_steps():
    models, x = nets("cnn_small", steps=4)
    for method in ("if", "onespike"):
        ledger = counted(models[method], x)
        repeated = {layer.name: layer.repeat_steps for layer in ledger.layers if layer.repeat_steps != 1}
        assert repeated == {"0": 4}, method  # the first conv on pixels: T steps / G groups reuse it
    for method in ("ann", "qcfs"):
        assert {layer.repeat_steps for layer in counted(models[method], x).layers} == {1}


@pytest.mark.parametrize("arch", ["cnn_small", "resnet20"])
def test_fused_into_is_the_same_for_every_method(arch):
    models, x = nets(arch)
    fused = {}
    for method, model in models.items():
        ledger = counted(model, x)
        fused[method] = {layer.name: layer.fused_into for layer in ledger.layers if layer.kind in ("conv", "linear")}
        for layer in ledger.layers:
            if layer.fused_into:
                assert ledger.layer(layer.fused_into).kind == "neuron"
    assert fused["ann"] == fused["qcfs"] == fused["if"] == fused["onespike"]
    if arch == "cnn_small":  # conv -> BN -> ReLU fuses; conv -> BN -> pool -> ReLU and the classifier do not
        assert fused["ann"] == {"0": "2", "3": "", "7": "", "12": ""}
    else:
        assert fused["ann"]["layer1.0.main.conv1"] == "layer1.0.main.relu1"
        assert fused["ann"]["layer1.0.main.conv2"] == ""  # into the residual add, not a neuron


@pytest.mark.parametrize("arch", ["cnn_small", "resnet20"])
def test_layer_names_join_across_methods(arch):
    models, x = nets(arch)
    names = {}
    for method, model in models.items():
        ledger = counted(model, x)
        names[method] = [layer.name for layer in ledger.layers if layer.kind in ("conv", "linear")]
    expected = [n for n, m in models["ann"].named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert names["ann"] == names["qcfs"] == names["if"] == names["onespike"] == expected


def test_source_name_attribute_names_the_layer():
    models, x = nets("cnn_small")
    net = models["if"]
    conv = next(m for m in net.modules() if isinstance(m, nn.Conv2d))
    conv.source_name = "features.stem"
    assert counted(net, x).layers[0].name == "features.stem"


def test_nonfinite_values_raise_or_are_flagged():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        net[2].weight[0, 0] = float("inf")
    x = torch.rand(2, 3) + 0.1
    with pytest.raises(NonFiniteError, match=r"layer '2' \(Linear\) of the 'ann' network produced 2 NaN/Inf"):
        counted(net, x)
    ledger = counted(net, x, on_nonfinite="flag")
    assert ledger.layer("2").nonfinite_values == 1 and ledger.layer("0").nonfinite_values == 0
    with pytest.raises(ValueError, match="on_nonfinite must be one of"):
        counted(net, x, on_nonfinite="ignore")


def test_geometry_caches_stay_bounded_over_many_input_sizes():
    conv = nn.Conv2d(1, 1, 3, padding=1)
    for size in range(4, 4 + 2 * FANOUT_CACHE_SIZE):
        conv_fanout_map(conv, size, size)
    assert cache_sizes()["fanout"] == FANOUT_CACHE_SIZE
    fresh = conv_fanout_map(conv, 4, 4)  # evicted long ago: recomputed, still right
    assert fresh[0, 0] == 4 and fresh[1, 1] == 9
    pool = nn.Sequential(nn.AdaptiveAvgPool2d(3))
    for size in range(3, 40):
        counted(pool, torch.rand(1, 1, size, size))
    assert cache_sizes()["adaptive_pool"] <= 1024


def test_rule_registry_refuses_duplicates_and_takes_per_call_overrides():
    class Act(nn.ReLU):
        pass

    with pytest.raises(DuplicateNameError, match=r"ReLU.*replace=True"):
        register_rule(nn.ReLU)(lambda *a: {})

    def double_cmp(module, inputs, output, ctx):
        facts = relu_rule(module, inputs, output, ctx)
        return {**facts, "cmp": 2 * facts["cmp"], "rule": "relu.twice"}

    net = nn.Sequential(nn.ReLU(), Act())
    x = torch.randn(2, 5)
    ledger = counted(net, x, rules={Act: double_cmp})
    assert (ledger.layer("0").cmp, ledger.layer("1").cmp, ledger.layer("1").rule) == (5, 10, "relu.twice")
    assert COUNTING_RULES[nn.ReLU] is relu_rule  # the override was for that count only
    register_rule(Act)(double_cmp)
    try:
        with pytest.raises(DuplicateNameError):
            register_rule(Act)(relu_rule)
        register_rule(Act, replace=True)(relu_rule)
        assert counted(net, x).layer("1").cmp == 5
    finally:
        COUNTING_RULES.remove(Act)


def test_common_layers_relu6_dropout2d_maxpool():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU6(), nn.Dropout2d(0.5), nn.MaxPool2d(2),
                        nn.AlphaDropout(0.1), nn.Hardtanh()).eval()
    ledger = counted(net, torch.randn(3, 1, 6, 6), strict=True)
    assert not ledger.unsupported and [layer.name for layer in ledger.layers] == ["0", "1", "3", "5"]
    assert (ledger.layer("1").cmp, ledger.layer("1").rule) == (2 * 2 * 36, "clip")
    assert ledger.layer("3").cmp == 2 * 9 * 3  # 2 channels of 3x3 outputs, 2x2 windows: 3 comparisons each
    assert ledger.layer("5").cmp == 2 * 2 * 9
    assert ledger.layer("0").fused_into == "1"


def test_count_events_takes_its_options_as_one_value_or_by_name():
    """count_events(model, *, method, strict, options, **settings): a CountOptions field given by name
    replaces the same field of ``options``; every other keyword is a fact in ledger.meta; only the
    model is positional (as torch's FlopCounterMode and fvcore's FlopCountAnalysis take theirs)."""
    import pytest
    import torch
    from torch import nn

    from analysis.counting import CountOptions, count_events

    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    x = torch.rand(2, 4)
    with count_events(net, options=CountOptions(weight_bits=8), arch="toy") as by_value:
        net(x)
    with count_events(net, weight_bits=8, arch="toy") as by_name:
        net(x)
    with count_events(net, options=CountOptions(weight_bits=8), weight_bits=4) as overridden:
        net(x)
    assert [layer.weight_bits for layer in by_value.layers] == [layer.weight_bits for layer in by_name.layers]
    assert {layer.weight_bits for layer in by_value.layers if layer.kind == "linear"} == {8}
    assert {layer.weight_bits for layer in overridden.layers if layer.kind == "linear"} == {4}
    assert by_value.meta["arch"] == by_name.meta["arch"] == "toy" and "weight_bits" not in by_name.meta
    with pytest.raises(TypeError, match="options must be a CountOptions"):
        with count_events(net, options={"weight_bits": 8}):
            net(x)
    with pytest.raises(TypeError, match="positional argument"):
        count_events(net, "ann")
