"""Hardware energy models: hand-computed prices on hand-made ledgers, sums, reference formulas."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import pytest

from energy_models import COMPONENT_LEVELS, COMPONENTS, EventLedger, LayerEvents, available_models, get_model
from energy_models.examples import vgg_like_ledger

ALL = [row["name"] for row in available_models()]


def conv(name="c", cin=2, cout=4, k=3, hin=4, hout=4, stride=1, **kw):
    return LayerEvents(name=name, kind="conv", in_channels=cin, out_channels=cout, kernel_size=(k, k),
                       stride=(stride, stride), in_shape=(cin, hin, hin), out_shape=(cout, hout, hout),
                       neurons=cout * hout * hout, synapses=cout * cin * k * k, **kw)


def linear(name="fc", fin=4, fout=2, **kw):
    return LayerEvents(name=name, kind="linear", in_channels=fin, out_channels=fout, in_shape=(fin,),
                       out_shape=(fout,), neurons=fout, synapses=fin * fout, **kw)


def neuron(name="n", n=2, **kw):
    return LayerEvents(name=name, kind="neuron", neurons=n, **kw)


# -- flops45nm -------------------------------------------------------------------------------------
def test_flops45nm_fp32_literature_variant_is_46_mac_plus_09_ac():
    ledger = EventLedger("if", timesteps=4, layers=[conv(mac=1000.0, mac_nonzero=10.0),
                                                    conv("c2", ac=5000.0, input_spiking=True),
                                                    neuron(add=10.0, cmp=10.0)])
    report = get_model("flops45nm_fp32").price(ledger)
    assert report.total_pj == pytest.approx(4.6 * 1000 + 0.9 * 5000)
    assert report.by_component()["compute"] == pytest.approx(9100.0)
    assert any("add=10" in w and "cmp=10" in w for w in report.warnings)  # unpriced events are named


def test_flops45nm_precision_neuron_ops_and_memory_options():
    layers = [conv(mac=1000.0, weight_bits=8, weight_reads=100.0),
              neuron(add=10.0, cmp=10.0, shift=2.0, mask=4.0, vmem_bits=16)]
    ledger = EventLedger("onespike", groups=4, layers=layers)
    int8 = get_model("flops45nm", precision="int8").price(ledger)
    assert int8.total_pj == pytest.approx(1000 * (0.2 + 0.03))
    ops = get_model("flops45nm", precision="fp32", neuron_ops=True).price(ledger)
    # add at FP32 add; shift/mask/cmp as a 16-bit integer add (operand width = vmem_bits)
    assert ops.by_component()["neuron"] == pytest.approx(10 * 0.9 + 16 * 0.05)
    custom = get_model("flops45nm", precision="fp32", neuron_ops=True, bitop_pj=0.0).price(ledger)
    assert custom.by_component()["neuron"] == pytest.approx(10 * 0.9)
    mem = get_model("flops45nm", memory=True).price(ledger)
    # 72 weights x 8 bit = 72 B -> 8 KB class: 10 pJ per 64-bit word, 8-bit reads
    assert mem.by_component()["weight_memory"] == pytest.approx(100 * 10 * 8 / 64)


def test_flops45nm_memory_large_weights_come_from_dram():
    big = linear(fin=2048, fout=1024, mac=10.0, weight_reads=10.0, weight_bits=8)  # 2 MB > 1 MB
    report = get_model("flops45nm", memory=True).price(EventLedger("ann", layers=[big]))
    weights = report.by_component_and_level()["weight_memory"]
    assert weights["dram"] == pytest.approx(10 * 1300 * 8 / 64)
    assert weights["on_chip"] == 0.0
    assert report.by_component()["weight_memory"] == pytest.approx(10 * 1300 * 8 / 64)


# -- sata ------------------------------------------------------------------------------------------
def _sata_expected(gated: bool, placement: str) -> dict[tuple[str, str], float]:
    T, fin, fout, wb, ac = 2, 4, 2, 8, 3.0
    spike_macs = ac if gated else fin * fout * T
    compute = spike_macs * (0.0389 + 0.000794) * wb / 16
    w_bits, in_bits, out_bits = fin * fout * wb, T * fin * 1, T * fout * 8  # membrane at psum_bits = 8
    dram, glb, spad = 55.58 / 16, 2 * 1.95 / 16, 2 * 0.2779 / 16  # per bit; buffers write + read
    weights_off = placement in ("weights_streamed", "all_streamed")
    rest_off = placement == "all_streamed"  # by size, 32 input bits and 16 membrane bits fit the 176 KB buffer
    return {("compute", "on_chip"): compute,
            ("weight_memory", "dram"): w_bits * dram if weights_off else 0.0,
            ("weight_memory", "on_chip"): w_bits * ((glb if weights_off else glb / 2) + spad),  # kept: read only
            ("activation_memory", "dram"): in_bits * dram if rest_off else 0.0,
            ("activation_memory", "on_chip"): in_bits * (glb + spad),
            ("membrane_memory", "dram"): out_bits * dram if rest_off else 0.0,
            ("membrane_memory", "on_chip"): out_bits * glb}


@pytest.mark.parametrize("gated", [False, True])
@pytest.mark.parametrize("placement", ["by_size", "weights_streamed", "all_streamed", "all_on_chip"])
def test_sata_tcad_form_by_hand(gated, placement):
    layer = linear(timesteps=2, ac=3.0, weight_bits=8, input_spiking=True)
    out = neuron(n=2, timesteps=2, output_spiking=True)  # the output current feeds a membrane (a ledger fact)
    model = get_model("sata", gated=gated, placement=placement)
    report = model.price(EventLedger("if", timesteps=2, layers=[layer, out]))
    got = report.layers[0].levels
    for key, value in _sata_expected(gated, placement).items():
        assert got[key] == pytest.approx(value, rel=1e-12), key
    assert report.conventions["placement"] == ("input@dram/membrane@dram/weights@dram" if placement == "all_streamed"
                                               else "input@glb/membrane@glb/weights@dram"
                                               if placement == "weights_streamed"
                                               else "input@glb/membrane@glb/weights@glb")


def test_sata_prices_a_narrow_activation_on_a_narrower_multiplier_and_fp32_dearer():
    sata = get_model("sata")
    int8 = sata.mac_pj(8, 8)
    assert int8 == pytest.approx(0.239 * 8 / 16 + 0.0389 * 8 / 16)  # SATA_Sim's bits/16 at 8 x 8
    # a 2-bit activation drives 8 x 2 of the 8 x 8 partial products (Horowitz INT mult: 0.2 pJ at 64 bits^2)
    assert sata.mac_pj(8, 2) == pytest.approx(0.239 * 8 / 16 * (0.2 * 16 / 64) / 0.2 + 0.0389 * 8 / 16)
    # FP32: SATA_Sim's 32-bit units times Horowitz's FP32 / INT32 multiply (3.7 / 3.1) and add (0.9 / 0.1)
    assert sata.mac_pj(32, 32) == pytest.approx(0.239 * 2 * 3.7 / 3.1 + 0.0389 * 2 * 0.9 / 0.1)
    assert sata.mac_pj(8, 2) < int8 < sata.mac_pj(32, 32)


def test_sata_neuron_update_and_onespike_membrane_once():
    n = neuron(n=10, timesteps=1, groups=4, vmem_bits=8, add=40.0, cmp=40.0, mask=40.0, shift=10.0,
               output_spiking=True)
    report = get_model("sata").price(EventLedger("onespike", groups=4, layers=[n]))
    s = 8 / 16
    expected = 40 * (2 * 0.00172 + 3 * 0.0301) * s + 40 * 0.00967 * s + 40 * 0.00309 * s + 40 * 0.000794 * s \
        + 10 * 0.00605 * s
    assert report.by_component()["neuron"] == pytest.approx(expected)
    # OneSpike: one timestep, G groups -> the membrane term is K*E^2 once, inputs G times
    lay = linear(timesteps=1, groups=4, ac=8.0, input_spiking=True, weight_bits=8)
    d = get_model("sata").price(EventLedger("onespike", groups=4, layers=[lay])).details()["fc"]
    assert d["output_bits_moved"] == 2 * 8 and d["input_bits_moved"] == 4 * 4


def test_sata_hw_kernels_units_are_mw_over_clock():
    model = get_model("sata_hw")
    assert model.table.pj("hw_adder_8b") == pytest.approx(0.042, abs=5e-4)
    assert model.table.pj("hw_comparator_16b") == pytest.approx(0.049, abs=5e-4)
    assert model.spike_mac_pj(8) == pytest.approx((2.35e-3 + 16.89e-3 + 25.11e-3) / 400 * 1e3)


def test_sata_grows_with_T_and_crosses_the_ann():
    model = get_model("sata")
    ann = model.price(vgg_like_ledger("quantized", "ann", act_bits=8)).total_pj  # INT8, SATA's ANN mode
    energies = [model.price(vgg_like_ledger("multi_step_snn", "if", steps=T, spike_rate=0.1)).total_pj
                for T in (1, 2, 4, 8, 16)]
    assert all(b > a for a, b in itertools.pairwise(energies))
    # roughly linear: doubling T from 8 to 16 adds about as much again (the analog first layer runs once)
    assert 1.5 < energies[-1] / energies[-2] < 2.0
    assert energies[0] < ann < energies[-1]
    crossing = next(T for T, e in zip((1, 2, 4, 8, 16), energies, strict=True) if e > ann)
    assert 1 < crossing <= 8  # 4 with these counts


# -- spikesim --------------------------------------------------------------------------------------
def reference_spikesim(in_ch, out_ch, out_dim, xbar=64, k=3, T=5, xbar_e=1.76423):
    """The formulas of SpikeSim's ela_spikesim.py compute_energy, written out independently."""
    pe = k * k * xbar_e + (xbar / 8) * (2.03084 + 0.094245)
    per_cycle = 19.64 * 8 + 4.64 + 1.274 * 4.0 + xbar / 8 * pe + (xbar / 8) * 16 * 1.15e-6 + (xbar / 8) * 0.2 + 397
    return [math.ceil(o / xbar) * math.ceil(i / xbar) * d * d * per_cycle * T
            for i, o, d in zip(in_ch, out_ch, out_dim, strict=True)], per_cycle


VGG9 = dict(in_ch=[3, 64, 64, 128, 128, 256, 256], out_ch=[64, 64, 128, 128, 256, 256, 256],
            in_dim=[32, 32, 16, 16, 8, 8, 8], out_dim=[32, 16, 16, 8, 8, 8, 4])


def vgg9_ledger(T=5):
    layers = [conv(f"conv{i}", cin=c, cout=o, hin=h, hout=d, timesteps=T, input_spiking=True, ac=1.0,
                   input_nonzero=0.1 * c * h * h * T, input_elements=c * h * h * T)
              for i, (c, o, h, d) in enumerate(zip(VGG9["in_ch"], VGG9["out_ch"], VGG9["in_dim"], VGG9["out_dim"],
                                                   strict=True))]
    return EventLedger("if", timesteps=T, layers=layers)


def test_spikesim_check_value_828_5_pj_per_pe_cycle():
    parts = get_model("spikesim").cycle_energy(9)
    total = sum(parts.values())
    assert total == pytest.approx(828.5, abs=0.05)
    assert parts["tile_buffer"] / total == pytest.approx(0.48, abs=0.005)
    assert parts["htree"] / total == pytest.approx(0.19, abs=0.005)
    assert (parts["adc"] + parts["mux"]) / total == pytest.approx(0.164, abs=0.005)
    assert parts["crossbar"] / total == pytest.approx(0.153, abs=0.005)


def test_spikesim_dense_equals_reference_on_vgg9():
    expected, per_cycle = reference_spikesim(VGG9["in_ch"], VGG9["out_ch"], VGG9["out_dim"])
    assert per_cycle == pytest.approx(828.486, abs=1e-3)
    report = get_model("spikesim").price(vgg9_ledger())
    got = [layer.total_pj for layer in report.layers]
    for g, e in zip(got, expected, strict=True):
        assert g == pytest.approx(e, rel=1e-2)
    assert report.total_pj == pytest.approx(sum(expected), rel=1e-9)
    assert report.total_pj / 1e6 == pytest.approx(15.9, abs=0.05)  # the repository's VGG9 example, T=5


def test_spikesim_event_mode_scales_crossbar_and_adc_only():
    dense = get_model("spikesim").price(vgg9_ledger())
    event = get_model("spikesim_event").price(vgg9_ledger())
    cycles = sum(d["pe_cycles"] for d in dense.details().values())
    parts = get_model("spikesim").cycle_energy(9)
    saved = 0.9 * cycles * (parts["crossbar"] + parts["adc"])
    assert dense.total_pj - event.total_pj == pytest.approx(saved, rel=1e-9)


def test_spikesim_onespike_groups_are_crossbar_reads_and_xnor_warns():
    lay = conv(cin=64, cout=64, hin=4, hout=4, timesteps=1, groups=4, input_spiking=True, ac=10.0)
    report = get_model("spikesim").price(EventLedger("onespike", groups=4, layers=[lay]))
    parts = get_model("spikesim").cycle_energy(9)
    cycles = 16 * 4
    assert report.total_pj == pytest.approx(cycles * sum(parts.values()) - cycles * parts["neuron"] * 3 / 4)
    bnn = EventLedger("bnn", layers=[conv(xnor=100.0, popcount=100.0, act_bits=1, weight_bits=1)])
    priced = get_model("spikesim").price(bnn)  # a binary layer is its crossbar reads: priced, not warned
    assert priced.total_pj > 0 and not any("xnor" in w for w in priced.warnings)


def test_spikesim_analog_input_is_bit_serial():
    lay = conv(cin=3, cout=16, mac=100.0, act_bits=8)
    ledger = EventLedger("ann", layers=[lay])
    serial = get_model("spikesim").price(ledger).details()["c"]["pe_cycles"]
    plain = get_model("spikesim_one_read").price(ledger).details()["c"]["pe_cycles"]  # the reference: one read
    assert serial == 8 * plain == 8 * 16
    two_bit = get_model("spikesim").price(EventLedger("qcfs", layers=[conv(cin=3, cout=16, mac=100.0, act_bits=2)]))
    assert two_bit.details()["c"]["pe_cycles"] == 2 * 16
    fp32 = get_model("spikesim").price(EventLedger("ann", layers=[conv(cin=3, cout=16, mac=100.0, act_bits=32)]))
    assert fp32.details()["c"]["pe_cycles"] == 8 * 16 and any("8-bit fixed point" in w for w in fp32.warnings)


# -- weight_stationary -----------------------------------------------------------------------------
def test_weight_stationary_by_hand():
    per_bit = 0.23 / 8
    mac = 0.2 + 0.05  # INT8 multiply + an add at the 16-bit partial-sum width (Horowitz INT16 add)
    lay = linear(mac=8.0, weight_bits=8, act_bits=8, out_bits=8)
    for placement in ("by_size", "weights_streamed", "all_streamed"):
        report = get_model("weight_stationary", placement=placement).price(EventLedger("ann", layers=[lay]))
        got = report.by_component_and_level()
        weights_off, rest_off = placement != "by_size", placement == "all_streamed"
        assert got["compute"]["on_chip"] == pytest.approx(8 * mac)
        assert got["weight_memory"]["dram"] == pytest.approx(8 * 8 * 200 * per_bit if weights_off else 0.0)
        assert got["weight_memory"]["on_chip"] == pytest.approx(8 * 8 * 6 * per_bit + 8 * 8 * 1 * per_bit)
        # input 4 x 8 bit (read, staged through the GLB when it lives off chip); the output has no
        # activation after it: a stored partial sum at psum_bits = 16, written where it lives
        moved_in, moved_out = 4 * 8, 2 * 16
        assert got["activation_memory"]["dram"] == pytest.approx((moved_in + moved_out) * 200 * per_bit
                                                                 if rest_off else 0.0)
        assert got["activation_memory"]["on_chip"] == pytest.approx(
            (moved_in * 6 if rest_off else (moved_in + moved_out) * 6) * per_bit)
        assert got["interconnect"]["on_chip"] == pytest.approx(4 * 8 * 2 * per_bit + 8 * 16 * 2 * per_bit)


def test_weight_stationary_prices_each_mac_at_its_widths():
    ws = get_model("weight_stationary")
    assert ws.mac_pj(8, 8, 8) == pytest.approx(0.23)  # the table's anchor
    assert ws.mac_pj(32, 32, 32) == pytest.approx(3.7 + 0.9)  # FP32: Horowitz multiply + add, 20x INT8
    assert ws.mac_pj(8, 2, 8) == pytest.approx(0.2 * 16 / 64 + 0.03)  # a 2-bit activation: a quarter of the cells


def test_weight_stationary_membrane_per_timestep_for_if_once_for_onespike():
    per_bit = 0.23 / 8
    if_n = neuron(n=10, timesteps=5, vmem_bits=16, vmem_reads=50.0, vmem_writes=50.0, output_spiking=True)
    os_n = neuron(n=10, timesteps=1, groups=5, vmem_bits=16, vmem_reads=10.0, vmem_writes=10.0, output_spiking=True)
    model = get_model("weight_stationary")
    e_if = model.price(EventLedger("if", timesteps=5, layers=[if_n])).by_component()["membrane_memory"]
    e_os = model.price(EventLedger("onespike", groups=5, layers=[os_n])).by_component()["membrane_memory"]
    assert e_if == pytest.approx(10 * 5 * 2 * 16 * 6 * per_bit)
    assert e_os == pytest.approx(10 * 1 * 2 * 16 * 6 * per_bit)


# -- loihi -----------------------------------------------------------------------------------------
def test_loihi_per_event_by_hand():
    layers = [linear(ac=100.0, input_spiking=True), neuron(n=2, timesteps=3, spikes=4.0, output_spiking=True)]
    ledger = EventLedger("if", timesteps=3, layers=layers)
    report = get_model("loihi").price(ledger)
    assert report.total_pj == pytest.approx(100 * 23.6 + 6 * 81 + 4 * (1.7 + 1 * (3.0 + 4.0) / 2))
    assert "hops_per_spike" in report.provenance["options"]
    east = get_model("loihi", hops_per_spike=2, north_south_fraction=0.0, active_fraction=0.5).price(ledger)
    assert east.total_pj == pytest.approx(100 * 23.6 + 3 * 81 + 3 * 52 + 4 * (1.7 + 2 * 3.0))
    ann = get_model("loihi").price(EventLedger("ann", layers=[linear(mac=10.0)]))
    assert any("mac" in w for w in ann.warnings)


def test_loihi_sends_a_multi_bit_input_as_one_binary_spike_per_bit():
    for act_bits, planes in ((1, 1), (2, 2), (4, 4), (8, 8), (32, 8)):
        report = get_model("loihi").price(EventLedger("qcfs", layers=[linear(mac=10.0, act_bits=act_bits)]))
        assert report.by_component()["compute"] == pytest.approx(10 * planes * 23.6), act_bits
        assert report.conventions["act_bits"] == f"{planes} bit-plane spike(s)"
        assert any("8-bit bit-plane code" in w for w in report.warnings) == (act_bits > 8)


# -- lemaire ---------------------------------------------------------------------------------------
def test_lemaire_prices_a_mac_at_the_widths_that_ran():
    def mac_pj(wb, ab):
        layer = linear(mac=8.0, weight_bits=wb, act_bits=ab, out_bits=32)
        return get_model("lemaire").price(EventLedger("x", layers=[layer])).details()["fc"]["mac_pj"]

    assert mac_pj(32, 32) == pytest.approx(3.7 + 0.9)  # FP32 multiply + add (Horowitz), not Lemaire's INT32
    assert mac_pj(8, 8) == pytest.approx(0.2 + 0.1)  # INT8 multiply, the 32-bit accumulate of Lemaire's data width
    assert mac_pj(8, 2) == pytest.approx(0.2 * 16 / 64 + 0.1)  # a 2-bit activation: a quarter of the 8x8 cells

def test_lemaire_fc_spiking_layer_by_hand():
    fc = linear(fin=4, fout=2, ac=6.0, input_spiking=True, weight_bits=8, timesteps=2,
                input_nonzero=3.0, input_elements=8.0)
    out = neuron(n=2, timesteps=2, spikes=1.0, output_spiking=True)
    report = get_model("lemaire").price(EventLedger("if", timesteps=2, layers=[fc, out]))

    def ram(n, b):
        return 1.09e-5 * n * b + 13.2

    theta_in, theta_out = 3.0, 1.0
    expected = (theta_in * 2 * ram(8, 8) + (theta_in * 2 + 2) * ram(2, 32) + theta_in * 2 * 0.1
                + (2 * 2 + theta_out) * 0.1 + 2 * theta_in * 3.2 + theta_in * 0.1
                + theta_in * ram(4, 1) + theta_out * ram(2, 1))
    assert report.total_pj == pytest.approx(expected)


# -- every model -----------------------------------------------------------------------------------
LEDGERS = {
    "ann": vgg_like_ledger("dense", "ann"),
    "qcfs": vgg_like_ledger("quantized", "qcfs", act_bits=3),
    "if": vgg_like_ledger("multi_step_snn", "if", steps=4, spike_rate=0.15),
    "onespike": vgg_like_ledger("grouped_snn", "onespike", steps=4, spike_rate=0.15),
}


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("method", list(LEDGERS))
def test_components_sum_to_totals_per_layer_and_overall(name, method):
    report = get_model(name).price(LEDGERS[method])
    frame = report.by_layer()
    assert list(frame.columns[1:-1]) == list(COMPONENTS)
    assert frame[list(COMPONENTS)].sum(axis=1).to_numpy() == pytest.approx(frame["total_pj"].to_numpy())
    by_comp = report.by_component()
    assert set(by_comp) == set(COMPONENTS)
    assert sum(by_comp.values()) == pytest.approx(report.total_pj)
    assert frame["total_pj"].sum() == pytest.approx(report.total_pj)
    long = report.to_frame()
    assert long["energy_pj"].sum() == pytest.approx(report.total_pj)
    assert len(long) == len(LEDGERS[method].layers) * len(COMPONENT_LEVELS)
    split = report.by_component_and_level()
    assert {c: sum(levels.values()) for c, levels in split.items()} == pytest.approx(by_comp)
    assert long.groupby("level")["energy_pj"].sum().to_dict() == pytest.approx(
        {k: v for k, v in report.by_level().items() if k in set(long["level"])})
    row = report.results_row()
    assert row["energy_pj"] == pytest.approx(sum(row[f"{c}_pj"] for c in COMPONENTS))
    assert report.total_pj > 0 and all(v >= 0 for v in by_comp.values())


def test_flop_model_gain_far_above_hardware_gains():
    """The pattern of arXiv 2309.03388 Table II: the FLOP model's SNN gain over the ANN is far above
    the SATA and SpikeSim gains."""
    ann, snn = LEDGERS["ann"], vgg_like_ledger("multi_step_snn", "if", steps=4, spike_rate=0.05)

    def gain(name):
        model = get_model(name)
        return model.price(ann).total_pj / model.price(snn).total_pj

    assert gain("flops45nm") > 2 * gain("sata") and gain("flops45nm") > 2 * gain("spikesim")


def test_unsupported_modules_are_warned():
    ledger = EventLedger("if", timesteps=2, layers=[linear(ac=1.0, input_spiking=True)],
                         unsupported=[("features.7", "MyNorm")])
    for name in ALL:
        assert any("features.7" in w for w in get_model(name).price(ledger).warnings), name


def test_available_models_rows_have_sources_and_assumptions():
    rows = available_models()
    names = [r["name"] for r in rows]
    for required in ("flops45nm", "sata", "spikesim", "weight_stationary", "loihi", "lemaire"):
        assert required in names
    for row in rows:
        assert row["paper"] and row["assumptions"] and row["technology"] and row["table"].endswith(".toml")
        assert "OneSpike" in row["assumptions"]
    for name in names:
        model = get_model(name)
        assert model.name == name and "OneSpike" in type(model).__doc__


def test_wrong_model_name_suggests_the_right_one():
    with pytest.raises(ValueError, match=r"Did you mean 'sata'"):
        get_model("stata")
    with pytest.raises(ValueError, match=r"spikesim"):
        get_model("spikesimm")
    with pytest.raises(ValueError, match="precision"):
        get_model("flops45nm", precision="int4")
    with pytest.raises(ValueError, match="unknown option"):
        get_model("sata", gate=True)


def test_energy_models_imports_no_torch_and_no_analysis():
    code = (
        "import sys, pkgutil, importlib, energy_models\n"
        "for m in pkgutil.iter_modules(energy_models.__path__):\n"
        "    importlib.import_module('energy_models.' + m.name)\n"
        "from energy_models.examples import vgg_like_ledger\n"
        "from energy_models.sensitivity import break_even_sparsity\n"
        "for name in energy_models.MODEL_NAMES:\n"
        "    energy_models.get_model(name).price(vgg_like_ledger('multi_step_snn', 'if', steps=2)).by_layer()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'analysis'))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
