"""How many inferences (samples) a count saw, also for a network stepped from outside.

Counts are per sample: the totals are divided by the samples the counted forwards ran. A network
of SpikingJelly or snnTorch neurons written one step per call is often run as

    functional.reset_net(net)          # snnTorch: utils.reset(net)
    for t in range(T):
        out = net(x)

where each call is one timestep of one inference, not an inference of its own. The neurons say
which: a call whose first neuron starts from reset state opens an inference (its batch counts as
samples); a call whose first neuron carries the state the previous call left continues that
inference (no new samples; the neurons' updates per sample then give the ledger its T). A call that
continues with another batch size, or a first call that carries state from before the count, is an
error naming the fix: reset the network between inferences, or count
:class:`analysis.snn.TimeLoop` ``(net, T)``, which resets and steps it itself.
"""

from __future__ import annotations

import warnings

from torch import Tensor, nn

from analysis.snn.frameworks import call_layout, carries_state, is_multi_step, recognised_neuron

__all__ = ["STEPPED_HINT", "TIME_HINT", "InferenceCounter", "neuron_batch"]

STEPPED_HINT = ("reset its neurons before each inference (SpikingJelly: functional.reset_net(net); snnTorch: "
                "snntorch.utils.reset(net)), or count analysis.snn.TimeLoop(net, T), which resets the network and "
                "steps it T times per call")


TIME_HINT = ("declare the input's time axis: count_events(net, time_axis=0) for [T, B, ...] (time first), "
             "time_axis=1 for [B, T, ...]")


def neuron_batch(module: nn.Module, x: Tensor | None) -> int | None:
    """The batch (samples) of one call of a framework neuron on ``x``, by its call layout."""
    if not isinstance(x, Tensor) or x.dim() < 1:
        return None
    layout = call_layout(module)
    if layout == "tb":
        return int(x.shape[1]) if x.dim() > 1 else None
    if layout == "squeezed":
        steps = int(getattr(module, "num_timesteps", -1))
        batch = int(getattr(module, "batch_size", -1))
        return batch if batch > 0 else (int(x.shape[0]) // steps if steps > 0 else None)
    return int(x.shape[0])


class InferenceCounter:
    """The samples of a count: every root call's batch, except calls that continue an inference
    (see the module docstring). ``neurons``: the network's SpikingJelly/snnTorch neurons (none:
    every call is an inference). ``continued``: the calls that continued an inference."""

    def __init__(self, neurons: list[nn.Module]):
        self.neurons = neurons
        self.samples = 0
        self.continued = 0
        self.pending: int | None = None  # a root call's batch, until its first neuron says what it is
        self.open_batch: int | None = None
        self.warned = False
        self.root_shape: tuple[int, ...] = ()
        self.declared = False  # the caller declared the input's time axis
        #: 0 where a call's input turned out to be [T, B, ...] (its neurons' batch is its second axis)
        self.inferred_time_axis: int | None = None

    def call(self, batch: int, shape: tuple[int, ...] = (), declared: bool = False) -> None:
        """The counted model was called on a batch of ``batch`` samples (its input of ``shape``;
        ``declared``: the batch axis was declared, not guessed). 0 is refused: counts are per sample,
        and no sample would make them 0 or undefined."""
        if batch == 0:
            raise ValueError("count_events: the model was called on a batch of 0 samples, and counts are per sample: "
                             "give at least one sample (check the data loader or the slice of the test set)")
        self.root_shape, self.declared = tuple(shape), declared
        if not self.neurons:
            self.samples += batch
            return
        self.settle()
        self.pending = batch

    def _batch_of_call(self, batch: int, module: nn.Module, args: tuple) -> int:
        """The call's samples, checked against what its first neuron sees: a neuron stepped over
        the frames of a [T, B, ...] input (``x[t]``), or a multi-step neuron fed it whole, sees B."""
        x = args[0] if args and isinstance(args[0], Tensor) else None
        if not recognised_neuron(module):  # no known layout: the module is listed as unsupported anyway
            return batch
        own = neuron_batch(module, x)
        if own is None or own == batch:
            return batch
        name = type(module).__name__
        if call_layout(module) == "squeezed" and x is not None and int(x.shape[0]) == batch:
            return own  # Sinabs [B·T, ...]: the layer's batch_size / num_timesteps say B
        root = self.root_shape
        if not self.declared and len(root) > 1 and root[1] == own:
            self.inferred_time_axis = 0
            return own
        raise ValueError(f"count_events: the counted call's input {root} was taken to hold {batch} samples, but its "
                         f"first {name} neuron updates {own} per step; {TIME_HINT}")

    def neuron_starts(self, module: nn.Module, args: tuple = ()) -> None:
        """A neuron of the network is about to update (forward pre-hook, with its positional
        arguments): the first one of a call says whether the call opens an inference or continues
        one, and how many samples the call holds."""
        if self.pending is None:
            return
        batch, self.pending = self.pending, None
        batch = self._batch_of_call(batch, module, args)
        if not carries_state(module, args):
            self.samples += batch
            self.open_batch = batch
            return
        name = type(module).__name__
        if self.open_batch is None:
            raise ValueError(f"count_events: the first counted call found the network's {name} neurons holding state "
                             f"from a call before the count, so its counts per inference would be wrong; "
                             f"{STEPPED_HINT}")
        if batch != self.open_batch:
            raise ValueError(f"count_events: a call on {batch} samples continued the state of an inference on "
                             f"{self.open_batch} samples (the {name} neurons were not reset in between); "
                             f"{STEPPED_HINT}")
        self.continued += 1
        if is_multi_step(module) and not self.warned:
            self.warned = True
            warnings.warn(f"count_events: the multi-step network was called again without a reset ({name} neurons "
                          "carry the previous call's state): counted as more timesteps of the same inference. If "
                          f"each call is an inference of its own, {STEPPED_HINT}", stacklevel=2)

    def settle(self) -> None:
        """A call in which no neuron ran is an inference of its own."""
        if self.pending is not None:
            self.samples += self.pending
            self.open_batch, self.pending = self.pending, None
