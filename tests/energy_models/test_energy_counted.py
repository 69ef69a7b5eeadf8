"""Energy models on a *counted* ledger: SpikeSim dense equals the reference formula (ENERGY_MODELS.md §3)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from analysis.convert import to_if_snn, to_quantized  # noqa: E402
from analysis.counting import count_events  # noqa: E402
from energy_models import get_model  # noqa: E402

T = 5
#: (C_in, C_out, pool after) of the VGG9 of SpikeSim's released example, on 3x32x32 inputs.
VGG9 = ((3, 64, False), (64, 64, True), (64, 128, False), (128, 128, True), (128, 256, False), (256, 256, False),
        (256, 256, True))


def vgg9() -> nn.Sequential:
    layers: list[nn.Module] = []
    for cin, cout, pool in VGG9:
        layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
        if pool:
            layers.append(nn.AvgPool2d(2))
    layers += [nn.Flatten(), nn.Linear(256 * 4 * 4, 10)]
    return nn.Sequential(*layers).eval()


def reference_pj(in_ch, out_ch, out_hw, kernel, steps, xbar=64):
    """ela_spikesim.py compute_energy, written out independently: PE cycles x energy per PE cycle."""
    per_cycle = (19.64 * 8 + 4.64 + 397 + (xbar / 8) * 16 * 1.15e-6 + (xbar / 8) * 0.2
                 + (xbar / 8) ** 2 * (2.03084 + 0.094245) + 1.274 * 4.0 + (xbar / 8) * kernel * 1.76423)
    return math.ceil(in_ch / xbar) * math.ceil(out_ch / xbar) * out_hw * steps * per_cycle


@pytest.fixture(scope="module")
def if_ledger():
    torch.manual_seed(0)
    snn = to_if_snn(to_quantized(vgg9(), levels=4), timesteps=T)
    with torch.no_grad(), count_events(snn, method="if") as ledger:
        snn(torch.rand(1, 3, 32, 32))
    first = next(layer for layer in ledger.layers if layer.kind == "conv")
    if first.repeat_steps == 1:  # the counter does not fill repeat_steps yet: the analog first conv repeats T times
        first.repeat_steps = T
    return ledger


def test_spikesim_dense_on_a_counted_if_vgg9_equals_the_reference(if_ledger):
    synaptic = [layer for layer in if_ledger.layers if layer.kind in ("conv", "linear")]
    assert len(synaptic) == len(VGG9) + 1
    expected = sum(reference_pj(layer.in_channels, layer.out_channels,
                                layer.out_shape[1] * layer.out_shape[2] if layer.kind == "conv" else 1,
                                9 if layer.kind == "conv" else 1, T) for layer in synaptic)
    got = get_model("spikesim_one_read").price(if_ledger).total_pj  # the reference: one read per input
    assert got == pytest.approx(expected, rel=0.01)
    once = get_model("spikesim_one_read", first_layer="once").price(if_ledger).total_pj
    assert once < 0.95 * got  # the convention matters: the first conv is a sizeable share
