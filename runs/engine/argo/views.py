"""The Argo manifest over the API: of a run, or of any spec text on a cluster."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import renderers, serializers
from rest_framework.response import Response
from rest_framework.settings import api_settings

from gradient.api.base import found
from runs import selectors
from runs.api.views import RUN_NUMBER
from runs.engine.argo.compiler import CompileError, manifest_yaml
from runs.engine.argo.engine import run_manifest, spec_manifest
from workflows.api.permissions import ApiView
from workflows.api.serializers import ErrorSerializer, StrictCharField
from workflows.api.views import ERRORS, WORKFLOW_ID
from workflows.models import Cluster
from workflows.selectors import cluster_list, id_of
from workflows.services import InvalidRequest, SpecRejected
from workflows.spec import errors_at

MANIFEST_ERRORS = {
    400: OpenApiResponse(
        ErrorSerializer,
        description="The spec is invalid or cannot run on the cluster; `errors` say where.",
    ),
    404: ERRORS[404],
}


class YamlRenderer(renderers.BaseRenderer):
    """The manifest as YAML (``Accept: application/yaml`` or ``?format=yaml``)."""

    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return manifest_yaml(data).encode(self.charset)


class ManifestRequestSerializer(serializers.Serializer):
    spec = StrictCharField(trim_whitespace=False, help_text="The spec's YAML text.")
    clusterId = serializers.CharField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Handle or id of one of your teams' clusters; leave out for a preview.",
    )


def _cluster(user, cluster_id: str | None) -> Cluster | None:
    if not cluster_id:
        return None
    clusters = cluster_list(user=user)
    found_clusters = list(clusters.filter(handle=cluster_id))
    if not found_clusters and id_of(cluster_id) is not None:
        found_clusters = list(clusters.filter(pk=id_of(cluster_id)))
    if len(found_clusters) > 1:
        raise InvalidRequest(
            f'several of your teams have a cluster "{cluster_id}"; give its id', field="clusterId"
        )
    return found(found_clusters[0] if found_clusters else None, f'cluster "{cluster_id}"')


class RunManifestView(ApiView):
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, YamlRenderer]

    @extend_schema(
        summary="The Argo Workflow manifest of a run (as submitted, for a run on Argo)",
        parameters=[WORKFLOW_ID, RUN_NUMBER],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "application/yaml"): OpenApiTypes.STR,
            **MANIFEST_ERRORS,
        },
    )
    def get(self, request, workflow_id: str, number: str):
        run = selectors.run_get(user=request.user, workflow_id=workflow_id, number=number)
        run = found(run, f"run {number} of workflow {workflow_id}")
        try:
            return Response(run_manifest(run).manifest)
        except CompileError as error:
            problems = [(path, message, None) for path, message in error.problems]
            raise SpecRejected(
                f'the run\'s spec cannot run on cluster "{run.cluster.handle}" any more',
                errors=errors_at(run.spec.text, problems),
            ) from None


class SpecManifestView(ApiView):
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, YamlRenderer]

    @extend_schema(
        summary="The Argo Workflow manifest a spec becomes on one of your clusters (or a preview)",
        request=ManifestRequestSerializer,
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "application/yaml"): OpenApiTypes.STR,
            **MANIFEST_ERRORS,
            413: OpenApiResponse(ErrorSerializer, description="The spec is over 1 MiB."),
        },
    )
    def post(self, request):
        data = self.valid(ManifestRequestSerializer, request.data)
        cluster = _cluster(request.user, data["clusterId"])
        return Response(spec_manifest(text=data["spec"], cluster=cluster))
