"""``manage.py run_quality_checks``, the Celery task, the nightly schedule and the import hook."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from registry.queries.models import DataQuery
from registry.queries.tasks import run_quality_checks
from tests.factories import PatientFactory, TransplantFactory

pytestmark = pytest.mark.django_db


def test_the_command_runs_the_rules_and_reports_each(center):
    TransplantFactory(patient=PatientFactory(center=center), disease_status="UNKNOWN")
    out = StringIO()
    call_command("run_quality_checks", "--as-of", "2026-01-01", stdout=out)
    assert "hsct_without_status" in out.getvalue() and "raised      1" in out.getvalue()
    assert DataQuery.objects.filter(rule="hsct_without_status").count() == 1
    assert DataQuery.history.filter(audit_source="command:run_quality_checks").exists()


def test_the_command_says_what_is_wrong_with_its_arguments():
    with pytest.raises(CommandError, match="--as-of"):
        call_command("run_quality_checks", "--as-of", "yesterday")
    with pytest.raises(CommandError, match="Unknown rule"):
        call_command("run_quality_checks", "--rule", "no_such_rule")


def test_the_task_runs_the_rules_and_beat_runs_it_nightly(center):
    TransplantFactory(patient=PatientFactory(center=center), disease_status="UNKNOWN")
    summary = run_quality_checks.delay().get()
    assert summary["hsct_without_status"]["raised"] == 1
    task = PeriodicTask.objects.get(name="Nightly data-quality checks")
    assert task.task == run_quality_checks.name and task.crontab.hour == "3"


def test_an_import_commit_runs_the_rules_after_it_commits(coordinator, django_capture_on_commit_callbacks):
    from registry.transfer import imports
    from tests.test_imports import course_sheets, workbook

    content = workbook(course_sheets())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        report = imports.check_and_write(user=coordinator, file_name="course.xlsx", content=content, commit=True)
    assert report["committed"]
    assert callbacks
    # The imported course is decades old: the patient's follow-up is overdue.
    assert DataQuery.objects.filter(rule="follow_up_overdue", patient__study_id="MLL96-0001").exists()


def test_a_dry_run_runs_no_rules(coordinator, django_capture_on_commit_callbacks):
    from registry.transfer import imports
    from tests.test_imports import course_sheets, workbook

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        imports.check_and_write(user=coordinator, file_name="course.xlsx", content=workbook(course_sheets()))
    assert not callbacks and not DataQuery.objects.exists()
