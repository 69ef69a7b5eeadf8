"""Counting at ImageNet size: ResNet-34 and RepVGG-A0 at 224x224, batch 8, OneSpike G=4 and IF T=4.

Random weights (the counts do not need trained ones). Each network runs in its own subprocess so
its peak resident memory (ru_maxrss, whole process) is its own. Targets (issue 8): ResNet-34
OneSpike G=4 instrumented under 60 s and under 4 GB peak RSS on 2 cores.

    python benchmarks/scale.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time, torch
torch.set_num_threads(2)
from analysis.snn import to_if_snn, to_onespike, to_quantized
from analysis.counting import count_events
from analysis.models import build_model
arch, method = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
x = torch.rand(8, 3, 224, 224)
qann = to_quantized(build_model(arch, 1000, 3, 224), 4, calibration_data=x[:2]).eval()
net = to_onespike(qann, 4) if method == "onespike" else to_if_snn(qann, 4)
start = time.perf_counter()
with torch.no_grad(), count_events(net) as ledger:
    net(x)
seconds = time.perf_counter() - start
peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
print(json.dumps({"arch": arch, "method": method, "seconds": seconds, "peak_gb": peak_gb,
                  "ac": ledger.total("ac"), "mac": ledger.total("mac"), "spikes": ledger.total("spikes"),
                  "layers": len(ledger.layers), "unsupported": len(ledger.unsupported)}))
"""


def main() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    rows = []
    for arch in ("resnet34", "repvgg_a0"):
        for method in ("onespike", "if"):
            out = subprocess.run([sys.executable, "-c", CHILD, arch, method], capture_output=True, text=True,
                                 env=env, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("224x224, batch 8, 2 threads, random weights, one instrumented forward (count_events)")
    header = ("arch", "method", "seconds", "peak GB", "ACs/sample", "MACs/sample", "layers")
    print("{:<10} {:<12} {:>8} {:>8} {:>12} {:>12} {:>7}".format(*header))
    for r in rows:
        name = f"{r['method']} {'G' if r['method'] == 'onespike' else 'T'}=4"
        print(f"{r['arch']:<10} {name:<12} {r['seconds']:>8.2f} {r['peak_gb']:>8.2f} {r['ac']:>12.3e} "
              f"{r['mac']:>12.3e} {r['layers']:>7}")
    target = next(r for r in rows if r["arch"] == "resnet34" and r["method"] == "onespike")
    ok = target["seconds"] < 60 and target["peak_gb"] < 4
    print(f"target: resnet34 OneSpike G=4 < 60 s and < 4 GB -> {'met' if ok else 'NOT met'} "
          f"({target['seconds']:.1f} s, {target['peak_gb']:.2f} GB)")


if __name__ == "__main__":
    main()
