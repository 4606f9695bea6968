"""Remission after salvage by regimen code: lines from the course frame, counts, exact CIs, the table."""

import json
from datetime import timedelta

import pandas as pd
import pytest

from analysis.analyses import ANALYSES, build_report, to_python
from analysis.analyses.salvage_regimens import regimen_table, salvage_lines, salvage_regimens
from registry.course import course_frame
from registry.models import Patient
from tests.factories import SalvageLineFactory
from tests.vocabularies.test_models import relapsed_patient


def course():
    """Three patients with lines after recurrence; one without salvage."""
    return pd.DataFrame(
        {
            "patient_id": [1, 2, 3, 4],
            "salvage_lines_coded": ["FLAG:PR ICE:CR", "FLAG:CR", ":NE :NR", None],
        }
    )


def test_lines_are_read_from_the_course_frame_in_order():
    lines = salvage_lines(course())
    assert lines.to_dict("list") == {
        "patient_id": [1, 1, 2, 3, 3],
        "number": [1, 2, 1, 1, 2],
        "regimen_code": ["FLAG", "ICE", "FLAG", "", ""],
        "response": ["PR", "CR", "CR", "NE", "NR"],
    }
    assert salvage_lines(pd.DataFrame({"patient_id": []})).empty  # a frame without the column (an old cut)


def test_lines_keep_their_patient_whatever_the_frame_index():
    frame = course().iloc[::-1].set_axis([7, 3, 9, 1])  # a filtered or reordered course frame
    frame.loc[3, "salvage_lines_coded"] = ""  # patient 3: no line after recurrence
    lines = salvage_lines(frame)
    assert lines.to_dict("list") == {
        "patient_id": [1, 1, 2],
        "number": [1, 2, 1],
        "regimen_code": ["FLAG", "ICE", "FLAG"],
        "response": ["PR", "CR", "CR"],
    }
    assert list(lines.dtypes.astype(str)) == ["int64", "int64", "object", "object"]
    assert salvage_lines(frame.assign(salvage_lines_coded=None)).empty


def test_patients_with_the_same_text_each_get_its_lines():
    shared = "FLAG:PR ICE:CR"
    frame = pd.DataFrame({"patient_id": [5, 2, 8], "salvage_lines_coded": [shared, "ICE:NR", "FLAG:PR ICE:CR"]})
    lines = salvage_lines(frame)
    assert lines.to_dict("list") == {
        "patient_id": [2, 5, 5, 8, 8],
        "number": [1, 1, 2, 1, 2],
        "regimen_code": ["ICE", "FLAG", "ICE", "FLAG", "ICE"],
        "response": ["NR", "PR", "CR", "PR", "CR"],
    }


def test_counts_and_exact_intervals_per_code_not_coded_last():
    results = to_python(salvage_regimens(salvage_lines(course())))
    assert results["schema"] == "salvage_regimens/1"
    flag, ice, not_coded = results["regimens"]
    assert flag["regimen_code"] == "FLAG" and (flag["n_lines"], flag["n_patients"], flag["n_second_line"]) == (2, 2, 2)
    # 1/2 in CR: R binom.test(1, 2)$conf.int = 0.01257912 0.98742088
    assert flag["remission"]["successes"] == 1 and flag["remission"]["n"] == 2
    assert flag["remission"]["lower"] == pytest.approx(0.01257912, abs=1e-8)
    assert flag["remission"]["upper"] == pytest.approx(0.98742088, abs=1e-8)
    assert ice["regimen_code"] == "ICE" and ice["n_second_line"] == 0
    assert not_coded["regimen_code"] == "" and not_coded["n_evaluable"] == 1  # NE is not evaluable
    assert not_coded["remission"]["successes"] == 0
    assert results["overall"]["n_lines"] == 5 and results["n_not_coded"] == 2
    json.dumps(results)


def test_a_code_without_an_evaluable_line_is_reported_not_estimated():
    results = salvage_regimens(salvage_lines(pd.DataFrame({"patient_id": [1], "salvage_lines_coded": ["BLINA:NE"]})))
    assert "error" in results["regimens"][0]["remission"]


def test_the_table_labels_not_coded_and_totals():
    table = regimen_table(to_python(salvage_regimens(salvage_lines(course()))))
    labels = [row.cells[0] for row in table.rows]
    assert labels == ["FLAG", "ICE", "Not coded", "All salvage lines"]
    assert table.rows[0].cells[4] == "1/2 (50.0%)"
    assert any("2 line(s) not coded yet" in note for note in table.notes)


def test_registered_and_in_the_report_after_the_outcome_table():
    names = list(ANALYSES)
    assert names.index("salvage_regimens") == names.index("os_after_second_line") + 1
    results = {"salvage_regimens": to_python(salvage_regimens(salvage_lines(course())))}
    titles = [section.title for section in build_report(results).sections]
    assert any("by regimen" in title for title in titles)


def test_from_registry_rows_only_lines_after_recurrence_count(db):
    patient = relapsed_patient()
    SalvageLineFactory(patient=patient, regimen="MLL98 rescue", response="CR")
    SalvageLineFactory(
        patient=patient,
        regimen="local block",
        start_date=patient.relapses.get().relapse_date + timedelta(days=60),
        response="NR",
        response_date=None,
    )
    lines = salvage_lines(course_frame(Patient.objects.all()))
    assert lines[["regimen_code", "response"]].values.tolist() == [["MLL98-RESCUE", "CR"], ["", "NR"]]
