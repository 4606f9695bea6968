"""The Signature model: its constraints (in full_clean and in the database), never deleted nor
edited except the one invalidation, protected signer, and on PostgreSQL the triggers that hold
whatever the path."""

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from registry.signatures.models import Signature, SignatureRefused

from .conftest import sign

pytestmark = pytest.mark.django_db


def unsaved(user, **changes):
    values = {
        "kind": "casebook",
        "object_id": 1,
        "label": "MLL96-0001",
        "signer": user,
        "printed_name": "Keiko Tanaka",
        "meaning": "approved",
        "content_hash": "a" * 64,
    }
    return Signature(**{**values, **changes})


@pytest.mark.parametrize(
    "changes, constraint",
    [
        ({"kind": "protocol"}, "signatures_kind_known"),
        ({"meaning": "witnessed"}, "signatures_meaning_known"),
        ({"invalidated_at": timezone.now()}, "signatures_invalidated_with_reason"),
        ({"invalidated_reason": "edited"}, "signatures_invalidated_with_reason"),
        ({"printed_name": ""}, "signatures_name_and_hash"),
    ],
)
def test_the_constraints_hold_in_full_clean_and_in_the_database(investigator, changes, constraint):
    signature = unsaved(investigator, **changes)
    with pytest.raises(ValidationError):
        signature.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        Signature.objects.bulk_create([signature])  # skips full_clean: the database refuses it
    assert not Signature.objects.exists()


def test_a_valid_and_an_invalidated_signature_pass(investigator):
    unsaved(investigator).full_clean()
    unsaved(
        investigator, invalidated_at=timezone.now(), invalidated_reason="relapse #3 saved after signing"
    ).full_clean()


def test_a_signature_is_never_deleted_nor_edited_only_invalidated(investigator, patient):
    signature = sign(investigator, patient)
    with pytest.raises(SignatureRefused):
        signature.delete()
    with pytest.raises(SignatureRefused):
        Signature.objects.filter(pk=signature.pk).delete()
    with pytest.raises(SignatureRefused):
        Signature.objects.filter(pk=signature.pk).update(meaning="authored")
    signature.printed_name = "Someone Else"
    with pytest.raises(SignatureRefused):
        signature.save()
    with pytest.raises(SignatureRefused):
        signature.save(update_fields=["printed_name", "invalidated_at"])
    signature = Signature.objects.get(pk=signature.pk)
    signature.invalidated_at, signature.invalidated_reason = timezone.now(), "test"
    signature.save(update_fields=["invalidated_at", "invalidated_reason"])
    assert Signature.objects.get(pk=signature.pk).printed_name == "Keiko Tanaka"


def test_a_signer_cannot_be_deleted(investigator, patient):
    sign(investigator, patient)
    with pytest.raises(ProtectedError):
        investigator.delete()


def test_str_names_what_who_and_when(investigator, patient):
    text = str(sign(investigator, patient, meaning="reviewed"))
    assert text.startswith("casebook MLL96-0001: Keiko Tanaka (reviewed, ") and text.endswith(" UTC)")


def test_postgresql_refuses_deleting_or_editing_a_signature_by_raw_sql(postgres_only, investigator, patient):
    signature = sign(investigator, patient)
    statements = [
        ("DELETE FROM signatures_signature WHERE id = %s", [signature.pk]),
        ("UPDATE signatures_signature SET printed_name = 'Someone Else' WHERE id = %s", [signature.pk]),
        ("UPDATE signatures_signature SET content_hash = %s WHERE id = %s", ["b" * 64, signature.pk]),
        ("DELETE FROM signatures_historicalsignature WHERE id = %s", [signature.pk]),
        ("UPDATE signatures_historicalsignature SET meaning = 'authored' WHERE id = %s", [signature.pk]),
    ]
    for sql, params in statements:
        with pytest.raises(DatabaseError, match="never deleted|only be invalidated|append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
    invalidate = "UPDATE signatures_signature SET invalidated_at = now(), invalidated_reason = %s WHERE id = %s"
    with connection.cursor() as cursor:
        cursor.execute(invalidate, ["first", signature.pk])
    with pytest.raises(DatabaseError, match="only be invalidated, once"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(invalidate, ["second", signature.pk])
    signature.refresh_from_db()
    assert (signature.printed_name, signature.invalidated_reason) == ("Keiko Tanaka", "first")
