"""The ZigZag-backed models: never loaded unless named, a clear error when named but missing, the lean
mapping pipeline, pricing of every kind of ledger with energy by level and cycles, and the cache."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis.study.hardware import alternatives
from energy_models import EventLedger, LayerEvents, get_model, vgg_like_ledger
from energy_models.zigzag import TEMPLATES, MappingCache, clear_memory, latency_cycles, template_names
from energy_models.zigzag import templates as zz_templates
from energy_models.zigzag.crosscheck import WHY, crosscheck_rows

STEPS = 4


def test_importing_the_toolkit_never_imports_zigzag():
    code = ("import sys, energy_models, analysis.study.pricing, analysis.cli; "
            "from energy_models.zigzag import template_names; template_names(); "
            "assert 'zigzag' not in sys.modules, 'zigzag imported'; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout


def test_a_named_model_without_zigzag_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(zz_templates, "zigzag_installed", lambda: False)
    with pytest.raises(ValueError, match=r"needs ZigZag, which is not installed: pip install") as caught:
        get_model("zigzag:eyeriss_like")
    assert "\n" not in str(caught.value)


def test_bad_names_say_what_exists(tmp_path):
    pytest.importorskip("zigzag")
    with pytest.raises(ValueError, match="Did you mean 'zigzag:eyeriss_like'"):
        get_model("zigzag:eyeris_like")
    with pytest.raises(ValueError, match="no accelerator file"):
        get_model(f"zigzag:{tmp_path / 'missing.yaml'}")
    assert template_names()[0] == "zigzag:eyeriss_like" and len(template_names()) == len(TEMPLATES)


def test_the_lean_pipeline_maps_a_small_conv_with_a_bounded_search():
    pytest.importorskip("zigzag")
    mapping = zz_templates.require_zigzag("zigzag:eyeriss_like")
    _, hardware, mapping_file = zz_templates.resolve("zigzag:eyeriss_like")
    shape = mapping.LayerShape(K=16, C=8, OY=16, OX=16, FY=3, FX=3, PY=1, PX=1)
    widths = mapping.Precisions(I=1, W=8, O=16, O_final=1)
    mapping.map_layer(hardware, mapping_file, shape, widths, max_orderings=4)  # parse the template once
    start = time.perf_counter()
    mapped = mapping.map_layer(hardware, mapping_file, shape, widths, max_orderings=24)
    elapsed = time.perf_counter() - start
    assert 0 < mapped.orderings_scored <= 24 < mapped.orderings_total
    assert elapsed < 5.0, f"one small conv took {elapsed:.2f} s"  # 0.1-0.5 s measured; ZigZag's API: 10-24 s
    assert mapped.cycles >= mapped.ideal_cycles >= shape.macs / (14 * 12)
    assert mapped.mac_pj == pytest.approx(0.5 * shape.macs)  # eyeriss_like: 0.5 pJ per MAC
    assert set(mapped.energy_pj) >= {"dram", "rf_64B_W"} and mapped.total_pj > mapped.mac_pj
    again = mapping.map_layer(hardware, mapping_file, shape, widths, max_orderings=24)
    assert again.to_dict() == mapped.to_dict()  # deterministic


@pytest.fixture(scope="module")
def ledgers():
    return {"ann": vgg_like_ledger("dense", method="ann"),
            "int8": vgg_like_ledger("quantized", method="int8", act_bits=8),
            "if": vgg_like_ledger("multi_step_snn", method="if", steps=STEPS),
            "onespike": vgg_like_ledger("grouped_snn", method="onespike", steps=STEPS)}


def test_prices_ann_int8_if_and_onespike_with_levels_and_cycles(ledgers, tmp_path):
    pytest.importorskip("zigzag")
    model = get_model("zigzag:eyeriss_like", cache_dir=tmp_path)
    reports = {name: model.price(ledger) for name, ledger in ledgers.items()}
    for name, report in reports.items():
        levels = report.by_level()
        assert levels["on_chip"] > 0 and levels["dram"] > 0, name
        assert latency_cycles(report) > 0, name
        assert not report.warnings, (name, report.warnings)
        split = report.by_component()
        assert split["compute"] > 0 and split["weight_memory"] > 0 and split["activation_memory"] > 0
    assert reports["if"].by_component()["membrane_memory"] > reports["onespike"].by_component()["membrane_memory"] > 0
    # widths that ran: an FP32 MAC costs (32 x 32) / (8 x 8) = 16 INT8 MACs of the same layer
    ann, int8 = reports["ann"].details()["conv2"], reports["int8"].details()["conv2"]
    assert ann["mac_scale"] == 16 * int8["mac_scale"]
    # IF: T runs of each later layer; OneSpike: one run with batch G
    spiking_if, spiking_os = reports["if"].details()["conv2"], reports["onespike"].details()["conv2"]
    assert (spiking_if["runs"], spiking_if["batch"]) == (STEPS, 1)
    assert (spiking_os["runs"], spiking_os["batch"]) == (1, STEPS)
    assert spiking_if["zigzag_macs"] == spiking_os["zigzag_macs"]  # the same work, as Q2 says
    assert spiking_if["mac_scale"] == 1 / 8  # 1-bit spikes x 8-bit weights
    # no method-name keying: the same ledger under another label prices the same
    relabelled = vgg_like_ledger("multi_step_snn", method="some_snn", steps=STEPS)
    assert model.price(relabelled).total_pj == pytest.approx(reports["if"].total_pj)


def test_zero_gating_scales_the_mac_energy_only(ledgers, tmp_path):
    pytest.importorskip("zigzag")
    dense = get_model("zigzag:eyeriss_like", cache_dir=tmp_path).price(ledgers["if"])
    gated = get_model("zigzag:eyeriss_like", cache_dir=tmp_path, zero_skipping=True).price(ledgers["if"])
    d, g = dense.details()["conv2"], gated.details()["conv2"]
    assert d["active_fraction"] == 1.0 and g["active_fraction"] == pytest.approx(0.1)  # the example's spike rate
    d_layer = next(c for c in dense.layers if c.name == "conv2")
    g_layer = next(c for c in gated.layers if c.name == "conv2")
    assert g_layer.components["compute"] < d_layer.components["compute"]
    assert g_layer.components["weight_memory"] == pytest.approx(d_layer.components["weight_memory"])
    assert g["cycles"] == d["cycles"]


def test_cycles_only_where_a_model_maps_layers(ledgers):
    assert latency_cycles(get_model("weight_stationary").price(ledgers["if"])) is None


def test_the_crosscheck_flags_layers_beyond_twofold_with_the_component_and_why(ledgers, tmp_path):
    pytest.importorskip("zigzag")
    ledger = ledgers["if"]
    ours = get_model("weight_stationary").price(ledger)
    theirs = get_model("zigzag:eyeriss_like", cache_dir=tmp_path).price(ledger)
    rows = crosscheck_rows(ours, theirs)
    expected = [a.name for a, b in zip(ours.layers, theirs.layers, strict=True) if a.total_pj > 0 or b.total_pj > 0]
    assert [r["layer"] for r in rows] == expected and any(r["flagged"] for r in rows)
    for row in rows:
        assert row["ratio"] == pytest.approx(row["zigzag_pj"] / row["reference_pj"])
        assert row["flagged"] == (not 0.5 <= row["ratio"] <= 2.0)
        assert bool(row["reason"]) == row["flagged"]
        if row["flagged"]:
            assert WHY[row["component"]] in row["reason"]
    with pytest.raises(ValueError, match="same ledger"):
        other = EventLedger("x", layers=[LayerEvents("l", "linear")])
        crosscheck_rows(ours, get_model("weight_stationary").price(other))


def test_the_zero_gated_variant_is_the_study_alternative_of_a_zigzag_model():
    pytest.importorskip("zigzag")
    gated, inner = alternatives("zigzag:eyeriss_like")
    assert gated.options == {"zero_skipping": True} and gated.model.options["zero_skipping"] is True
    assert inner.options == {"if_dataflow": "time_inner"}


def test_time_inner_runs_an_if_layer_as_one_batch_of_its_steps(ledgers, tmp_path):
    pytest.importorskip("zigzag")
    outer = get_model("zigzag:eyeriss_like", cache_dir=tmp_path).price(ledgers["if"]).details()["conv2"]
    inner = get_model("zigzag:eyeriss_like", cache_dir=tmp_path, if_dataflow="time_inner").price(ledgers["if"])
    onespike = get_model("zigzag:eyeriss_like", cache_dir=tmp_path).price(ledgers["onespike"]).details()["conv2"]
    inner = inner.details()["conv2"]
    assert (outer["runs"], outer["batch"], inner["runs"], inner["batch"]) == (STEPS, 1, 1, STEPS)
    assert inner["cycles"] == onespike["cycles"] and inner["zigzag_macs"] == outer["zigzag_macs"]


def test_a_user_accelerator_yaml_with_its_mapping_beside_it(tmp_path, ledgers):
    pytest.importorskip("zigzag")
    _, hardware, mapping_file = zz_templates.resolve("zigzag:eyeriss_like")
    chip = tmp_path / "my_chip.yaml"
    chip.write_text(Path(hardware).read_text().replace("unit_energy: 0.5", "unit_energy: 1.0"))
    (tmp_path / "my_chip.mapping.yaml").write_text(Path(mapping_file).read_text())
    mine = get_model(f"zigzag:{chip}", cache_dir=tmp_path)
    theirs = get_model("zigzag:eyeriss_like", cache_dir=tmp_path)
    assert mine.template == "my_chip" and mine.mapping_yaml == str((tmp_path / "my_chip.mapping.yaml").resolve())
    ours, shipped = mine.price(ledgers["int8"]), theirs.price(ledgers["int8"])
    assert ours.by_component()["compute"] == pytest.approx(2 * shipped.by_component()["compute"], rel=0.02)
    with pytest.raises(ValueError, match="max_orderings"):
        get_model("zigzag:eyeriss_like", max_orderings=1)
    with pytest.raises(ValueError, match=r"[Dd]id you mean"):
        get_model("zigzag:eyeriss_like", psum_bit=8)


# -- the tests that empty the process's mappings (clear_memory) come last, so that the ones above reuse what
# test_prices_ann_int8_if_and_onespike_with_levels_and_cycles mapped (16.8 -> 15.3 CPU s for this file)
def test_a_mapping_made_without_the_folder_is_kept_in_it_when_met_again(tmp_path):
    clear_memory()
    MappingCache().get("k", lambda: {"v": 1})  # e.g. the break-even's model, built without the run's cache
    folder = MappingCache(tmp_path)
    assert folder.get("k", lambda: {"v": 2}) == {"v": 1} and folder.hits == 1
    assert (tmp_path / "zigzag" / "k.json").is_file()


def test_the_cache_makes_a_second_pricing_ten_times_faster(ledgers, tmp_path):
    pytest.importorskip("zigzag")
    clear_memory()
    first = get_model("zigzag:eyeriss_like", cache_dir=tmp_path)
    start = time.perf_counter()
    cold = first.price(ledgers["int8"])
    cold_s = time.perf_counter() - start
    assert first.cache.misses == 5 and first.cache.hits == 0  # 4 convs + the classifier, each mapped once
    assert len(list((tmp_path / "zigzag").glob("*.json"))) == 5
    clear_memory()  # a new process: only the run folder's cache remains
    second = get_model("zigzag:eyeriss_like", cache_dir=tmp_path)
    start = time.perf_counter()
    warm = second.price(ledgers["int8"])
    warm_s = time.perf_counter() - start
    assert second.cache.misses == 0 and second.cache.hits == 5
    assert warm.total_pj == cold.total_pj
    assert cold_s >= 10 * warm_s, f"cold {cold_s:.3f} s, from the cache {warm_s:.3f} s"


def test_a_torn_cache_file_is_mapped_again(tmp_path):
    cache = MappingCache(tmp_path)
    (tmp_path / "zigzag").mkdir()
    (tmp_path / "zigzag" / "k.json").write_text("{torn")
    clear_memory()
    assert cache.get("k", lambda: {"v": 1}) == {"v": 1} and cache.misses == 1
    assert MappingCache(tmp_path).get("k", lambda: {"v": 2}) == {"v": 1}
