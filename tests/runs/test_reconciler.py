"""The reconciler without workers: what a pass queues again, skips and ends, from the rows alone."""

from datetime import timedelta

import pytest
from django.utils import timezone

from runs import queue, tasks
from runs.engine import reconciler
from runs.engine.local import executor
from runs.models import JobPhase, Run, RunPhase
from runs.transitions import job_transition
from tests.runs.engine_helpers import four_job_run
from workflows.models import Cluster

pytestmark = pytest.mark.django_db

LONG_AGO = reconciler.START_GRACE_SECONDS + 60


def make_run(phase=RunPhase.RUNNING, jobs=None, kind=Cluster.Kind.LOCAL, **fields) -> Run:
    return four_job_run(jobs=jobs, created_ago=LONG_AGO, phase=phase, cluster__kind=kind, **fields)


def job_id(run: Run, name: str) -> int:
    return run.jobs.get(name=name).pk


def names(run: Run, ids) -> list[str]:
    return sorted(run.jobs.filter(pk__in=ids).values_list("name", flat=True))


@pytest.fixture
def waiting(monkeypatch):
    """How many messages the broker says are waiting; the test may change it."""
    count = {"value": 0}
    monkeypatch.setattr(queue, "waiting_messages", lambda: count["value"])
    return count


@pytest.fixture
def sent(monkeypatch, waiting):
    """Every message that left, as (task name, object id), once its transaction committed."""
    messages = []
    monkeypatch.setattr(queue, "_send", lambda task, ids: messages.extend((task, i) for i in ids))
    return messages


@pytest.fixture
def reconcile(sent, django_capture_on_commit_callbacks):
    def run_pass() -> reconciler.Reconciled:
        with django_capture_on_commit_callbacks(execute=True):
            return reconciler.reconcile()

    return run_pass


def test_a_pending_run_whose_start_was_lost_is_started_again(reconcile, sent):
    lost = make_run(phase=RunPhase.PENDING)
    fresh = make_run(phase=RunPhase.PENDING)
    Run.objects.filter(pk=fresh.pk).update(created=timezone.now())

    done = reconcile()

    assert sent == [(queue.RUN_START, lost.pk)]
    assert done.started == 1


def test_a_pending_run_canceled_before_it_started_ends_canceled_when_started_again(
    reconcile, sent, django_capture_on_commit_callbacks
):
    run = make_run(phase=RunPhase.PENDING, cancel_requested=True)

    reconcile()
    assert sent == [(queue.RUN_START, run.pk)]
    with django_capture_on_commit_callbacks(execute=True):
        tasks.run_start(run.pk)

    run.refresh_from_db()
    assert run.phase == RunPhase.CANCELED
    assert set(run.jobs.values_list("phase", flat=True)) == {JobPhase.CANCELED}


def test_pending_jobs_whose_needs_all_succeeded_are_queued_and_no_other(reconcile, sent):
    run = make_run(jobs={"first": "SUCCEEDED", "other": "RUNNING"})

    done = reconcile()

    assert [task for task, _ in sent] == [queue.JOB_EXECUTE]
    assert names(run, [i for _, i in sent]) == ["second"]
    assert done.queued == 1


def test_jobs_without_needs_of_a_run_whose_first_messages_were_lost_are_queued(reconcile, sent):
    run = make_run()

    reconcile()

    assert names(run, [i for _, i in sent]) == ["first", "other"]


def test_a_job_behind_a_failed_need_is_skipped_and_the_run_ends(reconcile, sent, published):
    run = make_run(jobs={"first": "SUCCEEDED", "second": "SUCCEEDED", "other": "FAILED"})

    done = reconcile()

    run.refresh_from_db()
    assert run.jobs.get(name="join").phase == JobPhase.SKIPPED
    assert run.jobs.get(name="join").message == 'skipped: it needs "other", which did not succeed'
    assert run.phase == RunPhase.FAILED
    assert (done.skipped, done.ended, sent) == (1, 1, [])


def test_a_run_whose_jobs_are_all_final_is_ended(reconcile):
    run = make_run(jobs=dict.fromkeys(("first", "other", "second", "join"), "SUCCEEDED"))

    done = reconcile()

    run.refresh_from_db()
    assert run.phase == RunPhase.SUCCEEDED
    assert done.ended == 1


def test_a_canceled_local_run_whose_cancel_was_lost_cancels_its_pending_jobs(reconcile, sent):
    run = make_run(jobs={"first": "SUCCEEDED", "other": "SUCCEEDED"}, cancel_requested=True)

    reconcile()

    run.refresh_from_db()
    assert run.phase == RunPhase.CANCELED
    assert run.jobs.get(name="join").phase == JobPhase.CANCELED
    assert sent == []


def test_a_canceled_argo_run_whose_cancel_was_lost_has_its_cancel_queued_again(reconcile, sent):
    run = make_run(kind=Cluster.Kind.ARGO, cancel_requested=True)

    reconcile()

    assert sent == [(queue.RUN_CANCEL, run.pk)]


def test_a_started_argo_run_is_left_to_the_watcher(reconcile, sent):
    run = make_run(kind=Cluster.Kind.ARGO, jobs={"first": "SUCCEEDED", "other": "FAILED"})

    reconcile()

    assert sent == []
    assert run.jobs.get(name="join").phase == JobPhase.PENDING


def test_nothing_is_queued_again_while_messages_wait_in_the_broker(reconcile, sent, waiting):
    make_run(phase=RunPhase.PENDING)
    run = make_run(jobs={"first": "SUCCEEDED", "other": "FAILED"})

    waiting["value"] = 12
    done = reconcile()
    assert sent == []
    assert run.jobs.get(name="join").phase == JobPhase.SKIPPED

    waiting["value"] = None
    assert reconcile().started == 0
    assert sent == []
    assert done.waiting == 12


def test_a_running_job_whose_worker_stopped_beating_is_retried(reconcile, sent, settings):
    settings.LOCAL_ENGINE_LEASE_SECONDS = 30
    run = make_run(jobs={"other": "RUNNING"})
    run.jobs.filter(name="other").update(
        heartbeat=timezone.now() - timedelta(seconds=60), attempt=1
    )

    done = reconcile()

    other = run.jobs.get(name="other")
    assert done.lost == 1
    assert other.phase == JobPhase.FAILED
    assert "the worker running attempt 1 was lost (no heartbeat for 30 s)" in other.message


def test_an_argo_job_is_never_taken_for_a_lost_local_one(reconcile, settings):
    settings.LOCAL_ENGINE_LEASE_SECONDS = 30
    run = make_run(kind=Cluster.Kind.ARGO, jobs={"other": "RUNNING"})
    run.jobs.filter(name="other").update(heartbeat=timezone.now() - timedelta(seconds=600))

    assert reconcile().lost == 0
    assert run.jobs.get(name="other").phase == JobPhase.RUNNING


def test_a_job_queued_twice_runs_once(
    reconcile, sent, monkeypatch, django_capture_on_commit_callbacks
):
    attempts = []

    def run_attempt(job_run, job, workspace, writer, secrets, after):
        attempts.append(job_run.attempt)
        return executor.Outcome(ok=True, message="", exit_code=0)

    monkeypatch.setattr(executor, "_run_attempt", run_attempt)
    run = make_run(jobs={"first": "SUCCEEDED", "other": "RUNNING"})
    reconcile()
    reconcile()
    second = job_id(run, "second")
    assert sent == [(queue.JOB_EXECUTE, second)] * 2

    for _, object_id in sent:
        with django_capture_on_commit_callbacks(execute=True):
            tasks.job_execute(object_id)

    assert attempts == [1]
    assert run.jobs.get(name="second").phase == JobPhase.SUCCEEDED


def test_the_tasks_the_queue_names_exist():
    from gradient.celery import app

    assert set(queue.TASK_NAMES) <= set(app.tasks)


@pytest.fixture
def broker(monkeypatch, waiting):
    """A broker that can be down: while it is, every message is refused as Redis refuses it."""
    import redis

    state = {"down": False, "sent": []}

    def push(name, arguments):
        if state["down"]:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379: refused")
        state["sent"].extend((name, i) for args in arguments for i in args)

    monkeypatch.setattr(queue, "_push", push)
    return state


def test_a_job_that_ends_while_the_broker_is_down_ends_and_its_dependents_run_later(
    broker, caplog, django_capture_on_commit_callbacks
):
    run = make_run(jobs={"other": "SUCCEEDED"})
    first = run.jobs.get(name="first")
    job_transition(job_id=first.pk, to=JobPhase.RUNNING)
    first.refresh_from_db()
    job = executor.spec_model(run).job("first")

    broker["down"] = True
    with django_capture_on_commit_callbacks(execute=True):
        executor._settle(first, job, executor.Outcome(ok=True, message="", exit_code=0))
    assert run.jobs.get(name="first").phase == JobPhase.SUCCEEDED
    assert "could not queue runs.tasks.job_execute" in caplog.text

    broker["down"] = False
    with django_capture_on_commit_callbacks(execute=True):
        reconciler.reconcile()
    assert names(run, [i for _, i in broker["sent"]]) == ["join", "second"]
