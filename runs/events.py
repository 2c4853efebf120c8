"""The one way run and job changes reach the browser.

Every state change calls `publish_on_commit`; the event leaves only when the
transaction that made the change commits, so a browser never hears of a state
the database does not have.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def run_group_name(run_id: int) -> str:
    return f"run-{run_id}"


def _send(run_id: int, event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            run_group_name(run_id), {"type": "run.event", "run_id": run_id, "event": event}
        )
    except Exception:
        # The database holds the truth; a browser that missed this event
        # resynchronises from a snapshot when it reconnects.
        logger.warning("could not publish an event of run %s", run_id, exc_info=True)


def publish_on_commit(run_id: int, event: dict) -> None:
    transaction.on_commit(lambda: _send(run_id, event))
