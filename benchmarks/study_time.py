"""Where a study's time goes: seconds per stage of `onespike study --quick` (or, with --default, of
`make study`), each repeat a fresh process writing a fresh run folder, medians over the repeats.

Stages: imports (torch and the package), data, preflight, training per method, evaluate+count per
kind of unit (``units eval <method>``, ``units equivalence ...``), each per-architecture measure
(``layer_fidelity <method>``), the per-run ones (``events``), pricing (break-even and sweep included),
writing the tables, the report's figures and the report's text. The
study stages come from the runner's own timer (``Study.timings``); the report is timed around
``write_report`` (its figures around ``draw_all``, where the report module still calls it).

Wall seconds say what a person waits; CPU seconds (the process's, all threads) say how much was
computed, and stay meaningful on a machine shared with other work. The load average before and
after each repeat is printed: on a loaded machine compare CPU seconds, or repeat.

    python benchmarks/study_time.py                 # the quick study, 3 repeats (target: <= 30 s)
    python benchmarks/study_time.py --default       # the default study of `make study` (#34: <= 90 s, <= 150 CPU s)
    python benchmarks/study_time.py --repeats 1 --json times.json
"""

from __future__ import annotations

import os
import sys
import time

# the checkout this file is in, not the one the package happens to be installed from (a worktree
# would otherwise time the main checkout's code)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have ended (the report's drawing
    processes, the study's training-ahead process)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


START_WALL, START_CPU = time.perf_counter(), cpu_seconds()

import argparse  # noqa: E402  (the clock above starts before any import)
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

#: Wall-clock seconds on 2 cores per kind of study (the quick study's budget; issue #34's for the default).
TARGETS_S = {"quick": 30.0, "default": 90.0}
#: CPU seconds (this process and every helper it reaped) per kind of study, where there is a target (#34).
CPU_TARGETS_S = {"default": 150.0}
REPORT_STAGES = ("figures", "report text")


def _one(kind: str, out: str) -> dict:
    """Run one study of ``kind`` into ``out`` in this process; its stage times as a dict."""
    load_before = os.getloadavg()
    import torch  # noqa: F401  (timed as part of the imports)

    from analysis.report import write_report
    from analysis.study.config import StudyConfig
    from analysis.study.runner import Study

    imports = {"wall_s": time.perf_counter() - START_WALL, "cpu_s": cpu_seconds() - START_CPU}
    stages = [{"stage": "imports", **imports}]
    config = StudyConfig.quick() if kind == "quick" else StudyConfig()
    study = Study(config, out, progress=False)
    study.run()
    stages += study.timings.rows()

    # the report draws its figures in forked processes while it writes the text: its CPU seconds
    # are this process's (the text, reading the run) and its reaped children's (the drawers);
    # "figures" is the wall time they add beyond the text
    timings: dict[str, float] = {}
    wall, cpu, own = time.perf_counter(), cpu_seconds(), time.process_time()
    write_report(out, timings=timings)
    report_wall, report_cpu, text_cpu = time.perf_counter() - wall, cpu_seconds() - cpu, time.process_time() - own
    stages.append({"stage": "figures", "wall_s": report_wall - timings["markdown"], "cpu_s": report_cpu - text_cpu})
    stages.append({"stage": "report text", "wall_s": timings["markdown"], "cpu_s": text_cpu})
    return {"kind": kind, "stages": stages, "total_wall_s": time.perf_counter() - START_WALL,
            "total_cpu_s": cpu_seconds() - START_CPU, "load_before": load_before,
            "load_after": os.getloadavg(), "torch_threads": study.timings.threads}


def _repeat(kind: str, keep: str | None) -> dict:
    """One repeat in a fresh process (so that imports are timed as a person's run pays them)."""
    with tempfile.TemporaryDirectory(prefix="study_time_") as tmp:
        out = keep or str(Path(tmp) / "run")
        result = Path(tmp) / "times.json"
        subprocess.run([sys.executable, __file__, "--child", kind, "--out", out, "--json", str(result)], check=True)
        return json.loads(result.read_text())


def _table(runs: list[dict]) -> str:
    stages: list[str] = []
    for run in runs:
        stages += [row["stage"] for row in run["stages"] if row["stage"] not in stages]

    def values(stage: str, key: str) -> list[float]:
        return [sum(r[key] for r in run["stages"] if r["stage"] == stage) for run in runs]

    total = statistics.median(run["total_wall_s"] for run in runs)
    lines = [f"{'stage':<34} {'wall s':>8} {'cpu s':>8} {'share':>6}  wall min-max",
             "-" * 76]
    for stage in stages:
        wall, cpu = values(stage, "wall_s"), values(stage, "cpu_s")
        lines.append(f"{stage:<34} {statistics.median(wall):8.2f} {statistics.median(cpu):8.2f} "
                     f"{statistics.median(wall) / total:6.1%}  {min(wall):.2f}-{max(wall):.2f}")
    lines.append("-" * 76)
    walls = [run["total_wall_s"] for run in runs]
    cpus = [run["total_cpu_s"] for run in runs]
    lines.append(f"{'total':<34} {total:8.2f} {statistics.median(cpus):8.2f} {1:6.0%}  "
                 f"{min(walls):.2f}-{max(walls):.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--default", action="store_true", help="time the default study (make study), not --quick")
    parser.add_argument("--repeats", type=int, default=3, help="fresh runs; the table shows medians (default 3)")
    parser.add_argument("--json", default=None, help="also write every repeat's stage times to this JSON file")
    parser.add_argument("--keep", default=None, help="write the (last) run folder here instead of a temporary one")
    parser.add_argument("--child", choices=sorted(TARGETS_S), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        Path(args.json).write_text(json.dumps(_one(args.child, args.out)))
        return
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    kind = "default" if args.default else "quick"
    runs = []
    for index in range(args.repeats):
        runs.append(_repeat(kind, args.keep))
        run = runs[-1]
        print(f"repeat {index + 1}/{args.repeats}: {run['total_wall_s']:.1f} s wall, {run['total_cpu_s']:.1f} s CPU, "
              f"torch threads {run['torch_threads']}, load average (1 min) {run['load_before'][0]:.2f} before, "
              f"{run['load_after'][0]:.2f} after", flush=True)
        if args.json:  # after every repeat: a long run stopped early keeps what it measured
            Path(args.json).write_text(json.dumps(runs, indent=2))
    print(f"\n{kind} study, {os.cpu_count()} cores, median of {len(runs)} run(s):\n")
    print(_table(runs))
    median = statistics.median(run["total_wall_s"] for run in runs)
    cpu = statistics.median(run["total_cpu_s"] for run in runs)
    load = max(max(run["load_before"][0], run["load_after"][0]) for run in runs)
    print()
    print(_verdict(f"{kind} study wall", median, TARGETS_S[kind], "on 2 cores", load))
    if kind in CPU_TARGETS_S:
        print(_verdict(f"{kind} study CPU", cpu, CPU_TARGETS_S[kind], "all processes", load))


def _verdict(what: str, seconds: float, target: float, where: str, load: float) -> str:
    """``default study wall: 84.1 s (target <= 90 s on 2 cores, load <= 1.2): met``."""
    return (f"{what}: {seconds:.1f} s (target <= {target:.0f} s {where}, load average <= {load:.2f}): "
            f"{'met' if seconds <= target else 'NOT MET'}")


if __name__ == "__main__":
    main()
