"""Graph-level spiking conversion (torch.fx): any traceable quantized ANN (or IF SNN) -> IF SNN or
OneSpike, node by node in topological order.

The model is first made explicit (:func:`~analysis.snn.trace.explicit_graph`: every activation call
site, residual add, concat and shape op a module node) and its conv -> BatchNorm pairs are folded.
Then each node's output carries a :class:`~analysis.snn.context.ConversionContext` (stepped or
analog, the value of one spike θ, per-group spike values):

- a one-input module node converts by the same type rules as the module-tree converter
  (:func:`~analysis.snn.context.convert_module`): conv/linear fold θ into their weights (wrapped
  in ``Stepwise`` when stepped), QCFS/ClampQuant become IF/PSG neurons, pooling/flatten/reshape/mean
  run per step, dropout passes, max pooling is refused;
- at a :class:`~analysis.snn.modules.ResidualAdd`, as in ``ResidualBlock.to_spiking``: an input that
  carries spikes becomes the current θ·s (:class:`~analysis.snn.modules.ShortcutScale`), an analog
  input is repeated over the steps/groups (``RepeatSteps``/``RepeatGroups``), and the currents add;
- a :class:`~analysis.snn.ops.Concat` concatenates per step (inputs with different spike values are
  first turned into currents);
- the output must be stepped (logits are then averaged over the steps by the network's readout).

The result is ``Sequential(analog=..., spiking=...)`` of two ``GraphModule``: the analog prefix (the
layers before the first neuron, run once) and the stepped rest, so the streaming IF layout runs
the prefix once, as it does for module trees. Every module carries ``source_name`` (the call site).
"""

from __future__ import annotations

import operator
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import replace

from torch import fx, nn

from analysis.snn.call_sites import LAYER_NAME
from analysis.snn.context import ConversionContext, ConversionError, convert_module, fuse_conv_bn
from analysis.snn.modules import RepeatGroups, RepeatSteps, ResidualAdd, ShortcutScale
from analysis.snn.ops import Concat
from analysis.snn.rules import make_neuron  # noqa: F401  (registers the conversion rules convert_module uses)
from analysis.snn.trace import explicit_graph, source_line, stamp_source_names, tree_convertible
from analysis.snn.vocabulary import StepAxis

__all__ = ["convert_graph", "fold_batchnorm_graph", "use_graph"]

_SUPPORTED_OPS = (
    "F.relu / torch.relu / x.relu(), F.relu6, F.hardtanh(x, 0, a), x.clamp(0[, a]), + / += / torch.add of two tensors, "
    "torch.cat (not on the batch axis), torch.flatten(x, 1) / x.flatten(1), x.view / x.reshape (x.size(0) or -1, "
    "...), x.mean(non-batch dims), F.avg_pool2d, F.adaptive_avg_pool2d, F.dropout*"
)


def _set_submodule(gm: fx.GraphModule, target: str, module: nn.Module) -> None:
    parent, _, name = target.rpartition(".")
    setattr(gm.get_submodule(parent) if parent else gm, name, module)


def fold_batchnorm_graph(gm: fx.GraphModule) -> fx.GraphModule:
    """Fold every eval-mode BatchNorm whose only input is a conv/linear used once (and used only by
    it) into that layer, in place; returns ``gm``."""
    calls = Counter(n.target for n in gm.graph.nodes if n.op == "call_module")
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or calls[node.target] != 1 or len(node.users) != 1:
            continue
        layer, (user,) = gm.get_submodule(node.target), list(node.users)
        if not isinstance(layer, nn.Conv2d | nn.Linear) or user.op != "call_module" or calls[user.target] != 1:
            continue
        bn = gm.get_submodule(user.target)
        if isinstance(bn, nn.BatchNorm1d | nn.BatchNorm2d) and user.args == (node,) and not user.kwargs:
            _set_submodule(gm, node.target, fuse_conv_bn(layer, bn))
            user.replace_all_uses_with(node)
            gm.graph.erase_node(user)
    gm.graph.lint()
    gm.recompile()
    gm.delete_all_unused_submodules()
    return gm


def _describe(node: fx.Node) -> str:
    target = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
    scope = node.meta.get("nn_module_stack") or {}
    where = f" inside {list(scope.values())[-1][0]}" if scope else ""
    line = source_line(node)
    return f"{node.op} {target!r} (node {node.name}{where}" + (f", made at {line})" if line else ")")


class _GraphConverter:
    def __init__(self, gm: fx.GraphModule, ctx: ConversionContext):
        self.gm, self.ctx0 = gm, ctx
        self.graph = fx.Graph()
        self.modules: dict[str, nn.Module] = {}
        self.ctx: dict[fx.Node, ConversionContext] = {}
        self.taken: set[str] = set()

    def call(self, site: tuple[str, str], module: nn.Module, inputs: list[fx.Node], ctx: ConversionContext
             ) -> fx.Node:
        """``site``: (the module path to give it in the graph, its layer name)."""
        target, layer = site
        name, k = target, 0
        while name in self.taken:
            k += 1
            name = f"{target}_{k}"
        self.taken.add(name)
        for m in module.modules():
            m.source_name = layer
        self.modules[name] = module
        node = self.graph.call_module(name, tuple(inputs))
        self.ctx[node] = ctx
        return node

    def as_current(self, site: tuple[str, str], node: fx.Node) -> fx.Node:
        """Spikes (worth θ) -> the current θ·s, per step; a current is returned as it is."""
        ctx = self.ctx[node]
        if ctx.spike_scale is None:
            return node
        scale, ctx = ShortcutScale(1.0).to_spiking(ctx, None)
        return self.call(site, scale, [node], ctx)

    def repeat(self, site: tuple[str, str], node: fx.Node) -> fx.Node:
        """An analog value -> the same current at every step (IF) or in every group (OneSpike)."""
        ctx = self.ctx[node]
        module = RepeatSteps(ctx.steps) if ctx.axis is StepAxis.TIME else RepeatGroups(ctx.steps)
        return self.call(site, module, [node], replace(ctx, stepped=True))

    def join(self, site: tuple[str, str], inputs: list[fx.Node], keep_spikes: bool
             ) -> tuple[list[fx.Node], ConversionContext]:
        """Bring the inputs of an add/concat to one kind: all currents (or, with ``keep_spikes`` and
        identical spike values, the spikes as they are), all stepped if any is."""
        ctxs = [self.ctx[n] for n in inputs]
        same = all((c.stepped, c.spike_scale, c.step_scales) == (ctxs[0].stepped, ctxs[0].spike_scale,
                   ctxs[0].step_scales) for c in ctxs)
        if keep_spikes and same:
            return inputs, ctxs[0]
        inputs = [self.as_current(_part(site, f"current{i}"), n) for i, n in enumerate(inputs)]
        stepped = any(self.ctx[n].stepped for n in inputs)
        if stepped:
            inputs = [n if self.ctx[n].stepped else self.repeat(_part(site, f"repeat{i}"), n)
                      for i, n in enumerate(inputs)]
        return inputs, replace(ctxs[0], stepped=stepped, spike_scale=None, step_scales=None)

    def convert_call(self, node: fx.Node, env: dict[fx.Node, fx.Node]) -> fx.Node:
        module = self.gm.get_submodule(node.target)
        site = (node.target, node.meta.get(LAYER_NAME) or getattr(module, "source_name", node.target))
        if node.kwargs or not all(isinstance(a, fx.Node) for a in node.args):
            raise ConversionError(f"{site[1]} ({type(module).__name__}): conversion needs tensor inputs only; "
                                  f"got args {node.args} kwargs {dict(node.kwargs)}")
        inputs = [env[a] for a in node.args]
        if isinstance(module, ResidualAdd):
            if len(inputs) != 2:
                raise ConversionError(f"{site[1]}: ResidualAdd takes two tensors, got {len(inputs)}")
            inputs, ctx = self.join(site, inputs, keep_spikes=False)
            return self.call(site, ResidualAdd(), inputs, ctx)
        if isinstance(module, Concat):
            inputs, ctx = self.join(site, inputs, keep_spikes=True)
            return self.call(site, Concat(module.dim, stepped=ctx.stepped), inputs, ctx)
        if len(inputs) != 1:
            raise ConversionError(
                f"{site[1]} ({type(module).__name__}) takes {len(inputs)} tensors; conversion rules take one. "
                f"Register a rule with analysis.snn.register_converter({type(module).__name__}) for a one-input "
                "module, or express the op with supported ones"
            )
        try:
            new, ctx = convert_module(module, self.ctx[inputs[0]])
        except ConversionError as exc:
            raise ConversionError(f"layer {site[1]} ({type(module).__name__}): {exc}") from exc
        return self.call(site, new, inputs, ctx)

    def run(self) -> nn.Module:
        env: dict[fx.Node, fx.Node] = {}
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if any(n.op == "placeholder" for n in self.graph.nodes):
                    raise ConversionError(f"the model takes more than one input ({node.name}); conversion "
                                          "supports one input tensor")
                env[node] = self.graph.placeholder(node.name)
                self.ctx[env[node]] = self.ctx0
            elif node.op == "call_module":
                env[node] = self.convert_call(node, env)
            elif node.op == "output":
                out = node.args[0]
                if not isinstance(out, fx.Node) or out not in env:
                    raise ConversionError(f"the model must return one tensor (the logits); it returns {out!r}")
                result = env[out]
                if not self.ctx[result].stepped:
                    raise ConversionError(
                        "the model has no quantized activation (QCFS/ClampQuant) or IF neuron to convert; "
                        "call analysis.snn.to_quantized(ann, levels) first"
                    )
                self.graph.output(self.as_current(("output_current", "output.current"), result))
            else:
                raise ConversionError(
                    f"cannot convert {_describe(node)}: graph conversion handles module calls and {_SUPPORTED_OPS}. "
                    "Move the code into a module, pass leaf_modules=(YourModule,) and register a rule with "
                    "analysis.snn.register_converter(YourModule)"
                )
        self.graph.lint()
        return self.split()

    def split(self) -> nn.Module:
        """``Sequential(analog=prefix, spiking=rest)``, or one GraphModule if nothing is analog."""
        nodes = list(self.graph.nodes)
        stepped = {n: n.op == "output" or self.ctx[n].stepped for n in nodes}
        if all(stepped[n] for n in nodes if n.op != "placeholder") and any(
            stepped[n] for n in nodes if n.op == "placeholder"
        ):
            return fx.GraphModule(self.modules, self.graph, "SpikingGraph")
        boundary = [n for n in nodes if not stepped[n] and any(stepped[u] for u in n.users)]
        prefix, before = fx.Graph(), {}
        for n in nodes:
            if not stepped[n]:
                before[n] = prefix.node_copy(n, lambda a: before[a])
        prefix.output(tuple(before[b] for b in boundary))
        rest = fx.Graph()
        analog = rest.placeholder("analog")
        after = {b: rest.call_function(operator.getitem, (analog, i)) for i, b in enumerate(boundary)}
        for n in nodes:
            if stepped[n] and n not in after:
                after[n] = rest.node_copy(n, lambda a: after[a])
        return nn.Sequential(OrderedDict(
            analog=fx.GraphModule(self.modules, prefix, "AnalogGraph"),
            spiking=fx.GraphModule(self.modules, rest, "SpikingGraph"),
        ))


def _part(site: tuple[str, str], part: str) -> tuple[str, str]:
    """A module the converter adds to a call site: ``<path>_<part>`` in the graph, named
    ``<layer name>.<part>`` (``layer1.0/add.current0``)."""
    return f"{site[0]}_{part}", f"{site[1]}.{part}"


def convert_graph(model: nn.Module, ctx: ConversionContext, leaf_modules: Iterable[type] = ()) -> nn.Module:
    """The spiking body (no readout) of ``model`` for the signal ``ctx`` at its input; see the
    module docstring. ``model`` is not changed."""
    gm = fold_batchnorm_graph(explicit_graph(model, leaf_modules).eval())
    body = _GraphConverter(gm, ctx).run()
    for gm in body.modules():  # the containers of call sites get their paths: layer1, layer1.0, ...
        if isinstance(gm, fx.GraphModule):
            stamp_source_names(gm)
    body.source_name = ""
    return body


def use_graph(model: nn.Module, leaf_modules: Sequence[type], converter: str) -> bool:
    """Whether ``converter`` (``"auto"``, ``"tree"`` or ``"graph"``) converts ``model`` from its torch.fx
    graph: ``"auto"`` does so where ``leaf_modules`` are given or the module tree is not exact
    (:func:`~analysis.snn.trace.tree_convertible`)."""
    if converter not in ("auto", "tree", "graph"):
        raise ValueError(f"converter must be 'auto', 'tree' or 'graph', got {converter!r}")
    if converter == "auto":
        return bool(leaf_modules) or not tree_convertible(model)
    return converter == "graph"
