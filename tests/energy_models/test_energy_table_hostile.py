"""Hostile and careless hardware tables: typo'd keys, absurd numbers, wrong encodings, huge files.

Each hostile file is written inside the test; each refusal is one line naming the file and the key.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest

from energy_models import EnergyTableError, EventLedger, LayerEvents, get_model, read_table
from energy_models import table as table_module
from energy_models.base import TableModel
from energy_models.examples import vgg_like_ledger
from energy_models.flops45nm import Flops45nm
from energy_models.lemaire import Lemaire
from energy_models.loihi import Loihi
from energy_models.placement import referenced_constants
from energy_models.sata import Sata
from energy_models.spikesim import SpikeSim
from energy_models.table import MAX_ENERGY_PJ, MAX_TABLE_BYTES, TABLES_DIR, builtin_table
from energy_models.weight_stationary import WeightStationary

USER_TABLE = """
[model]
name = "chip"

[events.ac]
value = 1.0
unit = "pJ"
component = "compute"
source = "test"

[events.weight_reads]
value = 0.5
unit = "pJ"
{per_key} = "bit"
component = "weight_memory"
source = "test"
"""


def write(tmp_path: Path, text: str, name: str = "chip.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path, pattern: str, *, model: bool = False) -> str:
    """The one-line message of the EnergyTableError raised reading ``path`` (or building its model)."""
    with pytest.raises(EnergyTableError, match=pattern) as info:
        get_model(str(path)) if model else read_table(path)
    text = str(info.value)
    assert "\n" not in text and str(path.name) in text
    return text


def sata_based(extra: str = "", rename: tuple[str, str] | None = None) -> str:
    """The packaged SATA table run through [model] base = "sata", with edits."""
    text = (TABLES_DIR / "sata.toml").read_text(encoding="utf-8")
    text = text.replace("[model]\n", '[model]\nbase = "sata"\n', 1)
    if rename:
        text = text.replace(f"\n{rename[0]} =", f"\n{rename[1]} =", 1)
    return text + extra


# -- unknown keys ----------------------------------------------------------------------------------
def test_typo_in_per_was_a_silent_5_7x_drop_and_is_now_refused(tmp_path):
    ledger = EventLedger("if", layers=[LayerEvents("l", "linear", ac=100.0, weight_reads=100.0, weight_bits=8)])
    good = get_model(str(write(tmp_path, USER_TABLE.format(per_key="per"), "good.toml"))).price(ledger).total_pj
    assert good == pytest.approx(100 * 1.0 + 100 * 0.5 * 8)  # 500 pJ; with the typo it was 150 pJ
    text = refused(write(tmp_path, USER_TABLE.format(per_key="pre")),
                   r"chip\.toml: unknown key 'events\.weight_reads\.pre'; did you mean 'per'\? accepted fields: ")
    assert "component" in text


def test_typo_in_a_constant_field_is_refused(tmp_path):
    path = write(tmp_path, sata_based().replace("width_bits = 32", "widht_bits = 32", 1))
    refused(path, r"unknown key 'constants\.glb_weight_read\.widht_bits'; did you mean 'width_bits'\?")


def test_typo_in_model_section_is_refused(tmp_path):
    path = write(tmp_path, sata_based().replace('base = "sata"', 'bsae = "sata"'))
    refused(path, r"chip\.toml: unknown key 'model\.bsae'; did you mean 'base'\? \[model\] keys: name, title")


@pytest.mark.parametrize(("text", "pattern"), [
    ('[constant]\nx = { value = 1, unit = "pJ", source = "s" }\n',
     r"unknown key 'constant'; did you mean 'constants'\? a table has the sections: model, constants, events"),
    ('name = "chip"\n[events.ac]\nvalue = 1\nunit = "pJ"\ncomponent = "compute"\nsource = "s"\n',
     r"key 'name' is at the top level; it belongs under \[model\]"),
    ('[events.acc]\nvalue = 1\nunit = "pJ"\ncomponent = "compute"\nsource = "s"\n',
     r"unknown key 'events\.acc'; did you mean 'ac'\? unknown event; known events: mac, ac"),
    ('[model]\nbase = ["sata"]\n[constants]\nx = { value = 1, unit = "pJ", source = "s" }\n',
     r"key 'model\.base': expected a string, got \['sata'\]"),
    ('[model]\nassumptions = "one"\n[constants]\nx = { value = 1, unit = "pJ", source = "s" }\n',
     r"key 'model\.assumptions': expected a list of strings"),
])
def test_unknown_sections_events_and_model_values(tmp_path, text, pattern):
    refused(write(tmp_path, text), pattern)


def test_misspelt_constant_name_is_refused_by_the_model(tmp_path):
    # Read only by variant="hw_kernels": with the default variant the typo used to go unnoticed.
    path = write(tmp_path, sata_based(rename=("glb_weight_read", "glb_weigth_read")))
    read_table(path)  # the table alone cannot know the names...
    text = refused(path, r"chip\.toml: unknown key 'constants\.glb_weigth_read'; did you mean 'glb_weight_read'\? "
                         r"sata reads only: clock, unit_bits", model=True)  # ...the model can
    assert "dram_read_128b" in text  # OPTIONAL names are listed too


def test_misspelt_required_constant_gets_a_did_you_mean(tmp_path):
    path = write(tmp_path, sata_based(rename=("mul_16b", "mul_16")))
    refused(path, r"chip\.toml: unknown key 'constants\.mul_16'; did you mean 'mul_16b'\?", model=True)


def test_unread_constants_in_a_user_table_are_refused(tmp_path):
    text = USER_TABLE.format(per_key="per") + '[constants]\nclok = { value = 400, unit = "MHz", source = "s" }\n'
    refused(write(tmp_path, text), r"unknown key 'constants\.clok'; did you mean 'clock'\? user reads only: clock",
            model=True)


def test_events_in_a_table_based_on_a_builtin_model_are_refused(tmp_path):
    extra = '\n[events.ac]\nvalue = 1.0\nunit = "pJ"\ncomponent = "compute"\nsource = "s"\n'
    refused(write(tmp_path, sata_based(extra)),
            r"key 'events\.ac': sata does not read \[events\] entries .*remove \[events\] or the base key", model=True)


def test_model_class_without_optional_gets_a_warning_not_an_error(tmp_path):
    class Undeclared(TableModel):
        NAME = "undeclared"
        TABLE = "loihi"
        REQUIRED = ("synop",)

        def price_layer(self, ledger, index, layer, cost, warnings):
            cost.add("compute", layer.ac * self.table.pj("synop"))
            return {"ac"}

    class Declared(Undeclared):
        OPTIONAL: ClassVar[tuple[str, ...]] = ("neuron_active",)

    with pytest.warns(UserWarning, match=r"loihi\.toml: unknown key 'constants\.\w+' \(and 7 more: .*not refused: "
                                         r"undeclared does not declare the OPTIONAL names"):
        Undeclared()
    with pytest.raises(EnergyTableError, match=r"loihi\.toml: unknown key 'constants\.\w+' \(and 6 more"):
        Declared()


# -- what each built-in model reads is exactly REQUIRED + OPTIONAL -----------------------------------
class _Recording(dict):
    def __init__(self, data, seen):
        super().__init__(data)
        self.seen = seen

    def __getitem__(self, key):
        self.seen.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.seen.add(key)
        return super().get(key, default)

    def __contains__(self, key):
        self.seen.add(key)
        return super().__contains__(key)


OPTION_GRID = {
    Flops45nm: {"precision": ["fp32", "fp16", "int32", "int8"], "memory": [False, True], "neuron_ops": [False, True]},
    Sata: {"gated": [False, True], "variant": ["tcad", "hw_kernels"]},
    SpikeSim: {"mode": ["dense", "event"], "device": ["rram", "sram"], "bit_serial_analog": [True, False]},
    WeightStationary: {},
    Loihi: {},
    Lemaire: {},
}


@pytest.mark.parametrize("cls", list(OPTION_GRID), ids=lambda c: c.NAME)
def test_builtin_models_read_only_required_and_optional_constants(cls):
    ledgers = [vgg_like_ledger("dense", "ann"), vgg_like_ledger("quantized", "qcfs", act_bits=3),
               vgg_like_ledger("multi_step_snn", "if", steps=4, spike_rate=0.15),
               vgg_like_ledger("grouped_snn", "onespike", steps=4),
               EventLedger("bnn", layers=[LayerEvents("b", "linear", in_channels=8, out_channels=2, neurons=2,
                                                      synapses=16, xnor=16.0, popcount=16.0, weight_bits=1)])]
    seen: set[str] = set()
    base = builtin_table(cls.TABLE)
    table = replace(base, constants=_Recording(base.constants, seen))
    grid = OPTION_GRID[cls]
    for combo in itertools.product(*grid.values()):
        model = cls(table=table, **dict(zip(grid, combo, strict=True)))
        for ledger in ledgers:
            model.price(ledger)
    declared = set(cls.REQUIRED) | set(cls.OPTIONAL) | set(referenced_constants(base))  # the [memory] levels' own
    assert seen <= declared, f"{cls.NAME} reads {sorted(seen - declared)} without declaring them"
    assert set(cls.OPTIONAL) <= seen, f"{cls.NAME} declares {sorted(set(cls.OPTIONAL) - seen)} but never reads them"


# -- numbers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "pattern"), [
    ("nan", r"key 'constants\.x': value nan is not finite"),
    ("inf", r"key 'constants\.x': value inf is not finite"),
    ("[0.5, -inf]", r"key 'constants\.x': value \[0\.5, -inf\] is not finite"),
    ("[0.5, -0.1]", r"key 'constants\.x': negative energy \[0\.5, -0\.1\]"),
    ("2e9", r"key 'constants\.x': 2e\+09 pJ = 2e\+09 pJ per event is over the bound of 1e\+09 pJ \(1 mJ\)"),
])
def test_non_finite_negative_and_absurd_energies(tmp_path, value, pattern):
    refused(write(tmp_path, f'[constants]\nx = {{ value = {value}, unit = "pJ", source = "s" }}\n'), pattern)


@pytest.mark.parametrize(("entry", "pattern"), [
    ('x = { value = 2000, unit = "uJ", source = "s" }', r"2000 uJ = 2e\+09 pJ per event is over the bound"),
    ('clock = { value = 0, unit = "MHz", source = "s" }', r"'constants\.clock': clock 0 MHz; expected a frequency > 0"),
    ('clock = { value = 1, unit = "THz", source = "s" }', r"'constants\.clock': unknown unit 'THz'"),
    ('clock = { value = 1000, unit = "GHz", source = "s" }', r"clock 1000 GHz; .*at most 100000 MHz"),
    ('clock = { value = 4, unit = "bit", source = "s" }', r"'constants\.clock': unit 'bit'; expected a frequency"),
    ('w = { value = 1e6, unit = "bit", source = "s" }', r"'constants\.w': 1e\+06 bits is over the bound of 65536"),
    ('n = { value = 1e300, unit = "1", source = "s" }', r"'constants\.n': 1e\+300 \(1\) is over the bound of 1e\+15"),
    ('m = { value = 1, unit = "pJ", width_bits = 0, source = "s" }', r"'constants\.m': width_bits = 0; expected a "
                                                                      r"number > 0"),
    ('m = { value = 1, unit = "pJ", capacity_bytes = -1, source = "s" }', r"capacity_bytes = -1; expected a number"),
    ('m = { value = 1, unit = "pJ", note = 3, source = "s" }', r"'constants\.m': note = 3; expected a string"),
])
def test_absurd_plain_values_clocks_and_fields(tmp_path, entry, pattern):
    refused(write(tmp_path, f"[constants]\n{entry}\n"), pattern)


def test_power_over_the_bound_once_the_clock_is_known(tmp_path):
    text = ('[constants]\nclock = { value = 1, unit = "MHz", source = "s" }\n'
            '[events.ac]\nvalue = 1e7\nunit = "mW"\ncomponent = "compute"\nsource = "s"\n')
    refused(write(tmp_path, text), r"key 'events\.ac': 1e\+07 mW at 1 MHz is 1e\+10 pJ per cycle, over the bound")
    assert MAX_ENERGY_PJ == 1e9


def test_sweeps_are_held_to_the_same_bounds():
    table = builtin_table("sata")
    assert table.with_value("mul_16b", 0.5).pj("mul_16b") == 0.5
    for bad, pattern in ((math.nan, "must be a finite number"), (-1.0, "negative energy"),
                         (1e10, "over the bound"), ("0.3", "must be a finite number")):
        with pytest.raises(EnergyTableError, match=rf"sata\.toml: key 'constants\.mul_16b'.*{pattern}"):
            table.with_value("mul_16b", bad)
    over = r"sata\.toml: key 'constants\.\w+': .* mW at 1e-09 MHz is .* over the bound"
    with pytest.raises(EnergyTableError, match=over):
        table.with_value("clock", 1e-9)


# -- files -----------------------------------------------------------------------------------------
def test_non_utf8_table_is_refused_naming_file_and_offset(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[constants]\nx = { value = 1, unit = "pJ", source = "Müller 2020" }\n'.encode("latin-1"))
    refused(path, r"latin1\.toml: not UTF-8 text: byte 0xfc at offset 53 cannot be decoded; save the table as UTF-8")
    utf16 = tmp_path / "utf16.toml"
    utf16.write_text('[constants]\nx = { value = 1, unit = "pJ", source = "s" }\n', encoding="utf-16")
    refused(utf16, r"utf16\.toml: not UTF-8 text \(it looks like UTF-16\)")


def test_utf8_with_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_text('[constants]\nx = { value = 1, unit = "pJ", source = "Müller" }\n', encoding="utf-8-sig")
    assert read_table(path).constants["x"].source == "Müller"


def test_oversized_table_is_refused_before_parsing(tmp_path, monkeypatch):
    def parse(*args, **kwargs):
        raise AssertionError("the oversized table was parsed")

    monkeypatch.setattr(table_module.tomllib, "loads", parse)
    path = tmp_path / "huge.toml"
    with open(path, "w", encoding="utf-8") as handle:  # 10 MB: 40 s to parse before the limit
        handle.write("[constants]\n")
        row = 'k{i} = {{ value = 1, unit = "pJ", source = "s" }}\n'
        handle.writelines(row.format(i=i) for i in range(250_000))
    assert path.stat().st_size > 10 * MAX_TABLE_BYTES
    refused(path, rf"huge\.toml: [\d,]+ bytes is over the limit of {MAX_TABLE_BYTES:,} bytes for an energy table")
    edge = tmp_path / "edge.toml"
    edge.write_bytes(b"#" * (MAX_TABLE_BYTES + 1))
    refused(edge, r"edge\.toml: 1,048,577 bytes is over the limit")


def test_deeply_nested_toml_is_one_line(tmp_path):
    path = write(tmp_path, "x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refused(path, r"chip\.toml: TOML values nested too deeply to read")
