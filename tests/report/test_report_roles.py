"""The report finds what its questions are about by properties, not names: a run whose IF, OneSpike,
QCFS and BNN are methods a user registered with the same properties under other names answers every
question as the built-in run does, and the hardware a published gain is compared under is the one
whose table declares it."""

import dataclasses

import pytest

from analysis.methods import METHODS, Method, get_method, register_method
from analysis.report import all_answers, answers, load_run
from analysis.report.hardware import published_gains
from analysis.run_folder import RunFolder
from tests.report_run import PUBLISHED_GAIN, make_run

#: The built-in methods and the names of the users' methods with their properties (and labels).
RENAMED = {Method.QCFS: "my_qcfs", Method.IF: "my_if", Method.ONESPIKE: "my_onespike", Method.BNN: "my_bnn"}


@pytest.fixture
def user_methods():
    for builtin, name in RENAMED.items():  # registry order: a parent before the methods made from it
        spec = get_method(builtin)
        register_method(dataclasses.replace(spec, name=name, parent=RENAMED.get(spec.parent, spec.parent)))
    yield
    for name in RENAMED.values():
        METHODS.remove(name)


def test_every_answer_is_the_same_when_the_methods_are_registered_under_other_names(tmp_path, user_methods):
    methods = (Method.ANN, Method.QCFS, Method.IF, Method.ONESPIKE, Method.BNN)
    builtin = make_run(tmp_path / "builtin", methods=methods)
    renamed = make_run(tmp_path / "renamed", methods=methods)
    folder = RunFolder(renamed)
    tables = folder.read_tables()
    for table in tables.values():
        if "method" in table.columns:
            table["method"] = table["method"].replace(RENAMED)
    folder.write_tables(tables)
    run = load_run(renamed)
    assert set(run.methods()) == {Method.ANN, *RENAMED.values()}
    assert (run.quantized_parent, run.time_conversion, run.group_conversion, run.binary) == tuple(RENAMED.values())
    expected, got = answers(load_run(builtin)), answers(run)
    assert list(got) == list(expected)
    different = {q: (expected[q], got[q]) for q in expected if got[q] != expected[q]}
    assert not different
    assert not any("not in this run" in line for line in (got["Q2"], got["Q7"], got["Q9"], got["Q12"]))


def test_the_published_gains_are_those_the_models_tables_declare(tmp_path):
    """Q8 compares the measured gain over the ANN with the gain a paper reports under the models whose
    table declares one (hardware.csv's ``published_gain``), never with a list of model names."""
    run = load_run(make_run(tmp_path / "run"))
    details = all_answers(run)["Q8"].details
    assert "Energy gain over the float ANN under flops45nm / sata: " in details
    assert "published (flops45nm: 10–83× (a paper, FLOP estimate); sata: 2.3–6.8× (a paper, SATA))" in details
    assert published_gains(run) == {"flops45nm": PUBLISHED_GAIN["flops45nm"], "sata": PUBLISHED_GAIN["sata"]}
