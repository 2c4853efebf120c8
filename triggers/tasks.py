"""Celery tasks of git-linked projects: thin, and safe to receive twice.

The tasks keep the names they had when this code lived in `workflows.git`:
a deployment that upgrades may still hold queued deliveries under those names
(a worker drops a task it does not know, and a webhook push is not sent
again), and the beat schedule in settings names the poll.
"""

from celery import shared_task

from triggers import selectors, services
from triggers.models import RepositoryLink

NAME_PREFIX = "workflows.git.tasks"


@shared_task(name=f"{NAME_PREFIX}.push_handle", acks_late=True, reject_on_worker_lost=True)
def push_handle(push: dict) -> int | None:
    """Handle one push (a webhook delivery); returns the id of its PushTrigger record."""
    trigger = services.push_handle(push=services.Push(**push))
    return trigger.pk if trigger is not None else None


@shared_task(name=f"{NAME_PREFIX}.repository_poll", acks_late=True)
def repository_poll(link_id: int) -> list[int]:
    """Poll one linked repository; returns the ids of the PushTriggers of new commits."""
    link = RepositoryLink.objects.select_related("project").filter(pk=link_id).first()
    if link is None or not link.poll:
        return []
    return [trigger.pk for trigger in services.repository_poll(link=link)]


@shared_task(name=f"{NAME_PREFIX}.repositories_poll")
def repositories_poll() -> int:
    """The periodic poll: one task per polled repository, so a slow remote delays no other."""
    link_ids = selectors.polled_links()
    for link_id in link_ids:
        repository_poll.delay(link_id)
    return len(link_ids)
