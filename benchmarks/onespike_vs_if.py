"""Evaluate + count time of OneSpike(G=8) over IF(T=8), VGG-16 at 32x32, batch 64 (issue 8).

OneSpike's next layer needs only W·Σ_g s_g, so in its one-pass layout an instrumented OneSpike
forward costs about one quantized-ANN forward; the IF SNN needs its T timesteps. The grouped
(explicit per-group) OneSpike path is timed too, as the reference the one-pass path replaces.
Median of ``--repeats`` runs after a warm-up, measured in this one run. Target: ratio <= 0.25.

    python benchmarks/onespike_vs_if.py [--repeats 3] [--batch 64] [--steps 8]
"""

from __future__ import annotations

import argparse
import sys

import torch
from timing import MIN_ROUNDS, interleaved_min, load_average, one_thread, verdict

from analysis.counting import count_events
from analysis.models import build_model
from analysis.snn import to_if_snn, to_onespike, to_quantized


def evaluate_and_count(net, x):
    with torch.no_grad(), count_events(net):
        net(x).argmax(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    one_thread()
    torch.manual_seed(0)
    x = torch.rand(args.batch, 3, 32, 32)
    qann = to_quantized(build_model("vgg16", 10, 3, 32), args.steps, calibration_data=x).eval()
    nets = {
        f"IF T={args.steps} (sequence)": to_if_snn(qann, args.steps, layout="sequence"),
        f"OneSpike G={args.steps} (one-pass)": to_onespike(qann, args.steps, layout="onepass"),
        f"OneSpike G={args.steps} (grouped)": to_onespike(qann, args.steps, layout="grouped"),
        f"QCFS L={args.steps}": qann,
    }
    times = interleaved_min({name: (lambda net=net: evaluate_and_count(net, x)) for name, net in nets.items()},
                            args.rounds)
    base = times[f"IF T={args.steps} (sequence)"]
    print(f"vgg16 32x32, batch {args.batch}, evaluate+count, CPU s, min of {args.rounds} interleaved rounds, "
          f"1 thread, {load_average()}")
    print(f"{'network':<28} {'CPU s':>8} {'/ IF':>7}")
    for name, seconds in times.items():
        print(f"{name:<28} {seconds:>8.3f} {seconds / base:>7.3f}")
    ratio = times[f"OneSpike G={args.steps} (one-pass)"] / base
    print(verdict(ratio <= 0.25, f"OneSpike/IF = {ratio:.3f} (target <= 0.25)"))
    return 0 if ratio <= 0.25 else 1


if __name__ == "__main__":
    sys.exit(main())
