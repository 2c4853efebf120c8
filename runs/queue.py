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
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from celery import current_app
from django.db import transaction
from kombu.exceptions import ChannelError

logger = logging.getLogger(__name__)

RUN_START = "runs.tasks.run_start"
RUN_CANCEL = "runs.tasks.run_cancel"
JOB_EXECUTE = "runs.tasks.job_execute"
RECONCILE = "runs.tasks.runs_reconcile"
TASK_NAMES = (RUN_START, RUN_CANCEL, JOB_EXECUTE, RECONCILE)


def _send(task: str, object_ids: list[int | None]) -> None:
    for object_id in object_ids:
        try:
            current_app.send_task(task, args=() if object_id is None else (object_id,))
        except Exception:
            # Any failure to publish (broker down, connection reset) leaves the
            # committed state as it is, for the reconciler to act on; the rest
            # of the batch would most likely fail the same way, each after the
            # publish retries, so it is not tried.
            logger.warning(
                "could not queue %s for %s; the reconciler will", task, object_ids, exc_info=True
            )
            return


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
