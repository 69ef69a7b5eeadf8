"""ZigZag-backed hardware models (``zigzag:<template>``, ``zigzag:path/to/accelerator.yaml``).

ZigZag (KU Leuven, ``zigzag-dse``) maps each conv/linear layer's loop nest onto an accelerator
template's memory hierarchy and PE array and returns energy per memory level and operand, and
latency in cycles. :mod:`energy_models.zigzag.mapping` composes its stages into a lean pipeline (one
spatial mapping, a bounded temporal search, nothing written), :mod:`energy_models.zigzag.cache` keeps
one mapping per distinct (layer shape, precisions, template) in memory and in a run's cache folder,
and :mod:`energy_models.zigzag.model` prices a ledger with it (the rules it adds on top are in its
docstring). ZigZag is an optional extra (``pip install 'onespike-study[zigzag]'``): nothing here
imports it until a ``zigzag:`` model is built, and building one without it is a one-line error.
"""

from energy_models.zigzag.cache import MappingCache, clear_memory
from energy_models.zigzag.model import ZigZagModel, latency_cycles
from energy_models.zigzag.templates import (
    INSTALL_HINT,
    PREFIX,
    TEMPLATES,
    is_zigzag_name,
    resolve,
    template_names,
    zigzag_installed,
)

__all__ = ["INSTALL_HINT", "PREFIX", "TEMPLATES", "MappingCache", "ZigZagModel", "clear_memory", "is_zigzag_name",
           "latency_cycles", "resolve", "template_names", "zigzag_installed"]
