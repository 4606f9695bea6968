"""Benchmark of concurrent API writers against gunicorn and PostgreSQL, for tests.bench.run.

``measure(n, env)`` on the database seeded with N patients:

1. ``python -m tests.bench.writers setup``: one coordinator and API token per writer (the entry
   writers spread over the centers, the racers all at the center of the raced patient), each
   entry writer's pool of its center's seeded patients, and the trail's high-water marks.
2. gunicorn (``WORKERS`` sync workers, DEBUG=0) on a free loopback port.
3. ``WRITERS`` threads for ``SECONDS`` seconds (and at most ``MAX_REQUESTS`` requests each):
   entry writers create patients and follow-ups and edit patients with ``If-Match`` (their own,
   whose version they know, and their center's seeded ones after a GET); ``RACERS`` of them read
   and edit one and the same patient, so all but one of each round must get 412.
4. ``python -m tests.bench.writers check``: every accepted write against the database. An
   accepted edit is lost unless the history row of the version it created was written by its
   writer with the value it sent; two accepted edits from the same version are a lost update; the
   raced patient's version must have grown by exactly its accepted edits; an accepted create must
   exist. The clinical history rows written during the run must equal the accepted writes, and
   ``registry.trail.verify`` must find the chains intact.

Throughput counts accepted writes (201 and 200) per second of the run; latency is over every
write request (POST and PATCH, whatever the answer). Errors are 5xx answers and requests that
got no answer (connection refused or reset, timeouts); 412 is the expected answer of a lost race,
and any other 4xx is counted as ``refused`` (it would be a fault of the benchmark's requests).
"""

import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_PATIENTS = 1_000  # tests.bench.run: concurrency and lost updates, not cohort size
WRITERS = 50
RACERS = 10
SECONDS = 60
MAX_REQUESTS = 5000  # per writer: a bound besides time
WORKERS = 4
DIAGNOSIS = date(1999, 2, 28)
PATIENT = {
    "trial": "MLL98",
    "registration_date": "1999-03-02",
    "sex": "F",
    "date_of_birth": "1998-11-20",
    "diagnosis_date": DIAGNOSIS.isoformat(),
    "wbc": "312.5",
    "cns_status": "CNS1",
    "immunophenotype": "PRO_B",
    "prednisone_response": "GOOD",
    "mll_partner": "AF4",
    "mll_detection_method": "FISH",
}


# --- in the seeded database (subprocesses with Django) -------------------------------------------


def _history_models():
    from registry.models import CLINICAL_MODELS

    return {model.__name__: model.history.model for model in CLINICAL_MODELS}


def _setup():
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from registry.models import Center, Membership, Patient

    centers = list(Center.objects.filter(patients__locked=False).distinct().order_by("code"))
    raced = Patient.objects.filter(locked=False, center=centers[0]).order_by("study_id").first()
    writers = []
    for i in range(WRITERS):
        racer = i >= WRITERS - RACERS
        center = raced.center if racer else centers[i % len(centers)]
        user = get_user_model().objects.get_or_create(username=f"bench-writer-{i:02d}")[0]  # a token, no password
        Membership.objects.update_or_create(user=user, defaults={"role": "COORDINATOR", "center": center})
        pool = list(
            Patient.objects.filter(center=center, locked=False).exclude(pk=raced.pk).values_list("pk", flat=True)[:50]
        )
        writers.append(
            {
                "index": i,
                "user": user.pk,
                "token": Token.objects.get_or_create(user=user)[0].key,
                "racer": racer,
                "pool": pool,
            }
        )
    marks = {
        name: history.objects.order_by("-history_id").values_list("history_id", flat=True).first() or 0
        for name, history in _history_models().items()
    }
    return {"writers": writers, "raced": raced.pk, "raced_version": raced.version, "marks": marks}


def _check(data):
    """Every accepted write against the database: lost updates, history rows, the chains."""
    import django

    django.setup()
    from decimal import Decimal

    from registry import trail
    from registry.models import FollowUp, Patient

    histories = _history_models()
    out = {"lost": [], "trail_rows": {}, "writes": {}}
    for name, history in histories.items():
        rows = history.objects.filter(history_id__gt=data["marks"][name])
        out["trail_rows"][name] = {kind: rows.filter(history_type=kind).count() for kind in "+~-"}
    edits, creates = data["edits"], data["creates"]
    out["writes"] = {
        "Patient": {"+": len(creates["Patient"]), "~": len(edits)},
        "FollowUp": {"+": len(creates["FollowUp"]), "~": 0},
    }
    for model, ids in ((Patient, creates["Patient"]), (FollowUp, creates["FollowUp"])):
        found = set(model.objects.filter(pk__in=ids).values_list("pk", flat=True))
        out["lost"] += [f"{model.__name__} {pk} was created (201) but is missing" for pk in ids if pk not in found]
    history = histories["Patient"]
    rows = {
        (row["id"], row["version"]): row
        for row in history.objects.filter(id__in={e["id"] for e in edits}, history_type="~").values(
            "id", "version", "wbc", "history_user_id"
        )
    }
    seen = set()
    for edit in edits:
        key = (edit["id"], edit["version"])
        row = rows.get(key)
        if key in seen:
            out["lost"].append(f"patient {edit['id']}: two accepted edits made version {edit['version']}")
        seen.add(key)
        if row is None or row["history_user_id"] != edit["user"] or row["wbc"] != Decimal(edit["wbc"]):
            out["lost"].append(f"patient {edit['id']} version {edit['version']}: the accepted edit is not the history")
    raced = Patient.objects.get(pk=data["raced"])
    raced_edits = sum(1 for e in edits if e["id"] == data["raced"])
    out["raced"] = {"accepted": raced_edits, "versions": raced.version - data["raced_version"]}
    if out["raced"]["versions"] != raced_edits:
        out["lost"].append(f"the raced patient's version grew by {out['raced']['versions']}, accepted {raced_edits}")
    # One history row per accepted write, in the write's table and of its kind, and none besides.
    out["trail_differences"] = [
        f"{name} {kind}: {kinds[kind]} history rows, {out['writes'].get(name, {}).get(kind, 0)} accepted writes"
        for name, kinds in out["trail_rows"].items()
        for kind in kinds
        if kinds[kind] != out["writes"].get(name, {}).get(kind, 0)
    ]
    checked = trail.verify() if trail.supported() else None
    out["trail_intact"] = None if checked is None else checked.ok
    out["trail_summary"] = None if checked is None else checked.summary()
    return out


# --- the load (the benchmark's own process) --------------------------------------------------------


class Load:
    """The outcome of every request, appended by the writer threads (list.append is atomic)."""

    def __init__(self, base_url, deadline):
        self.base_url = base_url
        self.deadline = deadline
        self.writes = []  # (seconds, status) of every POST and PATCH
        self.reads = []  # seconds of every GET
        self.failures = []  # requests without an answer, and 5xx: what happened
        self.creates = {"Patient": [], "FollowUp": []}
        self.edits = []

    def request(self, session, method, path, **kwargs):
        import requests

        start = time.perf_counter()
        try:
            response = session.request(method, self.base_url + path, timeout=(10, 60), **kwargs)
        except requests.RequestException as error:
            self.failures.append(f"{method} {path}: {type(error).__name__}")
            (self.reads if method == "GET" else self.writes).append((time.perf_counter() - start, None))
            return None
        elapsed = time.perf_counter() - start
        (self.reads if method == "GET" else self.writes).append((elapsed, response.status_code))
        if response.status_code >= 500:
            self.failures.append(
                f"{method} {path}: {response.status_code} request {response.headers.get('X-Request-ID')}"
            )
        return response


def _version(response):
    return int(response.headers["ETag"].strip('W/"'))


def _edit(load, session, writer, pk, version):
    """PATCH the patient's WBC with If-Match; the new version on success, None on 412 or failure."""
    wbc = f"{random.randint(10, 49999) / 10:.1f}"
    response = load.request(
        session,
        "PATCH",
        f"/api/v1/patients/{pk}/",
        json={"wbc": wbc},
        headers={"If-Match": f'W/"{version}"', "X-Reason-For-Change": "benchmark: concurrent edit"},
    )
    if response is None or response.status_code != 200:
        return None
    new = _version(response)
    load.edits.append({"id": pk, "version": new, "user": writer["user"], "wbc": wbc})
    return new


def _entry_writer(load, writer):
    """Creates patients and follow-ups, edits its own patients and its center's seeded ones."""
    import requests

    rng = random.Random(writer["index"])
    session = requests.Session()
    session.headers["Authorization"] = f"Token {writer['token']}"
    own = []  # [patient id, version, follow-ups so far]
    for count in range(MAX_REQUESTS):
        if time.monotonic() >= load.deadline:
            break
        roll = rng.random()
        if count < 1000 and (not own or roll < 0.3):  # study IDs MLL98-9<writer><count>: 6 digits at most
            study_id = f"MLL98-9{writer['index']:02d}{count:03d}"
            response = load.request(session, "POST", "/api/v1/patients/", json={**PATIENT, "study_id": study_id})
            if response is not None and response.status_code == 201:
                load.creates["Patient"].append(response.json()["id"])
                own.append([response.json()["id"], _version(response), 0])
        elif not own:
            break
        elif roll < 0.6:
            patient = rng.choice(own)
            patient[2] += 1
            contact = DIAGNOSIS + timedelta(days=30 * patient[2])
            body = {"patient": patient[0], "contact_date": contact.isoformat(), "vital_status": "ALIVE"}
            response = load.request(session, "POST", "/api/v1/follow-ups/", json=body)
            if response is not None and response.status_code == 201:
                load.creates["FollowUp"].append(response.json()["id"])
        elif roll < 0.9 or not writer["pool"]:
            patient = rng.choice(own)
            patient[1] = _edit(load, session, writer, patient[0], patient[1]) or patient[1]
        else:  # a seeded patient of the center, which its other writers may edit too
            pk = rng.choice(writer["pool"])
            response = load.request(session, "GET", f"/api/v1/patients/{pk}/")
            if response is not None and response.status_code == 200:
                _edit(load, session, writer, pk, _version(response))


def _racer(load, writer, raced):
    """Reads the raced patient and edits it from the version read, again and again."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Token {writer['token']}"
    for _ in range(MAX_REQUESTS // 2):
        if time.monotonic() >= load.deadline:
            break
        response = load.request(session, "GET", f"/api/v1/patients/{raced}/")
        if response is not None and response.status_code == 200:
            _edit(load, session, writer, raced, _version(response))


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_gunicorn(env, log):
    port = _free_port()
    server_env = {
        **env,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "API_THROTTLE_USER": "1000000/minute",  # measure the writes, not the throttle
        "LOG_FORMAT": "json",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "registry.config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            requests.get(f"http://127.0.0.1:{port}/health/", timeout=5)
            return server, f"http://127.0.0.1:{port}"
        except requests.RequestException:
            time.sleep(0.2)
    _stop(server)
    raise RuntimeError("gunicorn did not answer within 60 s")


def _stop(server):
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _run(env, mode, stdin=None):
    result = subprocess.run(
        [sys.executable, "-m", "tests.bench.writers", mode],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        input=stdin,
    )
    if result.returncode:
        raise RuntimeError(f"tests.bench.writers {mode} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _percentile(values, fraction):
    ordered = sorted(values)
    return ordered[int(fraction * (len(ordered) - 1))] if ordered else None


def measure(n, env):
    setup = _run(env, "setup")
    load_before = os.getloadavg()[0]
    with tempfile.NamedTemporaryFile("w+", prefix="bench-gunicorn-", suffix=".log", delete=False) as log:
        server, base_url = _start_gunicorn(env, log)
        try:
            started = time.monotonic()
            load = Load(base_url, started + SECONDS)
            threads = [
                threading.Thread(
                    target=_racer if writer["racer"] else _entry_writer,
                    args=(load, writer, setup["raced"]) if writer["racer"] else (load, writer),
                )
                for writer in setup["writers"]
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
        finally:
            _stop(server)
    if load.failures:
        print(
            f"writers: {len(load.failures)} failures, e.g. {load.failures[:5]}; server log {log.name}", file=sys.stderr
        )
    else:
        os.unlink(log.name)
    check = _run(
        env,
        "check",
        stdin=json.dumps(
            {
                "marks": setup["marks"],
                "raced": setup["raced"],
                "raced_version": setup["raced_version"],
                "creates": load.creates,
                "edits": load.edits,
            }
        ),
    )
    for problem in check["lost"][:10] + check["trail_differences"]:
        print(f"writers: {problem}", file=sys.stderr)
    statuses = [status for _, status in load.writes]
    accepted = statuses.count(200) + statuses.count(201)
    times = [seconds for seconds, _ in load.writes]
    trail_rows = sum(sum(kinds.values()) for kinds in check["trail_rows"].values())
    return {
        "patients": n,
        "writers": WRITERS,
        "racers": RACERS,
        "gunicorn_workers": WORKERS,
        "seconds": elapsed,
        "write_requests": len(load.writes),
        "read_requests": len(load.reads),
        "accepted_writes": accepted,
        "creates": {model: len(ids) for model, ids in load.creates.items()},
        "edits": len(load.edits),
        "writes_per_second": accepted / elapsed,
        "p50_ms": _percentile(times, 0.5) * 1000,
        "p95_ms": _percentile(times, 0.95) * 1000,
        "read_p50_ms": (statistics.median(s for s, _ in load.reads) * 1000) if load.reads else None,
        "conflicts_412": statuses.count(412),
        "refused_4xx": sum(1 for s in statuses if s is not None and 400 <= s < 500 and s != 412),
        "server_errors": sum(1 for s in statuses if s is not None and s >= 500)
        + sum(1 for _, s in load.reads if s is not None and s >= 500),
        "connection_errors": statuses.count(None) + sum(1 for _, s in load.reads if s is None),
        "lost_updates": len(check["lost"]),
        "lost": check["lost"][:10],
        "raced": check["raced"],
        "trail_rows": trail_rows,
        "trail_rows_by_table": check["trail_rows"],
        "trail_differences": check["trail_differences"],
        "trail_summary": check["trail_summary"],
        "trail_intact": check["trail_intact"],
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "cores": os.cpu_count(),
        "load_before": load_before,
    }


def markdown(results):
    first = results[0] if results else {}
    lines = [
        "## Concurrent API writers",
        "",
        f"Measured on {first.get('measured_at', '-')} UTC, {first.get('cores', '-')} cores, load average "
        f"{first.get('load_before', 0):.1f} before the run",
        "(client, gunicorn and PostgreSQL share the machine); `python -m tests.bench.run --only writers` updates this",
        f"section alone. gunicorn with {WORKERS} sync workers (DEBUG=0) on loopback against the seeded database;",
        f"{WRITERS} writer threads, each with its own coordinator token, for {SECONDS} s (at most {MAX_REQUESTS:,} "
        f"requests each): {WRITERS - RACERS} create",
        "patients and follow-ups and edit patients with `If-Match` (their own, and their center's seeded ones after a",
        f"GET); {RACERS} race on one patient (GET, then PATCH from the version read: the losers get 412). The API",
        "throttle is raised for the run.",
        "",
        "- **writes/s**: accepted writes (201, 200) per second of the run; **p50 / p95**: latency of every write",
        f"  request (POST, PATCH), whatever the answer ({WRITERS} clients queue for {WORKERS} workers: latency is "
        "mostly waiting).",
        "- **errors**: 5xx answers / requests without an answer (refused, reset, timed out); **other 4xx**: refusals",
        "  other than 412 (a fault of the benchmark's requests).",
        "- **lost updates**: accepted edits whose version's history row is not that writer's value, two accepted",
        "  edits from one version, the raced patient's version not grown by exactly its accepted edits, accepted",
        "  creates missing.",
        "- **trail rows / writes**: clinical history rows written during the run, against the accepted writes;",
        "  **chains**: `verify_audit`'s hash chains checked afterwards.",
        "",
        "| patients | accepted writes | writes/s | p50 | p95 | 412 (lost races) | raced: accepted / versions "
        "| errors (5xx / connection) | other 4xx | lost updates | trail rows / writes | chains |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        chains = {True: "intact", False: "BROKEN", None: "-"}[r["trail_intact"]]
        lines.append(
            f"| {r['patients']:,} | {r['accepted_writes']:,} | {r['writes_per_second']:,.1f} | {r['p50_ms']:.0f} ms "
            f"| {r['p95_ms']:.0f} ms | {r['conflicts_412']:,} | {r['raced']['accepted']} / {r['raced']['versions']} "
            f"| {r['server_errors']} / {r['connection_errors']} | {r['refused_4xx']} | {r['lost_updates']} "
            f"| {r['trail_rows']:,} / {r['accepted_writes']:,}{' (differ by table)' if r['trail_differences'] else ''} "
            f"| {chains} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.config.settings")
    mode = sys.argv[1]
    if mode == "setup":
        print(json.dumps(_setup()))
    else:
        print(json.dumps(_check(json.loads(sys.stdin.read()))))
