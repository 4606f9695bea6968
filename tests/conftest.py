"""Shared test setup: personas per role, and the services the suite needs.

The suite runs on whatever DATABASE_URL names (PostgreSQL in CI, SQLite on a bare laptop);
pytest-django creates its own ``test_*`` database and drops it afterwards. Tests that need a
PostgreSQL-only feature or the Redis broker skip where those are absent, unless
REGISTRY_REQUIRE_SERVICES=1 (set by .ci/run), where a missing service fails the run instead.
"""

import os

import pytest
from django.db import connection
from django.utils import translation

from tests.factories import CenterFactory, UserFactory

PASSWORD = "correct-horse-registry-42"


def _require_services():
    return os.getenv("REGISTRY_REQUIRE_SERVICES") == "1"


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        if _require_services():
            pytest.fail("REGISTRY_REQUIRE_SERVICES=1 but the database is not PostgreSQL (set DATABASE_URL)")
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture
def center(db):
    return CenterFactory(code="TKY01", name="Tokyo Children's Hospital")


@pytest.fixture
def other_center(db):
    return CenterFactory(code="OSK02", name="Osaka Medical Center")


@pytest.fixture
def coordinator(center):
    return UserFactory(username="coord", role="COORDINATOR", center=center)


@pytest.fixture
def other_coordinator(other_center):
    return UserFactory(username="coord2", role="COORDINATOR", center=other_center)


@pytest.fixture
def investigator(db):
    return UserFactory(username="investigator", role="INVESTIGATOR")


@pytest.fixture
def center_investigator(center):
    return UserFactory(username="site-investigator", role="INVESTIGATOR", center=center)


@pytest.fixture
def data_manager(db):
    return UserFactory(username="datamanager", role="DATA_MANAGER")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="registry-admin", role="ADMIN", is_staff=True)


@pytest.fixture
def outsider(db):
    """A logged-in user with no role in the registry."""
    return UserFactory(username="outsider", role=None)


@pytest.fixture(autouse=True)
def tasks_in_process(request):
    """Celery tasks run in process in tests, except where a test starts a real worker."""
    from registry.config.celery import app

    if request.node.get_closest_marker("services"):
        yield
        return
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


@pytest.fixture(autouse=True)
def default_language():
    """Every test starts in the default language (English): a test that served Japanese pages
    must not leave Japanese active for the next one."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def no_refresh_in_process(settings):
    """No background refresh threads in tests (the embedded demo's after-change refresh), except
    where a test turns it on."""
    settings.ANALYSIS_REFRESH_IN_PROCESS = False


@pytest.fixture(autouse=True)
def course_table_dir(settings, tmp_path):
    """Each test keeps the analyses' course table (analysis.course_table) in its own directory."""
    settings.COURSE_TABLE_DIR = str(tmp_path / "course-tables")


@pytest.fixture(autouse=True)
def second_factor_off(settings):
    """Tests log admins and data managers in with ``force_login``: no second factor is asked for,
    unless a test turns it on (``second_factor_on``)."""
    settings.REGISTRY_REQUIRE_2FA = False


@pytest.fixture
def second_factor_on(settings):
    """Enforce two-factor sign-in as in production (``REGISTRY_REQUIRE_2FA=1``)."""
    settings.REGISTRY_REQUIRE_2FA = True


@pytest.fixture
def redis_url():
    url = os.getenv("REDIS_URL") or os.getenv("CELERY_BROKER_URL")
    if not url:
        if _require_services():
            pytest.fail("REGISTRY_REQUIRE_SERVICES=1 but REDIS_URL is not set")
        pytest.skip("needs Redis (set REDIS_URL)")
    return url


@pytest.fixture
def login(client, request):
    """``login("coordinator")``: the test client logged in as that persona ('anonymous' stays out)."""

    def as_persona(persona):
        if persona != "anonymous":
            client.force_login(request.getfixturevalue(persona), backend="django.contrib.auth.backends.ModelBackend")
        return client

    return as_persona


@pytest.fixture
def seen_at_hand_off_close(postgres_only, monkeypatch):
    """``watch(table)``: as each hand-off is closed (``registry.ops.handoff.close``), the status of its
    record in ``table`` as another connection sees it then (committed only), in a list."""
    import psycopg

    from registry.ops import handoff

    s = connection.settings_dict
    watcher = psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"], dbname=s["NAME"])
    close = handoff.close

    def watch(table):
        seen = []

        def closing(task, object_id):
            seen.append(watcher.execute(f"SELECT status FROM {table} WHERE id = %s", [object_id]).fetchone()[0])
            close(task, object_id)

        monkeypatch.setattr(handoff, "close", closing)
        return seen

    yield watch
    watcher.close()
