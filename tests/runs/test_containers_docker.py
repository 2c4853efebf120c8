"""The local engine in container mode with Docker for real: a dockerd of the suite's own.

The daemon (Debian's docker.io, tests.containers.docker_daemon) listens on a
socket of its own, so the worker reaches it only through DOCKER_HOST, as a
worker reaches a rootless or remote daemon. Its bridge is its own and has no
way out (no firewall rules): jobs run on a cluster without network, but for
the one that shows a job with network on that bridge.
"""

from __future__ import annotations

import textwrap

import pytest

from tests import containers
from tests.processes import celery_worker
from tests.runs.engine_helpers import (
    job_log,
    make_world,
    script_calling_the_32_bit_abi,
    wait_for_run,
)
from workflows.models import Cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def docker_host():
    if containers.DOCKER_MISSING:
        pytest.fail(
            f"not installed: {', '.join(containers.DOCKER_MISSING)} "
            "(Debian's docker.io and iproute2; make test installs them)"
        )
    with containers.docker_daemon() as host:
        yield host


@pytest.fixture(scope="module")
def worker(django_db_setup, tmp_path_factory, redis_url_module, test_images, docker_host):
    with celery_worker(
        concurrency=2,
        log_path=tmp_path_factory.mktemp("docker-worker") / "worker.log",
        LOCAL_ENGINE_RUNTIME="docker",
        DOCKER_HOST=docker_host,
        LOCAL_ENGINE_REGISTRY_MIRRORS=f"docker.io={test_images.mirror.host}",
        LOCAL_ENGINE_STOP_GRACE_SECONDS="2",
        LOCAL_ENGINE_DEFAULT_MEMORY="64Mi",
        LOCAL_ENGINE_DEFAULT_PIDS="64",
    ) as running:
        yield running


@pytest.fixture
def world(transactional_db, worker):
    world = make_world()
    Cluster.objects.filter(team=world.team, handle="local").update(allow_network=False)
    return world


def test_a_job_runs_in_its_image_pulled_through_the_mirror_from_the_daemon_at_docker_host(
    world,
):
    run = world.submit(
        """
        jobs:
          look:
            env: {GREETING: hello}
            uses: script@v1
            with:
              image: bash:5
              script: |
                cat /etc/image-marker
                echo "bash $BASH_VERSION"
                tr '\\0' '\\n' < /proc/1/environ | sort
        """
    )
    run = wait_for_run(run, timeout=120)

    log = job_log(run, "look")
    assert run.phase == "SUCCEEDED", log
    assert log.splitlines()[0] == 'script@v1 runs in the image "bash:5" with docker'
    assert "pulled docker.io/library/bash:5" in log
    assert f"{containers.IMAGE_MARKER} localhost/test-bash:5" in log
    assert "bash 5." in log and "GREETING=hello" in log
    for leaked in ("DOCKER_HOST", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY"):
        assert leaked not in log


def test_a_job_has_the_bridge_with_network_and_only_loopback_without(world):
    spec = """
        jobs:
          net:
            uses: container@v1
            with: {image: bash:5, command: [sh, -c, "echo interfaces: $(ls /sys/class/net)"]}
        """
    without = wait_for_run(world.submit(spec), timeout=120)
    Cluster.objects.filter(team=world.team, handle="local").update(allow_network=True)
    with_network = wait_for_run(world.submit(spec), timeout=120)

    assert (without.phase, with_network.phase) == ("SUCCEEDED", "SUCCEEDED")
    assert job_log(without, "net").splitlines()[-1] == "interfaces: lo"
    assert job_log(with_network, "net").splitlines()[-1] == "interfaces: eth0 lo"


def test_a_job_cannot_call_the_32_bit_system_call_abi(world):
    script = textwrap.indent(script_calling_the_32_bit_abi(), " " * 16)
    run = world.submit(
        f"""
        jobs:
          abi:
            uses: script@v1
            with:
              image: bash:5
              script: |
{script}
        """
    )
    run = wait_for_run(run, timeout=120)

    log = job_log(run, "abi")
    assert run.phase == "SUCCEEDED", log
    assert "exit 159" in log, "killed by SIGSYS: Docker got the profile without 32-bit ABIs"


def test_a_job_over_its_memory_limit_fails_saying_it_ran_out_of_memory(world):
    run = world.submit(
        """
        jobs:
          hungry:
            uses: script@v1
            with:
              image: bash:5
              script: |
                big=$(head -c 200000000 /dev/zero | tr '\\0' x)
                echo "survived ${#big}"
        """
    )
    run = wait_for_run(run, timeout=120)

    job = run.jobs.get(name="hungry")
    assert job.phase == "FAILED", job_log(run, "hungry")
    assert job.message == "ran out of memory (limit 64 MiB)"


def test_cancel_and_timeout_stop_the_container_itself(world, docker_host):
    containers.cancel_and_timeout_stop_the_container(
        world, lambda: containers.docker_container_names(docker_host)
    )
