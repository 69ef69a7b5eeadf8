"""The README's headline block is generated from a run (``make readme``): the glance lines and two
figures between markers, the rest of the README untouched; a README without markers is refused."""

from __future__ import annotations

import os
import shutil

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

from analysis.report import answers, load_run
from analysis.report.readme import END, START, main, update_readme
from analysis.run_folder import RunFolder
from tests.report.conftest import WRITTEN_GROUP
from tests.report_run import make_run

#: tests/report/conftest.py's written report (its figures) is shared with the other report files.
pytestmark = WRITTEN_GROUP

ROOT_README = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "README.md")


def test_the_repository_readme_has_the_markers_once():
    text = open(ROOT_README, encoding="utf-8").read()
    assert text.count(START) == 1 and text.count(END) == 1 and text.index(START) < text.index(END)


def test_update_readme_writes_the_glance_lines_and_copies_two_figures(tmp_path, written_report):
    run_dir = make_run(tmp_path / "run")
    figures = RunFolder(run_dir).figures_dir
    figures.mkdir(parents=True, exist_ok=True)
    for name in ("summary.png", "q8_ranking.png"):  # this synthetic run's figures, drawn for the shared report
        shutil.copyfile(written_report[0] / "figures" / name, figures / name)
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n\n{START}\nold text\n{END}\n\nafter\n", encoding="utf-8")
    update_readme(run_dir, readme)
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nbefore\n\n") and text.endswith(f"{END}\n\nafter\n")
    assert "old text" not in text
    for line in answers(load_run(run_dir)).values():
        assert f"- {line}" in text
    assert "![The headline answers on one page (summary figure).](reports/readme_summary.png)" in text
    assert (tmp_path / "reports" / "readme_summary.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "reports" / "readme_q8_ranking.png").read_bytes().startswith(b"\x89PNG")
    update_readme(run_dir, readme)  # idempotent: the block is replaced, not added
    assert readme.read_text(encoding="utf-8") == text


def test_a_readme_without_markers_or_a_run_without_figures_is_refused(tmp_path, capsys):
    run_dir = make_run(tmp_path / "run")
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n", encoding="utf-8")
    with pytest.raises(ValueError, match="must hold the markers"):
        update_readme(run_dir, readme)
    readme.write_text(f"{START}\n{END}\n", encoding="utf-8")
    assert main([str(run_dir), str(readme)]) == 2  # no figures drawn yet
    assert "draw the run's figures first" in capsys.readouterr().err
