"""Evaluate + count time of OneSpike(G=8) over IF(T=8), VGG-16 at 32x32, batch 64 (issue 8).

OneSpike's next layer needs only W·Σ_g s_g, so in its one-pass layout an instrumented OneSpike
forward costs about one quantized-ANN forward; the IF SNN needs its T timesteps. The grouped
(explicit per-group) OneSpike path is timed too, as the reference the one-pass path replaces.
Median of ``--repeats`` runs after a warm-up, measured in this one run. Target: ratio <= 0.25.

    python benchmarks/onespike_vs_if.py [--repeats 3] [--batch 64] [--steps 8]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from analysis.counting import count_events
from analysis.models import build_model
from analysis.snn import to_if_snn, to_onespike, to_quantized


def evaluate_and_count(net, x) -> float:
    start = time.perf_counter()
    with torch.no_grad(), count_events(net):
        net(x).argmax(1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.rand(args.batch, 3, 32, 32)
    qann = to_quantized(build_model("vgg16", 10, 3, 32), args.steps, calibration_data=x).eval()
    nets = {
        f"IF T={args.steps} (sequence)": to_if_snn(qann, args.steps, layout="sequence"),
        f"OneSpike G={args.steps} (one-pass)": to_onespike(qann, args.steps, layout="onepass"),
        f"OneSpike G={args.steps} (grouped)": to_onespike(qann, args.steps, layout="grouped"),
        f"QCFS L={args.steps}": qann,
    }
    times = {}
    for name, net in nets.items():
        evaluate_and_count(net, x[:4])  # warm-up
        times[name] = statistics.median(evaluate_and_count(net, x) for _ in range(args.repeats))
    base = times[f"IF T={args.steps} (sequence)"]
    print(f"vgg16 32x32, batch {args.batch}, {args.threads} threads, evaluate+count, median of {args.repeats}")
    print(f"{'network':<28} {'seconds':>8} {'/ IF':>7}")
    for name, seconds in times.items():
        print(f"{name:<28} {seconds:>8.3f} {seconds / base:>7.3f}")
    ratio = times[f"OneSpike G={args.steps} (one-pass)"] / base
    print(f"target: OneSpike/IF <= 0.25 -> {'met' if ratio <= 0.25 else 'NOT met'} ({ratio:.3f})")


if __name__ == "__main__":
    main()
