"""What an operator written in a ``forward`` makes of the signals of its inputs, and what the input
of the counted model carries.

A signal is set by the module that made a tensor, never guessed from its values; operators pass it
on where their output is, by construction, of the same kind:

- data movement (:data:`MOVING_OPS`: views, reshapes, ``select``/``slice``/``index``, ``chunk``/
  ``split``/``unbind``, ``cat``/``stack``, ``clone``, zero padding) keeps the values, so spikes stay
  spikes (L-level values stay L-level); the step axis is kept where the leading axes are, a frame
  ``x[t]`` of a ``[T, B, ...]`` tensor is one step, a ``stack`` of single steps a stepped tensor;
- logic on spikes (:data:`SPIKE_OPS`: ``logical_*``/``bitwise_*``, a product of spikes (AND),
  ``1 − s`` (NOT), ``max``/``maximum``/max pooling (OR)) makes spikes: SEW-ResNet's IAND
  ``(1 − s)·x`` feeds the next layer spikes, counted as ACs. Each such operation on spikes is one
  bit operation (``mask``) per output element instead of a multiplication or addition.

The input of the counted model is analog unless declared (``count_events(input_spikes=True)``:
event-camera frames, rate-coded images): then its values must be spike counts (non-negative
integers), and its first layer counts one AC per (spike, synapse it reaches); its ``act_bits`` are
the width of the largest count in the input (1 for 0/1 spikes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from analysis.counting.signals import Signal

__all__ = ["MOVING_OPS", "SPIKE_KINDS", "SPIKE_OPS", "as_bit_operations", "check_spike_input", "input_signal",
           "moved_signals", "spike_op_signal"]

#: Operators that move values without changing them: what the input carries, the output carries.
MOVING_OPS = frozenset("""
view _unsafe_view reshape _reshape_alias flatten unflatten t transpose permute unsqueeze squeeze expand expand_as
select slice narrow split split_with_sizes chunk unbind cat stack clone contiguous alias detach _to_copy to copy
index index_select _unsafe_index gather repeat constant_pad_nd lift_fresh
""".split())
#: Operators that make spikes from spikes (see the module docstring).
SPIKE_OPS = frozenset("""
logical_and logical_or logical_xor logical_not bitwise_and bitwise_or bitwise_xor bitwise_not mul rsub
max maximum amax minimum min amin max_pool2d max_pool2d_with_indices max_pool1d adaptive_max_pool2d
""".split())
#: Signal kinds that are spikes.
SPIKE_KINDS = ("spike",)
#: Operators whose work on spikes is one bit operation per output element.
_BITWISE = frozenset("logical_and logical_or logical_xor logical_not bitwise_and bitwise_or bitwise_xor bitwise_not "
                     "mul rsub maximum minimum".split())


def check_spike_input(x: Tensor, what: str = "the input") -> None:
    """Refuse an input declared as spikes whose values are not spike counts."""
    if not (x.dtype == torch.bool or not x.is_floating_point() or bool(torch.isfinite(x).all())):
        raise ValueError(f"count_events(input_spikes=True): {what} holds NaN/Inf values")
    values = x.detach()
    if values.dtype == torch.bool:
        return
    if bool((values < 0).any()) or bool((values != values.round()).any()):
        raise ValueError(f"count_events(input_spikes=True): {what} holds values other than spike counts "
                         "(non-negative integers: 0/1 spikes, or events per pixel and frame); pass "
                         "input_spikes=False for an analog input (images), counted as MACs")


def input_signal(x: Tensor, spikes: bool, time_axis: int | None) -> Signal:
    """The signal of the counted model's input: spikes or analog, with a leading step axis where
    the time axis is 0 (``[T, B, ...]``)."""
    kind = "spike" if spikes else "analog"
    largest = int(x.detach().max()) if spikes and x.numel() else 0
    levels = largest if largest > 1 else 0  # several events per pixel and frame, else binary spikes
    if time_axis == 0 and x.dim() > 1:
        return Signal(kind, levels, steps=int(x.shape[0]), stepped=True)
    return Signal(kind, levels)


def _moved(sig: Signal, x: Tensor, out: Tensor, name: str, args: tuple) -> Signal:
    keep = 2 if sig.stepped else 1
    if out.dim() == x.dim() + 1 and tuple(out.shape[1:]) == tuple(x.shape) and sig.single_step:
        return Signal(sig.kind, sig.levels, steps=int(out.shape[0]), stepped=True)  # a new leading step axis
    if sig.stepped and out.dim() == x.dim() and out.shape[1:] == x.shape[1:]:
        return Signal(sig.kind, sig.levels, steps=int(out.shape[0]), stepped=True)  # repeated over the steps
    if x.dim() >= keep and out.dim() >= keep and out.shape[:keep] == x.shape[:keep]:
        return sig
    if name == "stack" and sig.single_step and len(args) > 1 and args[1] in (0, -out.dim()) and out.dim() > 1:
        return Signal(sig.kind, sig.levels, steps=int(out.shape[0]), stepped=True)
    return Signal(sig.kind, sig.levels)  # a frame or a part: one step of the same kind


def moved_signals(name: str, args: tuple, out: Any, signal_of: Callable[[Any], Signal]) -> list[tuple[Tensor, Signal]]:
    """``[(output tensor, signal)]`` for a data-moving operator whose inputs carry one known kind
    (nothing for an operator that is not one, or inputs of mixed or unknown kinds)."""
    if name not in MOVING_OPS or not args:
        return []
    first = args[0]
    tensors = [t for t in first if isinstance(t, Tensor)] if isinstance(first, list | tuple) else (
        [first] if isinstance(first, Tensor) else [])
    if not tensors:
        return []
    sigs = [signal_of(t) for t in tensors]
    if not all(s.known for s in sigs):
        return []
    if {s.kind for s in sigs} == {"spike"}:  # spikes and spike counts: the widest count
        sigs[0] = replace(sigs[0], levels=max(s.levels for s in sigs))
    elif len({(s.kind, s.levels) for s in sigs}) != 1:
        return []
    outs = [o for o in out if isinstance(o, Tensor)] if isinstance(out, list | tuple) else (
        [out] if isinstance(out, Tensor) else [])
    return [(o, _moved(sigs[0], tensors[0], o, name, args)) for o in outs]


def spike_op_signal(name: str, args: tuple, out: Any, signal_of: Callable[[Any], Signal]) -> Signal | None:
    """The spike signal of an operator that makes spikes from spikes (see the module docstring),
    or None when its operands are not all spikes (a number operand must be 1 for ``1 − s``)."""
    if name not in SPIKE_OPS or not args:
        return None
    tensors = [a for a in args if isinstance(a, Tensor)]
    numbers = [a for a in args[1:2] if isinstance(a, int | float | bool)]
    if not tensors or any(signal_of(t).kind not in SPIKE_KINDS or not signal_of(t).known for t in tensors):
        return None
    if name == "rsub" and not (len(tensors) == 1 and numbers == [1]):
        return None  # 1 − s (rsub(s, 1)) is NOT; any other subtraction makes no spike
    if name == "mul" and (numbers or len(tensors) != 2):
        return None
    result = out[0] if isinstance(out, tuple | list) else out
    first = signal_of(tensors[0])
    if isinstance(result, Tensor) and result.shape == tensors[0].shape:
        return first
    return Signal(first.kind, first.levels)


def as_bit_operations(name: str, facts: dict[str, Any], out: Any) -> dict[str, Any]:
    """An operator on spikes whose work is one bit operation per output element: its arithmetic
    events become ``mask`` (AND/OR/NOT of 1-bit values)."""
    if name not in _BITWISE:
        return facts
    result = out[0] if isinstance(out, tuple | list) else out
    n = result.numel() if isinstance(result, Tensor) else 0
    facts = {k: v for k, v in facts.items() if k not in ("mul", "add", "shift", "cmp", "mask")}
    facts.update(mask=n, notes="a logic operation on spikes: one bit operation (mask) per output element")
    return facts
