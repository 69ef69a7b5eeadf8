"""Networks for a method: the ANN (zoo or the user's own), weights from checkpoints, every other
method built from its parent's weights through the method registry, and a study's trained networks
(:class:`TrainedNetworks`: the user's weights, the run's cache, or trained now, each with a phrase
saying how it was made).

What is evaluated is what is counted: :func:`priced_form` is a network's deploy form (BN folded,
RepVGG re-parameterized) with its weights quantized per channel at the width its method requests
(``MethodSpec.requested_weight_bits``); a converted method is built from its parent's priced form.

This is the one place that turns "architecture + method + weights" into a module; the study and
the CLI both call it.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from analysis.data import DataSplit
from analysis.methods import Role, TrainingKind, first_with_role, get_method, method_names, reference_method
from analysis.models import MODELS, build_model
from analysis.snn import (
    QCFS,
    BinaryConv2d,
    BinaryLinear,
    ConversionError,
    explicit_graph,
    fold_batchnorm,
    fold_batchnorm_graph,
    quantize_weights,
    round_thresholds_pow2,
)
from analysis.study import distributed
from analysis.study.cache import RunCache, seed_for
from analysis.study.config import StudyConfig
from analysis.study.hints import not_a_state_dict
from analysis.study.training import (
    CheckpointError,
    TrainConfig,
    check_checkpoint_config,
    load_checkpoint,
    save_checkpoint,
    train_for,
)

__all__ = [
    "MAX_PARAMETERS",
    "ModelSpec",
    "TrainedNetworks",
    "base_method",
    "build_ann",
    "deploy_form",
    "derive",
    "finetuned_networks",
    "given_weights",
    "import_factory",
    "needed_methods",
    "pow2_network",
    "priced_form",
    "read_weights",
    "relevel",
]

#: Largest network (in parameters) a study or count builds: 2e8 float32 parameters are 0.8 GB, and
#: training needs about four times that. Checked on the meta device, before any memory is allocated.
MAX_PARAMETERS = 200_000_000


def base_method() -> str:
    """The method a bare state dict holds: the one every other is built from (the registry's
    :func:`~analysis.methods.reference_method`, the ANN)."""
    return reference_method()


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


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state_dict, config)`` of a checkpoint: ours (``config`` records arch, method, levels,
    options, input size and, for a user's network, the ``model`` factory; each checked by
    :func:`~analysis.study.training.check_checkpoint_config`) or a bare state dict (``config`` names
    the base method, :func:`base_method`); always loaded with ``weights_only=True``."""
    try:
        return load_checkpoint(path)
    except CheckpointError as exc:
        if "not a OneSpike Study checkpoint" not in str(exc):
            raise
    state = torch.load(path, map_location="cpu", weights_only=True)  # load_checkpoint read it safely already
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]  # the common {"state_dict": ...} wrapper of training scripts
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(not_a_state_dict(path, state))
    return state, check_checkpoint_config({"method": base_method()}, f"checkpoint {str(path)!r}")


def derive(method: str, parent: nn.Module, steps: int = 1, levels: int = 4, calibration: torch.Tensor | None = None,
           **options: Any) -> nn.Module:
    """The network of ``method`` built from its parent's network (the registry's ``build``);
    ``calibration``: training images for a method that calibrates (``spec.needs_calibration``, the
    INT8 ANN), required there and ignored elsewhere."""
    spec = get_method(method)
    if spec.needs_calibration:
        if calibration is None:
            raise ValueError(f"method {method!r} calibrates its activation ranges on training images: pass "
                             "calibration=<a batch of training images>")
        options["calibration_data"] = calibration
    return spec.build(parent, steps=steps, levels=levels, **options)


def relevel(qann: nn.Module, levels: int) -> nn.Module:
    """The same quantized ANN (weights, thresholds) with ``levels`` quantization levels."""
    result = copy.deepcopy(qann)
    for module in result.modules():
        if isinstance(module, QCFS):
            module.levels = levels
    return result


def deploy_form(model: nn.Module) -> tuple[nn.Module, str]:
    """The inference ("deploy") form every method is counted in, and a phrase that names it.

    A copy in eval mode with every multi-branch block that can re-parameterize itself (RepVGG)
    fused into one conv, and every BatchNorm that directly follows a conv/linear folded into it.
    Conversion to the spiking networks does the same, so every method is counted in one form
    (Fairness, DESIGN.md). A block whose branches hold binary kernels cannot fuse (the sum of two
    binary kernels is not binary): it stays multi-branch, and the phrase says so.
    """
    result = copy.deepcopy(model).eval()
    kept = 0
    for module in result.modules():
        if not (hasattr(module, "reparameterize") and hasattr(module, "reparameterized")):
            continue
        if any(isinstance(sub, BinaryConv2d | BinaryLinear) for sub in module.modules()):
            kept += 1
        elif not module.reparameterized:
            module.reparameterize()
    result = fold_batchnorm(result)
    if _has_unfolded_bn(result):
        result = _fx_fold(result)
    phrase = "BN folded, multi-branch blocks re-parameterized"
    if _has_unfolded_bn(result):
        phrase += "; BatchNorms not directly after a conv/linear stay (counted as their own layers)"
    if kept:
        phrase += f"; {kept} binary multi-branch block(s) kept unfused (binary kernels do not sum to a binary kernel)"
    return result, phrase


def priced_form(model: nn.Module, weight_bits: int) -> tuple[nn.Module, str]:
    """What a study evaluates *and* counts: the deploy form of ``model`` (:func:`deploy_form`) with
    its weights quantized per output channel at ``weight_bits`` (32: float weights), and the
    phrase that names the deploy form. Quantizing after folding keeps the counted weights on their
    grid; a spiking network converted from this form carries the same grid times θ."""
    net, phrase = deploy_form(model)
    return quantize_weights(net, weight_bits).eval(), phrase


def _has_unfolded_bn(model: nn.Module) -> bool:
    return any(isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) for m in model.modules())


def _fx_fold(model: nn.Module) -> nn.Module:
    """A custom ``forward``'s explicit graph with conv -> BN folded (its call sites named as in the
    spiking forms); a model that does not trace keeps its BatchNorms (counted as their own layers)."""
    try:
        return fold_batchnorm_graph(explicit_graph(model).eval())
    except ConversionError:
        return model


def pow2_network(qann: nn.Module) -> nn.Module:
    """The quantized ANN with every threshold rounded to the nearest power of two (log2)."""
    return round_thresholds_pow2(qann)


# -- a study's trained networks -----------------------------------------------------------------------
Given = dict[str, tuple[dict, dict]]


def finetuned_networks(config: StudyConfig) -> list[tuple[str, int]]:
    """``(method, levels)`` of the quantized networks a study fine-tunes besides its own at L: the
    equal-bits network of Q13 (one-bit activations, L = 1, fine-tuned from the ANN like the L-level
    one, never re-levelled from it) when the study has a BNN to compare it with."""
    binary = any(get_method(name).trains_binary for name in config.methods)
    quantized = first_with_role(Role.QUANTIZED_PARENT, config.methods)
    if binary and quantized and config.levels != 1:
        return [(quantized, 1)]
    return []


def given_weights(checkpoints: list[str], levels: int) -> Given:
    """Weights the user gave, by the method their checkpoint records (a bare state dict is the
    reference ANN): ``{method: (state_dict, config)}``; only trained methods, one file each, with
    the study's levels."""
    given: Given = {}
    for path in checkpoints:
        state, meta = read_weights(path)
        method = meta.get("method", base_method())
        spec = get_method(method)
        if not spec.trained:
            *others, last = [name for name in method_names() if get_method(name).trained]
            trained = f"{', '.join(others)} or {last}" if others else last
            raise ValueError(f"checkpoint {path!r} holds a {method!r} network; give trained weights ({trained}): the "
                             "spiking networks are converted from them")
        if method in given:
            raise ValueError(f"two checkpoints hold {method!r} weights: {path!r} and an earlier one")
        if spec.quantized and int(meta.get("levels", levels)) != levels:
            raise ValueError(f"checkpoint {path!r} holds L={meta.get('levels')} levels; run with --levels "
                             f"{meta.get('levels')}")
        given[method] = (state, meta)
    return given


def needed_methods(methods: list[str], given: Given) -> tuple[list[str], set[str]]:
    """``(build, train)``: the trained methods whose networks must exist (the study's methods and
    their ancestors), in registry order, and those of them that must be trained: a method whose
    weights were given needs its parent's structure only, not its training. A directly trained SNN
    (and what is made from it) is trained once per T in its parent's shape, by
    :mod:`analysis.study.direct`, not here."""
    build: set[str] = set()
    train: set[str] = set()
    for name in methods:
        trains = True
        while name is not None:
            spec = get_method(name)
            if spec.trains_directly:
                break
            if spec.trained:
                build.add(name)
                if trains and name not in given:
                    train.add(name)
                trains = trains and name not in given
            name = spec.parent
    return [name for name in method_names() if name in build], train


class TrainedNetworks:
    """The trained network of each method a study needs, per (seed, architecture): the user's
    weights, the run's cache, or trained now (rank 0 trains and saves; the other ranks load its
    checkpoint). ``on_epochs(n)`` is told of every ``n`` training epochs done or found done.
    ``made[(arch, method, levels, seed)]`` says how each network was made (a results column)."""

    def __init__(self, config: StudyConfig, cache: RunCache, digest: str,
                 on_epochs: Callable[[int], None] = lambda n: None):
        self.config = config
        self.cache = cache
        self.digest = digest
        self.on_epochs = on_epochs
        self.given = given_weights(config.checkpoints, config.levels)
        #: the trained methods to build, in registry order, and those of them to train
        self.build, self.train = needed_methods(config.methods, self.given)
        #: quantized networks fine-tuned at other levels than the study's L (Q13's equal bits), where
        #: the network they are fine-tuned from is trained or given (not an untrained structure)
        self.finetuned = [(method, levels) for method, levels in finetuned_networks(config)
                          if get_method(method).parent in self.given or get_method(method).parent in self.train]
        self.made: dict[tuple[str, str, int, int], str] = {}

    def spec(self, arch: str) -> ModelSpec:
        return ModelSpec(arch, self.config.options_for(arch), self.config.model)

    def epochs(self, method: str) -> int:
        """Training epochs of a trained method (for a network trained from scratch, a cap the plateau
        rule may stop short of)."""
        cfg, spec = self.config, get_method(method)
        if spec.trains_quantized and spec.parent in self.given and cfg.finetune_epochs is not None:
            return cfg.finetune_epochs
        return {TrainingKind.FULL_PRECISION: cfg.epochs_ann, TrainingKind.QUANTIZED: cfg.epochs_quant,
                TrainingKind.BINARY: cfg.epochs_bnn}[spec.training]

    def total_epochs(self) -> int:
        """Every epoch the study trains (each architecture and seed)."""
        per_arch = sum(self.epochs(method) for method in self.train) + sum(
            self.epochs(method) for method, _ in self.finetuned)
        return per_arch * len(self.config.archs) * self.config.seeds

    def _made(self, method: str, levels: int) -> str:
        """How a trained network of ``method`` with ``levels`` is made (trained now or read back)."""
        spec, epochs = get_method(method), self.epochs(method)
        if spec.trains_quantized:
            return f"fine-tuned from the {get_method(spec.parent).short} with L={levels} ({epochs} epochs)"
        if spec.trains_binary:
            return (f"trained as a binary network from the {get_method(spec.parent).short}'s weights ({epochs} epochs, "
                    "learning rate annealed)")
        if self.config.plateau_patience is not None:  # the plateau rule (analysis.study.plateau)
            return (f"trained from scratch (at most {epochs} epochs: stopped once validation accuracy had not risen by "
                    f"{self.config.plateau_delta:g} for {self.config.plateau_patience} epochs, best epoch kept)")
        return f"trained from scratch ({epochs} epochs)"

    def network(self, arch: str, method: str, seed: int, split: DataSplit, parents: dict[str, nn.Module],
                levels: int | None = None) -> nn.Module:
        """The trained network of ``method`` for ``arch`` (``parents``: the networks of the methods
        built before it). A method only needed as the parent of given weights is its untrained
        structure. ``levels`` other than the study's L (:func:`finetuned_networks`): a quantized
        network fine-tuned from the parent at those levels (given weights are the study's L only)."""
        cfg, spec = self.config, get_method(method)
        levels = cfg.levels if levels is None else int(levels)
        own = levels == cfg.levels
        key = (arch, method, levels, seed)
        torch.manual_seed(seed_for(seed, arch, method) if own else seed_for(seed, arch, method, levels))
        if spec.parent is None:
            model = self.spec(arch).build(split.num_classes, split.in_channels, split.image_size)
        else:
            model = derive(method, parents[spec.parent], levels=levels)
        if own and method in self.given:
            try:
                model.load_state_dict(self.given[method][0])
            except RuntimeError as exc:
                raise CheckpointError(f"the {method} checkpoint does not fit architecture {arch!r}: "
                                      f"{str(exc).splitlines()[0]}") from None
            self.made[key] = "given weights (checkpoint)"
            return model.eval()
        if own and method not in self.train:
            self.made[key] = "untrained structure (the parent of given weights)"
            return model.eval()
        self.made[key] = self._made(method, levels)
        path = self.cache.root / f"{arch}__{method}__L{levels}__s{seed}__{self.digest}.pt"
        with distributed.main_first():
            if self.cache.load_network(path, model, method):
                self.on_epochs(self.epochs(method))  # in the progress total: a resumed run still ends at 100%
                return model.eval()
            if not distributed.is_main():
                raise RuntimeError(f"rank {distributed.rank()}: checkpoint {path} was not written by rank 0")
            from_scratch = spec.training is TrainingKind.FULL_PRECISION  # the plateau rule's (StudyConfig)
            config = TrainConfig(epochs=self.epochs(method), lr=cfg.lr / 3 if spec.trains_quantized else cfg.lr,
                                 batch_size=cfg.batch_size,
                                 seed=seed_for(seed, arch, method) if own else seed_for(seed, arch, method, levels),
                                 device=cfg.device,
                                 progress=False, patience=cfg.plateau_patience if from_scratch else None,
                                 min_delta=cfg.plateau_delta,
                                 on_epoch=lambda *_: self.on_epochs(1))
            model = train_for(spec.training, model, split.train, config)
            save_checkpoint(path, model, {"arch": arch, "model": cfg.model, "method": method, "levels": levels,
                                          "options": self.spec(arch).options, "seed": config.seed,
                                          "input": {"data": cfg.data, "num_classes": split.num_classes,
                                                    "in_channels": split.in_channels,
                                                    "image_size": split.image_size}})
            return model.eval()
