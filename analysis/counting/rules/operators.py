"""The operator rules of the arithmetic aten operators the operator pass
(:mod:`analysis.counting.ops`) sees uncovered: additions and scalings, matrix products and
convolutions, softmax and attention, ReLU/clamp/hardtanh, comparisons and logic, sums and means,
pooling and inference batch norm. Each is ``rule(args, kwargs, out) -> {LayerEvents field: value}``
with events as totals over the call; ``mac_nonzero`` takes the left operand of a matrix product,
and the input of a convolution, as the activation operand.

Imported by :mod:`analysis.counting` after the operator pass (it registers into
``analysis.counting.ops.OP_RULES``), before :mod:`~analysis.counting.rules.functional`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.utils.flop_counter import flop_registry

from analysis.counting.geometry import pool_windows
from analysis.counting.ops import register_op_rule
from analysis.counting.rules.common import shift_or_mul
from analysis.counting.rules.costs import as_events, softmax_ops

__all__ = ["adaptive_avg_pool2d_op", "adaptive_max_pool2d_op", "add_op", "avg_pool2d_op", "batchnorm_op", "clamp_op",
           "compare_op", "conv_op", "div_op", "hardtanh_op", "logic_op", "matmul_op", "max_pool2d_op", "mean_op",
           "mha_op", "mul_op", "relu_op", "sdpa_op", "softmax_op", "sum_op"]


def _tensors(args: Any) -> list[Tensor]:
    return [a for a in args if isinstance(a, Tensor)]


def _first(out: Any) -> Tensor:
    return out[0] if isinstance(out, tuple | list) else out


def _flops(name: str, args: tuple, kwargs: dict, out: Any) -> float:
    packet = getattr(torch.ops.aten, name)
    return float(flop_registry[packet](*args, **kwargs, out_val=out))


def _shape_facts(out: Tensor, reads: int) -> dict[str, Any]:
    per_sample = tuple(out.shape[1:]) if out.dim() > 0 else ()
    return dict(out_shape=per_sample, neurons=math.prod(per_sample), input_reads=reads,
                output_writes=out.numel())


@register_op_rule("add", "sub", "rsub")
def add_op(args, kwargs, out):
    """Elementwise add/subtract: one ``add`` per output element (a residual ``out += identity``)."""
    return dict(kind="add", add=out.numel(), **_shape_facts(out, sum(t.numel() for t in _tensors(args))))


def _scaling(args: tuple, out: Tensor, divides: bool) -> dict[str, Any]:
    """One ``mul`` per output element, a ``shift`` when a tensor is scaled by a power-of-two number
    (multiplied by it, or divided by it when ``divides``: a multiplication by its reciprocal)."""
    scalar = next((a for a in args[1:2] if isinstance(a, int | float)), None)
    if scalar is not None and args and isinstance(args[0], Tensor):
        factor = 1.0 / scalar if divides else scalar
        event = shift_or_mul(abs(factor)) if factor else "mul"
    else:
        event = "mul"
    return {"kind": "other", event: out.numel(), **_shape_facts(out, sum(t.numel() for t in _tensors(args)))}


@register_op_rule("mul")
def mul_op(args, kwargs, out):
    """Elementwise multiply: one ``mul`` per output element (a ``shift`` by a power-of-two number)."""
    return _scaling(args, out, divides=False)


@register_op_rule("div")
def div_op(args, kwargs, out):
    """Elementwise divide: by a number, one ``mul`` per output element (its reciprocal; a ``shift``
    for a power of two); by a tensor of several values, a division per element
    (``costs.PRIMITIVES["div"]``)."""
    divisor = args[1] if len(args) > 1 and isinstance(args[1], Tensor) else None
    if divisor is not None and divisor.numel() > 1:
        facts = _shape_facts(out, sum(t.numel() for t in _tensors(args)))
        return {"kind": "other", **as_events({"div": 1}, out.numel()), **facts}
    return _scaling(args, out, divides=True)


@register_op_rule("mm", "addmm", "bmm", "baddbmm")
def matmul_op(args, kwargs, out):
    """Matrix products (``x @ w``, ``F.linear``, batched): ``mac`` = M·N·K (per batch), the bias or
    accumuland of addmm/baddbmm one ``add`` per output; ``mac_nonzero`` = non-zeros of the left
    operand · N."""
    tensors = _tensors(args)
    left, right = (tensors[1], tensors[2]) if len(tensors) == 3 else (tensors[0], tensors[1])
    mac = left.numel() * right.shape[-1]
    facts = dict(kind="linear", mac=float(mac), mac_nonzero=float(torch.count_nonzero(left)) * right.shape[-1],
                 weight_reads=float(mac), input_elements=left.numel(), input_nonzero=torch.count_nonzero(left),
                 synapses=right.numel(), **_shape_facts(out, left.numel()))
    if len(tensors) == 3:
        facts["add"] = out.numel()
    return facts


@register_op_rule("convolution", "_convolution")
def conv_op(args, kwargs, out):
    """A functional convolution: ``mac`` from torch's flop formula (flops / 2), one bias ``add`` per
    output; ``mac_nonzero`` exactly (a ones-kernel convolution of the input's non-zero map; for a
    transposed convolution, non-zero inputs · kernel taps · C_out/groups)."""
    x, weight, bias, stride, padding, dilation, transposed = args[:7]
    groups = args[8]
    mac = _flops("convolution", args[:9], {}, out) / 2
    if transposed:
        gated = float(torch.count_nonzero(x)) * weight[0].numel()
    else:
        ones = torch.ones_like(weight, dtype=torch.float64)
        active = (x != 0).to(torch.float64)
        gated = float(torch.ops.aten.convolution(active, ones, None, stride, padding, dilation, False,
                                                 [0] * len(stride), groups).sum())
    facts = dict(kind="conv", mac=mac, mac_nonzero=gated, weight_reads=mac, synapses=weight.numel(),
                 input_elements=x.numel(), input_nonzero=torch.count_nonzero(x), kernel_size=tuple(weight.shape[2:]),
                 stride=tuple(stride), in_channels=x.shape[1] if x.dim() > 1 else 0, out_channels=weight.shape[0],
                 **_shape_facts(out, x.numel()))
    if bias is not None:
        facts["add"] = out.numel()
    return facts


def _softmax_events(scores: int) -> dict[str, Any]:
    # per score: a running max (cmp), x − max and the sum (2 add), the exp, the normalisation (mul)
    return dict(as_events(softmax_ops(scores)),
                notes="softmax exp counted as mul/add/shift (analysis.counting.rules.costs.PRIMITIVES)")


@register_op_rule("_softmax", "_safe_softmax", "_log_softmax", "softmax", "log_softmax")
def softmax_op(args, kwargs, out):
    """Softmax over ``n`` elements: ``n`` cmp (max), 2n add, n mul and n exp (``costs.softmax_ops``,
    the exp as the mul/add/shift that compute it)."""
    n = args[0].numel()
    return dict(kind="other", **_softmax_events(n), **_shape_facts(out, n))


@register_op_rule("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
                  "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
                  "_scaled_dot_product_attention_math")
def sdpa_op(args, kwargs, out):
    """Fused attention ``softmax(q·kᵀ·s)·v``: ``mac`` = B·H·L·S·(E + E_v); the scale one ``mul`` and
    the softmax per score; ``mac_nonzero`` = nnz(q)·S + B·H·L·S·E_v (attention weights are > 0)."""
    q, k, v = args[:3]
    scores = q.numel() // q.shape[-1] * k.shape[-2]
    mac = scores * (q.shape[-1] + v.shape[-1])
    facts = dict(kind="linear", mac=float(mac), weight_reads=0.0,
                 mac_nonzero=float(torch.count_nonzero(q)) * k.shape[-2] + scores * v.shape[-1],
                 **_shape_facts(_first(out), q.numel() + k.numel() + v.numel()))
    events = _softmax_events(scores)
    events["mul"] += scores
    facts.update(events)
    return facts


@register_op_rule("_native_multi_head_attention")
def mha_op(args, kwargs, out):
    """``nn.MultiheadAttention``'s fused inference path: the q/k/v and output projections
    (``mac`` = (L + 2S)·E² + L·E² per batch, a bias ``add`` per projected value), attention
    (``mac`` = 2·L·S·E) and the softmax per score (B·H·L·S). ``mac_nonzero`` is exact for the input
    projections and dense for the rest (their operands are internal to the fused kernel: noted)."""
    query, key, value, embed_dim, num_heads = args[:5]
    b, l, e = query.shape[0], query.shape[-2], int(embed_dim)
    s = key.shape[-2]
    projections = (l + 2 * s + l) * e * e * b
    attention = 2 * l * s * e * b
    scores = b * int(num_heads) * l * s
    gated = (torch.count_nonzero(query) + torch.count_nonzero(key) + torch.count_nonzero(value)).item() * e
    facts = dict(kind="linear", mac=float(projections + attention), weight_reads=float(projections),
                 mac_nonzero=float(gated + l * e * e * b + attention), synapses=4 * e * e,
                 **_shape_facts(_first(out), query.numel() + key.numel() + value.numel()))
    facts.update(_softmax_events(scores))
    facts["add"] += (2 * l + 2 * s) * e * b
    facts["mul"] += scores  # the 1/sqrt(E/H) scaling
    facts["notes"] = ("fused attention: mac_nonzero dense beyond the input projections; " + facts["notes"])
    return facts


@register_op_rule("relu", "clamp_min", "threshold", "maximum", "minimum", "clamp_max")
def relu_op(args, kwargs, out):
    """A functional ReLU (or one-sided clip / elementwise max): one ``cmp`` per element."""
    n = out.numel()
    return dict(kind="neuron", cmp=n, output_nonzero=torch.count_nonzero(out), output_elements=n,
                **_shape_facts(out, n))


def _clip(out: Tensor, bounds: int) -> dict[str, Any]:
    n = out.numel()
    return dict(kind="neuron", cmp=bounds * n, output_nonzero=torch.count_nonzero(out), output_elements=n,
                **_shape_facts(out, n))


@register_op_rule("clamp")
def clamp_op(args, kwargs, out):
    """A clip to [min, max]: one ``cmp`` per element per bound given (a one-sided clamp is one)."""
    low = args[1] if len(args) > 1 else kwargs.get("min")
    high = args[2] if len(args) > 2 else kwargs.get("max")
    return _clip(out, (low is not None) + (high is not None))


@register_op_rule("hardtanh")
def hardtanh_op(args, kwargs, out):
    """A two-sided clip to [min_val, max_val]: two ``cmp`` per element."""
    return _clip(out, 2)


@register_op_rule("eq", "ne", "lt", "le", "gt", "ge", "max", "min", "argmax", "argmin")
def compare_op(args, kwargs, out):
    """Comparisons and reductions by comparison: one ``cmp`` per input element."""
    n = args[0].numel() if isinstance(args[0], Tensor) else _first(out).numel()
    return dict(kind="other", cmp=n, **_shape_facts(_first(out), n))


@register_op_rule("logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor",
                  "bitwise_not")
def logic_op(args, kwargs, out):
    """Logic on 1-bit values (SEW-ResNet's AND/IAND written as logical operators): one bit
    operation (``mask``) per output element."""
    y = _first(out)
    return dict(kind="other", mask=y.numel(), **_shape_facts(y, sum(t.numel() for t in _tensors(args))))


@register_op_rule("sum")
def sum_op(args, kwargs, out):
    """Sum: (inputs − outputs) ``add``."""
    x, y = args[0], _first(out)
    return dict(kind="other", add=x.numel() - y.numel(), **_shape_facts(y, x.numel()))


@register_op_rule("mean")
def mean_op(args, kwargs, out):
    """Mean: the sum's (inputs − outputs) ``add``, then one divide per output (shift or mul). Over
    per-sample axes only it is an average pool (kind ``pool``), as the module the converter makes
    of the call is counted; over the first axis (a readout's mean over the steps) it stays ``other``."""
    facts = sum_op(args, kwargs, out)
    x, y = args[0], _first(out)
    if y.numel():
        facts[shift_or_mul(x.numel() // y.numel())] = y.numel()
    dims = args[1] if len(args) > 1 else kwargs.get("dim")
    dims = dims if isinstance(dims, list | tuple) else () if dims is None else (dims,)
    if dims and x.dim() and all(d % x.dim() != 0 for d in dims):
        facts["kind"] = "pool"
    return facts


def _avgpool_events(module: torch.nn.Module, x: Tensor, y: Tensor) -> dict[str, Any]:
    """Average pooling as ``module`` windows it: window−1 ``add`` and one divide per output."""
    out_hw = tuple(y.shape[-2:])
    adds, shifts, muls, _ = pool_windows(module, tuple(x.shape[-2:]), out_hw)
    maps = y.numel() // (out_hw[0] * out_hw[1])
    return dict(kind="pool", add=adds * maps, shift=shifts * maps, mul=muls * maps, **_shape_facts(y, x.numel()))


@register_op_rule("avg_pool2d")
def avg_pool2d_op(args, kwargs, out):
    """Functional average pooling: window−1 ``add`` and one divide per output (exact windows)."""
    k = args[1]
    kernel = (k[0], k[0]) if len(k) == 1 else tuple(k)
    module = torch.nn.AvgPool2d(kernel, divisor_override=args[6] if len(args) > 6 else None)
    return _avgpool_events(module, args[0], _first(out))


@register_op_rule("_adaptive_avg_pool2d", "adaptive_avg_pool2d")
def adaptive_avg_pool2d_op(args, kwargs, out):
    """Functional adaptive average pooling: window−1 ``add`` and one divide per output (the windows
    torch's adaptive pooling uses)."""
    y = _first(out)
    return _avgpool_events(torch.nn.AdaptiveAvgPool2d(tuple(y.shape[-2:])), args[0], y)


@register_op_rule("max_pool2d_with_indices", "max_pool2d")
def max_pool2d_op(args, kwargs, out):
    """Functional max pooling: window−1 ``cmp`` per output."""
    x, y, k = args[0], _first(out), args[1]
    cmp = (math.prod(k) if len(k) > 1 else k[0] ** 2) * y.numel() - y.numel()
    return dict(kind="pool", cmp=cmp, **_shape_facts(y, x.numel()))


@register_op_rule("adaptive_max_pool2d")
def adaptive_max_pool2d_op(args, kwargs, out):
    """Functional adaptive max pooling: window−1 ``cmp`` per output (adaptive windows)."""
    x, y = args[0], _first(out)
    out_hw = tuple(y.shape[-2:])
    per_map = pool_windows(torch.nn.AdaptiveAvgPool2d(out_hw), tuple(x.shape[-2:]), out_hw)[0]
    return dict(kind="pool", cmp=per_map * (y.numel() // (out_hw[0] * out_hw[1])), **_shape_facts(y, x.numel()))


@register_op_rule("native_batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit")
def batchnorm_op(args, kwargs, out):
    """Batch norm at inference, y = a·x + b: one ``mul`` and one ``add`` per element."""
    y = _first(out)
    return dict(kind="norm", mul=y.numel(), add=y.numel(), **_shape_facts(y, y.numel()))
