"""SNNs fed event frames, one frame per step, and their one-step (OneSpike) forms.

An event sample is ``[T, C, H, W]`` of 0/1 (ON/OFF frames, :mod:`analysis.data.events`), a batch
``[B, T, C, H, W]`` (batch first, as a ``DataLoader`` stacks them).

- :class:`EventSNN` is the training form (a :class:`~analysis.snn.onestep.DirectSNN` whose body
  sees frame t at step t instead of the same image at every step);
- :func:`event_network` converts it: ``"if"`` gives the T-step SNN in deploy form (batch norm folded,
  the same dynamics), fed frame t at step t; ``"onespike"`` gives OneSpike(G = T) with the SNN's own
  thresholds, whose first layer takes the T frames as its G input spike maps and, as every OneSpike
  layer, averages their currents before it spikes: ``(1/G)·Σ_g (W·s_g + b) = W·mean_t(s_t) + b``.
  It therefore sees the frames **only through their sum**, whatever their order (what Q15 measures).

Both are :class:`EventNetwork` (a :class:`~analysis.snn.SpikingNetwork` taking ``[B, T, C, H, W]``),
whose first module :class:`EventInput` hands the frames over as spikes: its counting rule
(:mod:`analysis.counting.rules.event_input`) declares them spikes, so the first layer counts one AC per
(event, synapse it reaches), as every later layer does, and the ledger counts B samples.
"""

from __future__ import annotations

import copy

from torch import Tensor, nn

from analysis.snn.context import fold_batchnorm
from analysis.snn.convert import to_if_snn, to_onespike
from analysis.snn.network import SpikingNetwork
from analysis.snn.onestep import DirectSNN
from analysis.snn.vocabulary import SpikingForm, StepAxis
from analysis.validate import check_positive_int

__all__ = ["EventInput", "EventNetwork", "EventSNN", "check_event_batch", "event_network"]


def check_event_batch(x: Tensor, frames: int, what: str) -> None:
    """A clear error unless ``x`` is a batch of event samples ``[B, frames, C, H, W]``."""
    if x.dim() != 5 or x.shape[1] != frames:
        raise ValueError(f"{what} takes event frames [B, T={frames}, C, H, W] (one frame per step); got shape "
                         f"{tuple(x.shape)}: bin the events into {frames} frames (or build the network for T = "
                         f"{x.shape[1] if x.dim() == 5 else 'your T'})")
    if x.shape[0] == 0:
        raise ValueError(f"{what} got an empty batch (shape {tuple(x.shape)}); pass at least one sample")


class EventSNN(DirectSNN):
    """A T-step SNN in training form fed one event frame per step: ``mean_t body(x[:, t])_t``, the
    body on ``[T·B, C, H, W]`` (time-major, as :class:`~analysis.snn.FoldedTime` neurons expect)."""

    def forward(self, x: Tensor) -> Tensor:
        check_event_batch(x, self.timesteps, "EventSNN")
        b, t = x.shape[:2]
        out = self.body(x.transpose(0, 1).reshape(t * b, *x.shape[2:]))
        return out.reshape(t, b, *out.shape[1:]).mean(dim=0)


class EventInput(nn.Module):
    """``[B, T, C, H, W]`` event frames -> the converted network's input spikes: ``[T, B, C, H, W]``
    (frame t at step t, or as group t), or in OneSpike's one-pass layout their sum ``[B, C, H, W]``
    (``summed``: the next layer needs only W·Σ_g s_g)."""

    def __init__(self, frames: int):
        super().__init__()
        self.frames = check_positive_int("frames", frames)
        self.summed = False

    def forward(self, x: Tensor) -> Tensor:
        check_event_batch(x, self.frames, "the event network")
        return x.sum(dim=1) if self.summed else x.transpose(0, 1)

    def extra_repr(self) -> str:
        return f"frames={self.frames}, summed={self.summed}"


class EventNetwork(SpikingNetwork):
    """A converted network fed event frames ``[B, T, C, H, W]`` (see the module docstring). An IF
    network runs in the ``sequence`` layout (all T frames at once)."""

    @property
    def layout(self) -> str:
        return SpikingNetwork.layout.fget(self)

    @layout.setter
    def layout(self, value: str) -> None:
        if self.axis is StepAxis.TIME and value == "stream":
            raise ValueError("an event network runs its T frames in the 'sequence' layout; 'stream' is not supported")
        SpikingNetwork.layout.fset(self, value)
        for module in self.body.modules():
            if isinstance(module, EventInput):
                module.summed = self.resolved_layout == "onepass"

    @property
    def resolved_layout(self) -> str:
        if self.axis is StepAxis.TIME:
            return "sequence"
        return SpikingNetwork.resolved_layout.fget(self)

    def _check_input(self, x: Tensor) -> None:
        check_event_batch(x, self.steps, f"the {self.method} event network")


def event_network(direct: EventSNN, method: SpikingForm | str = SpikingForm.IF, mode: str = "exact",
                  layout: str = "auto") -> EventNetwork:
    """The deploy form of ``direct`` fed event frames: ``method="if"`` its T-step SNN, ``"onespike"``
    OneSpike(G = T) with its own thresholds (``mode``: ``"exact"`` or ``"hardware"``, which needs
    power-of-two thresholds: :func:`~analysis.snn.onestep.pow2_thresholds` first). See the module
    docstring."""
    if not isinstance(direct, EventSNN):
        raise TypeError(f"event_network takes an EventSNN (the training form fed event frames), got "
                        f"{type(direct).__name__}")
    form = SpikingForm.parse(method, "event_network method (the T-step SNN or its one-step form)")
    steps = direct.timesteps
    source = fold_batchnorm(direct.body)  # both forms on the same folded weights (to_onespike keeps the
    if form.axis is StepAxis.TIME:        # batch norms of a body with spiking neurons, priced per group)
        converted = to_if_snn(source, steps, input_encoding="spikes", layout="sequence")
    else:
        converted = to_onespike(source, steps, mode=mode, input_encoding="spikes", layout="grouped")
    body = copy.copy(converted.body)
    encoder = EventInput(steps)
    encoder.source_name = "events"
    body.encoder = encoder  # replaces the pixel encoder: the input already is spikes, worth 1 each
    network = EventNetwork(body, converted.form, steps, input_encoding="events",
                           layout="sequence" if form.axis is StepAxis.TIME else layout)
    network.source_name = ""
    return network.eval()
