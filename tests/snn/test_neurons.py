"""Neurons: equations, the seed's worked example, and PSG's closed form against an IF neuron."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.snn.neurons import (
    QCFS,
    BinaryActivation,
    BinaryConv2d,
    BinaryLinear,
    ClampQuant,
    IFNeuron,
    PSGNeuron,
    is_power_of_two,
)

WORKED_INPUTS = [0.1, 0.1, 0.5, 1.9, 4.9]


def test_worked_example_if_neuron():
    x = torch.tensor(WORKED_INPUTS, dtype=torch.float64).reshape(5, 1)
    assert IFNeuron(threshold=2.0, timesteps=5)(x).flatten().tolist() == [0, 0, 0, 1, 1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_worked_example_psg_neuron(dtype):
    total = torch.tensor(WORKED_INPUTS, dtype=dtype).sum().reshape(1)
    assert PSGNeuron(threshold=2.0, groups=5)(total).flatten().tolist() == [0, 1, 1, 1, 0]


def test_if_neuron_reset_by_subtraction_and_membrane_start():
    x = torch.full((4, 1), 0.75)
    # v0 = 0.5: 1.25 fire -> 0.25, 1.0 fire -> 0, 0.75, 1.5 fire
    assert IFNeuron(1.0, 4, v_init=0.5)(x).flatten().tolist() == [1, 1, 0, 1]
    assert IFNeuron(1.0, 4, v_init=0.0)(x).flatten().tolist() == [0, 1, 1, 1]


def test_if_neuron_rejects_wrong_timestep_axis():
    with pytest.raises(ValueError, match=r"\[T=4, B"):
        IFNeuron(1.0, 4)(torch.zeros(3, 2))


def reference_if_constant(x: torch.Tensor, theta: float, groups: int, v_init: float) -> torch.Tensor:
    """The definition PSG must meet: an IF neuron fed the average current for G steps."""
    return IFNeuron(theta, groups, v_init)(x.unsqueeze(0).expand(groups, *x.shape).clone())


# Dyadic rationals keep every float operation exact, so the comparison tests the maths, not rounding.
dyadic = st.integers(-4096, 8192).map(lambda k: k / 256.0)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(dyadic, min_size=1, max_size=16),
    theta_exp=st.integers(-2, 3),
    groups=st.sampled_from([1, 2, 3, 4, 5, 8, 16]),
    v_init=st.sampled_from([0.0, 0.5]),
)
def test_psg_exact_equals_if_fed_average_current(values, theta_exp, groups, v_init):
    theta = 2.0**theta_exp
    average = torch.tensor(values, dtype=torch.float64)
    total = average * groups
    psg = PSGNeuron(theta, groups, v_init=v_init)(total)
    assert torch.equal(psg, reference_if_constant(average, theta, groups, v_init))
    count = torch.clamp(torch.floor(total / theta + v_init), 0, groups)
    assert torch.equal(psg.sum(0), count)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(dyadic, min_size=1, max_size=16),
    theta_exp=st.integers(-2, 3),
    groups_exp=st.integers(0, 5),
    v_init=st.sampled_from([0.0, 0.5]),
)
def test_psg_hardware_equals_exact_on_the_fixed_point_grid(values, theta_exp, groups_exp, v_init):
    groups = 2**groups_exp
    total = torch.tensor(values, dtype=torch.float64) * groups
    exact = PSGNeuron(2.0**theta_exp, groups, mode="exact", v_init=v_init)(total)
    hardware = PSGNeuron(2.0**theta_exp, groups, mode="hardware", v_init=v_init)(total)
    assert torch.equal(exact, hardware)


def test_psg_float_inputs_match_qcfs_levels():
    total = torch.randn(10_000, dtype=torch.float64) * 3
    for v_init in (0.0, 0.5):
        spikes = PSGNeuron(1.5, 8, v_init=v_init)(total)
        assert torch.equal(spikes.sum(0), torch.clamp(torch.floor(total / 1.5 + v_init), 0, 8))


def test_psg_saturation_and_silence():
    psg = PSGNeuron(1.0, 4)
    assert psg(torch.tensor([1e6]))[:, 0].tolist() == [1, 1, 1, 1]
    assert psg(torch.tensor([-5.0]))[:, 0].tolist() == [0, 0, 0, 0]
    # exactly on the threshold: the average 1.0 fires in every group
    assert psg(torch.tensor([4.0]))[:, 0].tolist() == [1, 1, 1, 1]


def test_psg_per_group_thresholds_follow_if_recursion():
    thetas = [2.0, 1.0, 0.5, 0.5]
    psg = PSGNeuron(thetas, 4)
    x = torch.tensor([0.6, 1.2, 2.5])
    out = psg(x * 4)
    for j, xj in enumerate(x.tolist()):
        v, spikes = 0.0, []
        for th in thetas:
            v += xj
            s = 1.0 if v >= th else 0.0
            v -= s * th
            spikes.append(s)
        assert out[:, j].tolist() == spikes


def test_psg_shared_threshold_has_no_group_loop():
    """The closed form computes all groups at once: no Python loop in either mode's hot path."""
    import ast
    import inspect
    import textwrap

    for fn in (PSGNeuron._forward_exact, PSGNeuron._forward_hardware):
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.For | ast.While)], fn.__name__


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 3.0, "groups": 4, "mode": "hardware"}, "power-of-two thresholds"),
        ({"threshold": 2.0, "groups": 6, "mode": "hardware"}, "power-of-two number of groups"),
        ({"threshold": 1.0, "groups": 0}, "groups must be a positive integer"),
        ({"threshold": 1.0, "groups": 2.5}, "groups must be a positive integer"),
        ({"threshold": -1.0, "groups": 4}, "threshold must be > 0"),
        ({"threshold": float("nan"), "groups": 4}, "threshold must be finite"),
        ({"threshold": 1.0, "groups": 4, "mode": "fast"}, "mode must be"),
        ({"threshold": 1.0, "groups": 4, "v_init": 1.5}, r"v_init .* \[0, 1\)"),
    ],
)
def test_psg_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PSGNeuron(**kwargs)


def test_neurons_refuse_nan_input():
    with pytest.raises(ValueError, match="NaN/Inf"):
        PSGNeuron(1.0, 4)(torch.tensor([float("nan")]))
    with pytest.raises(ValueError, match="NaN/Inf"):
        IFNeuron(1.0, 2)(torch.tensor([[float("inf")], [0.0]]))


def test_qcfs_and_clampquant_equations():
    x = torch.linspace(-1, 3, 401, dtype=torch.float64)
    q = QCFS(levels=4, threshold=2.0).double()(x)
    expected = 2.0 / 4 * torch.clamp(torch.floor(x * 4 / 2.0 + 0.5), 0, 4)
    assert torch.equal(q, expected)
    c = ClampQuant(levels=4, clamp=2.0).double()(x)
    assert torch.equal(c, 2.0 / 4 * torch.clamp(torch.floor(x * 2.0), 0, 4))
    assert c.max() == 2.0 and c.min() == 0


def test_qcfs_threshold_is_trainable_through_floor():
    act = QCFS(4, 1.0)
    x = torch.linspace(-0.5, 1.5, 50, requires_grad=True)
    act(x).sum().backward()
    assert act.threshold.grad is not None and x.grad is not None and x.grad.abs().sum() > 0


def test_binary_activation_and_weights():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.3, 3.0], requires_grad=True)
    y = BinaryActivation()(x)
    assert y.tolist() == [-1, -1, 1, 1, 1]
    y.sum().backward()
    assert x.grad.tolist() == [0, 1, 1, 1, 0]
    conv = BinaryConv2d(2, 3, 3)
    out = conv(torch.ones(1, 2, 5, 5))
    w = conv.weight.detach()
    alpha = w.abs().mean(dim=(1, 2, 3))
    expected = torch.nn.functional.conv2d(torch.ones(1, 2, 5, 5), torch.sign(w) * alpha.reshape(-1, 1, 1, 1), conv.bias)
    assert torch.allclose(out, expected)
    lin = BinaryLinear(4, 2)
    w = lin.weight.detach()
    expected = (torch.sign(w) * w.abs().mean(1, keepdim=True)).T
    assert torch.allclose(lin(torch.eye(4)).detach() - lin.bias.detach(), expected)


@pytest.mark.parametrize(("value", "expected"), [(1, True), (0.25, True), (8.0, True), (3, False), (0, False),
                                                  (-2, False), (math.inf, False)])
def test_is_power_of_two(value, expected):
    assert is_power_of_two(value) is expected


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(dyadic, min_size=1, max_size=16),
    theta_exp=st.integers(-2, 3),
    groups_exp=st.integers(0, 5),
    v_init=st.sampled_from([0.0, 0.5]),
    mode=st.sampled_from(["exact", "hardware"]),
)
def test_spike_count_is_the_sum_of_the_group_spikes(values, theta_exp, groups_exp, v_init, mode):
    """The one-pass layout uses the telescoped count; it must equal the G spike maps summed."""
    groups = 2**groups_exp
    neuron = PSGNeuron(2.0**theta_exp, groups, mode=mode, v_init=v_init)
    total = torch.tensor(values, dtype=torch.float64) * groups
    assert torch.equal(neuron.spike_count(total), neuron(total).sum(0))
