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


def _cancel_while_first_runs(run):
    """Every job final but "first", which runs while the run is canceled."""
    for name in ("other", "join"):
        job_id = run.jobs.get(name=name).pk
        job_transition(job_id=job_id, to=JobPhase.RUNNING)
        job_transition(job_id=job_id, to=JobPhase.SUCCEEDED)
    first = run.jobs.get(name="first")
    job_transition(job_id=first.pk, to=JobPhase.RUNNING)
    scheduler.run_cancel_now(run)
    assert run.jobs.get(name="second").phase == JobPhase.CANCELED
    return first


def test_a_canceled_run_ends_when_its_last_running_job_fails_after_the_cancel(run, executing):
    first = _cancel_while_first_runs(run)

    job_transition(job_id=first.pk, to=JobPhase.FAILED)
    scheduler.job_settled(run.jobs.get(name="first"), JobPhase.FAILED)

    run.refresh_from_db()
    assert run.phase == RunPhase.CANCELED


@pytest.mark.parametrize("cancel_seen", [True, False], ids=["cancel-seen", "cancel-unseen"])
def test_a_canceled_run_whose_last_job_succeeded_ends_when_the_job_it_queued_is_taken(
    run, executing, cancel_seen
):
    """A job that queued a dependent does not ask whether its run is over (it is not,
    unless the dependent was canceled meanwhile): the dependent's task asks instead."""
    from runs.engine.local import executor

    first = _cancel_while_first_runs(run)
    job_transition(job_id=first.pk, to=JobPhase.SUCCEEDED)
    scheduler.job_settled(run.jobs.get(name="first"), JobPhase.SUCCEEDED)
    assert _names(run, executing) == ["second"]
    if not cancel_seen:
        # The task read the run before the cancel: its claim is what finds the job final.
        run.__class__.objects.filter(pk=run.pk).update(cancel_requested=False)

    executor.job_execute(run.jobs.get(name="second").pk)

    run.refresh_from_db()
    assert run.phase == RunPhase.CANCELED


# Outside a transaction, as a worker settles a job: on PostgreSQL a failed statement
# inside the test's transaction would fail every one after it.
@pytest.mark.django_db(transaction=True)
def test_a_job_whose_last_log_lines_cannot_be_stored_still_ends(run, executing):
    from runs.engine.local.executor import Outcome, _settle
    from runs.logs import LogWriter
    from runs.models import LogChunk
    from runs.specs import spec_model

    first = run.jobs.get(name="first")
    job_transition(job_id=first.pk, to=JobPhase.RUNNING)
    first.refresh_from_db()
    writer = LogWriter(first)
    writer.line("the last words")
    # A chunk where the last one would go: storing it fails, as a full disk would.
    LogChunk.objects.create(job=first, first_line=1, line_count=1, lines=[["t", "in the way"]])

    _settle(first, spec_model(run).job("first"), Outcome(ok=True, message="", exit_code=0), writer)

    first.refresh_from_db()
    assert first.phase == JobPhase.SUCCEEDED
    assert _names(run, executing) == ["second"]


@pytest.mark.parametrize("stale", [False, True], ids=["moved", "attempt-retried-meanwhile"])
def test_the_last_log_lines_are_counted_whether_or_not_the_job_moves(run, executing, stale):
    """The final move stores and counts the last lines; a move that does not happen (the
    attempt was retried meanwhile) must not leave them unstored or uncounted."""
    from runs.engine.local.executor import Outcome, _settle
    from runs.logs import LogWriter
    from runs.specs import spec_model

    first = run.jobs.get(name="first")
    job_transition(job_id=first.pk, to=JobPhase.RUNNING)
    first.refresh_from_db()
    writer = LogWriter(first)
    for word in ("one", "two", "three"):
        writer.line(word)
    if stale:
        job_transition(job_id=first.pk, to=JobPhase.PENDING)
        job_transition(job_id=first.pk, to=JobPhase.RUNNING)

    _settle(first, spec_model(run).job("first"), Outcome(ok=True, message="", exit_code=0), writer)

    first.refresh_from_db()
    assert first.log_line_count == 3
    assert [line[1] for chunk in first.log_chunks.all() for line in chunk.lines] == [
        "one",
        "two",
        "three",
    ]
    assert first.phase == (JobPhase.RUNNING if stale else JobPhase.SUCCEEDED)
    assert LogWriter(first).next_line == 4, "the next attempt's lines follow these"
