"""Figures drawn from stored results: what each figure shows (described once), the SVG a run stores
and the matplotlib drawing (PNG at print resolution) of the same description."""

import html
import io
import re

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PolyCollection
from PIL import Image

from analysis import analyses, figures, stats
from tests.analysis.report_data import os_results, time_dependent_results


def texts(svg):
    """The text of an SVG (text kept as <text> elements)."""
    found = re.findall(r"<text\b[^>]*>(.*?)</text>", svg, flags=re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", t)).strip() for t in found]


def _factor(results, name):
    return next(f for f in results["univariate"] if f["factor"] == name)


def drawn(figure):
    """The matplotlib figure of a description, closed after the test reads it."""
    fig = figures.to_matplotlib(figure)
    plt.close(fig)
    return fig


MODEL = {
    "n": 40,
    "terms": [
        {"term": "a", "hazard_ratio": 2.0, "lower": 1.0, "upper": 4.0, "p": 0.04},
        {"term": "b", "hazard_ratio": None, "lower": None, "upper": None, "p": None},
        {"term": "c", "hazard_ratio": 6.0, "lower": 2.0, "upper": 20.0, "p": 0.0001},
        {"term": "d", "hazard_ratio": 0.3, "lower": 0.1, "upper": 0.9, "p": 0.03},
    ],
}


# --- the SVG a run stores --------------------------------------------------------------------


def test_km_figure_prints_the_numbers_at_risk_under_the_axis():
    results = os_results()
    svg = analyses.ANALYSES["os_after_second_line"].draw(results)["os_overall"]
    words = texts(svg)
    assert "Number at risk" in words
    for row in results["overall"]["risk_table"]:
        assert str(row["n_at_risk"]) in words


def test_factor_figures_show_the_logrank_p_and_readable_groups():
    results = os_results()
    factor = _factor(results, "salvage_remission")
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
    spec = figures.FigureSpec(
        "Model", "", lambda: figures.forest_plot(MODEL, {"a": "Term A", "b": "Term B"}, title="M")
    )
    words = texts(figures.to_svg(spec))
    assert "Term A" in words and "Term B" in words and "not estimable" in words
    assert "c" in words and "d" in words  # a term without a label is shown by its name


def test_stored_svgs_carry_a_title_and_description():
    svg = analyses.ANALYSES["os_after_second_line"].draw(os_results())["os_overall"]
    assert re.search(r"<svg [^>]*role=\"img\"[^>]*><title>OS after second-line treatment</title><desc>", svg)


def test_a_run_draws_every_figure_without_matplotlib():
    """The stored SVG is written from the description: no matplotlib figure is opened."""
    before = plt.get_fignums()
    svgs = analyses.ANALYSES["time_dependent"].draw(time_dependent_results())
    assert set(svgs) == {"simon_makuch_by_hsct", "landmark_by_hsct", "landmark_by_remission"}
    assert plt.get_fignums() == before
    assert all("matplotlib" not in svg.lower() for svg in svgs.values())


# --- what a figure shows ----------------------------------------------------------------------


def test_confidence_bands_only_with_one_or_two_curves():
    results = os_results()
    two = figures.km_plot(figures.factor_curves(_factor(results, "salvage_remission")), title="two")
    many = figures.km_plot(figures.factor_curves(_factor(results, "mll_partner")), title="many")
    assert [curve.band is not None for curve in two.curves] == [True, True]
    assert len(many.curves) == 3 and all(curve.band is None for curve in many.curves)
    bands = [sum(isinstance(c, PolyCollection) for c in drawn(fig).axes[0].collections) for fig in (two, many)]
    assert bands == [2, 0]


def test_groups_follow_the_study_order_of_codes_not_the_alphabet():
    factor = {
        "factor": "mll_partner",
        "curves": {"groups": {code: {} for code in ("AF10", "AF4", "UNKNOWN", "ENL", "OTHER", "AF9")}},
    }
    labels = list(figures.factor_curves(factor))
    assert labels == ["AF4", "ENL", "AF9", "AF10", "Other partner", "Unknown partner"]


def test_the_numbers_at_risk_stand_under_the_integer_year_ticks():
    km = os_results()["overall"]
    figure = figures.km_plot({"All patients": km}, title="t")
    assert figure.ticks == tuple(range(int(figure.x_max) + 1)) and figure.x_max >= 5
    expected = {round(r["time"] / figures.DAYS_PER_YEAR): r["n_at_risk"] for r in km["risk_table"]}
    (row,) = figure.risk_rows
    assert row.label == "All patients" and row.color == figures.COLORS[0]
    assert dict(zip(figure.ticks, row.counts, strict=True)) == {t: expected.get(t) for t in figure.ticks}
    assert figure.test is None  # one curve, no test


def test_km_curves_are_drawn_from_the_event_times_to_the_last_follow_up():
    """A large cohort: the curve's vertices are its event times (not its patients), it runs on to the
    last follow-up, and censoring ticks closer than the print resolution are drawn once."""
    rng = np.random.default_rng(1)
    days = rng.integers(1, 3000, 20_000).astype(float)
    events = (rng.random(20_000) < 0.3).astype(int)
    days[np.argmax(days)], events[np.argmax(days)] = 3100.0, 0  # the last follow-up: a censoring
    km = stats.kaplan_meier(days, events)
    assert len(km["table"]["time"]) == len(np.unique(days[events == 1])) and km["last_time"] == 3100.0
    (curve,) = figures.km_plot({"All": km}, title="t").curves
    assert len(curve.years) == len(km["table"]["time"]) + 2  # the origin, the event times, the last follow-up
    assert curve.years[-1] == 3100.0 / figures.DAYS_PER_YEAR and curve.values[0] == 1.0
    np.testing.assert_allclose(curve.values[1:-1], km["table"]["survival"])
    assert len(curve.ticks[0]) <= figures.TICK_STEPS + 1 < len(km["censor_times"])
    # Each tick sits on the curve: the survival at the last event time before it.
    times = np.asarray(km["table"]["time"]) / figures.DAYS_PER_YEAR
    at = np.searchsorted(times, curve.ticks[0], side="right")
    np.testing.assert_allclose(curve.ticks[1], np.concatenate([[1.0], km["table"]["survival"]])[at])


def test_the_time_axis_runs_over_the_follow_up_from_5_to_10_years():
    km = stats.kaplan_meier(np.array([100.0, 900.0, 1500.0, 2500.0]), np.array([1, 1, 1, 0]))
    figure = figures.km_plot({"All": km}, title="t")
    assert figure.x_max == 2500.0 / figures.DAYS_PER_YEAR and figure.curves[0].years[-1] == figure.x_max
    km["last_time"] = 5000.0  # follow-up beyond ten years: the axis stops at ten, the curve too
    figure = figures.km_plot({"All": km}, title="t")
    assert figure.x_max == 10.0 and figure.curves[0].years[-1] == 10.0 and figure.ticks[-1] == 10
    km["last_time"] = 300.0  # short follow-up: five years at least
    assert figures.km_plot({"All": km}, title="t").x_max == 5.0


def test_forest_rows_say_what_is_drawn():
    figure = figures.forest_plot(MODEL, {"a": "Term A", "b": "Term B"}, title="Model", n=40)
    assert figure.heading == "Model (n = 40)"
    a, b, c, d = figure.rows
    assert (a.label, a.hr_text, a.p_text, a.square, a.line, a.arrows) == (
        "Term A",
        "2.00 (1.00-4.00)",
        "0.040",
        2.0,
        (1.0, 4.0),
        "",
    )
    assert (b.label, b.hr_text, b.p_text, b.square, b.line) == ("Term B", "not estimable", "", None, None)
    assert c.square == 6.0 and c.line == (2.0, 8) and c.arrows == ">" and c.p_text == "< 0.001"
    assert d.line == (0.25, 0.9) and d.arrows == "<"
    ci_missing = figures.forest_plot({"terms": [{"term": "x", "hazard_ratio": 9.0, "p": 0.5}]}, {}, title="M")
    assert ci_missing.rows[0].hr_text == "9.00 (CI n/a)" and ci_missing.rows[0].square is None


def test_a_description_translates_every_text():
    results = os_results()
    figure = figures.km_plot(figures.factor_curves(_factor(results, "salvage_remission")), title="T", p_value=0.5)
    shouting = figure.translated(str.upper)
    assert (shouting.title, shouting.ylabel, shouting.xlabel, shouting.risk_heading) == (
        "T",
        "PROBABILITY OF SURVIVAL",
        "YEARS",
        "NUMBER AT RISK",
    )
    assert shouting.test == "LOG-RANK P = 0.500"
    assert [c.label for c in shouting.curves] == [c.label.upper() for c in figure.curves]
    assert [r.label for r in shouting.risk_rows] == ["REMISSION AFTER SALVAGE", "NO REMISSION"]
    forest = figures.forest_plot(MODEL, {}, title="m", n=MODEL["n"]).translated(str.upper)
    assert forest.heading == "M (N = 40)" and forest.rows[1].hr_text == "NOT ESTIMABLE"
    assert forest.columns == ("HR (95% CI)", "P") and forest.lower_risk == "← LOWER RISK"


# --- matplotlib: the same description at print resolution ----------------------------------


def test_every_stored_figure_can_be_redrawn_as_png_at_300_dpi():
    specs = analyses.figure_specs("time_dependent", time_dependent_results())
    assert set(specs) == {"simon_makuch_by_hsct", "landmark_by_hsct", "landmark_by_remission"}
    png = figures.render(specs["landmark_by_hsct"], "png", dpi=300)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert round(image.info["dpi"][0]) == 300 and image.size[0] > 1500
    assert analyses.figure_specs("cohort_summary", {}) == {}


def test_matplotlib_draws_what_the_svg_shows():
    """The PNG and the stored SVG are drawn from one description: the same curves, legend, test and
    numbers at risk."""
    results = os_results()
    spec = analyses.figure_specs("os_after_second_line", results)["os_by_mll_partner"]
    figure = spec.draw()
    svg_words = texts(figures.to_svg(spec))
    ax, risk_ax = drawn(figure).axes
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [c.label for c in figure.curves] and len(legend) == 3
    assert all(label in svg_words for label in legend)
    steps = [line for line in ax.get_lines() if line.get_marker() in ("None", None, "")]
    assert len(steps) == 3
    for line, curve in zip(steps, figure.curves, strict=True):
        np.testing.assert_allclose(line.get_xdata(), curve.years)
        np.testing.assert_allclose(line.get_ydata(), curve.values)
    assert figure.test in [t.get_text() for t in ax.texts] and figure.test in svg_words
    risk_words = sorted(t.get_text() for t in risk_ax.texts)
    svg_numbers = sorted(w for w in svg_words if w.isdigit() and int(w) > 10)  # not the tick labels 0..10
    assert sorted(w for w in risk_words if w.isdigit() and int(w) > 10) == svg_numbers


def test_forest_plot_has_a_plain_hazard_ratio_axis_and_columns():
    results = os_results()
    model = results["cox"]["model"]
    ax = drawn(figures.forest_plot(model, results["cox"]["labels"], title="Cox", n=model["n"])).axes[0]
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["0.25", "0.5", "1", "2", "4", "8"]
    words = [t.get_text() for t in ax.texts]
    assert "HR (95% CI)" in words and "P" in words
    assert "← lower risk" in words and "higher risk →" in words
    assert any(re.fullmatch(r"\d+\.\d\d \(\d+\.\d\d-\d+\.\d\d\)", w) for w in words)
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        results["cox"]["labels"][t["term"]] for t in model["terms"]
    ][::-1]
