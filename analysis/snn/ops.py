"""Functional tensor operations as modules, so that graph-level conversion (:mod:`analysis.snn.trace`)
can turn a call such as ``torch.cat``, ``x.view(x.size(0), -1)`` or ``x.mean((2, 3))`` in a user's
``forward`` into a node that forward hooks, the counter and the spiking converter all see.

Each acts on one sample's axes (axis 0 is the batch) and, in a converted network, on every step or
group alike: :class:`Reshape` and :class:`Mean` run inside a :class:`~analysis.snn.modules.Stepwise`
(both are linear: ``is_linear``), :class:`Concat` is itself step-aware.

:func:`module_for_call` says which module computes a traced functional call (``F.relu`` an
``nn.ReLU``, ``a + b`` a :class:`~analysis.snn.modules.ResidualAdd`, ``torch.cat`` a :class:`Concat`,
...), and None for a call that has none.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn

from analysis.snn.modules import ResidualAdd, Stepwise
from analysis.snn.vocabulary import StepAxis

__all__ = ["Concat", "Mean", "Reshape", "module_for_call"]


class Reshape(nn.Module):
    """``x.reshape(x.shape[0], *shape)``: a per-sample reshape that keeps the batch axis (the
    module form of ``x.view(x.size(0), -1)`` and ``x.view(-1, C, H, W)``)."""

    #: Linear (no constant term): a per-group Stepwise may apply it to the sum over groups.
    is_linear = True

    def __init__(self, shape: Sequence[int]):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Mean(nn.Module):
    """``x.mean(dims, keepdim)`` over per-sample axes (never the batch axis 0): e.g. global average
    pooling written as ``x.mean((2, 3))``."""

    is_linear = True

    def __init__(self, dims: Sequence[int], keepdim: bool = False):
        super().__init__()
        self.dims = tuple(int(d) for d in dims)
        if 0 in self.dims:
            raise ValueError("Mean: averaging over the batch axis 0 is not a per-sample operation")
        self.keepdim = bool(keepdim)

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=self.dims, keepdim=self.keepdim)

    def extra_repr(self) -> str:
        return f"dims={self.dims}, keepdim={self.keepdim}"


class Concat(Stepwise):
    """``torch.cat(tensors, dim)`` along a per-sample axis ``dim`` (never the batch axis 0).

    In an ANN (``stepped=False``) it is ``torch.cat``. In a converted network with ``stepped=True``
    its inputs carry a leading step axis (``[S, B, ...]``), so a non-negative ``dim`` moves one axis
    on; in the one-pass OneSpike layout (``onepass_groups`` set by the network) the inputs are sums
    over the groups without that axis, and ``dim`` applies as written. It is a
    :class:`~analysis.snn.modules.Stepwise` (around ``nn.Identity``, no weights) only so that the
    network switches it between layouts like every per-group layer.
    """

    def __init__(self, dim: int, stepped: bool = False):
        super().__init__(nn.Identity(), StepAxis.TIME)
        if int(dim) == 0:
            raise ValueError("Concat: concatenating along the batch axis 0 is not a per-sample operation")
        self.dim = int(dim)
        self.stepped = bool(stepped)

    def forward(self, *xs: Tensor) -> Tensor:
        dim = self.dim
        if self.stepped and self.onepass_groups is None and dim > 0:
            dim += 1
        return torch.cat(xs, dim=dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, stepped={self.stepped}"


# -- which module computes a traced functional call --------------------------------------------
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


def module_for_call(node: fx.Node) -> tuple[nn.Module, list[fx.Node]] | None:
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
