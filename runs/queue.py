"""The one place that hands work to the Celery workers.

Queuing is an effect of committed state, never the state itself: each
function here sends its message when the current transaction commits (at
once outside one), so a worker never sees a row that is not there yet. A
message that cannot be sent (the broker is down, say) is logged and dropped,
never raised to the caller: the database already says what must run, and the
reconciler (runs.engine.reconciler, every RECONCILE_SECONDS and at worker
start) queues it again. A message sent twice is harmless, since every task
claims its row with a conditional update before doing anything.

Tasks are sent by name, so the engines that queue work never import the task
module that calls them (runs.tasks imports the engines).

With Redis as the broker (always, but for a `memory://` one in some tests),
a message is pushed onto the queue's list by a client this process holds,
as Celery's task message (protocol 2) in kombu's Redis envelope: what
`send_task` pushes, without the ~1.5 ms of CPU it spends on the way (a new
Redis client per message among it), on every dependency hop. A test
compares the two messages, so an upgrade that changes Celery's is seen.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterable

import redis
from celery import current_app
from django.db import transaction
from kombu.exceptions import ChannelError
from redis.backoff import ConstantBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

RUN_START = "runs.tasks.run_start"
RUN_CANCEL = "runs.tasks.run_cancel"
JOB_EXECUTE = "runs.tasks.job_execute"
RECONCILE = "runs.tasks.runs_reconcile"
TASK_NAMES = (RUN_START, RUN_CANCEL, JOB_EXECUTE, RECONCILE)


_REDIS_SCHEMES = ("redis://", "rediss://")


@functools.lru_cache(maxsize=4)
def _broker_client(broker_url: str) -> redis.Redis:
    """A client of the broker's Redis, held by this process (redis-py reconnects after a fork).

    Like kombu's publish, it tries a refused connection again three times, 0.2 s apart.
    """
    return redis.Redis.from_url(
        broker_url,
        socket_connect_timeout=2,
        socket_timeout=5,
        retry=Retry(ConstantBackoff(0.2), 3),
    )


def task_message(task: str, args: tuple) -> str:
    """What `send_task(task, args=args)` pushes onto a Redis broker's list for the default queue."""
    conf = current_app.conf
    task_id, delivery_tag = str(uuid.uuid4()), str(uuid.uuid4())
    body = [list(args), {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    headers = {
        "lang": "py",
        "task": task,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": repr(args),
        "kwargsrepr": "{}",
        "origin": f"gen{os.getpid()}@{socket.gethostname()}",
        "ignore_result": conf.task_ignore_result,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    properties = {
        "correlation_id": task_id,
        "reply_to": current_app.thread_oid,
        "delivery_mode": 2,
        "delivery_info": {"exchange": "", "routing_key": conf.task_default_queue},
        "priority": 0,
        "body_encoding": "base64",
        "delivery_tag": delivery_tag,
    }
    return json.dumps(
        {
            "body": base64.b64encode(json.dumps(body).encode()).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": properties,
        }
    )


def _push(task: str, arguments: list[tuple]) -> None:
    """Send one message per arguments: pushed by this process's client onto a Redis
    broker, all in one round trip, or by Celery one by one.

    Celery sends them where it has options of its own for messages (transport
    options, task routes), which may send them elsewhere or change their keys.
    """
    conf = current_app.conf
    if (
        conf.broker_url.startswith(_REDIS_SCHEMES)
        and not conf.broker_transport_options
        and not conf.task_routes
    ):
        # LPUSH of several values pushes them in order: they are taken in that order.
        messages = [task_message(task, args) for args in arguments]
        _broker_client(conf.broker_url).lpush(conf.task_default_queue, *messages)
    else:
        for args in arguments:
            current_app.send_task(task, args=args)


def _send(task: str, object_ids: list[int | None]) -> None:
    try:
        _push(task, [() if object_id is None else (object_id,) for object_id in object_ids])
    except Exception:
        # Any failure to publish (broker down, connection reset) leaves the
        # committed state as it is, for the reconciler to act on.
        logger.warning(
            "could not queue %s for %s; the reconciler will", task, object_ids, exc_info=True
        )


def _on_commit(task: str, object_ids: list[int | None]) -> None:
    if object_ids:
        transaction.on_commit(lambda: _send(task, object_ids))


def run_start(run_id: int) -> None:
    _on_commit(RUN_START, [run_id])


def run_cancel(run_id: int) -> None:
    _on_commit(RUN_CANCEL, [run_id])


def jobs_execute(job_ids: Iterable[int]) -> None:
    _on_commit(JOB_EXECUTE, list(job_ids))


def reconcile() -> None:
    _on_commit(RECONCILE, [None])


def waiting_messages() -> int | None:
    """How many messages wait in the default queue; None when the broker cannot say."""
    queue = current_app.conf.task_default_queue
    try:
        with current_app.connection_for_read() as connection:
            # One try: a broker that is down has nothing to say, and nothing can be sent.
            connection.ensure_connection(max_retries=1)
            return connection.default_channel.queue_declare(queue=queue, passive=True)[1]
    except ChannelError:
        # Redis keeps no key for an empty queue, so asking for it passively fails.
        return 0
    except Exception:
        logger.warning("cannot count the messages waiting in queue %s", queue, exc_info=True)
        return None
