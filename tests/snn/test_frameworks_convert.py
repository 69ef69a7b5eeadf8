"""SNNs from SpikingJelly/snnTorch, continued (issue 20): a network stepped from outside is counted
per inference, a network written as its own forward converts, and what does not convert says why."""

import pytest
import torch
from torch import nn

from analysis.counting import count_events
from analysis.snn import ConversionError, TimeLoop
from analysis.snn.onestep import framework_form
from analysis.study.onestep import onestep_fidelity
from tests.snn.test_frameworks import SnnTorchLoop, T, sj_net

sj_functional = pytest.importorskip("spikingjelly.activation_based.functional")
snn = pytest.importorskip("snntorch")
snn_utils = pytest.importorskip("snntorch.utils")


@pytest.fixture
def images():
    torch.manual_seed(0)
    return torch.rand(3, 1, 8, 8) * 3


def _same_counts(looped, stepped):
    """The module layers of a TimeLoop's ledger (``net.<name>``; its own averaging ops aside) equal
    those of the network stepped from outside."""
    a = [layer for layer in looped.layers if "/" not in layer.name]
    b = [layer for layer in stepped.layers if "/" not in layer.name]
    assert [layer.name for layer in a] == [f"net.{layer.name}" for layer in b]
    for x, y in zip(a, b, strict=True):
        for event in ("ac", "mac", "add", "shift", "mask", "cmp", "spikes", "vmem_reads", "vmem_writes"):
            assert getattr(x, event) == pytest.approx(getattr(y, event)), (x.name, event)


def test_a_single_step_spikingjelly_net_stepped_from_outside_counts_as_timeloop(images):
    net = sj_net("s")
    loop = TimeLoop(net, T)
    with torch.no_grad(), count_events(loop) as reference:
        loop(images)
    with torch.no_grad(), count_events(net) as stepped:
        for _ in range(2):  # two inferences of T steps, reset in between as SpikingJelly asks
            sj_functional.reset_net(net)
            for _ in range(T):
                net(images)
    assert stepped.samples == 2 * len(images) and stepped.timesteps == reference.timesteps == T
    assert stepped.meta["continued_calls"] == 2 * (T - 1)
    _same_counts(reference, stepped)


def test_an_snntorch_sequential_stepped_from_outside_counts_as_timeloop(images):
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), snn.Leaky(beta=0.5, init_hidden=True), nn.Flatten(),
                        nn.Linear(256, 10), snn.Leaky(beta=0.9, init_hidden=True)).eval()
    with torch.no_grad():
        net[0].weight.mul_(3)
    loop = TimeLoop(net, T)
    with torch.no_grad(), count_events(loop) as reference:
        loop(images)
    snn_utils.reset(net)
    with torch.no_grad(), count_events(net) as stepped:
        for _ in range(T):
            net(images)
    assert reference.total("ac") > 0 and stepped.samples == len(images) and stepped.timesteps == T
    _same_counts(reference, stepped)


def test_stepping_without_a_reset_is_refused_naming_the_fix(images):
    net = sj_net("s")
    with torch.no_grad():
        net(images)  # state left over from before the count
    with pytest.raises(ValueError, match=r"holding state .*functional\.reset_net.*TimeLoop"), count_events(net):
        net(images)
    sj_functional.reset_net(net)
    with pytest.raises(ValueError, match=r"continued the state of an inference on 3 samples.*TimeLoop"), \
            count_events(net):
        net(images)
        net(images[:2])


def test_a_network_written_as_its_own_forward_converts_from_one_call(images):
    net = SnnTorchLoop().eval()
    with torch.no_grad():
        net.conv.weight.mul_(3)
    form = framework_form(net, T, example=images)
    with torch.no_grad():
        assert torch.equal(form(images), net(images))  # the same spikes, so the same spike rates
    kinds = [type(m).__name__ for m in form.body]
    assert kinds == ["Conv2d", "FoldedTime", "Flatten", "Linear", "FoldedTime"]
    summary, layers = onestep_fidelity(form, images, torch.zeros(3, dtype=torch.long))
    assert len(layers) == 2 and 0 <= summary["onestep_agreement"] <= 1
    with pytest.raises(ConversionError, match="example=x"):
        framework_form(net, T)


def test_what_does_not_convert_says_why_and_the_way_out(images):
    class Residual(SnnTorchLoop):
        def forward(self, x):
            self.lif1.init_leaky()
            spk, _ = self.lif1(self.conv(x) + x)  # arithmetic between the input and a layer
            return self.fc(spk.flatten(1))

    class Encoded(SnnTorchLoop):
        def forward(self, x):
            mem = self.lif1.init_leaky()
            out = 0
            for _ in range(T):
                spk, mem = self.lif1(self.conv(torch.bernoulli(x.clamp(0, 1))), mem)
                out = out + self.fc(spk.flatten(1))
            return out

    for net, match in ((Residual(), "fed something other than the output"), (Encoded(), "an encoder")):
        with pytest.raises(ConversionError, match=match) as error:
            framework_form(net.eval(), T, example=images)
        assert "nn.Sequential" in str(error.value)
    synaptic = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), snn.Synaptic(alpha=0.8, beta=0.9, init_hidden=True))
    with pytest.raises(ConversionError, match=r"synaptic current.*snn\.Leaky"):
        framework_form(TimeLoop(synaptic, T), T)
    loop = TimeLoop(synaptic, T)
    with torch.no_grad(), count_events(loop, strict=True) as ledger:
        loop(images)
    assert ledger.layer("net.2").vmem_reads == 2 * 10 * T  # counted: membrane and current, each update
