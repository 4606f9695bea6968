"""Figures in the reader's language: stored English SVG translated when served, PNG and PDF drawn in it."""

import functools
import html
import re
import zlib

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import translation

from analysis import analyses, figure_text, report_files
from tests.analysis.report_data import compute_report, os_results, registry_cohort, time_dependent_results
from tests.conftest import _require_services

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def texts(svg):
    return [html.unescape(t) for t in re.findall(r"<text\b[^>]*>([^<]*)</text>", svg)]


@functools.cache
def stored_figures():
    """Every figure of the two analyses with the most kinds of figure, as a run stores them."""
    return {
        **analyses.ANALYSES["os_after_second_line"].draw(os_results()),
        **analyses.ANALYSES["time_dependent"].draw(time_dependent_results()),
    }


def require_japanese_font():
    if figure_text.japanese_font() is None:
        if _require_services():
            pytest.fail("REGISTRY_REQUIRE_SERVICES=1 but no font with Japanese glyphs (apt-get install fonts-noto-cjk)")
        pytest.skip("needs a font with Japanese glyphs (apt-get install fonts-noto-cjk)")


# --- the text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "english, japanese",
    [
        ("Years", "年"),
        ("Number at risk", "リスク集団の人数"),
        ("Remission after salvage (n = 56)", "救援療法後の寛解（n = 56）"),
        ("Log-rank P < 0.001", "ログランク検定 P < 0.001"),
        ("OS after second-line treatment by site of relapse", "再発部位別の二次治療後の全生存（OS）"),
        ("OS from diagnosis by trial", "試験別の診断からの全生存（OS）"),  # "trial" looked up as "Trial"
        (
            "OS from 180 days after salvage start, by HSCT by then",
            "救援療法開始後180日からの全生存（OS）、その時点までの造血幹細胞移植別",
        ),
        ("AF4 (n = 66)", "AF4（n = 66）"),  # codes stay
        ("0.81 (0.55-1.19)", "0.81 (0.55-1.19)"),
        ("Something no msgid knows", "Something no msgid knows"),
    ],
)
def test_figure_texts_in_japanese(english, japanese):
    with translation.override("ja"):
        assert figure_text.translate(english) == japanese
    assert figure_text.translate(english) == english


def test_every_text_of_every_stored_figure_is_japanese():
    """Titles, axes, legends, numbers at risk, P values, forest plot columns: no English word left."""
    figures = stored_figures()
    assert len(figures) >= 10
    with translation.override("ja"):
        for name, svg in figures.items():
            translated = figure_text.translate_svg(svg)
            for text in texts(translated):
                assert JAPANESE.search(text) or not re.search(r"[a-z]{2,}", text.replace("n/a", "")), (name, text)
            assert "<title>" in translated and JAPANESE.search(re.search(r"<title>(.*?)</title>", translated)[1])
    assert "Years" in texts(figures["os_overall"])  # stored in English


def test_in_english_the_stored_svg_is_served_as_it_is():
    svg = stored_figures()["os_overall"]
    assert figure_text.translate_svg(svg) is svg


def view_box(svg):
    return [float(v) for v in re.search(r'viewBox="([^"]*)"', svg)[1].split()]


def test_the_drawing_grows_to_hold_wider_translations():
    """Japanese group labels of the numbers at risk are wider than the English, right-aligned at
    the axis: the viewBox grows to the left so that none is cut."""
    svg = stored_figures()["landmark_by_hsct"]
    with translation.override("ja"):
        translated = figure_text.translate_svg(svg)
    x0, _y0, width, _height = view_box(translated)
    for attributes, text in re.findall(r"<text\b([^>]*)>([^<]*)</text>", translated):
        extent = figure_text._extent(attributes, html.unescape(text))
        if extent and JAPANESE.search(text):
            assert x0 <= extent[0] and extent[1] <= x0 + width, (text, extent, x0, width)
    english_x0, _, english_width, _ = view_box(svg)
    assert x0 < english_x0 and x0 + width >= english_x0 + english_width
    # Japanese glyphs from a font that has them, before the browser's own fallback.
    assert "Noto Sans CJK JP" in re.search(r"<svg\b[^>]*>", translated)[0]


def test_figures_stored_by_older_runs_are_translated_too():
    """Runs stored before the figures were written directly hold matplotlib's SVG: a font and size
    in each text's style."""
    svg = (
        '<svg xmlns:xlink="http://www.w3.org/1999/xlink" width="100pt" height="50pt" viewBox="0 0 100 50" '
        'xmlns="http://www.w3.org/2000/svg" version="1.1">'
        '<text style="font-size: 8px; font-family: \'DejaVu Sans\', sans-serif; text-anchor: end" x="10" y="20" '
        'transform="rotate(-0 10 20)">Number at risk</text></svg>'
    )
    with translation.override("ja"):
        translated = figure_text.translate_svg(svg)
    assert "リスク集団の人数" in texts(translated)
    assert "'Noto Sans CJK JP'" in re.search(r"<text\b[^>]*>", translated)[0]
    assert view_box(translated)[0] < 0  # the label, right-aligned at x = 10, is wider than 10 pt


# --- served by the report pages -----------------------------------------------------------------


@pytest.fixture
def study_runs(db, center, other_center):
    cache.clear()
    registry_cohort(6, center=center) + registry_cohort(4, center=other_center, trial_code="MLL98", start=6)
    yield compute_report()
    cache.clear()


def figure_url(run, name, fmt="svg"):
    return reverse("analysis:figure", args=[run.pk, name, fmt])


def test_a_figure_served_in_japanese_has_japanese_labels(client, investigator, study_runs):
    client.force_login(investigator)
    run = study_runs["os_after_second_line"]
    japanese = client.get(figure_url(run, "os_overall"), HTTP_ACCEPT_LANGUAGE="ja")
    words = texts(japanese.content.decode())
    assert "年" in words and "リスク集団の人数" in words and "生存確率" in words
    assert "Years" not in words
    assert "Accept-Language" in japanese["Vary"]
    english = client.get(figure_url(run, "os_overall"), HTTP_ACCEPT_LANGUAGE="en")
    assert "Years" in texts(english.content.decode())
    cif = client.get(figure_url(study_runs["competing_risks"], "relapse_incidence"), HTTP_ACCEPT_LANGUAGE="ja")
    assert "累積発生率" in texts(cif.content.decode())
    # The REST API serves the same figure in the language the request asks for.
    api = client.get(f"/api/v1/analyses/{run.pk}/figures/os_overall/", HTTP_ACCEPT_LANGUAGE="ja")
    assert api.status_code == 200 and "年" in texts(api.content.decode())


def test_the_report_page_asks_for_figures_in_its_language(client, investigator, study_runs):
    client.force_login(investigator)
    page = client.get(reverse("analysis:report"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    run = study_runs["os_after_second_line"]
    assert f'src="{figure_url(run, "os_overall")}?lang=ja"' in page


def test_png_is_drawn_in_japanese_with_a_japanese_font(client, investigator, study_runs):
    require_japanese_font()
    client.force_login(investigator)
    url = figure_url(study_runs["os_after_second_line"], "cox_forest", "png")
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content
    japanese = client.get(url, HTTP_ACCEPT_LANGUAGE="ja").content
    assert japanese.startswith(b"\x89PNG") and japanese != english
    with translation.override("ja"):
        assert figure_text.drawing_language() == "ja"


def test_without_a_japanese_font_png_stays_english(client, investigator, study_runs, monkeypatch):
    monkeypatch.setattr(figure_text, "japanese_font", lambda: None)
    client.force_login(investigator)
    url = figure_url(study_runs["os_after_second_line"], "cox_forest", "png")
    assert client.get(url, HTTP_ACCEPT_LANGUAGE="ja").content == client.get(url, HTTP_ACCEPT_LANGUAGE="en").content


# --- the PDF report -----------------------------------------------------------------------------


def pdf_unicode(pdf):
    """The text of the PDF's ToUnicode maps (hex code points of every character its fonts show)."""
    found = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            found.append(zlib.decompress(stream).decode("latin-1").lower())
        except zlib.error:
            continue
    return "\n".join(s for s in found if "cmap" in s)


def test_the_pdf_in_japanese_holds_japanese_text(client, investigator, study_runs):
    require_japanese_font()
    client.force_login(investigator)
    pdf = client.get(reverse("analysis:report-pdf"), HTTP_ACCEPT_LANGUAGE="ja").content
    assert pdf.startswith(b"%PDF") and b"NotoSansCJKjp" in pdf
    shown = pdf_unicode(pdf)
    for character in "年治療成績":  # an axis label, the heading
        assert f"{ord(character):04x}" in shown, character


def test_without_a_japanese_font_the_pdf_is_english_and_says_why(client, investigator, study_runs, monkeypatch):
    monkeypatch.setattr(figure_text, "japanese_font", lambda: None)
    written = {}
    original = report_files.report_pdf

    def report_pdf(report, specs, *, heading, provenance_text, cut=None):
        written.update(heading=heading, lines=provenance_text)
        return original(report, specs, heading=heading, provenance_text=provenance_text, cut=cut)

    monkeypatch.setattr(report_files, "report_pdf", report_pdf)
    client.force_login(investigator)
    pdf = client.get(reverse("analysis:report-pdf"), HTTP_ACCEPT_LANGUAGE="ja").content
    assert pdf.startswith(b"%PDF") and b"NotoSansCJKjp" not in pdf
    assert written["heading"] == "Outcome report, MLL96/MLL98 infant ALL"
    assert "no font with Japanese glyphs" in written["lines"][0]
