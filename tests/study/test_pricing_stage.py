"""The pricing stage after counting (#33): every model built once per identity (its name and every
option), every (ledger, model) priced once, a model with other options never standing in for another,
and a user's hardware asked for is the hardware priced."""

from __future__ import annotations

from collections import Counter

import pytest

from analysis.study import StudyConfig
from analysis.study.hardware import ModelBook, alternatives
from analysis.study.pricing import PricingStage
from analysis.study.units import EVAL, Unit
from energy_models import get_model
from energy_models.base import TableModel
from energy_models.examples import vgg_like_ledger


@pytest.fixture
def constructions(monkeypatch):
    """Every hardware model constructed from now on, by class name."""
    built: Counter = Counter()
    original = TableModel.__init__

    def counted(self, *args, **kwargs):
        built[type(self).__name__] += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(TableModel, "__init__", counted)
    return built


@pytest.fixture
def prices(monkeypatch):
    """Every price made from now on, as (id of ledger, id of model) -> count."""
    made: Counter = Counter()
    original = TableModel.price

    def counted(self, ledger, *args, **kwargs):
        made[(id(ledger), id(self))] += 1
        return original(self, ledger, *args, **kwargs)

    monkeypatch.setattr(TableModel, "price", counted)
    return made


def test_the_alternatives_of_a_model_build_each_distinct_model_once(constructions):
    book = ModelBook()
    found = alternatives("sata", book)
    # the headline model and one model per alternative; sata_gated and sata_time_inner are not built
    # again as the conventions "zero_skipping=on" and "if_dataflow=time_inner" they equal
    assert constructions["Sata"] == len(found) + 1 == len(book)
    assert len({alt.model.options.__repr__() for alt in found}) == len(found)
    assert {"sata_gated", "sata_time_inner"} <= {alt.name for alt in found}


def test_a_model_with_other_options_is_another_model():
    book = ModelBook()
    plain, gated = book.model("sata"), book.model("sata", zero_skipping=True)
    assert plain is book.model("sata") and gated is book.model("sata", zero_skipping=True) and plain is not gated
    assert book.model("sata", spike_event_pj=0.0) is not book.model("sata", spike_event_pj=1.0)
    # a remembered price is the price of the model asked for, never the other options' price
    stage = PricingStage(["sata"], book=book)
    ledger = stage.hold(vgg_like_ledger("multi_step_snn", steps=4, spike_rate=0.1, act_zero_fraction=0.5))
    first = stage.price(ledger, plain).total_pj
    assert stage.price(ledger, gated).total_pj == pytest.approx(gated.price(ledger).total_pj)
    assert stage.price(ledger, gated).total_pj != first
    assert stage.price(ledger, plain).total_pj == first


def _counted_units() -> list[tuple[Unit, dict]]:
    """A study's counted units in closed form: the ANN, QCFS at L = 4 and 5, IF(T=5), OneSpike(G=4)."""
    ledgers = {("ann", 1, 4): vgg_like_ledger("dense"), ("qcfs", 1, 4): vgg_like_ledger("quantized", act_bits=3),
               ("qcfs", 1, 5): vgg_like_ledger("quantized", act_bits=3),
               ("if", 5, 4): vgg_like_ledger("multi_step_snn", steps=5, spike_rate=0.05),
               ("onespike", 4, 4): vgg_like_ledger("grouped_snn", steps=4, spike_rate=0.05)}
    return [(Unit(EVAL, "mlp", method, steps, levels, "default", 0),
             {"ledger": ledger.to_dict(), "accuracy": 0.9, "correct": 9, "test_samples": 10})
            for (method, steps, levels), ledger in ledgers.items()]


def _config(**overrides) -> StudyConfig:
    return StudyConfig.quick(**{"archs": ["mlp"], "methods": ["ann", "qcfs", "if", "onespike"], "timesteps": [4],
                                "levels": 4, "breakeven_timesteps": 5, "sparsity_sweep": [0.0, 0.5, 1.0],
                                "spike_event_sweep": [0.0, 1.0, 2.0], "hardware": ["sata", "loihi"],
                                **overrides})


def test_every_model_is_built_once_and_every_ledger_priced_once_per_model(constructions, prices):
    stage = PricingStage(_config().hardware)
    units = _counted_units()
    tables = stage.tables(units, _config())
    # break-even, the sweep and the alternatives were all priced ...
    assert len(tables["breakeven"]) == 2 * 2 and not tables["sweep"].empty
    assert len(tables["sensitivity"]) == len(units) * len(stage.alternatives)
    # ... each model constructed once (the solver's and the sweep's per-spike models included) ...
    assert sum(constructions.values()) == len(stage.book)
    assert constructions["Sata"] == 1 + len(alternatives("sata")) + 3  # + spike_event_pj = 0, 1, 2
    # ... and each counted ledger priced at most once by each model (a rescaled one is another ledger)
    held = {id(ledger) for ledger in stage.held}
    repeated = {key: n for key, n in prices.items() if key[0] in held and n > 1}
    assert not repeated, f"{len(repeated)} (ledger, model) pairs priced more than once"
    assert len([key for key in prices if key[0] in held]) >= len(units) * (2 + len(stage.alternatives))


def test_the_tables_price_under_the_hardware_asked_for_not_an_earlier_one():
    units = _counted_units()
    loihi = PricingStage(["loihi"]).tables(units, _config(hardware=["loihi"]))
    sata = PricingStage(["sata"]).tables(units, _config(hardware=["sata"]))
    assert set(loihi["breakeven"]["hardware"]) == {"loihi"} and set(sata["sweep"]["hardware"]) == {"sata"}
    priced = sata["sweep"][(sata["sweep"]["method"] == "if") & (sata["sweep"]["spike_event_pj"] == 2.0)]
    qnn_pj = priced[priced["input_sparsity"] == 0.0]["qnn_energy_pj"].iloc[0]
    assert qnn_pj == pytest.approx(get_model("sata", spike_event_pj=2.0).price(
        vgg_like_ledger("quantized", act_bits=3)).total_pj)


def test_shared_conventions_price_exactly_as_each_model_alone():
    """The stage applies a ledger's conventions once per set of convention options and shares them
    between models: every price and warning is the one the model makes alone."""
    stage = PricingStage(["sata", "flops45nm", "weight_stationary"])
    ledgers = [vgg_like_ledger("multi_step_snn", steps=4, spike_rate=0.1), vgg_like_ledger("quantized", act_bits=3)]
    for ledger in ledgers:
        held = stage.hold(ledger)
        for model in [*stage.models.values(), *(alt.model for alt in stage.alternatives)]:
            shared, alone = stage.price(held, model), model.price(ledger)
            assert shared.total_pj == alone.total_pj and shared.warnings == alone.warnings
            assert shared.conventions == alone.conventions
        rescaled = stage.rescaled(held, 0.5)
        assert stage.rescaled(held, 0.5) is rescaled
        for model in stage.models.values():
            assert stage.price(rescaled, model).total_pj == model.price(rescaled).total_pj
