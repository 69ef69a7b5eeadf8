"""Energy tables: every packaged constant has value, unit, source; bad tables name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from energy_models import EnergyTableError, EventLedger, LayerEvents, get_model, load_table, read_table
from energy_models.table import ACCEPTED_UNITS, TABLES_DIR

GOOD = """
[model]
name = "tiny"
base = "flops45nm"

[constants]
{constants}
"""
FLOPS_KEYS = ("fp32_mult", "fp32_add", "fp16_mult", "fp16_add", "int32_mult", "int32_add", "int16_add", "int8_mult",
              "int8_add", "dram")


def write(tmp_path: Path, text: str, name: str = "chip.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def flops_table(skip: str = "", override: str = "") -> str:
    lines = [f'{k} = {{ value = 1.0, unit = "pJ", source = "test" }}' for k in FLOPS_KEYS if k != skip]
    sizes = {"sram_8kb": 8192, "sram_32kb": 32768, "sram_1mb": 1048576}
    lines += [f'{k} = {{ value = 1.0, unit = "pJ", capacity_bytes = {v}, source = "test" }}' for k, v in sizes.items()
              if k != skip]
    lines.append('memory_word_bits = { value = 64, unit = "bit", source = "test" }')
    return GOOD.format(constants="\n".join(lines) + "\n" + override)


def test_every_packaged_table_is_valid_and_sourced():
    tables = sorted(TABLES_DIR.glob("*.toml"))
    assert {p.stem for p in tables} >= {"flops45nm", "sata", "spikesim", "weight_stationary", "loihi", "lemaire",
                                        "example_user_chip"}
    for path in tables:
        table = read_table(path)
        for row in table.rows():
            assert row["unit"] in ACCEPTED_UNITS and row["source"].strip(), (path, row["key"])


def test_table_based_on_builtin_model(tmp_path):
    model = get_model(str(write(tmp_path, flops_table())))
    ledger = EventLedger("ann", layers=[LayerEvents("l", "linear", mac=3.0, ac=2.0)])
    assert model.name == "tiny"
    assert model.price(ledger).total_pj == pytest.approx(3 * 2.0 + 2 * 1.0)


def test_missing_constant_names_file_and_key(tmp_path):
    path = write(tmp_path, flops_table(skip="int8_add"))
    with pytest.raises(EnergyTableError, match=r"chip\.toml.*constants\.int8_add"):
        get_model(str(path))


def test_missing_field_names_file_and_key(tmp_path):
    path = write(tmp_path, flops_table(override='extra = { value = 1.0, source = "x" }'))
    with pytest.raises(EnergyTableError, match=r"chip\.toml: key 'constants\.extra'.*missing 'unit'"):
        read_table(path)


def test_negative_energy_is_an_error(tmp_path):
    path = write(tmp_path, flops_table(override='leak = { value = -0.5, unit = "pJ", source = "x" }'))
    with pytest.raises(EnergyTableError, match=r"chip\.toml: key 'constants\.leak': negative energy"):
        read_table(path)


def test_unknown_unit_lists_the_accepted_ones(tmp_path):
    path = write(tmp_path, flops_table(override='leak = { value = 0.5, unit = "kcal", source = "x" }'))
    expected = r"chip\.toml: key 'constants\.leak': unknown unit 'kcal'; accepted units: fJ, pJ, nJ, uJ, mW"
    with pytest.raises(EnergyTableError, match=expected):
        read_table(path)
    assert issubclass(EnergyTableError, ValueError)


def test_toml_syntax_error_names_the_file(tmp_path):
    path = write(tmp_path, "[constants]\nmac = { value = 1.0, unit = \"pJ\"\n")
    with pytest.raises(EnergyTableError, match=r"chip\.toml: TOML syntax error"):
        read_table(path)


def test_mw_needs_a_clock_and_units_convert(tmp_path):
    no_clock = write(tmp_path, '[events.ac]\nvalue = 1.0\nunit = "mW"\ncomponent = "compute"\nsource = "x"\n')
    with pytest.raises(EnergyTableError, match=r"constants\.clock"):
        read_table(no_clock)
    text = ('[constants]\nclock = { value = 0.5, unit = "GHz", source = "x" }\n'
            '[events.ac]\nvalue = 2.0\nunit = "mW"\ncomponent = "compute"\nsource = "x"\n'
            '[events.mac]\nvalue = 3000\nunit = "fJ"\ncomponent = "compute"\nsource = "x"\n'
            '[events.weight_reads]\nvalue = 0.001\nunit = "nJ"\nper = "bit"\n'
            'component = "weight_memory"\nsource = "x"\n')
    model = load_table(write(tmp_path, text, "power.toml"))
    layer = LayerEvents("l", "linear", ac=10.0, mac=1.0, weight_reads=2.0, weight_bits=8, spikes=1.0)
    report = model.price(EventLedger("if", layers=[layer]))
    # 2 mW at 500 MHz = 4 pJ per cycle; 3000 fJ = 3 pJ; 0.001 nJ/bit x 8 bits = 8 pJ per read
    assert report.by_component()["compute"] == pytest.approx(10 * 4.0 + 3.0)
    assert report.by_component()["weight_memory"] == pytest.approx(2 * 8.0)
    assert any("spikes" in w for w in report.warnings)


def test_bad_event_and_component_names(tmp_path):
    bad_event = write(tmp_path, '[events.flops]\nvalue = 1.0\nunit = "pJ"\ncomponent = "compute"\nsource = "x"\n')
    with pytest.raises(EnergyTableError, match=r"events\.flops.*known events"):
        read_table(bad_event)
    bad_comp = write(tmp_path, '[events.ac]\nvalue = 1.0\nunit = "pJ"\ncomponent = "alu"\nsource = "x"\n', "b.toml")
    with pytest.raises(EnergyTableError, match=r"events\.ac': component must be one of 'compute', .*, got 'alu'"):
        read_table(bad_comp)


def test_example_user_chip_prices_by_hand():
    path = TABLES_DIR / "example_user_chip.toml"
    model = get_model(str(path))
    assert model.name == "example_user_chip" and model.provenance["paper"]
    layers = [LayerEvents("c", "conv", ac=100.0, weight_reads=100.0, weight_bits=8, input_reads=10.0, act_bits=1),
              LayerEvents("n", "neuron", add=5.0, cmp=5.0, vmem_reads=5.0, vmem_writes=5.0, vmem_bits=16)]
    report = model.price(EventLedger("if", layers=layers))
    per_bit = 10 / 64
    assert report.by_component()["compute"] == pytest.approx(100 * 0.03)
    assert report.by_component()["weight_memory"] == pytest.approx(100 * 8 * per_bit)
    assert report.by_component()["activation_memory"] == pytest.approx(10 * 1 * per_bit)
    assert report.by_component()["neuron"] == pytest.approx(10 * 0.03)
    assert report.by_component()["membrane_memory"] == pytest.approx(10 * 16 * per_bit)


def test_missing_file_and_table_is_cached(tmp_path):
    with pytest.raises(EnergyTableError, match="no such energy table"):
        read_table(tmp_path / "nope.toml")
    assert read_table(TABLES_DIR / "sata.toml") is read_table(TABLES_DIR / "sata.toml")
