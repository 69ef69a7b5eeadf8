"""Counting overhead on a SpikingJelly VGG (multi-step, T=4): instrumented forward / plain forward,
and SpikingJelly's own SynOp counter on the same net and input; ratios measured in this run.
Needs spikingjelly (installed for the tests by `make`)."""

import time

import torch
from spikingjelly.activation_based import functional, layer, neuron
from spikingjelly.activation_based.op_counter import DispatchCounterMode, SynOpCounter
from torch import nn

from analysis.counting import count_events
from analysis.snn import TimeLoop

T, BATCH, REPEATS = 4, 32, 3


def sj_vgg() -> nn.Module:
    layers, channels = [], 3
    for width in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M"):
        if width == "M":
            layers.append(layer.AvgPool2d(2))
            continue
        layers += [layer.Conv2d(channels, width, 3, padding=1), layer.BatchNorm2d(width), neuron.LIFNode(tau=2.0)]
        channels = width
    layers += [layer.Flatten(), layer.Linear(512 * 2 * 2, 10)]
    net = nn.Sequential(*layers)
    functional.set_step_mode(net, "m")
    with torch.no_grad():  # batch-norm gains that make every layer spike (an untrained net is silent)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(4.0)
    return net.eval()


def best(fn) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    torch.manual_seed(0)
    model = TimeLoop(sj_vgg(), T)
    x = torch.rand(BATCH, 3, 32, 32)

    def plain():
        with torch.no_grad():
            model(x)

    def ours():
        with torch.no_grad(), count_events(model) as ledger:
            model(x)
        return ledger

    def theirs():
        counter = SynOpCounter()
        with torch.no_grad(), DispatchCounterMode([counter]):
            model(x)
        return counter

    plain()
    base, counted, sj = best(plain), best(ours), best(theirs)
    ledger, counter = ours(), theirs()
    print(f"SpikingJelly VGG (6 conv, LIF, multi-step T={T}), batch {BATCH}, 32x32, best of {REPEATS}")
    print(f"plain forward            {base * 1e3:8.1f} ms")
    print(f"count_events             {counted * 1e3:8.1f} ms   ratio {counted / base:.3f} (target <= 1.25)")
    print(f"SpikingJelly SynOp count {sj * 1e3:8.1f} ms   ratio {sj / base:.3f}")
    print(f"ACs per sample: ours {ledger.total('ac'):.6g}, SpikingJelly SynOps {counter.get_total() / BATCH:.6g}")


if __name__ == "__main__":
    main()
