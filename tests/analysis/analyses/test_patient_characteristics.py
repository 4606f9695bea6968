"""Table 1: characteristics at diagnosis, recurrent or refractory patients vs the rest."""

from analysis.analyses import ANALYSES, to_python
from analysis.analyses.patient_characteristics import patient_characteristics, table1
from tests.analysis.report_data import course_frame


def variable(results, name):
    return next(v for v in results["variables"] if v["variable"] == name)


def test_groups_and_cut_offs_are_the_course_frames():
    course = course_frame()
    # Flags that disagree with the dates and the raw values: the analysis must follow the flags.
    course["recurrent_or_refractory"] = [1, 1] + [0] * (len(course) - 2)
    course["wbc_100_or_more"] = 1
    course["age_under_3_months"] = 0
    results = to_python(patient_characteristics(course))
    assert results["groups"] == {"recurrent_or_refractory": 2, "other": len(course) - 2, "all": len(course)}
    wbc = {lv["level"]: lv["counts"]["all"] for lv in variable(results, "wbc_100_or_more")["levels"]}
    assert wbc == {1: len(course), 0: 0}
    age = {lv["level"]: lv["counts"]["all"] for lv in variable(results, "age_under_3_months")["levels"]}
    assert age == {1: 0, 0: len(course)}


def test_counts_percentages_missing_and_medians():
    course = course_frame()
    course.loc[0, "cns_status"] = None
    results = to_python(patient_characteristics(course))
    assert results["schema"] == "patient_characteristics/1"
    rr = course["recurrent_or_refractory"] == 1
    cns = variable(results, "cns_status")
    assert cns["missing"]["all"] == 1
    cns3 = next(lv for lv in cns["levels"] if lv["level"] == "CNS3")
    n = int((course.loc[rr, "cns_status"] == "CNS3").sum())
    assert cns3["counts"]["recurrent_or_refractory"] == n
    assert cns3["percents"]["recurrent_or_refractory"] == 100 * n / rr.sum()
    wbc = variable(results, "wbc")["summary"]["other"]
    assert wbc["median"] == course.loc[~rr, "wbc"].median() and wbc["n"] == (~rr).sum()


def test_table1_counts_and_percentages():
    course = course_frame()
    table = table1(to_python(patient_characteristics(course)))
    rr = course["relapse1_date"].notna() | course["induction_failure_date"].notna()
    assert table.columns[1] == f"Recurrent or refractory (n = {rr.sum()})"
    male = next(r for r in table.rows if r.cells[0] == "Male")
    n_male_rr = int((course[rr]["sex"] == "M").sum())
    assert male.cells[1] == f"{n_male_rr} ({100 * n_male_rr / rr.sum():.1f}%)"
    assert male.cells[3].startswith(f"{int((course['sex'] == 'M').sum())} (")


def test_its_report_section_is_table_1_or_says_it_is_missing():
    analysis = ANALYSES["patient_characteristics"]
    results = to_python(analysis.compute(analysis.inputs(course_frame())))
    [section] = analysis.report_sections({"patient_characteristics": results})
    assert section.key == "patients" and [t.name for t in section.tables] == ["table1"]
    [empty] = analysis.report_sections({})
    assert "No stored result" in empty.error and not empty.tables
