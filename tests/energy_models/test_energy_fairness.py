"""Fair accounting (issue 12): every pricing rule applies to every method alike, or is a named option."""

from __future__ import annotations

import math

import pytest

import energy_models
from energy_models import (
    STYLES,
    EnergyReport,
    EventLedger,
    LayerCost,
    LayerEvents,
    conventions_table,
    get_model,
    model_family,
    model_names,
    primary_models,
    unregister_model,
)
from energy_models.applied import CONVENTION_COLUMNS
from energy_models.examples import vgg_like_ledger
from energy_models.registry import register_model
from energy_models.sata import Sata
from energy_models.sensitivity import at_sparsity, break_even_sparsity

ALL = list(model_names())
#: Models that price activation widths: all but the reference's one-read crossbar (kept for reproductions).
WIDTH_AWARE = ["flops45nm", "flops45nm_memory", "sata", "sata_gated", "sata_hw", "weight_stationary", "lemaire",
               "yan2024", "spikesim", "loihi"]


def conv(name="c", cin=4, cout=8, k=3, h=8, **kw):
    return LayerEvents(name=name, kind="conv", in_channels=cin, out_channels=cout, kernel_size=(k, k), stride=(1, 1),
                       in_shape=(cin, h, h), out_shape=(cout, h, h), neurons=cout * h * h, synapses=cout * cin * k * k,
                       out_bits=32, **kw)


def qnn_ledger(bits: int = 3, live: float = 0.4) -> EventLedger:
    """conv (quantized input, fused into its quantizer) -> quantizer emitting ``bits``-bit activations."""
    dense = 8 * 8 * 8 * 4 * 9
    c = conv(weight_bits=8, act_bits=bits, mac=dense, mac_nonzero=dense * live, weight_reads=dense,
             input_reads=4 * 64, output_writes=8 * 64, input_nonzero=4 * 64 * live, input_elements=4 * 64,
             fused_into="q")
    q = LayerEvents(name="q", kind="neuron", neurons=512, act_bits=32, out_bits=bits, mul=512, cmp=1024,
                    input_reads=512, output_writes=512, output_elements=512, output_nonzero=200)
    return EventLedger("qcfs", layers=[c, q])


def snn_ledger(T: int = 4, rate: float = 0.1, method: str = "if") -> EventLedger:
    """conv (spike input, fused into its IF neuron) -> IF neuron, T steps, input firing rate ``rate``."""
    dense = 8 * 8 * 8 * 4 * 9
    n_in = 4 * 64 * T
    c = conv(weight_bits=8, act_bits=1, input_spiking=True, timesteps=T, ac=dense * T * rate,
             weight_reads=dense * T * rate, input_reads=n_in * rate, output_writes=512 * T,
             input_nonzero=n_in * rate, input_elements=n_in, fused_into="n")
    n = LayerEvents(name="n", kind="neuron", neurons=512, timesteps=T, act_bits=16, vmem_bits=16, out_bits=1,
                    output_spiking=True, add=512 * T * 1.1, cmp=512 * T, vmem_reads=512 * T, vmem_writes=512 * T,
                    spikes=512 * T * 0.1, output_writes=512 * T * 0.1, input_reads=512 * T,
                    output_elements=512 * T, output_nonzero=512 * T * 0.1)
    return EventLedger(method, timesteps=T, layers=[c, n])


def bnn_ledger() -> EventLedger:
    dense = 8 * 8 * 8 * 4 * 9
    c = conv(weight_bits=1, act_bits=1, xnor=dense, popcount=dense, weight_reads=dense, mul=512,
             input_reads=256, output_writes=512, input_nonzero=256, input_elements=256, fused_into="s")
    s = LayerEvents(name="s", kind="neuron", neurons=512, act_bits=32, out_bits=1, cmp=512, input_reads=512,
                    output_writes=512, output_elements=512, output_nonzero=512)
    return EventLedger("bnn", layers=[c, s])


# -- 1. fused activation ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", WIDTH_AWARE)
def test_qnn_layer_price_falls_with_its_activation_width(name):
    model = get_model(name)
    prices = [model.price(qnn_ledger(b)).total_pj for b in (8, 4, 2)]
    assert prices[0] > prices[1] > prices[2], prices


@pytest.mark.parametrize("name", ["flops45nm_memory", "sata", "weight_stationary", "lemaire", "yan2024"])
def test_unfused_activation_pays_the_accumulator_width(name):
    fused = get_model(name).price(qnn_ledger(2)).total_pj
    unfused = get_model(name, fused_activation=False).price(qnn_ledger(2)).total_pj
    assert unfused > fused
    assert get_model(name).provenance["options"]["fused_activation"] is True


# -- 2. zero-skipping ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_qnn_and_snn_get_zero_skipping_from_the_same_option(name):
    for ledger in (qnn_ledger(), snn_ledger()):
        on = get_model(name, zero_skipping=True).price(ledger).total_pj
        off = get_model(name, zero_skipping=False).price(ledger).total_pj
        assert on < off, (name, ledger.method, on, off)
    assert get_model(name).provenance["options"]["zero_skipping"] in (True, False, "spikes_only")


def test_zero_skipping_is_exactly_mac_nonzero_under_flops45nm():
    ledger = qnn_ledger(bits=4, live=0.25)
    model = get_model("flops45nm")
    mac_pj = model.mult_pj(8, 4) + model.int_add_pj(32)
    assert model.price(ledger).total_pj == pytest.approx(ledger.layers[0].mac * 0.25 * mac_pj)
    dense = get_model("flops45nm", zero_skipping=False).price(ledger).total_pj
    assert dense == pytest.approx(ledger.layers[0].mac * mac_pj)


# -- 3. flops45nm at real operand widths ---------------------------------------------------------------
def test_flops45nm_native_widths_hit_horowitz_anchors():
    model = get_model("flops45nm")
    assert model.mult_pj(8, 8) == pytest.approx(0.2) and model.mult_pj(32, 16) == pytest.approx(
        0.2 + (3.1 - 0.2) * (512 - 64) / (1024 - 64))
    assert model.mult_pj(32, 32) == pytest.approx(3.7)  # two 32-bit operands: a float ANN
    assert [model.int_add_pj(w) for w in (8, 16, 32)] == pytest.approx([0.03, 0.05, 0.1])
    assert model.int_add_pj(4) == pytest.approx(0.015)
    ann = EventLedger("ann", layers=[conv(weight_bits=32, act_bits=32, mac=100.0, mac_nonzero=100.0)])
    assert model.price(ann).total_pj == pytest.approx(100 * 4.6)
    qnn = qnn_ledger(bits=3, live=1.0)
    assert model.price(qnn).total_pj < get_model("flops45nm_fp32").price(qnn).total_pj / 10
    table = {r["key"]: r for r in model.table.rows()}
    assert "Horowitz" in table["int8_mult"]["source"] and table["accumulator_bits"]["unit"] == "bit"


# -- 4. BNN never at zero --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_binary_layers_cost_more_than_zero_under_every_model(name):
    report = get_model(name).price(bnn_ledger())
    assert report.layers[0].total_pj > 0
    assert not any("xnor" in w or "popcount" in w for w in report.warnings), report.warnings


# -- 6. continuity and break-even --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_price_is_continuous_as_the_spike_rate_goes_to_zero(name):
    model = get_model(name)
    snn = snn_ledger(T=4)
    at_zero = model.price(at_sparsity(snn, 1.0)).total_pj
    near = model.price(at_sparsity(snn, 1.0 - 1e-9)).total_pj
    dense = model.price(at_sparsity(snn, 0.0)).total_pj
    assert abs(near - at_zero) <= 1e-6 * dense


class _Shifted:
    """A model whose SNN price is another model's plus ``offset`` pJ, plus ``jump`` pJ while any AC fires."""

    def __init__(self, base, offset=0.0, jump=0.0):
        self.base, self.offset, self.jump = base, offset, jump
        self.name, self.provenance = "shifted", {}

    def price(self, ledger):
        report = self.base.price(ledger)
        extra = LayerCost("extra", "other")
        if ledger.method == "if":
            extra.add("compute", self.offset + (self.jump if ledger.total("ac") > 0 else 0.0))
        return EnergyReport(model=self.name, method=ledger.method, layers=[*report.layers, extra])


def test_break_even_says_no_crossing_on_offset_curves_and_at_a_jump():
    base = get_model("flops45nm_fp32")
    snn, qnn = snn_ledger(T=4), qnn_ledger()
    q = base.price(qnn).total_pj
    offset = _Shifted(base, offset=q + 1.0)  # the SNN curve lifted above the QNN at every sparsity
    found = break_even_sparsity(at_sparsity(snn, 0.5), qnn, offset)
    assert math.isnan(found.sparsity) and "no crossing" in found.reason
    # a price that jumps across the QNN's when the last spike goes is not a crossing
    floor = base.price(at_sparsity(snn, 1.0)).total_pj
    assert floor < q
    jumpy = _Shifted(base, jump=q - floor + 10.0)
    found = break_even_sparsity(snn, qnn, jumpy)
    assert math.isnan(found.sparsity) and "no crossing" in found.reason and "discontinuity" in found.reason


def test_sata_has_no_crossing_where_its_fixed_costs_exceed_the_qnn():
    found = break_even_sparsity(vgg_like_ledger("multi_step_snn", "if", steps=5),
                                vgg_like_ledger("quantized", "qcfs", act_bits=3), "sata_hw")
    assert math.isnan(found.sparsity) and found.reason.startswith("no crossing")


# -- 7. first-layer reuse ----------------------------------------------------------------------------------
def test_first_layer_convention_scales_repeated_layers_only():
    first = conv("c1", cin=3, act_bits=32, weight_bits=8, mac=1000.0, mac_nonzero=1000.0, repeat_steps=5,
                 input_elements=192, input_nonzero=192)
    ledger = EventLedger("if", timesteps=5, layers=[first])
    for name in ("flops45nm", "sata", "weight_stationary", "lemaire", "yan2024", "spikesim"):
        once = get_model(name, first_layer="once").price(ledger).total_pj
        per_step = get_model(name, first_layer="per_step").price(ledger).total_pj
        assert per_step > 1.5 * once, name  # weights are fetched once either way in the memory models
        if name == "flops45nm":
            assert per_step == pytest.approx(5 * once)
        ann = EventLedger("ann", layers=[conv(weight_bits=32, act_bits=32, mac=1000.0, mac_nonzero=1000.0)])
        assert get_model(name, first_layer="per_step").price(ann).total_pj == pytest.approx(
            get_model(name, first_layer="once").price(ann).total_pj)
    assert get_model("spikesim").provenance["options"]["first_layer"] == "per_step"


# -- 8. IF dataflow ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sata_time_inner", "weight_stationary_time_inner", "flops45nm_memory_time_inner"])
def test_time_inner_touches_each_membrane_once(name):
    outer_name = name.replace("_time_inner", "")
    snn = snn_ledger(T=4)
    inner = get_model(name).price(snn).by_component()["membrane_memory"]
    outer = get_model(outer_name).price(snn).by_component()["membrane_memory"]
    assert inner == pytest.approx(outer / 4)
    onespike = snn_ledger(T=1, method="onespike")  # one timestep: nothing to change
    assert get_model(name).price(onespike).total_pj == pytest.approx(get_model(outer_name).price(onespike).total_pj)


def test_if_dataflow_refused_where_no_membrane_traffic_is_priced():
    with pytest.raises(ValueError, match="if_dataflow"):
        get_model("loihi", if_dataflow="time_inner")
    with pytest.raises(ValueError, match="if_dataflow"):
        get_model("sata", if_dataflow="sideways")


# -- 10. conventions table, registry, method names ------------------------------------------------------------
def test_conventions_table_has_one_row_per_model_and_network_style():
    rows = conventions_table()
    assert len(rows) == len(STYLES) * len(model_names()) and all(list(r) == list(CONVENTION_COLUMNS) for r in rows)
    by = {(r["hardware"], r["method"]): r for r in rows}
    assert by[("sata", "quantized")]["zero_skipping_mac"] == by[("sata", "multi_step_snn")]["zero_skipping_ac"] \
        == "dense"
    assert by[("flops45nm_fp32", "multi_step_snn")]["zero_skipping_ac"] == "event-driven"
    assert by[("flops45nm_fp32", "quantized")]["zero_skipping_mac"] == "dense"
    assert by[("sata_time_inner", "multi_step_snn")]["if_dataflow"] == "time_inner"
    assert by[("spikesim", "multi_step_snn")]["first_layer_multiplier"] == 4.0
    assert by[("spikesim", "grouped_snn")]["first_layer_multiplier"] == 4.0  # one rule: G groups as T steps
    assert by[("flops45nm_fp32", "quantized")]["weight_bits"] == "fp32"
    mine = conventions_table(models=["sata"], ledgers={"my_method": snn_ledger(T=4, method="my_method")})
    assert mine[0]["method"] == "my_method" and mine[0]["membrane_accesses_per_neuron"] == 8.0


def test_register_model_refuses_a_duplicate_and_model_names_follow():
    with pytest.raises(ValueError, match="already registered"):
        register_model("sata", Sata)
    try:
        register_model("sata_copy_for_test", Sata, {"zero_skipping": True}, family="sata", changes="zero-skipping on")
        assert "sata_copy_for_test" in energy_models.MODEL_NAMES and "sata_copy_for_test" in model_names()
        assert model_family("sata_copy_for_test") == "sata" and "sata_copy_for_test" not in primary_models()
        register_model("sata_copy_for_test", Sata, {}, replace=True)
        assert get_model("sata_copy_for_test").options["zero_skipping"] is False
        assert "sata_copy_for_test" in primary_models()  # registered without a family: its own primary
    finally:
        unregister_model("sata_copy_for_test")
    assert "sata_copy_for_test" not in energy_models.MODEL_NAMES
    with pytest.raises(ValueError, match="must say which convention"):
        register_model("sata_copy_for_test", Sata, {}, family="sata")
    with pytest.raises(ValueError, match="built-in"):
        unregister_model("sata_gated")


@pytest.mark.parametrize("name", ALL)
def test_pricing_reads_ledger_facts_not_method_names(name):
    snn = snn_ledger(T=4)
    user = EventLedger("my_spiking_method", timesteps=4, layers=list(snn.layers))
    model = get_model(name)
    assert model.price(user).total_pj == pytest.approx(model.price(snn).total_pj)
    with pytest.raises(ValueError, match="method"):
        EventLedger("", layers=[])


def test_nonfinite_values_are_warned():
    ledger = snn_ledger()
    ledger.layers[1].nonfinite_values = 3.0
    for name in ("sata", "flops45nm", "yan2024"):
        assert any("NaN/Inf" in w for w in get_model(name).price(ledger).warnings)


# -- 9. yan2024 and the per-spike energy that gives a target break-even ----------------------------------------
def test_yan2024_constants_carry_value_unit_and_source():
    table = {r["key"]: r for r in get_model("yan2024").table.rows()}
    for key, value, unit in (("e_acc", 0.054, "pJ"), ("e_s", 3.0, "pJ"), ("e_d", 0.25, "pJ"), ("weight_bits", 4, "bit"),
                             ("dram_spike", 1300, "pJ")):
        assert table[key]["value"] == value and table[key]["unit"] == unit
        assert "secondary summary of v4, see ENERGY_MODELS.md §6" in table[key]["source"]
    for key in ("sram_per_bit", "multiplier_ratio_bits", "hops_per_transfer"):
        assert "summary" in table[key]["source"] and ("default" in table[key]["source"]
                                                      or "assumption" in table[key]["source"])


def test_yan2024_prices_snn_and_qnn_by_hand():
    model = get_model("yan2024")
    snn, qnn = snn_ledger(T=4), qnn_ledger(bits=3, live=0.4)
    c, n = snn.layers
    sram = 0.15625
    expected_snn = (c.ac * (0.054 + 8 * sram) + (n.add + n.cmp) * 0.054 + (n.vmem_reads + n.vmem_writes) * 16 * sram
                    + n.spikes * 3.0)
    assert model.price(snn).total_pj == pytest.approx(expected_snn)
    c, q = qnn.layers
    mult = 0.054 * (0.2 * 24 / 64) / 0.05  # Horowitz multiplier/adder ratio at 8 x 3 bits vs a 16-bit add
    mult16 = 0.054 * (0.2 + 2.9 * (256 - 64) / 960) / 0.05
    expected_qnn = (c.mac_nonzero * (0.054 + mult + 8 * sram) + q.cmp * 0.054 + q.mul * mult16
                    + q.output_elements * 3 * 0.25)
    assert model.price(qnn).total_pj == pytest.approx(expected_qnn)
    # the DRAM worst case moves each spike as one 64-bit DRAM read
    dram = get_model("yan2024", spike_move="dram").price(snn).total_pj
    assert dram - model.price(snn).total_pj == pytest.approx(snn.layers[1].spikes * (1300 - 3.0))


def test_spike_event_energy_for_break_even_puts_the_crossing_at_the_target():
    from energy_models.sensitivity import spike_event_energy_for_break_even, sweep_spike_event_energy

    snn, qnn = snn_ledger(T=5), qnn_ledger(bits=3, live=0.9)
    found = spike_event_energy_for_break_even(snn, qnn, "yan2024", target_rate=0.057)
    assert found.reason == "" and found.spike_event_pj > 0
    check = break_even_sparsity(snn, qnn, get_model("yan2024", spike_event_pj=found.spike_event_pj))
    assert 1 - check.sparsity == pytest.approx(0.057, abs=1e-6)
    same = spike_event_energy_for_break_even(snn, qnn, lambda pj: get_model("yan2024", spike_event_pj=pj), 0.057)
    assert same.spike_event_pj == pytest.approx(found.spike_event_pj)
    none = spike_event_energy_for_break_even(snn, qnn, "sata_hw", target_rate=0.057)
    assert math.isnan(none.spike_event_pj) and none.reason.startswith("none")
    rows = sweep_spike_event_energy(snn, qnn, "yan2024", [0.0, found.spike_event_pj, 10 * found.spike_event_pj])
    rates = [r["break_even_rate"] for r in rows]
    assert rates[0] > rates[1] > rates[2] and rates[1] == pytest.approx(0.057, abs=1e-6)
    assert {"spike_event_pj", "break_even_sparsity", "break_even_rate", "reason"} == set(rows[0])


@pytest.mark.parametrize("name", [*ALL, "energy_models/tables/example_user_chip.toml"])
def test_every_model_takes_a_per_spike_energy(name):
    snn = snn_ledger(T=4)
    base = get_model(name, spike_event_pj=0.0).price(snn).total_pj
    more = get_model(name, spike_event_pj=2.0).price(snn).total_pj
    assert more - base == pytest.approx(2.0 * snn.total("spikes"))


def test_every_report_prints_its_conventions():
    for name in ALL:
        text = get_model(name).price(snn_ledger()).summary()
        assert "conventions: zero_skipping=" in text and "fused_activation=" in text and "first_layer=" in text


def test_zero_gated_macs_estimated_only_where_the_ledger_lacks_them():
    dense = 8 * 8 * 8 * 4 * 9
    old = conv(weight_bits=8, act_bits=3, mac=dense, input_nonzero=64.0, input_elements=256.0, fused_into="q")
    report = get_model("flops45nm").price(EventLedger("qcfs", layers=[old]))
    assert report.details()["c"]["mac_pj"] * dense / 4 == pytest.approx(report.total_pj)
    assert any("mac_nonzero" in w for w in report.warnings)
    pooled = conv(weight_bits=8, act_bits=3, mac=dense / 2, input_nonzero=64.0, input_elements=256.0)
    report = get_model("flops45nm").price(EventLedger("if", layers=[pooled]))  # counted over non-zeros already
    assert report.details()["c"]["mac_pj"] * dense / 2 == pytest.approx(report.total_pj)
