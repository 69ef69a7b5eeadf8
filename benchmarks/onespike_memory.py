"""Peak memory of counting one-pass OneSpike vs G: a counted forward should need about what a plain
one does, whatever G (the G spike maps are streamed group by group, never stacked).

ResNet-50 (torchvision's shape, ``torchvision_shapes.py``, its max-pool stem an average pool since
conversion refuses max pooling) at ``--size`` (224) with batch ``--batch`` (8), QCFS L=4 then
OneSpike(G) one-pass. Each configuration runs in a fresh subprocess; the figure is the growth of the
process's peak resident memory during one forward over its resident memory just before it (glibc
told to return freed blocks at once, so RSS follows live tensors). Target (issue 34): the counted
peak at G=32 over G=4 at most 1.2.

    python benchmarks/onespike_memory.py [--size 224] [--batch 8] [--groups 4,32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from timing import load_average, verdict

TARGET = 1.2

CHILD = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[5])
import torch
torch.set_num_threads(1)
from torch import nn
from torchvision_shapes import SHAPES
from analysis.counting import count_events
from analysis.snn import to_onespike, to_quantized
groups, counted, size, batch = int(sys.argv[1]), sys.argv[2] == "1", int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
ann = SHAPES["resnet50"](10, size).eval()
ann.maxpool = nn.AvgPool2d(3, 2, 1)
qann = to_quantized(ann, 4, calibration_data=torch.rand(2, 3, size, size)).eval()
net = to_onespike(qann, groups)
x = torch.rand(batch, 3, size, size)
def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024
def forward():
    if counted:
        with count_events(net) as ledger:
            net(x)
        return ledger
    net(x)
with torch.no_grad():
    net(x[:1])  # warm up allocator and kernels
    before = rss_kb()
    ledger = forward()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ac = ledger.total("ac") if counted else 0.0
print(json.dumps({"growth_mb": max(peak - before, 0) / 1024, "ac": ac}))
"""


def measure(groups: int, counted: bool, size: int, batch: int) -> dict:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    here = str(Path(__file__).resolve().parent)
    out = subprocess.run([sys.executable, "-c", CHILD, str(groups), "1" if counted else "0", str(size), str(batch),
                          here], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--groups", default="4,32", help="two or more G, smallest first")
    args = parser.parse_args()
    groups = [int(g) for g in args.groups.split(",")]
    print(f"OneSpike one-pass ResNet-50 (average-pool stem), {args.size}x{args.size}, batch {args.batch}: peak memory "
          "growth during one forward")
    print(f"{'G':>4} {'plain MB':>9} {'counted MB':>11} {'ACs/sample':>12}  load")
    counted = {}
    for g in groups:
        plain, count = measure(g, False, args.size, args.batch), measure(g, True, args.size, args.batch)
        counted[g] = count["growth_mb"]
        print(f"{g:>4} {plain['growth_mb']:>9.1f} {count['growth_mb']:>11.1f} {count['ac']:>12.4g}  {load_average()}",
              flush=True)
    ratio = counted[groups[-1]] / counted[groups[0]] if counted[groups[0]] > 0 else float("nan")
    what = f"counted peak at G={groups[-1]} / G={groups[0]} = {ratio:.2f} (target <= {TARGET})"
    print(verdict(ratio <= TARGET, what))
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
