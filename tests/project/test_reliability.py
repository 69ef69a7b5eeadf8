"""Reliability (issue 7): counting never leaks, numerical edge cases, ties are reported."""

import gc
import tracemalloc

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.counting import count_events
from analysis.models import build_model
from analysis.snn import to_if_snn, to_onespike, to_quantized
from analysis.snn.neurons import IFNeuron, PSGNeuron


def _hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.slow
def test_thousand_instrumented_forwards_leave_no_hooks_and_no_growing_memory():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 8, 8)
    net = to_onespike(to_quantized(build_model("cnn_small", 10, 1, 8, width=4), 4, calibration_data=x).eval(), 4)
    before = _hook_count(net)

    def instrumented(n: int) -> None:
        for _ in range(n):
            with torch.no_grad(), count_events(net) as ledger:
                net(x)
            assert ledger.samples == 4

    instrumented(50)  # warm caches (fan-out maps, pooling windows)
    gc.collect()
    tracemalloc.start()
    first, _ = tracemalloc.get_traced_memory()
    instrumented(950)
    gc.collect()
    last, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert _hook_count(net) == before
    assert last - first < 256 * 1024, f"python memory grew by {(last - first) / 1024:.0f} KiB over 950 forwards"


def test_hooks_removed_and_model_unchanged_when_forward_raises():
    qann = to_quantized(build_model("mlp", 10, 1, 8), 4).eval()
    net = to_if_snn(qann, 4)
    before = _hook_count(net)
    with pytest.raises(ValueError, match="NaN/Inf"), count_events(net):
        net(torch.full((2, 1, 8, 8), float("nan")))
    assert _hook_count(net) == before and not net.training


@pytest.mark.parametrize("groups", [1, 4, 8])
def test_psg_on_threshold_saturation_and_silence(groups):
    neuron = PSGNeuron(2.0, groups)
    # an average current exactly θ fires in every group; 1e6·θ saturates at G; negative never fires
    totals = torch.tensor([2.0 * groups, 1e6, -1e6, -1e-9, 0.0], dtype=torch.float64)
    counts = neuron(totals).sum(0).tolist()
    assert counts == [groups, groups, 0, 0, 0]


def test_if_on_threshold_saturation_and_silence():
    neuron = IFNeuron(1.0, 4)
    x = torch.tensor([[1.0, 1e6, -1e6, -1e-9]] * 4, dtype=torch.float64)
    assert neuron(x).sum(0).tolist() == [4, 4, 0, 0]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), groups=st.sampled_from([2, 4, 8, 16]))
def test_float32_and_float64_spikes_differ_only_at_reported_ties(seed, groups):
    generator = torch.Generator().manual_seed(seed)
    # currents on the grid of tie points (multiples of θ/G) plus tiny noise: many land within rounding
    grid = torch.randint(-groups, 2 * groups, (4096,), generator=generator).double() * 1.5 / groups
    noise = (torch.rand(4096, generator=generator, dtype=torch.float64) - 0.5) * 1e-6
    total64 = (grid + noise) * groups
    layer = torch.nn.Sequential(PSGNeuron(1.5, groups))
    s64 = layer(total64)
    total32 = total64.float()
    with count_events(layer, method="onespike", track_ties=True) as ledger:
        s32 = layer(total32)
    differing = int((s64 != s32.double()).any(0).sum())
    ties = ledger.total("threshold_ties") * ledger.samples  # the ledger is per sample
    assert differing <= ties, f"{differing} neurons differ between precisions but only {ties} ties were reported"


def test_ties_are_rare_on_ordinary_currents():
    torch.manual_seed(0)
    layer = torch.nn.Sequential(PSGNeuron(1.5, 8))
    total = torch.randn(100_000) * 8
    with count_events(layer, method="onespike", track_ties=True) as ledger:
        layer(total)
    ties = ledger.total("threshold_ties") * ledger.samples
    assert 0 <= ties < 1e-3 * total.numel() * 8


def test_currents_exactly_on_a_threshold_are_reported_as_ties():
    groups, theta = 8, 1.5
    layer = torch.nn.Sequential(PSGNeuron(theta, groups))
    # totals whose per-group currents land exactly on a tie point k·θ/G (k = 1..G): every neuron ties
    total = torch.arange(1, groups + 1, dtype=torch.float32) * theta
    with count_events(layer, method="onespike", track_ties=True) as ledger:
        layer(total.unsqueeze(0))
    ties = ledger.total("threshold_ties") * ledger.samples
    assert ties > 0, "currents exactly on the threshold grid were not reported as ties"
    assert ties <= total.numel() * groups
    with count_events(layer, method="onespike", track_ties=True) as ledger:
        layer((total + 0.37).unsqueeze(0))  # the same currents off the grid: no tie
    assert ledger.total("threshold_ties") == 0
