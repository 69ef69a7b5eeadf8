"""Directly trained SNNs in the study: surrogate gradients, BPTT over T, once per T.

The methods whose :class:`~analysis.methods.TrainingKind` is ``direct`` (``direct_if``,
``direct_lif``) are trained from scratch in the ANN's shape (every ReLU a neuron of the method) at
each T of the study up to ``direct_max_steps``, for the architectures of ``direct_archs`` (the
first one when empty), ``epochs_direct`` epochs each with the study's trainer
(:func:`~analysis.study.training.train_for`; a DirectSNN's BPTT costs T forward passes per step,
which is why they stop at a T). The OneSpike forms made from them (``direct_if_psg``,
``direct_lif_psg``) are converted from the network trained at T = G. Each trained network is a
checkpoint in the run's cache, so a resumed study trains nothing twice.

**Your own SNN.** ``onespike study --model pkg.module:factory`` with a factory that returns a
SpikingJelly or snnTorch network (an ``nn.Sequential`` wrapped in :class:`~analysis.snn.TimeLoop`,
or one written as its own loop over T) runs this branch only: its neurons decide the method
(``direct_lif`` where one leaks, else ``direct_if``, and its OneSpike form), its weights come from
``--checkpoint`` (then it is evaluated as it is at every T: the weights of an SNN do not depend on
T) or are trained here (BPTT through its own neurons' dynamics, :func:`~analysis.snn.onestep.framework_form`).
In Python, the same measurement without a study::

    from analysis.snn.onestep import framework_form
    from analysis.study.onestep import onestep_table
    onestep_table({t: framework_form(net, t, example=x) for t in (2, 4, 8)}, x, y)
"""

from __future__ import annotations

import copy
import dataclasses
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from analysis.data import DataSplit, load_dataset
from analysis.methods import Method, TrainingKind, get_method, infer_method, method_names, reference_method
from analysis.snn import LIFNeuron, TimeLoop, is_framework_neuron, to_if_snn
from analysis.snn.frameworks import is_multi_step, looks_like_neuron
from analysis.snn.onestep import DirectSNN, pow2_thresholds
from analysis.study import distributed
from analysis.study.ahead import LaterWork, end_with_parent, second_cpu, warm_before_fork
from analysis.study.cache import RunCache, seed_for
from analysis.study.checkpoint_files import load_weights, save_checkpoint
from analysis.study.config import StudyConfig
from analysis.study.model_spec import ModelSpec
from analysis.study.networks import derive
from analysis.study.trained import Given
from analysis.study.training import TrainConfig, train_for

__all__ = ["DEPLOY_FORM", "DirectNetworks", "TrainingAhead", "count_form", "deploy_direct", "direct_archs",
           "direct_steps", "for_model", "is_spiking_model", "train_direct", "trained_by"]

#: What a directly trained method's evaluated network is, in the ``deploy_form`` column.
DEPLOY_FORM = "the SNN as trained (BN folded), T steps"


def is_spiking_model(model: nn.Module) -> bool:
    """A network with SpikingJelly/snnTorch neurons or our own trainable ones (an SNN, not an ANN)."""
    return any(is_framework_neuron(m) or isinstance(m, LIFNeuron) for m in model.modules())


def trained_by(method: str) -> str | None:
    """The directly trained method a method's network comes from: itself, or its parent for a
    OneSpike form; None for every other method."""
    spec = get_method(method)
    if spec.trains_directly:
        return method
    if spec.parent is not None and get_method(spec.parent).trains_directly:
        return spec.parent
    return None


def direct_archs(config: StudyConfig) -> list[str]:
    """The architectures the directly trained SNNs are trained for: ``direct_archs``, or the first."""
    return list(config.direct_archs) or config.archs[:1]


def direct_steps(config: StudyConfig) -> list[int]:
    """The T at which they are trained: the study's T up to ``direct_max_steps``."""
    return [t for t in config.timesteps if t <= config.direct_max_steps]


def deploy_direct(direct: DirectSNN) -> tuple[nn.Module, dict[str, Any]]:
    """The network a directly trained method is evaluated and counted as: its T-step SNN with batch
    norm folded (the same dynamics as in training) and its facts."""
    return to_if_snn(direct.body, direct.timesteps), {"deploy_form": DEPLOY_FORM}


def count_form(model: nn.Module, method: str | None, steps: int, mode: str = "exact",
               example: torch.Tensor | None = None) -> tuple[nn.Module, str] | None:
    """``(network, method)`` to count for an SNN (``onespike count``): a SpikingJelly/snnTorch network
    as it runs (``TimeLoop(net, T)`` for an ``nn.Sequential``; a network with its own loop over T
    runs its own T), or a directly trained SNN in training form as its T-step deploy form; with
    ``method`` naming its OneSpike form, OneSpike(G = T) with its own thresholds (``mode="hardware"``:
    rounded to powers of two first). None when ``model`` is no SNN. ``example``: images, for a
    network written as its own forward."""
    if not isinstance(model, DirectSNN) and not is_spiking_model(model):
        return None
    base = infer_method(model).name
    psg = next((m for m in method_names() if get_method(m).parent == base), None)
    if method not in (None, base, psg, reference_method()):
        raise ValueError(f"the checkpoint holds an SNN ({get_method(base).label}): count it as --method {base} (as it "
                         f"runs) or --method {psg} (its OneSpike form), not {method!r}")
    if method in (None, base, reference_method()):
        if isinstance(model, DirectSNN):
            return deploy_direct(_at_steps(model, steps))[0], base
        if isinstance(model, TimeLoop):
            return TimeLoop(model.net, steps).eval(), base
        if isinstance(model, nn.Sequential) or any(is_multi_step(m) for m in model.modules()):
            return TimeLoop(model, steps).eval(), base
        return model.eval(), base
    direct = _at_steps(model, steps) if isinstance(model, DirectSNN) else derive(base, model, steps=steps,
                                                                                  example=example)
    if mode == "hardware":
        direct = pow2_thresholds(direct)
    return derive(psg, direct, steps, mode=mode), psg


def _at_steps(direct: DirectSNN, steps: int) -> DirectSNN:
    """The same SNN (same weights and neurons) run for ``steps`` timesteps."""
    if direct.timesteps == steps:
        return direct
    out = copy.deepcopy(direct)
    out.timesteps = steps
    for neuron in out.neurons:
        neuron.timesteps = steps
    return out


def train_direct(arch: str, split: DataSplit, timesteps: int, method: str = Method.DIRECT_IF,
                 config: TrainConfig | None = None, **arch_options: Any) -> DirectSNN:
    """Train the zoo architecture ``arch`` directly as the T-step SNN of ``method`` (a method that
    trains directly: ``direct_if``, ``direct_lif``) on ``split``; returns it in eval mode."""
    if not get_method(method).trains_directly:
        direct = [m for m in method_names() if get_method(m).trains_directly]
        raise ValueError(f"method {method!r} is not trained directly; use one of {direct}")
    config = config or TrainConfig(epochs=3, progress=False)
    torch.manual_seed(config.seed)
    ann = ModelSpec(arch, arch_options).build(split.num_classes, split.in_channels, split.image_size)
    direct = derive(method, ann, steps=timesteps)
    return train_for(TrainingKind.DIRECT, direct, split.train, config).eval()


def for_model(config: StudyConfig) -> StudyConfig:
    """``config`` for the network it studies: unchanged for an ANN; for a user's SNN
    (``config.model`` returning SpikingJelly/snnTorch neurons) its methods become the directly
    trained method its neurons make it and that method's OneSpike form (when the methods were left
    at their default, every method); a method that needs an ANN is refused by name."""
    if config.model is None:
        return config
    split = load_dataset(config.data, config.data_root, seed=config.seed, subset=config.subset)
    model = ModelSpec(config.archs[0], config.options_for(config.archs[0]), config.model).build(
        split.num_classes, split.in_channels, split.image_size)
    if not is_spiking_model(model):
        odd = next(((name, m) for name, m in model.named_modules() if looks_like_neuron(m)), None)
        if odd is not None:
            raise ValueError(
                f"--model {config.model!r}: module {odd[0]!r} ({type(odd[1]).__name__}) looks like a spiking neuron (a "
                "threshold and a membrane state) but is no SpikingJelly or snnTorch neuron, so the network would be "
                "taken for an ANN: build it from SpikingJelly neurons (neuron.IFNode, neuron.LIFNode, any BaseNode "
                "subclass) or snnTorch ones (snn.Leaky, ...)")
        return config
    base = infer_method(model).name
    own = [m for m in method_names() if m == base or get_method(m).parent == base]
    if config.methods == list(method_names()):
        return dataclasses.replace(config, methods=own)
    others = [m for m in config.methods if trained_by(m) is None]
    if others:
        raise ValueError(f"--model {config.model!r} is an SNN (SpikingJelly/snnTorch neurons): methods {others} need "
                         f"an ANN to train or convert; study it with --methods {','.join(own)} (or leave --methods "
                         "out)")
    return config


class DirectNetworks:
    """The directly trained SNN of each (architecture, method, T, seed) of a study, in training
    form (:class:`~analysis.snn.onestep.DirectSNN`): the user's given weights, the run's cache, or
    trained now (rank 0 trains and saves; the other ranks load its checkpoint). ``on_epochs(n)`` is
    told of every ``n`` training epochs done or found done."""

    def __init__(self, config: StudyConfig, cache: RunCache, digest: str, given: Given,
                 on_epochs: Callable[[int], None] = lambda n: None):
        self.config = config
        self.cache = cache
        self.digest = digest
        self.given = given
        self.on_epochs = on_epochs
        self.memo: dict[tuple, DirectSNN] = {}
        #: how each network of :meth:`network` was made (``made`` in results.csv), by its key
        self.made: dict[tuple, str] = {}
        #: the process training this study's SNNs ahead, if one runs (:meth:`train_ahead`)
        self.ahead: TrainingAhead | None = None
        #: the directly trained methods the study's methods need, in registry order
        needed = {trained_by(m) for m in config.methods} - {None}
        self.methods = [m for m in method_names() if m in needed]

    def total_epochs(self) -> int:
        """Every epoch this branch trains (none where the user gave the weights)."""
        trained = [m for m in self.methods if m not in self.given and not self._user_weights()]
        cfg = self.config
        return len(trained) * len(direct_steps(cfg)) * len(direct_archs(cfg)) * cfg.seeds * cfg.epochs_direct

    def _user_weights(self) -> bool:
        return self.config.model is not None and reference_method() in self.given

    def network(self, arch: str, method: str, steps: int, seed: int, split: DataSplit) -> DirectSNN:
        """The trained SNN ``method``'s network at T = ``steps`` comes from (see the class docstring)."""
        trained = trained_by(method)
        if trained is None:
            raise ValueError(f"method {method!r} is neither trained directly nor made from a directly trained SNN")
        key = (arch, trained, steps, seed)
        if self.ahead is not None:
            self.ahead.wait_for(self.checkpoint(arch, trained, steps, seed))
        if key not in self.memo:
            self.memo = {k: v for k, v in self.memo.items() if k[0] == arch and k[3] == seed}
            self.memo[key] = self._network(arch, trained, steps, seed, split)
        return self.memo[key]

    def checkpoint(self, arch: str, method: str, steps: int, seed: int) -> Path:
        """Where the cache keeps the SNN of ``method`` (a directly trained one) trained at T = ``steps``."""
        return self.cache.root / f"{arch}__{method}__T{steps}__s{seed}__{self.digest}.pt"

    def to_train(self) -> list[tuple[str, str, int, int]]:
        """``(arch, method, T, seed)`` of every SNN this study trains (none given), in the plan's order."""
        if self._user_weights():
            return []
        methods = [m for m in self.methods if m not in self.given]
        return [(arch, method, steps, seed) for seed in self.config.seed_list for arch in direct_archs(self.config)
                for steps in direct_steps(self.config) for method in methods]

    def train_ahead(self, split: DataSplit, threads: int, later: LaterWork | None = None) -> None:
        """Start training every SNN of :meth:`to_train` in a forked process (:class:`TrainingAhead`)
        where that helps and is safe: Linux, a second CPU, one process (no torchrun), a CPU study.
        The SNNs are trained from scratch, independent of everything else the study trains, so this
        process goes on with the ANN branch meanwhile; :meth:`network` waits for each checkpoint.
        ``later``: more independent work the process does next (Q15's units), whose units the run's
        cache then waits for rather than computing them twice."""
        keys = [k for k in self.to_train() if not self.checkpoint(*k).is_file()]
        if (keys or later is not None) and TrainingAhead.possible(self.config.device):
            self.ahead = TrainingAhead(self, split, keys, threads, later)
            if later is not None:
                self.cache.expect(later.keys, self.ahead.process.is_alive)

    def stop_ahead(self) -> None:
        """Stop the process training ahead (on any exit of the study, also an error)."""
        if self.ahead is not None:
            self.ahead.stop()
            self.ahead = None

    def ensure(self, arch: str, method: str, steps: int, seed: int, split: DataSplit) -> None:
        """Train (or find in the cache) the SNN of ``method`` at T = ``steps``."""
        self._network(arch, method, steps, seed, split)

    def _network(self, arch: str, method: str, steps: int, seed: int, split: DataSplit) -> DirectSNN:
        cfg = self.config
        torch.manual_seed(seed_for(seed, arch, method, steps))
        spec = ModelSpec(arch, cfg.options_for(arch), cfg.model)
        model = spec.build(split.num_classes, split.in_channels, split.image_size)
        user_snn = is_spiking_model(model)
        if user_snn and self._user_weights():
            load_weights(model, self.given[reference_method()][0], "--checkpoint", f"--model {cfg.model!r}")
        example = next(iter(torch.utils.data.DataLoader(split.train, batch_size=8)))[0]
        direct = derive(method, model, steps=steps, example=example)
        key = (arch, method, steps, seed)
        if method in self.given:
            self.made[key] = f"given (the {method} checkpoint), not trained by the study"
            return load_weights(direct, self.given[method][0], f"the {method} checkpoint", f"{arch!r}").eval()
        if user_snn and self._user_weights():
            self.made[key] = f"given (your SNN's --checkpoint, run at T={steps}), not trained by the study"
            return direct.eval()  # the user's trained SNN, at this T
        self.made[key] = f"trained directly at T={steps} (surrogate gradients, BPTT)"
        path = self.checkpoint(arch, method, steps, seed)
        with distributed.main_first():
            if self.cache.load_network(path, direct, method):
                self.on_epochs(cfg.epochs_direct)
                return direct.eval()
            if not distributed.is_main():
                raise RuntimeError(f"rank {distributed.rank()}: checkpoint {path} was not written by rank 0")
            config = TrainConfig(epochs=cfg.epochs_direct, lr=cfg.lr, batch_size=cfg.batch_size,
                                 seed=seed_for(seed, arch, method, steps), device=cfg.device, progress=False,
                                 on_epoch=lambda *_: self.on_epochs(1))
            train_for(TrainingKind.DIRECT, direct, split.train, config)
            save_checkpoint(path, direct, {"arch": arch, "model": cfg.model, "method": method, "timesteps": steps,
                                           "options": spec.options, "seed": config.seed,
                                           "input": {"data": cfg.data, "num_classes": split.num_classes,
                                                     "in_channels": split.in_channels,
                                                     "image_size": split.image_size}})
            return direct.eval()


class TrainingAhead:
    """A forked process that trains a study's directly trained SNNs into the run's cache while the
    study trains and evaluates the rest (BPTT over T is the quick study's largest stage, and the
    study runs on one torch thread: a second CPU is otherwise idle), then does the ``later`` work
    (Q15's units). Each checkpoint and unit is written atomically; the study waits for the one it
    needs (:meth:`wait_for`). If the process fails, the study computes what is missing itself, where
    the failure is raised with its reason."""

    def __init__(self, networks: DirectNetworks, split: DataSplit, keys: list[tuple[str, str, int, int]],
                 threads: int, later: LaterWork | None = None):
        context = multiprocessing.get_context("fork")
        warm_before_fork()
        self.process = context.Process(target=self._train, args=(networks, split, keys, threads, os.getpid(), later),
                                       daemon=True, name="onespike-direct-training")
        self.process.start()

    @staticmethod
    def possible(device: str) -> bool:
        """Whether a second process can train beside the study (:func:`~analysis.study.ahead.second_cpu`)."""
        return second_cpu(device, distributed.world_size())

    @staticmethod
    def _train(networks: DirectNetworks, split: DataSplit, keys: list[tuple[str, str, int, int]],
               threads: int, parent: int, later: LaterWork | None) -> None:
        end_with_parent(parent)
        torch.set_num_threads(threads)
        networks.on_epochs = lambda n: None  # the progress bar is the parent's
        networks.ahead = None
        try:
            for arch, method, steps, seed in keys:
                networks.ensure(arch, method, steps, seed, split)
            if later is not None:
                later.run()
        except BaseException:
            sys.exit(1)  # the study trains what is missing itself, and raises there with the reason

    def wait_for(self, path: Path) -> None:
        """Return once ``path`` exists or the process has ended (then the study trains it itself)."""
        while not path.is_file() and self.process.is_alive():
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()
