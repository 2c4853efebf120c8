"""Redis killed and started again under real workers: runs still end, and no job runs twice.

Each test has a Redis of its own (tests.processes.RedisServer) that it kills
with SIGKILL and starts again on the same port, empty, as a crashed or
restarted Redis comes back; the test process and its workers use it as their
broker. Nothing re-sends what was lost but the reconciler.
"""

import time

import pytest
from celery import current_app
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from runs.models import Run
from tests.processes import RedisServer, celery_worker
from tests.runs.engine_helpers import job_log, make_world, wait_for_job_phase, wait_for_run
from workflows.services import workflow_create

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("bubblewrap"),
]

# The reconciler every second, so a test waits seconds rather than the default 10.
FAST_RECONCILE = {"RECONCILE_SECONDS": "1"}

CHAIN = """
jobs:
  first:
    uses: script@v1
    with: {image: bash:5, script: "echo first ran; sleep 2"}
  second:
    needs: [first]
    uses: script@v1
    with: {image: bash:5, script: echo second ran}
  third:
    needs: [second]
    uses: script@v1
    with: {image: bash:5, script: echo third ran}
"""


@pytest.fixture
def broker(tmp_path, settings, monkeypatch):
    """A Redis of the test's own, the broker and event store of this process and its workers."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    settings.REDIS_URL = server.url
    monkeypatch.setenv("CELERY_BROKER_URL", server.url)
    # Drop the connection pools to the suite's Redis, so the next message goes to this one.
    current_app._after_fork()
    yield server
    server.kill()
    monkeypatch.undo()
    current_app._after_fork()


def assert_each_job_ran_once(run: Run) -> None:
    for job in run.jobs.all():
        assert job.attempt == 1, f"{job.name} ran {job.attempt} times"
        assert job_log(run, job.name).splitlines().count(f"{job.name} ran") == 1


def test_a_job_that_ends_while_redis_is_down_is_followed_by_the_rest_once_it_is_back(
    transactional_db, tmp_path, broker
):
    world = make_world()
    with celery_worker(log_path=tmp_path / "worker.log", beat=True, **FAST_RECONCILE):
        run = world.submit(CHAIN)
        wait_for_job_phase(run, "first", "RUNNING")
        broker.kill()
        # The job ends, is committed SUCCEEDED, and the message that would start
        # "second" cannot be sent.
        wait_for_job_phase(run, "first", "SUCCEEDED", timeout=30)
        time.sleep(2)
        assert run.jobs.get(name="second").phase == "PENDING"
        broker.start()
        run = wait_for_run(run, timeout=120)

    assert run.phase == "SUCCEEDED"
    assert_each_job_ran_once(run)


def test_a_run_submitted_while_redis_is_down_is_accepted_and_runs_once_it_is_back(
    transactional_db, tmp_path, broker
):
    world = make_world()
    workflow = workflow_create(project=world.project, name="submitted-blind", user=world.user)
    api = APIClient()
    api.force_authenticate(world.user)
    with celery_worker(log_path=tmp_path / "worker.log", beat=True, **FAST_RECONCILE):
        broker.kill()
        response = api.post(f"/api/v1/workflows/{workflow.id}/runs", {"spec": CHAIN}, format="json")
        assert response.status_code == 201, response.content
        run = Run.objects.get(workflow=workflow)
        assert run.phase == "PENDING"
        broker.start()
        run = wait_for_run(run, timeout=120)

    assert run.phase == "SUCCEEDED"
    assert_each_job_ran_once(run)
    assert django_settings.REDIS_URL == broker.url
