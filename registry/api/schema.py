"""The OpenAPI schema says what the API really does (drf-spectacular postprocessing hook).

drf-spectacular describes the serializers and the happy path; this hook adds what every view
shares and what generated clients and contract fuzzers (tests/api/test_contract.py) rely on:

- every error status an operation can answer, each with the problem document of
  ``registry.ops.problems`` (``application/problem+json``) and its headers (Retry-After,
  WWW-Authenticate);
- the version protocol of clinical records: ``ETag`` on reads and writes, ``If-None-Match``
  (304), ``If-Match`` in the form the API reads, ``Location`` of a created record;
- OpenAPI links from each create to the record's read, edit and delete (carrying the ETag as
  If-Match) and from a patient to its events, so stateful tests can chain them;
- query parameters as the views read them: an empty value is the parameter left out, the
  cursor an opaque token, page numbers and sizes whole numbers from 1;
- request bodies that refuse unknown fields (``StrictFieldsMixin``) say so
  (``additionalProperties: false``), and text never holds NUL characters (PostgreSQL cannot
  store them; the API answers 400).
"""

import re
from http import HTTPStatus

from . import serializers as s
from . import urls

PROBLEM = "application/problem+json"
_DECIMAL = re.compile(r"^\^-\?\\d\{0,(\d+)\}\(\?:\\\.\\d\{0,(\d+)\}\)\?\$$")
NO_NUL = "^[^\\u0000]*$"
IF_MATCH = '^\\s*(W/)?"?\\d{1,10}"?\\s*$'  # registry.api.views._ETAG
ETAG = {"schema": {"type": "string", "pattern": '^W/"\\d+"$'}, "description": 'The record\'s version, e.g. W/"3".'}
RETRY_AFTER = {"schema": {"type": "string", "pattern": "^\\d+$"}, "description": "Seconds to wait before trying again."}

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An error as an RFC 9457 problem document (registry/ops/problems.py).",
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem, or about:blank."},
        "title": {"type": "string", "description": "The HTTP status phrase."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string", "description": "What went wrong, for a person."},
        "instance": {"type": "string", "description": "The path and query of the request."},
        "request_id": {"type": "string", "description": "Quote it when reporting a problem (also X-Request-ID)."},
        "errors": {
            "type": "object",
            "additionalProperties": {},
            "description": '400: messages by field, e.g. {"relapse_date": ["..."]} (also at the top level).',
        },
    },
    "required": ["type", "title", "status", "detail", "instance", "request_id"],
    # Also: a machine-readable code where there is one, and a 400's field errors at the top level.
    "additionalProperties": True,
}

ERRORS = {
    400: "Invalid input: messages by field in errors.",
    401: "No valid credentials (send Authorization: Token <key>).",
    403: "Your role may not do this, or the record is locked or frozen by a data cut.",
    404: "No such record among those you may see, or no such page.",
    409: "The import is not in a state that allows this.",
    412: "Stale version: the record changed since you read it (If-Match or version).",
    413: "The request body is too large.",
    415: "Unsupported media type: send JSON (a file upload: multipart/form-data).",
    428: 'No version sent: add If-Match: W/"<version>" from the ETag (or a version field).',
    429: "Too many requests; wait as Retry-After says.",
    503: "The database is unavailable; try again as Retry-After says.",
}


def _clinical_prefixes():
    """URL prefixes of the clinical record types (ClinicalViewSet: ETag, If-Match, reasons)."""
    from .views import ClinicalViewSet

    return [prefix for prefix, viewset, _basename in urls.routes if issubclass(viewset, ClinicalViewSet)]


def _strict_components():
    """Request components of serializers that refuse unknown fields."""
    names = set()
    pending = list(s.StrictFieldsMixin.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        base = cls.__name__.removesuffix("Serializer")
        names.update({f"{base}Request", f"Patched{base}Request"})
    return names


def _error(status, description=None):
    response = {
        "description": description or ERRORS.get(status, HTTPStatus(status).phrase),
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status in (429, 503):
        response["headers"] = {"Retry-After": RETRY_AFTER}
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Token"}}
    return response


def _statuses(path, method, operation, clinical):
    """The error statuses ``operation`` can answer."""
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    statuses = {401, 403, 429, 503}
    if has_body or any(p["in"] in ("query", "header") for p in parameters):
        statuses.add(400)
    if "{" in path or any(p["name"] == "page" for p in parameters):
        statuses.add(404)
    if has_body:
        statuses |= {413, 415}
    if clinical and "{" in path and method in ("put", "patch", "delete"):
        statuses.add(412)
        if method != "delete":
            statuses.add(428)
    if path.endswith("/commit/"):
        statuses.add(409)
    return statuses


def _add_errors(path, method, operation, clinical):
    responses = operation.setdefault("responses", {})
    # Statuses listed by a view that cannot happen go: 428 on a delete (If-Match is optional there),
    # 404 on a record's create (a patient you may not see is a 400 naming the field).
    if clinical and method == "delete":
        responses.pop("428", None)
    if clinical and method == "post" and "{" not in path:
        responses.pop("404", None)
    listed = {int(status) for status in responses if status[0] in "45"}
    for status in sorted(listed | _statuses(path, method, operation, clinical)):
        responses[str(status)] = _error(status, responses.get(str(status), {}).get("description"))


def _tidy_query(operation):
    for parameter in operation.get("parameters", []):
        if parameter["in"] != "query":
            continue
        schema = parameter.setdefault("schema", {})
        name = parameter["name"]
        if not parameter.get("required"):
            # An empty value is the parameter left out; an empty cursor is refused (400) as any made-up one.
            parameter["allowEmptyValue"] = name != "cursor"
        if name in ("page", "page_size"):
            schema["minimum"] = 1
        if name == "page_size":
            parameter["description"] = "Records per page, from 1: 50 by default; more than 100 are capped at 100."
        if name == "cursor":
            schema["minLength"] = 1
            parameter["description"] = (
                "An opaque, signed token: take it from the next or previous link of a page and do not change "
                "it (a made-up or altered one is refused with 400). Leave it out for the first page."
            )
        if schema.get("type") == "string" and not ({"enum", "format", "pattern"} & schema.keys()):
            schema["pattern"] = NO_NUL


def _clinical_headers(path, method, operation):
    """ETag, If-Match, If-None-Match and Location on one clinical record type's operations."""
    detail = "{" in path
    responses = operation["responses"]
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header" and parameter["name"] == "If-Match":
            parameter["schema"] = {"type": "string", "pattern": IF_MATCH}
    if method == "get" and detail:
        operation.setdefault("parameters", []).append(
            {
                "in": "header",
                "name": "If-None-Match",
                "schema": {"type": "string"},
                "description": "The ETag you hold: 304 Not Modified if the record has not changed.",
            }
        )
        responses["304"] = {"description": "Not modified since the ETag you sent.", "headers": {"ETag": ETAG}}
    for status in ("200", "201"):
        if status in responses and method != "delete" and (detail or method == "post"):
            responses[status].setdefault("headers", {})["ETag"] = {**ETAG, "required": True}
    if method == "post" and not detail:
        responses["201"]["headers"]["Location"] = {
            "schema": {"type": "string", "format": "uri"},
            "description": "The URL of the created record.",
            "required": True,
        }


def _clinical_links(paths, prefix, ids):
    """Links from a create (and a read or edit) of a record to its read, edit and delete."""
    op = ids[prefix]
    by_id = {"path.id": "$response.body#/id"}
    with_version = {**by_id, "header.If-Match": "$response.header.ETag"}
    links = {
        "Read": {"operationId": op["retrieve"], "parameters": by_id},
        "Replace": {"operationId": op["update"], "parameters": with_version},
        "Change": {"operationId": op["partial_update"], "parameters": with_version},
        "Delete": {"operationId": op["destroy"], "parameters": with_version},
    }
    if prefix == "patients":
        for event_prefix, event_ops in ids.items():
            if event_prefix != "patients" and "create" in event_ops:
                name = "Add" + "".join(part.capitalize() for part in event_prefix.split("-"))
                links[name] = {"operationId": event_ops["create"], "requestBody": {"patient": "$response.body#/id"}}
    base = f"/api/v1/{prefix}/"
    sources = ((base, "post", "201"), (base + "{id}/", "get", "200"), (base + "{id}/", "patch", "200"))
    for path, method, status in sources:
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is not None:
            response["links"] = {name: dict(link) for name, link in links.items()}


def _other_links(paths):
    """Create -> read (and the next steps) for queries, data cuts and imports."""
    chains = {
        "/api/v1/queries/": ["queries_retrieve", "queries_answer_create", "queries_close_create"],
        "/api/v1/data-cuts/": ["data_cuts_retrieve", "data_cuts_release_create"],
        "/api/v1/imports/": ["imports_retrieve", "imports_commit_create"],
    }
    known = {op.get("operationId") for item in paths.values() for op in item.values() if isinstance(op, dict)}
    for path, targets in chains.items():
        responses = paths.get(path, {}).get("post", {}).get("responses", {})
        for status in ("201", "202"):
            if status in responses:
                responses[status]["links"] = {
                    target: {"operationId": target, "parameters": {"path.id": "$response.body#/id"}}
                    for target in targets
                    if target in known
                }


def _no_nul(schema):
    for prop in schema.get("properties", {}).values():
        if prop.get("type") == "string" and not ({"enum", "format", "pattern"} & prop.keys()):
            prop["pattern"] = NO_NUL
        if prop.get("type") == "array" and prop.get("items", {}).get("type") == "string":
            prop["items"].setdefault("pattern", NO_NUL)


def _decimals_as_numbers_too(schema):
    """A decimal (a string in responses) may be sent as a JSON number as well; as a string it has
    at least one digit (drf-spectacular's pattern also admits "", "-" and ".")."""
    for name, prop in schema.get("properties", {}).items():
        if prop.get("type") == "string" and prop.get("format") == "decimal":
            digits = _DECIMAL.match(prop.get("pattern", ""))
            if digits:
                whole, places = int(digits[1]), int(digits[2])
                prop["pattern"] = f"^-?(?:\\d{{1,{whole}}}(?:\\.\\d{{0,{places}}})?|\\.\\d{{1,{places}}})$"
            schema["properties"][name] = {"anyOf": [prop, {"type": "number"}], "description": prop.get("title", "")}


def _read_only_known(schema, read):
    """The record's read-only fields, as a client that sends back what it read has them: known, ignored."""
    for name, prop in read.get("properties", {}).items():
        if prop.get("readOnly") and name not in schema.get("properties", {}):
            schema.setdefault("properties", {})[name] = {**prop, "description": "Read-only: ignored if sent."}


def postprocess(result, generator, request, public):
    """drf-spectacular ``POSTPROCESSING_HOOKS`` entry (after its enum hook)."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    strict = _strict_components()
    for name, schema in list(components.items()):
        if name.endswith("Request"):
            _no_nul(schema)
            _decimals_as_numbers_too(schema)
            if name in strict:
                _read_only_known(schema, components.get(name.removeprefix("Patched").removesuffix("Request"), {}))
                schema["additionalProperties"] = False

    paths = result.get("paths", {})
    clinical = _clinical_prefixes()
    ids = {}
    for prefix in clinical:
        for path in (f"/api/v1/{prefix}/", f"/api/v1/{prefix}/{{id}}/"):
            for operation in paths.get(path, {}).values():
                action = operation["operationId"].rsplit("_", 1)[-1]
                if operation["operationId"].endswith("_partial_update"):
                    action = "partial_update"
                ids.setdefault(prefix, {})[action] = operation["operationId"]

    for path, item in paths.items():
        prefix = next((p for p in clinical if path.startswith(f"/api/v1/{p}/")), None)
        is_record = prefix is not None and path in (f"/api/v1/{prefix}/", f"/api/v1/{prefix}/{{id}}/")
        for method, operation in item.items():
            # Every /api/ query parameter refuses NUL (registry.ops.middleware, before any view).
            _tidy_query(operation)
            _add_errors(path, method, operation, clinical=is_record)
            if is_record:
                _clinical_headers(path, method, operation)
    for prefix in clinical:
        _clinical_links(paths, prefix, ids)
    _other_links(paths)
    return result
