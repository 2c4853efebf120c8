"""A worker task trusts the database connection the task before it used a moment ago
(gradient/celery.py), and a job's claim survives a connection the database dropped."""

import time

import pytest
from django.db import OperationalError, connection

from gradient import celery
from runs.queue import JOB_EXECUTE

pytestmark = pytest.mark.django_db


@pytest.fixture
def recycled(monkeypatch):
    """How many times the connections were recycled (and checked before their next use)."""
    calls = []
    monkeypatch.setattr("django.db.close_old_connections", lambda: calls.append(1))
    connection.ensure_connection()
    # As a pool process keeps its connection: within CONN_MAX_AGE, no error seen. The
    # suite's own may be older than CONN_MAX_AGE by the time these tests run.
    monkeypatch.setattr(connection, "close_at", time.monotonic() + 60)
    monkeypatch.setattr(connection, "errors_occurred", False)
    return calls


class _Task:
    def __init__(self, name: str) -> None:
        self.name = name


JOB_TASK = _Task(JOB_EXECUTE)


def test_a_connection_the_task_before_just_used_is_not_checked_again_by_a_job(recycled):
    celery._note_task_end()
    celery._recycle_database_connections(sender=JOB_TASK)

    assert recycled == []


def test_any_other_task_has_its_connections_checked(recycled):
    """Only a job's task makes its claim again when the kept connection broke."""
    celery._note_task_end()
    celery._recycle_database_connections(sender=_Task("triggers.tasks.push_handle"))

    assert recycled == [1]


def test_a_connection_idle_since_the_last_task_is_checked(recycled, monkeypatch):
    celery._note_task_end()
    monkeypatch.setattr(celery, "_last_task_end", time.monotonic() - 5)
    celery._recycle_database_connections(sender=JOB_TASK)

    assert recycled == [1]


@pytest.mark.parametrize("trouble", ["errors_occurred", "close_at"])
def test_a_connection_that_saw_an_error_or_outlived_its_age_is_checked(
    recycled, monkeypatch, trouble
):
    celery._note_task_end()
    monkeypatch.setattr(connection, trouble, True if trouble == "errors_occurred" else 0.0)
    celery._recycle_database_connections(sender=JOB_TASK)

    assert recycled == [1]


@pytest.mark.django_db(transaction=True)
def test_a_jobs_claim_is_made_again_on_a_new_connection_when_the_kept_one_broke(monkeypatch):
    from runs.engine.local import executor
    from tests.factories import JobRunFactory

    job = JobRunFactory(phase="PENDING")
    real_claim = executor._job_with_run.update_then_get
    claims = []

    def dropped_once(job_id, **changes):
        claims.append(connection.connection)
        if len(claims) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_claim(job_id, **changes)

    monkeypatch.setattr(executor._job_with_run, "update_then_get", dropped_once)

    claimed = executor._job_claim(job.pk)
    assert (claimed.pk, claimed.phase, claimed.attempt) == (job.pk, "RUNNING", 1)
    assert len(claims) == 2 and claims[0] is not None and claims[1] is None, "a new connection"
