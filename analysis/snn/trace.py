"""The graph-level view of a user's model (torch.fx), so that any network converts, not only
``nn.Sequential`` trees.

:func:`explicit_graph` traces the model and makes every activation *call site*, residual add and
shape operation a module node of its own: a functional ``F.relu``/``torch.relu``/``x.relu()``
becomes an ``nn.ReLU``, a second call of a reused ``self.relu`` a copy of it under its own name
(``layer1.0.relu_1``), ``a + b``/``a += b``/``torch.add`` of two tensors a
:class:`~analysis.snn.modules.ResidualAdd`, ``torch.cat`` a :class:`~analysis.snn.ops.Concat`,
``x.clamp(0)``/``x.clamp(0, a)`` an ``nn.ReLU``/``nn.Hardtanh(0, a)``,
``flatten``/``view(x.size(0), -1)`` an ``nn.Flatten``/:class:`~analysis.snn.ops.Reshape`,
``mean`` over per-sample axes a :class:`~analysis.snn.ops.Mean`, functional pooling and dropout
their modules. Forward hooks (the counter) and the converters (:mod:`analysis.snn.graph`) then see
them all. Every module of the result carries ``source_name``, the call site's layer name
(:func:`layer_names_of`): the user's module path (``layer1.0.relu``, its second call
``layer1.0.relu#2``), or for a functional op its enclosing module's path and the op
(``layer1.0/add``, ``/relu#2``). Module paths in the graph (its state dict's keys) stay
``layer1.0.relu_1``-style attribute names. Which module computes a functional call is
:func:`analysis.snn.ops.module_for_call`; the call sites' names are :mod:`analysis.snn.call_sites`
(re-exported here).

A model that cannot be traced gets a :class:`~analysis.snn.context.ConversionError` naming the
line of user code that stopped the trace and the ways out (``leaf_modules=`` plus
:func:`~analysis.snn.context.register_converter`).
"""

from __future__ import annotations

import copy
import inspect
import linecache
import os
import re
from collections.abc import Iterable

import torch
from torch import fx, nn

from analysis.snn.call_sites import LAYER_NAME, call_site_names, layer_names_of
from analysis.snn.context import ConversionError, rule_for
from analysis.snn.modules import PSGLayer, ResidualAdd, ResidualBlock
from analysis.snn.network import SpikingNetwork
from analysis.snn.neurons import BinaryActivation, BinaryConv2d, BinaryLinear, PSGNeuron
from analysis.snn.ops import Concat, module_for_call

__all__ = ["LAYER_NAME", "call_site_names", "explicit_graph", "layer_names_of", "source_line", "stamp_source_names",
           "trace", "tree_convertible"]

_TORCH_DIR = os.path.dirname(torch.__file__)
_SNN_DIR = os.path.dirname(__file__)


def _has_rule(module: nn.Module) -> bool:
    """A conversion rule applies (a subclass that overrides its base's forward has none: it is
    traced into, so its own operations are seen)."""
    if isinstance(module, nn.Sequential | SpikingNetwork):
        return False
    try:
        return rule_for(module) is not None
    except ConversionError:
        return False


#: Modules of converted networks without a conversion rule of their own, kept as one node.
_PROJECT_LEAVES = (ResidualAdd, Concat, PSGLayer, PSGNeuron, BinaryActivation, BinaryConv2d, BinaryLinear)


class _Tracer(fx.Tracer):
    """Traces through containers and residual blocks; stops at torch.nn layers, at modules that
    have a conversion rule or a ``to_spiking`` method, and at the user's ``leaf_modules`` types."""

    def __init__(self, leaf_modules: tuple[type, ...]):
        super().__init__()
        self.leaf_types = leaf_modules

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if self.leaf_types and isinstance(m, self.leaf_types):
            return True
        if isinstance(m, nn.Sequential | fx.GraphModule | ResidualBlock | SpikingNetwork):
            return False
        if isinstance(m, _PROJECT_LEAVES) or hasattr(m, "to_spiking") or _has_rule(m):
            return True
        return super().is_leaf_module(m, module_qualified_name)


def _check_leaf_modules(leaf_modules: Iterable[type]) -> tuple[type, ...]:
    leaves = tuple(leaf_modules)
    bad = [t for t in leaves if not (isinstance(t, type) and issubclass(t, nn.Module))]
    if bad:
        raise TypeError(f"leaf_modules must be nn.Module subclasses (types, not instances); got {bad!r}")
    return leaves


def _trace_error(model: nn.Module, exc: BaseException) -> ConversionError:
    """The error for a failed trace: the deepest frame of user code (outside torch and this package)."""
    tb, user = exc.__traceback__, None
    while tb is not None:
        name = os.path.abspath(tb.tb_frame.f_code.co_filename)
        if not (name.startswith(_TORCH_DIR) or name.startswith(_SNN_DIR) or name.startswith("<")):
            user = tb
        tb = tb.tb_next
    where, owner = "(no user code in the traceback)", "YourModule"
    if user is not None:
        code = user.tb_frame.f_code
        line = linecache.getline(code.co_filename, user.tb_lineno).strip()
        where = f"{code.co_filename}:{user.tb_lineno} in {code.co_name}(): {line}"
        owner_obj = user.tb_frame.f_locals.get("self")
        if isinstance(owner_obj, nn.Module):
            owner = type(owner_obj).__name__
    reason = " ".join(str(exc).split())
    return ConversionError(
        f"cannot trace {type(model).__name__} with torch.fx ({type(exc).__name__}: {reason}); "
        f"the trace stopped at {where}; "
        f"ways out: treat {owner} as one layer: pass leaf_modules=({owner},) to to_quantized / to_if_snn / "
        f"to_onespike and register a conversion rule for it with "
        f"analysis.snn.register_converter({owner}) (or give it a to_spiking(ctx, convert) method); "
        "or write its forward without Python control flow on tensor values"
    )


_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)\n\s*(?P<code>[^\n]*)')


def source_line(node: fx.Node) -> str | None:
    """``file:line in func(): code`` of the user's code that made ``node`` (the deepest frame of
    its recorded stack outside torch and this package), or None when none was recorded."""
    stack = node.meta.get("stack_trace") or getattr(node, "stack_trace", None) or ""
    user = None
    for match in _FRAME.finditer(stack):
        name = os.path.abspath(match["file"])
        if not (name.startswith(_TORCH_DIR) or name.startswith(_SNN_DIR) or match["file"].startswith("<")):
            user = match
    if user is None:
        return None
    return f"{user['file']}:{user['line']} in {user['func']}(): {user['code'].strip()}"


def trace(model: nn.Module, leaf_modules: Iterable[type] = ()) -> fx.GraphModule:
    """``torch.fx`` trace of ``model`` (not copied); a clear :class:`ConversionError` if it fails."""
    tracer = _Tracer(_check_leaf_modules(leaf_modules))
    tracer.record_stack_traces = True  # errors about a node then quote the user's line that made it
    # arguments after the input that have defaults (flags such as return_features=False) are fixed
    params = list(inspect.signature(model.forward).parameters.values())[1:]
    fixed = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
    try:
        graph = tracer.trace(model, concrete_args=fixed or None)
    except ConversionError:
        raise
    except Exception as exc:  # fx raises TraceError, TypeError, NotImplementedError, ... from user code
        raise _trace_error(model, exc) from exc
    if isinstance(model, fx.GraphModule):
        _keep_stack_traces(model.graph, graph)
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


_ASSIGNED = re.compile(r"^\s*(\w+)\s*=")


def _keep_stack_traces(original: fx.Graph, retraced: fx.Graph) -> None:
    """A retraced GraphModule records frames of its generated code (``<eval_with_key>``); give each
    node the user's stack of the original node whose generated line made it (``name = ...``)."""
    stacks = {n.name: n.meta["stack_trace"] for n in original.nodes if n.meta.get("stack_trace")}
    for node in retraced.nodes:
        generated = [m for m in _FRAME.finditer(node.meta.get("stack_trace") or "") if m["file"].startswith("<")]
        assigned = _ASSIGNED.match(generated[-1]["code"]) if generated else None
        if assigned and assigned[1] in stacks:
            node.meta["stack_trace"] = stacks[assigned[1]]


def _stateless(module: nn.Module) -> bool:
    return next(module.parameters(), None) is None and next(module.buffers(), None) is None


def stamp_source_names(model: nn.Module) -> nn.Module:
    """Give every module without a ``source_name`` its path in ``model`` (in place; the root's is
    ``""``, the whole model)."""
    for name, m in model.named_modules():
        if "source_name" not in m.__dict__:
            m.source_name = name
    return model


def explicit_graph(model: nn.Module, leaf_modules: Iterable[type] = ()) -> fx.GraphModule:
    """A traced copy of ``model`` (same weights, same outputs) in which every activation call
    site, residual add and shape/pooling op is a module node of its own (see the module docstring).
    ``leaf_modules``: module types kept as one node (not traced into). Arguments of ``forward``
    after the input that have defaults (``return_features=False``) are fixed at their defaults: the
    graph takes the input tensor only."""
    if isinstance(model, SpikingNetwork):
        raise TypeError("explicit_graph takes an ANN or quantized ANN, not a converted SpikingNetwork")
    gm = trace(copy.deepcopy(model), leaf_modules)
    names, layers = call_site_names(gm), layer_names_of(gm)
    for node in list(gm.graph.nodes):
        site = names.get(node)
        if node in layers:  # the converter names what it makes of this call by it
            node.meta[LAYER_NAME] = layers[node]
        if node.op == "call_module" and site != node.target:  # a later call of a reused module
            module = gm.get_submodule(node.target)
            if _stateless(module):  # weights stay shared; a stateless layer gets its own copy
                clone = copy.deepcopy(module)
                clone.source_name = layers[node]
                gm.add_submodule(site, clone)
                node.target = site
        elif node.op in ("call_function", "call_method"):
            made = module_for_call(node)
            if made is None:
                continue
            module, inputs = made
            module.source_name = layers[node]
            gm.add_submodule(site, module)
            with gm.graph.inserting_before(node):
                new = gm.graph.call_module(site, tuple(inputs))
            new.meta = dict(node.meta)
            node.replace_all_uses_with(new)
            gm.graph.erase_node(node)
    for node in list(gm.graph.nodes):  # fx's checks that fixed flag arguments keep their defaults
        if node.op == "call_function" and node.target is torch._assert:
            gm.graph.erase_node(node)
    gm.graph.eliminate_dead_code()
    for node in [n for n in gm.graph.nodes if n.op == "placeholder"][1:]:
        if not node.users:  # a flag argument fixed at its default: the graph takes the input only
            gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    gm.delete_all_unused_submodules()
    return stamp_source_names(gm).train(model.training)


# -- which converter a model needs -------------------------------------------------------------
def tree_convertible(model: nn.Module) -> bool:
    """Whether the module-tree converter handles ``model`` exactly: a tree of plain
    ``nn.Sequential`` / :class:`ResidualBlock` containers (forward not overridden) whose leaves
    have conversion rules or ``to_spiking``, or are ReLU/ReLU6/Hardtanh, with no module used twice.
    Anything else (a custom ``forward``, a reused activation) goes through the graph converter."""
    listed = [m for _, m in model.named_modules(remove_duplicate=False)]
    if len({id(m) for m in listed}) != len(listed):
        return False

    def ok(m: nn.Module) -> bool:
        if isinstance(m, SpikingNetwork):
            return ok(m.body)
        if isinstance(m, nn.Sequential):
            return type(m).forward is nn.Sequential.forward and all(ok(c) for c in m.children())
        if isinstance(m, ResidualBlock):
            return type(m).forward is ResidualBlock.forward and all(ok(c) for c in m.children())
        return (hasattr(m, "to_spiking") or _has_rule(m) or isinstance(m, ResidualAdd)
                or type(m) in (nn.ReLU, nn.ReLU6, nn.Hardtanh))

    return ok(model)
