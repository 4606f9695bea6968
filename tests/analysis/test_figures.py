"""Figures drawn from stored results: journal-style KM plots, forest plots, PNG at print resolution."""

import html
import io
import re

from PIL import Image

from analysis import analyses, figures
from tests.analysis.report_data import os_results, time_dependent_results


def texts(svg):
    """The text of an SVG (matplotlib writes text as <text> elements with svg.fonttype 'none')."""
    found = re.findall(r"<text\b[^>]*>(.*?)</text>", svg, flags=re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", t)).strip() for t in found]


def test_km_figure_prints_the_numbers_at_risk_under_the_axis():
    results = os_results()
    svg = analyses.ANALYSES["os_after_second_line"].draw(results)["os_overall"]
    words = texts(svg)
    assert "Number at risk" in words
    for row in results["overall"]["risk_table"]:
        assert str(row["n_at_risk"]) in words


def test_factor_figures_show_the_logrank_p_and_readable_groups():
    results = os_results()
    factor = next(f for f in results["univariate"] if f["factor"] == "salvage_remission")
    svg = analyses.ANALYSES["os_after_second_line"].draw(results)["os_by_salvage_remission"]
    words = " ".join(texts(svg))
    assert "Log-rank" in words and figures.format_p(factor["logrank"]["p"]) in words
    assert "Remission after salvage (n = " in words and "No remission (n = " in words


def test_forest_plot_shows_every_model_term():
    results = os_results()
    svg = analyses.ANALYSES["os_after_second_line"].draw(results)["cox_forest"]
    words = texts(svg)
    for label in results["cox"]["labels"].values():
        assert label in words
    model = {
        "terms": [
            {"term": "a", "hazard_ratio": 2.0, "lower": 1.0, "upper": 4.0, "p": 0.04},
            {"term": "b", "hazard_ratio": None, "lower": None, "upper": None, "p": None},
        ]
    }
    svg = figures.forest_figure(model, {"a": "Term A", "b": "Term B"}, title="Model")
    words = texts(svg)
    assert "Term A" in words and "Term B" in words and "not estimable" in words


def test_stored_svgs_carry_a_title_and_description():
    svg = analyses.ANALYSES["os_after_second_line"].draw(os_results())["os_overall"]
    assert re.search(r"<svg [^>]*role=\"img\"[^>]*><title>OS after second-line treatment</title><desc>", svg)


def test_every_stored_figure_can_be_redrawn_as_png_at_300_dpi():
    specs = analyses.figure_specs("time_dependent", time_dependent_results())
    assert set(specs) == {"simon_makuch_by_hsct", "landmark_by_hsct", "landmark_by_remission"}
    png = figures.render(specs["landmark_by_hsct"], "png", dpi=300)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert round(image.info["dpi"][0]) == 300 and image.size[0] > 1500
    assert analyses.figure_specs("cohort_summary", {}) == {}


def _factor(results, name):
    return next(f for f in results["univariate"] if f["factor"] == name)


def test_confidence_bands_only_with_one_or_two_curves():
    from matplotlib.collections import PolyCollection

    results = os_results()
    two = figures.km_plot(figures.factor_curves(_factor(results, "salvage_remission")), title="two")
    many = figures.km_plot(figures.factor_curves(_factor(results, "mll_partner")), title="many")
    bands = [sum(isinstance(c, PolyCollection) for c in fig.axes[0].collections) for fig in (two, many)]
    assert bands[0] == 2 and bands[1] == 0


def test_groups_follow_the_study_order_of_codes_not_the_alphabet():
    factor = {
        "factor": "mll_partner",
        "curves": {"groups": {code: {} for code in ("AF10", "AF4", "UNKNOWN", "ENL", "OTHER", "AF9")}},
    }
    labels = list(figures.factor_curves(factor))
    assert labels == ["AF4", "ENL", "AF9", "AF10", "Other partner", "Unknown partner"]


def test_forest_plot_has_a_plain_hazard_ratio_axis_and_columns():
    results = os_results()
    model = results["cox"]["model"]
    fig = figures.forest_plot(model, results["cox"]["labels"], title="Cox", n=model["n"])
    ax = fig.axes[0]
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["0.25", "0.5", "1", "2", "4", "8"]
    words = [t.get_text() for t in ax.texts]
    assert "HR (95% CI)" in words and "P" in words
    assert "← lower risk" in words and "higher risk →" in words
    assert any(re.fullmatch(r"\d+\.\d\d \(\d+\.\d\d-\d+\.\d\d\)", w) for w in words)


def test_km_curves_are_drawn_from_the_event_times_to_the_last_follow_up():
    """A large cohort: the curve's vertices are its event times (not its patients), it runs on to the
    last follow-up, and censoring ticks closer than the print resolution are drawn once."""
    import numpy as np
    from matplotlib.lines import Line2D

    from analysis import stats

    rng = np.random.default_rng(1)
    days = rng.integers(1, 3000, 20_000).astype(float)
    events = (rng.random(20_000) < 0.3).astype(int)
    days[np.argmax(days)], events[np.argmax(days)] = 3100.0, 0  # the last follow-up: a censoring
    km = stats.kaplan_meier(days, events)
    assert len(km["table"]["time"]) == len(np.unique(days[events == 1])) and km["last_time"] == 3100.0
    fig = figures.km_plot({"All": km}, title="t")
    lines = [line for line in fig.axes[0].get_lines() if isinstance(line, Line2D)]
    curve, ticks = lines[0], lines[1]
    x = curve.get_xdata()
    assert len(x) == len(km["table"]["time"]) + 2  # the origin, the event times, the last follow-up
    assert x[-1] == 3100.0 / figures.DAYS_PER_YEAR
    assert len(ticks.get_xdata()) <= figures.TICK_STEPS + 1 < len(km["censor_times"])
