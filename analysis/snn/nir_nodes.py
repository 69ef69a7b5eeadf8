"""The modules a NIR graph becomes (:func:`~analysis.snn.from_nir`): :class:`NIRNetwork` (a graph of
layers run on ``[T, B, ...]``), :class:`NIRNeuron` (NIR's IF, LIF, LI, CubaLIF and Threshold with
one value per neuron, discretised with ``dt``) and :class:`NIRConv1d`.

**NIRNeuron**, per step t, elementwise with parameters of the node's shape (each neuron its own):

- ``CubaLIF`` first updates its synaptic current, I ← a_s·I + b_s·x (a_s = 1 − dt/τ_syn,
  b_s = (dt/τ_syn)·w_in), and feeds the membrane that new current (the input reaches the membrane in
  the step it arrives, as snnTorch's ``Synaptic`` and SpikingJelly's ``CUBALIFNode`` do); the others
  feed the membrane x;
- membrane h = a·v + g·x + c: IF a = 1, g = dt·R, c = 0; LIF/LI/CubaLIF a = 1 − dt/τ (τ_mem),
  g = (dt/τ)·R, c = (dt/τ)·v_leak (forward Euler of τ·v̇ = v_leak − v + R·I);
- IF/LIF/CubaLIF fire z = H(h − θ) (NIR: above θ; ``fire_at_threshold`` where the graph's metadata
  says so) and reset by subtracting θ (NIR ≤ 1.0.4, and any node whose metadata says
  ``reset="subtract"``) or to ``v_reset`` (the node has one: NIR ≥ 1.0.7); output the spikes;
- LI outputs its membrane h (no spikes); ``Threshold`` is stateless: z = H(x − θ).

The membrane starts at ``v_init`` (0 unless the node's ``metadata["v_init"]`` says otherwise, also
with a hard reset; CubaLIF's current at 0).
The counting rule is :func:`analysis.counting.rules.nir.nir_neuron_rule`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from analysis.snn.checks import check_finite
from analysis.snn.neurons import IFNeuron
from analysis.validate import check_choice

__all__ = ["NEURON_KINDS", "NIRConv1d", "NIRNetwork", "NIRNeuron"]

#: The NIR neuron nodes a :class:`NIRNeuron` runs.
NEURON_KINDS = ("IF", "LIF", "LI", "CubaLIF", "Threshold")


def _param(value: float | Tensor) -> Tensor:
    return torch.as_tensor(value, dtype=torch.float32).clone()


class NIRNeuron(IFNeuron):
    """A NIR neuron node with per-neuron parameters (see the module docstring). ``kind``: one of
    :data:`NEURON_KINDS`; ``threshold``, ``decay`` (a), ``gain`` (g), ``drive`` (c), ``syn_decay``
    (a_s), ``syn_gain`` (b_s), ``v_reset``, ``v_init``: floats or tensors that broadcast over one
    sample's neurons. ``reset``: ``"soft"`` (subtract θ) or ``"hard"`` (to ``v_reset``)."""

    def __init__(self, kind: str, threshold: float | Tensor = 1.0, decay: float | Tensor = 1.0,
                 gain: float | Tensor = 1.0, drive: float | Tensor = 0.0, syn_decay: float | Tensor = 0.0,
                 syn_gain: float | Tensor = 1.0, reset: str = "soft", v_reset: float | Tensor = 0.0,
                 v_init: float | Tensor = 0.0, fire_at_threshold: bool = False, timesteps: int = 1):
        super().__init__(1.0, timesteps)
        check_choice("NIRNeuron kind", kind, NEURON_KINDS)
        check_choice("NIRNeuron reset", reset, ("soft", "hard"))
        self.kind, self.reset, self.fire_at_threshold = kind, reset, bool(fire_at_threshold)
        self.threshold = _param(threshold)
        for name, value in (("decay", decay), ("gain", gain), ("drive", drive), ("syn_decay", syn_decay),
                            ("syn_gain", syn_gain), ("v_reset", v_reset), ("v_start", v_init)):
            self.register_buffer(name, _param(value))
        if kind != "Threshold" and not bool(((self.decay > 0) & (self.decay <= 1)).all()):
            raise ValueError(f"NIRNeuron({kind}): every decay 1 − dt/τ must lie in (0, 1]; choose dt below every τ")

    @property
    def spiking(self) -> bool:
        return self.kind != "LI"

    @property
    def states(self) -> int:
        """State variables read and written per update: membrane (and CubaLIF's current)."""
        return {"Threshold": 0, "CubaLIF": 2}.get(self.kind, 1)

    def _fire(self, u: Tensor) -> Tensor:
        return (u >= 0).to(u.dtype) if self.fire_at_threshold else (u > 0).to(u.dtype)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2:
            raise ValueError(f"NIRNeuron({self.kind}) takes [T, B, ...]; got {tuple(x.shape)}")
        check_finite(f"NIRNeuron({self.kind})", x)
        p = {name: buf.to(x.dtype) for name, buf in self.named_buffers()}
        neurons = tuple(x.shape[2:])
        for name, value in p.items():
            try:
                fits = torch.broadcast_shapes(value.shape, neurons) == neurons
            except RuntimeError:
                fits = False
            if not fits:
                raise ValueError(f"NIRNeuron({self.kind}): its {name} has shape {tuple(value.shape)}, which does not "
                                 f"fit the {neurons} neurons of its input {tuple(x.shape)} ([T, B, ...]); check the "
                                 "node's shape in the NIR graph")
        if self.kind == "Threshold":
            return self._fire(x - p["threshold"])
        v = torch.zeros_like(x[0]) + p["v_start"]
        current = torch.zeros_like(x[0])
        out = torch.empty_like(x)
        for t in range(x.shape[0]):  # sequential by definition
            drive = x[t]
            if self.kind == "CubaLIF":
                current = p["syn_decay"] * current + p["syn_gain"] * drive
                drive = current
            h = p["decay"] * v + p["gain"] * drive + p["drive"]
            if not self.spiking:
                out[t], v = h, h
                continue
            s = self._fire(h - p["threshold"])
            v = h - s * p["threshold"] if self.reset == "soft" else torch.where(s > 0, p["v_reset"], h)
            out[t] = s
        return out

    def extra_repr(self) -> str:
        return f"kind={self.kind}, neurons={tuple(self.threshold.shape)}, reset={self.reset!r}"


class NIRConv1d(nn.Module):
    """NIR's ``Conv1d`` on ``[..., C, L]``, held as a ``Conv2d`` with kernel ``(1, k)`` on
    ``[N, C, 1, L]`` so that the counter's conv rule counts its ACs from the actual spikes."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-2]
        y = self.conv(x.reshape(-1, x.shape[-2], 1, x.shape[-1]))
        return y.reshape(*lead, y.shape[1], y.shape[-1])


class NIRNetwork(nn.Module):
    """The layers of a NIR graph run on ``[T, B, ...]`` (time first; ``input_time_axis = 0``, which
    :func:`~analysis.counting.count_events` reads), returning the output node's ``[T, B, ...]``.

    ``layers`` in an order where every layer's inputs come before it; ``sources[i]``: the indices of
    layer i's inputs (−1: the graph's input), two for a :class:`~analysis.snn.ResidualAdd` (where NIR
    sums the inputs of a node), one otherwise; ``output``: the index of the layer the output node
    reads. A chain runs as ``body`` (an ``nn.Sequential``). ``dt``: the step its neurons were
    discretised with (also ``nir_dt``, recorded in a counted ledger's ``meta``)."""

    input_time_axis = 0

    def __init__(self, layers: list[nn.Module], dt: float, sources: list[tuple[int, ...]] | None = None,
                 output: int | None = None):
        super().__init__()
        self.body = nn.Sequential(*layers)
        self.dt = float(dt)
        chain = [(i - 1,) for i in range(len(layers))]
        self.sources = [tuple(s) for s in sources] if sources is not None else chain
        self.output = len(layers) - 1 if output is None else int(output)
        if len(self.sources) != len(layers) or any(j >= i for i, s in enumerate(self.sources) for j in s):
            raise ValueError("NIRNetwork: sources must name, for each layer, inputs that come before it")
        self.is_chain = self.sources == chain and self.output == len(layers) - 1

    @property
    def nir_dt(self) -> float:
        return self.dt

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2:
            raise ValueError(f"NIRNetwork takes [T, B, ...] (time first); got {tuple(x.shape)}")
        for m in self.body.modules():
            if isinstance(m, IFNeuron):
                m.timesteps = int(x.shape[0])
        if self.is_chain:
            return self.body(x)
        outs: list[Tensor] = []
        for layer, src in zip(self.body, self.sources, strict=True):
            outs.append(layer(*(x if j < 0 else outs[j] for j in src)))
        return x if self.output < 0 else outs[self.output]
