"""Celery tasks of git-linked projects: thin, and safe to receive twice."""

from celery import shared_task

from workflows.git import selectors, services
from workflows.models import RepositoryLink


@shared_task(acks_late=True, reject_on_worker_lost=True)
def push_handle(push: dict) -> int | None:
    """Handle one push (a webhook delivery); returns the id of its PushTrigger record."""
    trigger = services.push_handle(push=services.Push(**push))
    return trigger.pk if trigger is not None else None


@shared_task(acks_late=True)
def repository_poll(link_id: int) -> list[int]:
    """Poll one linked repository; returns the ids of the PushTriggers of new commits."""
    link = RepositoryLink.objects.select_related("project").filter(pk=link_id).first()
    if link is None or not link.poll:
        return []
    return [trigger.pk for trigger in services.repository_poll(link=link)]


@shared_task
def repositories_poll() -> int:
    """The periodic poll: one task per polled repository, so a slow remote delays no other."""
    link_ids = selectors.polled_links()
    for link_id in link_ids:
        repository_poll.delay(link_id)
    return len(link_ids)
