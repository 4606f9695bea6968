"""The SVG a run stores, written directly from a figure's description: read back as XML, its curves,
censoring ticks, bands, numbers at risk and forest rows are where the stored results put them."""

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

from analysis import figures, svg
from tests.analysis.report_data import os_results

NS = "{http://www.w3.org/2000/svg}"
TOLERANCE = 0.011  # pt: coordinates are rounded to 0.01


def parse(text):
    root = ET.fromstring(text)
    assert root.tag == f"{NS}svg"
    return root


def text_elements(root):
    return [
        (t.get("x"), t.get("y"), t.get("text-anchor", "start"), t.get("fill"), t.text) for t in root.iter(f"{NS}text")
    ]


def paths(root, **attributes):
    """The ``d`` of every path with these attributes (``stroke_width`` for stroke-width)."""
    wanted = {name.replace("_", "-"): value for name, value in attributes.items()}
    return [p.get("d") for p in root.iter(f"{NS}path") if all(p.get(k) == v for k, v in wanted.items())]


def linear(pairs):
    """value -> pt from two or more (value, pt) pairs on a linear axis."""
    values, points = np.array(pairs, dtype=float).T
    slope, intercept = np.polyfit(values, points, 1)
    return lambda v: slope * np.asarray(v, dtype=float) + intercept


def km_axes(root):
    """The figure's own scales, read from it: years from the x tick labels (the digit labels nearest
    the plot), probability from the y axis' tick marks (3.5 pt long) at 0, 0.2, ..., 1."""
    digits = [
        (float(x), float(y), int(s)) for x, y, anchor, _, s in text_elements(root) if anchor == "middle" and s.isdigit()
    ]
    top_row = min(y for _, y, _ in digits)
    x = linear([(value, px) for px, y, value in digits if y == top_row])
    marks = [re.fullmatch(r"M(-3.5) ([-\d.]+)L0 ([-\d.]+)", d) for d in paths(root, stroke="#000000")]
    marks = sorted((float(m[2]) for m in marks if m and m[2] == m[3]), reverse=True)
    assert len(marks) == 6
    y = linear(list(zip(np.linspace(0, 1, 6), marks, strict=True)))
    return x, y


def step_segments(d):
    """The horizontal segments (x0, x1, y) of a step path written with M, H and V."""
    segments, x, y = [], None, None
    for command, number in re.findall(r"([MHV])([-\d.]+(?: [-\d.]+)?)", d):
        if command == "M":
            x, y = map(float, number.split())
        elif command == "H":
            segments.append((x, float(number), y))
            x = float(number)
        else:
            y = float(number)
    return segments


def value_at(segments, x):
    """The step function's y at x (right-continuous: the segment that starts at or before x; at the
    end of the last segment, its value)."""
    found = [y for x0, x1, y in segments if x0 - TOLERANCE <= x < x1 - TOLERANCE]
    found += [segments[-1][2]] if abs(x - segments[-1][1]) <= TOLERANCE else []
    assert found, x
    return found[0]


def km_svg(curves, **kwargs):
    figure = figures.km_plot(curves, title="Overall survival", **kwargs)
    return figure, parse(svg.km(figure, title="Overall survival", description="KM curve"))


# --- the document -------------------------------------------------------------------------------


def test_a_figure_is_well_formed_xml_with_its_text_alternative():
    results = os_results()
    text = svg.km(figures.km_plot({"All": results["overall"]}, title="t"), title="OS < 5 & more", description="D")
    root = parse(text)
    assert root.get("role") == "img"
    assert root.find(f"{NS}title").text == "OS < 5 & more" and root.find(f"{NS}desc").text == "D"
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<svg ')
    assert re.search(r'<svg [^>]*role="img"[^>]*><title>', text)
    assert re.fullmatch(r"[\d.]+pt", root.get("width")) and len(root.get("viewBox").split()) == 4
    assert "DejaVu Sans" in root.get("font-family")


def test_the_same_results_give_the_same_bytes():
    results = os_results()

    def write():
        figure = figures.km_plot(figures.factor_curves(results["univariate"][0]), title="t", p_value=0.2)
        return svg.km(figure, title="t", description="d")

    first = write()
    assert first == write()
    assert " id=" not in first and "<metadata" not in first
    coordinates = " ".join(re.findall(r' (?:d|x|y|width|height|viewBox)="([^"]*)"', first))
    decimals = re.findall(r"\d+\.(\d+)", coordinates)
    assert decimals and max(map(len, decimals)) <= 2


def test_every_text_is_escaped_and_kept_as_a_text_element():
    curves = {"<AF4> & co": os_results()["overall"]}
    root = parse(svg.km(figures.km_plot(curves, title="A < B"), title="A < B"))
    words = [t[-1] for t in text_elements(root)]
    assert "A < B" in words and "<AF4> & co (n = 60)" in words and "<AF4> & co" in words


# --- Kaplan-Meier -------------------------------------------------------------------------------


def test_the_curve_steps_through_the_estimates_at_the_event_times():
    km = os_results()["overall"]
    figure, root = km_svg({"All patients": km})
    x, y = km_axes(root)
    (curve,) = [d for d in paths(root, fill="none", stroke_width="1.6") if "H" in d]
    segments = step_segments(curve)
    times = np.asarray(km["table"]["time"]) / figures.DAYS_PER_YEAR
    survival = np.asarray(km["table"]["survival"])
    shown = times <= figure.x_max
    assert shown.sum() > 10
    before = 1.0
    for t, s in zip(times[shown], survival[shown], strict=True):
        assert value_at(segments, x(t) + 0.05) == pytest.approx(y(s), abs=2 * TOLERANCE)  # from t on
        assert value_at(segments, x(t) - 0.05) == pytest.approx(y(before), abs=2 * TOLERANCE)  # up to t
        before = s
    # From the origin at 1 to the last follow-up.
    assert segments[0][0] == pytest.approx(x(0), abs=TOLERANCE)
    assert segments[0][2] == pytest.approx(y(1.0), abs=TOLERANCE)
    assert segments[-1][1] == pytest.approx(x(km["last_time"] / figures.DAYS_PER_YEAR), abs=TOLERANCE)


def test_censoring_ticks_stand_on_the_curve_at_the_censoring_times():
    km = os_results()["overall"]
    figure, root = km_svg({"All patients": km})
    x, y = km_axes(root)
    segments = step_segments(next(d for d in paths(root, fill="none", stroke_width="1.6") if "H" in d))
    (ticks,) = paths(root, fill="none", stroke_width="1")
    drawn = [tuple(map(float, m)) for m in re.findall(r"M([-\d.]+) ([-\d.]+)v7", ticks)]
    expected_years, expected_values = figure.curves[0].ticks
    assert len(drawn) == len(expected_years) > 5
    for (tick_x, tick_top), year, value in zip(drawn, expected_years, expected_values, strict=True):
        assert tick_x == pytest.approx(x(year), abs=TOLERANCE)
        assert tick_top + 3.5 == pytest.approx(y(value), abs=TOLERANCE)  # 7 pt high, centred on the curve
        assert tick_top + 3.5 == pytest.approx(value_at(segments, tick_x), abs=TOLERANCE)
    # Every censoring time on the axis has its tick, to the figure's resolution.
    step = figure.x_max / figures.TICK_STEPS
    censored = np.asarray(km["censor_times"]) / figures.DAYS_PER_YEAR
    for c in censored[censored <= figure.x_max]:
        assert np.min(np.abs(expected_years - c)) <= step / 2 + 1e-9


def test_the_numbers_at_risk_stand_under_their_ticks_in_their_groups_rows():
    results = os_results()
    factor = next(f for f in results["univariate"] if f["factor"] == "salvage_remission")
    figure, root = km_svg(figures.factor_curves(factor), p_value=factor["logrank"]["p"])
    x, _ = km_axes(root)
    texts = text_elements(root)
    rows = {text: float(ty) for _, ty, anchor, fill, text in texts if anchor == "end" and fill}
    assert list(rows) == ["Remission after salvage", "No remission"]
    heading = next(float(ty) for _, ty, _, _, text in texts if text == "Number at risk")
    assert all(row_y > heading for row_y in rows.values())
    for label, level in (("Remission after salvage", "1"), ("No remission", "0")):
        in_row = {
            (float(tx), text) for tx, ty, anchor, _, text in texts if float(ty) == rows[label] and anchor == "middle"
        }
        expected = {
            (round(float(x(round(r["time"] / figures.DAYS_PER_YEAR))), 2), str(r["n_at_risk"]))
            for r in factor["curves"]["groups"][level]["risk_table"]
            if round(r["time"] / figures.DAYS_PER_YEAR) <= figure.x_max
        }
        assert {(round(tx, 2), text) for tx, text in in_row} == expected and len(expected) >= 3
    assert figures.format_p(factor["logrank"]["p"]) in " ".join(t[-1] for t in texts)


def test_the_legend_is_beside_the_plot_one_entry_a_curve():
    results = os_results()
    factor = next(f for f in results["univariate"] if f["factor"] == "mll_partner")
    figure, root = km_svg(figures.factor_curves(factor))
    x, _ = km_axes(root)
    entries = [(float(tx), text) for tx, _, _, _, text in text_elements(root) if "(n = " in text]
    assert [text for _, text in entries] == [c.label for c in figure.curves] and len(entries) == 3
    assert all(tx > x(figure.x_max) for tx, _ in entries)


def test_bands_only_with_one_or_two_curves():
    results = os_results()
    by = {f["factor"]: f for f in results["univariate"]}
    _, two = km_svg(figures.factor_curves(by["salvage_remission"]))
    _, one = km_svg({"All": results["overall"]})
    _, many = km_svg(figures.factor_curves(by["mll_partner"]))
    assert [len(paths(root, fill_opacity="0.15")) for root in (one, two, many)] == [1, 2, 0]


def test_a_band_lies_between_its_limits():
    km = os_results()["overall"]
    figure, root = km_svg({"All patients": km})
    x, y = km_axes(root)
    (band,) = paths(root, fill_opacity="0.15")
    assert band.startswith("M") and band.endswith("Z")
    points = re.findall(r"[HV][-\d.]+", band)
    ys = [float(p[1:]) for p in points if p[0] == "V"]
    curve = figure.curves[0]
    assert min(ys) == pytest.approx(float(y(max(curve.band[1]))), abs=TOLERANCE)
    assert max(ys) == pytest.approx(float(y(min(curve.band[0]))), abs=TOLERANCE)


def test_the_curve_of_a_large_cohort_has_a_vertex_per_visible_step_at_most():
    from analysis import stats

    rng = np.random.default_rng(1)
    days = rng.integers(1, 3000, 100_000).astype(float)
    km = stats.kaplan_meier(days, (rng.random(100_000) < 0.3).astype(int))
    figure, root = km_svg({"All": km})
    curve = next(d for d in paths(root, fill="none", stroke_width="1.6") if "H" in d)
    assert curve.count("H") <= len(km["table"]["time"]) + 1
    assert len(svg.km(figure)) < 150_000


@pytest.mark.parametrize(
    "xs, ys",
    [
        ([0.0, 0.01, 0.1, 0.5, 1.0, 12.05, 12.5, 357.12, 999.99], [211.66, 20.8, 0, 100, 3.07, 9.9, 0.02, 1.1, 5]),
        ([1000.0, 12.3], [1.0, 2.0]),  # beyond the looked-up range
        ([-3.5, 2.0], [17.25, 2.0]),  # below it
        ([999.99, 1.0], [float("nan"), 2.0]),
    ],
)
def test_vertices_formatted_at_once_read_as_each_number_does_alone(xs, ys):
    xs, ys = np.round(np.array(xs), 2) + 0.0, np.round(np.array(ys), 2) + 0.0
    expected = "".join(f"H{svg._n(x)}V{svg._n(y)}" for x, y in zip(xs, ys, strict=True))
    assert svg._pairs("H%sV%s", xs, ys) == expected
    assert svg._pairs("M%s %sv7", xs, ys) == "".join(f"M{svg._n(x)} {svg._n(y)}v7" for x, y in zip(xs, ys, strict=True))
    # Not rounded yet: to 0.01 as _n rounds, at the edge of the looked-up range too.
    assert svg._pairs("H%sV%s", np.array([999.996, 12.5]), np.array([0.004, 3.0])) == "H1000V0H12.5V3"


# --- cumulative incidence -----------------------------------------------------------------------


def cif_result():
    from analysis import stats

    rng = np.random.default_rng(4)
    time = rng.integers(10, 2500, 80).astype(float)
    kind = rng.choice([0, 1, 2], 80)
    return stats.cumulative_incidence(time, kind)


def test_a_cif_figure_draws_its_curves_from_zero_with_gray_s_p():
    cif = cif_result()
    figure = figures.cif_plot({"MLL96": cif, "MLL98": cif}, title="Relapse", p_value=0.0004)
    root = parse(svg.cif(figure, title="Relapse"))
    words = [t[-1] for t in text_elements(root)]
    assert "Gray's test P < 0.001" in words and "Cumulative incidence" in words and "Years" in words
    assert [w for w in words if "(n = " in w] == ["MLL96 (n = 80)", "MLL98 (n = 80)"]
    curves = [d for d in paths(root, fill="none", stroke_width="1.5") if "H" in d]
    assert len(curves) == 2 and not paths(root, fill_opacity="0.15")
    x, y = km_axes(root)
    segments = step_segments(curves[0])
    assert segments[0][2] == pytest.approx(float(y(0.0)), abs=TOLERANCE)
    table = cif["causes"]["1"]["table"]
    shown = [(t, e) for t, e in zip(table["time"], table["estimate"], strict=True) if t / figures.DAYS_PER_YEAR < 5]
    assert len(shown) > 10
    for t, estimate in shown:
        assert value_at(segments, x(t / figures.DAYS_PER_YEAR) + 0.05) == pytest.approx(y(estimate), abs=2 * TOLERANCE)


# --- forest plot --------------------------------------------------------------------------------

MODEL = {
    "terms": [
        {"term": "a", "hazard_ratio": 2.0, "lower": 1.0, "upper": 4.0, "p": 0.04},
        {"term": "b", "hazard_ratio": None, "lower": None, "upper": None, "p": None},
        {"term": "c", "hazard_ratio": 6.0, "lower": 2.0, "upper": 20.0, "p": 0.0001},
        {"term": "d", "hazard_ratio": 0.5, "lower": 0.1, "upper": 0.9, "p": 0.03},
    ]
}


def test_forest_rows_squares_lines_and_arrows_on_the_log_axis():
    figure = figures.forest_plot(MODEL, {"a": "Term A", "b": "Term B"}, title="Cox", n=40)
    root = parse(svg.forest(figure, title="Cox", description="Forest"))
    texts = text_elements(root)
    ticks = {text: float(tx) for tx, _, anchor, _, text in texts if text in ("0.25", "0.5", "1", "2", "4", "8")}
    assert list(ticks) == ["0.25", "0.5", "1", "2", "4", "8"]
    hr_x = linear([(math.log(float(v)), px) for v, px in ticks.items()])
    labels = {text: float(ty) for _, ty, anchor, fill, text in texts if anchor == "end" and not fill}
    assert list(labels) == ["Term A", "Term B", "c", "d"]  # top to bottom, in the model's order
    words = [t[-1] for t in texts]
    for expected in ("Cox (n = 40)", "HR (95% CI)", "P", "not estimable", "2.00 (1.00-4.00)", "0.040", "< 0.001"):
        assert expected in words
    squares = [tuple(map(float, m)) for m in re.findall(r"M([-\d.]+) ([-\d.]+)h6v6h-6Z", "".join(paths(root)))]
    assert len(squares) == 3  # not for the term without a hazard ratio
    rows = sorted(float(m[1]) for d in paths(root, stroke="#000000") if (m := re.fullmatch(r"M-3.5 ([-\d.]+)L0 \1", d)))
    assert len(rows) == 4 and all(a < b < a + 3.5 for a, b in zip(rows, sorted(labels.values()), strict=True))
    for (sx, sy), (row, hr) in zip(squares, ((0, 2.0), (2, 6.0), (3, 0.5)), strict=True):
        assert sx + 3 == pytest.approx(float(hr_x(math.log(hr))), abs=0.02)
        assert sy + 3 == pytest.approx(rows[row], abs=0.02)  # on its label's row
    triangles = [d for d in paths(root, fill=figure.color) if "V" in d and "h6" not in d]
    assert len(triangles) == 2  # c runs off to the right, d to the left
    assert {"← lower risk", "higher risk →", "Hazard ratio (95% CI), log scale"} <= set(words)


# --- text widths --------------------------------------------------------------------------------


@pytest.mark.parametrize("text, bold", [("Remission after salvage (n = 34)", False), ("Number at risk", True)])
def test_text_widths_agree_with_matplotlib_s_dejavu_sans(text, bold):
    measured = TextToPath().get_text_width_height_descent(
        text, FontProperties(family="DejaVu Sans", size=8, weight="bold" if bold else "normal"), ismath=False
    )[0]
    assert svg.text_width(text, 8, bold=bold) == pytest.approx(measured, rel=0.03)
