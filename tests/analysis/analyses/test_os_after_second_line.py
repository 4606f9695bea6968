"""OS after second-line treatment: Kaplan-Meier overall and by factor, the paper's Cox model."""

import pytest

from analysis import stats
from analysis.analyses import ANALYSES
from analysis.analyses.os_after_second_line import COX_COVARIATES, UNIVARIATE_FACTORS
from tests.analysis.report_data import os_frame, os_results


@pytest.fixture(scope="module")
def frame():
    return os_frame()


@pytest.fixture(scope="module")
def results(frame):
    return os_results(frame)


def test_overall_and_one_comparison_per_factor(frame, results):
    assert results["schema"] == "os_after_second_line/1"
    assert results["n"] == len(frame) and results["n_events"] == frame["event"].sum()
    assert results["overall"]["n"] == len(frame)
    assert [f["factor"] for f in results["univariate"]] == list(UNIVARIATE_FACTORS)
    by_partner = next(f for f in results["univariate"] if f["factor"] == "mll_partner")
    assert set(by_partner["curves"]["groups"]) == set(frame["mll_partner"])
    assert by_partner["logrank"]["p"] == pytest.approx(
        stats.logrank_test(frame["time"], frame["event"], frame["mll_partner"])["p"]
    )


def test_the_cox_model_counts_no_remission_after_salvage(frame, results):
    cox = results["cox"]
    assert cox["labels"] == COX_COVARIATES
    assert [t["term"] for t in cox["model"]["terms"]] == list(COX_COVARIATES)
    direct = stats.cox_model(
        frame.assign(no_salvage_remission=1 - frame["salvage_remission"]), "time", "event", list(COX_COVARIATES)
    )
    assert cox["model"]["terms"][-1]["coef"] == pytest.approx(direct["terms"][-1]["coef"])


def test_a_factor_without_variation_is_an_error_in_its_place(frame):
    results = os_results(frame.assign(cns_involvement=0))
    cns = next(f for f in results["univariate"] if f["factor"] == "cns_involvement")
    assert "error" in cns["logrank"]
    assert results["overall"]["n"] == len(frame)


def test_figures_and_report_sections(results):
    analysis = ANALYSES["os_after_second_line"]
    specs = analysis.figures(results)
    assert set(specs) == {"os_overall", "cox_forest"} | {f"os_by_{f}" for f in UNIVARIATE_FACTORS}
    sections = analysis.report_sections({"os_after_second_line": results})
    assert [s.key for s in sections] == ["univariate", "cox"]
    assert [t.name for s in sections for t in s.tables] == ["os_by_factor", "cox"]
    assert [s.error for s in analysis.report_sections({})] == [
        "No stored result of the analysis 'os_after_second_line' for this selection yet."
    ] * 2


@pytest.mark.django_db
def test_the_demo_report_shows_zero_not_beyond_follow_up_where_everyone_died():
    from django.core.management import call_command

    from analysis import analyses as registry_of_analyses
    from registry.course import course_frame

    call_command("seed_demo", stdout=open("/dev/null", "w"))
    frame = registry_of_analyses.ANALYSES["os_after_second_line"].inputs(course_frame())["frame"]
    results = ANALYSES["os_after_second_line"].compute({"frame": frame})
    cns = next(f for f in results["univariate"] if f["factor"] == "cns_involvement")["curves"]["groups"]
    everyone_died = [g for g, sub in frame.groupby(frame["cns_involvement"].astype(str)) if sub["event"].all()]
    assert everyone_died, "the demo cohort has a factor level in which every patient died"
    checked = 0
    for level in everyone_died:
        for at in cns[level]["at_times"]:
            if at["time"] > frame.loc[frame["cns_involvement"].astype(str) == level, "time"].max():
                assert at["survival"] == 0.0 and not at["beyond_follow_up"]
                checked += 1
    assert checked  # 3 and 5 years lie after the last death of that group
    report = registry_of_analyses.build_report({"os_after_second_line": results})
    text = repr(report)
    assert "0.0%" in text
