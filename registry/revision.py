"""The analysis data's revision: one counter that every clinical write moves.

A model of the ``registry`` app (imported by ``registry.models``). On PostgreSQL the trail's
capture trigger moves it; on SQLite ``registry.audit.data_changed`` does.
"""

from django.db import models
from django.db.models import F


class DataRevision(models.Model):
    """A counter bumped by every clinical write, so analyses know when their input changed.

    One row. ``bump()`` runs inside the writing transaction; analysis runs store the revision
    they read, and the scheduler starts a new run once the data has been quiet for a while.
    """

    revision = models.PositiveBigIntegerField(default=0)
    changed_at = models.DateTimeField(null=True)

    def __str__(self):
        return f"data revision {self.revision}"

    @classmethod
    def bump(cls):
        from django.utils import timezone

        updated = cls.objects.filter(pk=1).update(revision=F("revision") + 1, changed_at=timezone.now())
        if not updated:
            cls.objects.get_or_create(pk=1, defaults={"revision": 1, "changed_at": timezone.now()})

    @classmethod
    def current(cls):
        row = cls.objects.filter(pk=1).first()
        return row or cls(pk=1, revision=0, changed_at=None)
