from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class VocabulariesConfig(AppConfig):
    """Controlled vocabularies: salvage regimens and agents, managed in the admin."""

    name = "registry.vocabularies"
    label = "vocabularies"
    verbose_name = _("Vocabularies")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        post_migrate.connect(_after_migrate, sender=self)


def _after_migrate(sender, apps=None, using="default", **kwargs):
    """After ``migrate`` or a flush: the starting lists complete again, the cached lists read again."""
    from . import models, standard

    if apps is not None and ("vocabularies", "regimen") in {
        (m._meta.app_label, m._meta.model_name) for m in apps.get_models()
    }:
        standard.ensure(apps, using=using)
    models.forget_cached()
