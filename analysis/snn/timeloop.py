"""Run a network of framework neurons (SpikingJelly, snnTorch, Norse, Sinabs) for T steps, as one
call per inference: :class:`TimeLoop`.

A static input ``[B, ...]`` (an image) is fed at every step; a sequence ``[T, B, ...]`` (event
frames, video; ``sequence=True``) feeds frame t at step t. Which one a tensor is cannot be read
from its values, so it is declared: a static ``TimeLoop`` refuses an input whose rank is one more
than its first convolution takes, naming ``sequence=True``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from analysis.snn.frameworks import call_layout, is_framework_neuron, reset_state, returns_state
from analysis.snn.modules import RepeatSteps
from analysis.validate import check_positive_int

__all__ = ["TimeLoop", "first_synapse_rank"]


def first_synapse_rank(net: nn.Module) -> int | None:
    """The input rank (batch included) that the first convolution of ``net`` takes per step (3
    for Conv1d, 4 for Conv2d, 5 for Conv3d), or None when the first synaptic layer is a Linear
    (it takes any rank) or there is none."""
    for m in net.modules():
        if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d):
            return {nn.Conv1d: 3, nn.Conv2d: 4, nn.Conv3d: 5}[next(c for c in (nn.Conv1d, nn.Conv2d, nn.Conv3d)
                                                                 if isinstance(m, c))]
        if isinstance(m, nn.Linear):
            return None
    return None


class TimeLoop(nn.Module):
    """Run a framework network for ``timesteps`` steps and average its output over time.

    The state is reset first. ``sequence=False`` (the default): the input ``[B, ...]`` is the same
    at every step; ``sequence=True``: the input is ``[T, B, ...]`` and step t gets ``x[t]`` (its
    time axis is declared to :func:`~analysis.counting.count_events` through
    :attr:`input_time_axis`, so counts stay per sample of B). By the network's neurons:

    - multi-step (SpikingJelly ``step_mode='m'``, Norse ``LIF``): one call on ``[T, B, ...]`` (the
      input repeated over time by :class:`~analysis.snn.RepeatSteps`, a view), output averaged over T;
    - Sinabs ``[B, T, ...]`` layers (``*Squeeze``: ``[B·T, ...]``): one call, the time axis second;
    - one step per call (SpikingJelly ``'s'``, snnTorch ``init_hidden=True``, Norse cells in a
      ``SequentialState``, whose state is passed back in): T calls, outputs (the first element of a
      tuple) averaged.
    """

    def __init__(self, net: nn.Module, timesteps: int, sequence: bool = False):
        super().__init__()
        self.net = net
        self.timesteps = check_positive_int("timesteps", timesteps)
        self.sequence = bool(sequence)
        self.repeat = RepeatSteps(self.timesteps)
        layouts = {call_layout(m) for m in net.modules() if is_framework_neuron(m)}
        if len(layouts) > 1:
            raise ValueError(f"TimeLoop: the network mixes neuron call layouts {sorted(layouts)}; step it yourself")
        #: the call layout of the network's neurons (``"step"`` when it has none), read once
        self.layout = next(iter(layouts), "step")
        self.threaded = any(returns_state(m) for m in net.modules())  # Norse: the state is passed back in

    @property
    def input_time_axis(self) -> int | None:
        """0 for a sequence input ``[T, B, ...]``, None for a static one (read by ``count_events``)."""
        return 0 if self.sequence else None

    @property
    def multi_step(self) -> bool:
        return self.layout == "tb"

    def _check(self, x: Tensor) -> None:
        rank = first_synapse_rank(self.net)
        if self.sequence:
            if x.dim() < 2 or x.shape[0] != self.timesteps:
                raise ValueError(f"TimeLoop(sequence=True) takes [T={self.timesteps}, B, ...] frames; got shape "
                                 f"{tuple(x.shape)}")
            if rank is not None and x.dim() != rank + 1:
                raise ValueError(f"TimeLoop(sequence=True): the first convolution takes {rank}-D steps, so the "
                                 f"sequence must be {rank + 1}-D [T, B, ...]; got {tuple(x.shape)}")
        elif rank is not None and x.dim() == rank + 1:
            raise ValueError(
                f"TimeLoop(net, {self.timesteps}) feeds a static input [B, ...] at every step, but got "
                f"{tuple(x.shape)}, one axis more than the first convolution takes: a sequence [T, B, ...]. Pass "
                f"TimeLoop(net, {self.timesteps}, sequence=True) to feed frame x[t] at step t, or count the network "
                "itself with count_events(net, time_axis=0)")

    def _steps(self, x: Tensor) -> Any:
        """The input of one multi-step call: the sequence, or the static input repeated over T."""
        return x if self.sequence else self.repeat(x)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        reset_state(self.net)
        t = self.timesteps
        layout = self.layout
        if layout == "tb":
            out = self.net(self._steps(x))
            return (out[0] if isinstance(out, tuple | list) else out).mean(dim=0)
        if layout in ("bt", "squeezed"):
            seq = self._steps(x).transpose(0, 1)  # [B, T, ...]
            if layout == "squeezed":
                seq = seq.reshape(seq.shape[0] * t, *seq.shape[2:])
            out = self.net(seq)
            out = out[0] if isinstance(out, tuple | list) else out
            if layout == "squeezed":
                out = out.reshape(out.shape[0] // t, t, *out.shape[1:])
            return out.mean(dim=1)
        state = None
        threaded = self.threaded
        total = None
        for step in range(t):
            frame = x[step] if self.sequence else x
            out = self.net(frame, state) if threaded else self.net(frame)
            if threaded:
                out, state = out
            out = out[0] if isinstance(out, tuple | list) else out
            total = out if total is None else total + out
        return total / t

    def extra_repr(self) -> str:
        return f"timesteps={self.timesteps}" + (", sequence=True" if self.sequence else "")
