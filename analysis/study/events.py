"""Q15: does one-step conversion hold when the input changes over time (event cameras, video)?

On event data (:mod:`analysis.data.events`: digits moving across a frame as ON/OFF events, one task
labelled by the digit, where the order of the frames does not matter, one by the direction of
motion, where it does; and N-MNIST when the study is given its folder, ``event_data_root``), for
every directly trained method of the study (``direct_if``, ``direct_lif``) and every T of
``event_timesteps``: the SNN is trained from scratch (surrogate gradients, BPTT) **fed one frame
per step** (:class:`~analysis.snn.events.EventSNN`), then

- its deploy form (the T-step SNN, frame t at step t) and
- its OneSpike form (G = T, the SNN's own thresholds), whose first layer averages the currents of the
  T frames before it spikes and so **sees the frames only through their sum**

are evaluated on the test set (accuracy, agreement with the SNN), counted on ``count_samples`` test
samples (the events enter as spikes: ACs, not MACs) and priced under every headline hardware model.
One row per (task, T, method, hardware model) in ``events.csv``. Each (task, T, method) is a cached
unit of the run, so a resumed study trains nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from analysis.data import DataSplit
from analysis.data.events import DIRECTIONS, TASKS, load_moving_digits
from analysis.data.nmnist import load_nmnist
from analysis.methods import get_method, method_names
from analysis.snn import SpikingForm, quantize_weights
from analysis.snn.events import EventSNN, event_network
from analysis.study.cache import RunCache, seed_for
from analysis.study.config import StudyConfig
from analysis.study.evaluate import evaluate_and_count, test_labels
from analysis.study.networks import ModelSpec, derive
from analysis.study.pricing import spike_rate
from analysis.study.training import TrainConfig, train_for
from energy_models import EnergyModel, EventLedger

__all__ = ["EVENT_FRAME_SIZE", "NMNIST_TASK", "event_methods", "event_rows", "event_split", "event_tasks",
           "event_unit", "onestep_ceiling", "psg_of", "train_event_snn"]

#: The side of the frame the digits move across in the study (pixels): 8x8 digits in 12x12 frames
#: (a 16x16 frame gave the digit task 33-48% with a small MLP at T = 4-8, 12x12 72-74%).
EVENT_FRAME_SIZE = 12
#: The task of N-MNIST (its digit), run where the study has ``event_data_root``.
NMNIST_TASK = "nmnist"
#: Training recordings of N-MNIST a study uses at most (a study trains BPTT over T on a CPU).
NMNIST_TRAIN = 2000


def event_methods(config: StudyConfig) -> list[str]:
    """The directly trained methods of the study, in registry order (Q15 trains those)."""
    return [m for m in method_names() if get_method(m).trains_directly and m in config.methods]


def event_tasks(config: StudyConfig) -> list[str]:
    """The tasks Q15 runs: the moving digits' two, and N-MNIST where its folder is given."""
    return [*TASKS, *([NMNIST_TASK] if config.event_data_root else [])]


def psg_of(method: str) -> str:
    """The OneSpike method made from the directly trained ``method`` (its child on the group axis)."""
    return next(m for m in method_names() if get_method(m).parent == method and get_method(m).is_group_parallel)


def onestep_ceiling(task: str) -> float:
    """The best accuracy a network seeing only the frames summed over T can reach on ``task``: 1 for
    the digit (order-free), 1/2 for the direction (the sum shows the axis, not its sign: a digit
    moving left sums to exactly what it sums to moving right), NaN where unknown (N-MNIST)."""
    if task == "direction":
        return 2 / len(DIRECTIONS)
    return 1.0 if task == "digit" else float("nan")


def event_split(task: str, frames: int, config: StudyConfig) -> DataSplit:
    """The data of ``task`` binned into ``frames`` frames (``subset`` as the study's)."""
    if task == NMNIST_TASK:
        subset = min(config.subset or NMNIST_TRAIN, NMNIST_TRAIN)
        return load_nmnist(config.event_data_root, frames, subset=subset)
    return load_moving_digits(task, config.seed, frames=frames, size=EVENT_FRAME_SIZE, subset=config.subset)


def train_event_snn(arch: str, options: Mapping[str, Any], split: DataSplit, method: str,
                    config: TrainConfig) -> EventSNN:
    """The zoo architecture ``arch`` trained as the SNN of ``method`` fed one event frame per step."""
    if split.frames is None:
        raise ValueError(f"data set {split.name!r} holds images, not event frames: Q15 needs event data")
    torch.manual_seed(config.seed)
    ann = ModelSpec(arch, dict(options)).build(split.num_classes, split.in_channels, split.image_size)
    snn = EventSNN(derive(method, ann, steps=split.frames).body, split.frames)
    return train_for(get_method(method).training, snn, split.train, config).eval()


def _ledger_facts(ledger: EventLedger) -> dict[str, float]:
    return {"ops_ac": ledger.total("ac"), "ops_mac": ledger.total("mac"), "spikes": ledger.total("spikes"),
            "spike_rate": spike_rate(ledger)}


def event_unit(config: StudyConfig, task: str, frames: int, method: str, split: DataSplit) -> dict[str, Any]:
    """One (task, T, method) of Q15: train, convert, evaluate and count (see the module docstring);
    the ledgers as dicts (priced later, by :func:`event_rows`)."""
    seed = seed_for(config.seed, "events", task, method, frames)
    train = TrainConfig(epochs=config.event_epochs, lr=config.lr, batch_size=config.batch_size, seed=seed,
                        device=config.device, progress=False)
    snn = train_event_snn(config.event_arch, config.options_for(config.event_arch), split, method, train)
    bits = get_method(method).requested_weight_bits(config.weight_bits)
    labels = test_labels(split.test)
    out: dict[str, Any] = {"train_samples": len(split.train), "test_samples": len(labels)}
    predicted = {}
    for name, form, counted_as in (("snn", SpikingForm.IF, method), ("onestep", SpikingForm.ONESPIKE, psg_of(method))):
        net = quantize_weights(event_network(snn, form), bits)
        result = evaluate_and_count(net, split.test, counted_as, config.count_samples, config.device,
                                    {"data": split.name, "task": task}, labels=labels)
        predicted[name] = result["predicted"]
        out[f"{name}_accuracy"] = result["accuracy"]
        out[f"{name}_ledger"] = result["ledger"]
    same = sum(int(a == b) for a, b in zip(predicted["snn"], predicted["onestep"], strict=True))
    out["agreement"] = same / len(labels)
    return out


def event_rows(config: StudyConfig, cache: RunCache, digest: str, models: Mapping[str, EnergyModel],
               on_unit=lambda n: None) -> list[dict[str, Any]]:
    """``events.csv``'s rows: one per (task, T, method, headline hardware model), see the module
    docstring. ``on_unit(1)`` is called after each (task, T, method)."""
    rows = []
    for task in event_tasks(config):
        for frames in config.event_timesteps:
            split = None
            for method in event_methods(config):
                def compute(task=task, frames=frames, method=method):
                    nonlocal split
                    split = split or event_split(task, frames, config)
                    return event_unit(config, task, frames, method, split)

                key = f"events__{task}__{config.event_arch}__{method}__T{frames}__s{config.seed}__{digest}"
                outcome = cache.unit(key, compute)
                on_unit(1)
                ledgers = {name: EventLedger.from_dict(outcome[f"{name}_ledger"]) for name in ("snn", "onestep")}
                ident = {"task": task, "T": frames, "method": method, "onestep_method": psg_of(method),
                         "arch": config.event_arch, "seed": config.seed, "train_samples": outcome["train_samples"],
                         "test_samples": outcome["test_samples"], "snn_accuracy": outcome["snn_accuracy"],
                         "onestep_accuracy": outcome["onestep_accuracy"], "agreement": outcome["agreement"],
                         "chance_accuracy": 1.0 / _classes(task), "onestep_ceiling": onestep_ceiling(task)}
                facts = {f"{name}_{key}": value for name, ledger in ledgers.items()
                         for key, value in _ledger_facts(ledger).items()}
                for hardware, model in models.items():
                    energy = {f"{name}_energy_pj": model.price(ledger).total_pj for name, ledger in ledgers.items()}
                    rows.append({**ident, "hardware": hardware, **energy, **facts})
    return rows


def _classes(task: str) -> int:
    return len(DIRECTIONS) if task == "direction" else 10
