"""/api/v1/teams/<id>/container-registries: a team's private registries, passwords write-only.

Members list and read registries (a spec names them); only owners add, change
and delete them. The password goes in with POST or PATCH and never comes
back out: no answer, listing or error holds it.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from gradient.api.base import found, path_id
from workflows import selectors, services
from workflows.access import Action
from workflows.api.permissions import ApiView
from workflows.api.serializers import ErrorSerializer

TEAM_ID = path_id("team_id")
NAME = path_id("name", str, "The registry's name, as specs write it.")
ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="The request needs fixing."),
    403: OpenApiResponse(ErrorSerializer, description="Only the team's owners change this."),
    404: OpenApiResponse(ErrorSerializer, description="Not there, or not yours to see."),
}


class ContainerRegistrySerializer(serializers.Serializer):
    """A registry as the API shows it: never its password."""

    name = serializers.CharField()
    server = serializers.CharField()
    username = serializers.CharField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()


def _password_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(
        write_only=True,
        allow_blank=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="The password or access token; it is never shown again.",
        **kwargs,
    )


class ContainerRegistryCreateSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True, help_text="What specs name it by.")
    server = serializers.CharField(allow_blank=True, help_text='e.g. "ghcr.io", "host:5000".')
    username = serializers.CharField(allow_blank=True)
    password = _password_field()


class ContainerRegistryUpdateSerializer(serializers.Serializer):
    """What PATCH changes; keys left out keep their value."""

    server = serializers.CharField(required=False, allow_blank=True)
    username = serializers.CharField(required=False, allow_blank=True)
    password = _password_field(required=False)


class _TeamRegistries(ApiView):
    actions = {method: Action.MANAGE_REGISTRIES for method in ("POST", "PATCH", "DELETE")}

    def team(self, request, team_id: str):
        """The team, if the user is in it (404 otherwise); writes need MANAGE_REGISTRIES."""
        team = found(selectors.team_get(user=request.user, team_id=team_id), f"team {team_id}")
        self.check_object_permissions(request, team)
        return team


class ContainerRegistryListView(_TeamRegistries):
    @extend_schema(
        summary="The team's container registries: names, servers, usernames, never passwords",
        parameters=[TEAM_ID],
        responses={200: ContainerRegistrySerializer(many=True), 404: ERRORS[404]},
    )
    def get(self, request, team_id: str) -> Response:
        registries = selectors.container_registry_list(team=self.team(request, team_id))
        return Response(ContainerRegistrySerializer(registries, many=True).data)

    @extend_schema(
        summary="Add a container registry (owners only)",
        parameters=[TEAM_ID],
        request=ContainerRegistryCreateSerializer,
        responses={
            201: ContainerRegistrySerializer,
            409: OpenApiResponse(ErrorSerializer, description="The name is taken."),
            **ERRORS,
        },
    )
    def post(self, request, team_id: str) -> Response:
        team = self.team(request, team_id)
        data = self.valid(ContainerRegistryCreateSerializer, request.data)
        registry = services.container_registry_create(team=team, **data)
        return Response(ContainerRegistrySerializer(registry).data, status=status.HTTP_201_CREATED)


class ContainerRegistryDetailView(_TeamRegistries):
    def registry(self, request, team_id: str, name: str):
        team = self.team(request, team_id)
        registry = selectors.container_registry_get(team=team, name=name)
        return found(registry, f'container registry "{name}" in team {team_id}')

    @extend_schema(
        summary="A container registry (never its password)",
        parameters=[TEAM_ID, NAME],
        responses={200: ContainerRegistrySerializer, 404: ERRORS[404]},
    )
    def get(self, request, team_id: str, name: str) -> Response:
        return Response(ContainerRegistrySerializer(self.registry(request, team_id, name)).data)

    @extend_schema(
        summary="Change a container registry's server, username or password (owners only)",
        parameters=[TEAM_ID, NAME],
        request=ContainerRegistryUpdateSerializer,
        responses={200: ContainerRegistrySerializer, **ERRORS},
    )
    def patch(self, request, team_id: str, name: str) -> Response:
        registry = self.registry(request, team_id, name)
        data = self.valid(ContainerRegistryUpdateSerializer, request.data)
        registry = services.container_registry_update(registry=registry, **data)
        return Response(ContainerRegistrySerializer(registry).data)

    @extend_schema(
        summary="Delete a container registry (owners only)",
        parameters=[TEAM_ID, NAME],
        responses={204: None, **ERRORS},
    )
    def delete(self, request, team_id: str, name: str) -> Response:
        services.container_registry_delete(registry=self.registry(request, team_id, name))
        return Response(status=status.HTTP_204_NO_CONTENT)
