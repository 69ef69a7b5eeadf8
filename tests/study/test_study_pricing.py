"""What the pricing stage writes into the run folder (no network runs: closed-form example ledgers):
the headline set, the alternatives priced for the sensitivity section, each model's provenance,
warnings as rows, shapes as integers, the conventions applied."""

from __future__ import annotations

import json

import pytest

from analysis.study.hardware import (
    PSUM_WIDTHS,
    alternatives,
    hardware_table,
    headline_models,
)
from analysis.study.pricing import PricingStage, layer_rows
from analysis.study.units import EVAL, Unit
from energy_models import convention_alternatives, get_model, model_names, primary_models
from energy_models.examples import style_examples


def test_headline_models():
    assert headline_models(["primary"]) == list(primary_models())
    assert headline_models(["all"]) == list(model_names())
    assert headline_models(["sata", "primary"])[0] == "sata" and len(headline_models(["sata", "primary"])) == 7
    assert headline_models(["sata_gated", "my.toml"]) == ["sata_gated", "my.toml"]


def test_alternatives_are_the_family_and_every_convention_once():
    found = {alt.name: alt for alt in alternatives("sata")}
    # the family's variants by name; a convention alternative with the same options is not repeated
    assert {"sata_gated", "sata_time_inner", "sata_hw"} <= set(found)
    assert "if_dataflow=time_inner" not in found and "zero_skipping=on" not in found
    # the stored pre-activation width swept over every width other than the model's own (8 bits)
    assert {f"psum_bits={bits:g}" for bits in PSUM_WIDTHS if bits != 8} <= set(found)
    assert "psum_bits=8" not in found
    assert found["psum_bits=16"].options == {"psum_bits": 16.0}
    assert found["psum_bits=16"].model.options["psum_bits"] == 16.0
    listed = {json.dumps(opts, sort_keys=True) for _, opts in convention_alternatives("sata")}
    assert len(found) >= len(listed)  # every convention alternative is priced (as itself or as a variant)
    assert all(alt.hardware == "sata" and alt.changes for alt in found.values())
    assert "first_layer=once" in {alt.name for alt in alternatives("spikesim")}
    assert alternatives("my_chip.toml") == []


def _units():
    ledgers = style_examples()
    units = []
    for index, (_style, ledger) in enumerate(ledgers.items()):
        unit = Unit(EVAL, "toy", "ann", 4, 4, "default", index)
        units.append((unit, {"ledger": ledger.to_dict(), "accuracy": 0.9, "correct": 9, "test_samples": 10}))
    return units


def test_priced_tables_write_sensitivity_warnings_and_integer_shapes():
    stage = PricingStage(["flops45nm", "sata"])
    alts = stage.alternatives
    priced = stage.assemble([stage.unit_rows(_units(), stage.read(_units()))])
    results, sensitivity, warnings, layers = (priced[name] for name in ("results", "sensitivity", "warnings", "layers"))
    assert len(results) == len(_units()) * 2 and "warnings" not in results.columns
    assert len(sensitivity) == len(_units()) * len(alts)
    assert set(sensitivity["hardware"]) == {"flops45nm", "sata"}
    sata = sensitivity[sensitivity["hardware"] == "sata"]
    assert set(sata["alternative"]) == {a.name for a in alternatives("sata")}
    # an alternative's row is the same ledger priced by that model
    row = sata[(sata["alternative"] == "psum_bits=32") & (sata["seed"] == 2)].iloc[0]
    ledger = list(style_examples().values())[2]
    assert row["energy_pj"] == pytest.approx(get_model("sata", psum_bits=32.0).price(ledger).total_pj)
    # warnings: one row per warning, never joined
    assert list(warnings.columns) == ["arch", "method", "T", "levels", "variant", "seed", "hardware", "warning"]
    assert len(warnings) and not warnings["warning"].str.contains(" | ", regex=False).any()
    # the conventions each pricing applied, and what the neuron layers' logic cost
    assert any(c.startswith("convention_") for c in results.columns)
    assert {"neuron_logic_pj", "ops_mac_nonzero"} <= set(results.columns)
    # shapes travel as integers
    assert "in_shape" not in layers.columns and "kernel_size" not in layers.columns
    for column in ("in_height", "in_width", "out_height", "out_width", "kernel_height", "kernel_width"):
        assert layers[column].dropna().map(lambda v: float(v).is_integer()).all()


def test_layer_rows_write_a_vector_as_one_by_one():
    ledger = next(iter(style_examples().values()))
    rows = layer_rows({"arch": "toy"}, ledger)
    linear = [r for r in rows if r["kind"] == "linear"]
    assert linear and all(r["in_height"] == 1 and r["in_width"] == 1 for r in linear)
    conv = next(r for r in rows if r["kind"] == "conv")
    layer = next(layer for layer in ledger.layers if layer.kind == "conv")
    assert (conv["in_height"], conv["in_width"]) == tuple(layer.in_shape[-2:])


def test_hardware_table_is_each_models_provenance():
    models = {name: get_model(name) for name in primary_models()}
    table = hardware_table(models, list(models), alternatives("sata"))
    assert set(table[table["headline"]]["name"]) == set(primary_models())
    assert table[table["headline"]]["primary"].all()
    variant = table[table["name"] == "sata_time_inner"].iloc[0]
    assert not variant["headline"] and variant["family"] == "sata" and "time-inner" in variant["changes"]
    flops = table[table["name"] == "flops45nm"].iloc[0]
    assert "Horowitz" in flops["paper"] and isinstance(json.loads(flops["assumptions"]), list)
    assert {"mul", "mod"} <= set(json.loads(flops["zero_by_construction"]))
    assert json.loads(table[table["name"] == "sata"].iloc[0]["options"])["psum_bits"] == 8.0
    # the gain a paper reports on a model's hardware is data of its table, written for the family's
    # primary (the report compares the measured gain under it): the three of arXiv 2309.03388 Table II
    gains = dict(zip(table["name"], table["published_gain"], strict=True))
    assert {name for name, gain in gains.items() if gain} == {"flops45nm", "sata", "spikesim"}
    assert gains["spikesim"].startswith("4–25× (arXiv 2309.03388 Table II") and gains["sata_time_inner"] == ""
