"""REST API views for teams, projects, workflows and their specs, datasets, clusters, secrets.

Each view parses its input, finds what the user may see (404 otherwise),
checks its `actions` against workflows.access (403 for a member refused an
owner's action), calls one service or selector and renders the answer.
Errors raised by services become answers in gradient.api_errors.
"""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.settings import api_settings

from gradient.api.base import (
    PAGE_PARAMETERS,
    PlainTextParser,
    PlainTextRenderer,
    found,
    paginated,
    path_id,
)
from gradient.api_errors import spec_error_dicts
from workflows import selectors, services
from workflows.access import Action, removal_action
from workflows.api import serializers as s
from workflows.api.permissions import ApiView
from workflows.models import Secret
from workflows.spec import spec_json_schema

ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="The request needs fixing."),
    404: OpenApiResponse(s.ErrorSerializer, description="Not there, or not yours to see."),
}
FORBIDDEN = OpenApiResponse(
    s.ErrorSerializer, description="Your role in the team does not allow it."
)
DELETE_ERRORS = {
    403: FORBIDDEN,
    404: ERRORS[404],
    409: OpenApiResponse(s.ErrorSerializer, description="Still in use; the detail says by what."),
}
TEAM_ID = path_id("team_id")
PROJECT_ID = path_id("project_id")
WORKFLOW_ID = path_id("workflow_id", OpenApiTypes.UUID)
DATASET_ID = path_id("dataset_id", str)
CLUSTER_ID = path_id("cluster_id")


def _filters(request) -> dict:
    return ApiView.valid(s.ListFilterSerializer, request.query_params)


class TeamListView(ApiView):
    @extend_schema(
        summary="Your teams",
        operation_id="teams_list",
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(s.TeamSerializer)},
    )
    def get(self, request) -> Response:
        teams = selectors.team_list(user=request.user)
        return self.paginate(teams, lambda page: s.TeamSerializer(page, many=True).data)


class TeamDetailView(ApiView):
    @extend_schema(
        summary="A team and its members",
        parameters=[TEAM_ID],
        responses={200: s.TeamDetailSerializer, 404: ERRORS[404]},
    )
    def get(self, request, team_id: str) -> Response:
        team = found(selectors.team_get(user=request.user, team_id=team_id), f"team {team_id}")
        return Response(s.TeamDetailSerializer(team).data)


MEMBER_ERRORS = {
    400: ERRORS[400],
    403: FORBIDDEN,
    404: ERRORS[404],
    409: OpenApiResponse(
        s.ErrorSerializer, description="Already a member, or the team's last owner."
    ),
}
USER_ID = path_id("user_id", int, "The member's user id.")


def _team(request, team_id: str):
    return found(selectors.team_get(user=request.user, team_id=team_id), f"team {team_id}")


class TeamMemberListView(ApiView):
    actions = {"POST": Action.MANAGE_MEMBERS}

    @extend_schema(
        summary="A team's members and their roles",
        parameters=[TEAM_ID],
        responses={200: s.MemberSerializer(many=True), 404: ERRORS[404]},
    )
    def get(self, request, team_id: str) -> Response:
        team = _team(request, team_id)
        return Response(s.MemberSerializer(team.member_list, many=True).data)

    @extend_schema(
        summary="Add someone to the team by username or email (owners only)",
        parameters=[TEAM_ID],
        request=s.MemberAddSerializer,
        responses={201: s.MemberSerializer, **MEMBER_ERRORS},
    )
    def post(self, request, team_id: str) -> Response:
        team = _team(request, team_id)
        self.check_object_permissions(request, team)
        data = self.valid(s.MemberAddSerializer, request.data)
        membership = services.membership_add(team=team, user=data["user"], role=data["role"])
        return Response(s.MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


class TeamMemberDetailView(ApiView):
    actions = {"PATCH": Action.MANAGE_MEMBERS, "DELETE": Action.MANAGE_MEMBERS}

    def action_for(self, request, obj):
        if request.method == "DELETE":
            return removal_action(request.user, obj)
        return super().action_for(request, obj)

    def _membership(self, request, team_id: str, user_id: str):
        team = _team(request, team_id)
        membership = selectors.membership_get(team=team, user_id=user_id)
        membership = found(membership, f"member {user_id} of team {team_id}")
        self.check_object_permissions(request, membership)
        return membership

    @extend_schema(
        summary="Change a member's role (owners only); the last owner stays an owner",
        parameters=[TEAM_ID, USER_ID],
        request=s.MemberRoleSerializer,
        responses={200: s.MemberSerializer, **MEMBER_ERRORS},
    )
    def patch(self, request, team_id: str, user_id: str) -> Response:
        membership = self._membership(request, team_id, user_id)
        role = self.valid(s.MemberRoleSerializer, request.data)["role"]
        membership = services.membership_role_change(membership=membership, role=role)
        return Response(s.MemberSerializer(membership).data)

    @extend_schema(
        summary="Remove a member (owners), or leave the team (your own id); not the last owner",
        parameters=[TEAM_ID, USER_ID],
        responses={204: None, **MEMBER_ERRORS},
    )
    def delete(self, request, team_id: str, user_id: str) -> Response:
        services.membership_remove(membership=self._membership(request, team_id, user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectListView(ApiView):
    actions = {"POST": Action.CREATE_PROJECT}

    @extend_schema(
        summary="Projects of your teams",
        operation_id="projects_list",
        parameters=[
            OpenApiParameter("team", int, description="Only this team's."),
            *PAGE_PARAMETERS,
        ],
        responses={200: paginated(s.ProjectSerializer), 400: ERRORS[400]},
    )
    def get(self, request) -> Response:
        projects = selectors.project_list(user=request.user, team_id=_filters(request).get("team"))
        return self.paginate(projects, lambda page: s.ProjectSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a project in one of your teams",
        request=s.ProjectCreateSerializer,
        responses={201: s.ProjectSerializer, 400: ERRORS[400]},
    )
    def post(self, request) -> Response:
        data = self.valid(s.ProjectCreateSerializer, request.data)
        team = selectors.team_get(user=request.user, team_id=data["teamId"])
        if team is None:
            raise services.InvalidRequest(
                f"teamId: you are not in a team with id {data['teamId']}; GET /api/v1/teams "
                "lists yours",
                field="teamId",
            )
        self.check_object_permissions(request, team)
        project = services.project_create(team=team, name=data["name"])
        return Response(s.ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(ApiView):
    actions = {"DELETE": Action.DELETE}

    def _project(self, request, project_id: str):
        project = selectors.project_get(user=request.user, project_id=project_id)
        project = found(project, f"project {project_id}")
        self.check_object_permissions(request, project)
        return project

    @extend_schema(
        summary="A project",
        parameters=[PROJECT_ID],
        responses={200: s.ProjectSerializer, 404: ERRORS[404]},
    )
    def get(self, request, project_id: str) -> Response:
        return Response(s.ProjectSerializer(self._project(request, project_id)).data)

    @extend_schema(
        summary="Delete a project with everything in it (owners only)",
        parameters=[PROJECT_ID],
        responses={204: None, **DELETE_ERRORS},
    )
    def delete(self, request, project_id: str) -> Response:
        services.project_delete(project=self._project(request, project_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WorkflowListView(ApiView):
    actions = {"POST": Action.EDIT_WORKFLOW}

    @extend_schema(
        summary="Workflows of your projects",
        operation_id="workflows_list",
        parameters=[
            OpenApiParameter("project", int, description="Only this project's."),
            *PAGE_PARAMETERS,
        ],
        responses={200: paginated(s.WorkflowSerializer), 400: ERRORS[400]},
    )
    def get(self, request) -> Response:
        workflows = selectors.workflow_list(
            user=request.user, project_id=_filters(request).get("project")
        )
        return self.paginate(workflows, lambda page: s.WorkflowSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a workflow (without a spec; PUT one to its /spec)",
        request=s.WorkflowCreateSerializer,
        responses={201: s.WorkflowSerializer, 400: ERRORS[400]},
    )
    def post(self, request) -> Response:
        data = self.valid(s.WorkflowCreateSerializer, request.data)
        project = _project_for_body(request, data["projectId"])
        self.check_object_permissions(request, project)
        workflow = services.workflow_create(project=project, name=data["name"], user=request.user)
        return Response(s.WorkflowSerializer(workflow).data, status=status.HTTP_201_CREATED)


def _project_for_body(request, project_id: int):
    project = selectors.project_get(user=request.user, project_id=project_id)
    if project is None:
        raise services.InvalidRequest(
            f"projectId: there is no project {project_id} in your teams; GET /api/v1/projects "
            "lists yours",
            field="projectId",
        )
    return project


class WorkflowDetailView(ApiView):
    actions = {"DELETE": Action.DELETE}

    def _workflow(self, request, workflow_id: str):
        workflow = selectors.workflow_get(user=request.user, workflow_id=workflow_id)
        workflow = found(workflow, f"workflow {workflow_id}")
        self.check_object_permissions(request, workflow)
        return workflow

    @extend_schema(
        summary="A workflow",
        parameters=[WORKFLOW_ID],
        responses={200: s.WorkflowSerializer, 404: ERRORS[404]},
    )
    def get(self, request, workflow_id: str) -> Response:
        return Response(s.WorkflowSerializer(self._workflow(request, workflow_id)).data)

    @extend_schema(
        summary="Delete a workflow and its runs (owners only)",
        parameters=[WORKFLOW_ID],
        responses={204: None, **DELETE_ERRORS},
    )
    def delete(self, request, workflow_id: str) -> Response:
        services.workflow_delete(workflow=self._workflow(request, workflow_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


def spec_text_from(request) -> str | bytes:
    """The spec of a text/plain body, or of a JSON body's `spec`.

    Bytes when a text/plain body is not UTF-8 (the validator says where); an
    empty text/plain body is the empty spec, which DRF reads as no data at all.
    """
    if request.content_type.startswith(PlainTextParser.media_type):
        return request.data if isinstance(request.data, str | bytes) else ""
    return ApiView.valid(s.SpecBodySerializer, request.data)["spec"]


class WorkflowSpecView(ApiView):
    """The workflow's default spec, as text/plain or as JSON `{"spec": ..., "sha256": ...}`."""

    parser_classes = [*ApiView.parser_classes, PlainTextParser]
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, PlainTextRenderer]
    actions = {"PUT": Action.EDIT_WORKFLOW}

    def _answer(self, request, spec) -> Response:
        if request.accepted_renderer.format == PlainTextRenderer.format:
            return Response(spec.text, content_type="text/plain; charset=utf-8")
        return Response({"spec": spec.text, "sha256": spec.sha256})

    @extend_schema(
        summary="The workflow's default spec",
        parameters=[WORKFLOW_ID],
        responses={
            (200, "application/json"): s.SpecTextSerializer,
            (200, "text/plain"): OpenApiTypes.STR,
            404: ERRORS[404],
        },
    )
    def get(self, request, workflow_id: str) -> Response:
        workflow = selectors.workflow_default_spec_get(user=request.user, workflow_id=workflow_id)
        workflow = found(workflow, f"workflow {workflow_id}")
        if workflow.default_spec is None:
            raise services.InvalidRequest(
                f'workflow "{workflow.name}" has no default spec yet; PUT one to this URL',
                status=status.HTTP_404_NOT_FOUND,
            )
        return self._answer(request, workflow.default_spec)

    @extend_schema(
        summary="Validate a spec and make it the workflow's default",
        parameters=[WORKFLOW_ID],
        request={"application/json": s.SpecBodySerializer, "text/plain": OpenApiTypes.STR},
        responses={
            (200, "application/json"): s.SpecTextSerializer,
            (200, "text/plain"): OpenApiTypes.STR,
            400: OpenApiResponse(s.ErrorSerializer, description="Invalid; `errors` say where."),
            404: ERRORS[404],
            413: OpenApiResponse(s.ErrorSerializer, description="The spec is over 1 MiB."),
        },
    )
    def put(self, request, workflow_id: str) -> Response:
        workflow = selectors.workflow_get(user=request.user, workflow_id=workflow_id)
        workflow = found(workflow, f"workflow {workflow_id}")
        self.check_object_permissions(request, workflow)
        spec = services.workflow_spec_update(workflow=workflow, text=spec_text_from(request))
        return self._answer(request, spec)


class DatasetListView(ApiView):
    actions = {"POST": Action.UPLOAD_DATASET}

    @extend_schema(
        summary="Datasets of your projects",
        operation_id="datasets_list",
        parameters=[
            OpenApiParameter("project", int, description="Only this project's."),
            *PAGE_PARAMETERS,
        ],
        responses={200: paginated(s.DatasetSerializer), 400: ERRORS[400]},
    )
    def get(self, request) -> Response:
        datasets = selectors.dataset_list(
            user=request.user, project_id=_filters(request).get("project")
        )
        return self.paginate(datasets, lambda page: s.DatasetSerializer(page, many=True).data)

    @extend_schema(
        summary="Create an empty dataset; upload files to make its first version",
        request=s.DatasetCreateSerializer,
        responses={201: s.DatasetSerializer, 400: ERRORS[400]},
    )
    def post(self, request) -> Response:
        data = self.valid(s.DatasetCreateSerializer, request.data)
        project = _project_for_body(request, data["projectId"])
        self.check_object_permissions(request, project)
        dataset = services.dataset_create(
            project=project, name=data["name"], description=data["description"]
        )
        return Response(s.DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailView(ApiView):
    actions = {"DELETE": Action.DELETE}

    def _dataset(self, request, dataset_id: str):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        dataset = found(dataset, f"dataset {dataset_id}")
        self.check_object_permissions(request, dataset)
        return dataset

    @extend_schema(
        summary="A dataset with its versions, newest first",
        parameters=[DATASET_ID],
        responses={200: s.DatasetDetailSerializer, 404: ERRORS[404]},
    )
    def get(self, request, dataset_id: str) -> Response:
        return Response(s.DatasetDetailSerializer(self._dataset(request, dataset_id)).data)

    @extend_schema(
        summary="Delete a dataset, its versions and their files (owners only)",
        parameters=[DATASET_ID],
        responses={204: None, **DELETE_ERRORS},
    )
    def delete(self, request, dataset_id: str) -> Response:
        services.dataset_delete(dataset=self._dataset(request, dataset_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetVersionListView(ApiView):
    parser_classes = [MultiPartParser]
    actions = {"POST": Action.UPLOAD_DATASET}

    @extend_schema(
        summary="Upload files as a new committed version of the dataset",
        parameters=[DATASET_ID],
        request={"multipart/form-data": s.DatasetUploadSerializer},
        responses={201: s.DatasetVersionSerializer, 400: ERRORS[400], 404: ERRORS[404]},
    )
    def post(self, request, dataset_id: str) -> Response:
        dataset = selectors.dataset_list(user=request.user).filter(pk=dataset_id).first()
        dataset = found(dataset, f"dataset {dataset_id}")
        self.check_object_permissions(request, dataset)
        data = self.valid(s.DatasetUploadSerializer, request.data)
        names = data.get("paths") or [upload.name for upload in data["files"]]
        version = services.dataset_version_upload(
            dataset=dataset,
            files=list(zip(names, data["files"], strict=True)),
            message=data["message"],
        )
        return Response(s.DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED)


VERSION = path_id("version", str, 'A version name such as "v3".')


class DatasetVersionFilesView(ApiView):
    @extend_schema(
        summary="The files of a committed version",
        parameters=[DATASET_ID, VERSION],
        responses={200: s.DatasetFileSerializer(many=True), 404: ERRORS[404]},
    )
    def get(self, request, dataset_id: str, version: str) -> Response:
        found_version = selectors.dataset_version_get(
            user=request.user, dataset_id=dataset_id, version=version
        )
        found_version = found(found_version, f"committed version {version} of dataset {dataset_id}")
        return Response(selectors.dataset_version_files(found_version))


class DatasetFileView(ApiView):
    def perform_content_negotiation(self, request, force=False):
        # A download answers with the file whatever the client accepts; errors are JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="Download one file of a committed version",
        parameters=[DATASET_ID, VERSION, path_id("file_path", str, "Path inside the version.")],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 404: ERRORS[404]},
    )
    def get(self, request, dataset_id: str, version: str, file_path: str) -> FileResponse:
        found_version = selectors.dataset_version_get(
            user=request.user, dataset_id=dataset_id, version=version
        )
        found_version = found(found_version, f"committed version {version} of dataset {dataset_id}")
        path = selectors.dataset_version_file(found_version, file_path)
        path = found(path, f'file "{file_path}" in {found_version}')
        return FileResponse(open(path, "rb"), as_attachment=True, filename=path.name)


class ClusterListView(ApiView):
    @extend_schema(
        summary="Clusters of your teams",
        operation_id="clusters_list",
        parameters=[
            OpenApiParameter("team", int, description="Only this team's."),
            *PAGE_PARAMETERS,
        ],
        responses={200: paginated(s.ClusterSerializer), 400: ERRORS[400]},
    )
    def get(self, request) -> Response:
        clusters = selectors.cluster_list(user=request.user, team_id=_filters(request).get("team"))
        return self.paginate(clusters, lambda page: s.ClusterSerializer(page, many=True).data)


class ClusterDetailView(ApiView):
    actions = {"PATCH": Action.MANAGE_CLUSTERS}

    def _cluster(self, request, cluster_id: str):
        cluster = selectors.cluster_get(user=request.user, cluster_id=cluster_id)
        cluster = found(cluster, f"cluster {cluster_id}")
        self.check_object_permissions(request, cluster)
        return cluster

    @extend_schema(
        summary="A cluster",
        parameters=[CLUSTER_ID],
        responses={200: s.ClusterSerializer, 404: ERRORS[404]},
    )
    def get(self, request, cluster_id: str) -> Response:
        return Response(s.ClusterSerializer(self._cluster(request, cluster_id)).data)

    @extend_schema(
        summary="Change a cluster's instance types, default instance type or default timeout",
        parameters=[CLUSTER_ID],
        request=s.ClusterShapesSerializer,
        responses={200: s.ClusterSerializer, 400: ERRORS[400], 403: DELETE_ERRORS[403]},
    )
    def patch(self, request, cluster_id: str) -> Response:
        cluster = self._cluster(request, cluster_id)
        data = self.valid(s.ClusterShapesSerializer, request.data)
        cluster = services.cluster_shapes_set(cluster=cluster, **data)
        return Response(s.ClusterSerializer(cluster).data)


class SecretScopeMixin:
    """Secrets of one scope; `scope` is given in urls.py, the owner's id is in the URL."""

    scope: str = ""
    actions = {"PUT": Action.MANAGE_SECRETS, "DELETE": Action.MANAGE_SECRETS}

    def scope_owner(self, request, owner_id: str) -> tuple[object, dict]:
        """The team, project or cluster the secrets belong to, and secret service arguments."""
        if self.scope == Secret.Scope.TEAM:
            team = found(
                selectors.team_get(user=request.user, team_id=owner_id), f"team {owner_id}"
            )
            owner, where = team, {"team": team}
        elif self.scope == Secret.Scope.PROJECT:
            project = selectors.project_get(user=request.user, project_id=owner_id)
            owner = found(project, f"project {owner_id}")
            where = {"team": owner.team, "project": owner}
        else:
            cluster = selectors.cluster_get(user=request.user, cluster_id=owner_id)
            owner = found(cluster, f"cluster {owner_id}")
            where = {"team": owner.team, "cluster": owner}
        self.check_object_permissions(request, owner)
        return owner, {"scope": self.scope, **where}


OWNER_ID = path_id("owner_id", int, "The id of the team, project or cluster.")
SECRET_NAME = path_id("name", str, "The secret's name.")


class SecretListView(SecretScopeMixin, ApiView):
    @extend_schema(
        summary="Secrets set at this scope: names and times, never values",
        parameters=[OWNER_ID],
        responses={200: s.SecretSerializer(many=True), 404: ERRORS[404]},
    )
    def get(self, request, owner_id: str) -> Response:
        _, where = self.scope_owner(request, owner_id)
        return Response(s.SecretSerializer(selectors.secret_list(**where), many=True).data)


class SecretDetailView(SecretScopeMixin, ApiView):
    @extend_schema(
        summary="Set a secret (create or replace; owners only); its value is never shown again",
        parameters=[OWNER_ID, SECRET_NAME],
        request=s.SecretValueSerializer,
        responses={200: s.SecretSerializer, 400: ERRORS[400], 403: FORBIDDEN, 404: ERRORS[404]},
    )
    def put(self, request, owner_id: str, name: str) -> Response:
        _, where = self.scope_owner(request, owner_id)
        value = self.valid(s.SecretValueSerializer, request.data)["value"]
        secret = services.secret_set(**where, name=name, value=value)
        return Response(s.SecretSerializer(secret).data)

    @extend_schema(
        summary="Delete a secret (owners only)",
        parameters=[OWNER_ID, SECRET_NAME],
        responses={204: None, **DELETE_ERRORS},
    )
    def delete(self, request, owner_id: str, name: str) -> Response:
        _, where = self.scope_owner(request, owner_id)
        services.secret_delete(**where, name=name)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ValidateView(ApiView):
    """The validator the editor and the CLI use, for any spec text."""

    parser_classes = [*ApiView.parser_classes, PlainTextParser]

    @extend_schema(
        summary="Validate a spec: every error, with line, column and a hint",
        request={"application/json": s.SpecBodySerializer, "text/plain": OpenApiTypes.STR},
        responses={
            200: s.ValidationResultSerializer,
            400: ERRORS[400],
            413: OpenApiResponse(s.ErrorSerializer, description="The spec is over 1 MiB."),
        },
    )
    def post(self, request) -> Response:
        result = services.spec_checked(spec_text_from(request))
        return Response({"valid": result.valid, "errors": spec_error_dicts(result.errors, "spec")})


class SpecSchemaView(ApiView):
    @extend_schema(
        summary="The JSON Schema of the spec language (for editors' completion)",
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request) -> Response:
        return Response(spec_json_schema())
