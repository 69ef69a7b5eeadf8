"""A converted network (:class:`SpikingNetwork`): its body of converted layers, the spiking form and
step count it runs with, the check of its input, and its layout (how it is executed: all steps at
once, streamed timestep by timestep, or the OneSpike groups carried as one sum), which it sets on
every layer of :mod:`analysis.snn.modules` it holds.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from analysis.snn.modules import MeanOverSteps, PSGLayer, RepeatSteps, Stepwise
from analysis.snn.neurons import IFNeuron, check_finite, check_positive_int
from analysis.snn.vocabulary import SpikingForm, StepAxis
from analysis.validate import check_choice

__all__ = ["SpikingNetwork"]


class SpikingNetwork(nn.Module):
    """A converted network: ``body`` maps analog input ``[B, ...]`` to logits ``[B, classes]``.

    ``form`` is a :class:`~analysis.snn.vocabulary.SpikingForm`: ``SpikingForm.IF`` (``steps``
    sequential timesteps) or ``SpikingForm.ONESPIKE`` (``steps`` parallel groups in one timestep); its
    word (``"if"``/``"onespike"``) is accepted. ``method`` is the name of the method it is (the form's
    word: what a ledger records).
    """

    LAYOUTS = ("auto", "sequence", "stream", "grouped", "onepass")
    #: The layouts a network whose steps run on each axis may take.
    LAYOUTS_ON: ClassVar[dict[StepAxis, tuple[str, ...]]] = {
        StepAxis.TIME: ("auto", "sequence", "stream"), StepAxis.GROUPS: ("auto", "grouped", "onepass")}
    #: ``layout="auto"`` streams an IF SNN timestep by timestep from this T on.
    STREAM_FROM_T = 16

    def __init__(self, body: nn.Module, form: SpikingForm | str, steps: int, input_encoding: str = "analog",
                 layout: str = "auto"):
        super().__init__()
        self.body = body
        self.form = SpikingForm.parse(form, "SpikingNetwork form")
        self.steps = check_positive_int(self.axis.noun, steps)
        self.input_encoding = input_encoding
        self.layout = layout

    @property
    def method(self) -> str:
        """The name of the method this network is (the form's word, a plain string)."""
        return self.form.value

    @property
    def axis(self) -> StepAxis:
        """The axis its steps run on."""
        return self.form.axis

    @property
    def layout(self) -> str:
        """How the network is executed (same logits and same ledger either way).

        IF SNN: ``"sequence"`` runs each layer on all T steps at once (``[T, B, ...]``, fastest);
        ``"stream"`` runs the whole network one timestep at a time with each layer's membrane kept
        as state, so peak memory does not grow with T. OneSpike: ``"grouped"`` carries the G spike
        maps ``[G, B, ...]`` through every layer (the explicit per-group reference); ``"onepass"``
        carries only their sum Σ_g s_g, since the next layer needs only W·Σ_g s_g (+ G·bias): one
        quantized-ANN-sized forward. ``"auto"``: ``onepass`` for OneSpike, ``stream`` for IF from
        T >= STREAM_FROM_T, else ``sequence``.
        """
        return self._layout

    @layout.setter
    def layout(self, value: str) -> None:
        check_choice(f"layout for a {self.method} network", value, self.LAYOUTS_ON[self.axis])
        self._layout = value
        resolved = self.resolved_layout
        groups = self.steps if resolved == "onepass" else None
        for m in self.body.modules():
            if isinstance(m, Stepwise | MeanOverSteps):
                m.onepass_groups = groups
            elif isinstance(m, PSGLayer):
                m.onepass = groups is not None

    @property
    def resolved_layout(self) -> str:
        if self._layout != "auto":
            return self._layout
        if self.axis is StepAxis.GROUPS:
            return "onepass"
        return "stream" if self.steps >= self.STREAM_FROM_T else "sequence"

    @property
    def timesteps(self) -> int:
        """Sequential steps of one inference: T for IF, 1 for OneSpike."""
        return self.steps if self.axis is StepAxis.TIME else 1

    @property
    def groups(self) -> int:
        """Parallel groups of one inference: G for OneSpike, 1 for IF."""
        return self.steps if self.axis is StepAxis.GROUPS else 1

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        if self.resolved_layout == "stream":
            return self._forward_stream(x)
        return self.body(x)

    def _check_input(self, x: Tensor) -> None:
        """A clear error for input of the wrong rank or channel count, or holding NaN/Inf."""
        first = next((m for m in self.body.modules() if isinstance(m, nn.Conv2d | nn.Linear)), None)
        if isinstance(first, nn.Conv2d) and (x.dim() != 4 or x.shape[1] != first.in_channels):
            raise ValueError(
                f"{self.method} network expects images [B, {first.in_channels}, H, W]; got shape {tuple(x.shape)}"
            )
        if x.dim() < 2:
            raise ValueError(f"{self.method} network expects a batch [B, ...]; got shape {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError(f"{self.method} network got an empty batch (shape {tuple(x.shape)}); pass at least one "
                             "sample")
        check_finite("network", x)

    def _flat_program(self) -> list[nn.Module]:
        """The body as a flat list of modules: nested Sequentials are compositions, so unrolling them
        is exact, and it lets the analog prefix (e.g. a ResNet stem's conv) run once, not per step."""
        items: list[nn.Module] = []

        def unroll(module: nn.Module) -> None:
            if type(module) is nn.Sequential:
                for child in module.children():
                    unroll(child)
            else:
                items.append(module)

        unroll(self.body)
        return items

    def _forward_stream(self, x: Tensor) -> Tensor:
        """Timestep by timestep: the analog prefix (layers before the first neuron) runs once, the
        rest once per step with the IF membranes as state; logits are averaged over the steps."""
        items = self._flat_program()
        first = next(i for i, m in enumerate(items)
                     if any(isinstance(sub, IFNeuron | RepeatSteps) for sub in m.modules()))
        readout = items[-1] if isinstance(items[-1], MeanOverSteps) else None
        body = items[first:-1] if readout is not None else items[first:]
        stateful = [m for m in self.body.modules() if isinstance(m, IFNeuron | RepeatSteps)]
        h0 = x
        for m in items[:first]:
            h0 = m(h0)
        try:
            for m in stateful:
                if isinstance(m, IFNeuron):
                    m.start_stream()
                else:
                    m.streaming = True
            total = None
            for _ in range(self.steps):
                h = h0
                for m in body:
                    h = m(h)
                total = h[0] if total is None else total + h[0]
        finally:
            for m in stateful:
                if isinstance(m, IFNeuron):
                    m.stop_stream()
                else:
                    m.streaming = False
        return total / self.steps

    def extra_repr(self) -> str:
        return f"method={self.method!r}, steps={self.steps}, input_encoding={self.input_encoding!r}"
