"""The operator-level pass: work written in a forward (``out += identity``, ``F.relu``, ``x @ w``,
functional conv, attention) is counted by operator rules or flagged, never silently zero; nothing
inside a rule-covered module is counted twice; a keyword call counts per sample."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from analysis.counting import count_events


# -- a torchvision-style ResNet-18, written with plain torch (no project modules) ------------------
class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)  # one module called twice, as in torchvision
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return F.relu(out)


class ResNet18(nn.Module):
    def __init__(self, width=8, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths, cin, layers = [width, 2 * width, 4 * width, 8 * width], width, []
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(cin, w, stride), BasicBlock(w, w)))
            cin = w
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def blocks(model):
    return [(name, m) for name, m in model.named_modules() if isinstance(m, BasicBlock)]


def test_resnet18_macs_match_flop_counter_and_residual_adds_are_counted():
    torch.manual_seed(0)
    model = ResNet18().eval()
    x = torch.rand(2, 3, 32, 32)
    with FlopCounterMode(display=False) as flops, torch.no_grad():
        model(x)
    with count_events(model, strict=True) as ledger, torch.no_grad():
        model(x)
    assert ledger.method == "ann" and ledger.samples == 2 and not ledger.unsupported
    assert ledger.total("mac") == flops.get_total_flops() / 2 / 2  # flops = 2·MAC, per sample
    outputs = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: outputs.__setitem__(n, o[0].numel()))
             for n, m in blocks(model)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    for name, _ in blocks(model):
        residual = ledger.layer(f"{name}/add")  # `out += identity`, found by the operator pass
        assert residual.kind == "add" and residual.rule == "op.add"
        assert residual.add == outputs[name]  # one add per output element of the block
        final = ledger.layer(f"{name}/relu")  # the functional F.relu closing the block
        assert final.cmp == outputs[name] and final.module_type == "aten.relu"
        inner = ledger.layer(f"{name}.relu")  # the module ReLU after bn1
        assert inner.rule == "relu" and inner.cmp == ledger.layer(f"{name}.bn1").add
    assert ledger.layer("/relu").cmp == ledger.layer("bn1").add  # the stem's F.relu
    residual_adds = sum(outputs.values())
    bn_adds = sum(layer.add for layer in ledger.layers if layer.kind == "norm")
    assert ledger.total("add") == residual_adds + bn_adds + ledger.layer("fc").neurons  # + the fc bias
    assert ledger.layer("maxpool").cmp == 8 * 8 * 8 * (9 - 1)  # 8 channels of 8x8, 3x3 windows


def test_operator_pass_off_misses_the_residual_adds():
    """The reason for the operator pass: without it the residual adds read as zero."""
    model = ResNet18().eval()
    x = torch.rand(1, 3, 32, 32)
    with count_events(model, operators=False) as off, torch.no_grad():
        model(x)
    with count_events(model) as on, torch.no_grad():
        model(x)
    assert on.total("mac") == off.total("mac")
    assert on.total("add") - off.total("add") == sum(
        on.layer(f"{name}/add").add for name, _ in blocks(model))


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 4))
        self.k = nn.Parameter(torch.randn(3, 2, 3, 3))

    def forward(self, img, vec):
        y = F.conv2d(img, self.k, padding=1)
        return y.flatten(1) @ torch.ones(3 * 25, 2), vec @ self.w


def test_functional_matmul_and_conv_count_macs_with_nonzero_operands():
    vec = torch.tensor([[1.0, 0.0, 2.0, 0.0, 0.0, 3.0]])
    img = torch.zeros(1, 2, 5, 5)
    img[0, 0, 0, 0] = 1.0  # a corner: reaches 4 outputs of each of the 3 output channels
    model = Functional()
    with count_events(model, method="ann", strict=True) as ledger, torch.no_grad():
        model(img, vec)
    conv = ledger.layer("/convolution")
    assert conv.kind == "conv" and conv.mac == 3 * 25 * 2 * 9 and conv.mac_nonzero == 3 * 4
    mm = [layer for layer in ledger.layers if layer.rule == "op.mm"]
    assert [layer.mac for layer in mm] == [75 * 2, 6 * 4]
    assert mm[1].mac_nonzero == 3 * 4  # three non-zero inputs, four outputs each


def test_attention_is_counted_never_zero():
    torch.manual_seed(0)
    e, heads, length = 8, 2, 5
    mha = nn.MultiheadAttention(e, heads, batch_first=True).eval()
    x = torch.rand(3, length, e)
    net = nn.Sequential(nn.Linear(e, e))
    for model, call in ((mha, lambda: mha(x, x, x, need_weights=False)), (mha.train(), lambda: mha(x, x, x))):
        with count_events(model, method="ann", strict=True) as ledger, torch.no_grad():
            call()
        projections = 4 * length * e * e
        attention = 2 * length * length * e
        assert ledger.total("mac") == projections + attention, [(la.name, la.mac) for la in ledger.layers]
        assert ledger.total("cmp") >= heads * length * length  # the softmax
    with pytest.warns(UserWarning, match="ran no forward pass"), count_events(net) as ledger, torch.no_grad():
        F.scaled_dot_product_attention(x, x, x)  # outside the model: not the model's work
    assert ledger.layers == []


def test_uncounted_arithmetic_is_flagged_and_strict_raises():
    class Gelu(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return torch.erf(self.fc(x))

    model = Gelu()
    with count_events(model) as ledger, torch.no_grad():
        model(torch.rand(2, 4))
    assert ledger.unsupported == [("<root>", "aten.erf")]
    with pytest.raises(ValueError, match=r"aten\.erf in module '<root>'.*register_op_rule\('erf'\)"):
        with count_events(model, strict=True), torch.no_grad():
            model(torch.rand(2, 4))


def test_ops_inside_covered_modules_are_not_counted_twice():
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                        nn.Linear(12, 2)).eval()
    x = torch.rand(4, 2, 4, 4)
    with count_events(net, strict=True) as ledger, torch.no_grad():
        net(x)
    assert [layer.name for layer in ledger.layers] == ["0", "1", "2", "3", "4", "5"]
    assert ledger.total("mac") == 3 * 16 * 2 * 9 + 2 * 12


def test_keyword_call_counts_per_sample():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, input):
            return self.fc(input)

    net = Net()
    with count_events(net) as ledger, torch.no_grad():
        net(input=torch.rand(5, 3))
    assert ledger.samples == 5 and ledger.layer("fc").mac == 6


def test_flop_counter_inside_the_block_and_the_mode_only_on_where_needed():
    model = ResNet18().eval()
    x = torch.rand(1, 3, 32, 32)
    with count_events(model) as ledger, torch.no_grad():
        with FlopCounterMode(display=False) as flops:
            model(x)
        assert torch.utils._python_dispatch._get_current_dispatch_mode() is None  # off outside the model
    assert ledger.total("mac") == flops.get_total_flops() / 2
    assert ledger.layer("layer1.0/add").add == 8 * 8 * 8


def test_the_pass_is_entered_while_the_model_runs_and_off_the_stack_inside_covered_modules():
    """The operator pass is entered once a forward (torch.compile reads that flag), taken off the dispatch stack
    inside each rule-covered module and put back after it, and left after the forward, also one that raised."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode, is_in_torch_dispatch_mode

    seen = []

    class Probe(nn.Module):  # a rule-covered leaf: the pass is off the stack while it runs
        def forward(self, x):
            seen.append(("leaf", _get_current_dispatch_mode() is None, is_in_torch_dispatch_mode()))
            return x * 2

    class Block(nn.Module):  # a container with work of its own: the pass is on while its own code runs
        def __init__(self):
            super().__init__()
            self.a, self.b = Probe(), nn.Linear(3, 3)

        def forward(self, x, fail=False):
            y = self.a(x)
            seen.append(("container", _get_current_dispatch_mode() is not None, is_in_torch_dispatch_mode()))
            if fail:
                raise RuntimeError("boom")
            return y + self.b(x)

    def probe_rule(module, inputs, output, ctx):
        return {"kind": "other", "mul": output.numel(), "signal": ctx.out_signal()}

    net, x = Block(), torch.rand(2, 3)
    with count_events(net, strict=True, rules={Probe: probe_rule}) as ledger, torch.no_grad():
        net(x)
        seen.append(("between", _get_current_dispatch_mode() is None, is_in_torch_dispatch_mode()))
        net(x)
        with pytest.raises(RuntimeError, match="boom"):
            net(x, fail=True)
        seen.append(("after a raise", _get_current_dispatch_mode() is None, is_in_torch_dispatch_mode()))
    assert _get_current_dispatch_mode() is None and not is_in_torch_dispatch_mode()
    leaf, container = ("leaf", True, True), ("container", True, True)
    assert seen == [leaf, container, ("between", True, False), leaf, container, leaf, container,
                    ("after a raise", True, False)]
    # three forwards of two samples: the probe ran in each, the add in the two that did not raise
    assert ledger.samples == 6 and ledger.layer("a").mul == 3 and ledger.layer("/add").add == 2


# -- operator rules, one per aten operator (no hints smuggled into kwargs) --------------------------------
class Reductions(nn.Module):
    def forward(self, x):
        return (x / 4, x * 3, x.sum(dim=1), x.mean(dim=1), F.avg_pool2d(x, 2), F.max_pool2d(x, 2),
                F.adaptive_max_pool2d(x, 1), x.clamp(min=0), x.clamp(0, 1))


def test_each_operator_has_its_own_formula():
    x = torch.rand(2, 4, 4, 4)  # 64 values per sample
    net = Reductions()
    with count_events(net, method="ann", strict=True) as ledger, torch.no_grad():
        net(x)
    events = {layer.name: {e: getattr(layer, e) for e in ("add", "mul", "shift", "cmp") if getattr(layer, e)}
              for layer in ledger.layers}
    assert events["/div"] == {"shift": 64}  # dividing by 4: a shift, not a multiply by 4
    assert events["/mul"] == {"mul": 64}
    assert events["/sum"] == {"add": 48}  # 64 inputs into 16 outputs
    assert events["/mean"] == {"add": 48, "shift": 16}  # the sum, then one divide by 4 per output
    assert events["/avg_pool2d"] == {"add": 48, "shift": 16}
    assert events["/max_pool2d"] == {"cmp": 48}  # aten.max_pool2d_with_indices, named as the call
    assert events["/adaptive_max_pool2d"] == {"cmp": 60}  # one 16-wide window per channel
    assert events["/clamp"] == {"cmp": 64} and events["/clamp#2"] == {"cmp": 128}  # one bound, two bounds


def test_operator_rules_refuse_a_duplicate_and_a_count_may_override_one():
    from analysis.counting import OP_RULES, register_op_rule
    from analysis.registry import DuplicateNameError

    def triple(args, kwargs, out):
        return {"kind": "other", "mul": 3 * out.numel()}

    with pytest.raises(DuplicateNameError, match=r"operator rule 'mul' is already registered.*replace=True.*op_rules"):
        register_op_rule("mul")(triple)

    class Scale(nn.Module):
        def forward(self, x):
            return x * 3

    net, x = Scale(), torch.rand(2, 5)
    with count_events(net, op_rules={"mul": triple}) as ledger, torch.no_grad():
        net(x)
    assert ledger.layer("/mul").mul == 15
    with count_events(net) as ledger, torch.no_grad():
        net(x)
    assert ledger.layer("/mul").mul == 5 and OP_RULES.get("mul").__name__ == "mul_op"
    with pytest.raises(TypeError, match="op_rules must map aten op names"):
        with count_events(net, op_rules={torch.mul: triple}):
            pass


def test_an_operator_without_a_rule_is_counted_through_its_decomposition():
    class Arithmetic(nn.Module):
        def forward(self, x, y):
            return torch.addcmul(x, x, y, value=0.5) + torch.erf(x)

    net, x = Arithmetic(), torch.rand(3, 8)
    with count_events(net) as ledger, torch.no_grad():
        net(x, x)
    decomposed = [layer for layer in ledger.layers if "decomposition" in layer.notes]
    assert {layer.notes for layer in decomposed} == {"counted through aten.addcmul's decomposition"}
    # addcmul = x + 0.5·(x·y): one multiply, one scaling by ½ (a shift) and one add per element
    assert [sum(getattr(layer, e) for layer in decomposed) for e in ("mul", "shift", "add")] == [8, 8, 8]
    assert ledger.unsupported == [("<root>", "aten.erf")]  # no rule, no decomposition: listed
    with pytest.raises(ValueError, match=r"aten\.erf"):
        with count_events(net, strict=True), torch.no_grad():
            net(x, x)

    def addcmul(args, kwargs, out):
        return {"kind": "other", "mul": 2 * out.numel(), "add": out.numel()}

    with count_events(net, op_rules={"addcmul": addcmul}) as ledger, torch.no_grad():
        net(x, x)  # its own rule comes before the decomposition
    assert ledger.layer("/addcmul").mul == 16 and not any("decomposition" in la.notes for la in ledger.layers)
