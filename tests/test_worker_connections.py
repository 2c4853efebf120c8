"""A worker task trusts the database connection the task before it used a moment ago
(gradient/celery.py), and a job's first read survives a connection the database dropped."""

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
    """Only a job's task makes its first read again when the kept connection broke."""
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
def test_a_jobs_first_read_is_made_again_on_a_new_connection_when_the_kept_one_broke(
    monkeypatch,
):
    from runs.engine.local import executor
    from tests.factories import JobRunFactory

    job = JobRunFactory(phase="SUCCEEDED")
    real_get = executor._job_with_run.get
    reads = []

    def dropped_once(job_id):
        reads.append(connection.connection)
        if len(reads) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_get(job_id)

    monkeypatch.setattr(executor._job_with_run, "get", dropped_once)

    assert executor._job_read(job.pk).pk == job.pk
    assert len(reads) == 2 and reads[0] is not None and reads[1] is None, "a new connection"
