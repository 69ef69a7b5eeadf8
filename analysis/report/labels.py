"""How the report names and colours a method: its display label with its step count
(``IF(T=4)``, ``OneSpike(G=4)``), a results row's network (``QCFS(L=2)``) and its colour, all read from
the method registry (a method the registry does not know keeps its name and a neutral colour)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.methods import METHODS, get_method
from analysis.palette import NEUTRAL

__all__ = ["configuration_label", "method_color", "method_label"]


def method_label(method: str, steps: Any = None) -> str:
    """``IF(T=4)``, ``OneSpike(G=4)``, ``QCFS``: the registry's display name (the name itself for a
    method the registry does not know)."""
    if method not in METHODS:
        return str(method)
    spec = get_method(method)
    return spec.display(int(steps) if spec.stepped and steps is not None else None)


def configuration_label(row: pd.Series) -> str:
    """A results row's network: ``IF(T=4)``, ``OneSpike(G=4)``, ``QCFS(L=2)``, ``ANN``."""
    method = str(row["method"])
    label = method_label(method, row.get("T"))
    if method in METHODS and get_method(method).quantized and "levels" in row.index:
        label += f"(L={int(row['levels'])})"
    return label


def method_color(method: str) -> str:
    return get_method(method).color if method in METHODS else NEUTRAL
