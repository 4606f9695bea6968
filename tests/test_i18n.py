"""Japanese and English: the Japanese catalogue is complete, compiled, and used on every page.

The crawl logs in as each role, asks for Japanese (``Accept-Language: ja``) and follows the
site's own links breadth-first from the home page; on every HTML page no English source text
(msgid) of the catalogue may be left in the visible text. Strings that no one marked for
translation are not in the catalogue, so the catalogue tests check the other half: every
string marked in the code has a Japanese translation (``makemessages`` adds none untranslated).
"""

import re
import shutil
import subprocess
import sys
from collections import deque
from datetime import date, timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from registry.management.commands.compile_translations import compiled
from tests.conftest import _require_services
from tests.factories import (
    CenterFactory,
    FirstLineResponseFactory,
    FollowUpFactory,
    PatientFactory,
    relapsed_course,
    trial,
)

CATALOGUE = settings.BASE_DIR / "locale" / "ja" / "LC_MESSAGES" / "django.po"
PAGES_PER_PERSONA = 150
PAGES_PER_SHAPE = 2  # /patients/1/ and /patients/2/ have one shape: two of each are enough
SKIPPED_PREFIXES = ("/admin/", "/api/", "/static/", "/i18n/", "/accounts/logout/", "/health/")
DOWNLOADS = re.compile(r"\.(csv|xlsx|pdf|zip|svg|png|tiff|json|xpt|dta|sav|xml|ico|md|txt)$")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdfr]|%[sd]")
PERSONAS = ["coordinator", "investigator", "center_investigator", "data_manager", "admin_user", "outsider"]


# --- the catalogue ----------------------------------------------------------------------------


def catalogue():
    return polib.pofile(str(CATALOGUE))


def _pattern(msgid):
    """A regex finding ``msgid`` as a whole phrase in visible text (placeholders match any text),
    or None for a msgid too short or too letterless to tell apart from data."""
    literal = PLACEHOLDER.sub(" ", msgid)
    if len(re.findall(r"[A-Za-z]", literal)) < 4 or not re.search(r"[A-Za-z]{3}", literal):
        return None
    parts = [re.escape(re.sub(r"\s+", " ", part)) for part in PLACEHOLDER.split(msgid)]
    return re.compile(r"(?<![A-Za-z_])" + r".{1,200}?".join(parts) + r"(?![A-Za-z_])")


def english_patterns():
    """msgid -> pattern, for every translated msgid whose Japanese differs from the English and
    which no translation contains (abbreviations such as CR and HSCT stay in the Japanese)."""
    entries = [e for e in catalogue() if not e.obsolete]
    translations = [e.msgstr for e in entries] + [s for e in entries for s in e.msgstr_plural.values()]
    japanese = "\n".join(translations)
    patterns = {}
    for entry in entries:
        for msgid in filter(None, (entry.msgid, entry.msgid_plural)):
            msgid = " ".join(msgid.split())
            if msgid in japanese or msgid in (entry.msgstr, *entry.msgstr_plural.values()):
                continue
            pattern = _pattern(msgid)
            if pattern:
                patterns[msgid] = pattern
    return patterns


def test_every_entry_is_translated_and_none_is_fuzzy():
    po = catalogue()
    assert po.metadata.get("Language") == "ja"
    missing = [e.msgid for e in po.untranslated_entries() if not e.obsolete]
    fuzzy = [e.msgid for e in po.fuzzy_entries() if not e.obsolete]
    assert not missing, f"{len(missing)} untranslated: {missing[:20]}"
    assert not fuzzy, f"{len(fuzzy)} fuzzy: {fuzzy[:20]}"
    plural_gaps = [e.msgid for e in po if e.msgid_plural and not all(e.msgstr_plural.values())]
    assert not plural_gaps


def test_the_compiled_catalogue_is_the_committed_one():
    mo = CATALOGUE.with_suffix(".mo")
    assert mo.exists(), "run `python manage.py compile_translations` (make test and make demo do)"
    assert mo.read_bytes() == compiled(CATALOGUE), "django.mo is older than django.po: run compile_translations"


def test_compile_translations_writes_the_mo(tmp_path, settings):
    target = tmp_path / "ja" / "LC_MESSAGES"
    target.mkdir(parents=True)
    shutil.copy(CATALOGUE, target / "django.po")
    settings.LOCALE_PATHS = [tmp_path]
    call_command("compile_translations", verbosity=0)
    mo = polib.mofile(str(target / "django.mo"))
    assert {e.msgid: e.msgstr for e in mo}["Patients"] == "症例"


def test_makemessages_finds_no_untranslated_string(tmp_path):
    """Run makemessages on a copy of the project: every marked string is in the catalogue, translated."""
    if not shutil.which("xgettext"):
        if _require_services():
            pytest.fail("REGISTRY_REQUIRE_SERVICES=1 but GNU gettext (xgettext) is not installed")
        pytest.skip("needs GNU gettext's xgettext (apt-get install gettext)")
    base = settings.BASE_DIR
    copy = tmp_path / "project"
    ignored = shutil.ignore_patterns(".*", "__pycache__", "*.mo", "tests", "docs", "staticfiles", "test-artifacts")
    copy.mkdir()
    for name in ("manage.py", "registry", "analysis", "templates", "locale"):
        source = base / name
        (shutil.copytree(source, copy / name, ignore=ignored) if source.is_dir() else shutil.copy(source, copy / name))
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "ja"], cwd=copy, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    after = polib.pofile(str(copy / "locale" / "ja" / "LC_MESSAGES" / "django.po"))
    new = [e.msgid for e in after.untranslated_entries() + after.fuzzy_entries() if not e.obsolete]
    assert not new, f"{len(new)} strings without a Japanese translation (make messages, then translate): {new[:30]}"
    before = {(e.msgctxt, e.msgid) for e in catalogue()}
    stale = before - {(e.msgctxt, e.msgid) for e in after if not e.obsolete}
    assert not stale, f"catalogue entries no longer in the code (run make messages): {sorted(stale)[:20]}"


# --- the crawl --------------------------------------------------------------------------------


class Page(HTMLParser):
    """The visible text of a page (and the text of titles, labels and alternatives) and its links."""

    SHOWN_ATTRIBUTES = ("title", "alt", "aria-label", "placeholder")

    def __init__(self):
        super().__init__()
        self.text, self.links, self._hidden = [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style", "template"):
            self._hidden += 1
        self.text += [attrs[a] for a in self.SHOWN_ATTRIBUTES if attrs.get(a)]
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.text.append(attrs["value"])
        if tag == "a" and attrs.get("href") and "download" not in attrs:
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template"):
            self._hidden = max(0, self._hidden - 1)

    def handle_data(self, data):
        if not self._hidden:
            self.text.append(data)

    def visible(self):
        return " ".join(" ".join(self.text).split())


def _followed(url):
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return False  # another site, mailto:, or a fragment
    if parts.path.startswith(SKIPPED_PREFIXES) or DOWNLOADS.search(parts.path):
        return False
    return "download=" not in parts.query


def _shape(url):
    parts = urlsplit(url)
    keys = sorted(p.split("=")[0] for p in parts.query.split("&") if p)
    return re.sub(r"\d+", "N", parts.path), tuple(keys)


def crawl(client, start="/", limit=PAGES_PER_PERSONA):
    """``url -> (status, visible text)`` of the HTML pages reachable by links from ``start``."""
    seen, shapes, pages = {start}, {}, {}
    queue = deque([start])
    while queue and len(pages) < limit:
        url = queue.popleft()
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="ja")
        if response.status_code in (301, 302):
            target = urljoin(url, response["Location"])
            if _followed(target) and target not in seen:
                seen.add(target)
                queue.append(target)
            continue
        if "text/html" not in response.get("Content-Type", ""):
            continue
        page = Page()
        page.feed(response.content.decode())
        pages[url] = (response.status_code, page.visible())
        for link in page.links:
            target = urljoin(url, link).split("#")[0]
            if not target or target in seen or not _followed(target):
                continue
            shape = _shape(target)
            if shapes.get(shape, 0) >= PAGES_PER_SHAPE:
                continue
            shapes[shape] = shapes.get(shape, 0) + 1
            seen.add(target)
            queue.append(target)
    return pages


def untranslated(pages, patterns):
    """``[(url, English text)]`` found on ``pages``; user names (data, such as "site-investigator")
    are taken out of the text first."""
    from django.contrib.auth import get_user_model

    names = sorted(get_user_model().objects.values_list("username", flat=True), key=len, reverse=True)
    found = []
    for url, (_status, text) in pages.items():
        for name in names:
            text = text.replace(name, " ")
        for msgid, pattern in patterns.items():
            if pattern.search(text):
                found.append((url, msgid))
    return found


@pytest.fixture
def center(db):
    """Centers named in Japanese, so that no English of the data is taken for an untranslated string."""
    return CenterFactory(code="TKY01", name="東京小児医療センター")


@pytest.fixture
def other_center(db):
    return CenterFactory(code="OSK02", name="大阪医療センター")


@pytest.fixture
def study(center, other_center, data_manager, coordinator):
    """A study with content on every page: recurrent and refractory courses at two centers, every
    report analysis run and stored, data-quality queries and one raised by hand, source data
    verification, and a data cut."""
    from registry.cuts import services as cuts
    from registry.queries import services as queries
    from registry.queries.models import RecordType
    from tests.analysis.report_data import compute_report, registry_cohort

    patients = registry_cohort(5, center=center) + registry_cohort(3, center=other_center, trial_code="MLL98", start=5)
    relapsed_course(PatientFactory(center=center, study_id="MLL96-0020"))
    refractory = PatientFactory(
        center=center, study_id="MLL98-0021", trial=trial("MLL98"), date_of_birth=date(1999, 1, 10)
    )
    FirstLineResponseFactory(patient=refractory, outcome="INDUCTION_FAILURE")
    death = refractory.diagnosis_date + timedelta(days=90)
    FollowUpFactory(
        patient=refractory, contact_date=death, vital_status="DEAD", death_date=death, cause_of_death="LEUKEMIA"
    )
    compute_report()
    queries.run_quality_checks()
    queries.raise_query(
        user=data_manager,
        record_type=RecordType.PATIENT,
        record_id=patients[0].pk,
        field="wbc",
        message="白血球数を原資料と照合してください。",
        source="test",
    )
    queries.verify_fields(user=data_manager, record_type=RecordType.PATIENT, record_id=patients[1].pk, source="test")
    cuts.create_cut(user=data_manager, name="2026-cut", trial="MLL98", reason="中間解析", source="test")
    return patients


def test_every_page_each_role_reaches_is_japanese(client, request, study):
    """One study, every persona in turn (the study is costly to build: every analysis runs)."""
    patterns = english_patterns()
    found, crashed = [], []
    for persona in PERSONAS:
        client.logout()
        client.force_login(request.getfixturevalue(persona), backend="django.contrib.auth.backends.ModelBackend")
        pages = crawl(client)
        assert len(pages) >= (1 if persona == "outsider" else 5), (persona, sorted(pages))
        crashed += [(persona, url) for url, (status, _text) in pages.items() if status >= 500]
        found += [(persona, url, msgid) for url, msgid in untranslated(pages, patterns)]
    assert not crashed
    report = "\n".join(f"{persona} {url}: {msgid!r}" for persona, url, msgid in found[:80])
    assert not found, f"{len(found)} English strings on {len({u for _p, u, _m in found})} pages:\n{report}"


def test_the_login_page_is_japanese(client, db):
    pages = crawl(client, start=reverse("login"), limit=5)
    assert pages
    assert not untranslated(pages, english_patterns())


def test_refusal_and_not_found_pages_are_japanese(client, coordinator, other_center):
    client.force_login(coordinator)
    elsewhere = PatientFactory(center=other_center, study_id="MLL96-0030")
    pages = {}
    for url in (reverse("registry:patient-detail", args=[elsewhere.pk]), reverse("registry:audit-trail")):
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="ja")
        assert response.status_code in (403, 404)
        page = Page()
        page.feed(response.content.decode())
        pages[url] = (response.status_code, page.visible())
    assert not untranslated(pages, english_patterns())


def test_english_stays_the_default_and_the_switch_sets_japanese(client, coordinator):
    client.force_login(coordinator)
    home = reverse("registry:patient-list")
    english = client.get(home)
    assert '<html lang="en">' in english.content.decode()
    assert "Patients" in english.content.decode()
    response = client.post(reverse("set_language"), {"language": "ja", "next": home})
    assert response.status_code == 302
    japanese = client.get(home).content.decode()
    assert '<html lang="ja">' in japanese
    assert "症例" in japanese


def test_dates_stay_iso_in_japanese(client, coordinator, center):
    from django.utils import formats, translation

    with translation.override("ja"):
        assert formats.date_format(date(2026, 11, 30)) == "2026-11-30"
    client.force_login(coordinator)
    patient = relapsed_course(PatientFactory(center=center))
    page = client.get(reverse("registry:patient-detail", args=[patient.pk]), HTTP_ACCEPT_LANGUAGE="ja")
    text = page.content.decode()
    assert patient.diagnosis_date.isoformat() in text
    assert not re.search(r"\d{4}年\d{1,2}月\d{1,2}日|\d{4}/\d{2}/\d{2}", text)
