"""NIR in and out (issue 30, item e): ours -> NIR -> ours counts the same, a NIR file is read,
unsupported nodes are refused naming them, and a graph from Sinabs's exporter is counted."""

import numpy as np
import pytest
import torch
from torch import nn

from analysis.counting import count_events
from analysis.snn import from_nir, to_nir
from analysis.snn.onestep import spiking_from_ann

nir = pytest.importorskip("nir")
T = 4


def direct_snn(decay=1.0):
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 4 * 4, 10), nn.ReLU(), nn.Linear(10, 3))
    net = spiking_from_ann(ann, T, decay=decay).eval()
    with torch.no_grad():
        net.body[0].weight.mul_(3)
    return net


@pytest.mark.parametrize("decay", [1.0, 0.5])
def test_round_trip_ours_nir_ours_counts_the_same(decay, tmp_path):
    net = direct_snn(decay)
    x = torch.rand(5, 1, 8, 8)
    path = tmp_path / "net.nir"
    nir.write(str(path), to_nir(net, x))
    back = from_nir(path)
    seq = x.unsqueeze(0).expand(T, *x.shape)
    with torch.no_grad():
        assert torch.equal(back(seq).mean(0), net(x))
    with count_events(net, strict=True) as ours:
        net(x)
    with count_events(back, strict=True) as theirs:
        back(seq)
    assert theirs.samples == ours.samples == 5 and theirs.timesteps == ours.timesteps == T
    assert ours.total("spikes") > 0
    for event in ("ac", "mac", "spikes", "vmem_reads", "vmem_writes", "cmp", "mul"):
        assert theirs.total(event) == pytest.approx(ours.total(event)), event
    assert theirs.method == ours.method
    # layer by layer (DirectSNN's own readout, the mean over T, is outside the NIR graph)
    assert [la.ac for la in theirs.layers if la.kind != "other"] == pytest.approx(
        [la.ac for la in ours.layers if la.kind != "other"])


def test_unsupported_nodes_and_bad_dt_are_refused():
    shape = np.array([3])
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": shape}),
                                "delay": nir.Delay(delay=np.ones(3)),
                                "output": nir.Output(output_type={"output": shape})},
                         edges=[("input", "delay"), ("delay", "output")])
    with pytest.raises(ValueError, match="'delay' is a NIR Delay"):
        from_nir(graph)
    with pytest.raises(ValueError, match="dt must be"):
        from_nir(graph, dt=0)
    with pytest.raises(TypeError, match="NIRGraph"):
        from_nir(object())


def test_lif_time_constants_are_discretised_with_dt():
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                                "fc": nir.Affine(weight=np.eye(2, dtype=np.float32), bias=np.zeros(2, np.float32)),
                                "lif": nir.LIF(tau=np.full(2, 4.0), r=np.full(2, 4.0), v_leak=np.zeros(2),
                                               v_threshold=np.ones(2)),
                                "output": nir.Output(output_type={"output": np.array([2])})},
                         edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    net = from_nir(graph, dt=2.0)
    neuron = net.body[1]
    assert neuron.decay == pytest.approx(0.5) and net.dt == 2.0
    assert float(net.body[0].weight[0, 0]) == pytest.approx(2.0)  # dt·R/τ folded into the weights


def test_a_graph_from_sinabs_exporter_is_counted():
    sinabs = pytest.importorskip("sinabs")
    sl = pytest.importorskip("sinabs.layers")
    try:
        exporter = sinabs.to_nir
    except AttributeError:
        pytest.skip("this Sinabs has no to_nir")
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 8), sl.IAF(spike_fn=sinabs.activation.SingleSpike), nn.Linear(8, 3)).eval()
    with torch.no_grad():
        net[0].weight.mul_(4)
    x = torch.rand(2, T, 6)
    graph = exporter(net, x)
    ours = from_nir(graph)
    seq = x.transpose(0, 1)
    net[1].reset_states()
    with count_events(ours, strict=True) as ledger:
        ours(seq)
    with count_events(net, strict=True) as native:
        net(x)
    assert ledger.samples == native.samples == 2
    assert ledger.total("spikes") == pytest.approx(native.total("spikes"))
    assert ledger.total("ac") == pytest.approx(native.total("ac"))
