"""Signatures where the signed thing is shown: the printable lines (report PDF), the PDF of a
report at a cut carrying them, and the template tag's panel."""

import re

import matplotlib
import pytest
from django.template import Context, Template
from django.test import RequestFactory

from analysis import report_files, reports
from registry import services as clinical
from registry.signatures import selectors

from .conftest import sign
from .test_services import run_at

pytestmark = pytest.mark.django_db


def test_lines_say_who_when_meaning_and_invalidated(investigator, coordinator, patient):
    assert selectors.signatures_lines("casebook", patient) == ["Electronic signatures: none."]
    signature = sign(investigator, patient, meaning="authored")
    lines = selectors.signatures_lines("casebook", patient)
    assert lines[0] == "Electronic signatures:"
    assert lines[1] == (
        f"Signed by Keiko Tanaka (investigator) on {signature.signed_at:%Y-%m-%d %H:%M:%S} UTC, meaning: authored; "
        f"content SHA-256 {signature.content_hash[:16]}"
    )
    patient.wbc = 151
    clinical.save_record(user=coordinator, record=patient, source="test", reason="lab sheet")
    (_heading, line) = selectors.signatures_lines("casebook", patient)
    assert " - INVALIDATED " in line and line.endswith("UTC: patient MLL96-0001 saved after signing: lab sheet")


def pdf_text(pdf):
    """The characters of the PDF's text (uncompressed, matplotlib's kerned TJ arrays joined)."""
    return (
        b"".join(re.findall(rb"\(((?:\\.|[^\\)])*)\)", pdf))
        .replace(b"\\(", b"(")
        .replace(b"\\)", b")")
        .decode("latin-1")
    )


def test_the_pdf_of_a_report_at_a_cut_shows_its_signatures(investigator, cut):
    run_at(cut)
    sign(investigator, cut, kind="report", meaning="approved")
    table = reports.Table("t", "Title", "cohort_summary", ["Name", "Value"], [reports.Row(["a", 1])])
    report = reports.numbered([reports.Section("s", "S", ["cohort_summary"], tables=[table])])
    with matplotlib.rc_context({"pdf.compression": 0}):
        at_cut = report_files.report_pdf(report, {}, heading="Report", provenance_text=["Selection: all"], cut=cut)
        live = report_files.report_pdf(report, {}, heading="Report", provenance_text=["Selection: all"])
    assert "Signed by Keiko Tanaka (investigator)" in pdf_text(at_cut) and "meaning: approved" in pdf_text(at_cut)
    assert "Electronic signatures" not in pdf_text(live) and "Selection: all" in pdf_text(live)


def render(user, kind, obj):
    request = RequestFactory().get("/")
    request.user = user
    return Template("{% load signatures %}{% signatures kind obj %}").render(
        Context({"request": request, "kind": kind, "obj": obj})
    )


def test_the_tag_shows_the_panel_and_the_button_to_those_who_may_sign(investigator, coordinator, patient, cut):
    html = render(investigator, "casebook", patient)
    assert "Electronic signatures" in html and "Sign casebook" in html and "Not signed yet." in html
    assert "Sign casebook" not in render(coordinator, "casebook", patient)
    assert "Sign data cut" in render(investigator, "data_cut", cut)
    assert "Sign report" not in render(investigator, "report", cut)  # no run at the cut yet
    assert render(investigator, "report", None).strip() == ""  # the live report has no signatures
