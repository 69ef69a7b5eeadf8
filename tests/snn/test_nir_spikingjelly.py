"""A NIR graph written by SpikingJelly's own exporter counts to the same ACs as SpikingJelly's
SynOpCounter on the SpikingJelly net (issue 30, item c).

SpikingJelly 2.0.0's ``export_to_nir`` needs nir ≥ 1.0.7 and nirtorch 2.6 (its extra ``nir``), while
Sinabs 3.1.3 reads nir ≤ 1.0.4, the version the ``nir`` extra pins; with nir 1.0.4 installed this
test is skipped, naming why. It runs with ``pip install 'nir>=1.0.7,<2' 'nirtorch>=2.6,<2.7'``."""

import importlib.metadata

import pytest
import torch
from torch import nn

from analysis.counting import count_events
from analysis.snn import from_nir

nir = pytest.importorskip("nir")
sj_layer = pytest.importorskip("spikingjelly.activation_based.layer")
sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
sj_functional = pytest.importorskip("spikingjelly.activation_based.functional")
sj_counter = pytest.importorskip("spikingjelly.activation_based.op_counter")


def _version(name):
    return tuple(int(p) for p in importlib.metadata.version(name).split(".")[:3] if p.isdigit())


if _version("nir") < (1, 0, 7) or _version("nirtorch") < (2, 6):
    pytest.skip(f"SpikingJelly 2.0.0's NIR exporter needs nir>=1.0.7 and nirtorch>=2.6 (installed: nir "
                f"{importlib.metadata.version('nir')}, nirtorch {importlib.metadata.version('nirtorch')}, pinned "
                "for Sinabs 3.1.3)", allow_module_level=True)

sj_nir = pytest.importorskip("spikingjelly.activation_based.nir_exchange")
T, B = 4, 5


def sj_net():
    torch.manual_seed(2)
    net = nn.Sequential(sj_layer.Conv2d(2, 4, 3, padding=1, stride=2), sj_neuron.IFNode(v_reset=0.0),
                        sj_layer.Flatten(), sj_layer.Linear(4 * 4 * 4, 10), sj_neuron.LIFNode(tau=2.0, v_reset=0.0),
                        sj_layer.Linear(10, 3))
    sj_functional.set_step_mode(net, "m")
    with torch.no_grad():
        net[0].weight.mul_(3)
        net[3].weight.mul_(3)
    return net.eval()


def sj_synops(net, x):
    sj_functional.reset_net(net)
    counter = sj_counter.SynOpCounter()
    with torch.no_grad(), sj_counter.DispatchCounterMode([counter]):
        out = net(x)
    sj_functional.reset_net(net)
    return counter.get_total(), out


@pytest.mark.parametrize("dt", [1.0, 1e-4])
def test_spikingjelly_exported_graph_counts_its_synops(dt):
    net = sj_net()
    torch.manual_seed(4)
    x = (torch.rand(T, B, 2, 8, 8) < 0.4).float()
    graph = sj_nir.export_to_nir(net, x, dt=dt)
    ours = from_nir(graph, dt=dt)
    synops, sj_out = sj_synops(net, x)
    with count_events(ours, strict=True, input_spikes=True) as ledger:
        out = ours(x)
    assert torch.allclose(out, sj_out, atol=1e-5)  # the same dynamics (hard reset, LIF τ = 2)
    assert ledger.samples == B and ledger.timesteps == T and ledger.total("spikes") > 0
    assert ledger.total("mac") == 0 and ledger.total("ac") * B == pytest.approx(synops)
