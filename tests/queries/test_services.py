"""The query workflow and source verification through the services: roles, states, audit."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from registry import services as clinical
from registry.models import DataRevision
from registry.queries import selectors, services
from registry.queries.models import DataQuery, QueryMessage, SourceVerification

pytestmark = pytest.mark.django_db


def raise_on(relapse, user, field="relapse_date", message="Please check the relapse date against the marrow report."):
    return services.raise_query(
        user=user, record_type="relapse", record_id=relapse.pk, field=field, message=message, source="test"
    )


def test_a_query_goes_open_answered_closed_and_reopened_with_every_step_audited(relapse, data_manager, coordinator):
    query = raise_on(relapse, data_manager)
    assert query.status == "open" and query.patient == relapse.patient and query.raised_by == data_manager

    services.answer_query(user=coordinator, query=query, message="Corrected from the source.", source="test")
    services.close_query(user=data_manager, query=query, message="Thank you.", source="test")
    services.reopen_query(user=data_manager, query=query, message="Still wrong in the export.", source="test")
    query.refresh_from_db()
    assert query.status == "open" and query.closed_at is None

    steps = [(m.action, m.author) for m in QueryMessage.objects.filter(query=query)]
    assert steps == [
        ("raise", data_manager),
        ("answer", coordinator),
        ("close", data_manager),
        ("reopen", data_manager),
    ]
    history = list(DataQuery.history.filter(id=query.pk).order_by("history_date", "history_id"))
    assert [h.status for h in history] == ["open", "answered", "closed", "open"]
    assert [h.history_user for h in history] == [data_manager, coordinator, data_manager, data_manager]
    assert {h.audit_source for h in history} == {"test"}
    assert {h.audit_center_id for h in history} == {relapse.patient.center_id}
    assert QueryMessage.history.filter(query_id=query.pk).count() == 4


def test_queries_do_not_move_the_analysis_data_revision(relapse, data_manager):
    before = DataRevision.current().revision
    raise_on(relapse, data_manager)
    assert DataRevision.current().revision == before


@pytest.mark.parametrize("persona", ["coordinator", "investigator", "admin_user", "outsider"])
def test_only_data_managers_raise_queries(relapse, persona, request):
    with pytest.raises(PermissionDenied):
        raise_on(relapse, request.getfixturevalue(persona))


def test_only_the_centers_coordinator_answers(relapse, data_manager, other_coordinator, investigator):
    query = raise_on(relapse, data_manager)
    for user in (other_coordinator, investigator, data_manager):
        with pytest.raises(PermissionDenied):
            services.answer_query(user=user, query=query, message="x", source="test")


def test_coordinators_do_not_close_and_closed_queries_take_no_answer(relapse, data_manager, coordinator):
    query = raise_on(relapse, data_manager)
    with pytest.raises(PermissionDenied):
        services.close_query(user=coordinator, query=query, message="done", source="test")
    services.close_query(user=data_manager, query=query, message="raised in error", source="test")
    with pytest.raises(ValidationError, match="closed"):
        services.answer_query(user=coordinator, query=query, message="late", source="test")
    with pytest.raises(ValidationError, match="already closed"):
        services.close_query(user=data_manager, query=query, message="again", source="test")


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"record_type": "relapse", "field": "no_such_field"}, "not a field"),
        ({"record_type": "lab_result", "field": ""}, "Unknown record type"),
        ({"record_type": "relapse", "field": "relapse_date", "record_id": 999999}, "No relapse"),
        ({"record_type": "relapse", "field": "relapse_date", "message": "   "}, "Write a message"),
    ],
)
def test_bad_input_gets_a_clear_message(relapse, data_manager, kwargs, error):
    arguments = {"record_id": relapse.pk, "message": "Please check.", **kwargs}
    with pytest.raises(ValidationError, match=error):
        services.raise_query(user=data_manager, source="test", **arguments)


def test_a_verified_field_changed_later_shows_unverified_with_who_and_when(relapse, data_manager, coordinator):
    services.verify_fields(user=data_manager, record_type="relapse", record_id=relapse.pk, source="test")
    assert SourceVerification.objects.filter(record_id=relapse.pk).count() == 2  # the whole record
    states = selectors.field_verification("relapse", relapse)
    assert {name: s.state for name, s in states.items()} == {"relapse_date": "verified", "site": "verified"}

    relapse.relapse_date -= timedelta(days=3)
    clinical.save_record(user=coordinator, record=relapse, source="page", reason="Typo: marrow report date")
    relapse.refresh_from_db()

    states = selectors.field_verification("relapse", relapse)
    assert states["site"].state == "verified"
    changed = states["relapse_date"]
    assert changed.state == "changed" and changed.changed_by == coordinator.username
    assert changed.changed_at is not None and changed.changed_at >= changed.mark.verified_at
    listed = selectors.changed_since_verification(data_manager)
    assert [(c.mark.field, c.changed_by, c.current) for c in listed] == [
        ("relapse_date", coordinator.username, str(relapse.relapse_date))
    ]

    # Verified again, the field is verified at its new value.
    services.verify_fields(
        user=data_manager, record_type="relapse", record_id=relapse.pk, fields=["relapse_date"], source="test"
    )
    assert selectors.field_verification("relapse", relapse)["relapse_date"].state == "verified"
    assert SourceVerification.history.filter(record_id=relapse.pk, field="relapse_date").count() == 2


def test_only_data_managers_verify_and_within_their_scope(relapse, coordinator, admin_user):
    for user in (coordinator, admin_user):
        with pytest.raises(PermissionDenied):
            services.verify_fields(user=user, record_type="relapse", record_id=relapse.pk, source="test")


def test_a_query_outside_the_users_centers_is_not_found(relapse, data_manager, other_coordinator):
    query = raise_on(relapse, data_manager)
    with pytest.raises(Http404):
        selectors.query_for(other_coordinator, query.pk)
