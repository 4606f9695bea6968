"""The report built from stored results: it shows what the results say, in the paper's order."""

import re

import pytest

from analysis import analyses, reports
from analysis.analyses import os_after_second_line, patient_characteristics
from tests.analysis.report_data import course_frame, os_frame, os_results, time_dependent_results

YEAR = 365.25


@pytest.fixture(scope="module")
def frame():
    return os_frame()


@pytest.fixture(scope="module")
def report(frame):
    return analyses.build_report(
        {
            "os_after_second_line": os_results(frame),
            "time_dependent": time_dependent_results(frame),
            "patient_characteristics": analyses.to_python(
                patient_characteristics.patient_characteristics(course_frame())
            ),
        }
    )


def test_numbers_at_risk_match_the_data(frame, report):
    overall = next(f for f in report.figures() if f.name == "os_overall")
    assert overall.risk_table.rows[0].cells == ["All patients"] + [
        str(int((frame["time"] >= y * YEAR).sum())) for y in reports.RISK_YEARS
    ]
    by_remission = next(f for f in report.figures() if f.name == "os_by_salvage_remission")
    rows = {r.cells[0]: r.cells[1:] for r in by_remission.risk_table.rows}
    for level, label in (("1", "Remission after salvage"), ("0", "No remission")):
        group = frame[frame["salvage_remission"] == int(level)]
        assert rows[label] == [str(int((group["time"] >= y * YEAR).sum())) for y in reports.RISK_YEARS]


def test_the_factor_table_has_every_factor_and_group(frame, report):
    table = report.table("os_by_factor")
    headings = [r.cells[0] for r in table.rows if r.heading]
    assert headings == list(os_after_second_line.UNIVARIATE_FACTORS.values())
    partners = [r for r in table.rows if r.cells[0] in {"AF4", "ENL", "AF9"}]
    assert {r.cells[0]: int(r.cells[1]) for r in partners} == frame["mll_partner"].value_counts().to_dict()


def test_the_cox_table_shows_every_model_term(report):
    table = report.table("cox")
    assert [r.cells[0] for r in table.rows] == list(os_after_second_line.COX_COVARIATES.values())
    assert report.table("time_dependent_cox").rows[0].cells[0] == "HSCT (time-dependent)"


def test_sections_follow_the_paper_and_number_tables_and_figures(report):
    assert [s.key for s in report.sections] == [
        "patients",
        "outcomes",
        "univariate",
        "cox",
        "salvage_regimens",
        "competing",
        "corrections",
        "diagnosis",
    ]
    assert report.tables()[0].title.startswith("Table 1. Patient characteristics")
    numbers = [f.title.split(".")[0] for f in report.figures()]
    assert numbers == [f"Figure {i}" for i in range(1, len(numbers) + 1)]
    missing = {s.key: s.error for s in report.sections if s.error}
    assert set(missing) == {"outcomes", "salvage_regimens", "competing", "diagnosis"}
    assert "No stored result" in missing["competing"]


def test_corrections_say_what_they_correct(report):
    section = next(s for s in report.sections if s.key == "corrections")
    assert "immortal-time bias" in section.intro
    assert {t.name for t in section.tables} == {"time_dependent_cox", "landmark", "landmark_cox"}


def test_a_report_without_results_says_what_is_missing():
    report = analyses.build_report({})
    assert [s.key for s in report.sections][0] == "patients"
    assert all(s.error.startswith("No stored result") for s in report.sections)
    assert report.tables() == [] and report.figures() == []


def test_numbered_numbers_tables_and_figures_in_section_order():
    first = reports.Section("a", "A", ["x"], tables=[reports.Table("t1", "One", "x", ["c"], [])])
    second = reports.Section(
        "b",
        "B",
        ["y"],
        tables=[reports.Table("t2", "Two", "y", ["c"], [])],
        figures=[reports.Figure("f", "Curve", "y", "A curve.")],
    )
    report = reports.numbered([first, second])
    assert [t.title for t in report.tables()] == ["Table 1. One", "Table 2. Two"]
    assert [f.title for f in report.figures()] == ["Figure 1. Curve"]
    assert report.table("t2") is second.tables[0] and report.table("nope") is None


@pytest.mark.parametrize(("value", "text"), [(None, "-"), (0.0004, "< 0.001"), (0.0123, "0.012")])
def test_p_values_read_as_journals_print_them(value, text):
    assert reports.p_value(value) == text


def test_p_values_and_hazard_ratios_read_as_journals_print_them(report):
    captions = [f.description for f in report.figures()] + [n for t in report.tables() for n in t.notes]
    text = " ".join(captions)
    assert "P = <" not in text and "P =" in text
    assert reports.format_p(0.0004) == "P < 0.001" and reports.format_p(0.0123) == "P = 0.012"
    cox = next(f for f in report.figures() if "forest" in f.name)
    assert "95% CI" in cox.description


def _error(compute, *args, **kwargs):
    """The message an estimate stores for data it cannot estimate (``analysis.analyses.base.guard``)."""
    from analysis.analyses.base import guard

    return guard(compute, *args, **kwargs)["error"]


def test_the_messages_of_the_statistics_are_shown_in_the_readers_language():
    """The statistics (no Django) store English; the report shows each message translated."""
    import pandas as pd
    from django.utils import translation

    from analysis import stats

    frame = pd.DataFrame({"time": [10.0, 20.0, 30.0, 40.0], "event": [0, 0, 0, 0], "x": [1, 0, 1, 1], "g": "a"})
    messages = [
        _error(stats.logrank_test, frame["time"], frame["event"], frame["g"]),
        _error(stats.cox_model, frame, "time", "event", ["x"]),
        stats.kaplan_meier([], [])["warnings"][0],
        stats.kaplan_meier(frame["time"], frame["event"])["warnings"][0],
    ]
    groups = pd.Categorical(frame["g"], ["a", "b"])
    messages += stats.kaplan_meier_by_group(frame["time"], frame["event"], groups)["warnings"]
    with_events = frame.assign(event=[1, 0, 1, 0], x=[1, 1, 1, 1], y=[0, 1, 0, 1])
    messages += stats.cox_model(with_events, "time", "event", ["x", "y"])["warnings"]
    assert len(messages) >= 6, messages
    with translation.override("ja"):
        for english in messages:
            japanese = reports.message(english)
            assert japanese != english and re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", japanese), english
        assert reports.message("group 'b' has no patients and is left out") == "群 'b' には症例がないため除外しました"
        assert reports.message("an unforeseen message") == "an unforeseen message"
    assert reports.message(messages[0]) == messages[0]


def test_a_cox_table_shows_its_warnings_translated():
    from django.utils import translation

    model = {
        "terms": [],
        "n": 4,
        "n_events": 2,
        "warnings": ["information matrix is singular: standard errors are not available"],
    }
    with translation.override("ja"):
        table = reports.cox_table("t", "T", "a", model, {})
    assert "情報行列が特異です: 標準誤差は得られません" in table.notes
