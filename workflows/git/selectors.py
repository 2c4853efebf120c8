"""Reads for git-linked projects: the link, the push records, the project a hook names."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from runs.models import Run
from workflows.models import Project, PushTrigger, RepositoryLink
from workflows.selectors import project_list


def project_by_handle(*, user, handle: str) -> Project | None:
    """One of the user's projects by handle (or numeric id), annotated with the user's `role`."""
    projects = project_list(user=user).select_related("team")
    project = projects.filter(handle=handle).first()
    if project is None and handle.isascii() and handle.isdigit() and len(handle) < 19:
        project = projects.filter(pk=int(handle)).first()
    return project


def repository_get(*, project: Project) -> RepositoryLink | None:
    return RepositoryLink.objects.filter(project=project).first()


def hook_link(*, handle: str) -> RepositoryLink | None:
    """The repository linked to the project a webhook URL names, whoever asks."""
    return RepositoryLink.objects.select_related("project").filter(project__handle=handle).first()


def delivery_handled(*, delivery_id: str) -> PushTrigger | None:
    """The record of a delivery already handled; a failed one does not count (it may be retried)."""
    return (
        PushTrigger.objects.filter(delivery_id=delivery_id)
        .exclude(outcome=PushTrigger.Outcome.FAILED)
        .first()
    )


def push_trigger_list(*, project: Project) -> QuerySet[PushTrigger]:
    """The project's push records, newest first, each with the runs it started."""
    runs = Run.objects.select_related("workflow").order_by("workflow__name", "number")
    return (
        PushTrigger.objects.filter(project=project)
        .prefetch_related(Prefetch("runs", queryset=runs))
        .order_by("-created", "-id")
    )


def polled_links() -> list[int]:
    """Ids of the links whose remotes are polled for new commits."""
    return list(RepositoryLink.objects.filter(poll=True).values_list("id", flat=True))
