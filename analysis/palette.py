"""Every colour the toolkit draws with, in one place: one colour per method, one per hardware model and
one per energy component, the same in every figure, and all colour-blind safe.

Methods take the Okabe–Ito palette (M. Okabe and K. Ito, *Color Universal Design*, 2008: eight colours
distinguishable under protanopia, deuteranopia and tritanopia), the three directly trained variants the
extra colours of Paul Tol's "muted" scheme (P. Tol, *Colour Schemes*, SRON/EPS/TN/09-002, 2021). No
two methods that a figure compares form a red–green pair: the IF SNN is vermillion, OneSpike blue.

Hardware models take Tol's "muted" scheme by family (the k-th family of the built-in registry's
primaries the k-th hue of :data:`HARDWARE_HUES`); a family's other members take lighter and darker
shades of its hue, so a variant reads as its family and still differs from it. A model that is not
built in (a user's TOML table) takes a hue of :data:`EXTRA_HUES` chosen by its name, so it keeps its
colour from run to run.

    from analysis.palette import hardware_color, OKABE_ITO
    hardware_color("sata")            # '#CC6677'
"""

from __future__ import annotations

import zlib
from functools import cache

from energy_models.registry import family_members, model_family, model_names, primary_models

__all__ = [
    "COMPONENT_COLORS",
    "EXTRA_HUES",
    "EXTRA_METHOD_COLORS",
    "HARDWARE_HUES",
    "HARDWARE_MARKERS",
    "NEUTRAL",
    "OKABE_ITO",
    "SERIES",
    "TOL_MUTED",
    "hardware_color",
    "hardware_marker",
    "shade",
]

#: Okabe & Ito (2008), Color Universal Design, the eight-colour set.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

#: P. Tol (2021), Colour Schemes (SRON/EPS/TN/09-002), the "muted" qualitative scheme.
TOL_MUTED = {
    "indigo": "#332288",
    "cyan": "#88CCEE",
    "teal": "#44AA99",
    "green": "#117733",
    "olive": "#999933",
    "sand": "#DDCC77",
    "rose": "#CC6677",
    "wine": "#882255",
    "purple": "#AA4499",
}

#: Series that are neither methods nor models (architectures, layers): Okabe–Ito without yellow.
SERIES = tuple(v for k, v in OKABE_ITO.items() if k != "yellow")
#: Reference lines, "no data" marks and anything that is not a method or a model.
NEUTRAL = "#777777"

#: One hue per hardware family, in the order of the built-in registry's primary models: Tol's muted
#: hues that no method takes (so a legend holding both kinds never shows one colour twice).
HARDWARE_HUES = tuple(TOL_MUTED[k] for k in ("wine", "rose", "teal", "sand", "cyan", "purple", "olive"))
#: One marker per hardware family (same order): in a figure that shows methods and models together,
#: the marker tells a model's line from a method's.
HARDWARE_MARKERS = ("s", "D", "^", "v", "P", "X", "h")
#: Hues of models that are not built in, picked by a checksum of the name.
EXTRA_HUES = (TOL_MUTED["green"], "#BBBBBB")
#: The method colours beyond Okabe–Ito's eight (analysis.methods gives each method its colour): the INT8
#: ANN's dark grey, and darker shades (``shade(c, -0.45)``) of orange and reddish purple for the directly
#: trained LIF SNN and its OneSpike form, beside the directly trained IF SNN's and its form's.
EXTRA_METHOD_COLORS = {
    "dark_grey": "#555555",
    "dark_orange": "#7E5700",
    "dark_reddish_purple": "#70435C",
}

#: Energy components (stacked bars): Okabe–Ito, no red–green neighbours.
COMPONENT_COLORS = {
    "compute": OKABE_ITO["blue"],
    "weight_memory": OKABE_ITO["orange"],
    "activation_memory": OKABE_ITO["sky_blue"],
    "membrane_memory": OKABE_ITO["vermillion"],
    "neuron": OKABE_ITO["bluish_green"],
    "interconnect": OKABE_ITO["yellow"],
    "dram": OKABE_ITO["black"],
}

#: How a family's k-th non-primary member shades its hue: (+) towards white, (-) towards black.
_SHADES = (0.0, 0.45, -0.35, 0.7, -0.55)


def shade(color: str, amount: float) -> str:
    """``color`` (``#RRGGBB``) mixed towards white (``amount`` > 0) or black (< 0) by ``|amount|``."""
    if not (isinstance(color, str) and len(color) == 7 and color.startswith("#")):
        raise ValueError(f"shade: colour {color!r} is not '#RRGGBB'")
    if not -1.0 <= amount <= 1.0:
        raise ValueError(f"shade: amount {amount} is outside [-1, 1]")
    channels = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    target = 255 if amount > 0 else 0
    mixed = [round(c + (target - c) * abs(amount)) for c in channels]
    return "#" + "".join(f"{c:02X}" for c in mixed)


@cache
def _builtin_colors() -> dict[str, str]:
    families = list(dict.fromkeys(model_family(name) for name in primary_models()))
    out = {}
    for name in model_names():
        family = model_family(name)
        if family not in families:
            continue
        hue = HARDWARE_HUES[families.index(family) % len(HARDWARE_HUES)]
        members = [m for m in family_members(family) if m in model_names()]
        rank = members.index(name) if name in members else 0
        out[name] = shade(hue, _SHADES[rank % len(_SHADES)])
    return out


@cache
def _builtin_markers() -> dict[str, str]:
    families = list(dict.fromkeys(model_family(name) for name in primary_models()))
    return {name: HARDWARE_MARKERS[families.index(model_family(name)) % len(HARDWARE_MARKERS)]
            for name in model_names() if model_family(name) in families}


def hardware_marker(name: str) -> str:
    """The marker of hardware model ``name`` (its family's; ``"o"`` for a model that is not built in)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"hardware_marker: a model name is a non-empty string, not {name!r}")
    return _builtin_markers().get(name, "o")


def hardware_color(name: str) -> str:
    """The colour of hardware model ``name`` in every figure (see the module docstring)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"hardware_color: a model name is a non-empty string, not {name!r}")
    known = _builtin_colors()
    if name in known:
        return known[name]
    return EXTRA_HUES[zlib.crc32(name.encode("utf-8")) % len(EXTRA_HUES)]
