"""Event counting: every rule against a brute-force count on a tiny layer, whole networks against an
independent reference (ones-kernel convolutions of the captured inputs, fvcore for ANN MACs), layouts
giving the same ledger, and the hook life cycle (removed on error, model untouched)."""

import copy
import itertools
import math

import pytest
import torch
from torch import nn

from analysis.counting import COUNTING_RULES, conv_fanout_map, count_events, layer_names, register_rule
from analysis.models import available_models, build_model
from analysis.snn import (
    PSGLayer,
    RepeatSteps,
    ResidualAdd,
    ShortcutScale,
    Stepwise,
    to_binary,
    to_if_snn,
    to_onespike,
    to_quantized,
)
from analysis.snn.neurons import QCFS, BinaryActivation, BinaryConv2d, ClampQuant, IFNeuron, PSGNeuron

#: small options for zoo models (widths as in tests/models/test_zoo.py)
SMALL = {"vgg11": {"width": 8}, "vgg16": {"width": 8}, "resnet18": {"width": 4}, "resnet34": {"width": 4},
         "resnet20": {"width": 4}, "repvgg_a0": {"width": 8}, "repvgg_a1": {"width": 8}, "repvgg_a2": {"width": 8},
         "cnn_small": {"width": 4}, "mlp": {"hidden": (16, 8)}}


def counted(model, x, **kw):
    with count_events(model, **kw) as ledger, torch.no_grad():
        model(x)
    return ledger


# -- brute-force references on tiny layers -----------------------------------------------------------
def brute_conv_synapses(active, conv: nn.Conv2d) -> int:
    """Σ over (step, sample, output position, output channel, kernel tap) whose input is non-zero:
    one accumulation per (active input, synapse it reaches). ``active``: [S, B, C, H, W]."""
    a = active.tolist()
    S, B, C, H, W = active.shape
    kh, kw = conv.kernel_size
    sh, sw = conv.stride
    ph, pw = conv.padding
    ho = (H + 2 * ph - kh) // sh + 1
    wo = (W + 2 * pw - kw) // sw + 1
    cin_g, cout_g = C // conv.groups, conv.out_channels // conv.groups
    count = 0
    for s, b, co, oh, ow in itertools.product(range(S), range(B), range(conv.out_channels), range(ho), range(wo)):
        g = co // cout_g
        for ci in range(g * cin_g, (g + 1) * cin_g):
            for i, j in itertools.product(range(kh), range(kw)):
                ih, iw = oh * sh - ph + i, ow * sw - pw + j
                if 0 <= ih < H and 0 <= iw < W and a[s][b][ci][ih][iw] != 0:
                    count += 1
    return count


def brute_if(x, theta, v_init):
    """IF neuron in plain Python: spikes [T][n] and the number of spikes."""
    T, flat = x.shape[0], x.reshape(x.shape[0], -1).tolist()
    v = [v_init * theta] * len(flat[0])
    out = []
    for t in range(T):
        row = []
        for k in range(len(v)):
            v[k] += flat[t][k]
            s = 1.0 if v[k] >= theta else 0.0
            v[k] -= s * theta
            row.append(s)
        out.append(row)
    return torch.tensor(out).reshape(x.shape), int(sum(map(sum, out)))


@pytest.mark.parametrize("stride,padding,groups", [(1, 0, 1), (1, 1, 1), (2, 0, 1), (2, 1, 1), (1, 1, 2)])
@pytest.mark.parametrize("method", ["if", "onespike"])
def test_conv_spike_input_ac_is_exact(stride, padding, groups, method):
    torch.manual_seed(1)
    conv = nn.Conv2d(2, 4, 3, stride=stride, padding=padding, groups=groups)
    x = torch.rand(3, 2, 5, 5) * 1.5
    if method == "if":
        net = nn.Sequential(RepeatSteps(4), IFNeuron(0.6, 4, 0.0), Stepwise(conv, "time"))
        spikes = brute_if(x.unsqueeze(0).expand(4, *x.shape), 0.6, 0.0)[0]
    else:
        net = nn.Sequential(PSGLayer(PSGNeuron(0.6, 4), grouped_input=False), Stepwise(conv, "group"))
        spikes = PSGNeuron(0.6, 4)(4 * x)
    ledger = counted(net, x)
    layer = ledger.layer("2" if method == "if" else "1")
    assert layer.rule == "conv.spike_input" and layer.input_spiking and layer.act_bits == 1
    assert layer.ac == brute_conv_synapses(spikes, conv) / 3
    assert layer.mac == 0 and layer.weight_reads == layer.ac
    assert layer.add == 4 * math.prod(conv(x[:1]).shape[1:])  # one bias add per output neuron per step
    assert layer.input_reads == layer.input_nonzero == spikes.sum().item() / 3
    assert layer.input_elements == 4 * 2 * 25
    assert layer.out_shape == tuple(conv(x[:1]).shape[1:]) and layer.in_shape == (2, 5, 5)
    assert (layer.kernel_size, layer.stride, layer.padding) == ((3, 3), (stride, stride), (padding, padding))
    assert layer.weight_bits == 32 and ledger.samples == 3  # float weights, as the network holds them


def test_fanout_map_matches_brute_force():
    conv = nn.Conv2d(1, 1, 3, stride=2, padding=1)
    fan = conv_fanout_map(conv, 5, 5)
    for i, j in itertools.product(range(5), range(5)):
        one = torch.zeros(1, 1, 1, 5, 5)
        one[..., i, j] = 1
        assert fan[i, j] == brute_conv_synapses(one, conv)


def test_linear_spike_input_and_bias():
    torch.manual_seed(2)
    fc = nn.Linear(6, 3)
    x = torch.rand(5, 6) * 2
    net = nn.Sequential(RepeatSteps(4), IFNeuron(0.7, 4, 0.5), Stepwise(fc))
    spikes, n_spikes = brute_if(x.unsqueeze(0).expand(4, 5, 6), 0.7, 0.5)
    ledger = counted(net, x)
    layer = ledger.layer("2")
    brute = sum(1 for t, b, o, i in itertools.product(range(4), range(5), range(3), range(6)) if spikes[t, b, i])
    assert layer.rule == "linear.spike_input" and layer.ac == brute / 5
    assert layer.add == 4 * 3 and layer.neurons == 3 and layer.synapses == 18
    neuron = ledger.layer("1")
    assert neuron.spikes == n_spikes / 5
    assert ledger.timesteps == 4 and ledger.method == "if" and neuron.timesteps == 4


def test_if_neuron_rule_and_threshold_ties():
    x = torch.tensor([[0.5, 0.3, 1.2]])  # 0.5 + v_init 0.5 hits θ = 1 exactly: a tie at step 1
    net = nn.Sequential(RepeatSteps(4), IFNeuron(1.0, 4, 0.5))
    _, n_spikes = brute_if(x.unsqueeze(0).expand(4, 1, 3), 1.0, 0.5)
    layer = counted(net, x, track_ties=True).layer("1")
    n = 4 * 3
    assert layer.spikes == n_spikes
    assert (layer.vmem_reads, layer.vmem_writes, layer.cmp, layer.add) == (n, n, n, n + n_spikes)
    assert layer.output_writes == n_spikes and layer.output_elements == n and layer.vmem_bits == 16
    assert layer.threshold_ties == 2  # 0.5 + ½θ meets θ exactly at steps 1 and 3 (after the reset)
    assert counted(net, x).layer("1").threshold_ties == 0  # only when asked


@pytest.mark.parametrize("mode", ["exact", "hardware"])
@pytest.mark.parametrize("grouped", [False, True])
def test_psg_rule_counts(mode, grouped):
    torch.manual_seed(3)
    g, n = 4, 2 * 3 * 3
    layer_mod = PSGLayer(PSGNeuron(1.0, g, mode=mode, v_init=0.0), grouped_input=grouped)
    x = torch.rand(g, 1, 2, 3, 3) if grouped else torch.rand(1, 2, 3, 3)
    net = nn.Sequential(RepeatSteps(g), layer_mod) if grouped else layer_mod
    ledger = counted(net, x[0] if grouped else x, method="onespike")
    layer = ledger.layers[-1]
    spikes = layer_mod(x[0].unsqueeze(0).expand(g, 1, 2, 3, 3) if grouped else x)
    assert layer.spikes == spikes.sum().item() and layer.groups == g
    summation = {"add": (g - 1) * n} if grouped else {"shift": n}
    if mode == "exact":
        expected = {"mul": g * n, "mod": g * n, "cmp": g * n, "add": g * n, "shift": n, "mask": 0}
    else:
        expected = {"mul": 0, "mod": 0, "cmp": g * n, "add": 2 * g * n, "shift": 0, "mask": g * n}
    for key, value in summation.items():
        expected[key] += value
    assert {k: getattr(layer, k) for k in expected} == expected
    assert layer.vmem_reads == layer.vmem_writes == n
    assert layer.rule == f"psg.{mode}.{'grouped' if grouped else 'analog'}_input"


def test_quant_relu_bn_pool_flatten_residual_scale_rules():
    x = torch.randn(2, 2, 4, 4)
    net = nn.Sequential(nn.BatchNorm2d(2), nn.ReLU(), nn.AvgPool2d(2), QCFS(4), ClampQuant(8), nn.AvgPool2d(3, 1, 1),
                        nn.Flatten(), ShortcutScale(0.5), ShortcutScale(0.7), ShortcutScale(1.0)).eval()
    ledger = counted(net, x)
    e = 2 * 4 * 4
    assert (ledger.layer("0").mul, ledger.layer("0").add) == (e, e)
    assert ledger.layer("1").cmp == e and ledger.layer("1").rule == "relu"
    pool = ledger.layer("2")  # 2x2 windows: 3 adds and a shift per output
    assert (pool.add, pool.shift, pool.mul) == (3 * 8, 8, 0)
    q = ledger.layer("3")
    assert (q.mul, q.add, q.cmp, q.out_bits) == (8, 8, 16, 3)  # ceil(log2(5)) = 3 bits
    cq = ledger.layer("4")
    assert (cq.mul, cq.add, cq.cmp, cq.rule) == (8, 0, 16, "clamp_quant")
    pool3 = ledger.layer("5")  # 3x3 windows with padding: 8 adds and a multiplication by 1/9
    assert (pool3.add, pool3.shift, pool3.mul) == (8 * 8, 0, 8)
    assert ledger.layer("6").kind == "reshape" and sum(ledger.layer("6").events().values()) == 0
    assert (ledger.layer("7").shift, ledger.layer("8").mul) == (8, 8)
    assert sum(ledger.layer("9").events().values()) == 0


def test_residual_add_counts_per_step():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.neuron = IFNeuron(1.0, 3)
            self.add = ResidualAdd()

        def forward(self, x):
            s = self.neuron(x)
            return self.add(s, s)

    net = nn.Sequential(RepeatSteps(3), Block())
    layer = counted(net, torch.rand(2, 5)).layer("1.add")
    assert layer.add == 3 * 5 and layer.kind == "add"


def test_pooled_spikes_counted_as_macs_over_nonzero_inputs():
    torch.manual_seed(4)
    fc = nn.Linear(2 * 2 * 2, 3)
    net = nn.Sequential(RepeatSteps(4), IFNeuron(0.5, 4), Stepwise(nn.AvgPool2d(2)), Stepwise(nn.Flatten()),
                        Stepwise(fc))
    x = torch.rand(3, 2, 4, 4)
    spikes, _ = brute_if(x.unsqueeze(0).expand(4, *x.shape), 0.5, 0.0)
    pooled = nn.functional.avg_pool2d(spikes.flatten(0, 1), 2)
    layer = counted(net, x).layer("4")
    assert layer.rule == "linear.pooled_spike_input" and layer.ac == 0
    assert layer.mac == (pooled != 0).sum().item() * 3 / 3
    assert layer.act_bits == 3  # 2x2 pool of spikes: 5 levels


def test_binary_conv_counts_xnor_popcount():
    conv = BinaryConv2d(2, 3, 3, padding=1, bias=False)
    net = nn.Sequential(BinaryActivation(), conv)
    layer = counted(net, torch.randn(2, 2, 5, 5), method="bnn").layer("1")
    dense = 3 * 5 * 5 * 2 * 9
    assert (layer.xnor, layer.popcount, layer.mac, layer.mul) == (dense, dense, 0, 75)
    assert layer.weight_bits == 1 and layer.act_bits == 1 and layer.rule == "conv.binary"


# -- whole networks -----------------------------------------------------------------------------------
def build(arch, size=8, channels=1):
    torch.manual_seed(0)
    ann = build_model(arch, 10, channels, size, **SMALL.get(arch, {})).eval()
    x = torch.rand(2, channels, size, size)
    with torch.no_grad():
        for m in ann.modules():
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                m.bias.uniform_(0.0, 0.5)
    qann = to_quantized(ann, 4, calibration_data=x).eval()
    return ann, qann, x


def dense_macs(model, x):
    """Σ over conv/linear layers of output elements · (C_in/groups)·k_h·k_w, per sample."""
    total = 0

    def hook(m, i, o):
        nonlocal total
        total += o[0].numel() * m.weight[0].numel()

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return total


def reference_synaptic(net, x):
    """Independent reference for a converted net in its reference layout: per Stepwise conv/linear,
    Σ over non-zero inputs of the synapses each reaches (a ones-kernel conv of the non-zero map), and
    the spike total of every neuron."""
    refs, spikes = {}, [0]

    def syn_hook(path):
        def hook(m, inputs, out):
            inner = m.module
            active = (inputs[0] != 0).double().flatten(0, 1)
            if isinstance(inner, nn.Conv2d):
                ones = torch.ones(inner.out_channels, inner.in_channels // inner.groups, *inner.kernel_size,
                                  dtype=torch.float64)
                refs[path] = refs.get(path, 0) + nn.functional.conv2d(
                    active, ones, None, inner.stride, inner.padding, inner.dilation, inner.groups).sum().item()
            else:
                refs[path] = refs.get(path, 0) + active.sum().item() * inner.out_features
        return hook

    def spike_hook(m, i, out):
        spikes[0] += out.count_nonzero().item()

    hs = []
    for path, m in net.named_modules():
        if isinstance(m, Stepwise) and isinstance(m.module, nn.Conv2d | nn.Linear):
            hs.append(m.register_forward_hook(syn_hook(path)))
        if isinstance(m, IFNeuron | PSGLayer):
            hs.append(m.register_forward_hook(spike_hook))
    with torch.no_grad():
        net(x)
    for h in hs:
        h.remove()
    b = x.shape[0]
    return {k: v / b for k, v in refs.items()}, spikes[0] / b


ARCHS = sorted(set(available_models()) & set(SMALL))


@pytest.mark.parametrize("arch", ARCHS)
def test_ann_and_qcfs_macs_match_dense_count_and_fvcore(arch):
    from fvcore.nn import FlopCountAnalysis

    ann, qann, x = build(arch)
    for model, method in ((ann, "ann"), (qann, "qcfs")):
        ledger = counted(model, x)
        assert ledger.method == method and not ledger.unsupported
        assert ledger.total("mac") == dense_macs(model, x)
        assert ledger.total("ac") == 0
    # fvcore counts one flop per MAC of conv/linear (and also batch norm / pooling flops: left out)
    flops = FlopCountAnalysis(ann, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    synaptic = sum(v for k, v in flops.by_operator().items() if k in ("conv", "linear", "addmm", "matmul"))
    assert counted(ann, x).total("mac") == synaptic / 2


@pytest.mark.parametrize("arch", ARCHS)
def test_spiking_counts_match_independent_reference(arch):
    _, qann, x = build(arch)
    qann, x = qann.double(), x.double()
    nets = [(to_if_snn(qann, t), to_if_snn(qann, t, layout="sequence")) for t in (1, 4, 8)]
    nets.append((to_onespike(qann, 4), to_onespike(qann, 4, layout="grouped")))
    for net, reference in nets:
        ledger = counted(net, x)
        refs, spikes = reference_synaptic(reference, x)
        names = layer_names(reference)
        assert not ledger.unsupported
        assert ledger.total("spikes") == pytest.approx(spikes, abs=1e-9)
        for path, value in refs.items():
            layer = ledger.layer(names[path])
            assert layer.ac + layer.mac == pytest.approx(value, abs=1e-9), (path, layer.rule)
            assert layer.rule.endswith(("spike_input", "pooled_spike_input"))
        analog = [layer for layer in ledger.layers if layer.rule.endswith("analog_input") and layer.mac]
        assert len(analog) == 1  # the first layer, on pixels, runs once
        assert analog[0].mac == dense_macs(qann, x[:1]) - _non_first_dense(qann, x)


def _non_first_dense(model, x):
    """Dense MACs of every conv/linear but the first, per sample."""
    sizes = []

    def hook(m, i, o):
        sizes.append(o[0].numel() * m.weight[0].numel())

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    with torch.no_grad():
        model(x[:1])
    for h in hs:
        h.remove()
    return sum(sizes[1:])


@pytest.mark.parametrize("arch", ["cnn_small", "resnet20"])
def test_layouts_give_the_same_ledger(arch):
    _, qann, x = build(arch)
    qann, x = qann.double(), x.double()
    pairs = [(to_if_snn(qann, 4, layout="sequence"), to_if_snn(qann, 4, layout="stream")),
             (to_onespike(qann, 4, layout="grouped"), to_onespike(qann, 4, layout="onepass")),
             (to_onespike(qann, 4, input_encoding="spikes", layout="grouped"),
              to_onespike(qann, 4, input_encoding="spikes", layout="onepass")),
             (to_onespike(qann, 4, group_threshold_scales=[1, 0.5, 1, 2], layout="grouped"),
              to_onespike(qann, 4, group_threshold_scales=[1, 0.5, 1, 2], layout="onepass"))]
    for a, b in pairs:
        la, lb = counted(a, x).to_dict(), counted(b, x).to_dict()
        la["meta"] = lb["meta"] = {}
        assert la == lb


def test_if_and_onespike_ac_agree_where_spike_counts_agree():
    torch.manual_seed(5)
    ann = build_model("mlp", 10, 1, 8, hidden=(16, 12)).eval()
    x = torch.rand(8, 1, 8, 8, dtype=torch.float64)
    qann = to_quantized(ann, 4, calibration_data=x.float()).double().eval()
    led_if, led_os = counted(to_if_snn(qann, 4), x), counted(to_onespike(qann, 4), x)
    synapses = [layer.name for layer in led_if.layers if layer.rule.endswith("spike_input")]
    assert synapses == [layer.name for layer in led_os.layers if layer.rule.endswith("spike_input")]
    neurons_if = [layer for layer in led_if.layers if layer.kind == "neuron"]
    neurons_os = [layer for layer in led_os.layers if layer.kind == "neuron"]
    # the first neuron layer sees a constant current: IF(4) and PSG(4) emit the same counts per
    # neuron, so the next layer's ac (which depends only on those counts) is the same
    assert neurons_if[0].spikes == neurons_os[0].spikes
    assert led_if.layer(synapses[0]).ac == led_os.layer(synapses[0]).ac
    # deeper, the IF layer sees a current that varies over time: the ledger shows where they differ
    _, qcnn, xc = build("cnn_small")
    lc_if, lc_os = counted(to_if_snn(qcnn.double(), 4), xc.double()), counted(to_onespike(qcnn.double(), 4),
                                                                                xc.double())
    convs = [n.name for n in lc_if.layers if n.rule == "conv.spike_input"]
    assert lc_if.layer(convs[0]).ac == lc_os.layer(convs[0]).ac
    differ = [name for name in convs if lc_if.layer(name).ac != lc_os.layer(name).ac]
    assert differ and convs[0] not in differ
    spikes_if = [layer.spikes for layer in lc_if.layers if layer.kind == "neuron"]
    spikes_os = [layer.spikes for layer in lc_os.layers if layer.kind == "neuron"]
    assert spikes_if[0] == spikes_os[0] and spikes_if[1:] != spikes_os[1:]


def test_bnn_ledger():
    ann, _, x = build("cnn_small")
    ledger = counted(to_binary(ann).eval(), x)
    assert ledger.method == "bnn" and ledger.total("xnor") == ledger.total("popcount") > 0
    assert [layer.rule for layer in ledger.layers if layer.kind == "conv"][1:] == ["conv.binary", "conv.binary"]


# -- life cycle ---------------------------------------------------------------------------------------
def hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_hooks_removed_on_error_and_model_unchanged():
    _, qann, x = build("cnn_small")
    net = to_if_snn(qann, 4).train()
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(ValueError), count_events(net):
        net(torch.rand(2, 3, 8, 8))  # wrong channel count
    assert hook_count(net) == 0
    with count_events(net), torch.no_grad():
        net(x)
    assert hook_count(net) == 0 and net.training
    assert all(m.training for m in net.modules())
    after = net.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    ann = build("mlp")[0].eval()
    with count_events(ann), torch.no_grad():
        ann(x)
    assert not any(m.training for m in ann.modules())


def test_unsupported_module_listed_and_strict_error():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Softplus(), nn.Identity(), nn.Dropout())
    ledger = counted(net, torch.rand(1, 1, 5, 5))
    assert ledger.unsupported == [("1", "Softplus")]
    with pytest.raises(ValueError, match=r"'1' of type Softplus.*analysis\.counting\.register_rule"):
        with count_events(net, strict=True):
            net(torch.rand(1, 1, 5, 5))  # flagged when it runs (a module that never runs is not)
    assert hook_count(net) == 0


def test_user_rule_registration():
    class Square(nn.Module):
        def forward(self, x):
            return x * x

    @register_rule(Square)
    def square_rule(module, inputs, output, ctx):
        return {"kind": "other", "rule": "square", "mul": output.numel()}

    try:
        ledger = counted(nn.Sequential(Square()), torch.rand(4, 3), strict=True)
        assert ledger.layer("0").mul == 3 and ledger.layer("0").rule == "square"
    finally:
        COUNTING_RULES.remove(Square)


def test_samples_accumulate_across_forwards():
    ann, _, _ = build("cnn_small")
    x = torch.rand(5, 1, 8, 8)
    with count_events(ann) as ledger, torch.no_grad():
        ann(x[:2])
        ann(x[2:])
    single = counted(ann, x)
    assert ledger.samples == 5
    assert ledger.totals() == single.totals()
    assert ledger.total("mac") == dense_macs(ann, x[:1])


def test_method_checks_and_onespike_summary():
    _, qann, x = build("cnn_small")
    net = to_onespike(qann, 4)
    with pytest.raises(ValueError, match="SpikingNetwork"), count_events(net, method="if"):
        pass
    with pytest.raises(ValueError, match="method must be one of"), count_events(qann, method="snn"):
        pass
    ledger = counted(net, x)
    assert (ledger.method, ledger.timesteps, ledger.groups) == ("onespike", 1, 4)
    table = ledger.summary()
    assert "TOTAL" in table.index and "psg.exact.grouped_input" in set(table["rule"])
    assert {"ac", "spikes", "mod"} <= set(table.columns)
