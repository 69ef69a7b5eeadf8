"""Fair to the bit (issue 22): the conventions printed are the ones priced, OneSpike's first layer runs
once, the same tensor is stored at the same width, energy is filed by what moves with the memory level
beside it, weights may stay resident, and every model belongs to a family with named alternatives.

Expected numbers are written out from the models' published constants (the TOML tables' values), not
read back from the code."""

from __future__ import annotations

import pytest

from energy_models import (
    COMPONENTS,
    MEMORY_COMPONENTS,
    EventLedger,
    LayerEvents,
    convention_alternatives,
    conventions_row,
    conventions_rows,
    conventions_table,
    family_members,
    get_model,
    model_family,
    model_names,
    primary_models,
    results_columns,
)

# -- toy ledgers ---------------------------------------------------------------------------------------
#: SATA TCAD constants, pJ per bit (16-bit units and accesses, ENERGY_MODELS.md §2)
SATA_DRAM, SATA_GLB, SATA_SPAD = 55.58 / 16, 1.95 / 16, 0.2779 / 16
#: Weight-stationary: an 8-bit word at 0.23 pJ x ratio (Eyeriss GLB 6x), per bit
WS_GLB = 6 * 0.23 / 8


def conv(name="c", cin=2, cout=4, h=4, **kw):
    return LayerEvents(name=name, kind="conv", in_channels=cin, out_channels=cout, kernel_size=(3, 3), stride=(1, 1),
                       in_shape=(cin, h, h), out_shape=(cout, h, h), neurons=cout * h * h, synapses=cout * cin * 9,
                       out_bits=32, **kw)


def pool(T=1, G=1, spiking_in=False):
    return LayerEvents(name="p", kind="pool", timesteps=T, groups=G, in_shape=(4, 4, 4), out_shape=(4, 2, 2),
                       neurons=16, act_bits=32, out_bits=32, add=48.0 * T * G, input_reads=64.0 * T * G,
                       output_writes=16.0 * T * G, input_spiking=spiking_in)


def qnn_pooled(weight_bits=8, act_bits=3) -> EventLedger:
    """conv -> avg pool -> quantizer: the conv's output is a stored partial sum (no activation fused)."""
    dense = 64 * 18
    c = conv(weight_bits=weight_bits, act_bits=act_bits, mac=dense, mac_nonzero=dense / 2, weight_reads=dense,
             input_reads=32.0, output_writes=64.0, input_nonzero=16.0, input_elements=32.0)
    q = LayerEvents(name="q", kind="neuron", neurons=16, act_bits=32, out_bits=act_bits, cmp=16.0, input_reads=16.0,
                    output_writes=16.0, output_elements=16.0, output_nonzero=8.0)
    return EventLedger("qnn_label", layers=[c, pool(), q])


def snn_pooled(T=2, G=1) -> EventLedger:
    """conv (spike input) -> avg pool -> IF/PSG neuron: the conv's output feeds a membrane."""
    dense = 64 * 18
    c = conv(weight_bits=8, act_bits=1, input_spiking=True, timesteps=T, groups=G, ac=dense * T * G / 4,
             weight_reads=dense * T * G / 4, input_reads=8.0 * T * G, output_writes=64.0 * T * G,
             input_nonzero=8.0 * T * G, input_elements=32.0 * T * G)
    n = LayerEvents(name="n", kind="neuron", neurons=16, timesteps=T, groups=G, act_bits=16, vmem_bits=16, out_bits=1,
                    output_spiking=True, add=16.0 * T * G, cmp=16.0 * T * G,
                    vmem_reads=16.0 * (T if G == 1 else 1), vmem_writes=16.0 * (T if G == 1 else 1), spikes=4.0 * T * G,
                    output_writes=4.0 * T * G, output_elements=16.0 * T * G, output_nonzero=4.0 * T * G)
    return EventLedger("snn_label", timesteps=T, groups=G, layers=[c, pool(T, G), n])


def first_layer_ledger(T: int, G: int) -> EventLedger:
    """An analog first conv counted once and reused by T sequential steps (IF) or G parallel groups (OneSpike),
    as the counter records it: the layer has one timestep, one group and ``repeat_steps`` = T or G."""
    first = LayerEvents(name="c1", kind="conv", in_channels=3, out_channels=64, kernel_size=(3, 3), stride=(1, 1),
                        in_shape=(3, 8, 8), out_shape=(64, 8, 8), neurons=4096, synapses=1728, weight_bits=8,
                        act_bits=32, out_bits=32, mac=4096 * 27, mac_nonzero=4096 * 27, repeat_steps=max(T, G),
                        input_elements=192, input_nonzero=192)
    return EventLedger("label", timesteps=T, groups=G, layers=[first])


# -- 1. the table printed is the rule priced -----------------------------------------------------------
SPIKESIM_CYCLE_PJ = (19.64 * 8 + 4.64 + 397 + 8 * 16 * 1.15e-6 + 8 * 0.2 + 8 ** 2 * (2.03084 + 0.094245)
                     + 1.274 * 4.0 + 8 * 9 * 1.76423)  # ela_spikesim.py, X = 64, k = 3, RRAM


def test_spikesim_runs_the_first_layer_of_if_and_onespike_by_one_rule():
    """The reference recomputes an IF network's analog first layer every timestep; under the same rule
    OneSpike's, reused by its G groups, is recomputed for every group: IF(4) and OneSpike(4) pay alike."""
    model = get_model("spikesim_one_read")  # one crossbar read per input, so the cycles are the reference's
    cycles = 1 * 1 * 64  # ceil(3/64) * ceil(64/64) * 8 * 8 per step
    if_report = model.price(first_layer_ledger(T=4, G=1))
    onespike = model.price(first_layer_ledger(T=1, G=4))
    assert if_report.by_component()["compute"] == pytest.approx(onespike.by_component()["compute"])
    assert if_report.conventions["first_layer_multiplier"] == onespike.conventions["first_layer_multiplier"] == 4.0
    assert if_report.total_pj == pytest.approx(4 * cycles * SPIKESIM_CYCLE_PJ)
    once = get_model("spikesim_one_read", first_layer="once")
    for T, G in ((4, 1), (1, 4)):
        priced = once.price(first_layer_ledger(T=T, G=G))
        assert priced.conventions["first_layer_multiplier"] == 1.0
        assert priced.by_component()["compute"] == pytest.approx(if_report.by_component()["compute"] / 4)


@pytest.mark.parametrize("name", ["flops45nm", "sata", "weight_stationary", "lemaire", "yan2024", "loihi",
                                  "spikesim"])
def test_first_layer_per_step_multiplies_steps_and_groups_alike(name):
    once = get_model(name, first_layer="once")
    per_step = get_model(name, first_layer="per_step")
    for T, G, factor in ((4, 1, 4), (1, 4, 4)):
        ledger = first_layer_ledger(T, G)
        a, b = once.price(ledger), per_step.price(ledger)
        assert b.by_component()["compute"] == pytest.approx(factor * a.by_component()["compute"]), (T, G)
        assert b.conventions["first_layer_multiplier"] == factor


def _ledgers() -> dict[str, EventLedger]:
    return {"qnn": qnn_pooled(), "if": snn_pooled(T=2), "onespike": snn_pooled(T=1, G=4),
            "first_if": first_layer_ledger(4, 1), "first_onespike": first_layer_ledger(1, 4)}


def _halved(ledger: EventLedger) -> EventLedger:
    """The same ledger with half the spikes reaching synapses and half the non-zero activations."""
    layers = []
    for layer in ledger.layers:
        data = layer.to_dict()
        for key in ("ac", "mac_nonzero", "input_nonzero", "weight_reads"):
            if key != "weight_reads" or layer.ac > 0:
                data[key] = data[key] / 2
        layers.append(LayerEvents.from_dict(data))
    return EventLedger(ledger.method, timesteps=ledger.timesteps, groups=ledger.groups, layers=layers)


@pytest.mark.parametrize("name", list(model_names()))
def test_every_row_of_the_conventions_table_is_what_pricing_did(name):
    model = get_model(name)
    ledgers = _ledgers()
    rows = {r["method"]: r for r in conventions_table(models=[name], ledgers=ledgers)}
    assert set(rows) == set(ledgers)
    for label, ledger in ledgers.items():
        row, report = rows[label], model.price(ledger)
        assert row == {**conventions_row(report), "method": label}
        synaptic = report.layers[0]
        # zero-skipping: an event-driven / zero-gated price falls with the activity, a dense one does not
        halved = model.price(_halved(ledger)).layers[0].components["compute"]
        kind = row["zero_skipping_ac"] if ledger.layers[0].ac > 0 else row["zero_skipping_mac"]
        if kind in ("dense",):
            assert halved == pytest.approx(synaptic.components["compute"]), (label, kind)
        else:
            assert kind in ("event-driven", "zero-gated") and halved < synaptic.components["compute"], (label, kind)
        # weight fetch: a DRAM fetch is priced exactly where the row says so
        dram_weights = report.by_component_and_level()["weight_memory"]["dram"]
        if row["weight_fetch"] == "DRAM every inference":
            assert dram_weights > 0
        elif row["weight_fetch"] in ("resident on chip", "in the crossbars"):
            assert dram_weights == 0
        # membrane: per neuron, reads + writes as the row says (the IF ledger runs T = 2 steps)
        if label == "if" and row["membrane_accesses_per_neuron"] != "-":
            inner = model.options["if_dataflow"] == "time_inner"
            if name.startswith("lemaire"):
                assert row["membrane_accesses_per_neuron"] > 2  # per-spike potential writes (Lemaire's form)
            else:
                assert row["membrane_accesses_per_neuron"] == (2.0 if inner else 4.0)
        if label == "onespike" and row["membrane_accesses_per_neuron"] != "-" and not name.startswith("lemaire"):
            assert row["membrane_accesses_per_neuron"] == 2.0  # PSG: read and written once


MEMBRANE_PER_BIT = {  # pJ per bit of one on-chip membrane access, from the tables
    "sata": SATA_GLB, "sata_gated": SATA_GLB, "weight_stationary": WS_GLB,
    "yan2024": 0.15625, "flops45nm_memory": 10 / 64,
}


@pytest.mark.parametrize("name", list(MEMBRANE_PER_BIT))
def test_membrane_energy_is_neurons_times_printed_accesses_times_printed_width(name):
    report = get_model(name).price(snn_pooled(T=2))
    row = conventions_row(report)
    neurons = 64 if name.startswith("sata") else 16  # SATA's K*E^2 term: the conv's output map
    expected = neurons * row["membrane_accesses_per_neuron"] * float(row["preactivation_bits"]) * MEMBRANE_PER_BIT[name]
    assert report.by_component_and_level()["membrane_memory"]["on_chip"] == pytest.approx(expected)


# -- 3. the same tensor at the same width --------------------------------------------------------------
def test_sata_stores_a_qnn_partial_sum_and_an_snn_membrane_at_one_width():
    """Both conv outputs (64 values before pooling) move at psum_bits = 8 (SATA's membrane register):
    the QNN's once, the IF network's every one of its T = 2 steps."""
    sata = get_model("sata")
    qnn, snn = sata.price(qnn_pooled()), sata.price(snn_pooled(T=2))
    assert qnn.details()["c"]["output_bits_moved"] == 64 * 8
    assert snn.details()["c"]["output_bits_moved"] == 2 * 64 * 8
    assert qnn.conventions["preactivation_bits"] == snn.conventions["preactivation_bits"] == "8"
    streamed = get_model("sata", placement="all_streamed")
    psum = streamed.price(qnn_pooled()).layers[0].levels
    assert psum[("activation_memory", "dram")] == pytest.approx((32 * 3 + 64 * 8) * SATA_DRAM)  # input + psum
    assert streamed.price(snn_pooled(T=2)).layers[0].levels[("membrane_memory", "dram")] == pytest.approx(
        2 * 64 * 8 * SATA_DRAM)
    wide = get_model("sata", psum_bits=16)
    assert wide.price(qnn_pooled()).details()["c"]["output_bits_moved"] == 64 * 16
    assert wide.price(snn_pooled(T=2)).details()["c"]["output_bits_moved"] == 2 * 64 * 16
    fp32 = sata.price(qnn_pooled(weight_bits=32, act_bits=32))  # a float network keeps its 32-bit partial sums
    assert fp32.details()["c"]["output_bits_moved"] == 64 * 32


@pytest.mark.parametrize(("name", "psum"), [("weight_stationary", 16), ("flops45nm_memory", 16), ("yan2024", 16),
                                            ("lemaire", 32)])
def test_every_memory_model_has_one_pre_activation_width(name, psum):
    model = get_model(name)
    assert model.options["psum_bits"] == psum
    for ledger in (qnn_pooled(), snn_pooled(T=2), snn_pooled(T=1, G=4)):
        assert model.price(ledger).conventions["preactivation_bits"] == f"{psum}"


def test_weight_stationary_writes_the_pre_pool_output_of_every_method_alike():
    """conv -> pool: the QNN's partial sum and the SNN's current are both written at 16 bits, then read by the
    pooling at 16 bits (Eyeriss partial sums)."""
    ws = get_model("weight_stationary")
    qnn = ws.price(qnn_pooled())
    assert qnn.layers[0].components["activation_memory"] == pytest.approx((32 * 3 + 64 * 16) * WS_GLB)
    assert qnn.layers[1].components["activation_memory"] == pytest.approx((64 + 16) * 16 * WS_GLB)
    snn = ws.price(snn_pooled(T=2))
    assert snn.layers[0].components["activation_memory"] == pytest.approx((2 * 32 * 1 + 2 * 64 * 16) * WS_GLB)


# -- 4. components by what moves, levels beside --------------------------------------------------------
def test_sata_files_membrane_dram_traffic_as_membrane_energy():
    report = get_model("sata", placement="all_streamed").price(snn_pooled(T=2))
    split = report.by_component_and_level()
    membrane_bits = 2 * 64 * 8
    assert split["membrane_memory"] == pytest.approx({"on_chip": membrane_bits * 2 * SATA_GLB,
                                                      "dram": membrane_bits * SATA_DRAM})
    assert "dram" not in report.by_component() and set(report.by_component()) == set(COMPONENTS)
    row = report.results_row()
    assert list(row) == results_columns()
    assert row["membrane_memory_pj"] == pytest.approx(membrane_bits * (2 * SATA_GLB + SATA_DRAM))
    assert row["membrane_memory_dram_pj"] == pytest.approx(membrane_bits * SATA_DRAM)
    assert row["energy_pj"] == pytest.approx(sum(row[f"{c}_pj"] for c in COMPONENTS))
    assert report.by_level()["dram"] == pytest.approx(sum(row[f"{c}_dram_pj"] for c in MEMORY_COMPONENTS))
    frame = report.to_frame()
    assert set(frame["level"]) == {"on_chip", "dram"}
    assert frame[frame["level"] == "dram"]["component"].isin(MEMORY_COMPONENTS).all()


def test_only_memory_components_have_a_dram_level():
    from energy_models import LayerCost

    cost = LayerCost("x", "conv")
    with pytest.raises(ValueError, match="no level 'dram'"):
        cost.add("compute", 1.0, level="dram")
    with pytest.raises(ValueError, match="memory level"):
        cost.add("dram", 1.0)


# -- 5. weights resident on chip -----------------------------------------------------------------------
def big_linear(fin: int) -> EventLedger:
    layer = LayerEvents(name="fc", kind="linear", in_channels=fin, out_channels=100, in_shape=(fin,), out_shape=(100,),
                        neurons=100, synapses=fin * 100, weight_bits=8, act_bits=8, out_bits=32, mac=fin * 100.0,
                        mac_nonzero=fin * 100.0, input_elements=fin, input_nonzero=fin)
    return EventLedger("label", layers=[layer])


@pytest.mark.parametrize(("name", "buffer_bytes", "dram_per_bit"), [
    ("sata", 176 * 1024, SATA_DRAM), ("weight_stationary", 108 * 1024, 200 * 0.23 / 8)])
def test_weights_fetched_from_dram_only_when_they_do_not_fit_the_buffer(name, buffer_bytes, dram_per_bit):
    fits, too_big = buffer_bytes // 100, buffer_bytes // 100 + 1  # 8-bit weights: 100 x fin bytes
    model = get_model(name)
    assert model.options["placement"] == "by_size"
    small = model.price(big_linear(fits))
    assert small.by_component_and_level()["weight_memory"]["dram"] == 0.0
    assert small.conventions["weight_fetch"] == "resident on chip"
    large = model.price(big_linear(too_big))
    assert large.by_component_and_level()["weight_memory"]["dram"] == pytest.approx(too_big * 100 * 8 * dram_per_bit)
    assert large.conventions["weight_fetch"] == "dram every inference"
    forced = get_model(name, placement="weights_streamed").price(big_linear(fits))
    assert forced.by_component_and_level()["weight_memory"]["dram"] == pytest.approx(fits * 100 * 8 * dram_per_bit)
    with pytest.raises(ValueError, match="placement"):
        get_model(name, placement="sometimes")
    with pytest.raises(ValueError, match="unknown option 'weights_resident'"):
        get_model(name, weights_resident=False)


# -- 6. primary models, families, alternatives ---------------------------------------------------------
def test_every_model_belongs_to_one_family_with_one_primary():
    primaries = primary_models()
    assert primaries == ("flops45nm", "sata", "spikesim", "weight_stationary", "loihi", "lemaire", "yan2024")
    for name in model_names():
        family = model_family(name)
        assert family in primaries and name in family_members(family)
    assert model_family("sata_time_inner") == "sata" and model_family("flops45nm_fp32") == "flops45nm"
    assert family_members("sata")[0] == "sata"
    with pytest.raises(ValueError, match="Did you mean 'sata'"):
        model_family("stata")


@pytest.mark.parametrize("name", list(model_names()))
def test_convention_alternatives_reprice_the_same_ledger(name):
    alternatives = convention_alternatives(name)
    labels = [label for label, _ in alternatives]
    assert len(labels) == len(set(labels)) and alternatives
    base = get_model(name).price(snn_pooled(T=2)).total_pj
    changed = 0
    for _, options in alternatives:
        price = get_model(name, **options).price(snn_pooled(T=2)).total_pj
        changed += price != pytest.approx(base)
    assert changed >= 1, name


def test_alternatives_name_the_conventions_a_reviewer_varies():
    sata = dict(convention_alternatives("sata"))
    assert sata["zero-skipping on (zero spikes and zero activations skipped alike)"] == {"zero_skipping": True}
    assert {"if_dataflow": "time_inner"} in sata.values() and {"placement": "weights_streamed"} in sata.values()
    assert {"placement": "all_on_chip"} in sata.values() and {"placement": "all_streamed"} in sata.values()
    assert {"psum_bits": 32.0} in sata.values()
    flops = dict(convention_alternatives("flops45nm"))
    assert {"precision": "fp32", "zero_skipping": "spikes_only"} in flops.values()
    assert {"if_dataflow": "time_inner"} not in flops.values()  # compute only: no membrane to re-order
    assert {"first_layer": "once"} in dict(convention_alternatives("spikesim")).values()


# -- 7. events priced at zero by construction ----------------------------------------------------------
def test_provenance_says_which_events_cost_nothing_by_construction():
    for name in ("spikesim", "loihi", "lemaire"):
        zero = get_model(name).provenance["zero_by_construction"]
        assert "mul" in zero and "mod" in zero, name
    assert "mul" not in get_model("sata").provenance["zero_by_construction"]  # priced on SATA's multiplier
    flops = get_model("flops45nm").provenance["zero_by_construction"]
    assert {"add", "mul", "mod", "weight_reads", "vmem_reads"} <= set(flops)
    assert "mul" not in get_model("flops45nm", neuron_ops=True).provenance["zero_by_construction"]
    assert "spikes" in get_model("sata").provenance["zero_by_construction"]
    assert "spikes" not in get_model("loihi").provenance["zero_by_construction"]
    rows = conventions_rows([get_model("spikesim").price(snn_pooled())])
    assert "mul" in rows[0]["priced_at_zero"]


# -- options: declared once, one error for every model ---------------------------------------------------
@pytest.mark.parametrize(("name", "wrong", "right"), [
    ("flops45nm", "precison", "precision"), ("yan2024", "hops_per_transfers", "hops_per_transfer"),
    ("loihi", "hops_per_spikes", "hops_per_spike"), ("spikesim", "xbar", "xbar_size"),
    ("sata", "psum_bit", "psum_bits"), ("lemaire", "psumbits", "psum_bits"),
    ("weight_stationary", "placment", "placement"),
])
def test_a_wrong_option_names_the_model_and_the_closest_option(name, wrong, right):
    with pytest.raises(ValueError, match=rf"{name}: unknown option '{wrong}'; did you mean '{right}'\?.*accepts"):
        get_model(name, **{wrong: 1})


def test_option_values_are_checked_from_their_declaration():
    with pytest.raises(ValueError, match="xbar_size"):
        get_model("spikesim", xbar_size=12)
    with pytest.raises(ValueError, match="psum_bits"):
        get_model("sata", psum_bits=0)
    with pytest.raises(ValueError, match="north_south_fraction"):
        get_model("loihi", north_south_fraction=1.5)
    assert get_model("spikesim", xbar_size=128).options["xbar_size"] == 128
    assert get_model("loihi").options["hops_per_spike"] == 1.0  # a default read from the table
