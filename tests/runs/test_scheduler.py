"""The local scheduler without workers: what a job's end queues, skips and ends, and how it ends."""

import pytest

from runs.engine.local import scheduler
from runs.models import JobPhase, RunPhase
from runs.transitions import job_transition
from tests.runs.engine_helpers import four_job_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def run():
    return four_job_run(phase=RunPhase.RUNNING)


@pytest.fixture
def executing(monkeypatch):
    """Ids of the jobs sent to a worker to run, in order (no worker runs here)."""
    ids = []
    monkeypatch.setattr("runs.queue.jobs_execute", ids.extend)
    return ids


def _succeed(run, name):
    job = run.jobs.get(name=name)
    job_transition(job_id=job.pk, to=JobPhase.RUNNING)
    job_transition(job_id=job.pk, to=JobPhase.SUCCEEDED)
    scheduler.job_settled(run.jobs.get(name=name), JobPhase.SUCCEEDED)


def _names(run, ids):
    return sorted(run.jobs.filter(pk__in=ids).values_list("name", flat=True))


def test_a_job_queues_what_needs_only_it_and_what_it_made_ready(run, executing):
    _succeed(run, "first")
    assert _names(run, executing) == ["second"]

    executing.clear()
    _succeed(run, "other")
    assert _names(run, executing) == ["join"]


def test_a_canceled_run_ends_when_its_last_running_job_succeeds_after_the_cancel(run, executing):
    for name in ("other", "join"):
        job_id = run.jobs.get(name=name).pk
        job_transition(job_id=job_id, to=JobPhase.RUNNING)
        job_transition(job_id=job_id, to=JobPhase.SUCCEEDED)
    first = run.jobs.get(name="first")
    job_transition(job_id=first.pk, to=JobPhase.RUNNING)
    scheduler.run_cancel_now(run)
    assert run.jobs.get(name="second").phase == JobPhase.CANCELED

    job_transition(job_id=first.pk, to=JobPhase.SUCCEEDED)
    scheduler.job_settled(run.jobs.get(name="first"), JobPhase.SUCCEEDED)

    run.refresh_from_db()
    assert run.phase == RunPhase.CANCELED


def test_a_job_whose_last_log_lines_cannot_be_stored_still_ends(run, executing, monkeypatch):
    from django.db import DatabaseError

    from runs.engine.local.executor import Outcome, _settle
    from runs.logs import LogWriter
    from runs.specs import spec_model

    first = run.jobs.get(name="first")
    job_transition(job_id=first.pk, to=JobPhase.RUNNING)
    first.refresh_from_db()
    writer = LogWriter(first)
    writer.line("the last words")

    def broken(self):
        raise DatabaseError("disk full")

    monkeypatch.setattr(LogWriter, "flush", broken)
    _settle(first, spec_model(run).job("first"), Outcome(ok=True, message="", exit_code=0), writer)

    first.refresh_from_db()
    assert first.phase == JobPhase.SUCCEEDED
    assert _names(run, executing) == ["second"]
