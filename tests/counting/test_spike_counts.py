"""Spike counts that are not bits (issue 30, items d and e): a sum pool of spikes feeds the next
layer integer spike counts, counted as ACs weighted by the counts (not MACs); a Sinabs MultiSpike
neuron's several spikes per step make the next layer's ``act_bits`` the width of the largest count."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from analysis.counting import count_events

B = 3


def spikes(*shape, p=0.4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < p).float()


def test_sum_pool_of_spikes_feeds_a_linear_acs_weighted_by_the_pooled_counts():
    net = nn.Sequential(nn.AvgPool2d(2, divisor_override=1), nn.Flatten(), nn.Linear(2 * 2 * 2, 5)).eval()
    x = spikes(B, 2, 5, 5)  # 5x5: the last row and column fall outside every window
    with count_events(net, strict=True, input_spikes=True) as ledger:
        net(x)
    hand = float(x[..., :4, :4].sum()) * 5 / B  # each pooled spike reaches all 5 outputs
    fc = ledger.layer("2")
    assert fc.rule == "linear.spike_input" and fc.mac == 0
    assert fc.ac == pytest.approx(hand) and fc.input_reads == pytest.approx(float(x[..., :4, :4].sum()) / B)
    assert fc.act_bits == math.ceil(math.log2(4 + 1))  # a count of up to 4 spikes: 3 bits
    pool = ledger.layer("0")
    assert pool.rule == "sumpool" and pool.shift == 0 and pool.mul == 0  # no divide
    assert pool.add == pytest.approx(3 * 4 * 2)  # 3 adds per window, 4 windows, 2 channels


def test_sum_pool_of_spikes_feeds_a_conv_acs_by_an_unfold_hand_count():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1, stride=2)
    net = nn.Sequential(nn.AvgPool2d(2, divisor_override=1), conv).eval()
    x = spikes(B, 2, 8, 8, seed=1)
    with count_events(net, strict=True, input_spikes=True) as ledger:
        net(x)
    pooled = F.avg_pool2d(x, 2, divisor_override=1)
    # every pooled count times the windows that cover it (unfold repeats it once per window), times C_out
    hand = float(F.unfold(pooled, 3, padding=1, stride=2).sum()) * 3 / B
    layer = ledger.layer("1")
    assert layer.rule == "conv.spike_input" and layer.mac == 0 and layer.ac == pytest.approx(hand)


def test_average_pool_of_spikes_still_feeds_macs():
    net = nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8, 5)).eval()
    with count_events(net, strict=True, input_spikes=True) as ledger:
        net(spikes(B, 2, 4, 4))
    fc = ledger.layer("2")
    assert fc.rule == "linear.pooled_spike_input" and fc.ac == 0 and fc.mac > 0


def test_an_event_input_with_several_events_per_pixel_declares_its_width():
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 2)).eval()
    x = torch.tensor([[[0.0, 2.0, 5.0], [1.0, 0.0, 0.0]]]).expand(B, 2, 3).contiguous()
    with count_events(net, strict=True, input_spikes=True) as ledger:
        net(x)
    fc = ledger.layer("1")
    assert fc.ac == pytest.approx(8 * 2) and fc.act_bits == 3  # up to 5 events: 3 bits


def test_sinabs_multispike_sets_the_next_layers_act_bits_to_the_largest_count():
    sl = pytest.importorskip("sinabs.layers")
    torch.manual_seed(2)
    t = 4
    net = nn.Sequential(nn.Linear(6, 8), sl.IAFSqueeze(batch_size=B), nn.Linear(8, 3)).eval()
    with torch.no_grad():
        net[0].weight.mul_(6)
    x = torch.rand(B * t, 6)
    seen = []
    hook = net[1].register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    with count_events(net, strict=True) as ledger:
        net(x)
    hook.remove()
    largest = int(seen[0].max())
    assert largest > 1
    bits = math.ceil(math.log2(largest + 1))
    assert ledger.layer("1").out_bits == bits
    fc = ledger.layer("2")
    assert fc.act_bits == bits and fc.rule == "linear.spike_input"
    assert fc.ac == pytest.approx(float(seen[0].sum()) * 3 / B)  # still one AC per spike and synapse
