"""OneSpike out to NIR and back (issue 30, item b): PSG(G) is a soft-reset IF neuron fed its
layer's group-average current for G steps, so a OneSpike network written by to_nir and read by
from_nir is the IF(T = G) network fed those constant currents: the same logits and predictions,
the same spikes and ACs layer by layer (checked against a plain simulation written here), and G×
the first layer's MACs (a NIR graph's input is [T, ...])."""

import pytest
import torch
from torch import nn

from analysis.convert import to_onespike, to_quantized
from analysis.counting import count_events
from analysis.snn import from_nir, to_nir

nir = pytest.importorskip("nir")
G, B = 4, 6


def onespike_net():
    torch.manual_seed(3)
    ann = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10), nn.ReLU(),
                        nn.Linear(10, 3))
    q = to_quantized(ann, G, "qcfs").eval()
    with torch.no_grad():
        q[0].weight.mul_(2)
    return to_onespike(q, G).eval()


def if_fed_constant(current, theta, v_init):
    """A soft-reset IF neuron (fires at v ≥ θ) fed ``current`` at each of G steps: [G, B, ...]."""
    v, out = torch.full_like(current, v_init * theta), []
    for _ in range(G):
        v = v + current
        s = (v >= theta).float()
        v = v - s * theta
        out.append(s)
    return torch.stack(out)


def test_onespike_round_trip_keeps_predictions_spikes_and_acs(tmp_path):
    one = onespike_net()
    layers = one.body.net
    x = torch.rand(B, 1, 6, 6)
    path = tmp_path / "onespike.nir"
    graph = to_nir(one, x)
    psg = [n for n in graph.nodes.values() if getattr(n, "metadata", {}).get("onespike_groups")]
    assert [n.metadata["input"] for n in psg] == ["constant", "mean_over_steps"]
    nir.write(str(path), graph)
    back = from_nir(path)
    seq = x.unsqueeze(0).expand(G, *x.shape)
    with torch.no_grad():
        logits_one, logits_back = one(x), back(seq).mean(0)
        # the reference: each PSG layer an IF neuron fed its group-average current for G steps
        n1, n2 = layers[1].neuron, layers[4].neuron
        s1 = if_fed_constant(layers[0](x), float(n1.threshold), n1.v_init)
        c2 = layers[3].module(s1.flatten(2))
        s2 = if_fed_constant(c2.mean(0), float(n2.threshold), n2.v_init)
        logits_ref = layers[5].module(s2).mean(0)
    assert torch.allclose(logits_back, logits_one, atol=1e-5) and torch.allclose(logits_ref, logits_one, atol=1e-5)
    assert torch.equal(logits_back.argmax(1), logits_one.argmax(1))
    with count_events(one, strict=True) as ours:
        one(x)
    with count_events(back, strict=True) as theirs:
        back(seq)
    spikes = [float(s1.sum()) / B, float(s2.sum()) / B]
    assert min(spikes) > 0
    for ledger in (ours, theirs):
        neurons = [la.spikes for la in ledger.layers if la.spikes > 0]
        assert neurons == pytest.approx(spikes)
        acs = [la.ac for la in ledger.layers if la.kind == "linear"]
        assert acs == pytest.approx([spikes[0] * 10, spikes[1] * 3])  # one AC per spike and synapse
    conv = [la for la in ours.layers if la.kind == "conv"], [la for la in theirs.layers if la.kind == "conv"]
    assert conv[1][0].mac == pytest.approx(G * conv[0][0].mac)  # the static image's conv, now at every step
    assert ours.groups == G and theirs.timesteps == G and theirs.method == "direct_if"
    again = to_nir(back, x)  # the read-back network written again keeps its OneSpike layer's average input
    assert [n.metadata.get("input") for n in again.nodes.values() if type(n).__name__ == "IF"] == [
        None, "mean_over_steps"]


def test_onespike_export_refuses_per_group_thresholds():
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    q = to_quantized(ann, G, "qcfs").eval()
    one = to_onespike(q, G, group_threshold_scales=[1.0, 1.0, 2.0, 2.0]).eval()
    with pytest.raises(ValueError, match="per-group thresholds"):
        to_nir(one, torch.rand(2, 4))
