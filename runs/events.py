"""The one way run and job changes reach the browser.

Every state change calls `publish_on_commit`; the event leaves only when the
transaction that made the change commits, so a browser never hears of a state
the database does not have.

Events go to a Redis Stream per run. The stream's entry ids are the run's
event sequence numbers: a websocket that reconnects says the last id it saw
and reads on from there, or gets a fresh snapshot when the stream no longer
reaches back that far (after a Redis restart, say). Writing to the stream is
one synchronous XADD, cheap enough for every job transition and log batch.
"""

from __future__ import annotations

import json
import logging
import threading

import redis
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

# Enough for the log batches of a long run; older events are trimmed and a
# client that needs them gets a snapshot instead.
STREAM_MAX_EVENTS = 20_000

_local = threading.local()


def run_stream_key(run_id: int) -> str:
    return f"gw:run:{run_id}:events"


def redis_client() -> redis.Redis | None:
    """This thread's client for settings.REDIS_URL (None when there is no Redis)."""
    url = settings.REDIS_URL
    if not url:
        return None
    cached = getattr(_local, "client", None)
    if cached is None or cached[0] != url:
        cached = (url, redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2))
        _local.client = cached
    return cached[1]


def _send(run_id: int, event: dict) -> None:
    client = redis_client()
    if client is None:
        return
    try:
        client.xadd(
            run_stream_key(run_id),
            {"event": json.dumps(event, separators=(",", ":"))},
            maxlen=STREAM_MAX_EVENTS,
            approximate=True,
        )
    except redis.RedisError:
        # The database holds the truth; a browser that missed this event
        # resynchronises from a snapshot when it reconnects.
        logger.warning("could not publish an event of run %s", run_id, exc_info=True)


def publish_on_commit(run_id: int, event: dict) -> None:
    transaction.on_commit(lambda: _send(run_id, event))
