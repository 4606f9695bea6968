"""The analyses' course table: kept on disk, updated from the change log, equal to a fresh build."""

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from django.conf import settings
from django.db import connection, transaction

from analysis import course_table, datasets, runs
from analysis.models import AnalysisRun
from registry import services
from registry.course import course_frame, read_tables
from registry.models import Center, DataRevision, Patient, Relapse
from tests.factories import FollowUpFactory, PatientFactory, SalvageLineFactory, relapsed_course

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cohort(center, other_center):
    patients = [relapsed_course(center=center) for _ in range(6)]
    patients += [relapsed_course(center=other_center) for _ in range(4)]
    patients += [PatientFactory(center=center) for _ in range(3)]  # registered only
    return patients


@pytest.fixture
def pg_cohort(cohort, postgres_only):
    """The cohort, on PostgreSQL: the change log and the table on disk are kept there only."""
    return cohort


def fresh():
    """The course table built from every row now: what an update must equal."""
    return course_table.build(read_tables(Patient.objects.all()))


def current():
    """The table now, its fingerprint taken as a run takes it: every column's digest is known from
    here on, so a later update's digests kept for unchanged columns are checked by ``assert_same``."""
    table = course_table.current(runs.Stages())
    datasets.fingerprint(table.course, digests=table.digests)
    return table


def assert_same(table):
    built = fresh()
    pd.testing.assert_frame_equal(table.course, built, check_exact=True)
    # The column digests the process kept across updates are those of the columns as they are now.
    assert datasets.fingerprint(table.course, digests=table.digests) == datasets.fingerprint(built)


def test_the_table_has_fixed_dtypes_and_every_text_column_is_declared(cohort):
    raw = course_frame()
    text = {name for name, dtype in raw.dtypes.items() if dtype.kind == "O"}
    assert text <= set(course_table.TEXT_COLUMNS), text - set(course_table.TEXT_COLUMNS)
    # Registered-only patients: the columns of a relapse are empty, still text (a fresh build of
    # those patients alone gives float NaN there).
    only_registered = course_table.build(read_tables(Patient.objects.filter(relapses__isnull=True)))
    assert only_registered["relapse1_site"].dtype == object
    assert only_registered["relapse1_site"].tolist() == [None] * 3
    assert list(only_registered.dtypes) == list(fresh().dtypes)


def test_save_and_load_give_back_the_same_frame(cohort, tmp_path):
    built = fresh()
    course_table.save(built, tmp_path / "t.npz", {"note": "x"})
    loaded, manifest = course_table.load(tmp_path / "t.npz")
    pd.testing.assert_frame_equal(loaded, built, check_exact=True)
    assert manifest["note"] == "x" and manifest["rows"] == len(cohort)


def test_built_once_then_read_as_stored(pg_cohort):
    first = current()
    assert first.how == "built"
    assert_same(first)
    stored = list(Path(settings.COURSE_TABLE_DIR).glob("*/live-*.npz"))
    assert len(stored) == 1 and stored[0].stat().st_mode & 0o077 == 0  # clinical data: the owner's only
    course_table._memory.clear()  # another worker process: reads the file
    second = current()
    assert second.how == "stored" and second.key == first.key
    assert_same(second)


def test_another_process_applies_the_updates_written_beside_the_table(pg_cohort):
    current()
    sql("UPDATE registry_relapse SET site = 'CNS' WHERE patient_id = %s", pg_cohort[0].pk)
    updated = current()
    assert updated.how == "updated"
    course_table._memory.clear()  # another worker process: reads the table, then the update
    other = current()
    assert other.how == "stored" and other.key == updated.key
    assert_same(other)


def sql(statement, *params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def updates_up_to_half(monkeypatch):
    monkeypatch.setattr(course_table, "UPDATE_SHARE", 0.5)


def test_changes_through_the_services_update_only_the_changed_patients(pg_cohort, updates_up_to_half):
    current()
    patient = pg_cohort[0]
    patient.wbc = 450
    services.save_record(user=None, record=patient, reason="lab report", source="test")
    relapse = Relapse.objects.get(patient=pg_cohort[1])
    services.delete_record(user=None, record=relapse, reason="entered twice", source="test")
    died = pg_cohort[11].diagnosis_date + timedelta(days=400)
    FollowUpFactory(
        patient=pg_cohort[11], contact_date=died, vital_status="DEAD", death_date=died, cause_of_death="INFECTION"
    )
    updated = course_table.current(runs.Stages())
    assert updated.how == "updated" and len(updated.patients) == 3
    assert updated.revision == DataRevision.current().revision  # read with the table's rows
    # The digests of the columns the update left as they were are kept; the changed ones are not.
    assert "study_id" in updated.digests and "diagnosis_date" in updated.digests
    assert "wbc" not in updated.digests and "relapse1_date" not in updated.digests
    assert_same(updated)
    assert updated.course.loc[updated.course["patient_id"] == patient.pk, "wbc_300_or_more"].item() == 1


def test_an_edit_copies_only_the_columns_it_changed(cohort):
    """The table's other columns are shared, never written into; the table before is left as it was."""
    before = fresh()
    kept = before.copy(deep=True)
    patient = cohort[0]
    patient.wbc = (patient.wbc or 0) + 1
    services.save_record(user=None, record=patient, reason="lab report", source="test")
    rows = course_table.build(read_tables(Patient.objects.filter(pk=patient.pk), stream=False))
    after = course_table._replace(before, [patient.pk], rows)
    pd.testing.assert_frame_equal(after, fresh(), check_exact=True)
    pd.testing.assert_frame_equal(before, kept, check_exact=True)
    copied = {name for name in after if not np.shares_memory(after[name].to_numpy(), before[name].to_numpy())}
    assert "wbc" in copied and "study_id" not in copied and "diagnosis_date" not in copied
    assert not course_table._unchanged(pd.Series([True]).to_numpy(dtype=object), pd.Series([1]).to_numpy(dtype=object))


@pytest.mark.parametrize(
    "frame_ids, patients",
    [
        ([1, 1, 1, 2, 4, 4, 7], [1, 4]),  # several rows a patient (a counting-process frame)
        ([1, 1, 1, 2, 4, 4, 7], [7, 3, 1, 1]),  # unsorted, repeated, one without rows
        ([2, 3], [1, 9]),  # none there
        ([], [5]),
        ([1, 2, 3], []),
    ],
)
def test_the_rows_of_changed_patients_are_found_in_a_frame_in_patient_order(frame_ids, patients):
    frame_ids = np.array(frame_ids, dtype=np.int64)
    expected = np.flatnonzero(np.isin(frame_ids, patients))
    np.testing.assert_array_equal(course_table._rows_at(frame_ids, patients), expected)


def test_new_and_deleted_patients(pg_cohort, center, updates_up_to_half):
    current()
    added = relapsed_course(center=center)
    services.delete_record(user=None, record=pg_cohort[12], reason="registered twice", source="test")
    updated = current()
    assert updated.how == "updated"
    assert added.pk in set(updated.course["patient_id"]) and pg_cohort[12].pk not in set(updated.course["patient_id"])
    assert_same(updated)


def test_a_change_by_direct_sql_is_seen(pg_cohort):
    current()
    sql("UPDATE registry_transplant SET disease_status = 'NOT_CR' WHERE patient_id = %s", pg_cohort[2].pk)
    updated = current()
    assert updated.how == "updated" and len(updated.patients) == 1
    assert_same(updated)


def test_a_transaction_open_while_the_table_was_built_is_seen_after_it_commits(pg_cohort):
    """It commits after the table's snapshot: its changes are read at the next update, whatever
    the order of the history ids (the log is read by snapshot visibility, not by id)."""
    db = connection.settings_dict
    other = psycopg.connect(
        host=db["HOST"] or None, port=db["PORT"] or None, dbname=db["NAME"], user=db["USER"], autocommit=False
    )
    try:
        other.execute("UPDATE registry_relapse SET site = 'CNS' WHERE patient_id = %s", [pg_cohort[3].pk])
        built = current()  # the other transaction is still open: not in this table
        assert built.course.loc[built.course["patient_id"] == pg_cohort[3].pk, "relapse1_site"].item() == "BM"
        other.commit()
    finally:
        other.close()
    updated = current()
    assert updated.how == "updated" and len(updated.patients) == 1
    assert updated.course.loc[updated.course["patient_id"] == pg_cohort[3].pk, "relapse1_site"].item() == "CNS"
    assert_same(updated)


def test_a_database_created_again_under_the_same_name_has_tables_of_its_own(pg_cohort):
    """The process reads the database's identity once; every look at the change log reads it again."""
    first = current()
    address = course_table._address()
    identity = course_table._identities[address]
    stale = (identity[0] + 1, identity[1])  # as if this process had seen an earlier database of the name
    course_table._identities[address] = stale
    again = current()
    assert course_table._identities[address] == identity
    assert again.how == "stored" and again.key == first.key
    assert not (course_table._directory(stale) / f"live-{course_table.CODE_VERSION}.npz").exists()


def test_a_center_code_change_rebuilds(pg_cohort, center):
    current()
    Center.objects.filter(pk=center.pk).update(code="RENAMED")
    rebuilt = current()
    assert rebuilt.how == "built"
    assert set(rebuilt.course["center"]) >= {"RENAMED"}
    assert_same(rebuilt)


def test_many_changes_rebuild(pg_cohort, monkeypatch):
    monkeypatch.setattr(course_table, "UPDATE_SHARE", 0.1)  # one patient of 13
    current()
    for patient in pg_cohort[:3]:
        sql("UPDATE registry_transplant SET disease_status = 'UNKNOWN' WHERE patient_id = %s", patient.pk)
    assert current().how == "built"


def test_updates_in_a_row_are_bounded(pg_cohort, monkeypatch):
    monkeypatch.setattr(course_table, "MAX_UPDATES", 1)
    current()
    sql("UPDATE registry_relapse SET site = 'CNS' WHERE patient_id = %s", pg_cohort[0].pk)
    assert current().how == "updated"
    sql("UPDATE registry_relapse SET site = 'CNS' WHERE patient_id = %s", pg_cohort[1].pk)
    assert current().how == "built"


def test_inside_a_transaction_nothing_is_kept(pg_cohort):
    """(Nor on SQLite: there the frame is built in memory at each data revision.)"""
    with transaction.atomic():
        assert not course_table.persistent()
    assert course_table.persistent()


def test_runs_read_the_table_and_match_the_in_memory_frames(pg_cohort, center):
    """A run through the table and the reproducibility check (built in memory) agree on the data."""
    first = AnalysisRun.objects.create(name="os_after_second_line", trigger=AnalysisRun.Trigger.COMMAND)
    first = runs.execute_run(first.pk)
    assert first.status == "succeeded", first.error
    assert "extraction" in first.stage_seconds
    by_center = runs.course_for({"center": center.code})
    assert set(by_center["center"]) == {center.code} and len(by_center) == 9
    # The rows of a subset read on their own (the reproducibility package) give the same frame.
    alone = course_table.build(read_tables(runs.cohort({"center": center.code})))
    pd.testing.assert_frame_equal(alone, by_center, check_exact=True)
    with transaction.atomic():  # the in-memory path
        runs._course_cache.clear()
        assert runs.data_fingerprint(first) == first.fingerprint


def test_every_analysis_leaves_the_course_frame_and_its_frames_as_they_were(pg_cohort):
    """The analyses of a run share the table's columns (``select`` does not copy them), and a worker
    keeps each analysis's frames for the next runs (updated, not derived again)."""
    table = current()
    before = table.course.copy(deep=True)
    for analysis in runs.ANALYSES.values():
        course = course_table.select(table.course, {})
        frames = analysis.inputs(course)
        kept = {name: frame.copy(deep=True) for name, frame in frames.items()}
        analysis.compute(frames)
        for name, frame in frames.items():
            pd.testing.assert_frame_equal(frame, kept[name], check_exact=True)
    pd.testing.assert_frame_equal(table.course, before, check_exact=True)


def frames_through_runs():
    """Every analysis's frames as a run reads them: kept by this process, updated with the table."""
    return {name: runs._inputs(analysis, {})[1] for name, analysis in runs.ANALYSES.items()}


def assert_frames_derived_afresh(frames):
    built = fresh()
    for name, analysis in runs.ANALYSES.items():
        for frame_name, frame in analysis.inputs(built).items():
            pd.testing.assert_frame_equal(frames[name][frame_name], frame, check_exact=True, obj=f"{name}/{frame_name}")


@pytest.fixture
def frames_updated(monkeypatch):
    """Whether each analysis's frames were updated (True) or must be derived again (False)."""
    updated = []
    update_frames = course_table.update_frames

    def spied(*args):
        frames = update_frames(*args)
        updated.append(frames is not None)
        return frames

    monkeypatch.setattr(course_table, "update_frames", spied)
    return updated


def test_the_analyses_frames_are_updated_with_the_table_and_equal_frames_derived_afresh(
    pg_cohort, center, updates_up_to_half, frames_updated
):
    updated = frames_updated
    frames_through_runs()
    changes = [
        # an edit (each frame keeps its rows), then edits that add and drop rows of the frames
        lambda: _wbc_corrected(pg_cohort[0], 480),
        lambda: SalvageLineFactory(patient=pg_cohort[1], start_date=pg_cohort[1].diagnosis_date + timedelta(days=260)),
        lambda: services.delete_record(
            user=None, record=Relapse.objects.get(patient=pg_cohort[2]), reason="entered twice", source="test"
        ),
        lambda: relapsed_course(center=center),
        lambda: services.delete_record(user=None, record=pg_cohort[4], reason="registered twice", source="test"),
    ]
    for change in changes:
        updated.clear()
        change()
        frames = frames_through_runs()
        assert updated and all(updated), "every analysis's frames updated, none derived again"
        assert_frames_derived_afresh(frames)


def test_the_analyses_frames_are_updated_with_another_processs_update_of_the_table(pg_cohort, frames_updated):
    frames_through_runs()
    this_process = dict(course_table._memory)
    course_table._memory.clear()
    _wbc_corrected(pg_cohort[0], 470)
    assert current().how == "updated"  # another worker process: the update written beside the table
    course_table._memory.clear()
    course_table._memory.update(this_process)
    frames = frames_through_runs()  # this one applies it, then updates its frames
    assert frames_updated and all(frames_updated)
    assert_frames_derived_afresh(frames)


def _wbc_corrected(patient, wbc):
    patient = Patient.objects.get(pk=patient.pk)
    patient.wbc = wbc
    services.save_record(user=None, record=patient, reason="lab report", source="test")
