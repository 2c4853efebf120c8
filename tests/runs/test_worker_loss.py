"""A worker that dies mid-job: the job is noticed, never runs twice at once, and is retried."""

import os
import signal
import time

import psutil
import pytest

from tests.processes import celery_worker
from tests.runs.engine_helpers import job_log, make_world, wait_for_job_phase, wait_for_run

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("bubblewrap"),
]

FAST_LEASE = {"LOCAL_ENGINE_HEARTBEAT_SECONDS": "0.5", "LOCAL_ENGINE_LEASE_SECONDS": "3"}


def sleeping_jobs() -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if process.info["cmdline"] == ["sleep", "4.25"]:
            found.append(process)
    return found


def test_a_job_whose_worker_is_killed_is_retried_by_another(transactional_db, tmp_path, redis_url):
    world = make_world()
    with celery_worker(log_path=tmp_path / "doomed.log", **FAST_LEASE) as doomed:
        run = world.submit(
            """
            jobs:
              work:
                retries: 1
                uses: container@v1
                with: {image: bash:5, args: ["bash", "-c", "echo work ran; sleep 4.25"]}
              after:
                needs: [work]
                uses: container@v1
                with: {image: bash:5, args: ["echo", "after ran"]}
            """
        )
        wait_for_job_phase(run, "work", "RUNNING")
        deadline = time.monotonic() + 10
        while not sleeping_jobs() or "work ran" not in job_log(run, "work"):
            assert time.monotonic() < deadline, "the job's process never started"
            time.sleep(0.05)
        os.killpg(doomed.process.pid, signal.SIGKILL)
        doomed.process.wait()

    deadline = time.monotonic() + 5
    while sleeping_jobs():
        assert time.monotonic() < deadline, "the sandboxed job outlived its worker"
        time.sleep(0.05)

    with celery_worker(log_path=tmp_path / "rescuer.log", beat=True, **FAST_LEASE):
        run = wait_for_run(run, timeout=60)

    work = run.jobs.get(name="work")
    assert (run.phase, work.phase, work.attempt) == ("SUCCEEDED", "SUCCEEDED", 2)
    assert "the worker running attempt 1 was lost" in work.attempts[0]["message"]
    log = job_log(run, "work").splitlines()
    # Attempt 1 was killed with its worker, attempt 2 ran to its end: twice, never more.
    assert log.count("work ran") == 2
    after = run.jobs.get(name="after")
    assert (after.phase, after.attempt) == ("SUCCEEDED", 1)
    assert job_log(run, "after").splitlines().count("after ran") == 1
    retried = log.index("attempt 1 was lost: no heartbeat for 3 s; retrying, attempt 2 of 2")
    # The line opens attempt 2's part of the log: the intro of each attempt comes right after.
    assert log[retried + 1] == log[0]
