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

from torch import nn

from analysis.snn.frameworks import carries_state, is_multi_step

__all__ = ["STEPPED_HINT", "InferenceCounter"]

STEPPED_HINT = ("reset its neurons before each inference (SpikingJelly: functional.reset_net(net); snnTorch: "
                "snntorch.utils.reset(net)), or count analysis.snn.TimeLoop(net, T), which resets the network and "
                "steps it T times per call")


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

    def call(self, batch: int) -> None:
        """The counted model was called on a batch of ``batch`` samples (0 is refused: counts are
        per sample, and no sample would make them 0 or undefined)."""
        if batch == 0:
            raise ValueError("count_events: the model was called on a batch of 0 samples, and counts are per sample: "
                             "give at least one sample (check the data loader or the slice of the test set)")
        if not self.neurons:
            self.samples += batch
            return
        self.settle()
        self.pending = batch

    def neuron_starts(self, module: nn.Module) -> None:
        """A neuron of the network is about to update (forward pre-hook): the first one of a call
        says whether the call opens an inference or continues one."""
        if self.pending is None:
            return
        batch, self.pending = self.pending, None
        if not carries_state(module):
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
