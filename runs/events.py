"""The one way run and job changes reach the browser.

Every state change calls `publish_on_commit`; the event leaves only when the
transaction that made the change commits, so a browser never hears of a state
the database does not have.

Events go to a Redis Stream per run. The stream's entry ids are the run's
event sequence numbers: a websocket that reconnects says the last id it saw
and reads on from there, or gets a fresh snapshot when the stream no longer
reaches back that far (after a Redis restart, say).

A committed event is handed to a background thread of the process, which
writes whatever has queued up in one round trip and in publishing order: the
worker that just moved a job does not wait for Redis before it starts the
next job or queues the dependents. `flush_published` waits for the queue to
drain (worker shutdown, tests).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
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


class _Publisher:
    """One thread per process that writes queued events to their runs' streams."""

    BATCH = 500

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.unwritten = 0
        self.drained = threading.Condition()
        self.thread = threading.Thread(target=self._loop, name="event-publisher", daemon=True)
        self.thread.start()

    def put(self, run_id: int, event: dict) -> None:
        with self.drained:
            self.unwritten += 1
        self.queue.put((run_id, json.dumps(event, separators=(",", ":"))))

    def wait(self, timeout: float) -> bool:
        with self.drained:
            return self.drained.wait_for(lambda: self.unwritten == 0, timeout)

    def _loop(self) -> None:
        while True:
            batch = [self.queue.get()]
            while len(batch) < self.BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            _write(batch)
            with self.drained:
                self.unwritten -= len(batch)
                self.drained.notify_all()


def _write(batch: list[tuple[int, str]]) -> None:
    client = redis_client()
    if client is None:
        return
    try:
        pipeline = client.pipeline(transaction=False)
        for run_id, text in batch:
            pipeline.xadd(
                run_stream_key(run_id),
                {"event": text},
                maxlen=STREAM_MAX_EVENTS,
                approximate=True,
            )
        pipeline.execute()
    except redis.RedisError:
        # The database holds the truth; a browser that missed these events
        # resynchronises from a snapshot when it reconnects.
        runs = sorted({run_id for run_id, _ in batch})
        logger.warning("could not publish %s events of runs %s", len(batch), runs, exc_info=True)


_publisher_lock = threading.Lock()
_publisher: _Publisher | None = None


def _process_publisher() -> _Publisher:
    """This process's publisher, started on first use."""
    global _publisher
    current = _publisher
    if current is None:
        with _publisher_lock:
            if _publisher is None:
                _publisher = _Publisher()
            current = _publisher
    return current


def _forget_the_parents_publisher() -> None:
    """A forked child (a Celery pool process) has no thread of its parent's: it starts its own."""
    global _publisher, _publisher_lock
    _publisher = None
    _publisher_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_the_parents_publisher)


def _send(run_id: int, event: dict) -> None:
    if settings.REDIS_URL:
        _process_publisher().put(run_id, event)


def flush_published(timeout: float = 5.0) -> bool:
    """Wait until every event this process published has been written; False on timeout."""
    current = _publisher
    return True if current is None else current.wait(timeout)


atexit.register(flush_published)


def publish_on_commit(run_id: int, event: dict) -> None:
    transaction.on_commit(lambda: _send(run_id, event))
