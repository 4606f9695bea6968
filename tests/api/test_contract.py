"""The API keeps the contract its OpenAPI schema states, under fuzzing: schemathesis with every
check (server errors, status codes, content types, headers and bodies against the schema,
schema-valid requests taken and schema-invalid ones refused, missing headers, methods, deleted
records gone, authentication) and stateful testing along the schema's links (create, read, edit
with the ETag as If-Match, delete), as a coordinator (who writes) and as an admin (who reads
everything and may write nothing).

The schema is the one /api/schema/ serves; requests go to a live server of this process on the
test database. tests/api/schemathesis.toml bounds the run (examples per operation, stateful
steps) and gives realistic values; it also documents which refusals of a schema-valid write are
part of the contract. A failure is reported with its check, operation, response and the curl
command that reproduces it.
"""

import json
import time
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from django.core.cache import cache
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from rest_framework.authtoken.models import Token
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events
from schemathesis.engine import from_schema as engine_for

from analysis.models import AnalysisRun
from registry.queries import services as queries
from tests.factories import PatientFactory, UserFactory, relapsed_course

CONFIG = Path(__file__).with_name("schemathesis.toml")
# Replacing or revoking the token would end the run's own authentication (tested elsewhere).
NOT_FUZZED = ["auth_token_create", "auth_token_destroy"]


def schema_document():
    """The OpenAPI document /api/schema/ serves, as JSON."""
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


@pytest.fixture
def cohort(center, other_center):
    """Courses at the coordinator's center and another, an open data query, a stored analysis run."""
    for number in (1, 3):
        relapsed_course(PatientFactory(center=center, study_id=f"MLL96-000{number}"))
    for number in (2, 4):
        relapsed_course(PatientFactory(center=other_center, study_id=f"MLL98-000{number}"))
    manager = UserFactory(username="contract-manager", role="DATA_MANAGER")
    patient = PatientFactory._meta.model.objects.get(study_id="MLL96-0001")
    queries.raise_query(
        user=manager, record_type="patient", record_id=patient.pk, field="wbc", message="Please check.", source="test"
    )
    AnalysisRun.objects.create(
        name="cohort_summary",
        status="succeeded",
        trigger="command",
        fingerprint="a" * 64,
        code_version="v1",
        n_patients=4,
        results={"schema": "cohort_summary/1", "n_registered": 4},
        figures={"os_overall": "<svg/>"},
        parameters={},
    )


@pytest.fixture
def quiet_registry(monkeypatch, settings):
    """The fuzzer sends far more requests a minute than a user may (throttling has tests of its own),
    its edits must not leave an after-change refresh of the analyses running behind the test, and
    the live server's threads, kept alive by the fuzzer's open HTTP connections, must not keep
    database connections either (the test database could not be dropped at the end)."""
    from django.db import connections
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "allow_request", lambda self, request, view: True)
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    settings.ANALYSIS_REFRESH_IN_PROCESS = False


def run_schemathesis(base_url, token):
    """Run every phase on the schema: (failure reports, operations tested, [(phase, operation, status)], seconds)."""
    config = SchemathesisConfig.from_path(CONFIG)
    config.projects.override.update(base_url=base_url, headers={"Authorization": f"Token {token}"})
    schema = schemathesis.openapi.from_dict(schema_document(), config=config)
    schema = schema.exclude(operation_id=NOT_FUZZED)
    started = time.monotonic()
    failures, errors, tested, answered = {}, [], set(), []
    phases = {}
    for event in engine_for(schema).execute():
        if isinstance(event, events.PhaseStarted):
            phases[event.phase.name.value] = time.monotonic()
        elif isinstance(event, events.PhaseFinished) and event.phase.name.value in phases:
            phases[event.phase.name.value] = time.monotonic() - phases[event.phase.name.value]
        if isinstance(event, events.ScenarioFinished):
            tested.add(event.recorder.label)
            for case_id, interaction in event.recorder.interactions.items():
                node = event.recorder.cases.get(case_id)
                if node is not None and interaction.response is not None:
                    answered.append((event.phase.value, node.value.operation.label, interaction.response.status_code))
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        interaction = event.recorder.interactions.get(case_id)
                        response = interaction.response if interaction else None
                        key = (check.name, failure.operation, failure.title)
                        failures.setdefault(
                            key,
                            f"{check.name} on {failure.operation}: {failure.title}\n{failure.message}\n"
                            f"-> {response.status_code if response else '?'} "
                            f"{(response.content or b'')[:400] if response else ''}\n"
                            f"{check.failure_info.code_sample}",
                        )
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    print({name: round(seconds) for name, seconds in phases.items()})
    return list(failures.values()) + errors, tested, answered, time.monotonic() - started


@pytest.mark.parametrize("persona", ["coordinator", "admin_user"])
def test_the_api_keeps_its_contract(persona, request, live_server, cohort, quiet_registry):
    user = request.getfixturevalue(persona)
    token = Token.objects.create(user=user).key
    cache.clear()
    failures, tested, answered, seconds = run_schemathesis(live_server.url, token)
    print(f"schemathesis as {persona}: {len(answered)} requests in {seconds:.0f} s, {len(failures)} failures")
    print(Counter((phase, operation.split()[0], status) for phase, operation, status in answered))
    assert len(tested) > 60, f"only {len(tested)} operations were tested"
    assert not failures, "\n\n".join(failures)
    if persona == "coordinator":  # the write paths were reached, not only refused for the role
        statuses = Counter((operation.split()[0], status) for _phase, operation, status in answered)
        assert statuses["POST", 201], statuses
        edits = sum(n for (method, status), n in statuses.items() if method in ("PUT", "PATCH") and status != 403)
        assert edits, statuses  # answered on their merits (200, or 400/412/428 by the contract); the
        # generated client's test (test_generated_clients.py) makes a successful If-Match edit every time
