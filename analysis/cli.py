"""The ``onespike`` command: ``study``, ``count``, ``hardware``, ``report``.

Errors a user can fix (a bad name, a missing folder, a malformed table) print one clear line and
exit with status 2; they are never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

EXAMPLES = {
    "study": """examples:
  onespike study                                   # the default study on digits -> reports/default
  onespike study --quick --out reports/quick       # a small study (< 60 s)
  onespike study --data cifar10 --data-root ~/data --arch vgg16,resnet20 --timesteps 1,2,4,8
  onespike study --hardware sata,spikesim,my_chip.toml --out reports/mychip
  onespike study --config study.json --force       # replace a run folder holding another config
""",
    "count": """examples:
  onespike count --checkpoint reports/default/cache/cnn_small__qcfs_L4.pt --arch cnn_small \\
                 --method onespike --timesteps 4 --hardware sata
  onespike count --checkpoint my_qann.pt --arch vgg16 --data cifar10 --data-root ~/data \\
                 --method if --timesteps 8 --hardware all --samples 64
""",
    "hardware": """examples:
  onespike hardware                 # every built-in model with its source and assumptions
  onespike hardware my_chip.toml    # check and describe a user table
""",
    "report": """examples:
  onespike report reports/default   # re-draw figures and report.md from the tables
""",
}


def _csv_ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 1,2,4,8; got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"timesteps must be positive integers like 1,2,4,8; got {text!r}")
    return values


def _csv(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onespike",
        description="OneSpike Study: accuracy, exact event counts and hardware energy of ANN, quantized ANN, "
        "IF SNN, OneSpike/PSG and BNN on the same weights.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fmt = argparse.RawDescriptionHelpFormatter

    study = sub.add_parser("study", help="run (or resume) a study and write its report", epilog=EXAMPLES["study"],
                           formatter_class=fmt)
    study.add_argument("--config", help="JSON file with StudyConfig fields (flags below override it)")
    study.add_argument("--data", help="digits (default), cifar10, cifar100, imagenet or synthetic")
    study.add_argument("--data-root", help="folder holding the data set (cifar/imagenet)")
    study.add_argument("--subset", type=int, help="use only the first N train and test samples")
    study.add_argument("--arch", type=_csv, help="comma-separated architectures, e.g. cnn_small,vgg11")
    study.add_argument("--methods", type=_csv, help="comma-separated subset of ann,qcfs,cq,if,onespike,bnn")
    study.add_argument("--levels", type=int, help="quantization levels L of the quantized ANN (default 4)")
    study.add_argument("--timesteps", type=_csv_ints, help="T of the IF SNN and G of OneSpike, e.g. 1,2,4,8,16,32")
    study.add_argument("--hardware", type=_csv, help="'all' or comma-separated model names / TOML tables")
    study.add_argument("--seed", type=int, help="seed of everything (default 0)")
    study.add_argument("--device", help="torch device for training and evaluation, e.g. cpu or cuda")
    study.add_argument("--out", default=None, help="run folder (default reports/default, or reports/quick)")
    study.add_argument("--quick", action="store_true", help="a small study (one architecture, short training)")
    study.add_argument("--force", action="store_true", help="replace a run folder that holds another config")
    study.add_argument("--no-progress", action="store_true", help="hide progress bars")
    study.add_argument("--no-report", action="store_true", help="write tables only (no figures, no report.md)")

    count = sub.add_parser("count", help="count and price one checkpoint; print its per-layer table",
                           epilog=EXAMPLES["count"], formatter_class=fmt)
    count.add_argument("--checkpoint", required=True, help="checkpoint written by the study or save_checkpoint")
    count.add_argument("--arch", required=True, help="architecture the checkpoint was saved for")
    count.add_argument("--method", required=True, help="ann, qcfs, cq, if, onespike or bnn")
    count.add_argument("--timesteps", type=int, default=4, help="T for if, G for onespike (default 4)")
    count.add_argument("--mode", default="exact", help="PSG mode for onespike: exact or hardware")
    count.add_argument("--hardware", type=_csv, default=["all"], help="'all' or comma-separated model names")
    count.add_argument("--data", default="digits", help="data set the samples come from (default digits)")
    count.add_argument("--data-root", help="folder holding the data set (cifar/imagenet)")
    count.add_argument("--samples", type=int, default=128, help="test samples to average over (default 128)")
    count.add_argument("--json", help="also write the ledger as JSON to this file")

    hardware = sub.add_parser("hardware", help="list hardware energy models with their sources",
                              epilog=EXAMPLES["hardware"], formatter_class=fmt)
    hardware.add_argument("table", nargs="?", help="a user TOML table to check and describe")

    report = sub.add_parser("report", help="re-draw figures and report.md from a run folder's tables",
                            epilog=EXAMPLES["report"], formatter_class=fmt)
    report.add_argument("run_dir", help="a run folder written by `onespike study`")
    return parser


def _cmd_study(args: argparse.Namespace) -> int:
    from analysis.study import StudyConfig, run_study

    overrides = {}
    for flag, key in (("data", "data"), ("data_root", "data_root"), ("subset", "subset"), ("arch", "archs"),
                      ("methods", "methods"), ("levels", "levels"), ("timesteps", "timesteps"),
                      ("hardware", "hardware"), ("seed", "seed"), ("device", "device")):
        value = getattr(args, flag)
        if value is not None:
            overrides[key] = value
    if args.config:
        base = StudyConfig.from_file(args.config).to_dict()
        base.update(overrides)
        config = StudyConfig.quick(**base) if args.quick else StudyConfig.from_dict(base)
    else:
        config = StudyConfig.quick(**overrides) if args.quick else StudyConfig(**overrides)
    out = args.out or ("reports/quick" if args.quick else "reports/default")
    run_study(config, out, force=args.force, progress=not args.no_progress, report=not args.no_report)
    print(f"study written to {out}/ (results.csv, layers.csv" + ("" if args.no_report else ", report.md") + ")")
    return 0


def _cmd_count(args: argparse.Namespace) -> int:
    import torch

    from analysis.counting import count_events
    from analysis.data import load_dataset
    from analysis.models import build_model
    from analysis.snn import to_binary, to_if_snn, to_onespike, to_quantized
    from analysis.study import METHODS, StudyConfig, _hardware_names
    from analysis.training import load_checkpoint
    from energy_models import get_model

    if args.method not in METHODS:
        raise ValueError(f"--method must be one of {', '.join(METHODS)}; got {args.method!r}")
    _, ckpt = load_checkpoint(args.checkpoint, expected_arch=args.arch)
    split = load_dataset(args.data, args.data_root)
    model = build_model(args.arch, split.num_classes, split.in_channels, split.image_size, **ckpt.get("options", {}))
    saved = ckpt.get("method", "ann")
    if saved in ("qcfs", "cq"):
        model = to_quantized(model, int(ckpt.get("levels", 4)), saved)
    elif saved == "bnn":
        model = to_binary(model)
    load_checkpoint(args.checkpoint, model, expected_arch=args.arch)
    model.eval()
    if args.method == "if":
        net = to_if_snn(model, args.timesteps)
    elif args.method == "onespike":
        net = to_onespike(model, args.timesteps, mode=args.mode)
    else:
        if args.method != saved:
            raise ValueError(f"checkpoint holds a {saved!r} network; --method {args.method} needs if/onespike "
                             f"(converted from it) or {saved!r}")
        net = model
    from analysis import distributed
    from analysis.study import EVAL_BATCH, _loader_batches

    # Under torchrun each rank counts its share of the batches; the ledgers are summed over ranks.
    distributed.init_from_env()
    batches = list(distributed.shard(_loader_batches(split.test, EVAL_BATCH, args.samples)))
    with torch.no_grad(), count_events(net, method=args.method, arch=args.arch) as ledger:
        for x, _ in batches or [(split.test[0][0].unsqueeze(0), None)]:
            net(x)
    if not batches:
        import dataclasses

        ledger = dataclasses.replace(ledger, samples=0)
    ledger = distributed.all_reduce_ledger(ledger)
    if not distributed.is_main():
        return 0
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(ledger.summary())
        names = _hardware_names(StudyConfig(hardware=args.hardware))
        rows = []
        for name in names:
            report = get_model(name).price(ledger)
            rows.append({"hardware": name, "energy_pj": report.total_pj, **dict(report.by_component())})
        print()
        print(pd.DataFrame(rows).set_index("hardware").round(1))
    if args.json:
        Path(args.json).write_text(ledger.to_json(indent=1))
    return 0


def _cmd_hardware(args: argparse.Namespace) -> int:
    from energy_models import available_models, get_model

    if args.table:
        model = get_model(args.table)
        print(f"{model.name}: {json.dumps(model.provenance, indent=2, default=str)}")
        return 0
    rows = available_models()
    rows = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
    for row in rows:
        if isinstance(row, dict):
            name = row.pop("name", "?")
            print(f"{name}")
            for key, value in row.items():
                print(f"    {key}: {value}")
        else:
            print(row)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from analysis.report import write_report

    path = write_report(args.run_dir)
    print(f"report written to {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"study": _cmd_study, "count": _cmd_count, "hardware": _cmd_hardware, "report": _cmd_report}
    from analysis.snn import ConversionError

    try:
        return handlers[args.command](args)
    except BrokenPipeError:  # output piped into `head` and closed: not an error of ours
        sys.stderr.close()
        return 0
    except (ValueError, FileNotFoundError, ConversionError) as exc:
        # Errors that name the bad input and the fix: one line, no traceback (ONESPIKE_DEBUG=1 shows it).
        if os.environ.get("ONESPIKE_DEBUG"):
            raise
        print(f"onespike {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
