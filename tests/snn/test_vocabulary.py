"""The spiking vocabulary analysis/snn owns: one typed word per closed set (the step axis, the spiking
form a conversion makes, the quantizer kind), read once at the public boundary from its strings."""

import dataclasses
import json

import pytest
import torch
from torch import nn

from analysis.counting import count_events
from analysis.methods import StepAxis as RegistryStepAxis
from analysis.snn import (
    ConversionContext,
    QuantizerKind,
    SpikingForm,
    SpikingNetwork,
    StepAxis,
    Stepwise,
    to_if_snn,
    to_onespike,
    to_quantized,
)
from analysis.snn.neurons import ClampQuant


def _quantized() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    return to_quantized(net, 4, calibration_data=torch.rand(16, 6))


def test_the_registry_step_axis_is_the_vocabulary_one():
    assert RegistryStepAxis is StepAxis
    assert [str(a) for a in StepAxis] == ["T", "G"] and json.dumps([StepAxis.TIME, SpikingForm.IF]) == '["T", "if"]'
    assert f"{StepAxis.GROUPS}={4}" == "G=4" and {"if": 1}[SpikingForm.IF] == 1
    assert SpikingForm.IF.axis is StepAxis.TIME and SpikingForm.on("G") is SpikingForm.ONESPIKE
    assert QuantizerKind.QCFS.shift == 0.5 and QuantizerKind.CQ.shift == 0.0


@pytest.mark.parametrize(("given", "axis"), [("time", StepAxis.TIME), ("T", StepAxis.TIME),
                                             (StepAxis.TIME, StepAxis.TIME), ("group", StepAxis.GROUPS),
                                             ("G", StepAxis.GROUPS)])
def test_stepwise_reads_its_public_strings_once_into_the_enum(given, axis):
    assert Stepwise(nn.Identity(), given).axis is axis


@pytest.mark.parametrize("bad", ["timesteps", "groups", "t", "", None, 1])
def test_a_bad_axis_is_refused_naming_the_words(bad):
    with pytest.raises(ValueError, match=r"Stepwise axis must be one of 'T' \(or 'time'\), 'G' \(or 'group'\), got "):
        Stepwise(nn.Identity(), bad)


def test_conversion_carries_the_typed_form_not_a_method_name():
    qann = _quantized()
    snn, psg = to_if_snn(qann, 4), to_onespike(qann, 4)
    assert (snn.form, snn.axis, psg.form, psg.axis) == (SpikingForm.IF, StepAxis.TIME, SpikingForm.ONESPIKE,
                                                         StepAxis.GROUPS)
    # the method name a ledger records is the form's word, a plain string
    assert type(snn.method) is str and (snn.method, psg.method) == ("if", "onespike")
    assert {m.axis for m in snn.modules() if isinstance(m, Stepwise)} == {StepAxis.TIME}
    assert StepAxis.GROUPS in {m.axis for m in psg.modules() if isinstance(m, Stepwise)}
    field_names = {f.name for f in dataclasses.fields(ConversionContext)}
    assert "form" in field_names and "method" not in field_names
    assert ConversionContext(SpikingForm.ONESPIKE, 4).axis is StepAxis.GROUPS
    with count_events(psg) as ledger, torch.no_grad():
        psg(torch.rand(2, 6))
    assert type(ledger.method) is str and ledger.method == "onespike" and ledger.groups == 4


def test_a_spiking_network_takes_the_form_or_its_word_and_refuses_others():
    body = nn.Identity()
    assert SpikingNetwork(body, "onespike", 2).form is SpikingForm.ONESPIKE
    assert SpikingNetwork(body, SpikingForm.IF, 2).timesteps == 2
    with pytest.raises(ValueError, match=r"SpikingNetwork form must be one of 'if', 'onespike', got 'qcfs'"):
        SpikingNetwork(body, "qcfs", 2)
    with pytest.raises(ValueError, match=r"timesteps must be a positive integer"):
        SpikingNetwork(body, "if", 0)
    with pytest.raises(ValueError, match=r"layout for a onespike network must be one of 'auto', 'grouped', 'onepass'"):
        SpikingNetwork(body, "onespike", 2, layout="stream")


def test_the_quantizer_kind_is_a_word_too():
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    quantized = to_quantized(net, 4, QuantizerKind.CQ, calibration_data=torch.rand(16, 6))
    assert any(type(m) is ClampQuant for m in quantized.modules())
    with pytest.raises(ValueError, match=r"kind must be one of 'qcfs', 'cq', got 'relu'"):
        to_quantized(net, 4, "relu")
