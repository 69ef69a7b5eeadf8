"""Counting without silent or half-wrong parts: nothing is half-converted, non-ReLU activations and
normalisations are counted at their stated costs, strict mode flags only what ran, attention is
counted without the operator pass, conversion errors quote the user's line."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from analysis.counting import count_events
from analysis.counting.rules.costs import ACTIVATIONS, PRIMITIVES, as_events, norm_ops
from analysis.counting.rules.elementwise import ACTIVATION_TYPES
from analysis.snn import ConversionError, to_if_snn, to_quantized

EVENTS = ("add", "mul", "shift", "cmp")


def counted(model, *inputs, **options):
    with torch.no_grad(), count_events(model, method="ann", **options) as ledger:
        model(*inputs)
    return ledger


# -- to_quantized never returns a half-quantized network -----------------------------------------------------
class MobileBlock(nn.Module):
    """A MobileNetV3-style block: Hardswish after the conv, a Hardsigmoid squeeze-excite gate."""

    def __init__(self, functional: bool = False):
        super().__init__()
        self.functional = functional
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.act = nn.Hardswish()
        self.gate = nn.Hardsigmoid()
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        y = self.conv(x)
        y = F.hardswish(y) if self.functional else self.act(y)
        y = self.relu(y * self.gate(y))
        return self.fc(y.flatten(1))


def test_to_quantized_refuses_hardswish_and_hardsigmoid_by_name():
    with pytest.raises(ConversionError, match=r"floating point.*'act' \(Hardswish\), 'gate' \(Hardsigmoid\)"):
        to_quantized(MobileBlock(), 4)
    # the functional call is named with the line of this file that makes it
    where = r"F\.hardswish at node .*test_counting_activations_strict\.py:\d+ in forward\(\)"
    with pytest.raises(ConversionError, match=where):
        to_quantized(MobileBlock(functional=True), 4)


# -- elementwise activations and normalisations: counted, at stated costs ------------------------------------
def test_silu_costs_one_exp_add_div_and_mul_per_element_in_ledger_events():
    # exp = 4 mul + 3 add + 1 shift; div = 5 mul + 2 add (costs.PRIMITIVES); + 1 add + 1 mul
    assert PRIMITIVES["exp"] == {"mul": 4, "add": 3, "shift": 1} and PRIMITIVES["div"] == {"mul": 5, "add": 2}
    layer = counted(nn.Sequential(nn.Linear(3, 6), nn.SiLU()), torch.rand(2, 3)).layer("1")
    assert (layer.rule, layer.kind, layer.mul, layer.add, layer.shift) == ("silu", "neuron", 6 * 10, 6 * 6, 6 * 1)


@pytest.mark.parametrize("module_type", list(ACTIVATION_TYPES), ids=lambda t: t.__name__)
def test_every_activation_module_and_its_function_count_the_same_stated_events(module_type):
    name = ACTIVATION_TYPES[module_type]
    x = torch.randn(2, 5, 3)
    expected = as_events(ACTIVATIONS[name], 15)
    module = counted(nn.Sequential(module_type()), x, strict=True).layer("0")
    assert {e: getattr(module, e) for e in expected} == expected and module.rule == name

    function = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}.get(name) or getattr(F, name)

    class Functional(nn.Module):
        def forward(self, x):
            return function(x)

    op = counted(Functional(), x, strict=True).layers[0]
    assert {e: getattr(op, e) for e in expected} == expected and op.rule == f"op.{name}"


def test_layer_norm_and_group_norm_count_mean_variance_rsqrt_scale_and_affine():
    x = torch.randn(2, 5, 8)
    per_group = norm_ops(1, 8, affine=True, bias=True)
    # mean 7 add + 1 mul; x − mean 8 add; squares 8 mul, 7 add, 1 mul; + eps 1 add; rsqrt; scale 8 mul;
    # weight 8 mul; bias 8 add
    assert per_group == {"add": 7 + 8 + 7 + 1 + 8, "mul": 1 + 8 + 1 + 8 + 8, "rsqrt": 1}
    expected = as_events(per_group, 5)  # five groups of 8 per sample
    module = counted(nn.Sequential(nn.LayerNorm(8)), x, strict=True).layer("0")
    assert {e: getattr(module, e) for e in EVENTS} == {**dict.fromkeys(EVENTS, 0.0), **expected}

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(8)

        def forward(self, x):
            return F.layer_norm(x, (8,), self.norm.weight, self.norm.bias)

    op = counted(Functional(), x, strict=True).layers[0]
    assert {e: getattr(op, e) for e in EVENTS} == {e: getattr(module, e) for e in EVENTS}

    image = torch.randn(2, 6, 4, 4)
    group = counted(nn.Sequential(nn.GroupNorm(3, 6)), image, strict=True).layer("0")
    assert group.mul == as_events(norm_ops(3, 2 * 16, True, True))["mul"]


def test_hand_written_rms_norm_and_softmax_are_counted_not_flagged():
    class RMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(8))

        def forward(self, x):
            scale = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
            return x * scale * self.weight / torch.exp(x).sum(-1, keepdim=True)

    ledger = counted(RMSNorm(), torch.randn(2, 3, 8), strict=True)
    rules = [layer.rule for layer in ledger.layers]
    assert {"op.pow", "op.rsqrt", "op.exp", "op.div"} <= set(rules) and not ledger.unsupported
    div = next(layer for layer in ledger.layers if layer.rule == "op.div")
    assert (div.mul, div.add) == (3 * 8 * PRIMITIVES["div"]["mul"], 3 * 8 * PRIMITIVES["div"]["add"])
    square = next(layer for layer in ledger.layers if layer.rule == "op.pow")
    assert square.mul == 3 * 8  # x ** 2: one multiplication per element


def test_a_convnext_style_block_is_priced_whole_under_strict():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)
            self.norm = nn.LayerNorm(4)
            self.up, self.act, self.down = nn.Linear(4, 16), nn.GELU(), nn.Linear(16, 4)
            self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(4, 4, 1), nn.SiLU(), nn.Conv2d(4, 4, 1),
                                    nn.Sigmoid())

        def forward(self, x):
            y = self.norm(self.dw(x).permute(0, 2, 3, 1))
            y = self.down(self.act(self.up(y))).permute(0, 3, 1, 2)
            return x + y * self.se(y)

    ledger = counted(Block(), torch.rand(1, 4, 6, 6), strict=True)
    assert not ledger.unsupported
    rules = {layer.name: layer.rule for layer in ledger.layers}
    assert rules["norm"] == "layernorm" and rules["act"] == "gelu" and rules["se.2"] == "silu"
    assert rules["se.4"] == "sigmoid"


# -- strict mode: only modules that run ----------------------------------------------------------------------
def test_strict_refuses_only_modules_that_run():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.branch = nn.Sequential()  # torchvision's ShuffleNetV2 has 13 of these
            self.unused_head = nn.Softplus()

        def forward(self, x, head: bool = False):
            y = self.branch(self.fc(x))
            return self.unused_head(y) if head else y

    net = Net()
    ledger = counted(net, torch.rand(2, 4), strict=True)
    assert not ledger.unsupported and [layer.name for layer in ledger.layers] == ["fc"]
    with pytest.raises(ValueError, match=r"'unused_head' of type Softplus"):
        counted(net, torch.rand(2, 4), True, strict=True)


# -- attention without the operator pass ---------------------------------------------------------------------
@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention_is_counted_by_its_module_rule_with_operators_off(batch_first):
    e, heads, length, batch = 8, 2, 5, 3
    mha = nn.MultiheadAttention(e, heads, batch_first=batch_first).eval()
    x = torch.rand(batch, length, e) if batch_first else torch.rand(length, batch, e)
    off = counted(mha, x, x, x, operators=False)
    on = counted(mha, x, x, x)
    assert off.unsupported == [] and [layer.rule for layer in off.layers] == ["attention"]
    expected = 4 * length * e * e + 2 * length * length * e
    assert off.total("mac") * off.samples / batch == expected == on.total("mac") * on.samples / batch


def test_attention_written_in_a_forward_is_listed_with_operators_off():
    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)

        def forward(self, x):
            return F.scaled_dot_product_attention(self.q(x), self.k(x), self.v(x))

    model, x = SelfAttention(), torch.rand(2, 5, 8)
    off = counted(model, x, operators=False)
    assert off.unsupported == [("<root>", "SelfAttention.forward (operators=False)")]
    with pytest.raises(ValueError, match=r"SelfAttention\.forward \(operators=False\)"):
        counted(model, x, operators=False, strict=True)
    on = counted(model, x, strict=True)
    assert on.total("mac") - off.total("mac") == 5 * 5 * (8 + 8)  # the attention itself, per sample


# -- conversion errors quote the user's line -----------------------------------------------------------------
class ShapeInForward(nn.Module):
    def __init__(self, control_flow: bool):
        super().__init__()
        self.control_flow = control_flow
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.fc = nn.Linear(2 * 8 * 8, 3)

    def forward(self, x):
        x = F.relu(self.conv(x))
        if self.control_flow and x.shape[-1] > 4:
            x = x * 1.0
        channels = x.shape[1]
        return self.fc(x.reshape(x.shape[0], channels * 64))


def test_a_getattr_conversion_error_names_the_users_source_line():
    qann = to_quantized(ShapeInForward(control_flow=False), 4)
    with pytest.raises(ConversionError) as error:
        to_if_snn(qann, 2)
    message = str(error.value)
    assert "cannot convert call_function 'getattr'" in message and "\n" not in message
    assert "test_counting_activations_strict.py:" in message and "channels = x.shape[1]" in message


def test_a_trace_failure_is_one_line_with_the_users_source_line():
    with pytest.raises(ConversionError) as error:
        to_quantized(ShapeInForward(control_flow=True), 4)
    message = str(error.value)
    assert "\n" not in message and "if self.control_flow and x.shape[-1] > 4:" in message
