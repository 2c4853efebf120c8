"""/api/v1/ URLs of runs and job logs (ids match any text so bad ones answer JSON 404s)."""

from django.urls import path

from runs.api import views

RUN = "workflows/<str:workflow_id>/runs/<str:number>"

urlpatterns = [
    path("workflows/<str:workflow_id>/runs", views.RunListView.as_view(), name="api-runs"),
    path(RUN, views.RunDetailView.as_view(), name="api-run"),
    path(f"{RUN}/cancel", views.RunCancelView.as_view(), name="api-run-cancel"),
    path(f"{RUN}/rerun", views.RunRerunView.as_view(), name="api-run-rerun"),
    path(f"{RUN}/jobs/<str:job_name>/logs", views.JobLogsView.as_view(), name="api-job-logs"),
]
