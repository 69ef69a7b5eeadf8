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
``layer1.0.relu_1``-style attribute names.

A model that cannot be traced gets a :class:`~analysis.snn.context.ConversionError` naming the
line of user code that stopped the trace and the ways out (``leaf_modules=`` plus
:func:`~analysis.snn.context.register_converter`).
"""

from __future__ import annotations

import copy
import inspect
import linecache
import operator
import os
import re
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import fx, nn

from analysis.snn.context import ConversionError, rule_for
from analysis.snn.modules import PSGLayer, ResidualAdd, ResidualBlock
from analysis.snn.network import SpikingNetwork
from analysis.snn.neurons import BinaryActivation, BinaryConv2d, BinaryLinear, PSGNeuron
from analysis.snn.ops import Concat, Mean, Reshape

__all__ = ["LAYER_NAME", "call_site_names", "explicit_graph", "layer_names_of", "source_line", "stamp_source_names",
           "trace", "tree_convertible"]

_TORCH_DIR = os.path.dirname(torch.__file__)
#: ``node.meta`` key of a call site's layer name (:func:`layer_names_of`) in an explicit graph.
LAYER_NAME = "layer_name"
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


# -- call-site names ---------------------------------------------------------------------------
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


# -- functional ops -> modules -----------------------------------------------------------------
def _is_tensor(node: object) -> bool:
    """Whether a traced value is a tensor (not a size, shape or other Python value)."""
    if not isinstance(node, fx.Node):
        return False
    if node.op in ("placeholder", "call_module", "get_attr"):
        return True
    if node.op == "call_method" and node.target in ("size", "dim", "numel", "__len__"):
        return False
    if node.op == "call_function" and node.target is getattr:
        return False
    if node.op == "call_function" and node.target is operator.getitem:
        return _is_tensor(node.args[0])
    return any(_is_tensor(a) for a in node.all_input_nodes)


def _is_batch_size(value: object) -> bool:
    """``x.size(0)``, ``x.size()[0]`` or ``x.shape[0]`` of a traced tensor."""
    if not isinstance(value, fx.Node):
        return False
    if value.op == "call_method" and value.target == "size":
        return (value.args[1:2] or (value.kwargs.get("dim"),))[0] == 0
    if value.op == "call_function" and value.target is operator.getitem and value.args[1] == 0:
        src = value.args[0]
        return isinstance(src, fx.Node) and (
            (src.op == "call_method" and src.target == "size" and len(src.args) == 1)
            or (src.op == "call_function" and src.target is getattr and src.args[1] == "shape")
        )
    return False


_DROPOUT = {F.dropout: nn.Dropout, F.dropout1d: nn.Dropout1d, F.dropout2d: nn.Dropout2d,
            F.dropout3d: nn.Dropout3d, F.alpha_dropout: nn.AlphaDropout,
            F.feature_alpha_dropout: nn.FeatureAlphaDropout}


def _as_module(node: fx.Node) -> tuple[nn.Module, list[fx.Node]] | None:
    """The module that computes a functional call node, and the tensors it takes; None if unknown."""
    fn, args, kw = node.target, node.args, node.kwargs

    def arg(i: int, name: str, default: object = None) -> object:
        return args[i] if len(args) > i else kw.get(name, default)

    def const(*values: object) -> bool:
        return not any(isinstance(v, fx.Node) for v in values)

    is_fn = node.op == "call_function"
    if is_fn and fn in (torch.cat, torch.concat):
        tensors, dim = arg(0, "tensors"), arg(1, "dim", 0)
        if isinstance(tensors, list | tuple) and all(_is_tensor(t) for t in tensors) and const(dim) and dim != 0:
            return Concat(dim), list(tensors)
        return None
    x = arg(0, "input")
    if not _is_tensor(x):
        return None
    if (is_fn and fn in (F.relu, F.relu_, torch.relu, torch.relu_)) or (not is_fn and fn in ("relu", "relu_")):
        return nn.ReLU(), [x]
    if is_fn and fn is F.relu6:
        return nn.ReLU6(), [x]
    if is_fn and fn in (F.hardtanh, F.hardtanh_) and const(arg(1, "min_val"), arg(2, "max_val")):
        return nn.Hardtanh(arg(1, "min_val", -1.0), arg(2, "max_val", 1.0)), [x]
    if ((is_fn and fn in (torch.clamp, torch.clip, torch.clamp_min)) or (not is_fn and fn in (
            "clamp", "clip", "clamp_", "clip_", "clamp_min", "clamp_min_"))) and const(*args[1:], *kw.values()):
        low, high = arg(1, "min"), (None if "clamp_min" in str(getattr(fn, "__name__", fn)) else arg(2, "max"))
        if low == 0 and high is None:
            return nn.ReLU(), [x]  # clamp(x, min=0) is a ReLU
        if low == 0 and isinstance(high, int | float) and high > 0:
            return nn.Hardtanh(0.0, float(high)), [x]  # clamp(x, 0, a) is a ReLU clipped at a
        return None
    if ((is_fn and fn in (operator.add, operator.iadd, torch.add)) or (not is_fn and fn in ("add", "add_"))) and (
        len(args) == 2 and not kw and _is_tensor(args[1])
    ):
        return ResidualAdd(), [x, args[1]]
    if (is_fn and fn is torch.flatten) or (not is_fn and fn == "flatten"):
        start, end = arg(1, "start_dim", 0), arg(2, "end_dim", -1)
        return (nn.Flatten(start, end), [x]) if const(start, end) and start >= 1 else None
    if (not is_fn and fn in ("view", "reshape")) or (is_fn and fn is torch.reshape):
        shape = list(args[1:]) if not is_fn else list(arg(1, "shape", ()))
        if len(shape) == 1 and isinstance(shape[0], list | tuple):
            shape = list(shape[0])
        if shape and (shape[0] == -1 or _is_batch_size(shape[0])) and all(isinstance(s, int) for s in shape[1:]):
            return Reshape(shape[1:]), [x]
        return None
    if (not is_fn and fn == "mean") or (is_fn and fn is torch.mean):
        dim, keepdim = arg(1, "dim"), arg(2, "keepdim", False)
        dims = (dim,) if isinstance(dim, int) else dim
        per_sample = isinstance(dims, list | tuple) and dims and all(isinstance(d, int) and d != 0 for d in dims)
        if per_sample and const(keepdim):
            return Mean(dims, keepdim), [x]
        return None
    if not is_fn or not const(*args[1:], *kw.values()):
        return None
    if fn is F.adaptive_avg_pool2d:
        return nn.AdaptiveAvgPool2d(arg(1, "output_size")), [x]
    if fn is F.avg_pool2d:
        return nn.AvgPool2d(arg(1, "kernel_size"), arg(2, "stride"), arg(3, "padding", 0), arg(4, "ceil_mode", False),
                            arg(5, "count_include_pad", True), arg(6, "divisor_override")), [x]
    if fn is F.max_pool2d:
        return nn.MaxPool2d(arg(1, "kernel_size"), arg(2, "stride"), arg(3, "padding", 0), arg(4, "dilation", 1),
                            arg(5, "ceil_mode", False)), [x]
    if fn is F.adaptive_max_pool2d:
        return nn.AdaptiveMaxPool2d(arg(1, "output_size")), [x]
    if fn in _DROPOUT:
        return _DROPOUT[fn](arg(1, "p", 0.5)), [x]
    return None


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
            made = _as_module(node)
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
