"""Fairness proven over generated ledgers and tensors (hypothesis), not hoped for: a price depends on the
events and widths a ledger records, never on its method's name; a tensor's memory level depends on its
size and lifetime, never on its kind; the placement a report prints is the one its pricing applied; the
first layer of an IF network and of OneSpike follow one rule; arithmetic follows the widths that ran."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energy_models import EventLedger, LayerEvents, get_model, model_names
from energy_models.examples import STYLES, vgg_like_ledger
from energy_models.placement import Hierarchy, Level, Tensor, place
from energy_models.tensors import ledger_tensors, placement_plan

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
METHOD_NAMES = ("ann", "qcfs", "cq", "int8", "if", "onespike", "bnn", "direct_if", "my_method")
PLACING = ("sata", "sata_hw", "weight_stationary", "weight_stationary_time_inner", "sata_time_inner")

ledgers = st.builds(
    vgg_like_ledger,
    style=st.sampled_from(STYLES),
    steps=st.integers(1, 8),
    spike_rate=st.floats(0.0, 1.0),
    weight_bits=st.sampled_from([1, 2, 4, 8, 16, 32]),
    act_bits=st.sampled_from([1, 2, 3, 4, 8, 16, 32]),
    act_zero_fraction=st.floats(0.0, 0.9),
)


def renamed(ledger: EventLedger, method: str) -> EventLedger:
    layers = [dataclasses.replace(layer, method=method) for layer in ledger.layers]
    return EventLedger(method, timesteps=ledger.timesteps, groups=ledger.groups, samples=ledger.samples,
                       layers=layers, unsupported=list(ledger.unsupported), meta=dict(ledger.meta))


def flat(report) -> dict[str, float]:
    return {f"{c}@{lv}": v for c, split in report.by_component_and_level().items() for lv, v in split.items()}


@SETTINGS
@given(ledger=ledgers, method=st.sampled_from(METHOD_NAMES))
def test_a_price_never_depends_on_the_methods_name(ledger, method):
    for name in model_names():
        model = get_model(name)
        a, b = model.price(ledger), model.price(renamed(ledger, method))
        assert a.total_pj == pytest.approx(b.total_pj, rel=1e-12, abs=1e-9), name
        assert flat(a) == pytest.approx(flat(b), rel=1e-12, abs=1e-9), name
        assert a.conventions == b.conventions, name


def hierarchy(capacities: list[float]) -> Hierarchy:
    on_chip = [Level(f"l{i}", c, 0.1 * (i + 1), 0.1 * (i + 1), True) for i, c in enumerate(sorted(capacities))]
    return Hierarchy((*on_chip, Level("dram", math.inf, 10.0, 10.0, False)))


levels = st.lists(st.floats(1e3, 1e7), min_size=1, max_size=3, unique=True).map(hierarchy)
tensors = st.lists(st.builds(Tensor, layer=st.integers(0, 5), role=st.sampled_from(["weights", "input", "output",
                                                                                     "membrane", "psum"]),
                             bits=st.floats(0, 5e6), lifetime=st.sampled_from(["persistent", "inference", "layer"])),
                   max_size=25)


@SETTINGS
@given(hierarchy=levels, tensors=tensors, roles=st.lists(st.sampled_from(["weights", "input", "output", "membrane",
                                                                          "spikes"]), min_size=25, max_size=25),
       placement=st.sampled_from(["by_size", "all_on_chip", "weights_streamed", "all_streamed"]))
def test_a_tensors_level_depends_on_its_size_and_lifetime_never_its_kind(hierarchy, tensors, roles, placement):
    relabelled = [dataclasses.replace(t, role=r) for t, r in zip(tensors, roles, strict=False)]
    assert place(hierarchy, tensors, placement) == place(hierarchy, relabelled, placement)


@SETTINGS
@given(hierarchy=levels, tensors=tensors)
def test_placement_by_size_never_overfills_a_level_and_spills_only_what_does_not_fit(hierarchy, tensors):
    placed = place(hierarchy, tensors, "by_size")
    held = {lv.name: 0.0 for lv in hierarchy.on_chip}
    for t, lv in zip(tensors, placed, strict=True):
        if t.lifetime != "layer" and lv.on_chip:
            held[lv.name] += t.bits
    for lv in hierarchy.on_chip:
        assert held[lv.name] <= lv.capacity_bits * (1 + 1e-12)
        for layer in {t.layer for t in tensors}:
            mine = sum(t.bits for t, p in zip(tensors, placed, strict=True)
                       if t.lifetime == "layer" and t.layer == layer and p == lv)
            assert held[lv.name] + mine <= lv.capacity_bits * (1 + 1e-12)
    largest = max(lv.capacity_bits for lv in hierarchy.on_chip)
    persistent = [(t, lv) for t, lv in zip(tensors, placed, strict=True) if t.lifetime == "persistent"]
    if persistent:
        smallest = min(t.bits for t, _ in persistent)
        first = next(lv for t, lv in persistent if t.bits == smallest)  # placed first: smallest, then in order
        assert first.on_chip or smallest > largest
    for t, lv in zip(tensors, placed, strict=True):
        if t.bits > largest:
            assert not lv.on_chip


@SETTINGS
@given(ledger=ledgers, name=st.sampled_from(PLACING),
       placement=st.sampled_from(["by_size", "all_on_chip", "weights_streamed", "all_streamed"]))
def test_the_placement_printed_is_the_placement_priced(ledger, name, placement):
    model = get_model(name, placement=placement)
    report = model.price(ledger)
    plan = placement_plan(model.hierarchy, ledger, model.options, model.table.value(model.WEIGHT_BITS),
                          model.table.value(model.ACT_BITS))
    printed = set(report.conventions["placement"].split("/")) - {"-"}
    used = {f"{role}@{level.name}" for (index, role), level in plan.items()}
    assert printed <= used
    dram = report.by_component_and_level()
    off_chip = {p.split("@")[0] for p in printed if p.split("@")[1].startswith("dram")}
    if "weights" in off_chip:
        assert dram["weight_memory"]["dram"] > 0 or all(
            layer.synapses == 0 for layer in ledger.layers)
    if not off_chip:
        assert all(dram[c]["dram"] == 0 for c in ("weight_memory", "activation_memory", "membrane_memory"))
    if placement == "all_streamed":
        assert printed and not any(p.split("@")[1] in {lv.name for lv in model.hierarchy.on_chip} for p in printed)


@SETTINGS
@given(ledger=ledgers, psum=st.sampled_from([8, 16, 32]))
def test_every_method_places_the_same_tensor_kinds_from_the_same_rule(ledger, psum):
    options = {"psum_bits": psum, "fused_activation": True, "if_dataflow": "time_outer", "placement": "by_size"}
    listed = ledger_tensors(ledger, options, 8, 8)
    renamed_list = ledger_tensors(renamed(ledger, "my_method"), options, 8, 8)
    assert listed == renamed_list
    assert all(t.bits >= 0 and t.lifetime in ("persistent", "inference", "layer") for t in listed)
    assert {t.lifetime for t in listed if t.role == "weights"} <= {"persistent"}


def first_layer(T: int, G: int, cout: int, size: int) -> EventLedger:
    n = cout * size * size
    first = LayerEvents(name="c1", kind="conv", in_channels=3, out_channels=cout, kernel_size=(3, 3), stride=(1, 1),
                        in_shape=(3, size, size), out_shape=(cout, size, size), neurons=n, synapses=27 * cout,
                        weight_bits=8, act_bits=32, out_bits=32, mac=n * 27.0, mac_nonzero=n * 27.0,
                        repeat_steps=max(T, G), input_elements=3.0 * size * size, input_nonzero=3.0 * size * size)
    return EventLedger("x", timesteps=T, groups=G, layers=[first])


@SETTINGS
@given(steps=st.integers(2, 16), cout=st.integers(1, 128), size=st.integers(1, 16),
       rule=st.sampled_from(["once", "per_step"]))
def test_one_first_layer_rule_for_steps_and_groups(steps, cout, size, rule):
    for name in model_names():
        model = get_model(name, first_layer=rule)
        as_if, as_onespike = model.price(first_layer(steps, 1, cout, size)), model.price(first_layer(1, steps, cout,
                                                                                                     size))
        assert as_if.conventions["first_layer_multiplier"] == as_onespike.conventions["first_layer_multiplier"]
        assert as_if.by_component()["compute"] == pytest.approx(as_onespike.by_component()["compute"], rel=1e-9), name


WIDTH_MODELS = ("flops45nm", "sata", "sata_hw", "weight_stationary", "lemaire", "spikesim", "loihi")
#: Models whose datapath takes at most 8-bit inputs (bit-serial): an FP32 input is read as 8-bit fixed point,
#: which their warnings say, rather than priced as another width silently.
CAPPED_INPUTS = ("spikesim", "loihi")


def mac_layer(weight_bits: int, act_bits: int) -> EventLedger:
    layer = LayerEvents(name="fc", kind="linear", in_channels=64, out_channels=10, in_shape=(64,), out_shape=(10,),
                        neurons=10, synapses=640, weight_bits=weight_bits, act_bits=act_bits, out_bits=32, mac=640.0,
                        mac_nonzero=640.0, weight_reads=640.0, input_elements=64.0, input_nonzero=64.0)
    return EventLedger("x", layers=[layer])


@SETTINGS
@given(wb=st.sampled_from([2, 4, 8]), narrow=st.sampled_from([1, 2, 3, 4]), wide=st.sampled_from([6, 8]))
def test_compute_follows_the_widths_that_ran(wb, narrow, wide):
    for name in WIDTH_MODELS:
        model = get_model(name)
        compute = {key: model.price(mac_layer(*key)).by_component()
                   for key in ((wb, narrow), (wb, wide), (8, 8), (32, 32))}
        work = {key: c["compute"] + c["neuron"] for key, c in compute.items()}
        assert work[(wb, narrow)] < work[(wb, wide)], name
        if name in CAPPED_INPUTS:
            assert any("8-bit" in w for w in model.price(mac_layer(32, 32)).warnings), name
        else:
            assert work[(8, 8)] < work[(32, 32)], name  # an FP32 MAC is never priced as an INT8 one
