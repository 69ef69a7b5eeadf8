"""The measures are a registry the plan and the study loop over (#33): a method takes part in every
measure its properties make it fit for (step axis, spiking, trained directly, converted from a
quantized network), whatever its name, so a method a user registers takes part too."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from analysis.methods import METHODS, Method, get_method, register_method
from analysis.study import StudyConfig, measures
from analysis.study.breakeven import compared_snns
from analysis.study.measures import (
    EQUIVALENCE,
    MEASURES,
    ONESTEP,
    PER_ARCH,
    PER_RUN,
    PER_STEP,
    Measure,
    MeasureInput,
    taking_part,
)
from analysis.study.plan import EVAL, build_plan


@pytest.fixture
def registered():
    """A user's copies of IF, OneSpike and the directly trained IF SNN, under names of their own."""
    names = {"my_if": Method.IF, "my_psg": Method.ONESPIKE, "my_direct": Method.DIRECT_IF}
    for name, like in names.items():
        register_method(replace(get_method(like), name=name, label=name, short=name, detect=None))
    yield list(names)
    for name in names:
        METHODS.remove(name)


def _taking_part(config: StudyConfig, scope: str) -> dict[str, list[str]]:
    return {measure.name: methods for measure, methods in taking_part(config, scope)}


def test_a_registered_method_takes_part_in_every_measure_that_applies_to_it(registered):
    config = StudyConfig.quick(archs=["mlp"], methods=["ann", "qcfs", "my_if", "my_psg", "my_direct"],
                               timesteps=[1, 2], direct_max_steps=2)
    assert _taking_part(config, PER_STEP) == {EQUIVALENCE: ["my_psg"], ONESTEP: ["my_direct"]}
    assert _taking_part(config, PER_ARCH) == {"layer_fidelity": ["my_if"]}
    assert _taking_part(config, PER_RUN) == {"events": ["my_direct"]}
    plan = build_plan(config)
    kinds = {(unit.kind, unit.method, unit.steps) for unit in plan}
    assert {(EQUIVALENCE, "my_psg", 1), (EQUIVALENCE, "my_psg", 2), (ONESTEP, "my_direct", 2)} <= kinds
    # counted at every T like the built-in SNNs, the group-parallel one with its variants, and compared
    # with their quantized parent at the break-even T
    assert {(EVAL, "my_if", 2), (EVAL, "my_psg", 2), (EVAL, "my_direct", 2)} <= kinds
    assert {unit.variant for unit in plan if unit.method == "my_psg"} > {"default"}
    assert compared_snns(config.methods, 5, config.levels) == {"my_if": 5, "my_psg": config.levels}
    assert any(unit.method == "my_if" and unit.steps == config.breakeven_timesteps for unit in plan)


def test_a_measure_needs_its_partner_and_the_right_properties(registered):
    # OneSpike's equivalence compares it with a time-stepped SNN of the same parent: none, no measure
    alone = StudyConfig.quick(archs=["mlp"], methods=["ann", "qcfs", "my_psg"], timesteps=[1, 2])
    assert EQUIVALENCE not in _taking_part(alone, PER_STEP)
    assert not any(unit.kind == EQUIVALENCE for unit in build_plan(alone))
    # non-spiking methods take part in none of them
    plain = StudyConfig.quick(archs=["mlp"], methods=["ann", "qcfs", "int8"], timesteps=[1, 2])
    assert all(not taking_part(plain, scope) for scope in (PER_STEP, PER_ARCH, PER_RUN))


def test_the_default_study_measures_are_the_built_in_methods():
    config = StudyConfig()
    assert _taking_part(config, PER_STEP) == {EQUIVALENCE: [Method.ONESPIKE],
                                              ONESTEP: [Method.DIRECT_IF, Method.DIRECT_LIF]}
    assert _taking_part(config, PER_ARCH) == {"layer_fidelity": [Method.IF]}


def test_a_measure_is_checked_when_registered():
    with pytest.raises(ValueError, match="scope"):
        Measure("mine", "per galaxy", ("mine",), lambda spec, chosen: True, lambda given: {})
    with pytest.raises(ValueError, match=r"needs rows"):
        Measure("mine", PER_STEP, ("mine",), lambda spec, chosen: True, lambda given: {})
    with pytest.raises(ValueError, match="already registered"):
        MEASURES.add(EQUIVALENCE, MEASURES.get(EQUIVALENCE))


def test_the_equivalence_of_a_registered_pair_compares_that_pair(registered, monkeypatch):
    seen = {}

    def equivalence(quantized, steps, test_set, device, methods):
        seen.update(quantized=quantized, steps=steps, methods=methods)
        return {}

    monkeypatch.setattr(measures, "priced_form", lambda network, bits: (network, {}))
    monkeypatch.setattr(measures, "equivalence_unit", equivalence)
    config = StudyConfig.quick(archs=["mlp"], methods=["ann", "qcfs", "my_if", "my_psg"], timesteps=[1, 2])
    given = MeasureInput(config, "mlp", "my_psg", 2, 0, {"qcfs": "the quantized network"}, SimpleNamespace(test=[]))
    MEASURES.get(EQUIVALENCE).compute(given)
    assert seen == {"quantized": "the quantized network", "steps": 2, "methods": ("my_psg", "my_if")}
