"""The dashboard's pages: teams and projects, workflows, runs and run-vs-run diffs."""

from django.urls import path

from dashboard import views

WORKFLOW = "workflows/<uuid:workflow_id>"
RUN = f"{WORKFLOW}/runs/<int:number>"

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/new", views.project_new, name="project-new"),
    path("projects/<int:project_id>/", views.project_page, name="project"),
    path("projects/<int:project_id>/workflows/new", views.workflow_new, name="workflow-new"),
    path("projects/<int:project_id>/secrets/set", views.secret_set, name="project-secret-set"),
    path(
        "projects/<int:project_id>/secrets/<str:name>/delete",
        views.secret_delete,
        name="project-secret-delete",
    ),
    path(f"{WORKFLOW}/", views.workflow_page, name="workflow"),
    path(f"{WORKFLOW}/compare", views.run_compare, name="run-compare"),
    path(f"{RUN}/", views.run_page, name="run"),
    path(f"{RUN}/rerun", views.run_rerun, name="run-rerun"),
    path(f"{RUN}/cancel", views.run_cancel, name="run-cancel"),
    path(f"{RUN}/jobs/<str:job_name>/", views.job_panel, name="job-panel"),
    path(f"{RUN}/jobs/<str:job_name>/log.txt", views.job_log_download, name="job-log"),
    path(f"{RUN}/diff/<int:other>/", views.run_diff, name="run-diff"),
]
