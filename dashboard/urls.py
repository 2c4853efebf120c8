"""The dashboard's pages: teams and projects, workflows, runs, run-vs-run diffs, profile."""

from django.urls import path

from dashboard import registries, views

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
    path("teams/<int:team_id>/", views.team_page, name="team"),
    path("teams/<int:team_id>/members/add", views.member_add, name="member-add"),
    path("teams/<int:team_id>/members/<int:user_id>/role", views.member_role, name="member-role"),
    path(
        "teams/<int:team_id>/members/<int:user_id>/remove",
        views.member_remove,
        name="member-remove",
    ),
    path("profile/", views.profile, name="profile"),
    path("profile/keys/new", views.api_key_new, name="api-key-new"),
    path("profile/keys/<int:key_id>/revoke", views.api_key_revoke, name="api-key-revoke"),
    path(
        "teams/<int:team_id>/registries/add",
        registries.registry_add,
        name="registry-add",
    ),
    path(
        "teams/<int:team_id>/registries/<str:name>/delete",
        registries.registry_delete,
        name="registry-delete",
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
