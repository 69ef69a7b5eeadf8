"""One written report of the synthetic run, shared by the report tests that read it.

Writing the report draws every figure (seconds each time); test_figures_report, test_paper_report
and test_paper_figures read the same one, written once per test process (`make test` keeps the three
files on one worker: the ``xdist_group`` below).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import energy_models
from analysis.report import write_report
from analysis.run_folder import APPENDIX_NAME
from tests.report_run import make_run

#: The xdist group of the files that read the shared report (`--dist loadgroup` runs them in one process).
WRITTEN_GROUP = pytest.mark.xdist_group("written_report")
#: The formats the shared report is written in besides PNG: SVG, a fifth of PDF's cost per figure (0.1 against
#: 0.55 CPU s: 7.6 s over the 17 figures); PDF output is tested on its own figures (test_paper_figures).
WRITTEN_FORMATS = "svg"


def _refuse(self, *args, **kwargs):
    raise AssertionError("the report built a hardware model; it must read the run folder instead")


@pytest.fixture(scope="session")
def written_report(tmp_path_factory) -> tuple[Path, str, str]:
    """``(run folder, report.md, report_appendix.md)``: the synthetic run's report in PNG and SVG, drawn
    with every hardware model's construction refused, so every hardware fact must come from the run
    folder (#18). Tests read it and write nothing into it."""
    run_dir = make_run(tmp_path_factory.mktemp("written") / "synthetic")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(energy_models.TableModel, "__init__", _refuse)
        with pytest.raises(AssertionError, match="built a hardware model"):
            energy_models.get_model("sata")  # the trap works
        report = write_report(run_dir, formats=WRITTEN_FORMATS).read_text(encoding="utf-8")
    return run_dir, report, (run_dir / APPENDIX_NAME).read_text(encoding="utf-8")
