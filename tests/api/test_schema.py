"""The OpenAPI schema states what the API does, in the forms generated clients rely on.

The fuzzing against it is tests/api/test_contract.py; the generated clients are
tests/api/test_generated_clients.py. These checks read the schema /api/schema/ serves.
"""

import pytest
from drf_spectacular.generators import SchemaGenerator

from registry.api import urls
from registry.api.views import ClinicalViewSet

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
CLINICAL = [prefix for prefix, viewset, _basename in urls.routes if issubclass(viewset, ClinicalViewSet)]
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_the_schema_is_served_to_a_user_with_a_role(api, coordinator):
    response = api(coordinator).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/v1/relapses/" in response.json()["paths"]


def test_record_bodies_are_json_only_and_a_file_upload_multipart_only(schema):
    bodies = {
        (path, method): list(op["requestBody"]["content"])
        for path, method, op in operations(schema)
        if "requestBody" in op
    }
    assert bodies[("/api/v1/imports/", "post")] == ["multipart/form-data"]
    others = {key: media for key, media in bodies.items() if key != ("/api/v1/imports/", "post")}
    assert others and all(media == ["application/json"] for media in others.values()), others
    for prefix in CLINICAL:
        assert bodies[(f"/api/v1/{prefix}/", "post")] == ["application/json"]
        assert bodies[(f"/api/v1/{prefix}/{{id}}/", "patch")] == ["application/json"]


def test_every_error_status_has_a_problem_document(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        assert {"401", "403", "429", "503"} <= set(responses), (method, path)
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert response["content"] == PROBLEM, (method, path, status)
        assert "Retry-After" in responses["429"]["headers"] and "Retry-After" in responses["503"]["headers"]
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= set(responses), (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)


def test_edits_document_the_version_protocol(schema):
    for prefix in CLINICAL:
        detail = schema["paths"][f"/api/v1/{prefix}/{{id}}/"]
        for method in ("put", "patch"):
            assert {"412", "428"} <= set(detail[method]["responses"]), (prefix, method)
            assert "If-Match" in {p["name"] for p in detail[method]["parameters"]}
            assert detail[method]["responses"]["200"]["headers"]["ETag"]["required"] is True
        assert "412" in detail["delete"]["responses"] and "428" not in detail["delete"]["responses"]
        assert "304" in detail["get"]["responses"]
        created = schema["paths"][f"/api/v1/{prefix}/"]["post"]["responses"]["201"]
        assert {"ETag", "Location"} <= set(created["headers"])


def test_links_lead_from_each_create_to_its_read_edit_and_delete(schema):
    ids = {op["operationId"] for _path, _method, op in operations(schema)}
    for prefix in CLINICAL:
        links = schema["paths"][f"/api/v1/{prefix}/"]["post"]["responses"]["201"]["links"]
        assert {"Read", "Replace", "Change", "Delete"} <= set(links), prefix
        assert all(link["operationId"] in ids for link in links.values())
        assert links["Change"]["parameters"] == {
            "path.id": "$response.body#/id",
            "header.If-Match": "$response.header.ETag",
        }
    patient_links = schema["paths"]["/api/v1/patients/"]["post"]["responses"]["201"]["links"]
    assert patient_links["AddRelapses"] == {
        "operationId": "relapses_create",
        "requestBody": {"patient": "$response.body#/id"},
    }


def parameter(schema, path, name, method="get"):
    return next(p for p in schema["paths"][path][method]["parameters"] if p["name"] == name)


def test_query_parameters_have_their_real_types(schema):
    patient = parameter(schema, "/api/v1/relapses/", "patient")
    assert patient["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    assert parameter(schema, "/api/v1/follow-ups/", "lost_to_follow_up")["schema"]["type"] == "boolean"
    assert parameter(schema, "/api/v1/patients/", "diagnosis_after")["schema"]["format"] == "date"
    cursor = parameter(schema, "/api/v1/patients/", "cursor")
    assert cursor["schema"]["minLength"] == 1 and "opaque" in cursor["description"]
    assert "allowEmptyValue" not in cursor or cursor["allowEmptyValue"] is False
    assert parameter(schema, "/api/v1/patients/", "page_size")["schema"]["minimum"] == 1
    assert parameter(schema, "/api/v1/centers/", "page")["schema"]["minimum"] == 1
    ordering = parameter(schema, "/api/v1/patients/", "ordering")["schema"]
    assert {"study_id", "-diagnosis_date"} <= set(ordering["enum"])
    assert parameter(schema, "/api/v1/relapses/", "site")["allowEmptyValue"] is True  # empty: no filter


def test_strict_bodies_refuse_unknown_fields_and_nullable_fields_say_so(schema):
    components = schema["components"]["schemas"]
    assert components["PatchedRelapseRequest"]["additionalProperties"] is False
    assert components["PatientRequest"]["properties"]["id"]["readOnly"] is True  # sent back as read: ignored
    assert components["AnalysisRunList"]["properties"]["requested_by"]["nullable"] is True
    assert components["FollowUp"]["properties"]["death_date"]["nullable"] is True
    assert components["Patient"]["properties"]["first_line_response"]["nullable"] is True


def test_downloads_name_their_media_types(schema):
    download = schema["paths"]["/api/v1/exports/{kind}/{fmt}/"]["get"]
    assert {"application/zip", "text/csv", "application/xml"} <= set(download["responses"]["200"]["content"])
    kinds = parameter(schema, "/api/v1/exports/{kind}/{fmt}/", "kind")["schema"]["enum"]
    assert sorted(kinds) == ["analysis", "dictionary", "identified", "odm"]
    figure = schema["paths"]["/api/v1/analyses/{id}/figures/{figure}/"]["get"]
    assert list(figure["responses"]["200"]["content"]) == ["image/svg+xml"]
