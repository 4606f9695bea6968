"""Report tables built from stored results: they show what the results say, in the paper's order."""

import csv
import io

import pytest
from openpyxl import load_workbook

from analysis import analyses, reports
from tests.analysis.report_data import course_frame, os_frame, os_results, time_dependent_results

YEAR = 365.25


@pytest.fixture(scope="module")
def frame():
    return os_frame()


@pytest.fixture(scope="module")
def report(frame):
    return reports.build_report(
        {
            "os_after_second_line": os_results(frame),
            "time_dependent": time_dependent_results(frame),
            "patient_characteristics": analyses.to_python(analyses.patient_characteristics(course_frame())),
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
    assert headings == list(analyses.UNIVARIATE_FACTORS.values())
    partners = [r for r in table.rows if r.cells[0] in {"AF4", "ENL", "AF9"}]
    assert {r.cells[0]: int(r.cells[1]) for r in partners} == frame["mll_partner"].value_counts().to_dict()


def test_the_cox_table_shows_every_model_term(report):
    table = report.table("cox")
    assert [r.cells[0] for r in table.rows] == list(analyses.COX_COVARIATES.values())
    assert report.table("time_dependent_cox").rows[0].cells[0] == "HSCT (time-dependent)"


def test_sections_follow_the_paper_and_number_tables_and_figures(report):
    assert [s.key for s in report.sections] == [
        "patients",
        "outcomes",
        "univariate",
        "cox",
        "competing",
        "corrections",
        "diagnosis",
    ]
    assert report.tables()[0].title.startswith("Table 1. Patient characteristics")
    numbers = [f.title.split(".")[0] for f in report.figures()]
    assert numbers == [f"Figure {i}" for i in range(1, len(numbers) + 1)]
    missing = {s.key: s.error for s in report.sections if s.error}
    assert set(missing) == {"outcomes", "competing", "diagnosis"}
    assert "No stored result" in missing["competing"]


def test_corrections_say_what_they_correct(report):
    section = next(s for s in report.sections if s.key == "corrections")
    assert "immortal-time bias" in section.intro
    assert {t.name for t in section.tables} == {"time_dependent_cox", "landmark", "landmark_cox"}


def test_table1_counts_and_percentages():
    course = course_frame()
    table = reports.table1(analyses.to_python(analyses.patient_characteristics(course)))
    rr = course["relapse1_date"].notna() | course["induction_failure_date"].notna()
    assert table.columns[1] == f"Recurrent or refractory (n = {rr.sum()})"
    male = next(r for r in table.rows if r.cells[0] == "Male")
    n_male_rr = int((course[rr]["sex"] == "M").sum())
    assert male.cells[1] == f"{n_male_rr} ({100 * n_male_rr / rr.sum():.1f}%)"
    assert male.cells[3].startswith(f"{int((course['sex'] == 'M').sum())} (")


def test_outcome_table_from_the_cohort_summary(frame):
    summary = {
        "n_registered": 80,
        "n_relapsed": 34,
        "n_induction_failure": 5,
        "n_recurrent_or_refractory": 39,
        "first_remission_months": {"n": 34, "median": 5.0, "min": 0.2, "max": 28.0},
        "salvage_remission": {"successes": 15, "n": 37, "percent": 40.54, "lower": 0.2475, "upper": 0.579},
        "transplants_after_recurrence": {"n": 23, "in_remission": 9, "not_in_remission": 12, "unknown": 2},
    }
    table = reports.outcome_table(summary, os_results(frame))
    cells = {r.cells[0]: r.cells[1:] for r in table.rows}
    assert cells["Remission after salvage therapy"] == ["15/37 (40.5%)", "95% CI 24.8% to 57.9% (exact)"]
    assert cells["HSCT not in remission"][0] == "12"
    assert "5-year OS after second-line treatment" in cells


def test_formula_cells_are_neutralised_in_csv_and_xlsx():
    table = reports.Table(
        "t",
        "Title",
        "cohort_summary",
        ["Name", "Value"],
        [reports.Row(['=HYPERLINK("http://x")', "+1"]), reports.Row(["@SUM(A1)", 3])],
    )
    rows = list(csv.reader(io.StringIO(reports.table_csv(table))))
    assert rows[2] == ['\'=HYPERLINK("http://x")', "'+1"]
    assert rows[3] == ["'@SUM(A1)", "3"]
    book = load_workbook(io.BytesIO(reports.table_xlsx(table)))
    sheet = book.active
    assert sheet["A3"].value == '\'=HYPERLINK("http://x")' and sheet["A3"].data_type == "s"
    assert sheet["B4"].value == 3
