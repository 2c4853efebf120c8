"""/api/v1/ URLs of the Argo manifest (ids match any text so bad ones answer JSON 404s)."""

from django.urls import path

from runs.engine.argo import views

urlpatterns = [
    path(
        "workflows/<str:workflow_id>/runs/<str:number>/argo-manifest",
        views.RunManifestView.as_view(),
        name="api-run-argo-manifest",
    ),
    path("argo-manifest", views.SpecManifestView.as_view(), name="api-argo-manifest"),
]
