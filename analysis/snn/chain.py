"""The layer order of an SNN written as its own ``forward`` (the snnTorch tutorial's loop over T),
read from one call: which modules it calls, in which order, on what.

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        for step in range(num_steps):
            spk1, mem1 = self.lif1(self.fc1(x), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            ...

:func:`call_chain` runs the network once on example images with a hook on every leaf module and
every SpikingJelly/snnTorch neuron, and accepts what a chain of layers stepped over T looks like: the
same modules called in the same order at every step, each fed the output of the one before (or a
flattening view of it), the first fed the network's own input unchanged at every step. A pooling
written as a function between two layers (``F.max_pool2d(self.conv1(x), 2)``, the snnTorch conv
tutorial; ``F.avg_pool2d``) is read as the layer it is (``nn.MaxPool2d``/``nn.AvgPool2d``). Anything
else (a residual branch, a module called twice in a step, an input encoder that changes the input
over steps, arithmetic between layers) is a :class:`~analysis.snn.context.ConversionError` that
names the call and the way out: write the network as an ``nn.Sequential`` of ``init_hidden=True``
neurons (snnTorch) or ``layer.*`` modules (SpikingJelly), or build the form by hand.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from analysis.snn.context import ConversionError
from analysis.snn.frameworks import is_framework_neuron, reset_state

__all__ = ["call_chain"]

WAY_OUT = ("write the network as an nn.Sequential (snnTorch: init_hidden=True neurons; SpikingJelly: layer.* "
           "modules) and wrap it in analysis.snn.TimeLoop(net, T), or build a DirectSNN by hand")


def _tensor(value: Any) -> Tensor | None:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, tuple | list) and value and isinstance(value[0], Tensor):
        return value[0]  # an snnTorch neuron's (spikes, membrane)
    return None


def _is_leaf(module: nn.Module) -> bool:
    return is_framework_neuron(module) or not list(module.children())


def _same_data(a: Tensor, b: Tensor) -> bool:
    """``a`` is ``b`` or a view of the same values in another shape (``x.flatten(1)``, ``x.view(B, -1)``)."""
    return a is b or (a.data_ptr() == b.data_ptr() and a.numel() == b.numel() and a.dtype == b.dtype)


#: Functional poolings read as layers: the function's name -> (layer, its arguments after the input, in order).
_POOLS = {
    "max_pool2d": (nn.MaxPool2d, ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")),
    "_max_pool2d": (nn.MaxPool2d, ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")),
    "avg_pool2d": (nn.AvgPool2d, ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                                  "divisor_override")),
}


class _FunctionalPools(TorchFunctionMode):
    """Records ``F.max_pool2d``/``F.avg_pool2d`` called in the network's own forward (not inside a
    layer) as calls of the equivalent layer, one layer object per (producer, arguments), so that
    the same pooling at every step is the same layer."""

    def __init__(self, calls: list, depth: list[int]):
        super().__init__()
        self.calls, self.depth = calls, depth
        self.layers: dict[tuple, nn.Module] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        pool = _POOLS.get(getattr(func, "__name__", ""))
        if pool is None or self.depth[0] or not args or not isinstance(args[0], Tensor):
            return out
        cls, names = pool
        params = dict(zip(names, args[1:], strict=False)) | {k: v for k, v in kwargs.items() if k in names}
        if params.get("return_indices"):
            return out
        params.pop("return_indices", None)
        x = args[0]
        producer = next((id(m) for m, _, y in reversed(self.calls) if _same_data(x, y)), None)
        key = (producer, cls, tuple(sorted((k, str(v)) for k, v in params.items())))
        layer = self.layers.setdefault(key, cls(**params))
        y = _tensor(out)
        if y is not None:
            self.calls.append((layer, x, y))
        return out


def _period(modules: list[nn.Module]) -> int:
    """The shortest k such that the calls repeat every k."""
    n = len(modules)
    for k in range(1, n + 1):
        if n % k == 0 and all(modules[i] is modules[i % k] for i in range(n)):
            return k
    return n


def call_chain(net: nn.Module, example: Tensor) -> tuple[list[nn.Module], int]:
    """``(layers, steps)``: the modules ``net``'s forward calls per timestep, in order, with an
    ``nn.Flatten()`` where it flattens between two of them, and the number of timesteps it ran,
    read from one call on ``example`` (a batch of inputs). See the module docstring for what is
    accepted; anything else raises a :class:`ConversionError` naming the way out."""
    known = {m: name or type(net).__name__ for name, m in net.named_modules()}
    calls: list[tuple[nn.Module, Tensor, Tensor]] = []
    depth = [0]  # inside a layer: its own functional calls are its business

    def enter(module, args):
        depth[0] += 1

    def hook(module, args, output):
        depth[0] -= 1
        x, y = (args[0] if args and isinstance(args[0], Tensor) else None), _tensor(output)
        if x is not None and y is not None:
            calls.append((module, x, y))

    leaves = [m for m in net.modules() if m is not net and _is_leaf(m)]
    handles = [m.register_forward_hook(hook) for m in leaves] + [m.register_forward_pre_hook(enter) for m in leaves]
    reset_state(net)
    try:
        with torch.no_grad(), _FunctionalPools(calls, depth):
            net(example)
    finally:
        for h in handles:
            h.remove()
        reset_state(net)
    names = {m: known.get(m, f"F.{type(m).__name__}") for m, _, _ in calls}
    if not calls:
        raise ConversionError(f"{type(net).__name__}.forward called no layer on the example input; {WAY_OUT}")
    modules = [m for m, _, _ in calls]
    k = _period(modules)
    steps = len(calls) // k
    step = calls[:k]
    if len({id(m) for m in modules[:k]}) != k:
        twice = next(m for i, m in enumerate(modules[:k]) if m in modules[:i])
        raise ConversionError(f"{type(net).__name__}.forward calls {names[twice]!r} twice in one timestep (a shared "
                              f"layer): a chain of layers calls each once; {WAY_OUT}")
    for t in range(steps):
        first = calls[t * k][1]
        if not _same_data(first, example):
            raise ConversionError(f"at timestep {t} {type(net).__name__}.forward feeds {names[modules[0]]!r} something "
                                  "other than its own input (an encoder, or arithmetic on the input): the one-step "
                                  f"form feeds the analog input at every step; {WAY_OUT}")
    layers: list[nn.Module] = []
    first_input = step[0][1]
    if first_input.shape != example.shape:  # forward flattens its input before the first layer
        if not (first_input.dim() == 2 and first_input.shape[0] == example.shape[0]):
            raise ConversionError(f"{type(net).__name__}.forward reshapes its input {tuple(example.shape)} to "
                                  f"{tuple(first_input.shape)} before {names[modules[0]]!r}, which is no flatten; "
                                  f"{WAY_OUT}")
        layers.append(nn.Flatten())
    layers.append(step[0][0])
    for (prev, _, out), (module, x, _) in itertools.pairwise(step):
        if x is not out:
            if not _same_data(x, out):
                raise ConversionError(f"{names[module]!r} is fed something other than the output of {names[prev]!r} "
                                      f"(a branch, or arithmetic between the layers in forward); {WAY_OUT}")
            if not (x.dim() == 2 and x.shape[0] == out.shape[0]):
                raise ConversionError(f"between {names[prev]!r} and {names[module]!r} forward reshapes "
                                      f"{tuple(out.shape)} to {tuple(x.shape)}, which is no flatten; {WAY_OUT}")
            layers.append(nn.Flatten())
        layers.append(module)
    return layers, steps
