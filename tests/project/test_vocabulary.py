"""The written-once pieces: the method vocabulary (names, step axis, training kind, roles), the one
Registry type, the one validator module, the one IF step, the variant registry and CountOptions."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

from analysis.counting import CountOptions, count_events
from analysis.methods import (
    METHODS,
    Method,
    MethodSpec,
    Role,
    StepAxis,
    TrainingKind,
    first_with_role,
    get_method,
    methods_on_axis,
    reference_method,
    register_method,
    roles_of,
    spiking_method_names,
    with_role,
)
from analysis.registry import DuplicateNameError, Registry, TypeRegistry
from analysis.snn.neurons import IFNeuron, PSGNeuron, if_step
from analysis.study import StudyConfig
from analysis.study.plan import build_plan
from analysis.study.trained import finetuned_networks
from analysis.study.variants import VARIANTS, Variant, VariantInput, register_variant, variant_network
from analysis.validate import check_choice, check_int, check_optional_positive_int, check_positive_int
from energy_models.examples import vgg_like_ledger
from energy_models.options import choice
from energy_models.placement import place


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



# -- roles: a method takes part in a question by its properties, never its name ----------------------------
#: Methods a user registers with the properties of IF and OneSpike (time-stepped / group-parallel,
#: spiking, converted from qcfs), under names of their own.
USER = {Method.IF: "my_if", Method.ONESPIKE: "my_onespike"}


@pytest.fixture
def user_methods():
    for builtin, name in USER.items():
        register_method(dataclasses.replace(get_method(builtin), name=name, short=f"my{get_method(builtin).short}"))
    yield USER
    for name in USER.values():
        METHODS.remove(name)


def test_roles_are_read_from_the_properties():
    assert roles_of(Method.ANN) == {Role.REFERENCE} and roles_of(Method.QCFS) == {Role.QUANTIZED_PARENT}
    assert roles_of(Method.IF) == {Role.TIME_CONVERSION} and roles_of(Method.ONESPIKE) == {Role.GROUP_CONVERSION}
    assert roles_of(Method.BNN) == {Role.BINARY}
    # clamp-and-quantize is quantized, but no spiking method is converted from it; the directly trained
    # SNNs and their OneSpike forms are not conversions of a quantized network; the INT8 ANN does not spike
    for name in (Method.CQ, Method.INT8, Method.DIRECT_IF, Method.DIRECT_LIF, Method.DIRECT_IF_PSG):
        assert roles_of(name) == frozenset(), name
    assert first_with_role(Role.TIME_CONVERSION, [Method.ANN, Method.QCFS]) is None
    with pytest.raises(ValueError, match=r"role must be one of 'reference', 'quantized parent', "):
        with_role("ifsnn")


def test_a_registered_method_with_the_properties_of_if_plays_its_part(user_methods):
    assert roles_of("my_if") == {Role.TIME_CONVERSION} and roles_of("my_onespike") == {Role.GROUP_CONVERSION}
    assert with_role(Role.TIME_CONVERSION) == [Method.IF, "my_if"]  # registry order: the built-in one first
    chosen = [Method.ANN, Method.QCFS, "my_if", "my_onespike"]
    assert (first_with_role(Role.TIME_CONVERSION, chosen), first_with_role(Role.GROUP_CONVERSION, chosen)) == \
        ("my_if", "my_onespike")
    # a method converted from clamp-and-quantize makes it a quantized parent too
    register_method(dataclasses.replace(get_method(Method.IF), name="cq_if", parent=Method.CQ))
    try:
        assert Role.QUANTIZED_PARENT in roles_of(Method.CQ) and roles_of("cq_if") == {Role.TIME_CONVERSION}
    finally:
        METHODS.remove("cq_if")
    assert roles_of(Method.CQ) == frozenset()


def test_the_plan_gives_a_registered_method_every_unit_the_built_in_one_gets(user_methods):
    """Q1 (the quantized ANN at L = T), Q4/Q10 (IF at every T), Q7 (the break-even pair), the OneSpike
    variants (Q3, Q11), Q13's equal-bits network and the equivalence unit: the plan that used to
    check ``Method.IF in methods`` now asks the roles, so renaming IF and OneSpike renames their units."""
    builtin = StudyConfig.quick(methods=[Method.ANN, Method.QCFS, Method.IF, Method.ONESPIKE, Method.BNN])
    renamed = StudyConfig.quick(methods=[Method.ANN, Method.QCFS, "my_if", "my_onespike", Method.BNN])
    expected = [dataclasses.replace(u, method=USER.get(u.method, u.method)) for u in build_plan(builtin)]
    plan = build_plan(renamed)
    assert plan == expected
    assert {u.steps for u in plan if u.method == "my_if" and u.variant == "default"} >= {1, 2, 4, 8, 3, 5}
    assert {u.variant for u in plan if u.method == "my_onespike"} >= {"hardware", "per_group_binary", "finetuned"}
    assert finetuned_networks(renamed) == [(Method.QCFS, 1)]


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


def test_one_choice_check_for_both_packages():
    assert check_choice("mode", "exact", ("exact", "hardware")) == "exact"
    with pytest.raises(ValueError, match=r"^mode must be one of 'exact', 'hardware', got 'fast' \(see PSGNeuron\)$"):
        check_choice("mode", "fast", ("exact", "hardware"), " (see PSGNeuron)")
    with pytest.raises(ValueError, match=r"flag must be one of 0, 1, got True"):  # a bool is not the integer 1
        check_choice("flag", True, (0, 1))
    # the hardware models' option checker and the energy_models checks say it the same way
    with pytest.raises(ValueError, match=r"^precision must be one of 'native', 'fp32', got 'fp64'$"):
        choice("native", "fp32")("precision", "fp64")
    with pytest.raises(ValueError, match=r"^placement must be one of 'by_size', .*, got 'random'$"):
        place(None, [], "random")
    with pytest.raises(ValueError, match=r"^network style must be one of .*, got 'lenet'$"):
        vgg_like_ledger("lenet")


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
    with pytest.raises(ValueError, match=r"on_nonfinite must be one of 'raise', 'flag', got 'ignore'"):
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
