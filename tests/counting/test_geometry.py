"""The conv fan-out map computed per axis (no torch operator runs) against its definition: the
gradient of the sum of a ones-kernel convolution with respect to its input, for kernels, strides,
paddings (numbers, "same", "valid"), dilations and every padding mode; and a FlopCounterMode the
user opens inside a count sees none of the counter's own work."""

import itertools
import warnings

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from analysis.counting import count_events
from analysis.counting.geometry import clear_caches, conv_fanout_map


def reference_fanout(conv: nn.Conv2d, height: int, width: int) -> torch.Tensor:
    with torch.enable_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note on "same" with an even kernel
        x = torch.zeros(1, 1, height, width, dtype=torch.float64, requires_grad=True)
        ones = torch.ones(1, 1, *conv.kernel_size, dtype=torch.float64)
        if conv.padding_mode == "zeros":
            y = nn.functional.conv2d(x, ones, None, conv.stride, conv.padding, conv.dilation)
        else:
            padded = nn.functional.pad(x, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
            y = nn.functional.conv2d(padded, ones, None, conv.stride, 0, conv.dilation)
        (grad,) = torch.autograd.grad(y.sum(), x)
    return grad[0, 0]


GEOMETRIES = [g for g in itertools.product(
    [(1, 1), (3, 3), (2, 3)], [(1, 1), (2, 2), (3, 1)], [0, 1, "same", "valid"], [(1, 1), (2, 1)],
    ["zeros", "reflect", "replicate", "circular"]) if not (g[2] == "same" and g[1] != (1, 1))]


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_the_fanout_map_equals_its_definition_for_every_geometry(mode):
    checked = 0
    for kernel, stride, padding, dilation, padding_mode in GEOMETRIES:
        if padding_mode != mode:
            continue
        for height, width in ((5, 6), (8, 7)):
            conv = nn.Conv2d(1, 1, kernel, stride, padding, dilation, padding_mode=padding_mode)
            try:
                expected = reference_fanout(conv, height, width)
            except RuntimeError:  # a pad wider than the input (reflect) is refused by torch too
                continue
            assert torch.equal(conv_fanout_map(conv, height, width), expected), (kernel, stride, padding, dilation)
            checked += 1
    assert checked >= 60


def test_a_flop_counter_opened_inside_a_count_sees_only_the_model():
    clear_caches()  # the fan-out maps are computed during this count, inside the user's mode
    model = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 1, 1, padding_mode="reflect"),
                          nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16, 10)).eval()
    with count_events(model) as ledger, torch.no_grad():
        with FlopCounterMode(display=False) as flops:
            model(torch.rand(2, 3, 8, 8))
    with FlopCounterMode(display=False) as alone, torch.no_grad():
        model(torch.rand(2, 3, 8, 8))
    assert flops.get_total_flops() == alone.get_total_flops()
    assert ledger.total("mac") * 2 * 2 == alone.get_total_flops()  # MACs per sample, 2 flops each, batch 2
