"""The salvage regimen and agent lists, and the regimen texts data managers mapped to a code.

Administrators keep the lists in the admin. A salvage line stores its regimen's code
(``SalvageLine.regimen_code``): a code never changes and a regimen is never deleted once a line
uses it (PostgreSQL refuses both, migration ``registry.0011``); a regimen no longer offered is
made inactive. A text entered as "other" and mapped by a data manager becomes a
:class:`RegimenAlias`, so the same text entered later is coded at once. Every list keeps its
history of who changed what (django-simple-history, as centers do).
"""

import re
import threading
import time
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

CODE_VALIDATOR = RegexValidator(
    r"^[A-Z0-9][A-Z0-9-]{1,29}$", _("Use 2-30 capital letters, digits or hyphens, e.g. FLAG-IDA.")
)


def normalise(text):
    """A regimen text as the list compares it: case, spacing and full-width forms ignored."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", str(text or ""))).strip().casefold()


def index_of(rows):
    """{normalised code, name or Japanese name: code} of regimen rows ``(code, name, name_ja)``."""
    found = {}
    for code, name, name_ja in rows:
        for text in (name_ja, name, code):  # a code wins over another regimen's name
            if text:
                found[normalise(text)] = code
    return found


# The codes and the text index, read at most every CACHE_SECONDS per process (and again after a save
# in it): an import checks thousands of salvage lines against them. Codes are never deleted or
# renamed, so a stale copy can only miss an entry added in another process in the last seconds.
CACHE_SECONDS = 10
_cache = {"at": -CACHE_SECONDS - 1.0, "codes": (), "index": {}}
_cache_lock = threading.Lock()


def _cached():
    with _cache_lock:
        if time.monotonic() - _cache["at"] > CACHE_SECONDS:
            rows = list(Regimen.objects.values_list("code", "name", "name_ja", "active"))
            index = {normalise(alias): code for alias, code in RegimenAlias.objects.values_list("text", "regimen")}
            index.update(index_of((code, name, name_ja) for code, name, name_ja, active in rows if active))
            _cache.update(at=time.monotonic(), codes=tuple(sorted(row[0] for row in rows)), index=index)
        return _cache


def forget_cached():
    """Read the lists again on next use (after a change in this process)."""
    with _cache_lock:
        _cache["at"] = -CACHE_SECONDS - 1.0


def text_index():
    """{normalised text: code} of every text the list codes (active regimens' codes and names, mapped
    texts), read now: what the entry page's hint checks as one types."""
    index = {normalise(alias): code for alias, code in RegimenAlias.objects.values_list("text", "regimen")}
    index.update(index_of(Regimen.objects.active().values_list("code", "name", "name_ja")))
    return index


def regimen_codes():
    """Every regimen code, active or not, sorted (a tuple)."""
    return _cached()["codes"]


def code_for_text(text):
    """The code a regimen text stands for: an active regimen's code, name or Japanese name, or a
    text a data manager mapped (case, spacing and full-width forms aside); "" if none."""
    key = normalise(text)
    return _cached()["index"].get(key, "") if key else ""


def validate_regimen_code(code):
    """A salvage line's code must be one of the list (the last check reads the database)."""
    if code and code not in regimen_codes() and not Regimen.objects.filter(code=code).exists():
        raise ValidationError(
            _("Unknown regimen code %(code)s: use a code of the registry's regimen list."),
            code="unknown_regimen",
            params={"code": repr(code)},
        )


class Agent(models.Model):
    """One antileukemic agent (by its international non-proprietary name)."""

    code = models.CharField(_("code"), max_length=30, unique=True, validators=[CODE_VALIDATOR])
    name = models.CharField(_("name"), max_length=120, unique=True)
    name_ja = models.CharField(_("name in Japanese"), max_length=120, blank=True)
    active = models.BooleanField(_("active"), default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("agent")
        verbose_name_plural = _("agents")

    def __str__(self):
        return self.name


class RegimenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(active=True)


class Regimen(models.Model):
    """A salvage regimen or protocol: the code the analyses and exports group salvage lines by."""

    code = models.CharField(
        _("code"),
        max_length=30,
        unique=True,
        validators=[CODE_VALIDATOR],
        help_text=_("Fixed once created (salvage lines store it); retire a regimen by unticking active."),
    )
    name = models.CharField(_("name"), max_length=120, unique=True)
    name_ja = models.CharField(_("name in Japanese"), max_length=120, blank=True)
    description = models.TextField(_("description"), blank=True)
    agents = models.ManyToManyField(Agent, verbose_name=_("usual agents"), blank=True, related_name="regimens")
    active = models.BooleanField(_("active"), default=True, help_text=_("Offered in the pick list of the entry pages."))

    objects = RegimenQuerySet.as_manager()
    history = HistoricalRecords(m2m_fields=[agents])

    class Meta:
        ordering = ["code"]
        verbose_name = _("regimen")
        verbose_name_plural = _("regimens")

    def __str__(self):
        return self.code if normalise(self.code) == normalise(self.name) else f"{self.code} ({self.name})"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        forget_cached()

    def agent_names(self):
        return ", ".join(agent.name for agent in self.agents.all())


class RegimenAlias(models.Model):
    """A regimen text entered as "other" that a data manager mapped to a code (``services.code_regimen_text``)."""

    text = models.CharField(_("regimen text"), max_length=120, unique=True, help_text=_("Normalised: lower case."))
    regimen = models.ForeignKey(
        Regimen,
        verbose_name=_("regimen"),
        to_field="code",
        db_column="regimen_code",
        on_delete=models.PROTECT,
        related_name="aliases",
    )
    created_at = models.DateTimeField(_("mapped at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("mapped by"), null=True, blank=True, on_delete=models.PROTECT
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["text"]
        verbose_name = _("mapped regimen text")
        verbose_name_plural = _("mapped regimen texts")

    def __str__(self):
        return f"{self.text} → {self.regimen_id}"

    def save(self, *args, **kwargs):
        self.text = normalise(self.text)
        super().save(*args, **kwargs)
        forget_cached()
