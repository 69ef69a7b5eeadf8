"""Cost of counting: an instrumented forward (``count_events``) over a plain one, measured in this run.

VGG-16 at 32x32, batch 64: IF SNN T=4 and OneSpike G=4 (plus the ANN for reference). Falls back to
cnn_small (width 64, 32x32) when vgg16 is not registered, and says so. Target (issues 4 and 13): ratio
<= 1.25 with the operator-level pass on (the default; the ``no-ops`` column turns it off to show its
share). Each figure is the median of ``--repeats`` timed forwards after one warm-up, plain and
instrumented interleaved so drifts of the machine hit both alike. SpikingJelly's / NeuroBench's counters are
compared only if already installed (nothing is installed by this script).

    python benchmarks/counting_overhead.py [--repeats 3] [--batch 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time

import torch

from analysis.counting import count_events
from analysis.models import available_models, build_model
from analysis.snn import to_if_snn, to_onespike, to_quantized


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(model, x, repeats: int) -> tuple[float, float, float, float]:
    """``(plain s, counted s, ratio, ratio without the operator pass)``."""

    def plain():
        model(x)

    def counted(operators: bool = True):
        with count_events(model, operators=operators):
            model(x)

    with torch.no_grad():
        plain()
        counted()  # warm-up (also fills the fan-out cache, as a long study would)
        counted(False)
        t_plain, t_count, t_noops = [], [], []
        for _ in range(repeats):
            t_plain.append(timed(plain))
            t_count.append(timed(counted))
            t_noops.append(timed(lambda: counted(False)))
    p, c, n = statistics.median(t_plain), statistics.median(t_count), statistics.median(t_noops)
    return p, c, c / p, n / p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if "vgg16" in available_models():
        arch, options = "vgg16", {}
    else:
        arch, options = "cnn_small", {"width": 64}
        print("vgg16 is not registered: falling back to cnn_small (width 64) at 32x32")
    ann = build_model(arch, 10, 3, 32, **options).eval()
    x = torch.rand(args.batch, 3, 32, 32)
    qann = to_quantized(ann, 4, calibration_data=x[:16]).eval()
    nets = [("ann", ann), ("if T=4", to_if_snn(qann, 4)), ("onespike G=4", to_onespike(qann, 4))]
    print(f"{arch} 32x32, batch {args.batch}, {args.threads} threads, median of {args.repeats}")
    print(f"{'network':<14} {'layout':<9} {'plain s':>9} {'counted s':>10} {'ratio':>7} {'no-ops':>7}")
    for name, net in nets:
        layout = getattr(net, "resolved_layout", "-")
        p, c, r, n = measure(net, x, args.repeats)
        print(f"{name:<14} {layout:<9} {p:9.3f} {c:10.3f} {r:7.3f} {n:7.3f}")
    if importlib.util.find_spec("spikingjelly") is None or importlib.util.find_spec("loguru") is None:
        print("spikingjelly: not installed, not compared (pip install --no-deps spikingjelly loguru: its declared "
              "torchvision/torchaudio dependencies do not import beside this torch)")
    else:
        compare_spikingjelly(nets, x, args.repeats)
    if importlib.util.find_spec("neurobench") is None:
        print("neurobench: not installed, not compared")


def compare_spikingjelly(nets, x, repeats: int) -> None:
    """SpikingJelly's SynOpCounter (a TorchDispatchMode over aten ops) on the same networks, and how
    its synaptic-operation total compares with our exact ``ac`` count."""
    from spikingjelly.activation_based.op_counter import DispatchCounterMode, SynOpCounter

    print("spikingjelly SynOpCounter on the same networks (its overhead, and its total vs our ac):")
    print(f"{'network':<14} {'plain s':>9} {'sj s':>9} {'ratio':>7} {'sj synops':>12} {'our ac':>12}")
    for name, net in nets:
        if name == "ann":
            continue

        def plain(net=net):
            net(x)

        def sj(net=net):
            counter = SynOpCounter()
            with DispatchCounterMode([counter]):
                net(x)
            return counter

        with torch.no_grad():
            plain()
            counter = sj()
            t_plain = statistics.median(timed(plain) for _ in range(repeats))
            t_sj = statistics.median(timed(sj) for _ in range(repeats))
            with count_events(net) as ledger:
                net(x)
        ours = ledger.total("ac") * ledger.samples
        print(f"{name:<14} {t_plain:9.3f} {t_sj:9.3f} {t_sj / t_plain:7.3f} {counter.get_total():12.4g} {ours:12.4g}")


if __name__ == "__main__":
    main()
