"""The written-once pieces: the method vocabulary (names, step axis, training kind, roles), the one
Registry type, the one validator module, the one IF step, the variant registry and CountOptions."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from analysis.counting import CountOptions, count_events
from analysis.methods import (
    Method,
    MethodSpec,
    StepAxis,
    TrainingKind,
    get_method,
    methods_on_axis,
    reference_method,
    spiking_method_names,
)
from analysis.registry import DuplicateNameError, Registry, TypeRegistry
from analysis.snn.neurons import IFNeuron, PSGNeuron, if_step
from analysis.study.variants import VARIANTS, Variant, VariantInput, register_variant, variant_network
from analysis.validate import check_int, check_optional_positive_int, check_positive_int


# -- the method vocabulary ---------------------------------------------------------------------------------
def test_step_axis_and_training_kind_are_enums_that_print_as_their_word():
    spec = get_method(Method.IF)
    assert spec.steps is StepAxis.TIME and spec.is_time_stepped and not spec.is_group_parallel
    assert get_method(Method.ONESPIKE).is_group_parallel and not get_method(Method.ANN).stepped
    assert spec.display(4) == "IF(T=4)" and get_method(Method.ONESPIKE).display(2) == "OneSpike(G=2)"
    assert f"{StepAxis.GROUPS}" == str(StepAxis.GROUPS) == "G" and json.dumps(StepAxis.TIME) == '"T"'
    assert {"T": 1}[StepAxis.TIME] == 1 and StepAxis.TIME == "T"
    assert get_method(Method.QCFS).trains_quantized and get_method(Method.BNN).trains_binary
    assert get_method(Method.ANN).training is TrainingKind.FULL_PRECISION and not get_method(Method.IF).trained
    assert (spec.sequential_steps(4), spec.parallel_groups(4)) == (4, 1)


def test_a_method_spec_takes_strings_and_refuses_words_outside_the_vocabulary():
    def same(parent, **_):
        return parent

    spec = MethodSpec("lif", "LIF", "LIF", "#000000", same, parent=Method.QCFS, spiking=True, steps="T")
    assert spec.steps is StepAxis.TIME and spec.training is None
    with pytest.raises(ValueError, match=r"steps must be one of 'T' \(or 'time'\), 'G' \(or 'group'\) or None, got"):
        MethodSpec("x", "x", "x", "#000000", same, steps="X")
    with pytest.raises(ValueError, match=r"training must be one of 'ann', 'quantized', 'binary', 'direct' or None"):
        MethodSpec("x", "x", "x", "#000000", same, training="finetuned")


def test_roles_are_registry_questions():
    assert reference_method() == Method.ANN
    assert get_method(Method.IF).parent == get_method(Method.ONESPIKE).parent == Method.QCFS
    assert methods_on_axis("T") == [Method.IF, Method.DIRECT_IF, Method.DIRECT_LIF]
    assert methods_on_axis(StepAxis.GROUPS) == [Method.ONESPIKE, Method.DIRECT_IF_PSG, Method.DIRECT_LIF_PSG]
    assert spiking_method_names() == [Method.IF, Method.ONESPIKE, Method.DIRECT_IF, Method.DIRECT_LIF,
                                      Method.DIRECT_IF_PSG, Method.DIRECT_LIF_PSG]


# -- the one Registry type -------------------------------------------------------------------------------
def test_registry_refuses_duplicates_and_normalises_names_when_asked():
    sets = Registry("data set", normalize=lambda name: name.lower().replace("-", ""))
    sets.add("CIFAR-10", 1)
    assert sets.get("cifar10") == 1 and sets["Cifar-10"] == 1 and sets.names() == ["CIFAR-10"]
    with pytest.raises(DuplicateNameError, match=r"'cifar10' is already registered \(as 'CIFAR-10'\)"):
        sets.add("cifar10", 2)
    sets.add("cifar10", 2, replace=True)
    assert sets.get("CIFAR-10") == 2 and sets.label("cifar10") == "CIFAR-10"
    with pytest.raises(ValueError, match=r"unknown data set 'cifar-100'\. Did you mean 'CIFAR-10'\?"):
        sets.get("cifar-100")
    with pytest.raises(ValueError, match="non-empty string"):
        sets.add("", 3)
    with pytest.raises(DuplicateNameError):  # nothing is registered when one name is refused
        sets.add_all(["new", "CIFAR-10"], 4)
    assert "new" not in sets


def test_type_registry_answers_for_a_subclass_with_its_nearest_base():
    rules = TypeRegistry("counting rule")
    rules.register(nn.ReLU)("relu")

    class Leaky(nn.ReLU):
        pass

    assert rules.find(Leaky) == "relu" and rules.lookup(Leaky) == (nn.ReLU, "relu")
    assert rules.find(Leaky, {Leaky: "mine"}) == "mine" and rules.find(nn.Conv2d) is None
    assert list(rules) == [nn.ReLU] and rules.names() == ["ReLU"]
    with pytest.raises(DuplicateNameError, match=r"counting rule 'ReLU' is already registered"):
        rules.add(nn.ReLU, "again")
    with pytest.raises(TypeError, match="registered for classes"):
        rules.add("ReLU", "a name is not a class")
    del rules[nn.ReLU]
    assert len(rules) == 0


# -- one validator module, one IF step ---------------------------------------------------------------------
@pytest.mark.parametrize("value", [4, 4.0, np.int64(4), np.float32(4.0)])
def test_an_integer_is_an_int_a_numpy_int_or_an_integral_float(value):
    assert check_positive_int("steps", value) == 4 and type(check_positive_int("steps", value)) is int
    assert check_optional_positive_int("subset", value) == 4 and check_int("seed", value, 0) == 4


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "4", None, float("nan"), float("inf")])
def test_anything_else_is_refused_naming_the_argument(value):
    with pytest.raises(ValueError, match=r"steps must be a positive integer \(1, 2, 4, \.\.\.\), got"):
        check_positive_int("steps", value)


def test_bounded_and_optional_checks():
    assert check_optional_positive_int("subset", None) is None
    with pytest.raises(ValueError, match=r"subset must be a positive integer \(1, 2, 4, \.\.\.\) or None, got 0"):
        check_optional_positive_int("subset", 0)
    with pytest.raises(ValueError, match=r"timesteps must be in \[1, 8\], got 9 \(raise it\)"):
        check_int("timesteps", 9, 1, 8, " (raise it)")
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        check_int("seed", -1, 0)


def test_the_if_neuron_and_the_per_group_psg_scan_run_one_if_step():
    x = torch.tensor([[0.6], [0.6], [0.1], [0.9]])
    v, spikes = torch.zeros(1), []
    for t in range(4):
        s, v = if_step(v, x[t], torch.tensor(1.0))
        spikes.append(float(s))
    assert spikes == [0.0, 1.0, 0.0, 1.0] and torch.allclose(v, torch.tensor([0.2]))
    assert IFNeuron(1.0, 4)(x).flatten().tolist() == spikes
    streamed = IFNeuron(1.0, 4)
    streamed.start_stream()
    assert [float(streamed(x[t : t + 1])) for t in range(4)] == spikes
    # per-group thresholds scan the groups with the same step: a constant current 0.5 per group
    psg = PSGNeuron([1.0, 1.0, 1.0, 1.0], groups=4)
    assert psg(torch.tensor([2.0])).flatten().tolist() == [0.0, 1.0, 0.0, 1.0]


# -- the variant registry ----------------------------------------------------------------------------------
def test_variants_are_registered_builders_and_refuse_the_wrong_method():
    assert VARIANTS.names()[:2] == ["default", "pow2"] and "per_group_binary" in VARIANTS
    ann = nn.Sequential(nn.Linear(4, 3))
    given = VariantInput(Method.ANN, 1, 4, 4, ann, train=None)
    net, facts = variant_network("default", given)
    assert "deploy_form" in facts and net is not ann  # the deploy form is a copy
    with pytest.raises(ValueError, match="variant 'hardware' applies to a method converted from its parent"):
        variant_network("hardware", given)
    with pytest.raises(ValueError, match=r"unknown variant 'pow3'\. Did you mean 'pow2'"):
        variant_network("pow3", given)
    with pytest.raises(DuplicateNameError, match="variant 'pow2' is already registered"):
        register_variant(Variant("pow2", "again", lambda given: (given.base, {})))


# -- the options of a count --------------------------------------------------------------------------------
def test_count_options_are_one_validated_value():
    with pytest.raises(ValueError, match=r"on_nonfinite must be one of \('raise', 'flag'\)"):
        CountOptions(on_nonfinite="ignore")
    with pytest.raises(TypeError, match="rules must map module types"):
        CountOptions(rules={"ReLU": lambda *a: {}})
    options = CountOptions(weight_bits=None).for_method(get_method(Method.IF))
    assert (options.weight_bits, options.vmem_bits) == (None, 16)  # the width is the network's, never a default
    with pytest.raises(ValueError, match="weight_bits must be a positive integer"):
        CountOptions(weight_bits=0).for_method(get_method(Method.IF))
    assert CountOptions(vmem_bits=12).for_method(get_method(Method.ANN)).vmem_bits == 12
    net = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    with count_events(net, weight_bits=4) as ledger, torch.no_grad():
        net(torch.rand(2, 3))
    assert ledger.layer("0").weight_bits == 4 and ledger.method == Method.ANN
