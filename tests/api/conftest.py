"""API test setup: token-authenticated clients per persona, a course at each of two centers."""

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import PatientFactory, relapsed_course


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The personas' passwords are never checked here; hashing them slowly only costs time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_throttles():
    """Throttle counters live in the cache; each test starts with none."""
    cache.clear()
    yield
    cache.clear()


def client_for(user):
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api():
    return client_for


@pytest.fixture
def own_patient(center):
    return relapsed_course(PatientFactory(center=center, study_id="MLL96-0001"))


@pytest.fixture
def other_patient(other_center):
    return relapsed_course(PatientFactory(center=other_center, study_id="MLL98-0002"))
