"""SNNs from SpikingJelly and snnTorch (recognised by class path), our own IF/LIF neurons, and
OneSpike from a directly trained SNN (issue 20)."""

import math

import pytest
import torch
from torch import nn

from analysis.counting import count_events
from analysis.snn import LIFNeuron, TimeLoop, neuron_spec
from analysis.snn.onestep import framework_form, spiking_from_ann
from analysis.study.onestep import onestep_fidelity
from energy_models import available_models, get_model

sj_layer = pytest.importorskip("spikingjelly.activation_based.layer")
sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
sj_functional = pytest.importorskip("spikingjelly.activation_based.functional")
sj_counter = pytest.importorskip("spikingjelly.activation_based.op_counter")
snn = pytest.importorskip("snntorch")

T = 4


def _scaled(net, factor=3.0):
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                m.weight.mul_(factor)
    return net.eval()


def sj_net(mode="m"):
    torch.manual_seed(1)
    net = nn.Sequential(sj_layer.Conv2d(1, 4, 3, padding=1), sj_neuron.IFNode(v_reset=None),
                        sj_layer.Conv2d(4, 8, 3, stride=2, padding=1), sj_neuron.LIFNode(tau=2.0),
                        sj_layer.Flatten(), sj_layer.Linear(8 * 4 * 4, 10), sj_neuron.LIFNode(tau=4 / 3, v_reset=None))
    sj_functional.set_step_mode(net, mode)
    return _scaled(net)


def sj_synops(model, x):
    counter = sj_counter.SynOpCounter()
    with torch.no_grad(), sj_counter.DispatchCounterMode([counter]):
        model(x)
    return counter.get_total() / len(x)


class SnnTorchLoop(nn.Module):
    """The snnTorch tutorial shape: Leaky neurons stepped in a loop over T inside forward."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.lif1 = snn.Leaky(beta=0.5)
        self.fc = nn.Linear(4 * 8 * 8, 10)
        self.lif2 = snn.Leaky(beta=0.9, reset_mechanism="zero")

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        out = []
        for _ in range(T):
            spk1, mem1 = self.lif1(self.conv(x), mem1)
            spk2, mem2 = self.lif2(self.fc(spk1.flatten(1)), mem2)
            out.append(spk2)
        return torch.stack(out).mean(0)


@pytest.fixture
def images():
    torch.manual_seed(0)
    return torch.rand(3, 1, 8, 8) * 3


@pytest.mark.parametrize("mode", ["m", "s"])
def test_spikingjelly_acs_equal_a_hand_count_and_spikingjelly_synops(mode, images):
    net = sj_net(mode)
    model = TimeLoop(net, T)
    spikes = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, k=k: spikes.setdefault(k, []).append(o.detach()))
             for k, m in ((1, net[1]), (3, net[3]))]
    with count_events(model, strict=True) as ledger:
        model(images)
    for h in hooks:
        h.remove()
    # hand count: a spike of neuron layer 1 reaches fanout(position)·8 synapses of the stride-2 conv
    s1 = torch.cat(spikes[1]).reshape(T, 3, 4, 8, 8).sum(dim=(0, 1, 2))
    fanout = nn.functional.conv_transpose2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3), stride=2, padding=1,
                                            output_padding=1)[0, 0]
    s3 = torch.cat(spikes[3]).sum()
    hand = (float((s1 * fanout).sum()) * 8 + float(s3) * 10) / 3
    assert ledger.total("ac") == pytest.approx(hand)
    sj_functional.reset_net(net)
    assert ledger.total("ac") == pytest.approx(sj_synops(model, images))
    assert ledger.timesteps == T and ledger.samples == 3 and ledger.method == "direct_lif" and not ledger.unsupported
    assert {layer.timesteps for layer in ledger.layers if layer.kind in ("conv", "linear", "neuron")} == {T}


def test_snntorch_loop_acs_equal_a_hand_count(images):
    net = SnnTorchLoop().eval()
    with torch.no_grad():
        net.conv.weight.mul_(3)
    seen = []
    hook = net.lif1.register_forward_hook(lambda m, i, o: seen.append(o[0].detach()))
    with count_events(net, strict=True) as ledger:
        net(images)
    hook.remove()
    hand = float(torch.stack(seen).sum()) * 10 / 3
    assert hand > 0
    assert ledger.total("ac") == pytest.approx(hand)
    assert ledger.timesteps == T
    lif2 = ledger.layer("lif2")
    assert lif2.rule == "snntorch.Leaky.leak_mul.hard_reset" and lif2.timesteps == T
    assert ledger.layer("lif1").rule == "snntorch.Leaky.leak_shift.soft_reset"


def test_membrane_accesses_and_leak_operations_equal_a_hand_count():
    """Two layers, B=2, T=4: Linear(3->5) -> LIFNode(τ=2, hard) -> Linear(5->2) -> Leaky(β=0.75)."""
    torch.manual_seed(3)
    lin1, lin2 = nn.Linear(3, 5), nn.Linear(5, 2)
    net = nn.Sequential(sj_layer.Linear(3, 5), sj_neuron.LIFNode(tau=2.0, step_mode="m"),
                        sj_layer.Linear(5, 2), sj_neuron.ParametricLIFNode(init_tau=4 / 3, v_reset=None))
    sj_functional.set_step_mode(net, "m")
    net[0].load_state_dict(lin1.state_dict())
    net[2].load_state_dict(lin2.state_dict())
    model = TimeLoop(_scaled(net, 4.0), T)
    x = torch.rand(2, 3)
    with count_events(model) as ledger:
        model(x)
    first, second = ledger.layer("net.1"), ledger.layer("net.3")
    updates1, updates2 = 5 * T, 2 * T  # per sample
    assert first.vmem_reads == first.vmem_writes == first.cmp == updates1
    assert first.shift == updates1 and first.mul == 0  # 1/τ = 0.5: a shift
    assert first.rule == "spikingjelly.LIFNode.leak_shift.hard_reset"
    assert first.mask == first.spikes  # one select of v_reset per spike
    assert first.add == 2 * updates1  # x − v, v + (...)/τ; v_reset = 0 needs no subtraction
    # a learned 1/τ = sigmoid(w) is no power of two: a multiply; soft reset: one subtraction per spike
    assert second.rule == "spikingjelly.ParametricLIFNode.leak_mul.soft_reset"
    assert second.mul == updates2 and second.add == 2 * updates2 + second.spikes
    assert second.vmem_reads == updates2 and second.mask == 0


def test_every_hardware_model_prices_a_framework_ledger(images):
    model = TimeLoop(sj_net("m"), T)
    with count_events(model) as ledger:
        model(images)
    for entry in available_models():
        name = entry["name"] if isinstance(entry, dict) else entry
        report = get_model(name).price(ledger)
        assert report.total_pj > 0
        assert not any("vmem" in w or "mask" in w or "cmp" in w for w in report.warnings if "neuron" in w
                       and name not in ("flops45nm", "flops45nm_fp32")), (name, report.warnings)


def test_unknown_neuron_raises_under_strict_and_is_listed_otherwise(images):
    class MyLIF(nn.Module):
        def __init__(self):
            super().__init__()
            self.threshold, self.v = 1.0, None

        def forward(self, x):
            self.v = x if self.v is None else 0.5 * self.v + x
            return (self.v >= self.threshold).float()

    for neuron in (MyLIF(), sj_neuron.IzhikevichNode(step_mode="m")):
        net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), neuron).eval()
        with pytest.raises(ValueError, match="no counting rule"), count_events(net, strict=True):
            net(images)
        with count_events(net) as ledger:
            net(images)
        assert ledger.unsupported and ledger.unsupported[0][0] == "2"


@pytest.mark.parametrize(("tau", "decay_input", "v_reset"),
                         [(2.0, False, None), (2.0, False, 0.0), (4 / 3, True, None), (2.0, True, 0.0),
                          (3.0, False, 0.3)])
def test_our_lif_equals_spikingjelly_spikes_and_membrane(tau, decay_input, v_reset):
    torch.manual_seed(4)
    x = torch.randn(6, 5, 7) * 0.8 + 0.4
    theirs = sj_neuron.LIFNode(tau=tau, decay_input=decay_input, v_reset=v_reset, step_mode="m", store_v_seq=True)
    spikes = theirs(x)
    ours, _, v = LIFNeuron(1.0, 6, decay=1 - 1 / tau, v_reset=v_reset).dynamics(x / tau if decay_input else x)
    assert spikes.sum() > 0 and torch.equal(spikes, ours)
    assert torch.allclose(theirs.v_seq, v, atol=1e-6)


@pytest.mark.parametrize("v_reset", [None, 0.0])
def test_our_if_equals_spikingjelly_ifnode(v_reset):
    x = torch.randn(6, 5, 7) + 0.3
    theirs = sj_neuron.IFNode(v_reset=v_reset, step_mode="m", store_v_seq=True)
    spikes = theirs(x)
    ours, _, v = LIFNeuron(1.0, 6, v_reset=v_reset).dynamics(x)
    assert torch.equal(spikes, ours) and torch.allclose(theirs.v_seq, v, atol=1e-6)


@pytest.mark.parametrize(("beta", "mechanism"), [(0.5, "subtract"), (0.8, "subtract"), (0.8, "zero"), (1.0, "subtract"),
                                                 (0.7, "none")])
def test_our_lif_equals_snntorch_leaky_spikes_and_membrane(beta, mechanism):
    torch.manual_seed(5)
    x = torch.randn(6, 5, 7) * 0.8 + 0.4
    leaky = snn.Leaky(beta=beta, reset_mechanism=mechanism)
    mem, spikes, mems = leaky.init_leaky(), [], []
    for t in range(6):
        s, mem = leaky(x[t], mem)
        spikes.append(s)
        mems.append(mem)
    reset = {"subtract": "soft", "zero": "hard", "none": "none"}[mechanism]
    ours, h, _ = LIFNeuron(1.0, 6, decay=beta, reset=reset, reset_delay=True, fire_at_threshold=False).dynamics(x)
    assert torch.equal(torch.stack(spikes), ours) and torch.allclose(torch.stack(mems), h, atol=1e-6)
    spec = neuron_spec(leaky)
    assert (spec.leak is None if beta == 1.0 else spec.leak == pytest.approx(beta))  # β = 1: no leak
    assert (spec.reset, spec.reset_delay) == (reset, True)


def test_framework_form_reproduces_the_network_and_converts_to_onespike(images):
    net = sj_net("m")
    model = TimeLoop(net, T)
    form = framework_form(model, T)
    with torch.no_grad():
        assert torch.allclose(form(images), model(images), atol=1e-5)
    summary, layers = onestep_fidelity(form, images, torch.zeros(3, dtype=torch.long))
    assert summary["timesteps"] == T and 0 <= summary["onestep_agreement"] <= 1 and len(layers) == 3
    # the first spiking layer is a soft-reset IF fed a constant current: PSG reproduces it exactly
    assert layers["exact_neurons"].iloc[0] == 1.0


def test_psg_is_exact_for_a_soft_reset_if_snn_and_not_for_leak():
    torch.manual_seed(6)
    ann = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))
    x = torch.rand(64, 1, 4, 4) * 2
    y = torch.zeros(64, dtype=torch.long)
    if_snn = spiking_from_ann(ann, 8).eval()
    lif_snn = spiking_from_ann(ann, 8, decay=0.5).eval()
    _, if_layers = onestep_fidelity(if_snn, x, y)
    _, lif_layers = onestep_fidelity(lif_snn, x, y)
    assert if_layers["count_error"].iloc[0] == 0.0
    assert lif_layers["count_error"].iloc[0] > 0 and lif_layers["onestep_spikes"].iloc[0] >= \
        lif_layers["snn_spikes"].iloc[0]


def test_direct_snn_trains_with_surrogate_gradients():
    torch.manual_seed(7)
    direct = spiking_from_ann(nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), 4, decay=0.5)
    x = torch.randn(64, 1, 2, 2)
    y = (x.flatten(1).sum(1) > 0).long()
    opt = torch.optim.Adam(direct.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(direct(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    assert not math.isnan(losses[-1])
