"""Routes of the gradient CLI surface; paths are exactly the CLI's (only projects end in "/")."""

from django.urls import path, re_path

from gradient.cli_api import views

urlpatterns = [
    path("projects/", views.projects),
    path("projects", views.projects),
    path("teams/namespace", views.team_namespace),
    path("workflows", views.workflows),
    path("workflows/<str:workflow_id>", views.workflow_detail),
    path("workflows/<str:workflow_id>/runs", views.workflow_runs),
    path("workflows/<str:workflow_id>/runs/<str:number>", views.workflow_run),
    path("jobs/logs", views.job_logs),
    path("clusters/getClusters", views.clusters_list),
]
for scope in ("team", "project", "cluster"):
    urlpatterns += [
        path(f"{scope}s/secrets", views.secrets_list, {"scope": scope}),
        path(f"{scope}s/secrets/<path:name>", views.secret_detail, {"scope": scope}),
    ]
urlpatterns.append(re_path(r"^(?P<path>.*)$", views.not_found))
