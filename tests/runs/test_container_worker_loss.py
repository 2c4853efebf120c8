"""A worker that dies while its job runs in a container: recovery stops the container."""

import os
import signal

import pytest

from tests import containers
from tests.processes import celery_worker
from tests.runs.engine_helpers import make_world, wait_for_job_phase, wait_for_run

pytestmark = pytest.mark.integration

FAST_LEASE = {"LOCAL_ENGINE_HEARTBEAT_SECONDS": "0.5", "LOCAL_ENGINE_LEASE_SECONDS": "3"}


@pytest.fixture
def engine_store():
    store = containers.store_make()
    yield store
    containers.store_remove(store)


def test_the_container_of_a_lost_worker_is_stopped_when_the_job_is_recovered(
    transactional_db, tmp_path, redis_url, test_images, engine_store
):
    env = {**containers.worker_env(test_images, engine_store), **FAST_LEASE}
    world = make_world()
    with celery_worker(log_path=tmp_path / "doomed.log", **env) as doomed:
        run = world.submit(
            """
            jobs:
              work:
                uses: container@v1
                with: {image: bash:5, command: ["sleep", "300"]}
            """
        )
        work = wait_for_job_phase(run, "work", "RUNNING", timeout=60)
        name = f"gw-{work.log_id}-{work.attempt}"
        containers.wait_for(lambda: name in containers.container_names(engine_store))
        os.killpg(doomed.process.pid, signal.SIGKILL)
        doomed.process.wait()

    assert name in containers.container_names(engine_store), "the container outlives its worker"
    with celery_worker(log_path=tmp_path / "rescuer.log", beat=True, **env):
        run = wait_for_run(run, timeout=60)
        containers.wait_for(lambda: name not in containers.container_names(engine_store))

    work = run.jobs.get(name="work")
    assert (run.phase, work.phase) == ("FAILED", "FAILED")
    assert "the worker running attempt 1 was lost" in work.message
