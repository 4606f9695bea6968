"""schemathesis against the OpenAPI schema: no server errors, responses that match the schema.

The schema is the one /api/schema/ serves (generated in process); requests go to the Django WSGI
application in process, authenticated with a coordinator's token (the role that may write), with
a bounded number of examples per operation to keep the run short.
"""

import json

import pytest
import schemathesis
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.factories import PatientFactory, relapsed_course

EXAMPLES_PER_OPERATION = 12


def _schema():
    spec = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    schema = schemathesis.openapi.from_dict(spec)
    schema.app = get_wsgi_application()
    return schema


schema = _schema()


@pytest.fixture
def token(coordinator, center, other_center, db):
    relapsed_course(PatientFactory(center=center, study_id="MLL96-0001"))
    relapsed_course(PatientFactory(center=other_center, study_id="MLL98-0002"))
    cache.clear()
    return Token.objects.create(user=coordinator).key


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """As Django's test client does: the WSGI handler must not close the test's database connection."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def no_throttling(monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "allow_request", lambda self, request, view: True)


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, token):
    case.call_and_validate(
        headers={"Authorization": f"Token {token}"},
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
