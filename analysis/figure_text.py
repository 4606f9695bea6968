"""Figures in the reader's language, although a run stores them once, drawn in English.

``analysis.figures`` describes every figure in English and a run stores it as SVG with its text
kept as ``<text>`` elements (``analysis.svg``). When a figure is served, :func:`translate_svg`
replaces the content of each ``<text>``, ``<title>`` and ``<desc>`` that is a known English text
with its translation in the active language; :func:`render` draws PNG, TIFF (and the PDF
report's figures, ``analysis.report_files``) from the same description with its text translated
(``translated()`` of ``analysis.figures.KMFigure`` and its kin), when a font with Japanese glyphs
is installed (:func:`japanese_font`; Debian's ``fonts-noto-cjk``), else in English
(:func:`drawing_language` says which).

A known English text is either a msgid as a whole (a title, an axis label, a group label; those
declared elsewhere with ``gettext_noop`` count too, and a label lower-cased in the middle of a
title is looked up capitalised), or one of :data:`FIGURE_TEXT`'s patterns: a msgid whose
placeholders match any text, each part translated in turn ("Remission after salvage (n = 56)",
"Log-rank P = 0.022", "OS after second-line treatment by site of relapse"). Numbers, codes (AF4,
MLL96) and texts no msgid knows stay as they are. ``analysis.reports`` uses the same
:class:`Phrases` for the messages the statistics store in English.
"""

import functools
import html
import re
import unicodedata

from django.utils import translation
from django.utils.translation import gettext, gettext_noop

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
MAX_DEPTH = 3  # a pattern's parts are translated in turn, this deep at most


class Phrases:
    """English texts translated whole, or by pattern (a msgid with ``%(name)s`` placeholders).

    Patterns are tried in the order given; give the more specific first.
    """

    def __init__(self, msgids):
        self.patterns = [(msgid, _regex(msgid)) for msgid in msgids if PLACEHOLDER.search(msgid)]

    def translate(self, text, depth=0):
        """``text`` in the active language (unchanged if no msgid or pattern knows it)."""
        if not text or not text.strip():
            return text
        whole = _whole(text)
        if whole is not None:
            return whole
        if depth >= MAX_DEPTH:
            return text
        for msgid, regex in self.patterns:
            match = regex.match(text)
            if match:
                parts = {name: self.translate(value, depth + 1) for name, value in match.groupdict().items()}
                return gettext(msgid) % parts
        if "; " in text:  # a list of terms ("Age < 3 months; CNS involvement")
            return "; ".join(self.translate(part, depth + 1) for part in text.split("; "))
        return text


def _regex(msgid):
    """The text a msgid with placeholders matches: its literal parts, anything for each placeholder."""
    pieces = PLACEHOLDER.split(msgid)
    pattern = ""
    for i, piece in enumerate(pieces):
        pattern += f"(?P<{piece}>.+?)" if i % 2 else re.escape(piece.replace("%%", "%"))
    return re.compile(f"^{pattern}$", re.S)


def _whole(text):
    """The translation of ``text`` as a msgid (or capitalised, as a label in a sentence), or None."""
    found = gettext(text)
    if found != text:
        return found
    if text[:1].islower():
        capital = text[:1].upper() + text[1:]
        found = gettext(capital)
        if found != capital:
            return found
    return None


# What analysis.figures and the analyses draw, in English: every text not declared elsewhere.
FIGURE_WORDS = (
    gettext_noop("Probability of survival"),
    gettext_noop("Cumulative incidence"),
    gettext_noop("Years"),
    gettext_noop("Number at risk"),
    gettext_noop("HR (95% CI)"),
    gettext_noop("Hazard ratio (95% CI), log scale"),
    gettext_noop("← lower risk"),
    gettext_noop("higher risk →"),
    gettext_noop("not estimable"),
    # Titles and curve labels (analysis.analyses).
    gettext_noop("OS after second-line treatment"),
    gettext_noop("OS from diagnosis"),
    gettext_noop("EFS from diagnosis"),
    gettext_noop("All in CR1"),
    gettext_noop("Transplanted"),
    gettext_noop("HSCT by then"),
    gettext_noop("Remission by then"),
    # Levels of the first remission and the relapse site (registry.course), as group_label writes them.
    gettext_noop("CR1 < 6 months"),
    gettext_noop("CR1 >= 6 months"),
    gettext_noop("Isolated marrow"),
    gettext_noop("Extramedullary involved"),
    # Factor labels built from registry.course's thresholds (analysis.analyses.os_after_second_line).
    gettext_noop("WBC >= 100 x10^9/L"),
    gettext_noop("WBC >= 300 x10^9/L"),
    # The figures' text alternatives (<desc>).
    gettext_noop("Kaplan-Meier curve with 95% confidence band and censoring ticks; numbers at risk under the axis."),
    gettext_noop("Cumulative incidence of relapse from CR1 (Aalen-Johansen), death in remission competing."),
    gettext_noop("Cumulative incidence of death without relapse after the first HSCT, relapse competing."),
    gettext_noop(
        "Simon-Makuch curves: a patient counts as untransplanted until the day of HSCT; 95% confidence "
        "bands, censoring ticks and numbers at risk (in each state) under the time axis."
    ),
)

# Texts the figures build by formatting, most specific first.
FIGURE_TEXT = Phrases(
    [
        gettext_noop("%(label)s (n = %(n)s)"),
        gettext_noop("%(hr)s (CI n/a)"),
        gettext_noop("Log-rank %(p)s"),
        gettext_noop("Gray's test %(p)s"),
        gettext_noop(
            "Kaplan-Meier curves by %(factor)s with 95%% confidence bands and censoring ticks; log-rank %(p)s; "
            "numbers at risk under the time axis."
        ),
        gettext_noop("Cumulative incidence of relapse by trial; Gray's test %(p)s."),
        gettext_noop("Forest plot: hazard ratio with 95%% confidence interval for each term: %(terms)s."),
        gettext_noop("OS from %(days)s days after salvage start, by %(factor)s"),
        gettext_noop("%(title)s by %(factor)s"),
    ]
)


def active_language():
    """The active language, ``en`` for every English (the language figures are drawn in)."""
    language = translation.get_language() or "en"
    return "en" if language.startswith("en") else language


def translating():
    """True when the active language is not English."""
    return active_language() != "en"


def translate(text):
    """One text of a figure in the active language."""
    return FIGURE_TEXT.translate(text) if translating() else text


# --- SVG, as stored ------------------------------------------------------------------------------

_ELEMENT = re.compile(r"(<(text|title|desc)\b([^>]*)>)([^<]*)(</\2>)")
_FONTS = "'Noto Sans CJK JP', 'Hiragino Sans', 'Yu Gothic', Meiryo, sans-serif"
_ROOT = re.compile(r'<svg\b[^>]*?\bwidth="([\d.]+)pt"[^>]*?\bviewBox="([-\d.]+) ([-\d.]+) ([\d.]+) ([\d.]+)"')
MARGIN = 4.0  # pt kept free beside a text that needed more room


def translate_svg(svg):
    """A stored figure's SVG with its texts in the active language (unchanged in English).

    The figure was laid out for the English text: where a translation is wider (a legend entry,
    a group label of the numbers at risk), the drawing's box is widened so that nothing is cut.
    Runs stored before ``analysis.svg`` hold matplotlib's SVG, each text with its font and size in
    its ``style`` (``analysis.svg`` gives them as attributes, the font once on the root): both read.
    """
    if not svg or not translating():
        return svg
    extents = []

    def one(match):
        opening, name, attributes, content, closing = match.groups()
        text = html.unescape(content)
        translated = FIGURE_TEXT.translate(text)
        if translated == text:
            return match.group(0)
        if name == "text":
            extents.append(_extent(attributes, translated))
        # Japanese glyphs from a font that has them, before the browser's own fallback.
        opening = opening.replace("sans-serif;", _FONTS + ";").replace('sans-serif"', _FONTS + '"')
        return opening + html.escape(translated, quote=False) + closing

    translated = _ELEMENT.sub(one, svg)
    if translated == svg:
        return svg
    return _widen(_root_fonts(translated), [e for e in extents if e is not None])


def _root_fonts(svg):
    """The SVG with Japanese fonts in its root's font family (where ``analysis.svg`` names it)."""
    root = re.search(r"<svg\b[^>]*>", svg)
    if not root or 'sans-serif"' not in root.group(0):
        return svg
    return svg[: root.start()] + root.group(0).replace('sans-serif"', _FONTS + '"', 1) + svg[root.end() :]


def _extent(attributes, text):
    """(left, right) of a horizontal text in the drawing's units (pt), estimated: a full-width
    character is 1 em, any other 0.6 em (DejaVu Sans is narrower); None if it is not horizontal."""
    x = re.search(r'\bx="([-\d.]+)"', attributes)
    size = re.search(r'font-size(?::\s*|=")([\d.]+)', attributes)
    if not x or not size or re.search(r"rotate\(-?(?!0[ )])[\d.]+", attributes):
        return None
    em = float(size.group(1))
    width = sum(em if unicodedata.east_asian_width(c) in "WF" else 0.6 * em for c in text)
    left = float(x.group(1))
    anchor = re.search(r'text-anchor(?::\s*|=")(start|middle|end)', attributes)
    anchor = anchor.group(1) if anchor else "start"
    if anchor == "middle":
        left -= width / 2
    elif anchor == "end":
        left -= width
    return left, left + width


def _widen(svg, extents):
    """The SVG with its viewBox (and width) grown to hold every extent, never shrunk."""
    root = _ROOT.search(svg)
    if not extents or not root:
        return svg
    width, x0, y0, w, h = (float(v) for v in root.groups())
    left = min(x0, min(e[0] for e in extents) - MARGIN)
    right = max(x0 + w, max(e[1] for e in extents) + MARGIN)
    if left >= x0 and right <= x0 + w:
        return svg
    new_w = right - left
    opening = root.group(0)
    opening = opening.replace(f'width="{root.group(1)}pt"', f'width="{width * new_w / w:.6g}pt"', 1)
    opening = re.sub(r'viewBox="[^"]*"', f'viewBox="{left:.6g} {y0:.6g} {new_w:.6g} {h:.6g}"', opening, count=1)
    return svg[: root.start()] + opening + svg[root.end() :]


# --- PNG, TIFF and the PDF report: drawn again, with the translated text ----------------------

JAPANESE_FAMILIES = ("Noto Sans CJK JP", "Noto Sans JP", "IPAexGothic", "IPAGothic", "TakaoGothic")
_FONT_FILES = re.compile(r"(?i)(NotoSansCJK|NotoSansJP|ipaexg|ipag|TakaoGothic)[^/]*\.(ttc|otf|ttf)$")


@functools.cache
def japanese_font():
    """The family name of an installed font with Japanese glyphs, or None.

    Fonts installed after matplotlib cached its font list are found on disk and added.
    """
    from matplotlib import font_manager

    def known():
        names = {font.name for font in font_manager.fontManager.ttflist}
        return next((family for family in JAPANESE_FAMILIES if family in names), None)

    if known() is None:
        for path in font_manager.findSystemFonts():
            if _FONT_FILES.search(path):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
    return known()


def drawing_language():
    """The language PNG, TIFF and PDF figures are drawn in: the active one, or English if it
    needs glyphs no installed font has."""
    if not translating():
        return "en"
    return active_language() if japanese_font() else "en"


def font_settings():
    """matplotlib settings that draw the active language: a font with its glyphs after the default."""
    if drawing_language() == "en":
        return {}
    from matplotlib import rcParams

    return {"font.family": [rcParams["font.sans-serif"][0], japanese_font()], "pdf.fonttype": 42}


def render(spec, fmt, *, dpi=300):
    """``analysis.figures.render`` in the drawing language (:func:`drawing_language`)."""
    import matplotlib

    from .figures import FigureSpec
    from .figures import render as render_english

    settings = font_settings()
    if not settings:
        with translation.override("en"):
            return render_english(spec, fmt, dpi=dpi)
    translated = FigureSpec(
        translate(spec.title), translate(spec.description), lambda: spec.draw().translated(translate)
    )
    with matplotlib.rc_context(settings):
        return render_english(translated, fmt, dpi=dpi)
