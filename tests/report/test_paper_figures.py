"""Figures that go into a paper as they are (#34): one colour per method and per hardware model, the
same in every figure and colour-blind safe; 7 inches wide with no text under 7 pt; PNG, PDF or SVG
from the API and the CLI; every panel takes a model name or a list."""

from __future__ import annotations

import itertools
import json

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from analysis.cli import build_parser, main
from analysis.methods import METHODS, get_method
from analysis.palette import COMPONENT_COLORS, HARDWARE_HUES, OKABE_ITO, hardware_color, hardware_marker, shade
from analysis.report import load_run, question, summary_figure
from analysis.report.energy import panel_breakdown
from analysis.report.plotting import (
    BAR_LABELS,
    LABEL_MARGIN_PT,
    MIN_FONT_PT,
    PAGE_WIDTH,
    figure_formats,
    fit_bar_labels,
    label_bar,
    save,
    style,
)
from analysis.report.questions import ordered_questions
from energy_models.registry import model_names, primary_models
from tests.report.conftest import WRITTEN_FORMATS
from tests.report_run import HARDWARE, make_run

#: Viénot, Brettel & Mollon (1999), Color Research & Application 24(4): dichromat simulation in
#: linear RGB (protanopia, deuteranopia).
DICHROMATS = {
    "protanopia": np.array([[0.1124, 0.8876, 0.0], [0.1124, 0.8876, 0.0], [0.0040, -0.0040, 1.0]]),
    "deuteranopia": np.array([[0.2927, 0.7073, 0.0], [0.2927, 0.7073, 0.0], [-0.0223, 0.0223, 1.0]]),
}
#: Two colours closer than this (0-255 sRGB distance) under a dichromacy read as one.
SAME_UNDER_CVD = 40.0
#: The methods the figures set side by side (Q1, Q2, Q9, Q10, the summary).
COMPARED = ("ann", "int8", "qcfs", "cq", "if", "onespike", "bnn")


def _linear(color: str) -> np.ndarray:
    srgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _seen(color: str, matrix: np.ndarray) -> np.ndarray:
    linear = np.clip(matrix @ _linear(color), 0, 1)
    return 255 * np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def _closest_under_cvd(colors: list[str]) -> float:
    return min(float(np.linalg.norm(_seen(a, m) - _seen(b, m)))
               for m in DICHROMATS.values() for a, b in itertools.combinations(colors, 2))


#: tests/report/conftest.py's written report is shared with test_figures_report and test_paper_report.
pytestmark = pytest.mark.xdist_group("written_report")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return load_run(make_run(tmp_path_factory.mktemp("paper") / "synthetic"))


def test_the_cvd_check_catches_a_red_green_pair():
    assert _closest_under_cvd(["#d62728", "#2ca02c"]) < SAME_UNDER_CVD  # matplotlib's old IF / OneSpike
    assert _closest_under_cvd([OKABE_ITO["vermillion"], OKABE_ITO["blue"]]) > SAME_UNDER_CVD


def test_every_method_has_its_own_colour_and_the_compared_ones_stay_apart_for_colour_blind_readers():
    colors = [get_method(name).color for name in METHODS.names()]
    assert len(set(colors)) == len(colors)
    assert _closest_under_cvd([get_method(name).color for name in COMPARED]) > SAME_UNDER_CVD
    assert _closest_under_cvd(list(COMPONENT_COLORS.values())) > SAME_UNDER_CVD


def test_every_hardware_model_has_one_colour_and_the_primaries_stay_apart():
    colors = {name: hardware_color(name) for name in model_names()}
    assert len(set(colors.values())) == len(colors)
    assert _closest_under_cvd([colors[name] for name in primary_models()]) > SAME_UNDER_CVD
    assert [colors[name] for name in primary_models()] == list(HARDWARE_HUES[:len(primary_models())])
    assert not set(colors.values()) & {get_method(name).color for name in METHODS.names()}  # one legend, no twins
    markers = [hardware_marker(name) for name in primary_models()]
    assert len(set(markers)) == len(markers) and "o" not in markers  # "o": a method's marker
    assert hardware_marker("sata_gated") == hardware_marker("sata")
    assert hardware_color("my_chip") == hardware_color("my_chip")  # a user table keeps its colour
    with pytest.raises(TypeError, match="model name"):
        hardware_color(None)
    with pytest.raises(ValueError, match="RRGGBB"):
        shade("red", 0.5)


def _line_colors(fig) -> dict[str, str]:
    out = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            if not line.get_label().startswith("_"):
                out[line.get_label()] = matplotlib.colors.to_hex(line.get_color()).upper()
    return out


def test_a_model_has_the_same_colour_in_every_figure(run):
    seen = {}
    for qid in ("Q6", "Q9", "Q12"):
        fig = question(qid).figure(run)
        seen.update({qid: _line_colors(fig)})
        plt.close(fig)
    fig = summary_figure(run)
    seen["summary"] = _line_colors(fig)
    plt.close(fig)
    checked = 0
    for labels in seen.values():
        for model in HARDWARE:
            if model in labels:
                assert labels[model] == hardware_color(model).upper()
                checked += 1
    assert checked >= 6


def _label_faults(fig) -> list[str]:
    """Texts of ``fig``'s panels that leave the figure or run into a panel's title, and bar labels
    (:func:`label_bar`) that leave their panel, measured where the figure's layout put them."""
    renderer = fig.canvas.get_renderer()
    titles = [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.get_visible() and ax.get_title()]
    faults = []
    for ax in (ax for ax in fig.axes if ax.get_visible()):
        panel = ax.get_window_extent(renderer)
        for text in (t for t in ax.texts if t.get_visible() and t.get_text().strip()):
            box, name = text.get_window_extent(renderer), f"{ax.get_title()!r}: {text.get_text()!r}"
            if box.x0 < fig.bbox.x0 - 0.5 or box.x1 > fig.bbox.x1 + 0.5 or box.y0 < fig.bbox.y0 - 0.5 or \
                    box.y1 > fig.bbox.y1 + 0.5:
                faults.append(f"{name} leaves the figure")
            if any(box.overlaps(title) for title in titles):
                faults.append(f"{name} runs into a panel's title")
            if text in BAR_LABELS and box.y1 > panel.y1 - LABEL_MARGIN_PT * fig.dpi / 72 + 0.5:
                faults.append(f"{name} ends closer than {LABEL_MARGIN_PT} pt to its panel's top, or above it "
                              f"({box.y1 - panel.y1:+.1f} px)")
    return faults


@pytest.mark.parametrize("qid", [q.qid for q in ordered_questions()] + ["summary"])
def test_every_figure_is_page_wide_with_text_of_seven_points_or_more(run, qid):
    """... and every label where a reader can read it: inside the figure, clear of the panels' titles,
    a bar's label inside its panel (fit_bar_labels, at the figure's final layout)."""
    fig = summary_figure(run) if qid == "summary" else question(qid).figure(run)
    try:
        width, height = fig.get_size_inches()
        assert width == pytest.approx(PAGE_WIDTH) and height <= 9.0
        small = [(t.get_text()[:30], t.get_fontsize()) for t in fig.findobj(matplotlib.text.Text)
                 if t.get_visible() and t.get_text().strip() and t.get_fontsize() < MIN_FONT_PT]
        assert not small, small
        maps = [image.get_cmap().name for ax in fig.axes for image in ax.get_images()]
        assert not [m for m in maps if "Gn" in m and ("Rd" in m or "Pi" in m)], maps  # no red-green map
        assert not _label_faults(fig)
    finally:
        plt.close(fig)


def test_a_bar_label_turned_upright_gets_room_under_the_panel_top():
    """A short panel (1.2 in tall, as the 3-column grid makes them) whose tallest bar carries a label
    turned upright: the label ends above the panel until fit_bar_labels raises the axis, and after it
    LABEL_MARGIN_PT below the top; a panel whose labels fit, a log axis, and a panel whose label is
    taller than three quarters of it (room for it would squash its bars) keep their limits."""
    with style():
        fig, (tall, roomy, logged, huge) = plt.subplots(1, 4, figsize=(PAGE_WIDTH, 1.2))
        for ax in (tall, roomy, logged, huge):
            ax.set_title(f"{ax.get_label() or 'panel'}")
            ax.bar([0, 1], [1.97, 0.5])
        for x, y in ((0, 1.97), (1, 0.5)):
            label_bar(tall, f"{y:.3g}", x, y, rotation=90, offset_pt=2)
        tall.set_ylim(0, 1.97 * 1.35)  # the energy panel's first guess
        label_bar(roomy, "1.97", 0, 1.97)
        roomy.set_ylim(0, 10)
        logged.set_yscale("log")
        label_bar(logged, "0.5", 1, 0.5)
        fig.tight_layout()
        label_bar(huge, "1.97", 0, 1.97, rotation=90, fontsize=40)  # after the layout, which would make room for it
        assert any("to its panel's top" in fault for fault in _label_faults(fig))
        before = roomy.get_ylim(), logged.get_ylim(), huge.get_ylim()
        fit_bar_labels(fig)
        assert tall.get_ylim()[1] > 1.97 * 1.35
        assert (roomy.get_ylim(), logged.get_ylim(), huge.get_ylim()) == before
        huge.texts[0].set_visible(False)  # checked above: left as it was
        assert not _label_faults(fig)
        renderer = fig.canvas.get_renderer()
        top = max(label.get_window_extent(renderer).y1 for label in tall.texts)
        assert top == pytest.approx(tall.get_window_extent(renderer).y1 - LABEL_MARGIN_PT * fig.dpi / 72, abs=0.6)
    plt.close(fig)


def test_a_path_ending_in_pdf_writes_a_pdf_and_formats_write_each(run, tmp_path):
    plt.close(question("Q8").figure(run, path=tmp_path / "x.pdf"))
    assert (tmp_path / "x.pdf").read_bytes()[:5] == b"%PDF-"
    assert not (tmp_path / "x.png").exists()
    plt.close(question("Q8").figure(run, path=tmp_path / "y", formats="png,pdf,svg"))
    assert (tmp_path / "y.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "y.pdf").read_bytes()[:5] == b"%PDF-"
    assert b"<svg" in (tmp_path / "y.svg").read_bytes()[:500]
    plt.close(summary_figure(run, tmp_path / "s.svg"))
    assert [p.name for p in tmp_path.glob("s.*")] == ["s.svg"]


def test_a_bad_format_is_refused_with_the_ones_there_are(tmp_path):
    assert figure_formats("PNG, pdf,png") == ("png", "pdf")
    with pytest.raises(ValueError, match="png, pdf, svg"):
        figure_formats("jpg")
    with pytest.raises(TypeError, match="strings"):
        figure_formats([3])
    fig = plt.figure()
    with pytest.raises(ValueError, match="tiff"):
        save(fig, tmp_path / "f", "tiff")
    plt.close(fig)


def test_the_report_writes_every_asked_format_and_lists_them_in_the_manifest(written_report):
    run_dir = written_report[0]  # written with formats=WRITTEN_FORMATS, "svg" (tests/report/conftest.py)
    listed = set(json.loads((run_dir / "manifest.json").read_text())["files"])
    for entry in ordered_questions():
        for fmt in ("png", WRITTEN_FORMATS):
            assert (run_dir / "figures" / f"{entry.stem}.{fmt}").is_file()
            assert f"figures/{entry.stem}.{fmt}" in listed
    assert not list((run_dir / "figures").glob("*.pdf"))  # only the asked formats


def test_the_cli_takes_format_on_study_and_report(capsys):
    parser = build_parser()
    assert parser.parse_args(["report", "run", "--format", "png,pdf,svg"]).formats == ("png", "pdf", "svg")
    assert parser.parse_args(["study", "--quick", "--format", "pdf"]).formats == ("png", "pdf")
    with pytest.raises(SystemExit):
        main(["report", "nowhere", "--format", "gif"])
    assert "gif" in capsys.readouterr().err


def test_a_panel_takes_a_model_name_or_a_list(run):
    fig, (one, listed) = plt.subplots(1, 2)
    panel_breakdown(run, one, hardware="sata")
    panel_breakdown(run, listed, hardware=["sata"])
    assert one.get_title() == listed.get_title() == "sata"
    with pytest.raises(ValueError, match="not in this run"):
        panel_breakdown(run, one, hardware="satta")
    with pytest.raises(TypeError, match="model name or a list"):
        panel_breakdown(run, one, hardware=3)
    plt.close(fig)
