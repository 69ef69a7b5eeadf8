"""The checks a study makes before it trains or writes anything.

Training is the expensive step (hours on a real model), so everything that would make a study fail
later is tried first on the untrained network, in milliseconds: the network is built (a factory
that raises is named), has parameters, accepts one image of the data and returns one logit per
class; the weights the user gave fit it (missing and unexpected keys, shapes, the architecture a
checkpoint was saved for) and are finite; and every method of the study is derived from it as the
study will (``to_quantized``, ``to_binary``, the IF and OneSpike conversions at the first T) and
run on that image. A network the conversion refuses (``F.gelu``, ``x.shape`` in control flow, max
pooling for the spiking methods, no ReLU at all) is refused here, by name, in one line, before
the run folder is touched. The torch random state is left as it was.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from analysis.data import DataSplit
from analysis.methods import get_method, method_names
from analysis.snn import is_framework_neuron
from analysis.study.checkpoint_files import CheckpointError, check_finite_state, check_trained_on, load_weights
from analysis.study.config import StudyConfig
from analysis.study.direct import trained_by
from analysis.study.networks import ModelSpec, derive, read_weights

__all__ = ["check", "needed_methods"]


def needed_methods(config: StudyConfig) -> list[str]:
    """The study's methods and every method they are built from, in registry order."""
    needed: set[str] = set()
    for name in config.methods:
        while name is not None:
            needed.add(name)
            name = get_method(name).parent
    return [name for name in method_names() if name in needed]


def _shape(t: torch.Tensor) -> str:
    return "×".join(str(d) for d in t.shape)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _given(config: StudyConfig) -> dict[str, tuple[str, dict[str, Any], dict[str, Any]]]:
    """``{method: (path, state_dict, recorded config)}`` of the checkpoints the user gave."""
    given = {}
    for path in config.checkpoints:
        state, meta = read_weights(path)
        check_finite_state(state, f"checkpoint {path!r}")
        check_trained_on(meta, config.data, f"checkpoint {path!r}")
        given.setdefault(meta.get("method"), (path, state, meta))
    return given


def _probe(net: nn.Module, image: torch.Tensor, what: str, num_classes: int, data: str) -> None:
    """Run ``net`` on one image; a one-line error naming ``what`` when it refuses the image or does
    not return ``[1, num_classes]`` logits."""
    try:
        with torch.no_grad():
            out = net.eval()(image)
    except Exception as exc:  # the user's forward: any exception is the network refusing the input
        raise ValueError(f"{what} does not accept {_shape(image[0])} input (one {data} image, channels×height×width)"
                         f": {_one_line(exc)}") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, num_classes):
        got = f"shape {list(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        fix = ""
        if isinstance(out, tuple | list) and any(is_framework_neuron(m) for m in net.modules()):
            fix = (": a snnTorch neuron with output=True returns (spikes, membrane); wrap the network as "
                   "analysis.snn.TimeLoop(net, T), which reads the spikes, or return the logits alone from forward")
        raise ValueError(f"{what} returns {got} for one {_shape(image[0])} image; a study needs logits of shape "
                         f"[batch, {num_classes}] ({data} has {num_classes} classes){fix}")


def _check_arch(config: StudyConfig, arch: str, split: DataSplit, given: dict, image: torch.Tensor) -> None:
    spec = ModelSpec(arch, config.options_for(arch), config.model)
    label = f"--model {config.model!r}" if config.model else f"architecture {arch!r}"
    nets: dict[str, nn.Module] = {}
    steps = config.timesteps[0]
    for method in needed_methods(config):
        method_spec = get_method(method)
        what = f"{label} ({method_spec.display(steps if method_spec.stepped else None)})"
        if method_spec.parent is None and config.model and config.methods and all(
                trained_by(m) is not None for m in config.methods):
            what = f"{label} (your SNN, as given)"  # a user's SNN stands where the ANN would
        if method_spec.parent is None:
            net = spec.build(split.num_classes, split.in_channels, split.image_size)
            if next(net.parameters(), None) is None:
                raise ValueError(f"{label} has no parameters: there is nothing to train or convert; give a network "
                                 "with weights (conv / linear layers)")
            check_finite_state(net.state_dict(), f"{label}'s untrained network")
        else:
            parent = nets[method_spec.parent]
            options = {"levels": config.levels} if method_spec.trained else {"steps": steps}
            if method_spec.trains_directly:  # an SNN of T steps; a user's SNN's layer order read from one image
                options = {"steps": steps, "example": image}
            net = derive(method, parent, calibration=image, **options)
        if method in given:
            path, state, meta = given[method]
            saved = meta.get("arch")
            if saved is not None and saved != arch:
                raise CheckpointError(f"checkpoint {path!r} was saved for architecture {saved!r} (options "
                                      f"{meta.get('options', {})}), not {arch!r}: pass --arch {saved} or the "
                                      "checkpoint of this architecture")
            load_weights(net, state, f"checkpoint {path!r}",
                         f"{label} ({method}; saved for {saved!r}, options {meta.get('options', {})})"
                         if saved else f"{label} ({method})")
        _probe(net, image, what, split.num_classes, config.data)
        nets[method] = net


def check(config: StudyConfig, split: DataSplit) -> None:
    """Refuse, before any training or writing, a study that would fail later (see the module
    docstring); returns None when every architecture and method passes."""
    given = _given(config)
    image = split.test[0][0].unsqueeze(0)
    if not image.is_floating_point():
        image = image.float()
    with torch.random.fork_rng(devices=[]):
        for arch in config.archs:
            _check_arch(config, arch, split, given, image)
