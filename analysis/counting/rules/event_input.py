"""Event input: the frames an :class:`~analysis.snn.events.EventNetwork` is fed are spikes (binary
ON/OFF events), so the layer they reach counts one AC per (event, synapse), as every later
spiking layer does, not MACs on analog pixels."""

from __future__ import annotations

import math

from analysis.counting.registry import register_rule
from analysis.counting.signals import Signal
from analysis.snn.events import EventInput


@register_rule(EventInput)
def event_input_rule(module, inputs, output, ctx):
    """EventInput: a view of the frames (no events); its output is spikes, one map per step/group,
    or their sum over the T groups in OneSpike's one-pass layout."""
    shape = tuple(inputs[0].shape[2:])
    return dict(kind="reshape", rule="events", in_shape=shape, out_shape=shape, neurons=math.prod(shape),
                act_bits=1, out_bits=1, signal=Signal("spike", steps=module.frames, stepped=not module.summed))
