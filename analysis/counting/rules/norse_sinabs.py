"""Norse and Sinabs neurons, recognised by class path (neither framework is imported): the events
of their updates as :mod:`analysis.snn.spec` writes their dynamics, priced by the same table as
SpikingJelly's and snnTorch's (:func:`~analysis.counting.rules.frameworks.neuron_update_events`).

Per call, by the neuron's layout: a Norse ``*Cell`` runs one step ``[B, ...]`` (its state passed
as an argument and returned: ``z, s = cell(x, s)``), Norse ``LIF``/``LIFBox`` ``[T, B, ...]``,
Sinabs ``IAF``/``LIF`` ``[B, T, ...]`` and their ``*Squeeze`` ``[B·T, ...]``. ``spikes`` is the number
of spikes emitted: with Sinabs's ``MultiSpike`` (its default) a neuron emits ⌊v/θ⌋ spikes in one
step, so ``spikes`` is the sum of the output, ``output_nonzero`` the neuron-steps that fired (one
reset each, plus a multiplication s·θ where s > 1), and the next layer counts one AC per spike and
synapse (as Sinabs's own synops counter does). Its output is a spike count, not a bit: the signal
carries the largest count seen in the call as its ``levels``, so the neuron's ``out_bits`` and the
next layer's ``act_bits`` are that count's width (⌈log2(max + 1)⌉; the widest over the calls
counted), while ``input_reads``/``input_spiking`` still count spikes, one event each. Every layer of
such a network runs once per step: :func:`~analysis.counting.rules.frameworks.complete_snn_ledger` gives each its T.
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor, nn

from analysis.counting.nonzero import nnz
from analysis.counting.registry import register_rule
from analysis.counting.rules.frameworks import SINGLE_STEP, neuron_update_events
from analysis.counting.signals import Context, Signal
from analysis.snn.frameworks import neuron_spec
from analysis.snn.spec import NORSE_KINDS, SINABS_KINDS

__all__ = ["NORSE_NEURONS", "SINABS_NEURONS", "norse_sinabs_rule"]

NORSE_NEURONS = tuple(NORSE_KINDS)
SINABS_NEURONS = tuple(SINABS_KINDS)


def _layout_shape(layout: str, x: Tensor) -> tuple[int, ...]:
    """One sample's neurons at one step."""
    return tuple(x.shape[2:] if layout in ("tb", "bt") else x.shape[1:])


@register_rule(*NORSE_NEURONS, *SINABS_NEURONS)
def norse_sinabs_rule(module: nn.Module, inputs: tuple, output: Any, ctx: Context) -> dict[str, Any]:
    """A Norse ``LIFCell``/``LIF``/``LIFBoxCell``/``LIFBox`` or a Sinabs ``IAF``/``LIF`` (and
    ``*Squeeze``) update (see the module docstring; the events per update in
    :mod:`analysis.counting.rules.frameworks`)."""
    spec = neuron_spec(module)
    x = inputs[0]
    spikes = output[0] if isinstance(output, tuple | list) else output
    per_sample = _layout_shape(spec.layout, x)
    n = x.numel()
    fired = nnz(spikes)
    count = spikes.sum() if spec.multi_spike else fired
    largest = int(spikes.detach().max()) if spec.multi_spike and spikes.numel() else 0
    levels = largest if largest > 1 else 0
    tag, events = neuron_update_events(spec, n, fired, ctx.vmem_bits)
    if spec.multi_spike and spec.reset == "soft":
        events["mul"] = events.get("mul", 0) + nnz(spikes > 1)  # v − s·θ for s > 1
    framework = spec.framework.split(".")[0]
    facts = dict(kind="neuron", rule=f"{framework}.{spec.kind}.{tag}", in_shape=per_sample, out_shape=per_sample,
                 neurons=math.prod(per_sample), input_reads=n, output_elements=n, spikes=count, output_writes=count,
                 output_nonzero=fired, act_bits=ctx.vmem_bits, out_bits=Signal("spike", levels).bits,
                 output_spiking=True, **events)
    if spec.multi_spike:
        facts["notes"] = "Sinabs MultiSpike: up to ⌊v/θ⌋ spikes per neuron and step (spikes = sum of the output)"
    if spec.layout == "tb":
        facts.update(timesteps=x.shape[0], repeat_steps=1,
                     signal=Signal("spike", levels, steps=x.shape[0], stepped=True))
    else:
        facts["signal"] = Signal("spike", levels)
    ctx.extras[SINGLE_STEP] = True
    return facts
