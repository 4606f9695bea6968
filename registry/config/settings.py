"""Settings for the MLL infant leukemia registry.

One module, read from environment variables. Unset variables fall back to the
embedded defaults a laptop needs (SQLite, analyses run in process); production
sets DEBUG=0 and must then provide a real SECRET_KEY and ALLOWED_HOSTS, or the
process refuses to start.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def envbool(name, default):
    value = os.getenv(name, default)
    if value in ("1", "true", "True", "yes", "on"):
        return True
    if value in ("0", "false", "False", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (0/1), got {value!r}")


def envint(name, default):
    value = os.getenv(name, default)
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def envlist(name, default=""):
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", "1")
_DEV_SECRET_KEY = "insecure-development-key-do-not-use-in-production"
SECRET_KEY = os.getenv("SECRET_KEY", _DEV_SECRET_KEY if DEBUG else "")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver" if DEBUG else "")

if not DEBUG:
    if not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be set to a random string of 50+ characters when DEBUG=0")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG=0")

INSTALLED_APPS = [
    # The Django admin, whose site asks for the second factor (registry.security.admin_site).
    "registry.security.admin_config.VerifiedAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_celery_beat",
    "registry",
    "registry.security",
    "registry.queries",
    "registry.cuts",
    "registry.signatures",
    "registry.vocabularies",
    "registry.ops",
    "analysis",
]

MIDDLEWARE = [
    # First: a request id for every log line and API error, the access log, JSON errors under /api/.
    "registry.ops.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "registry.security.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language from the header's switch (session cookie) or else the browser's Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Lets security events know the request (address, browser) wherever they are recorded.
    "registry.security.middleware.RequestContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Admins and data managers reach only the two-factor pages until they verify a second factor.
    "registry.security.middleware.TwoFactorMiddleware",
    # Records the logged-in user on history rows written during a request.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, so it sees failed logins from every authentication path.
    "axes.middleware.AxesMiddleware",
    # Last: sees the authenticated API user; replays the first response to a repeated Idempotency-Key.
    "registry.ops.middleware.IdempotencyMiddleware",
]

ROOT_URLCONF = "registry.config.urls"
WSGI_APPLICATION = "registry.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.getenv("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", "60"),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The default cache (throttling, sessions' helpers) stays per process. "summaries" holds the
# dashboard's study-wide counts, one entry per data revision (analysis.dashboard): shared by every
# process through Redis when there is one, else kept per process.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "summaries": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": f"mll-summaries:{DATABASES['default']['NAME']}",
            "TIMEOUT": 2 * 24 * 3600,
        }
        if os.getenv("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "summaries"}
    ),
}

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "registry.security.passwords.RepeatedCharacterValidator"},
    # Not a rule: records a security event whenever a password is set, by any path.
    {"NAME": "registry.security.passwords.PasswordChangeEvents"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "registry:patient-list"
LOGOUT_REDIRECT_URL = "login"

# Failed-login lockout: five failures for one username from one address lock it for an hour.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", "5")
AXES_COOLOFF_TIME = 1  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Keep every failure (address, browser) in axes' failure log too; the security events keep them all.
AXES_ENABLE_ACCESS_FAILURE_LOG = True

# Two-factor sign-in (registry.security.twofactor): admins and data managers must verify a
# second factor. Off only for the test suite (tests/conftest.py) or, if chosen, a local demo.
REGISTRY_REQUIRE_2FA = envbool("REGISTRY_REQUIRE_2FA", "1")
OTP_TOTP_ISSUER = "MLL registry"

# Content-Security-Policy on every response (registry.security.middleware): scripts only from
# our own static files, no inline script; inline style attributes stay allowed (the dashboard's
# completeness meters). The Swagger UI page sets its own, wider policy (registry.config.urls).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

LANGUAGE_CODE = "en-us"  # the fallback when the browser asks for neither language
LANGUAGES = [("en", "English"), ("ja", "日本語")]
# Catalogues in locale/ (.po committed; `manage.py compile_translations` writes the .mo).
LOCALE_PATHS = [BASE_DIR / "locale"]
# Dates ISO (YYYY-MM-DD) in both languages (registry/formats/<lang>/formats.py).
FORMAT_MODULE_PATH = ["registry.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "registry" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

REST_FRAMEWORK = {
    # Never AllowAny: every view needs a logged-in user with a registry role (registry.api.permissions).
    "DEFAULT_PERMISSION_CLASSES": ["registry.api.permissions.HasRegistryRole"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an unauthenticated request then gets 401 with WWW-Authenticate: Token.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "registry.api.filters.StrictOrderingFilter",  # an unknown field is a 400, not the default order
    ],
    # JSON only: one body format per record endpoint, so a generated client has one to choose. The
    # import upload (a file) declares its own multipart parser (registry.api.views.ImportJobViewSet).
    "DEFAULT_PARSER_CLASSES": ["registry.api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # Page numbers for the short lists; the clinical lists page by cursor (registry.api.views.ClinicalViewSet).
    "DEFAULT_PAGINATION_CLASS": "registry.api.pagination.RegistryPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.getenv("API_THROTTLE_ANON", "30/minute"),
        "user": os.getenv("API_THROTTLE_USER", "1200/minute"),
    },
    "EXCEPTION_HANDLER": "registry.api.exceptions.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "MLL96/MLL98 infant ALL registry API",
    "DESCRIPTION": "Clinical records scoped to the caller's centers, optimistic locking with ETag/If-Match, "
    "reasons for change, bulk import and exports. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["registry.api.permissions.HasRegistryRole"],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from drf-spectacular-sidecar's static files: works offline
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "AnalysisRunStatusEnum": "analysis.models.AnalysisRun.Status",
        "ImportJobStatusEnum": "registry.models.ImportJob.Status",
    },
    # What the API really answers: problem documents for every error status, the version headers,
    # and links from each create to its read, edit and delete (registry/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "registry.api.schema.postprocess",
    ],
}

# Celery: without a broker URL, tasks run in process (the embedded default).
CELERY_BROKER_URL = os.getenv("CELERY_BROKER_URL", os.getenv("REDIS_URL", ""))
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_IGNORE_RESULT = True  # runs store their own outcome in AnalysisRun
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# An unacknowledged task (its worker died) is delivered again after this many seconds; it must
# exceed the longest analysis run.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", "3600")}
# django-celery-beat's database scheduler, stamping beat's heartbeat for /health/.
CELERY_BEAT_SCHEDULER = "registry.ops.liveness:BeatScheduler"
# A broker that is down must not hold a request for long: one quick retry, then the outbox keeps it.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS["socket_connect_timeout"] = 2
CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"] = 5
# Background work (registry.ops.handoff): a running task stamps a heartbeat this often; one silent
# for TASK_LOST_AFTER_SECONDS lost its worker and is re-queued once; a queued one not yet taken is
# sent again after TASK_RESEND_AFTER_SECONDS; /health/ wants a worker heartbeat younger than
# WORKER_STALE_AFTER_SECONDS.
TASK_HEARTBEAT_SECONDS = envint("TASK_HEARTBEAT_SECONDS", "10")
TASK_LOST_AFTER_SECONDS = envint("TASK_LOST_AFTER_SECONDS", "120")
TASK_RESEND_AFTER_SECONDS = envint("TASK_RESEND_AFTER_SECONDS", "60")
WORKER_STALE_AFTER_SECONDS = envint("WORKER_STALE_AFTER_SECONDS", "90")
# Without a broker (the embedded demo) nothing runs beat's after-change refresh: the process runs it
# itself, ANALYSIS_QUIET_SECONDS after the last edit (debounced). With a broker, beat does it every minute.
ANALYSIS_QUIET_SECONDS = envint("ANALYSIS_QUIET_SECONDS", "120")
# Where the analyses keep the course table between runs (analysis.course_table; PostgreSQL only):
# one file per database, shared by the worker processes of the machine. Empty: never kept.
COURSE_TABLE_DIR = os.getenv("COURSE_TABLE_DIR", str(BASE_DIR / "var" / "course-tables"))
ANALYSIS_REFRESH_IN_PROCESS = envbool("ANALYSIS_REFRESH_IN_PROCESS", "1" if CELERY_TASK_ALWAYS_EAGER else "0")
# A repeated API POST with the same Idempotency-Key gets the first response for this long.
IDEMPOTENCY_KEY_HOURS = envint("IDEMPOTENCY_KEY_HOURS", "24")

# Production hardening; `manage.py check --deploy` is clean with DEBUG=0.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "0" if DEBUG else "1")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = 0 if DEBUG else envint("SECURE_HSTS_SECONDS", "31536000")
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if envbool("BEHIND_TLS_PROXY", "0") else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", str(8 * 3600))
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

# JSON lines (registry.ops.jsonlog) with the request id and user; LOG_FORMAT=text for plain lines.
LOG_FORMAT = os.getenv("LOG_FORMAT", "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "registry.ops.jsonlog.JsonFormatter"},
        "text": {"format": "%(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO" if not DEBUG else "WARNING")},
    # One line per request (method, path, status, duration_ms, user); ACCESS_LOG=0 silences it.
    "loggers": {"registry.access": {"level": "INFO" if envbool("ACCESS_LOG", "1") else "WARNING"}},
}
