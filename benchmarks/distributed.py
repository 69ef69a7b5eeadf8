"""`onespike study --quick` in one process and under torchrun with 2 gloo processes (issue 8).

Prints each run's wall time and whether every table is byte-identical, measured in this run.
Target: identical tables.

    python benchmarks/distributed.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from analysis.study import StudyConfig

TABLES = ("results.csv", "layers.csv", "equivalence.csv", "breakeven.csv", "sweep.csv", "fidelity.csv")


def run(command: list[str]) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # both runs reduce with one thread per process
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "quick.json"
        config.write_text(json.dumps(StudyConfig.quick().to_dict()))
        args = ["study", "--config", str(config), "--no-progress", "--no-report"]
        one = run([sys.executable, "-m", "analysis.cli", *args, "--out", f"{tmp}/one"])
        two = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                   "-m", "analysis.cli", *args, "--out", f"{tmp}/two"])
        same = {name: (Path(tmp, "one", name).read_bytes() == Path(tmp, "two", name).read_bytes()) for name in TABLES}
    print("onespike study --quick: 1 process vs torchrun --nproc_per_node=2 (gloo, CPU)")
    print(f"{'run':<22} {'seconds':>8}")
    print(f"{'1 process':<22} {one:>8.1f}")
    print(f"{'2 processes (gloo)':<22} {two:>8.1f}")
    for name, ok in same.items():
        print(f"{name:<22} {'identical' if ok else 'DIFFERENT'}")
    print(f"target: identical tables -> {'met' if all(same.values()) else 'NOT met'}")


if __name__ == "__main__":
    main()
