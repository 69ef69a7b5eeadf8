"""Horowitz's 45 nm arithmetic energies (ISSCC 2014) as curves of the operand width.

One place for the width-scaled integer energies that :mod:`energy_models.flops45nm` prices with and
that :mod:`energy_models.yan2024` borrows for its multiplier/adder ratio:

- ``int_mult_pj(w x a)``: an integer multiply of a w-bit by an a-bit operand, linear in the product
  w x a through (0, 0), (8 x 8 = 64, INT8 mult), (32 x 32 = 1024, INT32 mult) (an array multiplier
  has w x a partial-product cells; the two anchors agree with this to 3%);
- ``int_add_pj(n)``: an n-bit integer add, linear through (0, 0), (8, INT8 add), (16, INT16 add),
  (32, INT32 add) (a ripple adder is n full adders);
- ``mult_pj(w, a)``: ``int_mult_pj(w x a)``, or the FP32 multiply when both operands are 32-bit or
  wider (a float layer).

The anchors are the constants of a table (``energy_models/tables/flops45nm.toml`` by default), read
once when the :class:`Horowitz` is made.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

from energy_models.layer_facts import FLOAT_BITS
from energy_models.table import EnergyTable, builtin_table

#: Constants a :class:`Horowitz` reads from its table.
HOROWITZ_KEYS: tuple[str, ...] = ("int8_mult", "int32_mult", "int8_add", "int16_add", "int32_add", "fp32_mult",
                                  "fp32_add")


def piecewise(x: float, points: list[tuple[float, float]]) -> float:
    """Linear interpolation through ``points`` (sorted by x, starting at (0, 0)); the last segment's
    slope beyond the last point."""
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    (x0, y0), (x1, y1) = points[-2], points[-1]
    return y1 + (y1 - y0) * (x - x1) / (x1 - x0)


@dataclass(frozen=True)
class Horowitz:
    """The anchors of Horowitz's table in pJ, and the curves through them."""

    int8_mult: float
    int32_mult: float
    int8_add: float
    int16_add: float
    int32_add: float
    fp32_mult: float
    fp32_add: float

    @classmethod
    def from_table(cls, table: EnergyTable) -> Horowitz:
        return cls(**{key: table.pj(key) for key in HOROWITZ_KEYS})

    def int_mult_pj(self, width_product: float) -> float:
        """An integer multiply whose operand widths multiply to ``width_product`` bits^2."""
        return piecewise(width_product, [(0, 0.0), (64, self.int8_mult), (1024, self.int32_mult)])

    def int_add_pj(self, width: float) -> float:
        """An integer add of ``width`` bits."""
        return piecewise(width, [(0, 0.0), (8, self.int8_add), (16, self.int16_add), (32, self.int32_add)])

    def mult_pj(self, weight_bits: float, act_bits: float) -> float:
        """A multiply of a ``weight_bits`` by an ``act_bits`` operand (FP32 when both are 32-bit or wider)."""
        if weight_bits >= FLOAT_BITS and act_bits >= FLOAT_BITS:
            return self.fp32_mult
        return self.int_mult_pj(weight_bits * act_bits)


    def mult_factor(self, weight_bits: float, act_bits: float, ref_weight_bits: float, ref_act_bits: float) -> float:
        """How much a multiply of the widths that ran costs relative to a model's own integer
        multiplier of the reference widths: the width scaling of a model whose table gives one
        multiplier (FP32 when both operands are 32-bit or wider, :meth:`mult_pj`)."""
        return self.mult_pj(weight_bits, act_bits) / self.int_mult_pj(ref_weight_bits * ref_act_bits)

    def add_factor(self, width: float, ref_width: float, floating: bool = False) -> float:
        """An add of ``width`` bits (the FP32 add where ``floating``) relative to the model's own
        integer adder of ``ref_width`` bits."""
        return (self.fp32_add if floating else self.int_add_pj(width)) / self.int_add_pj(ref_width)


@lru_cache(maxsize=1)
def horowitz_45nm() -> Horowitz:
    """The curves of the packaged Horowitz table (``flops45nm.toml``)."""
    return Horowitz.from_table(builtin_table("flops45nm"))
