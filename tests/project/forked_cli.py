"""The `onespike` command in a process forked from the test's, for the tests that stop a running
command with a signal (Ctrl-C, SIGTERM) and read its exit status and the lines it printed.

A fork has torch and the toolkit loaded already: a new interpreter spent about 3 CPU s importing them
before the command started. The fork is given what a new `onespike` process starts with (Python's
own SIGINT and SIGTERM handling, its own stderr) and ends with the status the command returned, as
the console script's ``sys.exit(main())`` does.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from pathlib import Path

from analysis.cli import main

__all__ = ["start_cli"]


def _run(argv: list[str], stderr: str) -> None:
    handle = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(handle, 2)
    os.close(handle)
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # the process's stderr, to its end
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        code = main(argv)
    finally:
        sys.stderr.flush()
    sys.exit(code)


def start_cli(argv: list[str], stderr: Path) -> multiprocessing.Process:
    """``onespike ARGV`` started in a forked process writing its stderr to ``stderr``; its
    ``exitcode`` is the command's status once it has ended."""
    process = multiprocessing.get_context("fork").Process(target=_run, args=(list(argv), str(stderr)))
    process.start()
    return process
