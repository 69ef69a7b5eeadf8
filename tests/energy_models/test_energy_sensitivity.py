"""Sensitivity helpers: constant sweeps, sparsity rescaling, break-even sparsity (Q7)."""

from __future__ import annotations

import itertools
import math

import pytest

from energy_models import get_model
from energy_models.examples import vgg_like_ledger
from energy_models.sensitivity import at_sparsity, break_even_sparsity, sweep_constant, sweep_sparsity

SNN = vgg_like_ledger("multi_step_snn", "if", steps=5, spike_rate=0.1)
QNN = vgg_like_ledger("quantized", "qcfs", act_bits=3)


def test_sweep_constant_reprices_linearly():
    frame = sweep_constant(SNN, "flops45nm_fp32", "fp32_add", [0.0, 0.9, 1.8])
    assert list(frame["value"]) == [0.0, 0.9, 1.8]
    mac, ac = SNN.total("mac"), SNN.total("ac")
    assert frame["energy_pj"].tolist() == pytest.approx([mac * 3.7, mac * 4.6 + ac * 0.9, mac * 5.5 + ac * 1.8])
    assert frame["compute_pj"].tolist() == pytest.approx(frame["energy_pj"].tolist())
    with pytest.raises(ValueError, match="fp32_addd"):
        sweep_constant(SNN, "flops45nm_fp32", "fp32_addd", [1.0])


def test_at_sparsity_scales_spike_driven_events_only():
    dense = at_sparsity(SNN, 0.0)
    half = at_sparsity(SNN, 0.5)
    conv2 = SNN.layer("conv2")
    assert half.layer("conv2").ac == pytest.approx(conv2.ac * 0.5 / 0.1)
    assert half.layer("conv2").input_sparsity == pytest.approx(0.5)
    assert half.layer("conv1").mac == SNN.layer("conv1").mac  # analog first layer unchanged
    assert dense.layer("conv1.act").spikes == pytest.approx(SNN.layer("conv1.act").neurons * 5)
    assert half.layer("conv1.act").add == SNN.layer("conv1.act").add  # membrane updates are dense
    assert at_sparsity(SNN, 1.0).total("ac") == 0.0
    with pytest.raises(ValueError, match="sparsity"):
        at_sparsity(SNN, 1.5)


def test_sweep_sparsity_decreases_with_sparsity():
    rows = sweep_sparsity(SNN, "flops45nm", [0.0, 0.5, 0.9, 1.0])
    energies = [e for _, e in rows]
    assert all(b < a for a, b in itertools.pairwise(energies))


def test_break_even_sparsity_solves_the_crossing():
    model = get_model("flops45nm")
    found = break_even_sparsity(SNN, QNN, model)
    assert found.reason == "" and 0.0 < found.sparsity < 1.0
    at = model.price(at_sparsity(SNN, found.sparsity)).total_pj
    assert at == pytest.approx(model.price(QNN).total_pj, rel=1e-6)
    value, _reason = break_even_sparsity(SNN, QNN, "flops45nm")  # unpacks as (value, reason)
    assert value == pytest.approx(found.sparsity)


def test_break_even_without_crossing_is_nan_with_a_reason():
    found = break_even_sparsity(SNN, QNN, "sata")
    assert math.isnan(found.sparsity) and "costs more" in found.reason
    cheap = vgg_like_ledger("grouped_snn", "onespike", steps=1, spike_rate=0.1)
    ann = vgg_like_ledger("dense", "ann")
    found = break_even_sparsity(cheap, ann, "flops45nm")
    assert math.isnan(found.sparsity) and "costs less" in found.reason
