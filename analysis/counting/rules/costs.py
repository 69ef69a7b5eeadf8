"""What elementwise activations, normalisations and softmax cost, in the ledger's event kinds.

The ledger (``energy_models.ledger``) counts ``add``, ``mul``, ``shift``, ``cmp``, ... but has no
event for an exponential, a division or a square root, and no hardware model prices one. Hardware
computes them from multiplies and adds, so each is counted as the operations that compute it
(:data:`PRIMITIVES`, the stated mapping). Each activation or normalisation is first written as
these operations (:data:`ACTIVATIONS`, :func:`norm_ops`), then turned into ledger events
(:func:`as_events`). The decompositions are assumptions of this toolkit, stated here so that a
table can price them differently: change a row and every count follows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

__all__ = ["ACTIVATIONS", "PRIMITIVES", "as_events", "norm_ops", "softmax_ops"]

#: Operations the ledger has no event for, as the ledger events that compute them (per operation).
PRIMITIVES: dict[str, dict[str, int]] = {
    # exp(x) = 2^(x·log2 e): 1 mul (x·log2 e); 2^frac by a cubic in Horner form (3 mul + 3 add);
    # 2^int applied to the exponent field (1 shift)
    "exp": {"mul": 4, "add": 3, "shift": 1},
    # a/b = a·(1/b) with 1/b by two Newton–Raphson steps y <- y·(2 − b·y) from a seed (each 2 mul +
    # 1 add; the seed's table lookup is not counted), then 1 mul
    "div": {"mul": 5, "add": 2},
    # 1/sqrt(v) by two Newton–Raphson steps y <- y·(1.5 − 0.5·v·y²) from a seed (each 3 mul + 1 add
    # + 1 shift for the ·0.5)
    "rsqrt": {"mul": 6, "add": 2, "shift": 2},
}

#: Per-element operations of each activation (ledger events and :data:`PRIMITIVES`).
ACTIVATIONS: dict[str, dict[str, int]] = {
    # 1 / (1 + exp(−x)); the negation flips a sign bit (free)
    "sigmoid": {"exp": 1, "add": 1, "div": 1},
    # x · sigmoid(x)
    "silu": {"exp": 1, "add": 1, "div": 1, "mul": 1},
    # 2·sigmoid(2x) − 1: the two ·2 are shifts
    "tanh": {"exp": 1, "add": 2, "div": 1, "shift": 2},
    # torch's exact GELU is x·Φ(x) (erf); counted as its tanh form, the one hardware computes:
    # 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))): x², x³, ·0.044715, ·√(2/π), ·x (5 mul), + x and
    # 1 + t (2 add), ·0.5 (1 shift), and the tanh above
    "gelu": {"mul": 5, "add": 4, "shift": 3, "exp": 1, "div": 1},
    # x · relu6(x + 3) / 6: +3 (1 add), the clip (2 cmp), ·x and ·(1/6) (2 mul)
    "hardswish": {"add": 1, "cmp": 2, "mul": 2},
    # relu6(x + 3) / 6
    "hardsigmoid": {"add": 1, "cmp": 2, "mul": 1},
    # x if x > 0 else a·x: the sign test and the product (computed for every element, then selected)
    "leaky_relu": {"cmp": 1, "mul": 1},
    # x if x > 0 else a·(exp(x) − 1)
    "elu": {"cmp": 1, "exp": 1, "add": 1, "mul": 1},
}


def norm_ops(groups: int, size: int, affine: bool, bias: bool, centred: bool = True) -> dict[str, int]:
    """Operations of normalising ``groups`` groups of ``size`` elements (LayerNorm, GroupNorm,
    InstanceNorm; ``centred=False``: RMSNorm), per group: the mean (size − 1 add, 1 mul by 1/size),
    x − mean (size add), the mean of squares (size mul, size − 1 add, 1 mul), + eps (1 add), one
    rsqrt, the scaling (size mul); with ``affine`` the weight (size mul) and ``bias`` (size add)."""
    n = size
    # the mean of squares, + eps, the rsqrt and the scaling, which RMSNorm shares
    ops = Counter({"add": (n - 1) + 1, "mul": n + 1 + n, "rsqrt": 1})
    if centred:  # the mean and x − mean
        ops.update({"add": (n - 1) + n, "mul": 1})
    if affine:
        ops.update({"mul": n})
    if bias:
        ops.update({"add": n})
    return {k: v * groups for k, v in ops.items()}


def softmax_ops(scores: int) -> dict[str, int]:
    """Softmax over ``scores`` values: a running max (1 cmp), x − max (1 add), exp, the sum (1 add)
    and the normalisation (1 mul by the reciprocal of the sum; the one division per row is not
    counted), per value."""
    return {"cmp": scores, "add": 2 * scores, "mul": scores, "exp": scores}


def as_events(ops: Mapping[str, float], count: float = 1) -> dict[str, float]:
    """``ops`` (per unit) times ``count``, with every :data:`PRIMITIVES` operation replaced by the
    ledger events that compute it: ``{"add": ..., "mul": ..., "shift": ..., "cmp": ...}``."""
    events: Counter = Counter()
    for op, times in ops.items():
        for event, each in PRIMITIVES.get(op, {op: 1}).items():
            events[event] += each * times * count
    return dict(events)
