from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from analysis.api import urls as analysis_api
from registry.api import urls as registry_api
from registry.pages import urls as pages


def api_v1(*parts):
    """``/api/v1/``: the registry's and the analysis API on one router (one root page), namespace "api"."""
    router = DefaultRouter()
    for part in parts:
        for prefix, viewset, basename in part.routes:
            router.register(prefix, viewset, basename=basename)
    return [pattern for part in parts for pattern in part.urlpatterns] + router.urls


urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1(registry_api, analysis_api), "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("reports/", include("analysis.urls")),
    path("", include((pages.transfer_patterns, "transfer"))),
    path("", include("registry.pages.urls")),
]
