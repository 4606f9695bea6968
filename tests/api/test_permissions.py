"""The permission matrix: every persona x own/other center x every endpoint and method, status AND content.

The matrix is generated from ``PERSONAS``, a transcription of docs/roles.md (who sees which
centers, who enters data, who reviews, which stored analysis runs each reads), not from the
code under test: the expected records of a list are found with plain queries by center code,
never through ``for_user``. Each list is compared with the persona's scope both ways: nothing
outside it is returned, and everything inside it is.
"""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import transaction

from analysis.models import AnalysisRun
from registry.models import FirstLineResponse, FollowUp, Patient, Relapse, SalvageLine, Transplant
from tests.factories import PatientFactory

OWN, OTHER = "TKY01", "OSK02"  # the codes of the ``center`` and ``other_center`` fixtures
STUDY = "study"  # a study-wide run (parameters {})


@dataclass(frozen=True)
class Persona:
    """What docs/roles.md grants a persona; ``status`` is the answer to everything for non-members."""

    centers: frozenset = frozenset()  # centers whose clinical records they read
    enters: bool = False  # coordinator: creates and edits records of their own center
    reviews: bool = False  # data manager: verifies, locks, deletes
    runs: frozenset | None = None  # selections of the analysis runs they read; None: no outcome results
    status: int | None = None  # 401 / 403 for every call, for users without a role


EVERY_CENTER = frozenset({OWN, OTHER})
EVERY_RUN = frozenset({STUDY, OWN, OTHER})
PERSONAS = {
    "anonymous": Persona(status=401),
    "outsider": Persona(status=403),
    "coordinator": Persona(centers=frozenset({OWN}), enters=True),
    "center_investigator": Persona(centers=frozenset({OWN}), runs=frozenset({OWN})),
    "investigator": Persona(centers=EVERY_CENTER, runs=EVERY_RUN),
    "data_manager": Persona(centers=EVERY_CENTER, reviews=True, runs=EVERY_RUN),
    "admin_user": Persona(centers=EVERY_CENTER, runs=EVERY_RUN),
}
ROLES = list(PERSONAS)
MEMBERS = [role for role, persona in PERSONAS.items() if persona.status is None]
CLINICAL = {
    "patients": Patient,
    "first-line-responses": FirstLineResponse,
    "relapses": Relapse,
    "salvage-lines": SalvageLine,
    "transplants": Transplant,
    "follow-ups": FollowUp,
}
METHODS = ["list", "retrieve", "create", "update", "partial_update", "destroy"]


def _user(request, role):
    return None if role == "anonymous" else request.getfixturevalue(role)


def _record(patient, endpoint):
    return {
        "patients": patient,
        "first-line-responses": patient.first_line_response,
        "relapses": patient.relapses.first(),
        "salvage-lines": patient.salvage_lines.first(),
        "transplants": patient.transplants.first(),
        "follow-ups": patient.follow_ups.first(),
    }[endpoint]


def _in_centers(model, codes):
    """IDs of the records of ``codes``' patients, by a plain query (not ``for_user``)."""
    lookup = "center__code__in" if model is Patient else "patient__center__code__in"
    return set(model.objects.filter(**{lookup: codes}).values_list("pk", flat=True))


def _new_payload(endpoint, course_patient, fresh_patient, center_code):
    dx = course_patient.diagnosis_date
    day = lambda n: (dx + timedelta(days=n)).isoformat()  # noqa: E731
    return {
        "patients": {
            "study_id": "MLL98-0777",
            "center": center_code,
            "trial": "MLL98",
            "registration_date": "1999-03-02",
            "sex": "M",
            "date_of_birth": "1998-11-20",
            "diagnosis_date": "1999-02-28",
            "wbc": "10.0",
            "cns_status": "CNS1",
            "immunophenotype": "PRO_B",
            "prednisone_response": "GOOD",
            "mll_partner": "AF9",
            "mll_detection_method": "FISH",
        },
        "first-line-responses": {
            "patient": fresh_patient.pk,
            "outcome": "CR",
            "assessment_date": (fresh_patient.diagnosis_date + timedelta(days=30)).isoformat(),
        },
        "relapses": {"patient": course_patient.pk, "relapse_date": day(260), "site": "CNS"},
        "salvage-lines": {
            "patient": course_patient.pk,
            "regimen": "ALL-R",
            "agents": "x",
            "start_date": day(270),
            "response": "NR",
        },
        "transplants": {
            "patient": course_patient.pk,
            "transplant_date": day(400),
            "transplant_type": "ALLO",
            "donor": "MUD",
            "stem_cell_source": "BM",
            "conditioning": "TBI",
            "conditioning_intensity": "MAC",
            "disease_status": "CR2+",
        },
        "follow-ups": {"patient": course_patient.pk, "contact_date": day(1000), "vital_status": "ALIVE"},
    }[endpoint]


def expected_clinical(persona, center, method, endpoint):
    if persona.status:
        return persona.status
    sees = center in persona.centers
    if method in ("list", "retrieve"):
        return 200 if method == "list" or sees else 404
    if method == "create":
        if not persona.enters:
            return 403
        if center == OWN:
            return 201
        # Another center: a patient there is refused; an event names a patient the coordinator cannot see.
        return 403 if endpoint == "patients" else 400
    if method in ("update", "partial_update"):
        if not persona.enters:
            return 403
        return 200 if sees else 404
    if method == "destroy":
        return 204 if persona.reviews else 403
    raise AssertionError(method)


def _call(client, admin_client, method, endpoint, patient, fresh):
    record = _record(patient, endpoint)
    base = f"/api/v1/{endpoint}/"
    detail = f"{base}{record.pk}/"
    if method == "list":
        return client.get(base, {"page_size": 100}), record
    if method == "retrieve":
        return client.get(detail), record
    if method == "create":
        return client.post(base, _new_payload(endpoint, patient, fresh, patient.center.code), format="json"), record
    if method == "update":
        body = admin_client.get(detail).json()
        for nested in ("first_line_response", "relapses", "salvage_lines", "transplants", "follow_ups"):
            body.pop(nested, None)
        body["reason"] = "permission matrix"
        return client.put(detail, body, format="json", HTTP_IF_MATCH=f'W/"{record.version}"'), record
    if method == "partial_update":
        return client.patch(
            detail, {"reason": "permission matrix"}, format="json", HTTP_IF_MATCH=f'W/"{record.version}"'
        ), record
    return client.delete(detail, HTTP_X_REASON_FOR_CHANGE="permission matrix"), record


def _content_problems(persona, endpoint, method, response, record):
    """What the body of a successful read says that the persona's scope does not allow (or omits)."""
    body = response.json()
    if method == "retrieve":
        return [] if body["id"] == record.pk else [("retrieve", "another record", body["id"])]
    assert body["next"] is None, "the list must fit on one page for the comparison"
    returned = [r["id"] for r in body["results"]]
    expected = _in_centers(CLINICAL[endpoint], persona.centers)
    problems = []
    if len(returned) != len(set(returned)):
        problems.append(("list", "duplicates", returned))
    if set(returned) - expected:
        problems.append(("list", "outside the scope", sorted(set(returned) - expected)))
    if expected - set(returned):
        problems.append(("list", "missing from the scope", sorted(expected - set(returned))))
    return problems


@pytest.mark.parametrize("endpoint", CLINICAL)
@pytest.mark.parametrize("role", ROLES)
def test_clinical_matrix(request, api, role, endpoint, own_patient, other_patient, admin_user):
    """Each cell (own/other center x method) runs in a savepoint rolled back afterwards."""
    persona = PERSONAS[role]
    client, admin_client = api(_user(request, role)), api(admin_user)
    fresh = {
        OWN: PatientFactory(center=own_patient.center, study_id="MLL96-0901"),
        OTHER: PatientFactory(center=other_patient.center, study_id="MLL96-0902"),
    }
    wrong = []
    for center, patient in ((OWN, own_patient), (OTHER, other_patient)):
        for method in METHODS:
            with transaction.atomic():
                response, record = _call(client, admin_client, method, endpoint, patient, fresh[center])
                expected = expected_clinical(persona, center, method, endpoint)
                if response.status_code != expected:
                    wrong.append((center, method, expected, response.status_code, getattr(response, "data", None)))
                elif method in ("list", "retrieve") and expected == 200:
                    wrong += [(center, *p) for p in _content_problems(persona, endpoint, method, response, record)]
                transaction.set_rollback(True)
    assert not wrong


# --- stored analysis runs -------------------------------------------------------------------------


@pytest.fixture
def runs_by_selection(center, other_center):
    """A study-wide run and runs filtered to each center (one also to a trial), each with a figure."""

    def run(parameters):
        return AnalysisRun.objects.create(
            name="cohort_summary",
            status="succeeded",
            trigger="command",
            parameters=parameters,
            results={"schema": "cohort_summary/1"},
            figures={"os_overall": "<svg/>"},
        )

    return {
        STUDY: [run({}), run({"trial": "MLL98"})],
        OWN: [run({"center": OWN}), run({"center": OWN, "trial": "MLL96"})],
        OTHER: [run({"center": OTHER})],
    }


def _run_ids(runs_by_selection, selections):
    return {run.pk for selection in selections for run in runs_by_selection[selection]}


@pytest.mark.parametrize("role", ROLES)
def test_analysis_runs_list_holds_exactly_the_runs_in_scope(request, api, role, runs_by_selection):
    persona = PERSONAS[role]
    response = api(_user(request, role)).get("/api/v1/analyses/", {"page_size": 100})
    expected = persona.status or (403 if persona.runs is None else 200)
    assert response.status_code == expected
    if expected == 200:
        listed = [r["id"] for r in response.json()["results"]]
        assert len(listed) == len(set(listed))
        assert set(listed) == _run_ids(runs_by_selection, persona.runs)
        for run in response.json()["results"]:
            assert run["parameters"].get("center", STUDY) in persona.runs


@pytest.mark.parametrize("selection", [STUDY, OWN, OTHER])
@pytest.mark.parametrize("role", ROLES)
def test_analysis_run_detail_and_figure(request, api, role, selection, runs_by_selection):
    """A run outside the persona's scope answers 404 (detail and figure), as if it did not exist."""
    persona = PERSONAS[role]
    client = api(_user(request, role))
    if persona.status:
        expected = persona.status
    elif persona.runs is None:
        expected = 403
    else:
        expected = 200 if selection in persona.runs else 404
    for run in runs_by_selection[selection]:
        detail = client.get(f"/api/v1/analyses/{run.pk}/")
        figure = client.get(f"/api/v1/analyses/{run.pk}/figures/os_overall/")
        assert (detail.status_code, figure.status_code) == (expected, expected), run.parameters
        if expected == 200:
            assert detail.json()["id"] == run.pk and detail.json()["parameters"] == run.parameters
            assert figure.content == b"<svg/>"
        else:
            assert "cohort_summary" not in detail.content.decode() and b"<svg" not in figure.content


# --- the other endpoints ----------------------------------------------------------------------------

READ_ONLY = {
    # path: members that get 200 (every other member: 403; non-members: their status)
    "/api/v1/centers/": MEMBERS,
    "/api/v1/trials/": MEMBERS,
    "/api/v1/analyses/": [r for r in MEMBERS if PERSONAS[r].runs is not None],
    "/api/v1/imports/": MEMBERS,
    "/api/v1/exports/": MEMBERS,
    "/api/v1/data-dictionary/": MEMBERS,
    "/api/v1/exports/dictionary/md/": MEMBERS,
    "/api/v1/exports/analysis/csv/": [r for r in MEMBERS if PERSONAS[r].runs is not None],
    "/api/v1/exports/identified/xlsx/": ["admin_user"],
    "/api/v1/exports/odm/xml/": ["admin_user"],
    "/api/schema/": MEMBERS,
}


@pytest.mark.parametrize("path", list(READ_ONLY))
@pytest.mark.parametrize("role", ROLES)
def test_read_only_endpoints(request, api, role, path, own_patient):
    response = api(_user(request, role)).get(path)
    expected = PERSONAS[role].status or (200 if role in READ_ONLY[path] else 403)
    assert response.status_code == expected


@pytest.mark.parametrize("path", ["/api/v1/centers/", "/api/v1/trials/", "/api/v1/analyses/"])
@pytest.mark.parametrize("role", ROLES)
def test_read_only_endpoints_refuse_writes(request, api, role, path):
    response = api(_user(request, role)).post(path, {}, format="json")
    expected = PERSONAS[role].status or (405 if role in READ_ONLY[path] else 403)
    assert response.status_code == expected


@pytest.mark.parametrize("role", ROLES)
def test_import_upload_is_for_coordinators(request, api, role):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("patients.csv", b"study_id,center\n", content_type="text/csv")
    response = api(_user(request, role)).post("/api/v1/imports/", {"file": upload}, format="multipart")
    expected = PERSONAS[role].status or (201 if PERSONAS[role].enters else 403)
    assert response.status_code == expected


@pytest.mark.parametrize("role", ROLES)
def test_review_is_for_data_managers(request, api, role, own_patient):
    response = api(_user(request, role)).post(
        f"/api/v1/patients/{own_patient.pk}/review/", {"verify": True, "reason": "monitored"}, format="json"
    )
    expected = PERSONAS[role].status or (200 if PERSONAS[role].reviews else 403)
    assert response.status_code == expected
