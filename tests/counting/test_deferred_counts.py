"""Non-zero counts read when the ledger is written (issue 34): a :class:`Deferred` count equals the
count read at once, for every conv geometry, linear, shared or fresh map, repeated-group factor and
in-place change; the ledger builder adds each exactly once, also past its pending limit."""

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from analysis.counting import count_events
from analysis.counting import ledger_builder as builder_module
from analysis.counting import nonzero as nonzero_module
from analysis.counting.nonzero import Deferred, NonzeroMaps, value_of
from analysis.counting.rules import synapses as synapses_module
from analysis.counting.rules.synapses import deferred_synapses, reached_synapses


@pytest.fixture(params=["deferred", "at once"])
def defer(request, monkeypatch):
    """Every count deferred (threshold 0), or none (the default threshold, above these small tensors)."""
    if request.param == "deferred":
        monkeypatch.setattr(nonzero_module, "DEFER_ELEMENTS", 0)
        monkeypatch.setattr(synapses_module, "DEFER_ELEMENTS", 0)
    return request.param


def sparse(shape, density, seed):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=generator)
    return x * (torch.rand(shape, generator=generator) < density)


@pytest.mark.parametrize("threshold", [0, None])
@settings(max_examples=150, deadline=None)
@given(kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)), stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.integers(0, 2), dilation=st.integers(1, 2),
       padding_mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]),
       hw=st.tuples(st.integers(5, 11), st.integers(5, 11)), batch=st.integers(1, 3), density=st.floats(0.0, 1.0),
       known=st.sampled_from(["nothing", "map", "total"]), seed=st.integers(0, 2**16))
def test_a_deferred_conv_count_equals_the_count_read_at_once(threshold, kernel, stride, padding, dilation,
                                                             padding_mode, hw, batch, density, known, seed):
    """Against the eager sums (themselves checked against the autograd definition in test_geometry) and
    the per-position definition: Σ over non-zero inputs of the outputs each reaches, times C_out/groups."""
    assume(all(dilation * (k - 1) < size + 2 * padding for k, size in zip(kernel, hw, strict=True)))
    assume(padding_mode in ("zeros", "circular") or padding < min(hw))  # reflect pads less than the size
    conv = nn.Conv2d(4, 6, kernel, stride, padding, dilation, groups=2, padding_mode=padding_mode)
    x = sparse((batch, 4, *hw), density, seed)
    maps = NonzeroMaps()
    if known == "map":
        maps.of(x)
    elif known == "total":
        maps.count(x)
    with pytest.MonkeyPatch.context() as patch:
        if threshold is not None:  # every count deferred (by default these small tensors are read at once)
            patch.setattr(nonzero_module, "DEFER_ELEMENTS", threshold)
            patch.setattr(synapses_module, "DEFER_ELEMENTS", threshold)
        total, reached = (value_of(v) for v in deferred_synapses(conv, x, maps))
    eager = reached_synapses(conv, x, indicator=True)
    assert (total, reached) == eager
    active = (x != 0).to(torch.float64)
    if padding_mode != "zeros":
        active = F.pad(active, conv._reversed_padding_repeated_twice, mode=padding_mode)
        pad = 0
    else:
        pad = padding
    ones = torch.ones(6, 2, *kernel, dtype=torch.float64)
    assert reached == float(F.conv2d(active, ones, None, stride, pad, dilation, groups=2).sum())
    assert total == float((x != 0).sum())


@pytest.mark.parametrize("shape", [(3, 7), (2, 5, 7), (2, 3, 4, 7)])
def test_a_deferred_linear_count_and_its_factors(defer, shape):
    linear = nn.Linear(7, 5)
    x = sparse(shape, 0.4, 1)
    total, reached = deferred_synapses(linear, x, NonzeroMaps())
    nonzero = int((x != 0).sum())
    assert (value_of(total), value_of(reached)) == (nonzero, nonzero * 5)
    assert value_of(reached * 3) == value_of(3 * reached) == nonzero * 15  # a one-pass sum repeated in G groups


def test_a_deferred_count_reads_the_map_taken_when_the_layer_ran(defer):
    """The map is a copy of what the layer saw: an in-place change after the hook moves nothing."""
    x = sparse((2, 3, 5, 5), 0.5, 2)
    expected = int((x != 0).sum())
    count = NonzeroMaps().deferred(x)
    x.fill_(1.0)
    assert isinstance(count, Deferred) == (defer == "deferred") and value_of(count) == expected


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.relu = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv(self.relu(self.conv(x)[:, :3])))


@pytest.mark.parametrize(("limit", "nbytes"), [(1, 2**30), (3, 2**30), (4096, 2**30), (4096, 100)])
def test_the_builder_adds_every_deferred_count_once_whenever_it_settles(monkeypatch, defer, limit, nbytes):
    """Counts settled every `limit` records or `nbytes` bytes of maps (a long count holds no more than
    that) equal the counts settled at the end, layer by layer, and equal the eager definition."""
    monkeypatch.setattr(builder_module, "PENDING_LIMIT", limit)
    monkeypatch.setattr(builder_module, "PENDING_BYTES", nbytes)
    torch.manual_seed(0)
    model, x = Twice().eval(), torch.randn(2, 3, 6, 6)
    with torch.no_grad(), count_events(model) as ledger:
        model(x)
        model(x)
    with torch.no_grad():
        first = F.relu(model.conv(x)[:, :3])
        second = F.relu(model.conv(first))
    assert ledger.samples == 4  # two forwards of two samples: each call site's counts are per sample
    assert ledger.layer("relu").output_nonzero == int((first != 0).sum()) / 2
    assert ledger.layer("relu#2").output_nonzero == int((second != 0).sum()) / 2
    assert ledger.layer("conv#2").input_nonzero == int((first != 0).sum()) / 2
