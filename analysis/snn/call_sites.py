"""The names of a traced graph's call sites: the layer name every row of a ledger carries
(:func:`layer_names_of`: a module's path, its k-th call ``path#k``, a functional op ``scope/op``),
and the unique attribute name each call site's module gets in an explicit graph
(:func:`call_site_names`: ``layer1.0.relu_1``).
"""

from __future__ import annotations

from torch import fx

__all__ = ["LAYER_NAME", "call_site_names", "layer_names_of"]

#: ``node.meta`` key of a call site's layer name (:func:`layer_names_of`) in an explicit graph.
LAYER_NAME = "layer_name"


def _op_name(node: fx.Node) -> str:
    name = node.target if node.op == "call_method" else getattr(node.target, "__name__", str(node.target))
    name = str(name).strip("_")
    return {"iadd": "add", "concat": "cat"}.get(name, name)


def _scope(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack.values())[-1][0] if stack else ""


#: A functional op's word in its layer name: the aten operator it runs as in eager mode (what the
#: counter's operator pass sees), so a call site has one name whether it was counted as an operator
#: (the ANN) or as the module the converter made of it (the quantized and spiking forms).
_ATEN_WORD = {"iadd": "add", "concat": "cat", "clip": "clamp", "relu6": "hardtanh", "flatten": "view",
              "reshape": "view"}


def _op_word(node: fx.Node) -> str:
    word = _op_name(node)
    if word == "adaptive_avg_pool2d":  # a 1x1 output runs as a mean over the spatial axes
        size = node.args[1] if len(node.args) > 1 else node.kwargs.get("output_size")
        return "mean" if size in (1, (1, 1), [1, 1]) else word
    return _ATEN_WORD.get(word, word)


def layer_names_of(gm: fx.GraphModule) -> dict[fx.Node, str]:
    """The layer name of every call site (the ledger's ``name``, see
    :mod:`analysis.counting.naming`): a module's call is its path (its ``source_name`` where it
    has one), its k-th call ``path#k``; a functional op is ``scope/op`` (``scope``: the module whose
    forward calls it, ``""`` at the top; ``op``: the aten operator it runs as), its k-th call in that
    scope ``scope/op#k`` (``layer1.0/relu#2``, ``/add``)."""
    calls: dict[str, int] = {}
    names: dict[fx.Node, str] = {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            module = gm.get_submodule(node.target)
            base = module.__dict__.get("source_name", node.target)
        elif node.op in ("call_function", "call_method"):
            base = f"{_scope(node)}/{_op_word(node)}"
        else:
            continue
        k = calls[base] = calls.get(base, 0) + 1
        names[node] = base if k == 1 else f"{base}#{k}"
    return names


def call_site_names(gm: fx.GraphModule) -> dict[fx.Node, str]:
    """One unique name per call site: a module's first call keeps its path, later calls of the same
    module get ``path_1``, ``path_2``, ...; a functional op is named after its enclosing module's
    path and the op (``layer1.0.relu``), with a suffix when that name is taken."""
    taken = {name for name, _ in gm.named_modules() if name}
    called: set[str] = set()
    names: dict[fx.Node, str] = {}

    def fresh(base: str) -> str:
        k, name = 0, base
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        return name

    for node in gm.graph.nodes:
        if node.op == "call_module":
            names[node] = node.target if node.target not in called else fresh(node.target)
            called.add(node.target)
        elif node.op in ("call_function", "call_method"):
            scope = _scope(node)
            names[node] = fresh(f"{scope}.{_op_name(node)}" if scope else _op_name(node))
    return names
