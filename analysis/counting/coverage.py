"""What the hook engine can vouch for without the operator pass.

Module rules see modules; the operator pass sees the arithmetic written in a ``forward``. With the
operator pass off (``count_events(operators=False)``), a container whose ``forward`` computes
something itself (``out += identity``, ``F.scaled_dot_product_attention(q, k, v)``) would read as
zero: :func:`forward_is_structure` tells the containers that only call their children (so nothing
is missed) from those that may compute, which the engine then lists as unsupported when they run.
"""

from __future__ import annotations

import operator

from torch import fx, nn

__all__ = ["STRUCTURE_PACKAGES", "calls_children_only", "forward_is_structure", "is_empty_container"]

#: Packages whose containers only compose their children (their arithmetic is in modules with
#: rules: ``ResidualAdd``, ``Concat``, ...; a ``SpikingNetwork``'s own work is counted by the engine).
STRUCTURE_PACKAGES: tuple[str, ...] = ("analysis.",)
_STRUCTURE_NODES = frozenset({"placeholder", "output", "call_module", "get_attr"})


def is_empty_container(module: nn.Module) -> bool:
    """An ``nn.Sequential`` with no layers: it returns its input (torchvision's ShuffleNetV2 has 13)."""
    return isinstance(module, nn.Sequential) and len(module) == 0


def forward_is_structure(module: nn.Module) -> bool:
    """Whether ``module``'s own ``forward`` only calls its children: ``nn.Sequential``, a container
    of this project, or a ``GraphModule`` whose graph holds module calls only."""
    cls = type(module)
    if cls.forward is nn.Sequential.forward or cls.__module__.startswith(STRUCTURE_PACKAGES):
        return True
    if isinstance(module, fx.GraphModule):
        return all(node.op in _STRUCTURE_NODES or (node.op == "call_function" and node.target is operator.getitem)
                   for node in module.graph.nodes)
    return False


def calls_children_only(module: nn.Module) -> bool:
    """Whether ``module``'s ``forward`` is ``nn.Sequential``'s, which runs no operator of its own: such
    a container needs no operator pass while it runs (its children are counted by their own rules and
    frames). A ``GraphModule`` is not trusted here, since its graph may be edited between counts."""
    return type(module).forward is nn.Sequential.forward
