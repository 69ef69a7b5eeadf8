"""Counting overhead on a SpikingJelly VGG (multi-step, T=4): instrumented forward / plain forward,
and SpikingJelly's own SynOp counter on the same net and input; ratios measured in this run.
Needs spikingjelly (installed for the tests by `make`).

The net must spike for the ratio to mean anything (a silent net counts no AC and costs the counter
nothing): max pooling keeps spikes binary between blocks, and each batch norm is calibrated on the
benchmark batch (its statistics from that batch, gain 1, bias 0.5), so every LIF layer fires at a
rate printed below. Each figure is CPU seconds (one torch thread), the minimum of >= 7 interleaved
rounds (plain, ours, theirs, the order rotated each round), printed beside the load average it was
measured under (``timing.py``): a busy machine can add time to a round, never take it away.
"""

import sys

import torch
from spikingjelly.activation_based import functional, layer, neuron
from spikingjelly.activation_based.op_counter import DispatchCounterMode, SynOpCounter
from timing import MIN_ROUNDS, interleaved_min, load_average, one_thread, verdict
from torch import nn

from analysis.counting import count_events
from analysis.snn import TimeLoop

T, BATCH, TARGET = 4, 32, 1.25
WIDTHS = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M")


def sj_vgg() -> nn.Module:
    layers, channels = [], 3
    for width in WIDTHS:
        if width == "M":
            layers.append(layer.MaxPool2d(2))
            continue
        layers += [layer.Conv2d(channels, width, 3, padding=1, bias=False), layer.BatchNorm2d(width),
                   neuron.LIFNode(tau=2.0)]
        channels = width
    layers += [layer.Flatten(), layer.Linear(512 * 2 * 2, 10)]
    net = nn.Sequential(*layers)
    functional.set_step_mode(net, "m")
    return net


def calibrate(model: TimeLoop, x: torch.Tensor) -> None:
    """Batch-norm statistics from ``x`` (momentum 1: exactly this batch's), gain 1 and bias 0.5:
    each LIF layer sees N(0.5, 1) currents, so it fires (an untrained net is otherwise silent)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 1.0
            with torch.no_grad():
                m.weight.fill_(1.0)
                m.bias.fill_(0.5)
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()


def firing_rates(model: TimeLoop, x: torch.Tensor) -> list[float]:
    rates: list[float] = []
    hooks = [m.register_forward_hook(lambda m, i, o: rates.append(float(o.float().mean())))
             for m in model.modules() if isinstance(m, neuron.LIFNode)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return rates


def main() -> int:
    one_thread()
    torch.manual_seed(0)
    model = TimeLoop(sj_vgg(), T)
    x = torch.rand(BATCH, 3, 32, 32)
    calibrate(model, x)

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

    best = interleaved_min({"plain": plain, "ours": ours, "theirs": theirs}, MIN_ROUNDS)
    base, counted, sj = best["plain"], best["ours"], best["theirs"]
    ledger, counter = ours(), theirs()
    rates = firing_rates(model, x)
    ours_ac, sj_ac = ledger.total("ac"), counter.get_total() / BATCH
    print(f"SpikingJelly VGG (6 conv + BN + LIFNode, max pooling, multi-step T={T}), batch {BATCH}, 32x32, "
          f"CPU s, min of {MIN_ROUNDS} interleaved rounds, {torch.get_num_threads()} thread, {load_average()}")
    print("LIF firing rates per layer: " + ", ".join(f"{r:.3f}" for r in rates))
    print(f"plain forward            {base * 1e3:8.1f} ms")
    print(f"count_events             {counted * 1e3:8.1f} ms   ratio {counted / base:.3f} (target <= {TARGET})")
    print(f"SpikingJelly SynOp count {sj * 1e3:8.1f} ms   ratio {sj / base:.3f}")
    equal = abs(ours_ac - sj_ac) <= 1e-6 * sj_ac
    print(f"ACs per sample: ours {ours_ac:.8g}, SpikingJelly SynOps {sj_ac:.8g} (equal: {equal})")
    ok = counted / base <= TARGET and counted < sj and ours_ac > 0 and equal
    print(verdict(ok, f"count_events <= {TARGET}x a plain forward, faster than SpikingJelly's counter, equal ACs"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
