"""Operator rules for the functional forms of the elementwise activations and normalisations
(``F.silu``, ``torch.sigmoid``, ``F.gelu``, ``F.layer_norm``, ``F.group_norm``, ...) and the
elementwise math they are written with (``exp``, ``rsqrt``, ``sqrt``, ``reciprocal``, ``x ** 2``),
counted by the same decompositions as their modules (:mod:`analysis.counting.rules.costs`).

Imported by :mod:`analysis.counting` after the operator pass (it registers into
``analysis.counting.ops.OP_RULES``).
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from analysis.counting.ops import register_op_rule
from analysis.counting.rules.costs import ACTIVATIONS, as_events, norm_ops

__all__ = ["MATH", "activation_op", "group_norm_op", "layer_norm_op", "math_op", "pow_op"]

#: Elementwise math by aten op name: the operations of one output element.
MATH: dict[str, dict[str, int]] = {
    "exp": {"exp": 1},
    "rsqrt": {"rsqrt": 1},
    "sqrt": {"rsqrt": 1, "mul": 1},  # sqrt(v) = v · (1/sqrt(v))
    "reciprocal": {"div": 1},
}


def _facts(kind: str, out: Tensor, reads: int) -> dict[str, Any]:
    per_sample = tuple(out.shape[1:]) if out.dim() > 0 else ()
    return dict(kind=kind, out_shape=per_sample, neurons=math.prod(per_sample), input_reads=reads,
                output_writes=out.numel())


def activation_op(name: str):
    """The operator rule of a functional activation (``F.silu``, ``torch.sigmoid``, ``F.gelu``, ...):
    its row ``name`` of ``costs.ACTIVATIONS`` per element, as for the module."""

    def rule(args, kwargs, out):
        n = out.numel()
        return dict(as_events(ACTIVATIONS[name], n), output_nonzero=int(out.count_nonzero()), output_elements=n,
                    **_facts("neuron", out, n))

    rule.__doc__ = f"aten.{name}: {ACTIVATIONS[name]} per element (costs.ACTIVATIONS)."
    return rule


def math_op(name: str):
    """The operator rule of elementwise ``exp`` / ``rsqrt`` / ``sqrt`` / ``reciprocal``: ``MATH``'s
    operations per element."""

    def rule(args, kwargs, out):
        n = out.numel()
        return dict(as_events(MATH[name], n), **_facts("other", out, n))

    rule.__doc__ = f"aten.{name}: {MATH[name]} per element."
    return rule


for _name in ACTIVATIONS:
    register_op_rule(_name)(activation_op(_name))
for _name in MATH:
    register_op_rule(_name)(math_op(_name))


@register_op_rule("pow")
def pow_op(args, kwargs, out):
    """``x ** k`` for a small integer ``k`` (2, 3, 4): k − 1 ``mul`` per element; any other exponent
    is not counted (returns None: listed as unsupported)."""
    exponent = args[1] if len(args) > 1 else kwargs.get("exponent")
    if isinstance(exponent, Tensor) or not isinstance(exponent, int | float) or exponent not in (1, 2, 3, 4):
        return None
    n = out.numel()
    return dict(mul=(int(exponent) - 1) * n, **_facts("other", out, n))


@register_op_rule("native_layer_norm")
def layer_norm_op(args, kwargs, out):
    """``F.layer_norm`` over the last dims (``normalized_shape``): ``costs.norm_ops`` per group."""
    x, shape, weight, bias = args[0], args[1], args[2] if len(args) > 2 else None, args[3] if len(args) > 3 else None
    size = math.prod(shape)
    y = out[0]
    ops = norm_ops(x.numel() // max(size, 1), size, weight is not None, bias is not None)
    return dict(as_events(ops), **_facts("norm", y, x.numel()))


@register_op_rule("native_group_norm")
def group_norm_op(args, kwargs, out):
    """``F.group_norm``: N·G groups of C/G·HxW elements, ``costs.norm_ops`` each."""
    x, weight, bias, n, c, hw, groups = args[:7]
    size = (c // groups) * hw
    ops = norm_ops(n * groups, size, weight is not None, bias is not None)
    return dict(as_events(ops), **_facts("norm", out[0], x.numel()))
