"""A study's trained networks: which trained methods it needs (:func:`needed_methods`), the weights
the user gave (:func:`given_weights`), the quantized networks it fine-tunes at other levels
(:func:`finetuned_networks`), and :class:`TrainedNetworks`, which reads each back from the user's
weights or the run's cache or trains it now, with a phrase saying how it was made.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from analysis.data import DataSplit
from analysis.methods import Role, TrainingKind, first_with_role, get_method, method_names
from analysis.study import distributed
from analysis.study.cache import RunCache, seed_for
from analysis.study.checkpoint_files import CheckpointError, save_checkpoint
from analysis.study.config import StudyConfig
from analysis.study.model_spec import ModelSpec
from analysis.study.networks import base_method, derive, read_weights
from analysis.study.training import TrainConfig, train_for

__all__ = ["Given", "TrainedNetworks", "finetuned_networks", "given_weights", "needed_methods"]

#: Weights the user gave: ``{method: (state_dict, config)}``.
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
            claims = self.cache.claims
            if claims is not None and not claims.claim(path.name):  # the helper trains it: read it back
                claims.wait_for(path)
                if self.cache.load_network(path, model, method):
                    self.on_epochs(self.epochs(method))
                    return model.eval()
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
