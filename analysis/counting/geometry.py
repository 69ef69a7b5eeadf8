"""Geometry the rules need, per layer shape and input size: conv fan-out maps and pooling windows.

Both are cached in **bounded** LRU caches (a study over many input sizes must not grow memory
without limit): :data:`FANOUT_CACHE_SIZE` fan-out maps (``[H, W]`` float64 each: 128 maps of a
224x224 input are 51 MB at most) and :data:`POOL_CACHE_SIZE` pooling window tuples.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict

import numpy as np
import torch
from torch import Tensor, nn

from analysis.snn.neurons import is_power_of_two

__all__ = [
    "FANOUT_CACHE_SIZE",
    "POOL_CACHE_SIZE",
    "axis_fanout",
    "cache_sizes",
    "clear_caches",
    "conv_fanout_facts",
    "conv_fanout_map",
    "conv_fanout_weights",
    "pool_windows",
]

#: Most conv fan-out maps kept (least recently used dropped first).
FANOUT_CACHE_SIZE = 128
#: Most pooling-window summaries kept.
POOL_CACHE_SIZE = 1024

_FANOUT_CACHE: OrderedDict[tuple, Tensor] = OrderedDict()


def conv_fanout_map(conv: nn.Conv2d, height: int, width: int, device: torch.device | None = None) -> Tensor:
    """``[H, W]`` float64: how many output positions (of one output channel) each input position
    reaches, edges, padding, stride and dilation included (cached per layer geometry, LRU-bounded).

    A non-zero input at position p of input channel c reaches ``fanout[p] · out_channels / groups``
    synapses; zero-padding positions are not inputs and reach none, while a reflected, replicated or
    circular pad reads the input position it copies. The map is the outer product of one count per
    axis (a 2-D convolution's windows and pads are separable), computed here without running a torch
    operator: a dispatch mode the user runs inside the count (``FlopCounterMode``) sees none of the
    counter's own work.
    """
    key = (conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.padding_mode, height, width, str(device))
    cached = _FANOUT_CACHE.get(key)
    if cached is not None:
        _FANOUT_CACHE.move_to_end(key)
        return cached
    rows, cols = (axis_fanout(size, axis, conv) for axis, size in enumerate((height, width)))
    fanout = torch.from_numpy(np.outer(rows, cols).astype(np.float64))
    fanout = fanout.to(device) if device is not None else fanout
    _FANOUT_CACHE[key] = fanout
    while len(_FANOUT_CACHE) > FANOUT_CACHE_SIZE:
        _FANOUT_CACHE.popitem(last=False)
    return fanout


def axis_fanout(size: int, axis: int, conv: nn.Conv2d) -> np.ndarray:
    """Along ``axis`` (0: rows, 1: columns) of an input ``size`` long: for each input index, the
    number of (output position, kernel tap) pairs that read it under ``conv``'s kernel, stride,
    dilation, padding (``"same"``/``"valid"`` included) and padding mode."""
    kernel, stride, dilation = conv.kernel_size[axis], conv.stride[axis], conv.dilation[axis]
    span = dilation * (kernel - 1)
    if conv.padding == "valid":
        before = after = 0
    elif conv.padding == "same":
        before, after = span // 2, span - span // 2  # as torch pads an even total: the extra on the end
    else:
        before = after = conv.padding[axis]
    outputs = (size + before + after - span - 1) // stride + 1
    padded = (np.arange(max(outputs, 0))[:, None] * stride + np.arange(kernel)[None, :] * dilation).ravel() - before
    if conv.padding_mode == "zeros":
        index = padded[(padded >= 0) & (padded < size)]
    elif conv.padding_mode == "reflect":
        index = np.abs(padded)
        index = np.where(index >= size, 2 * (size - 1) - index, index)
    elif conv.padding_mode == "replicate":
        index = np.clip(padded, 0, size - 1)
    else:  # circular
        index = np.mod(padded, size)
    return np.bincount(index, minlength=size)[:size]


def conv_fanout_weights(conv: nn.Conv2d, height: int, width: int, device: torch.device | None = None) -> Tensor:
    """``[2, H·W]`` float64: a row of ones and the flattened :func:`conv_fanout_map`, so that one
    product with a per-position count gives both its total and its fan-out sum (cached with the map)."""
    return _weights_entry(conv, height, width, device)[1]


def conv_fanout_facts(conv: nn.Conv2d, height: int, width: int,
                      device: torch.device | None = None) -> tuple[float | None, Tensor]:
    """``(uniform, counts)`` in one lookup keyed by the geometry alone (a rule asks for both at every
    call of every conv layer; bounded like the maps). ``uniform``: the fan-out every input position
    shares (a 1x1 convolution of stride 1 without padding: 1.0), so that a fan-out sum is that times
    the count, without a pass over the per-position map; None where positions differ (edges,
    strides). ``counts``: :func:`conv_fanout_map` as int64, so that a per-position count times it sums
    exactly in one product, without a float conversion of the count."""
    key = (conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.padding_mode, height, width, device)
    found = _FACTS.get(key)
    if found is None:
        entry = _weights_entry(conv, height, width, device)
        found = _FACTS[key] = (entry[2], entry[3])
        while len(_FACTS) > FANOUT_CACHE_SIZE:
            _FACTS.pop(next(iter(_FACTS)))
    return found


_FACTS: dict[tuple, tuple[float | None, Tensor]] = {}


def _weights_entry(conv: nn.Conv2d, height: int, width: int, device: torch.device | None) -> tuple:
    fanout = conv_fanout_map(conv, height, width, device)
    cached = _WEIGHTS.get(id(fanout))
    if cached is not None and cached[0] is fanout:
        return cached
    flat = fanout.reshape(-1)
    uniform = float(flat[0]) if flat.numel() and bool((flat == flat[0]).all()) else None
    entry = (fanout, torch.stack((torch.ones_like(flat), flat)), uniform, fanout.to(torch.int64))
    _WEIGHTS[id(fanout)] = entry
    while len(_WEIGHTS) > FANOUT_CACHE_SIZE:
        _WEIGHTS.pop(next(iter(_WEIGHTS)))
    return entry


_WEIGHTS: dict[int, tuple[Tensor, Tensor, float | None, Tensor]] = {}


def pool_windows(module: nn.Module, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(window adds, shifts, muls, largest window)`` per output map of one channel (LRU-cached).

    AvgPool2d: every output sums k_h·k_w values (padding included) and divides by k_h·k_w (or
    ``divisor_override``); AdaptiveAvgPool2d: the exact window of each output."""
    if isinstance(module, nn.AvgPool2d):
        k = module.kernel_size
        kernel = (k, k) if isinstance(k, int) else tuple(k)
        return _avg_windows(kernel, module.divisor_override, tuple(out_hw))
    return _adaptive_windows(tuple(in_hw), tuple(out_hw))


@functools.lru_cache(maxsize=POOL_CACHE_SIZE)
def _avg_windows(kernel: tuple[int, int], divisor_override: int | None, out_hw: tuple[int, int]):
    window = kernel[0] * kernel[1]
    divisor = divisor_override or window
    outputs = out_hw[0] * out_hw[1]
    pow2 = is_power_of_two(divisor)
    return (window - 1) * outputs, outputs if pow2 else 0, 0 if pow2 else outputs, window


@functools.lru_cache(maxsize=POOL_CACHE_SIZE)
def _adaptive_windows(in_hw: tuple[int, int], out_hw: tuple[int, int]):
    adds = shifts = muls = largest = 0
    rows = [(math.floor(i * in_hw[0] / out_hw[0]), math.ceil((i + 1) * in_hw[0] / out_hw[0])) for i in range(out_hw[0])]
    cols = [(math.floor(j * in_hw[1] / out_hw[1]), math.ceil((j + 1) * in_hw[1] / out_hw[1])) for j in range(out_hw[1])]
    for r0, r1 in rows:
        for c0, c1 in cols:
            window = (r1 - r0) * (c1 - c0)
            adds += window - 1
            largest = max(largest, window)
            if is_power_of_two(window):
                shifts += 1
            else:
                muls += 1
    return adds, shifts, muls, largest


def cache_sizes() -> dict[str, int]:
    """Entries held now in each geometry cache."""
    return {"fanout": len(_FANOUT_CACHE), "avg_pool": _avg_windows.cache_info().currsize,
            "adaptive_pool": _adaptive_windows.cache_info().currsize}


def clear_caches() -> None:
    _FANOUT_CACHE.clear()
    _WEIGHTS.clear()
    _FACTS.clear()
    _avg_windows.cache_clear()
    _adaptive_windows.cache_clear()
