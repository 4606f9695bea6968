"""Benchmark of entering a paper form's whole course, for tests.bench.run (issue 14).

``measure(n, env)`` on the database seeded with N patients runs ``python -m tests.bench.course_entry``,
which, as a coordinator through Django's test Client (in process, so the time is the server's),
enters COURSES courses (registration, CR1, relapse, salvage line, HSCT, death at follow-up) the
two ways a browser does:

- **in place** (with JavaScript, tests/browser/test_course_entry_browser.py walks it in Chromium):
  the patient list, the registration form and the patient page are full pages; every event is a
  fragment GET (its form) and a fragment POST (the course back, with the next form's address);
- **without JavaScript**: every event is a page of its own, saved with "Save and add next event"
  (POST, redirect to the next event's page), the follow-up back to the patient page.

Page loads are the requests answered with a whole HTML document (what a browser navigates to);
fragments are the in-place requests; POSTs answered by a redirect are counted as requests only.
"""

import json
import statistics
import sys
import time
from datetime import date, timedelta

import django

MAX_PATIENTS = 100_000  # tests.bench.run: one course's page loads and server time
COURSES = 20
DIAGNOSIS = date(1999, 5, 18)


def _day(days):
    return (DIAGNOSIS + timedelta(days=days)).isoformat()


PATIENT = {
    "registration_date": _day(2),
    "sex": "M",
    "date_of_birth": "1999-03-01",
    "diagnosis_date": DIAGNOSIS.isoformat(),
    "wbc": "320.5",
    "cns_status": "CNS3",
    "immunophenotype": "PRO_B",
    "prednisone_response": "POOR",
    "mll_partner": "AF4",
    "mll_detection_method": "SOUTHERN_BLOT",
}
# The paper form's course, in course order (the slugs of registry.pages.forms.EVENT_KINDS).
EVENTS = [
    ("first-line", {"outcome": "CR", "assessment_date": _day(35)}),
    ("relapse", {"relapse_date": _day(197), "site": "BM"}),
    (
        "salvage",
        {
            "regimen": "FLAG",
            "agents": "fludarabine",
            "start_date": _day(201),
            "response": "CR",
            "response_date": _day(250),
        },
    ),
    (
        "transplant",
        {
            "transplant_date": _day(288),
            "transplant_type": "ALLO",
            "donor": "MSD",
            "stem_cell_source": "BM",
            "conditioning": "TBI",
            "conditioning_intensity": "MAC",
            "disease_status": "CR2+",
        },
    ),
    (
        "follow-up",
        {"contact_date": _day(481), "vital_status": "DEAD", "death_date": _day(481), "cause_of_death": "LEUKEMIA"},
    ),
]


class Course:
    """The requests of one course: counted by kind, timed in process."""

    def __init__(self, client):
        self.client = client
        self.pages = self.fragments = self.requests = 0
        self.seconds = 0.0

    def _send(self, method, url, data=None):
        start = time.perf_counter()
        response = self.client.post(url, data) if method == "POST" else self.client.get(url)
        self.seconds += time.perf_counter() - start
        self.requests += 1
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {url}: {response.status_code} {response.content[:2000]!r}")
        if response.status_code in (301, 302):
            return self._send("GET", response.url)  # the browser follows it: a page load
        if response.has_header("X-Registry-Fragment"):
            self.fragments += 1
        elif response["Content-Type"].startswith("text/html"):
            self.pages += 1
        return response

    def enter(self, trial, study_id, *, in_place):
        from django.urls import reverse

        from registry.models import Patient

        self._send("GET", reverse("registry:patient-list"))
        self._send("GET", reverse("registry:patient-create"))
        self._send("POST", reverse("registry:patient-create"), {**PATIENT, "study_id": study_id, "trial": trial.pk})
        patient = Patient.objects.get(study_id=study_id)
        suffix = "?fragment=1" if in_place else ""
        for position, (kind, data) in enumerate(EVENTS):
            url = reverse("registry:event-create", args=[patient.pk, kind]) + suffix
            if in_place or position == 0:  # without JavaScript the next page comes with the redirect
                self._send("GET", url)
            self._send("POST", url, {**data, "then": "next"})
        return patient


def main(n):
    django.setup()
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import setup_test_environment

    from registry import selectors
    from registry.models import FollowUp, Membership, Patient, Trial

    setup_test_environment()
    largest = Patient.objects.values("center").annotate(n=Count("pk")).order_by("-n").first()["center"]
    coordinator, _ = get_user_model().objects.get_or_create(username="bench-course-coordinator")
    Membership.objects.update_or_create(user=coordinator, defaults={"role": "COORDINATOR", "center_id": largest})
    trial = Trial.objects.get(code="MLL98")
    out = {"patients": n, "courses": COURSES}
    for mode in ("in_place", "without_js"):
        client = Client()
        client.force_login(coordinator)
        courses = []
        for _ in range(COURSES):
            course = Course(client)
            patient = course.enter(trial, selectors.next_study_ids()[trial.pk], in_place=mode == "in_place")
            if not FollowUp.objects.filter(patient=patient, vital_status="DEAD").exists():
                raise RuntimeError(f"{patient.study_id}: the course was not saved")
            courses.append(course)
        ms = sorted(c.seconds * 1000 for c in courses)
        out[mode] = {
            "pages": max(c.pages for c in courses),
            "fragments": max(c.fragments for c in courses),
            "requests": max(c.requests for c in courses),
            "median_ms": statistics.median(ms),
            "max_ms": ms[-1],
        }
    print(json.dumps(out))


def measure(n, env):
    # The two-factor gate is production's; the bench logs in with force_login.
    env = {**env, "REGISTRY_REQUIRE_2FA": "0"}
    from .run import in_subprocess

    return in_subprocess("tests.bench.course_entry", n, env)


def fmt(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(results):
    lines = [
        "## Entering a course (the coordinator's desk)",
        "",
        f"A paper form's whole course (registration, CR1, relapse, salvage line, HSCT, death at follow-up), {COURSES}",
        "times per size, by a coordinator through Django's test Client (`tests/bench/course_entry.py`). **In place**:",
        "the events are added on the patient page (course.js: a fragment GET for each form, a fragment POST that",
        "answers the course and opens the next form); **without JavaScript**: every event is its own page, with",
        '"Save and add next event". **Page loads** are whole HTML documents a browser navigates to, **fragments**',
        "the in-place requests; **server time** is the sum over the course's requests (median and slowest course).",
        "",
        "| patients | mode | page loads | fragments | requests | server time per course (median) | slowest |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        for mode, label in (("in_place", "in place"), ("without_js", "without JavaScript")):
            m = r[mode]
            lines.append(
                f"| {r['patients']:,} | {label} | {m['pages']} | {m['fragments']} | {m['requests']} | "
                f"{fmt(m['median_ms'])} ms | {fmt(m['max_ms'])} ms |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main(int(sys.argv[1]))
