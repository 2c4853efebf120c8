from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from gradient import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("workflows.api.urls")),
    path("api/v1/", include("runs.api.urls")),
    path("api/v1/", include("runs.engine.argo.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("gradient/", include("gradient.cli_api.urls")),
    path("", include("dashboard.urls")),
    path("", include("triggers.urls")),
]
