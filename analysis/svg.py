"""SVG text written directly from a figure's description (``analysis.figures``).

A run stores its figures as SVG. matplotlib lays a figure out twice and measures every text
(0.15 s a figure); this writer places the parts at fixed distances in points, the sizes of
matplotlib's print layout (``analysis.figures.to_matplotlib``), and measures text with DejaVu
Sans' advance widths, so a figure takes a millisecond or two: a curve has a vertex per event
time, never per patient.

What the SVG holds: an XML declaration (it is a file of its own when downloaded); the text as
``<text>`` elements (``analysis.figure_text`` translates them when a figure is served and widens
the ``viewBox`` to fit), in the root's font family; a ``<title>`` and ``<desc>`` with
``role="img"``; coordinates in points rounded to 0.01; no ids, dates or random numbers, so the
same results give the same bytes.
"""

import functools
import math
from xml.sax.saxutils import escape

import numpy as np

FONT_FAMILY = "'DejaVu Sans', 'Bitstream Vera Sans', Verdana, sans-serif"
PAD = 7.2  # pt of white around the drawing (matplotlib's bbox_inches="tight" pads 0.1 in)
TICK = 3.5  # pt: tick marks, and the gap from a tick to its label
TICK_LABEL = 13.84  # pt under an axis: the baseline of its tick labels
AXIS_LABEL = 26.84  # pt under an axis: the baseline of its label
GREY = "#555555"
GRID = "#dddddd"
BLACK = "#000000"

# DejaVu Sans advance widths of ' ' .. '~' in 1/2048 em; other characters count as 1716 (the arrows,
# signs and most symbols). Bold text is an eighth wider.
_WIDTHS = (
    651, 821, 942, 1716, 1303, 1946, 1597, 563, 799, 799, 1024, 1716, 651, 739, 651, 690, 1303, 1303, 1303, 1303,
    1303, 1303, 1303, 1303, 1303, 1303, 690, 690, 1716, 1716, 1716, 1087, 2048, 1401, 1405, 1430, 1577, 1294, 1178,
    1587, 1540, 604, 604, 1343, 1141, 1767, 1532, 1612, 1235, 1612, 1423, 1300, 1251, 1499, 1401, 2025, 1403, 1251,
    1403, 799, 690, 799, 1716, 1024, 1024, 1255, 1300, 1126, 1300, 1260, 721, 1300, 1298, 569, 569, 1186, 569, 1995,
    1298, 1253, 1300, 1300, 842, 1067, 803, 1298, 1212, 1675, 1212, 1212, 1075, 1303, 690, 1303, 1716,
)  # fmt: skip


def text_width(text, size, *, bold=False):
    """The width of ``text`` in DejaVu Sans at ``size`` pt, in pt."""
    units = sum(_WIDTHS[ord(c) - 32] if 32 <= ord(c) < 127 else 1716 for c in text)
    return units / 2048 * size * (1.13 if bold else 1.0)


def _centred(size):
    """How far below a line to put the baseline of a text ``size`` pt high, centred on the line."""
    return 0.38 * size


def _n(value):
    """A coordinate in pt to 0.01, without trailing zeros (6 digits: every coordinate is under 10,000 pt)."""
    return "%g" % (round(value, 2) + 0.0)  # + 0.0: never "-0"


class _Drawing:
    """The elements of one SVG, and the box they cover (for the drawing's size)."""

    def __init__(self):
        self.parts = []
        self.left, self.right = math.inf, -math.inf

    def cover(self, left, right):
        self.left, self.right = min(self.left, left), max(self.right, right)

    def text(self, x, y, text, size, *, anchor="start", bold=False, color=None, rotate=False):
        """A text with its baseline at ``y``; ``rotate``: read upwards, centred on (x, y)."""
        attributes = f'x="{_n(x)}" y="{_n(y)}" font-size="{_n(size)}"'
        if anchor != "start":
            attributes += f' text-anchor="{anchor}"'
        if bold:
            attributes += ' font-weight="bold"'
        if color:
            attributes += f' fill="{color}"'
        if rotate:
            attributes += f' transform="rotate(-90 {_n(x)} {_n(y)})"'
            self.cover(x - size, x)
        else:
            width = text_width(text, size, bold=bold)
            left = x - {"start": 0, "middle": width / 2, "end": width}[anchor]
            self.cover(left, left + width)
        self.parts.append(f"<text {attributes}>{escape(text)}</text>")

    def path(self, d, **attributes):
        extra = "".join(f' {name.replace("_", "-")}="{value}"' for name, value in attributes.items())
        self.parts.append(f'<path d="{d}"{extra}/>')

    def line(self, x1, y1, x2, y2, color, width):
        self.path(f"M{_n(x1)} {_n(y1)}L{_n(x2)} {_n(y2)}", stroke=color, stroke_width=_n(width))

    def write(self, height, *, title, description):
        """The SVG document, ``PAD`` beyond everything drawn, from the top (0) to ``height``."""
        left, right = self.left - PAD, self.right + PAD
        width = right - left
        alt = (f"<title>{escape(title)}</title>" if title else "") + (
            f"<desc>{escape(description)}</desc>" if description else ""
        )
        opening = (
            f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{_n(width)}pt" height="{_n(height)}pt" '
            f'viewBox="{_n(left)} 0 {_n(width)} {_n(height)}" font-family="{FONT_FAMILY}">'
        )
        background = f'<rect x="{_n(left)}" y="0" width="{_n(width)}" height="{_n(height)}" fill="#ffffff"/>'
        return "\n".join(['<?xml version="1.0" encoding="utf-8"?>', opening + alt, background, *self.parts, "</svg>\n"])


class _Scale:
    """Data to points along one axis: ``lo``..``hi`` onto ``start``..``end`` (log: on log values)."""

    def __init__(self, lo, hi, start, end, *, log=False):
        self.log = log
        self.lo, hi = (math.log(lo), math.log(hi)) if log else (lo, hi)
        self.start, self.factor = start, (end - start) / (hi - self.lo)

    def __call__(self, values):
        """Points for a value (a float) or an array of them (an array)."""
        values = np.log(values) if self.log else np.asarray(values, dtype=float)
        points = self.start + (values - self.lo) * self.factor
        return float(points) if np.ndim(points) == 0 else points


def _steps(xs, ys):
    """A step function's vertices in pt, rounded to 0.01, without those where the value does not
    change (in a large cohort, events a hundredth of a point apart): the same steps, drawn."""
    xs, ys = np.round(xs, 2) + 0.0, np.round(ys, 2) + 0.0
    keep = np.concatenate([[True], ys[1:] != ys[:-1]])
    keep[-1] = True
    return xs[keep], ys[keep]


@functools.cache
def _coordinates():
    """The text ``_n`` gives every coordinate from 0 to 999.99 pt, by hundredths: a curve's thousands
    of vertices are looked up, not formatted one by one (most of what drawing a large cohort's
    figures took). The whole points joined with the hundredths without trailing zeros (12, 12.5, 12.05)."""
    whole = np.array([str(i) for i in range(1000)], dtype=object)
    hundredths = np.array([""] + [f".{i:02d}".rstrip("0") for i in range(1, 100)], dtype=object)
    return (whole[:, None] + hundredths[None, :]).ravel()


def _pairs(template, xs, ys):
    """``template`` (two numbers, ``%s``) once for each (x, y) rounded to 0.01, at once (a curve has
    thousands): the same text as ``_n`` gives each number."""
    before, between, after = template.split("%s")
    hundredths, known = np.rint(np.column_stack([xs, ys]) * 100), _coordinates()
    if len(xs) and hundredths.min() >= 0 and hundredths.max() < len(known):  # (NaN: neither)
        # The template's texts and its two numbers (0: x, 1: y), one column each, empty texts left out.
        layout = [part for part in (before, 0, between, 1, after) if part != ""]
        text = np.empty((len(xs), len(layout)), dtype=object)
        for column, part in enumerate(layout):
            text[:, column] = part if isinstance(part, str) else known[hundredths[:, part].astype(np.int64)]
        return "".join(text.ravel().tolist())
    return "".join(f"{before}{_n(x)}{between}{_n(y)}{after}" for x, y in zip(xs, ys, strict=True))


def _step_path(xs, ys):
    """A step function drawn "post" through its vertices: along at each value, then up or down."""
    xs, ys = _steps(xs, ys)
    return _pairs("M%s %s", xs[:1], ys[:1]) + _pairs("H%sV%s", xs[1:], ys[1:])


def _band_path(xs, lower, upper):
    """The area between two step functions at the same vertices: along the upper, back along the lower."""
    upper_x, upper = _steps(xs, upper)
    lower_x, lower = _steps(xs, lower)
    forward = _pairs("M%s %s", upper_x[:1], upper[:1]) + _pairs("H%sV%s", upper_x[1:], upper[1:])
    back = _pairs("V%sH%s", lower[-2::-1], lower_x[-2::-1])
    return f"{forward}V{_n(lower[-1])}{back}Z"


def _bands(drawing, curves, x, y):
    """Confidence bands (under the grid, as matplotlib layers them)."""
    for curve in curves:
        if curve.band is not None:
            lower, upper = curve.band
            drawing.path(_band_path(x(curve.years), y(lower), y(upper)), fill=curve.color, fill_opacity="0.15")


def _curve_lines(drawing, curves, x, y, linewidth):
    """The curves and their censoring ticks (7 pt high, one path a curve)."""
    for curve in curves:
        d = _step_path(x(curve.years), y(curve.values))
        drawing.path(d, fill="none", stroke=curve.color, stroke_width=_n(linewidth), stroke_linejoin="round")
        if curve.ticks is not None and len(curve.ticks[0]):
            at = np.round(x(curve.ticks[0]), 2) + 0.0, np.round(y(curve.ticks[1]) - 3.5, 2) + 0.0
            drawing.path(_pairs("M%s %sv7", *at), fill="none", stroke=curve.color, stroke_width="1")


def _axes(drawing, figure, x, y, box):
    """The left and bottom spines with their ticks and labels, the axis labels and the title."""
    left, top, right, bottom = box
    for tick in figure.ticks:
        drawing.line(x(tick), bottom, x(tick), bottom + TICK, BLACK, 0.8)
        drawing.text(x(tick), bottom + TICK_LABEL, str(tick), 9, anchor="middle")
    for value in Y_TICKS:
        drawing.line(left - TICK, y(value), left, y(value), BLACK, 0.8)
        drawing.text(left - 2 * TICK, y(value) + _centred(9), f"{value:.1f}", 9, anchor="end")
    drawing.line(left, bottom, right, bottom, BLACK, 0.8)
    drawing.line(left, bottom, left, top, BLACK, 0.8)
    drawing.text((left + right) / 2, bottom + AXIS_LABEL, figure.xlabel, 9, anchor="middle")
    ylabel_x = left - 2 * TICK - text_width("0.0", 9) - 6.2
    drawing.text(ylabel_x, (top + bottom) / 2, figure.ylabel, 9, anchor="middle", rotate=True)
    drawing.text(left, top - 6, figure.title, 10)


PLOT_TOP = 20.8  # pt: room for the title above the plot
PLOT_WIDTH = 357.12  # pt: the time axis (matplotlib's 6.4 in figure less its margins)
Y_TICKS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def km(figure, *, title=None, description=None):
    """A Kaplan-Meier figure (``analysis.figures.KMFigure``) as SVG text."""
    drawing = _Drawing()
    top, height = PLOT_TOP, 190.86
    left, right, bottom = 0.0, PLOT_WIDTH, top + height
    x = _Scale(0, figure.x_max, left, right)
    y = _Scale(0, 1.02, bottom, top)
    _bands(drawing, figure.curves, x, y)
    for value in Y_TICKS:
        drawing.line(left, y(value), right, y(value), GRID, 0.6)
    _curve_lines(drawing, figure.curves, x, y, 1.6)
    _axes(drawing, figure, x, y, (left, top, right, bottom))
    # Beside the plot, never over a curve.
    for i, curve in enumerate(figure.curves):
        baseline = top + 13.28 + 12 * i
        drawing.line(right + 10.77, baseline - 2.8, right + 26.77, baseline - 2.8, curve.color, 1.6)
        drawing.text(right + 33.17, baseline, curve.label, 8)
    if figure.test:
        drawing.text(left + 0.02 * PLOT_WIDTH, bottom - 0.04 * height, figure.test, 9)
    # Numbers at risk: a header line of its own, then one row per curve aligned under the ticks.
    heading = bottom + 35
    drawing.text(left, heading, figure.risk_heading, 8, bold=True)
    for i, row in enumerate(figure.risk_rows):
        baseline = heading + 17.5 * (i + 1)
        drawing.text(left - 0.07 * PLOT_WIDTH, baseline, row.label, 8, anchor="end", color=row.color)
        for tick, count in zip(figure.ticks, row.counts, strict=True):
            if count is not None:
                drawing.text(x(tick), baseline, str(count), 8, anchor="middle")
    return drawing.write(heading + 17.5 * len(figure.risk_rows) + 4 + PAD, title=title, description=description)


def cif(figure, *, title=None, description=None):
    """A cumulative incidence figure (``analysis.figures.CIFFigure``) as SVG text."""
    drawing = _Drawing()
    top, height = PLOT_TOP, 221.76
    left, right, bottom = 0.0, PLOT_WIDTH, top + height
    x = _Scale(0, figure.x_max, left, right)
    y = _Scale(0, 1.0, bottom, top)
    _curve_lines(drawing, figure.curves, x, y, 1.5)
    _axes(drawing, figure, x, y, (left, top, right, bottom))
    for i, curve in enumerate(figure.curves):  # the legend inside the plot, upper left
        baseline = top + 15.5 + 13.5 * i
        drawing.line(left + 8.1, baseline - 3.2, left + 26.1, baseline - 3.2, curve.color, 1.5)
        drawing.text(left + 33.3, baseline, curve.label, 9)
    if figure.test:
        drawing.text(right - 0.02 * PLOT_WIDTH, bottom - 0.05 * height, figure.test, 9, anchor="end")
    return drawing.write(bottom + AXIS_LABEL + 2.5 + PAD, title=title, description=description)


FOREST_WIDTH = 175.1  # pt: the hazard ratio axis
FOREST_ROW = 30.0  # pt between rows


def forest(figure, *, title=None, description=None):
    """A forest plot (``analysis.figures.ForestFigure``) as SVG text."""
    drawing = _Drawing()
    n_rows = max(1, len(figure.rows))
    top = PAD + 36.0
    left, right, bottom = 0.0, FOREST_WIDTH, top + FOREST_ROW * n_rows
    x = _Scale(*figure.limits, left, right, log=True)
    labels_left = left - 2 * TICK - max([text_width(row.label, 9) for row in figure.rows] or [0.0])
    drawing.text(labels_left, PAD + 9.3, figure.heading, 10)
    columns = (right + 0.05 * FOREST_WIDTH, right + 0.52 * FOREST_WIDTH)
    for column, header in zip(columns, figure.columns, strict=True):
        drawing.text(column, top + 0.05 * FOREST_ROW, header, 9, bold=True)
    drawing.line(x(1.0), top, x(1.0), bottom, GREY, 0.8)  # the reference line
    for k, row in enumerate(figure.rows):
        middle = top + (0.6 + k) * FOREST_ROW
        drawing.line(left - TICK, middle, left, middle, BLACK, 0.8)
        drawing.text(left - 2 * TICK, middle + _centred(9), row.label, 9, anchor="end")
        if row.line is not None:
            drawing.line(x(row.line[0]), middle, x(row.line[1]), middle, figure.color, 1.4)
        for arrow in row.arrows:  # a triangle 5 pt wide, centred on the interval's cut end
            tip, back = (x(row.line[0]) - 2.5, 5) if arrow == "<" else (x(row.line[1]) + 2.5, -5)
            d = f"M{_n(tip)} {_n(middle)}L{_n(tip + back)} {_n(middle - 2.5)}V{_n(middle + 2.5)}Z"
            drawing.path(d, fill=figure.color)
        if row.square is not None:  # 6 pt square
            d = f"M{_n(x(row.square) - 3)} {_n(middle - 3)}h6v6h-6Z"
            drawing.path(d, fill=figure.color)
        for column, text in zip(columns, (row.hr_text, row.p_text), strict=True):
            drawing.text(column, middle + _centred(9), text, 9)
    drawing.line(left, bottom, right, bottom, BLACK, 0.8)
    for tick in figure.ticks:
        drawing.line(x(tick), bottom, x(tick), bottom + TICK, BLACK, 0.8)
        drawing.text(x(tick), bottom + TICK_LABEL, f"{tick:g}", 9, anchor="middle")
    drawing.text((left + right) / 2, bottom + AXIS_LABEL, figure.xlabel, 9, anchor="middle")
    drawing.text(x(0.9), bottom + 44, figure.lower_risk, 8, anchor="end", color=GREY)
    drawing.text(x(1.1), bottom + 44, figure.higher_risk, 8, color=GREY)
    return drawing.write(bottom + 44 + 2 + PAD, title=title, description=description)
