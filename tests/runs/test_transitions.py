import threading

import pytest
from django.db import connection

from runs import rows
from runs.models import JobPhase, JobRun, RunPhase
from runs.transitions import UnknownPhase, job_claim, job_transition, run_transition
from tests.factories import JobRunFactory, RunFactory


@pytest.mark.django_db
class TestRunTransition:
    def test_a_pending_run_starts_and_finishes_with_its_times_recorded(
        self, published, django_capture_on_commit_callbacks
    ):
        run = RunFactory()

        with django_capture_on_commit_callbacks(execute=True):
            assert run_transition(run_id=run.id, to=RunPhase.RUNNING)
            assert run_transition(run_id=run.id, to=RunPhase.SUCCEEDED)

        run.refresh_from_db()
        assert run.phase == RunPhase.SUCCEEDED
        assert run.started is not None
        assert run.finished >= run.started
        assert [event["phase"] for _, event in published] == ["RUNNING", "SUCCEEDED"]
        assert all(run_id == run.id and e["type"] == "run.phase" for run_id, e in published)

    @pytest.mark.parametrize(
        ("start", "to"),
        [
            (RunPhase.SUCCEEDED, RunPhase.RUNNING),
            (RunPhase.FAILED, RunPhase.SUCCEEDED),
            (RunPhase.CANCELED, RunPhase.PENDING),
            (RunPhase.PENDING, RunPhase.SUCCEEDED),
            (RunPhase.RUNNING, RunPhase.PENDING),
        ],
    )
    def test_an_illegal_move_changes_nothing_and_publishes_nothing(
        self, start, to, published, django_capture_on_commit_callbacks
    ):
        run = RunFactory(phase=start)

        with django_capture_on_commit_callbacks(execute=True):
            assert run_transition(run_id=run.id, to=to) is False

        run.refresh_from_db()
        assert run.phase == start
        assert published == []

    def test_an_unknown_phase_is_refused(self):
        run = RunFactory()

        with pytest.raises(UnknownPhase):
            run_transition(run_id=run.id, to="DONE")

    def test_the_event_leaves_only_when_the_transaction_commits(
        self, published, django_capture_on_commit_callbacks
    ):
        run = RunFactory()

        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            run_transition(run_id=run.id, to=RunPhase.CANCELED, message="canceled by demo")
            assert published == []

        for callback in callbacks:
            callback()
        assert published == [
            (
                run.id,
                {
                    **published[0][1],
                    "type": "run.phase",
                    "phase": "CANCELED",
                    "message": "canceled by demo",
                },
            )
        ]


@pytest.mark.django_db
class TestJobTransition:
    def test_starting_a_job_begins_its_next_attempt(
        self, published, django_capture_on_commit_callbacks
    ):
        job = JobRunFactory()

        with django_capture_on_commit_callbacks(execute=True):
            assert job_transition(job_id=job.id, to=JobPhase.RUNNING)
            assert job_transition(job_id=job.id, to=JobPhase.PENDING, message="retrying")
            assert job_transition(job_id=job.id, to=JobPhase.RUNNING)
            assert job_transition(
                job_id=job.id, to=JobPhase.SUCCEEDED, exit_code=0, outputs={"note": {"value": "x"}}
            )

        job.refresh_from_db()
        assert (job.phase, job.attempt, job.exit_code) == (JobPhase.SUCCEEDED, 2, 0)
        assert job.outputs == {"note": {"value": "x"}}
        assert job.finished >= job.started
        assert [(e["phase"], e["attempt"]) for _, e in published] == [
            ("RUNNING", 1),
            ("PENDING", 1),
            ("RUNNING", 2),
            ("SUCCEEDED", 2),
        ]
        assert published[-1][1]["exitCode"] == 0
        assert all(e["job"] == job.name for _, e in published)

    def test_a_stale_attempt_cannot_finish_the_job(self):
        job = JobRunFactory(phase=JobPhase.RUNNING, attempt=2)

        assert job_transition(job_id=job.id, to=JobPhase.FAILED, attempt=1) is False
        assert job_transition(job_id=job.id, to=JobPhase.FAILED, attempt=2) is True

    def test_expected_narrows_the_move_to_one_current_phase(self):
        job = JobRunFactory(phase=JobPhase.PENDING)

        assert (
            job_transition(job_id=job.id, to=JobPhase.CANCELED, expected=JobPhase.RUNNING) is False
        )
        job.refresh_from_db()
        assert job.phase == JobPhase.PENDING

    @pytest.mark.parametrize(
        "final", [JobPhase.SUCCEEDED, JobPhase.FAILED, JobPhase.SKIPPED, JobPhase.CANCELED]
    )
    def test_a_finished_job_never_moves_again(self, final):
        job = JobRunFactory(phase=final)

        for to in JobPhase.values:
            assert job_transition(job_id=job.id, to=to) is False
        job.refresh_from_db()
        assert job.phase == final


def _job_with_run() -> rows.PreparedGet[JobRun]:
    return rows.PreparedGet(JobRun.objects.select_related("run", "run__cluster"))


# Outside a transaction, as a worker claims a job: on PostgreSQL, one statement on its own.
@pytest.mark.django_db(transaction=True)
class TestJobClaim:
    def test_a_claim_starts_the_next_attempt_and_reads_the_job_as_it_is_after(self, published):
        job = JobRunFactory(phase=JobPhase.PENDING, attempt=1, log_line_count=4)

        claimed = job_claim(job_id=job.id, read=_job_with_run())

        assert (claimed.pk, claimed.phase, claimed.attempt) == (job.pk, JobPhase.RUNNING, 2)
        assert claimed.started is not None and claimed.started == claimed.heartbeat
        assert claimed.log_line_count == 4 and claimed.finished is None
        assert claimed.run == job.run and claimed.run.cluster == job.run.cluster
        job.refresh_from_db()
        assert (job.phase, job.attempt, job.started) == (JobPhase.RUNNING, 2, claimed.started)
        assert published == [
            (
                job.run_id,
                {
                    "type": "job.phase",
                    "phase": "RUNNING",
                    "at": claimed.started.isoformat(),
                    "job": job.name,
                    "attempt": 2,
                },
            )
        ]

    @pytest.mark.parametrize("phase", [JobPhase.RUNNING, JobPhase.SUCCEEDED, JobPhase.CANCELED])
    def test_only_a_pending_job_is_claimed(self, phase, published):
        job = JobRunFactory(phase=phase, attempt=1)

        assert job_claim(job_id=job.id, read=_job_with_run()) is None
        job.refresh_from_db()
        assert (job.phase, job.attempt) == (phase, 1)
        assert published == []

    def test_a_job_of_a_run_being_canceled_is_not_claimed(self, published):
        job = JobRunFactory(phase=JobPhase.PENDING, run__cancel_requested=True)

        assert job_claim(job_id=job.id, read=_job_with_run()) is None
        job.refresh_from_db()
        assert (job.phase, job.attempt) == (JobPhase.PENDING, 0)
        assert published == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["transition", "claim"])
def test_of_two_workers_claiming_the_same_job_exactly_one_wins(how):
    job = JobRunFactory()
    barrier = threading.Barrier(8)
    results = []

    def claim():
        barrier.wait()
        try:
            if how == "claim":
                results.append(job_claim(job_id=job.id, read=_job_with_run()) is not None)
            else:
                moved = job_transition(job_id=job.id, to=JobPhase.RUNNING, expected="PENDING")
                results.append(moved)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 7 + [True]
    job.refresh_from_db()
    assert job.attempt == 1
