"""IF SNN peak memory vs T: timestep-by-timestep ("stream") vs all-steps-at-once ("sequence").

Each configuration runs in a fresh subprocess; the figure is the growth of the process's peak
resident memory (ru_maxrss) during one forward pass over its resident memory just before it, so
the interpreter and torch themselves do not dilute the ratio. Prints one table measured in this run.
Target (issue 8): stream peak at T=32 over T=4 at most 1.2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, torch
torch.set_num_threads(2)
from analysis.snn import to_if_snn, to_quantized
from analysis.models import build_model
T, layout = int(sys.argv[1]), sys.argv[2]
torch.manual_seed(0)
qann = to_quantized(build_model("cnn_small", 10, 3, 32, width=64), 4).eval()
net = to_if_snn(qann, T, layout=layout)
x = torch.rand(64, 3, 32, 32)
def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024
with torch.no_grad():
    net(x[:2])  # warm up allocator and kernels
    before = rss_kb()
    net(x)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"T": T, "layout": layout, "growth_mb": max(peak - before, 0) / 1024}))
"""


def measure(T: int, layout: str) -> float:
    # glibc keeps freed heap blocks, so RSS would record the allocator's history rather than the live
    # tensors; serving blocks >= 64 KiB by mmap returns them to the OS at once and RSS follows live memory.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(T), layout], capture_output=True, text=True, check=True,
                         env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])["growth_mb"]


def main() -> None:
    rows = []
    for layout in ("stream", "sequence"):
        small, large = measure(4, layout), measure(32, layout)
        rows.append((layout, small, large, large / small if small > 0 else float("nan")))
    print("IF SNN peak memory growth during one forward (cnn_small width 64, 3x32x32, batch 64)")
    print(f"{'layout':<10} {'T=4 (MB)':>10} {'T=32 (MB)':>10} {'ratio':>7}")
    for layout, small, large, ratio in rows:
        print(f"{layout:<10} {small:>10.1f} {large:>10.1f} {ratio:>7.2f}")
    stream_ratio = rows[0][3]
    print(f"target: stream T=32/T=4 <= 1.2 -> {'met' if stream_ratio <= 1.2 else 'NOT met'} ({stream_ratio:.2f})")


if __name__ == "__main__":
    main()
