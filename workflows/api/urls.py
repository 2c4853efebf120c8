"""/api/v1/ URLs of teams, projects, workflows, datasets, clusters, secrets and the validator.

Ids are matched as any text so that a malformed id answers the API's JSON 404
rather than Django's HTML one.
"""

from django.urls import path

from workflows.api import registries, views
from workflows.models import Secret

DATASET_VERSION = "datasets/<str:dataset_id>/versions/<str:version>"

urlpatterns = [
    path("teams", views.TeamListView.as_view(), name="api-teams"),
    path("teams/<str:team_id>", views.TeamDetailView.as_view(), name="api-team"),
    path(
        "teams/<str:team_id>/members", views.TeamMemberListView.as_view(), name="api-team-members"
    ),
    path(
        "teams/<str:team_id>/members/<str:user_id>",
        views.TeamMemberDetailView.as_view(),
        name="api-team-member",
    ),
    path("projects", views.ProjectListView.as_view(), name="api-projects"),
    path("projects/<str:project_id>", views.ProjectDetailView.as_view(), name="api-project"),
    path("workflows", views.WorkflowListView.as_view(), name="api-workflows"),
    path("workflows/<str:workflow_id>", views.WorkflowDetailView.as_view(), name="api-workflow"),
    path(
        "workflows/<str:workflow_id>/spec",
        views.WorkflowSpecView.as_view(),
        name="api-workflow-spec",
    ),
    path("datasets", views.DatasetListView.as_view(), name="api-datasets"),
    path("datasets/<str:dataset_id>", views.DatasetDetailView.as_view(), name="api-dataset"),
    path(
        "datasets/<str:dataset_id>/versions",
        views.DatasetVersionListView.as_view(),
        name="api-dataset-versions",
    ),
    path(
        f"{DATASET_VERSION}/files",
        views.DatasetVersionFilesView.as_view(),
        name="api-dataset-files",
    ),
    path(
        f"{DATASET_VERSION}/files/<path:file_path>",
        views.DatasetFileView.as_view(),
        name="api-dataset-file",
    ),
    path("clusters", views.ClusterListView.as_view(), name="api-clusters"),
    path("clusters/<str:cluster_id>", views.ClusterDetailView.as_view(), name="api-cluster"),
    path(
        "teams/<str:owner_id>/secrets",
        views.SecretListView.as_view(scope=Secret.Scope.TEAM),
        name="api-team-secrets",
    ),
    path(
        "teams/<str:owner_id>/secrets/<str:name>",
        views.SecretDetailView.as_view(scope=Secret.Scope.TEAM),
        name="api-team-secret",
    ),
    path(
        "projects/<str:owner_id>/secrets",
        views.SecretListView.as_view(scope=Secret.Scope.PROJECT),
        name="api-project-secrets",
    ),
    path(
        "projects/<str:owner_id>/secrets/<str:name>",
        views.SecretDetailView.as_view(scope=Secret.Scope.PROJECT),
        name="api-project-secret",
    ),
    path(
        "clusters/<str:owner_id>/secrets",
        views.SecretListView.as_view(scope=Secret.Scope.CLUSTER),
        name="api-cluster-secrets",
    ),
    path(
        "clusters/<str:owner_id>/secrets/<str:name>",
        views.SecretDetailView.as_view(scope=Secret.Scope.CLUSTER),
        name="api-cluster-secret",
    ),
    path(
        "teams/<str:team_id>/container-registries",
        registries.ContainerRegistryListView.as_view(),
        name="api-team-registries",
    ),
    path(
        "teams/<str:team_id>/container-registries/<str:name>",
        registries.ContainerRegistryDetailView.as_view(),
        name="api-team-registry",
    ),
    path("validate", views.ValidateView.as_view(), name="api-validate"),
    path("spec-schema", views.SpecSchemaView.as_view(), name="api-spec-schema"),
]
