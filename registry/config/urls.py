from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from analysis.api import urls as analysis_api
from registry.api import urls as registry_api
from registry.cuts import api as cuts_api
from registry.ops import health, problems
from registry.pages import urls as pages
from registry.queries import api as queries_api
from registry.security.middleware import SWAGGER_UI_POLICY, content_security_policy


def api_v1(*parts):
    """``/api/v1/``: the registry's and the analysis API on one router (one root page), namespace "api"."""
    router = DefaultRouter()
    for part in parts:
        for prefix, viewset, basename in part.routes:
            router.register(prefix, viewset, basename=basename)
    return [pattern for part in parts for pattern in part.urlpatterns] + router.urls


urlpatterns = [
    path("health/", health.health, name="health"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the header's language switch
    path("", include("registry.security.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1(registry_api, analysis_api, queries_api, cuts_api), "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: no inline script (Content-Security-Policy).
    path(
        "api/docs/",
        content_security_policy(SWAGGER_UI_POLICY)(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("reports/", include("analysis.urls")),
    path("queries/", include("registry.queries.urls")),
    path("cuts/", include("registry.cuts.urls")),
    path("signatures/", include("registry.signatures.urls")),
    path("vocabularies/", include("registry.vocabularies.urls")),
    path("", include((pages.transfer_patterns, "transfer"))),
    path("", include("registry.pages.urls")),
]

# Under /api/ an unknown URL or a crash answers a JSON problem document (registry.ops.problems).
handler404 = problems.handler404
handler500 = problems.handler500
