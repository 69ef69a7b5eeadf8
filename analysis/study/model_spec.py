"""How to build the ANN of one architecture (:class:`ModelSpec`): a zoo name with its options, or a
user's factory named ``"package.module:factory"`` (:func:`import_factory`), its size checked on the
meta device before any memory is allocated (:data:`MAX_PARAMETERS`), and a failure in the user's code
reported in one line that names where it happened.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from analysis.models import MODELS, build_model

__all__ = ["MAX_PARAMETERS", "ModelSpec", "build_ann", "import_factory"]

#: Largest network (in parameters) a study or count builds: 2e8 float32 parameters are 0.8 GB, and
#: training needs about four times that. Checked on the meta device, before any memory is allocated.
MAX_PARAMETERS = 200_000_000


def _user_frame(exc: BaseException) -> str:
    """``file:line`` of the deepest frame of ``exc``'s traceback outside torch (the user's code)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.sep + "torch" + os.sep not in f.filename and f.filename != __file__]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _import_module(spec: str, module_name: str) -> Any:
    """Import ``module_name``; where it is not installed, also from the current folder (as
    ``python -m`` does, and as a console script such as ``onespike`` does not by itself)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        if module_name != missing and not module_name.startswith(missing + "."):
            raise ValueError(f"--model {spec!r}: {module_name!r} imports {missing!r}, which is not installed "
                             f"(pip install {missing.split('.')[0]})") from None
        here = os.getcwd()
        if here not in sys.path and "" not in sys.path:
            sys.path.append(here)  # last: it never shadows an installed package
            return _import_module(spec, module_name)
        raise ValueError(f"--model {spec!r}: cannot import {missing!r}: it is not installed and not in the current "
                         f"folder {here!r}; run from the folder that holds it, or pip install -e your_project, or "
                         "add its folder to PYTHONPATH") from None
    except Exception as exc:  # a SyntaxError or an exception raised while the module runs
        raise ValueError(f"--model {spec!r}: importing {module_name!r} failed at {_user_frame(exc)} with "
                         f"{_one_line(exc)}") from None


def import_factory(spec: str) -> Callable[..., nn.Module]:
    """The callable named ``"package.module:attribute"`` (a user's model factory or class)."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ValueError(f"--model must look like 'package.module:factory', got {spec!r}")
    module_name, attr = spec.split(":")
    module = _import_module(spec, module_name)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ValueError(f"--model {spec!r}: module {module_name!r} has no callable {attr!r}")
    return factory


class ModelSpec:
    """How to build the ANN of one architecture: a zoo name with options, or a user's factory."""

    def __init__(self, arch: str, options: dict[str, Any] | None = None, factory: str | None = None):
        self.arch = arch
        self.options = dict(options or {})
        self.factory = factory

    def build(self, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
        """Build the ANN; its size is checked on the meta device first (no memory is allocated for
        a network over :data:`MAX_PARAMETERS`, e.g. a checkpoint asking for ``width=1e6``)."""
        parameters = self.parameters(num_classes, in_channels, image_size)
        if parameters > MAX_PARAMETERS:
            raise ValueError(f"architecture {self.arch!r} with options {self.options} has {parameters:.3g} "
                             f"parameters, over the limit of {MAX_PARAMETERS:.0e}; use a smaller width")
        return self._build(num_classes, in_channels, image_size)

    def parameters(self, num_classes: int, in_channels: int, image_size: int) -> int:
        """Parameters of the network, counted on the meta device (no memory allocated); a user's
        factory that cannot build there (it reads values of tensors) is built on the CPU."""
        try:
            with torch.device("meta"):
                probe = self._build(num_classes, in_channels, image_size)
        except ValueError:
            if self.factory is None:
                raise
            probe = self._build(num_classes, in_channels, image_size)
        return sum(p.numel() for p in probe.parameters())

    def _build(self, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
        factory = MODELS.get(self.arch) if self.factory is None else import_factory(self.factory)
        params = inspect.signature(factory).parameters
        unknown = sorted(set(self.options) - set(params))
        if unknown and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            accepted = [name for name in params if name not in ("num_classes", "in_channels", "image_size")]
            raise ValueError(f"architecture {self.arch!r} has no option(s) {unknown}; its options are: "
                             f"{', '.join(accepted) or 'none'}")
        if self.factory is None:
            try:
                return build_model(self.arch, num_classes, in_channels, image_size, **self.options)
            except Exception as exc:  # an option out of the builder's range (width=-5, width="x")
                raise ValueError(f"architecture {self.arch!r} refuses options {self.options}: "
                                 f"{_one_line(exc)}") from None
        wanted = {"num_classes": num_classes, "in_channels": in_channels, "image_size": image_size}
        kwargs = {k: v for k, v in wanted.items() if k in params}
        try:
            model = factory(**kwargs, **self.options)
        except Exception as exc:  # the user's factory failed: one line naming it, where and why
            raise ValueError(f"--model {self.factory!r} raised {_one_line(exc)} (at {_user_frame(exc)})") from None
        if not isinstance(model, nn.Module):
            raise ValueError(f"--model {self.factory!r} returned {type(model).__name__}, not a torch nn.Module")
        model.arch_name = self.arch
        return model


def build_ann(spec: ModelSpec, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    return spec.build(num_classes, in_channels, image_size)

