"""The modules a NIR graph becomes (:mod:`analysis.snn.nir_nodes`): :class:`NIRNeuron` and
:class:`NIRConv1d`.

A :class:`NIRNeuron` update, per neuron per step (n = neurons × steps × batch), as its forward
computes it (the events priced by the same table as every other neuron's,
:mod:`analysis.counting.rules.frameworks`):

==================  ==========================================================================
``vmem_reads``       one per state variable (membrane; CubaLIF + its current; Threshold none)
``vmem_writes``      the same
``mul``/``shift``    each decay factor a (CubaLIF also a_s) and each input scale g (CubaLIF b_s)
                     that is not 1: a ``shift`` where one power-of-two value holds for every
                     neuron, a ``shift`` and an ``add`` where 1 − a is one (v − v >> k), else a ``mul``
``add``              the charge a·v + g·x (1), + 1 where a neuron has a leak voltage (c ≠ 0),
                     CubaLIF + 1 (its current); + 1 per soft reset (subtract θ)
``mask``             one per hard reset (the select of v_reset where a spike fired)
``cmp``              the threshold comparison (not LI)
``spikes``           exact, from the output (IF, LIF, CubaLIF, Threshold); LI writes its membrane
==================  ==========================================================================
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from analysis.counting.nonzero import nnz
from analysis.counting.registry import register_rule
from analysis.counting.rules.frameworks import leak_events
from analysis.counting.rules.synapses import synapse_rule
from analysis.counting.signals import ANALOG_BITS, Context
from analysis.snn.neurons import is_power_of_two
from analysis.snn.nir_nodes import NIRConv1d, NIRNeuron

__all__ = ["nir_conv1d_rule", "nir_neuron_rule"]


def _factor_events(factor: Tensor, n: int, leak: bool) -> tuple[str, dict[str, float]]:
    """The events of n multiplications by a per-neuron factor (none where every factor is 1)."""
    flat = factor.reshape(-1)
    if bool((flat == 1).all()):
        return "", {}
    if bool((flat == flat[0]).all()):
        value = float(flat[0])
        if leak:
            return leak_events(value, n)
        return ("scale_shift", {"shift": n}) if is_power_of_two(value) else ("scale_mul", {"mul": n})
    return ("leak_mul" if leak else "scale_mul"), {"mul": n}


@register_rule(NIRNeuron)
def nir_neuron_rule(module: NIRNeuron, inputs: tuple, output: Tensor, ctx: Context) -> dict[str, Any]:
    """A NIR IF/LIF/LI/CubaLIF/Threshold neuron with per-neuron parameters, ``[T, B, ...]`` (see
    the module docstring)."""
    x = inputs[0]
    n = ctx.step_elements(x)
    events: dict[str, float] = {"add": 0.0, "mul": 0.0, "shift": 0.0, "mask": 0.0}
    tags = []
    factors = [] if module.kind == "Threshold" else [(module.decay, True), (module.gain, False)]
    if module.kind == "CubaLIF":
        factors += [(module.syn_decay, True), (module.syn_gain, False)]
    for factor, leak in factors:
        tag, extra = _factor_events(factor, n, leak)
        tags += [tag] if tag else []
        for key, value in extra.items():
            events[key] += value
    if module.kind != "Threshold":
        events["add"] += n * (1 + (module.kind == "CubaLIF") + bool((module.drive != 0).any()))
    states = module.states * n
    facts: dict[str, Any] = dict(kind="neuron", in_shape=ctx.sample_shape(x), out_shape=ctx.sample_shape(output),
                                 neurons=ctx.per_sample(output), input_reads=n, output_elements=n,
                                 vmem_reads=states, vmem_writes=states, vmem_bits=ctx.vmem_bits,
                                 act_bits=ctx.vmem_bits if module.states else ANALOG_BITS)
    if module.spiking:
        spikes = nnz(output)
        if module.kind != "Threshold":
            events["add" if module.reset == "soft" else "mask"] += spikes
        facts.update(cmp=n, spikes=spikes, output_writes=spikes, output_nonzero=spikes, out_bits=1,
                     output_spiking=True, signal=ctx.out_signal("spike"))
        reset = f".{module.reset}_reset" if module.kind != "Threshold" else ""
    else:
        facts.update(output_writes=n, output_nonzero=nnz(output), out_bits=ANALOG_BITS, signal=ctx.out_signal())
        reset = ".membrane_out"
    tag = "" if module.kind == "Threshold" else "." + (".".join(dict.fromkeys(tags)) or "no_leak")
    facts["rule"] = f"nir.{module.kind}{tag}{reset}"
    facts.update({k: v for k, v in events.items() if v})
    return facts


@register_rule(NIRConv1d)
def nir_conv1d_rule(module: NIRConv1d, inputs: tuple, output: Tensor, ctx: Context) -> dict[str, Any]:
    """NIR's Conv1d as the Conv2d it holds (kernel ``(1, k)``): ACs from the actual spikes, each
    reaching its exact fan-out (edges, padding, stride), MACs for any other input."""
    facts = synapse_rule(module.conv, (inputs[0].unsqueeze(-2),), output.unsqueeze(-2), ctx)
    facts.update(in_shape=ctx.sample_shape(inputs[0]), out_shape=ctx.sample_shape(output), kind="conv",
                 rule=facts["rule"].replace("conv.", "conv1d.", 1))
    return facts
