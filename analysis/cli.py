"""The ``onespike`` command: ``study``, ``count``, ``hardware``, ``report``.

Errors a user can fix (a bad name, a missing folder, a malformed table) print one clear line and
exit with status 2; they are never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

EXAMPLES = {
    "study": """examples:
  onespike study                                   # the default study on digits -> reports/default
  onespike study --quick --out reports/quick       # a small study (about 30 s)
  onespike study --data cifar10 --data-root ~/data --arch vgg16,resnet20 --timesteps 1,2,4,8
  onespike study --hardware sata,spikesim,my_chip.toml --out reports/mychip
  onespike study --quick --hardware all            # every built-in model a headline model
  onespike study --quick --hardware flops45nm,zigzag:eyeriss_like   # ZigZag mapping: energy by level, cycles
  onespike study --resume reports/quick            # continue an interrupted study (reads its config.json)
  onespike study --config study.json --force       # replace the files of another study in --out
  onespike study --model my_pkg.models:build --checkpoint weights.pt --finetune-epochs 3
""",
    "count": """examples:
  onespike count --checkpoint reports/quick/cache/cnn_small__qcfs__L4__s0__<digest>.pt \\
                 --method onespike --timesteps 4 --hardware sata
  onespike count --checkpoint my_weights.pt --model my_pkg.models:build --method ann
  onespike count --checkpoint qcfs.pt --method onespike --mode hardware --pow2
  onespike count --checkpoint my_qann.pt --arch vgg16 --data cifar10 --data-root ~/data \\
                 --method if --timesteps 8 --hardware all --samples 64
""",
    "hardware": """examples:
  onespike hardware                 # one line per built-in model: family, primary or variant, what it is
  onespike hardware --long          # every model with its paper, code, assumptions and options
  onespike hardware my_chip.toml    # check and describe a user table
""",
    "report": """examples:
  onespike report reports/default   # re-draw figures and report.md from the tables
  onespike report reports/default --format png,pdf,svg   # also PDF and SVG figures for a paper
""",
}


FORMAT_HELP = ("figure formats, comma-separated: png (always written: report.md shows it), pdf, svg; e.g. "
               "png,pdf,svg for a paper (7-inch-wide figures, text of 7 pt or more)")


def _formats(text: str) -> tuple[str, ...]:
    """``--format png,pdf,svg``: checked before the study runs (a wrong format fails at once)."""
    from analysis.report.figures import report_formats

    try:
        return report_formats(text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _csv(text: str) -> list[str]:
    """Comma-separated names; an empty list or an empty item (``a,,b``, ``a,``) is refused."""
    values = [v.strip() for v in text.split(",")]
    if not any(values):
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    if not all(values):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty item between commas; write e.g. a,b,c")
    return values


def _csv_ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in _csv(text)]
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 1,2,4,8; got {text!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"timesteps must be positive integers like 1,2,4,8; got {text!r}")
    return values


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer (>= 1), got {text!r}")
    return value


#: This module's import path (``__name__`` is ``"__main__"`` under ``python -m``).
MODULE = "analysis.cli"


@functools.cache
def program_name() -> str:
    """The console script that runs :func:`main` (pyproject's ``[project.scripts]``), or the
    ``python -m`` form where the package is not installed."""
    names = [ep.name for ep in entry_points(group="console_scripts") if ep.value == f"{MODULE}:main"]
    return names[0] if names else f"python -m {MODULE}"


def build_parser() -> argparse.ArgumentParser:
    from analysis.methods import method_names

    methods = ",".join(method_names())
    parser = argparse.ArgumentParser(
        prog=program_name(),
        description="OneSpike Study: accuracy, exact event counts and hardware energy of ANN, quantized ANN, "
        "IF SNN, OneSpike/PSG and BNN on the same weights.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fmt = argparse.RawDescriptionHelpFormatter

    study = sub.add_parser("study", help="run (or resume) a study and write its report", epilog=EXAMPLES["study"],
                           formatter_class=fmt)
    study.add_argument("--config", help="JSON file with StudyConfig fields, or a run folder's config.json (flags "
                       "below override it)")
    study.add_argument("--resume", metavar="DIR", help="continue the study in run folder DIR with the config it "
                       "recorded (DIR/config.json): no other flags needed")
    study.add_argument("--data", help="digits (default), cifar10, cifar100, imagenet or synthetic")
    study.add_argument("--data-root", help="folder holding the data set (cifar/imagenet)")
    study.add_argument("--subset", type=_positive_int, help="use only the first N train and test samples")
    study.add_argument("--arch", type=_csv, help="comma-separated architectures, e.g. cnn_small,vgg11 (with "
                       "--model: the name of your model)")
    study.add_argument("--model", help="your own ANN, or SpikingJelly/snnTorch SNN (then only the directly trained "
                       "branch runs): 'package.module:factory' (called with num_classes, in_channels, image_size "
                       "where it takes them)")
    study.add_argument("--checkpoint", action="append", dest="checkpoints",
                       help="trained weights to study instead of training (repeatable: one per method, e.g. the ANN "
                       "and the QCFS net); a bare state dict is an ANN")
    study.add_argument("--finetune-epochs", type=int, help="epochs to fine-tune the quantized net made from given "
                       "ANN weights (default: the config's epochs_quant)")
    study.add_argument("--methods", type=_csv, help=f"comma-separated subset of {methods}")
    study.add_argument("--levels", type=_positive_int, help="quantization levels L of the quantized ANN (default 4)")
    study.add_argument("--weight-bits", type=int, help="width every evaluated network's weights are quantized to, per "
                       "channel (2-16, or 32 for float; default 8); the FP32 ANN stays 32, the INT8 ANN 8")
    study.add_argument("--timesteps", type=_csv_ints, help="T of the IF SNN and G of OneSpike, e.g. 1,2,4,8,16,32")
    study.add_argument("--max-steps", type=_positive_int, help="largest T/G accepted (default 256)")
    study.add_argument("--hardware", type=_csv, help="headline models: 'primary' (default: every family's "
                       "primary model), 'all', or comma-separated model names / TOML tables")
    study.add_argument("--seed", type=int, help="seed of everything (default 0)")
    study.add_argument("--seeds", type=_positive_int, help="repeat training with N seeds (seed, seed+1, ...)")
    study.add_argument("--device", help="torch device for training and evaluation, e.g. cpu or cuda")
    study.add_argument("--out", default=None, help="run folder (default reports/default, or reports/quick)")
    study.add_argument("--quick", action="store_true", help="a small study (one architecture, short training)")
    study.add_argument("--force", action="store_true", help="replace another study in --out: remove only the files "
                       "that study wrote (the tables, report and figures its manifest lists, its cache files); every "
                       "other file in the folder, at any depth, is kept")
    study.add_argument("--event-data-root", help="Q15 on a real event data set too: the N-MNIST folder holding "
                       "Train/<digit>/*.bin and Test/<digit>/*.bin (needs the 'events' extra: pip install tonic)")
    study.add_argument("--event-timesteps", type=_csv_ints, help="Q15's T (frames per sample), e.g. 4,8")
    study.add_argument("--no-events", action="store_true", help="skip Q15 (the SNNs trained on event data)")
    study.add_argument("--no-progress", action="store_true", help="hide progress bars")
    study.add_argument("--no-report", action="store_true", help="write tables only (no figures, no report.md)")
    study.add_argument("--format", dest="formats", type=_formats, default=None, metavar="FORMATS",
                       help=FORMAT_HELP)

    count = sub.add_parser("count", help="count and price one checkpoint; print its per-layer table",
                           epilog=EXAMPLES["count"], formatter_class=fmt)
    count.add_argument("--checkpoint", required=True, help="checkpoint written by a study, or a state dict")
    count.add_argument("--arch", help="architecture (default: the one the checkpoint records)")
    count.add_argument("--model", help="your own ANN or SpikingJelly/snnTorch SNN: 'package.module:factory' (the "
                       "checkpoint holds its weights)")
    count.add_argument("--method", help=f"{methods} (default: the checkpoint's own method)")
    count.add_argument("--timesteps", type=_positive_int, default=4, help="T for if, G for onespike (default 4)")
    count.add_argument("--max-steps", type=_positive_int, default=256, help="largest T/G accepted (default 256)")
    count.add_argument("--mode", default="exact", choices=("exact", "hardware"),
                       help="PSG mode for onespike: exact or hardware (power-of-two thresholds; see --pow2)")
    count.add_argument("--pow2", action="store_true", help="round every threshold to the nearest power of two "
                       "(required by --mode hardware unless they already are)")
    count.add_argument("--hardware", type=_csv, default=["all"], help="'all' or comma-separated model names")
    count.add_argument("--data", default="digits", help="data set the samples come from (default digits)")
    count.add_argument("--data-root", help="folder holding the data set (cifar/imagenet)")
    count.add_argument("--samples", type=_positive_int, default=128, help="test samples to average over (>= 1)")
    count.add_argument("--json", help="also write the ledger as JSON to this file")
    count.add_argument("--weight-bits", type=int, default=8, help="width the counted network's weights are quantized "
                       "to, per channel, as a study does (2-16, or 32 for float; default 8; the ANN stays 32)")

    hardware = sub.add_parser("hardware", help="list hardware energy models with their sources",
                              epilog=EXAMPLES["hardware"], formatter_class=fmt)
    hardware.add_argument("table", nargs="?", help="a user TOML table to check and describe")
    hardware.add_argument("--long", action="store_true", help="every model's paper, code, technology, assumptions "
                          "and options (default: one line per model)")

    report = sub.add_parser("report", help="re-draw figures and report.md from a run folder's tables",
                            epilog=EXAMPLES["report"], formatter_class=fmt)
    report.add_argument("run_dir", help="a run folder written by `onespike study`")
    report.add_argument("--format", dest="formats", type=_formats, default=None, metavar="FORMATS",
                        help=FORMAT_HELP)
    return parser


def _model_arch_name(model: str) -> str:
    """The default name of ``--model pkg.module:factory``: the factory's name, or
    ``module_factory`` where that is a zoo name (a user's network never takes a zoo name)."""
    from analysis.models import available_models

    module, _, attr = model.partition(":")
    name = attr or module
    return f"{module.rsplit('.', 1)[-1]}_{name}" if name in available_models() else name


def _resume_config(args: argparse.Namespace) -> dict:
    """The config recorded in ``--resume DIR``'s config.json."""
    from analysis.run_folder import RunFolder

    if args.config:
        raise ValueError("--resume reads the config from DIR/config.json; drop --config (or use --config without "
                         "--resume)")
    if args.out and Path(args.out).resolve() != Path(args.resume).resolve():
        raise ValueError(f"--resume {args.resume} continues the study in that folder; drop --out {args.out}")
    if not Path(args.resume).is_dir():
        raise ValueError(f"--resume {args.resume!r}: no such run folder")
    return RunFolder(args.resume).read_config()["config"]


def _cmd_study(args: argparse.Namespace) -> int:
    from analysis.report import write_report
    from analysis.study import StudyConfig, distributed, run_study, study_folder

    overrides = {}
    for flag, key in (("data", "data"), ("data_root", "data_root"), ("subset", "subset"), ("arch", "archs"),
                      ("methods", "methods"), ("levels", "levels"), ("weight_bits", "weight_bits"),
                      ("timesteps", "timesteps"),
                      ("max_steps", "max_steps"), ("hardware", "hardware"), ("seed", "seed"), ("seeds", "seeds"),
                      ("device", "device"), ("model", "model"), ("checkpoints", "checkpoints"),
                      ("finetune_epochs", "finetune_epochs"), ("event_data_root", "event_data_root"),
                      ("event_timesteps", "event_timesteps")):
        value = getattr(args, flag)
        if value is not None:
            overrides[key] = value
    if args.no_events:
        overrides["events"] = False
    if args.model and not args.arch:
        overrides["archs"] = [_model_arch_name(args.model)]
    if args.resume or args.config:
        base = _resume_config(args) if args.resume else StudyConfig.from_file(args.config).to_dict()
        base.update(overrides)
        config = StudyConfig.quick(**base) if args.quick else StudyConfig.from_dict(base)
    else:
        config = StudyConfig.quick(**overrides) if args.quick else StudyConfig(**overrides)
    out = study_folder(args.resume, args.out, args.quick, config, args.force)  # "" and a changed resume refused
    start = time.perf_counter()
    run_study(config, out, force=args.force, progress=not args.no_progress)
    tables = time.perf_counter()
    if not args.no_report and distributed.is_main():
        write_report(out, formats=args.formats)
    report = "" if args.no_report else f"; report {time.perf_counter() - tables:.1f} s"
    print(f"study written to {out}/ (results.csv, layers.csv" + ("" if args.no_report else ", report.md")
          + f") in {time.perf_counter() - start:.1f} s (tables {tables - start:.1f} s{report})")
    return 0


def _check_json_target(path: str | None) -> None:
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"--json {path!r} is a folder; give a file name, e.g. {target / 'ledger.json'}")
    if not target.parent.is_dir():
        raise ValueError(f"--json {path!r}: folder {str(target.parent)!r} does not exist")


def _cmd_count(args: argparse.Namespace) -> int:
    import pandas as pd

    from analysis.study import distributed
    from analysis.study.checkpoint import CheckpointCount, count_checkpoint, price_ledger

    _check_json_target(args.json)
    settings = {field.name: getattr(args, field.name) for field in dataclasses.fields(CheckpointCount)}
    ledger = count_checkpoint(**settings)
    if not distributed.is_main():
        return 0
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(ledger.summary())
        print()
        print(price_ledger(ledger, args.hardware).round(1))
    if args.json:
        from analysis.run_folder import atomic_write_text

        atomic_write_text(args.json, ledger.to_json(indent=1))
    return 0


def _cmd_hardware(args: argparse.Namespace) -> int:
    from energy_models import available_models, get_model
    from energy_models.zigzag import INSTALL_HINT, PREFIX, TEMPLATES, zigzag_installed

    if args.table:
        model = get_model(args.table)
        print(f"{model.name}: {json.dumps(model.provenance, indent=2, default=str)}")
        return 0
    rows = available_models()
    if args.long:
        for row in rows:
            print(row.pop("name"))
            for key, value in row.items():
                print(f"    {key}: {value}")
    else:
        for line in hardware_lines(rows):
            print(line)
    state = "installed" if zigzag_installed() else f"not installed: {INSTALL_HINT}"
    print(f"ZigZag templates (mapping engine with energy by memory level and cycles; ZigZag {state}); "
          f"also zigzag:path/to/accelerator.yaml" if args.long else
          f"ZigZag templates (ZigZag {state.split(':')[0]}), or zigzag:path/to/accelerator.yaml:")
    for template in TEMPLATES.values():
        print(f"{PREFIX}{template.name}\n    description: {template.description}" if args.long
              else f"{PREFIX}{template.name}  {template.description}"[:HARDWARE_LINE])
    return 0


#: Width of one line of ``onespike hardware`` (a wide terminal's).
HARDWARE_LINE = 120


def hardware_lines(rows: list[dict]) -> list[str]:
    """``onespike hardware``: one line per model (its name, ``*`` for the primary model of its family,
    what it prices or, for a variant, the one convention it changes), each at most
    :data:`HARDWARE_LINE` characters, then what the ``*`` means and how to see the rest."""
    width = max(len(str(row["name"])) for row in rows)
    lines = []
    for row in rows:
        change = row["changes"] or row["description"]
        what = str(row["description"]) if row["primary"] else f"{row['family']}, changed: {change}"
        line = f"{row['name']:<{width}} {'*' if row['primary'] else ' '} {what}"
        lines.append(line if len(line) <= HARDWARE_LINE else line[:HARDWARE_LINE - 1].rstrip() + "…")
    lines += [f"{len(rows)} models; * the primary model of its family (a study's default headline models).",
              "`onespike hardware --long`: each model's paper, code, technology, assumptions and options."]
    return lines


def _cmd_report(args: argparse.Namespace) -> int:
    from analysis.report import write_report

    start = time.perf_counter()
    path = write_report(args.run_dir, formats=args.formats)
    print(f"report written to {path} in {time.perf_counter() - start:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"study": _cmd_study, "count": _cmd_count, "hardware": _cmd_hardware, "report": _cmd_report}
    from analysis.snn import ConversionError
    from analysis.stop import Terminated, stop_code, stop_line, stoppable

    try:
        return stoppable(handlers[args.command])(args)
    except BrokenPipeError:  # output piped into `head` and closed: not an error of ours
        sys.stderr.close()
        return 0
    except (KeyboardInterrupt, Terminated) as exc:
        if os.environ.get("ONESPIKE_DEBUG"):
            raise
        print(f"onespike {args.command}: {stop_line(exc)}", file=sys.stderr)
        return stop_code(exc)
    except (ValueError, OSError, ConversionError) as exc:
        # Errors that name the bad input and the fix: one line, no traceback (ONESPIKE_DEBUG=1 shows it).
        if os.environ.get("ONESPIKE_DEBUG"):
            raise
        print(f"onespike {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
