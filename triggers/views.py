"""GitHub's webhook endpoint, and the API of a project's repository link and push records.

The webhook is not an API view: GitHub authenticates with the HMAC signature
of the body, not a session or a key, so it is CSRF-exempt and reads the raw
body itself (the signature covers the exact bytes).
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import OpenApiResponse, extend_schema
from kombu.exceptions import OperationalError
from rest_framework import status
from rest_framework.response import Response

from gradient.api.base import PAGE_PARAMETERS, found, paginated, path_id
from triggers import selectors, services
from triggers import serializers as s
from workflows.access import Action
from workflows.api.permissions import ApiView
from workflows.api.serializers import ErrorSerializer
from workflows.services import InvalidRequest

logger = logging.getLogger(__name__)


def _answer(detail: str, code: int, **extra) -> JsonResponse:
    return JsonResponse({"detail": detail, **extra}, status=code)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def _payload(request: HttpRequest, body: bytes) -> object:
    """The delivery's JSON, sent as the body or (content type form) as its `payload` field."""
    if request.content_type == "application/x-www-form-urlencoded":
        form = parse_qs(body.decode("ascii"), errors="strict")
        if "payload" not in form:
            raise ValueError("the form has no payload field")
        text = form["payload"][0]
    else:
        text = body.decode("utf-8-sig")
    return json.loads(text, parse_constant=_refuse_constant)


@csrf_exempt
@require_POST
def github_webhook(request: HttpRequest, handle: str) -> JsonResponse:
    """POST /hooks/github/<project handle>: GitHub's `push` starts runs, `ping` answers."""
    link = selectors.hook_link(handle=handle)
    refusal = services.webhook_refusal(
        link=link, content_length=request.headers.get("Content-Length")
    )
    if refusal is not None:
        return _answer(refusal.detail, refusal.status)
    # Bounded even when no Content-Length was sent.
    body = request.read(services.WEBHOOK_MAX_BYTES + 1)
    if len(body) > services.WEBHOOK_MAX_BYTES:
        return _answer(services.WEBHOOK_TOO_LARGE.detail, services.WEBHOOK_TOO_LARGE.status)
    signature = request.headers.get("X-Hub-Signature-256")
    if not services.webhook_signature_valid(link=link, body=body, signature=signature):
        return _answer(
            "X-Hub-Signature-256 is missing or does not match: check the webhook's URL and that "
            "its secret is this project's webhook secret",
            401,
        )
    event = request.headers.get("X-GitHub-Event", "")
    if event == "ping":
        return _answer("pong", 200)
    if event != "push":
        return _answer(f'"{event}" events are ignored; only push events start runs', 202)
    try:
        payload = _payload(request, body)
    except (ValueError, RecursionError):
        return _answer("the delivery's body is not valid JSON", 400)
    try:
        handled = services.webhook_push_receive(
            link=link, payload=payload, delivery_id=request.headers.get("X-GitHub-Delivery")
        )
    except InvalidRequest as error:
        return _answer(error.message, 400)
    except services.PushIgnored as error:
        return _answer(str(error), 202)
    except OperationalError:
        logger.exception("a push to project %s could not be queued", link.project_id)
        return _answer("the push could not be queued; redeliver it in a moment", 503)
    if handled is not None:
        return _answer(
            "this push (or this delivery) was handled already",
            200,
            outcome=handled.outcome,
            trigger=handled.pk,
        )
    return _answer("the push is queued", 202)


ERRORS = {
    403: OpenApiResponse(ErrorSerializer, description="Only the team's owners change the link."),
    404: OpenApiResponse(ErrorSerializer, description="Not there, or not yours to see."),
}
HANDLE = path_id("handle", str, "The project's handle (or id).")


class ProjectRepositoryView(ApiView):
    """A project's linked repository: members see it, owners link, change and unlink it."""

    actions = {"PUT": Action.MANAGE_REPOSITORY, "DELETE": Action.MANAGE_REPOSITORY}

    def _project(self, request, handle: str):
        project = found(selectors.project_by_handle(user=request.user, handle=handle), "project")
        self.check_object_permissions(request, project)
        return project

    def _link(self, project):
        link = found(
            selectors.repository_get(project=project),
            f"repository linked to project {project.handle}",
        )
        link.project = project
        return link

    @extend_schema(
        summary="The repository linked to a project",
        parameters=[HANDLE],
        responses={200: s.RepositoryLinkSerializer, 404: ERRORS[404]},
    )
    def get(self, request, handle: str):
        link = self._link(self._project(request, handle))
        return Response(s.RepositoryLinkSerializer(link, context={"request": request}).data)

    @extend_schema(
        summary="Link a repository to a project, or change the link (owners only)",
        parameters=[HANDLE],
        request=s.RepositoryLinkWriteSerializer,
        responses={
            200: s.RepositoryLinkCreatedSerializer,
            201: s.RepositoryLinkCreatedSerializer,
            400: OpenApiResponse(ErrorSerializer, description="The request needs fixing."),
            **ERRORS,
        },
    )
    def put(self, request, handle: str):
        project = self._project(request, handle)
        data = self.valid(s.RepositoryLinkWriteSerializer, request.data)
        existed = selectors.repository_get(project=project) is not None
        link, generated = services.repository_link(
            project=project,
            clone_url=data["cloneUrl"],
            default_branch=data["defaultBranch"],
            token=data["token"],
            poll=data["poll"],
            webhook_secret=data.get("webhookSecret"),
        )
        answer = s.RepositoryLinkSerializer(link, context={"request": request}).data
        if generated is not None:
            answer["webhookSecret"] = generated
        return Response(answer, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    @extend_schema(
        summary="Unlink a project's repository (owners only); its push records stay",
        parameters=[HANDLE],
        responses={204: None, **ERRORS},
    )
    def delete(self, request, handle: str):
        services.repository_unlink(project=self._project(request, handle))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PushTriggerListView(ApiView):
    @extend_schema(
        summary="Pushes seen for a project, newest first: what each started, or why nothing",
        parameters=[HANDLE, *PAGE_PARAMETERS],
        responses={200: paginated(s.PushTriggerSerializer), 404: ERRORS[404]},
    )
    def get(self, request, handle: str):
        project = found(selectors.project_by_handle(user=request.user, handle=handle), "project")
        triggers = selectors.push_trigger_list(project=project)
        return self.paginate(triggers, lambda page: s.PushTriggerSerializer(page, many=True).data)
