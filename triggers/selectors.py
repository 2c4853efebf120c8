"""Reads for git-linked projects: the link, the push records, the project a hook names."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from runs.models import Run
from triggers.models import PushTrigger, RepositoryLink
from workflows.models import Project
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


def push_handled(
    *, project_id: int, branch: str, commit: str, delivery_id: str | None = None
) -> PushTrigger | None:
    """The project's record of this push, or of this delivery, handled already.

    A push is handled once per project and (branch, commit), whatever delivery
    id it comes with: the signature covers the body, not the id, so a replayed
    body with a new or no id is the same push. A failed record does not count
    (the push may be retried).
    """
    same = Q(branch=branch, commit=commit)
    if delivery_id:
        same |= Q(delivery_id=delivery_id)
    return (
        PushTrigger.objects.filter(same, project_id=project_id)
        .exclude(outcome=PushTrigger.Outcome.FAILED)
        .order_by("id")
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
