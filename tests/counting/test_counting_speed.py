"""Counting made cheap without changing a count (issue 34): the counts of torchvision-shaped networks
against a straightforward reference computed here from the captured tensors, the shared non-zero maps
never reused after an in-place change, one-pass OneSpike counted group by group (never stacked), and
the cached hook plan reused, re-planned when the model or a registry changes, keeping no model alive."""

import gc
import sys
import weakref
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from analysis.counting import count_events, register_rule
from analysis.counting.nonzero import nonzero_map
from analysis.counting.plan import model_facts
from analysis.counting.registry import COUNTING_RULES
from analysis.counting.rules.neurons import relu_rule
from analysis.models import build_model
from analysis.snn import to_onespike, to_quantized
from analysis.snn.neurons import PSGNeuron

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import timing
from torchvision_shapes import SHAPES


def counted(model, x, **kw):
    with torch.no_grad(), count_events(model, **kw) as ledger:
        model(x)
    return ledger


def reference(model: nn.Module, x: torch.Tensor) -> dict[str, dict[str, float]]:
    """Per layer, per sample, by the definitions: a conv's MACs are output elements times its kernel
    volume, the non-zero ones a ones-kernel convolution of its input's non-zero indicator (every
    (output, weight) pair whose input is not zero); a linear's likewise; an activation's non-zero
    outputs counted from its output; a module called twice adds up. Captured with plain forward
    hooks, no counting code involved."""
    found: dict[str, dict[str, float]] = {}
    batch = x.shape[0]

    def hook(name):
        def record(module, inputs, output):
            for key, value in facts_of(module, inputs, output).items():
                found.setdefault(name, {})
                found[name][key] = found[name].get(key, 0.0) + value

        return record

    def facts_of(module, inputs, output) -> dict[str, float]:
        inp = inputs[0]
        if isinstance(module, nn.Conv2d):
            active = (inp != 0).to(torch.float64)
            ones = torch.ones(module.out_channels, module.in_channels // module.groups, *module.kernel_size,
                              dtype=torch.float64)
            gated = F.conv2d(active, ones, None, module.stride, module.padding, module.dilation, module.groups)
            return {"mac": output.numel() * module.weight[0].numel() / batch,
                    "mac_nonzero": float(gated.sum()) / batch, "input_nonzero": float(active.sum()) / batch}
        if isinstance(module, nn.Linear):
            nonzero = float((inp != 0).sum())
            return {"mac": output.numel() * module.in_features / batch,
                    "mac_nonzero": nonzero * module.out_features / batch, "input_nonzero": nonzero / batch}
        return {"output_nonzero": float((output != 0).sum()) / batch}

    kinds = (nn.Conv2d, nn.Linear, nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish)
    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return found


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "shufflenet_v2_x1_0", "squeezenet1_1",
                                  "mobilenet_v3_small"])
def test_torchvision_shapes_count_what_a_straightforward_reference_counts(name):
    model = SHAPES[name](10, 64).eval()
    x = torch.rand(2, 3, 64, 64)
    expected = reference(model, x)
    layers = {layer.name: layer for layer in counted(model, x).layers}
    compared = 0
    for layer_name, facts in expected.items():
        # a module called twice (a reused self.relu) is one row per call: layer1.0.relu, layer1.0.relu#2
        calls = [la for name, la in layers.items() if name == layer_name or name.startswith(f"{layer_name}#")]
        for key, value in facts.items():
            assert sum(getattr(la, key) for la in calls) == pytest.approx(value, rel=1e-12, abs=0), (layer_name, key)
            compared += 1
    assert compared > 50
    # the second count of the same model (its plan cached) counts the same
    again = {layer.name: layer for layer in counted(model, x).layers}
    assert again == layers


class InPlaceBetween(nn.Module):
    """A ReLU's output changed in place (+1: no zero left) before the conv that reads it."""

    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.relu(x)
        y.add_(1.0)
        return self.conv(y)


def test_a_tensor_changed_in_place_is_counted_again():
    x = torch.randn(2, 3, 6, 6)
    ledger = counted(InPlaceBetween().eval(), x)
    relu, conv = ledger.layer("relu"), ledger.layer("conv")
    assert relu.output_nonzero == pytest.approx(float((x > 0).sum()) / 2)
    assert conv.input_nonzero == 3 * 6 * 6  # every input is non-zero after the +1
    assert conv.mac_nonzero == reference(InPlaceBetween().eval().requires_grad_(False), x.abs() + 1)["conv"][
        "mac_nonzero"]


def test_onepass_onespike_is_counted_group_by_group_never_stacked(monkeypatch):
    torch.manual_seed(0)
    x = torch.rand(4, 3, 16, 16)
    qann = to_quantized(build_model("resnet20", 10, 3, 16, width=4), 4, calibration_data=x).eval()
    grouped = counted(to_onespike(qann, 8, layout="grouped"), x)

    def stacked(self, total):
        raise AssertionError("the G spike maps were stacked")

    onepass_net = to_onespike(qann, 8, layout="onepass")
    monkeypatch.setattr(PSGNeuron, "forward", stacked)  # the one-pass forward never calls it either
    onepass = counted(onepass_net, x, track_ties=True)
    monkeypatch.undo()
    by_name = {layer.name: layer for layer in grouped.layers}
    fc = onepass.layer("fc")  # reads average-pooled spikes: its non-zero inputs are per group
    assert fc.mac_nonzero > 0 and fc.mac_nonzero == by_name["fc"].mac_nonzero
    assert fc.input_nonzero == by_name["fc"].input_nonzero
    for layer in onepass.layers:
        if layer.kind in ("conv", "linear"):
            assert (layer.ac, layer.mac, layer.mac_nonzero) == (by_name[layer.name].ac, by_name[layer.name].mac,
                                                                by_name[layer.name].mac_nonzero), layer.name


@pytest.mark.parametrize("options", [{}, {"v_init": 0.5}, {"mode": "hardware"}, {"mode": "hardware", "v_init": 0.5}])
@pytest.mark.parametrize("groups", [1, 4, 32])
def test_group_spikes_equal_the_stacked_forward(options, groups):
    neuron = PSGNeuron(1.0 if options.get("mode") else 0.7, groups, **options)
    total = torch.randn(3, 4, 5, 5) * groups
    assert torch.equal(torch.stack(list(neuron.group_spikes(total))), neuron(total))


def test_group_spikes_with_per_group_thresholds_equal_the_scan():
    neuron = PSGNeuron(torch.tensor([0.5, 0.7, 1.0, 0.3]), 4)
    total = torch.randn(3, 4, 5, 5) * 4
    assert torch.equal(torch.stack(list(neuron.group_spikes(total))), neuron(total))


@pytest.mark.parametrize("v_init", [0.0, 0.5])
def test_group_spikes_of_the_bitplane_code_are_its_binary_digits(v_init):
    neuron = PSGNeuron([0.3 * 2**i for i in range(4)], 4, code="bitplane", v_init=v_init)
    total = torch.randn(3, 4, 5, 5) * 6
    spikes = torch.stack(list(neuron.group_spikes(total)))
    assert torch.equal(spikes, neuron(total)) and 0 < spikes.sum() < spikes.numel()


def test_the_plan_is_reused_and_planned_again_when_the_tree_or_a_rule_changes():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).eval()
    x = torch.rand(2, 1, 6, 6)
    first = counted(model, x)
    facts = model_facts(model)
    plan = next(iter(facts.plans.values()))
    counted(model, x)
    assert model_facts(model) is facts and next(iter(facts.plans.values())) is plan  # reused
    model[1] = nn.ReLU6()  # a replaced layer: planned again, counted by its own rule
    assert [layer.rule for layer in counted(model, x).layers][1] == "clip"
    assert model_facts(model) is not facts
    model[1] = nn.ReLU()

    def tagged(module, inputs, output, ctx):
        return dict(relu_rule(module, inputs, output, ctx), rule="relu.tagged")

    previous = COUNTING_RULES.get(nn.ReLU)
    register_rule(nn.ReLU, replace=True)(tagged)
    try:
        assert counted(model, x).layers[1].rule == "relu.tagged"  # a registry change makes the plan stale
    finally:
        register_rule(nn.ReLU, replace=True)(previous)
    assert counted(model, x).layers == first.layers


def test_the_plan_cache_keeps_no_model_alive():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()).eval()
    counted(model, torch.rand(1, 1, 5, 5))
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None


class Concatenates(nn.Module):
    """Two ReLU outputs concatenated along ``dim`` (channels: their non-zero maps add up; width: they
    do not), read by a padded conv."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.a, self.b = nn.ReLU(), nn.ReLU()
        self.conv = nn.Conv2d(3 if dim == 3 else 6, 2, 3, padding=1)

    def forward(self, x):
        return self.conv(torch.cat((self.a(x), self.b(-x)), self.dim))


@pytest.mark.parametrize("dim", [1, 3])
def test_a_concatenation_of_counted_tensors_is_counted_exactly(dim):
    model, x = Concatenates(dim).eval(), torch.randn(2, 3, 5, 5)
    layer, expected = counted(model, x).layer("conv"), reference(model, x)["conv"]
    assert (layer.input_nonzero, layer.mac_nonzero) == (expected["input_nonzero"], expected["mac_nonzero"])


def test_main_features_run_as_plan_steps_with_no_hook_on_any_module():
    """A framework neuron's start, an unrecognised stateful leaf (the state watch) and the rules all run
    from the two process-wide hooks: no module of the model carries a hook while it is counted, and
    the watch still lists the stateful module at the second (cached-plan) count."""
    snn = pytest.importorskip("snntorch")
    snn_utils = pytest.importorskip("snntorch.utils")

    class Memory(nn.Module):  # keeps its membrane between calls, named as nothing we know
        def __init__(self):
            super().__init__()
            self.register_buffer("acc", torch.zeros(()))

        def forward(self, x):
            self.acc = self.acc + x.mean()
            return x * (self.acc > 0).float()

    model = nn.Sequential(nn.Linear(6, 5), snn.Leaky(beta=0.5, init_hidden=True), Memory(), nn.Linear(5, 2)).eval()
    x = torch.rand(3, 6)
    for _ in range(2):
        snn_utils.reset(model)
        with count_events(model) as ledger:
            hooked = [type(m).__name__ for m in model.modules() if m._forward_hooks or m._forward_pre_hooks]
            model(x)
        assert hooked == ["Sequential"]  # the root's own pre-hook (keyword inputs) only
        assert ledger.samples == 3 and ledger.layer("0").mac > 0
        assert any(path == "2" and "stateful neuron" in what for path, what in ledger.unsupported)


# -- shortcuts that must count what the long way counts (issue 34) --------------------------------------------
@pytest.mark.parametrize(("kernel", "stride", "padding"), [(1, 1, 0), (1, 2, 0), (3, 1, 1), (3, 2, 1), (2, 2, 0)])
def test_a_uniform_fanout_shortcut_counts_what_the_per_position_sum_counts(kernel, stride, padding):
    """A 1x1 stride-1 convolution takes its fan-out sum from the shared non-zero total; every other
    geometry (a strided 1x1 skips positions, padding makes edges reach fewer outputs) from the map."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(8, 6, kernel, stride, padding), nn.ReLU()).eval()
    x = torch.randn(2, 3, 9, 9)
    ledger, expected = counted(model, x), reference(model, x)
    for name in ("0", "2"):
        layer = ledger.layer(name)
        assert (layer.mac, layer.mac_nonzero, layer.input_nonzero) == (
            expected[name]["mac"], expected[name]["mac_nonzero"], expected[name]["input_nonzero"])
    assert ledger.layer("1").output_nonzero == expected["1"]["output_nonzero"]


def test_attention_counts_each_inputs_non_zeros_from_the_shared_maps():
    """Self-attention's query, key and value are one tensor (counted once); cross-attention's are
    three: mac_nonzero is E per non-zero input element of each, plus the dense rest, either way."""
    torch.manual_seed(0)
    e, length, batch = 8, 5, 3
    mha = nn.MultiheadAttention(e, 2, batch_first=True).eval()
    q, k, v = (F.relu(torch.randn(batch, length, e)) for _ in range(3))
    dense = batch * length * e * e + 2 * batch * length * length * e  # output projection and attention
    for inputs in ((q, q, q), (q, k, v)):
        with torch.no_grad(), count_events(mha) as ledger:
            mha(*inputs)
        gated = sum(int((t != 0).sum()) for t in inputs) * e
        (layer,) = [layer for layer in ledger.layers if layer.rule == "attention"]
        assert layer.mac_nonzero * ledger.samples == gated + dense


@pytest.mark.parametrize("leading", [(4, 16), (40000, 1)])
def test_a_non_zero_map_is_exact_in_16_bits_and_above_them(leading):
    """A map sums each position in int16 only while every position's count fits (B·C <= 32767)."""
    torch.manual_seed(0)
    x = F.relu(torch.randn(*leading, 3, 2))
    found = nonzero_map(x)
    assert torch.equal(found.to(torch.int64), (x != 0).sum(dim=(0, 1)))
    assert found.dtype == (torch.int16 if leading[0] * leading[1] <= 2**15 - 1 else torch.int32)


def test_a_busy_machine_gets_more_rounds_until_each_minimum_is_met_again(monkeypatch):
    """The benchmarks' timing: a minimum seen once (a lucky or an unlucky round) is not taken until
    CONFIRMATIONS rounds lie within SETTLED of it, or the rounds run out."""
    times = {"a": iter([1.0, 1.5, 1.4, 1.3, 1.2, 1.6, 1.5, 1.01, 1.3, 1.02, 9.0, 9.0]),
             "b": iter([2.0] * 12)}
    monkeypatch.setattr(timing, "cpu_seconds", lambda fn: next(times[fn()]))
    result = timing.interleaved_min({"a": lambda: "a", "b": lambda: "b"}, rounds=7, warmup=0)
    assert result.rounds == 10 and result.settled and result == {"a": 1.0, "b": 2.0}
    assert result.paired("a", "b") == 0.65  # the median of the ten rounds' a/b
    low, high = result.paired_interval("a", "b")
    assert 0.5 <= low <= 0.65 <= high <= 0.75 and result.paired_interval("a", "b") == (low, high)  # seeded
    result.times = {"a": [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 1.02], "b": [1.0] * 7}
    assert result.paired_interval("a", "b")[0] < 1 < result.paired_interval("a", "b")[1]  # parity
    result.times = {"a": [0.8, 0.82, 0.79, 0.81, 0.8, 0.83, 0.8], "b": [1.0] * 7}
    assert result.paired_interval("a", "b")[1] < 1  # clearly faster
    with pytest.raises(ValueError, match="at least 7"):
        timing.interleaved_min({"a": lambda: "a"}, rounds=3)
    times["c"] = iter([5.0, 1.0, 3.0, 2.0, 4.0, 6.0, 7.0, 8.0, 9.0])  # never met again: runs out at max_rounds
    stuck = timing.interleaved_min({"c": lambda: "c"}, rounds=7, warmup=0, max_rounds=9)
    assert stuck.rounds == 9 and not stuck.settled and stuck == {"c": 1.0} and "unsettled" in stuck.note()
