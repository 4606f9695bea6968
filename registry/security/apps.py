from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "registry.security"
    label = "security"
    verbose_name = "Security"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Django, axes and the admin announce logins, failures and lockouts only as signals.
        from . import receivers  # noqa: F401
