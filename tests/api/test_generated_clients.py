"""Clients generated from the OpenAPI schema work against the API, as a hospital system would build them.

Python: openapi-python-client generates a package from /api/schema/ into a temporary directory
once per session; it then creates, reads, changes (If-Match, reason) a relapse, is refused a
stale change with 412 and a problem document, and deletes the relapse as a data manager.
TypeScript: openapi-typescript turns the same schema into types and a small openapi-fetch client
doing the same calls must compile under ``tsc --strict``. The npm tools are installed, at the
pinned versions below, into .cache/api-clients/ (git-ignored); none of the generated code is
committed.
"""

import importlib
import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from rest_framework.authtoken.models import Token

from tests.conftest import _require_services
from tests.factories import FirstLineResponseFactory, PatientFactory

ROOT = Path(__file__).resolve().parents[2]
NODE_TOOLS = ROOT / ".cache" / "api-clients"
NODE_PACKAGES = {"typescript": "5.9.3", "openapi-typescript": "7.13.0", "openapi-fetch": "0.17.0"}
# openapi-python-client reads JSON, text and octet-stream bodies; a figure (image/svg+xml) is bytes.
PYTHON_CLIENT_CONFIG = """\
project_name_override: registry-client
package_name_override: registry_client
content_type_overrides:
  image/svg+xml: application/octet-stream
post_hooks: []
"""


@pytest.fixture(scope="session")
def schema_file(tmp_path_factory):
    document = OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True))
    path = tmp_path_factory.mktemp("schema") / "schema.json"
    path.write_bytes(document)
    return path


@pytest.fixture(scope="session")
def registry_client(schema_file, tmp_path_factory):
    """The generated Python package ``registry_client``."""
    where = tmp_path_factory.mktemp("python-client")
    config = where / "config.yaml"
    config.write_text(PYTHON_CLIENT_CONFIG)
    generator = Path(sys.executable).with_name("openapi-python-client")
    result = subprocess.run(
        [generator, "generate", "--path", schema_file, "--output-path", where / "registry_client"]
        + ["--meta", "none", "--config", config],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module("registry_client")
    finally:
        sys.path.remove(str(where))
        for name in [name for name in sys.modules if name.split(".")[0] == "registry_client"]:
            del sys.modules[name]


@pytest.fixture
def keep_the_test_connection():
    """As Django's test client does: the WSGI handler must not close the test's database connection."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def connect(registry_client, keep_the_test_connection):
    """``connect(user)``: a generated client authenticated with the user's token, in process."""

    def for_user(user):
        return registry_client.AuthenticatedClient(
            base_url="http://testserver",
            token=Token.objects.create(user=user).key,
            prefix="Token",
            httpx_args={"transport": httpx.WSGITransport(app=get_wsgi_application())},
        )

    return for_user


def test_the_generated_python_client_writes_a_relapse(registry_client, connect, coordinator, data_manager, center):
    from registry_client.api.relapses import (
        relapses_create,
        relapses_destroy,
        relapses_partial_update,
        relapses_retrieve,
    )
    from registry_client.models import PatchedRelapseRequest, Problem, Relapse, RelapseRequest, SiteEnum

    remission = FirstLineResponseFactory(patient=PatientFactory(center=center))
    client = connect(coordinator)

    created = relapses_create.sync_detailed(
        client=client,
        body=RelapseRequest(
            patient=remission.patient_id,
            relapse_date=remission.assessment_date + timedelta(days=150),
            site=SiteEnum.BM,
        ),
    )
    assert created.status_code == 201, created.content
    assert isinstance(created.parsed, Relapse) and created.parsed.version == 1
    relapse_id = created.parsed.id

    read = relapses_retrieve.sync_detailed(relapse_id, client=client)
    assert read.status_code == 200 and read.parsed.site == SiteEnum.BM
    version_read = read.headers["ETag"]
    assert version_read == 'W/"1"'

    changed = relapses_partial_update.sync_detailed(
        relapse_id,
        client=client,
        body=PatchedRelapseRequest(site=SiteEnum.CNS),
        if_match=version_read,
        x_reason_for_change="Site corrected after source data verification",
    )
    assert changed.status_code == 200, changed.content
    assert changed.parsed.site == SiteEnum.CNS and changed.parsed.version == 2
    assert changed.headers["ETag"] == 'W/"2"'

    stale = relapses_partial_update.sync_detailed(
        relapse_id,
        client=client,
        body=PatchedRelapseRequest(site=SiteEnum.TESTIS),
        if_match=version_read,
        x_reason_for_change="Edited from an old copy",
    )
    assert stale.status_code == 412
    assert isinstance(stale.parsed, Problem) and stale.parsed.status == 412
    assert "changed by someone else" in stale.parsed.detail

    deleted = relapses_destroy.sync_detailed(
        relapse_id,
        client=connect(data_manager),
        if_match=changed.headers["ETag"],
        x_reason_for_change="Duplicate entry",
    )
    assert deleted.status_code == 204, deleted.content
    gone = relapses_retrieve.sync_detailed(relapse_id, client=client)
    assert gone.status_code == 404 and isinstance(gone.parsed, Problem)


TYPESCRIPT_CLIENT = """\
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type Relapse = components["schemas"]["Relapse"];
type Problem = components["schemas"]["Problem"];

const api = createClient<paths>({
  baseUrl: "https://registry.example.org",
  headers: { Authorization: "Token 0123456789abcdef" },
});

function refused(problem: Problem | undefined): never {
  throw new Error(problem ? `${problem.status} ${problem.detail}` : "no answer");
}

export async function correctSite(patient: number): Promise<Relapse> {
  const created = await api.POST("/api/v1/relapses/", {
    body: { patient, relapse_date: "1996-09-30", site: "BM" },
  });
  if (!created.data) refused(created.error);
  const id: number = created.data.id;

  const read = await api.GET("/api/v1/relapses/{id}/", { params: { path: { id } } });
  if (!read.data) refused(read.error);
  const etag = read.response.headers.get("ETag") ?? "";

  const changed = await api.PATCH("/api/v1/relapses/{id}/", {
    params: {
      path: { id },
      header: { "If-Match": etag, "X-Reason-For-Change": "Site corrected after source data verification" },
    },
    body: { site: "CNS" },
  });
  if (!changed.data) refused(changed.error); // 412 when someone changed it since
  return changed.data;
}

export async function relapsesOfPatient(patient: number): Promise<Relapse[]> {
  const page = await api.GET("/api/v1/relapses/", { params: { query: { patient, page_size: 100 } } });
  return page.data?.results ?? [];
}
"""

TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "noEmit": True,
        "target": "ES2022",
        "module": "ESNext",
        "moduleResolution": "Bundler",
        "lib": ["ES2022", "DOM"],
        "skipLibCheck": True,
    },
    "files": ["client.ts"],
}


def _node_tools():
    """.cache/api-clients with the pinned npm packages installed (once; again when the pins change)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        if _require_services():
            pytest.fail("REGISTRY_REQUIRE_SERVICES=1 but Node.js (node, npm) is not installed")
        pytest.skip("needs Node.js (node and npm) to compile the TypeScript client")
    NODE_TOOLS.mkdir(parents=True, exist_ok=True)
    manifest = json.dumps({"private": True, "dependencies": NODE_PACKAGES}, indent=2)
    installed = NODE_TOOLS / "node_modules" / ".registry-pins.json"
    if not installed.exists() or installed.read_text() != manifest:
        (NODE_TOOLS / "package.json").write_text(manifest)
        result = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--no-package-lock"],
            cwd=NODE_TOOLS,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        installed.write_text(manifest)
    return NODE_TOOLS / "node_modules" / ".bin"


def test_the_generated_typescript_client_compiles(schema_file, tmp_path):
    bin_dir = _node_tools()
    env = {**os.environ, "NODE_PATH": str(NODE_TOOLS / "node_modules")}
    generated = subprocess.run(
        [bin_dir / "openapi-typescript", schema_file, "--output", tmp_path / "schema.d.ts"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    (tmp_path / "client.ts").write_text(TYPESCRIPT_CLIENT)
    (tmp_path / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    (tmp_path / "node_modules").symlink_to(NODE_TOOLS / "node_modules")
    compiled = subprocess.run(
        [bin_dir / "tsc", "--project", tmp_path / "tsconfig.json"], capture_output=True, text=True, timeout=300
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr

    # The compiler does check the client against the schema: a wrong field type is an error.
    (tmp_path / "client.ts").write_text(TYPESCRIPT_CLIENT.replace('site: "CNS"', "site: 42"))
    wrong = subprocess.run(
        [bin_dir / "tsc", "--project", tmp_path / "tsconfig.json"], capture_output=True, text=True, timeout=300
    )
    assert wrong.returncode != 0 and "error TS2322" in wrong.stdout, wrong.stdout
