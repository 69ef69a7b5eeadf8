"""Geometry the rules need, per layer shape and input size: conv fan-out maps and pooling windows.

Both are cached in **bounded** LRU caches (a study over many input sizes must not grow memory
without limit): :data:`FANOUT_CACHE_SIZE` fan-out maps (``[H, W]`` float64 each: 128 maps of a
224x224 input are 51 MB at most) and :data:`POOL_CACHE_SIZE` pooling window tuples.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict

import torch
from torch import Tensor, nn

from analysis.snn.neurons import is_power_of_two

__all__ = ["FANOUT_CACHE_SIZE", "POOL_CACHE_SIZE", "cache_sizes", "clear_caches", "conv_fanout_counts",
           "conv_fanout_map", "conv_fanout_uniform", "conv_fanout_weights", "pool_windows"]

#: Most conv fan-out maps kept (least recently used dropped first).
FANOUT_CACHE_SIZE = 128
#: Most pooling-window summaries kept.
POOL_CACHE_SIZE = 1024

_FANOUT_CACHE: OrderedDict[tuple, Tensor] = OrderedDict()


def conv_fanout_map(conv: nn.Conv2d, height: int, width: int, device: torch.device | None = None) -> Tensor:
    """``[H, W]`` float64: how many output positions (of one output channel) each input position
    reaches, edges, padding, stride and dilation included (cached per layer geometry, LRU-bounded).

    It is the gradient of Σ conv_ones(x) with respect to x (= ``conv_transpose2d`` of a ones map of the
    output shape with a ones kernel). A non-zero input at position p of input channel c reaches
    ``fanout[p] · out_channels / groups`` synapses; padding positions are not inputs and reach none.
    """
    key = (conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.padding_mode, height, width, str(device))
    cached = _FANOUT_CACHE.get(key)
    if cached is not None:
        _FANOUT_CACHE.move_to_end(key)
        return cached
    with torch.inference_mode(False), torch.enable_grad():
        x = torch.zeros(1, 1, height, width, dtype=torch.float64, requires_grad=True)
        w = torch.ones(1, 1, *conv.kernel_size, dtype=torch.float64)
        if conv.padding_mode != "zeros":
            padded = nn.functional.pad(x, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
            y = nn.functional.conv2d(padded, w, None, conv.stride, 0, conv.dilation)
        else:
            y = nn.functional.conv2d(x, w, None, conv.stride, conv.padding, conv.dilation)
        (grad,) = torch.autograd.grad(y.sum(), x)
    fanout = grad[0, 0].detach().to(device) if device is not None else grad[0, 0].detach()
    _FANOUT_CACHE[key] = fanout
    while len(_FANOUT_CACHE) > FANOUT_CACHE_SIZE:
        _FANOUT_CACHE.popitem(last=False)
    return fanout


def conv_fanout_weights(conv: nn.Conv2d, height: int, width: int, device: torch.device | None = None) -> Tensor:
    """``[2, H·W]`` float64: a row of ones and the flattened :func:`conv_fanout_map`, so that one
    product with a per-position count gives both its total and its fan-out sum (cached with the map)."""
    return _weights_entry(conv, height, width, device)[1]


def conv_fanout_uniform(conv: nn.Conv2d, height: int, width: int, device: torch.device | None = None) -> float | None:
    """The fan-out every input position shares (a 1x1 convolution of stride 1 without padding: 1.0), so
    that a fan-out sum is that times the count, without a pass over the per-position map; None where
    positions differ (edges, strides)."""
    return _weights_entry(conv, height, width, device)[2]


def conv_fanout_counts(conv: nn.Conv2d, height: int, width: int, device: torch.device | None = None) -> Tensor:
    """:func:`conv_fanout_map` as int64 (cached with it): a per-position count times it sums exactly
    in one product, without a float conversion of the count."""
    return _weights_entry(conv, height, width, device)[3]


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
    _avg_windows.cache_clear()
    _adaptive_windows.cache_clear()
