"""Below the ORM: while a cut is in force PostgreSQL refuses any statement that changes a frozen
clinical row (raw SQL included), naming the cut; other trials and released cuts are untouched."""

import pytest
from django.db import IntegrityError, connection, transaction

from registry.cuts import services as cuts
from registry.models import Relapse
from tests.factories import PatientFactory, relapsed_course, trial


@pytest.fixture
def courses(postgres_only, center):
    return {
        code: relapsed_course(PatientFactory(center=center, study_id=f"{code}-0001", trial=trial(code)))
        for code in ("MLL96", "MLL98")
    }


def raw(sql, *params):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_raw_sql_cannot_change_a_frozen_record(data_manager, courses):
    cut = cuts.create_cut(user=data_manager, name="MLL98 final", trial="MLL98", source="test")
    frozen, other = courses["MLL98"].relapses.get(), courses["MLL96"].relapses.get()
    for sql in (
        "UPDATE registry_relapse SET site = 'CNS' WHERE id = %s",
        "DELETE FROM registry_relapse WHERE id = %s",
    ):
        with pytest.raises(IntegrityError, match="MLL98 final"):
            raw(sql, frozen.pk)
    with pytest.raises(IntegrityError, match="MLL98 final"):
        raw("UPDATE registry_patient SET sex = 'M' WHERE id = %s", courses["MLL98"].pk)
    with pytest.raises(IntegrityError, match="MLL98 final"):  # moving a patient out of the frozen trial
        raw("UPDATE registry_patient SET trial_id = %s WHERE id = %s", trial("MLL96").pk, courses["MLL98"].pk)
    assert Relapse.objects.get(pk=frozen.pk).site == "BM"
    raw("UPDATE registry_relapse SET site = 'CNS' WHERE id = %s", other.pk)  # MLL96 is not frozen
    cuts.release_cut(user=data_manager, cut=cut, reason="published", source="test")
    raw("UPDATE registry_relapse SET site = 'CNS' WHERE id = %s", frozen.pk)
    assert Relapse.objects.get(pk=frozen.pk).site == "CNS"
