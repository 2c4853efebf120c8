"""The local engine in container mode for real: podman, a registry, Celery workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import textwrap
import threading
from pathlib import Path

import psutil
import pytest
import redis
from django.conf import settings

from runs.events import run_stream_key
from runs.models import JobRun
from tests import containers
from tests.processes import celery_worker
from tests.runs.engine_helpers import job_log, make_world, wait_for_job_phase, wait_for_run
from workflows.models import Cluster, DatasetVersion

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine_store():
    store = containers.store_make()
    yield store
    containers.store_remove(store)


@pytest.fixture(scope="module")
def worker(django_db_setup, tmp_path_factory, redis_url_module, test_images, engine_store):
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = containers.worker_env(test_images, engine_store)
    with celery_worker(
        concurrency=2,
        log_path=log,
        **env,
        LOCAL_ENGINE_STOP_GRACE_SECONDS="2",
        LOCAL_ENGINE_DEFAULT_MEMORY="64Mi",
        LOCAL_ENGINE_DEFAULT_PIDS="64",
        LOCAL_ENGINE_TMP_SIZE="1Mi",
        LOCAL_ENGINE_WRITABLE_MAX="4Mi",
        LOCAL_ENGINE_GPUS="0",
    ) as running:
        yield running


@pytest.fixture
def world(transactional_db, worker):
    return make_world()


@pytest.fixture
def fake_gpu():
    """A CDI specification giving podman one "GPU", nvidia.com/gpu=0, which sets an
    environment variable instead of adding a device (this machine has no GPU)."""
    folder = Path("/var/run/cdi")
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / f"gradient-test-{os.getpid()}.yaml"
    spec.write_text(
        'cdiVersion: "0.5.0"\nkind: "nvidia.com/gpu"\ndevices:\n'
        '  - name: "0"\n    containerEdits:\n      env: ["FAKE_GPU=0"]\n'
    )
    yield
    spec.unlink()


def test_a_job_runs_in_its_image_and_not_on_the_host(world):
    run = world.submit(
        """
        jobs:
          look:
            uses: script@v1
            with:
              image: bash:5
              script: |
                cat /etc/image-marker
                test -e /usr/bin/python3 && echo "HOST FILES VISIBLE"
                echo "bash $BASH_VERSION"
        """
    )
    run = wait_for_run(run)

    log = job_log(run, "look")
    assert run.phase == "SUCCEEDED", log
    assert log.splitlines()[0] == 'script@v1 runs in the image "bash:5" with podman'
    assert f"{containers.IMAGE_MARKER} localhost/test-bash:5" in log
    assert "HOST FILES VISIBLE" not in log
    assert "bash 5." in log


def test_an_image_is_pulled_through_the_mirror_on_first_use_and_the_pull_shows(world, test_images):
    test_images.push("localhost/layered:1", "library/layered:1", extra=3)
    run = world.submit(
        """
        jobs:
          first:
            uses: container@v1
            with: {image: "layered:1", command: ["cat", "/etc/image-marker", "/etc/extra2"]}
          again:
            needs: [first]
            uses: container@v1
            with: {image: "layered:1", command: ["cat", "/etc/extra0"]}
        """
    )
    run = wait_for_run(run)

    assert run.phase == "SUCCEEDED", job_log(run, "first")
    first = job_log(run, "first")
    assert (
        f"pulling docker.io/library/layered:1 (from {test_images.mirror.host}, then docker.io)"
        in first
    )
    assert "pulled docker.io/library/layered:1 in " in first
    assert "layer 2" in first
    assert "pulling" not in job_log(run, "again"), "a cached image is not pulled again"
    events = redis.Redis.from_url(settings.REDIS_URL).xrange(run_stream_key(run.pk))
    details = [json.loads(fields[b"event"]) if b"event" in fields else None for _, fields in events]
    messages = [e["message"] for e in details if e and e.get("type") == "job.detail"]
    # busybox, its links, the marker, bash and the three extra layers
    assert messages[0] == "pulling layered:1 — starting"
    assert messages[-2:] == ["pulling layered:1 — 7/7 layers", ""], "done, then cleared"


def test_a_failed_pull_fails_the_job_naming_the_image_and_the_registrys_answer(world, test_images):
    run = world.submit(
        f"""
        jobs:
          missing:
            uses: container@v1
            with: {{image: "nope:1", command: ["true"]}}
          private:
            uses: container@v1
            with: {{image: "{test_images.private.host}/library/bash:5", command: ["true"]}}
        """
    )
    run = wait_for_run(run)

    missing = run.jobs.get(name="missing")
    assert missing.phase == "FAILED"
    assert missing.message.startswith(
        'could not pull the image "nope:1" (docker.io/library/nope:1): '
    )
    assert "manifest unknown" in missing.message
    private = run.jobs.get(name="private")
    assert private.phase == "FAILED"
    assert f'could not pull the image "{test_images.private.host}/library/bash:5"' in (
        private.message
    )
    assert "authentication required" in private.message


def test_a_pull_with_an_auth_file_reaches_a_registry_that_wants_credentials(
    test_images, tmp_path, settings
):
    from runs.engine.local.images import image_pull

    settings.LOCAL_ENGINE_REGISTRY_MIRRORS = ""
    store = containers.store_make()
    lines: list[str] = []
    try:
        seconds = image_pull(
            engine=containers.podman(store),
            docker=False,
            image=f"{test_images.private.host}/library/bash:5",
            log=lines.append,
            detail=lines.append,
            tick=lambda: None,
            authfile=test_images.private.authfile(tmp_path),
        )
    finally:
        containers.store_remove(store)
    assert seconds > 0
    host = test_images.private.host
    assert lines[0] == f"pulling {host}/library/bash:5 (from {host})"
    assert any(line.startswith("pull: Writing manifest") for line in lines), lines


def test_a_job_over_its_memory_limit_fails_saying_it_ran_out_of_memory(world):
    Cluster.objects.filter(team=world.team, handle="local").update(
        instance_types={"small": {"memory": "32Mi"}}
    )
    hungry = textwrap.indent(
        textwrap.dedent(
            """\
            uses: script@v1
            with:
              image: bash:5
              script: |
                echo starting
                big=$(head -c 200000000 /dev/zero | tr '\\0' x)
                echo "survived ${#big}"
            """
        ),
        "    ",
    )
    spec = f"jobs:\n  default:\n{hungry}  small:\n    resources: {{instance-type: small}}\n{hungry}"
    run = wait_for_run(world.submit(spec))

    for name, limit in (("default", "64 MiB"), ("small", "32 MiB")):
        job = run.jobs.get(name=name)
        assert job.phase == "FAILED", job_log(run, name)
        assert job.message == f"ran out of memory (limit {limit})"
        assert "survived" not in job_log(run, name)


def test_processes_tmp_and_writable_folders_are_bounded(world):
    run = world.submit(
        """
        jobs:
          forks:
            uses: script@v1
            with:
              image: bash:5
              script: |
                for i in $(seq 100); do sleep 20 & done 2>&1 | head -3
                echo "running: $(jobs -p | wc -l)"
          tmp:
            uses: script@v1
            with:
              image: bash:5
              script: dd if=/dev/zero of=/tmp/big bs=1k count=2000
          writer:
            uses: script@v1
            with:
              image: bash:5
              script: |
                head -c 6000000 /dev/urandom > /outputs/answer
                sleep 60
            outputs:
              answer: {type: string}
        """
    )
    run = wait_for_run(run)

    forks = job_log(run, "forks")
    assert "fork" in forks and "Resource temporarily unavailable" in forks, forks
    tmp = run.jobs.get(name="tmp")
    assert tmp.phase == "FAILED"
    assert "No space left on device" in job_log(run, "tmp")
    writer = run.jobs.get(name="writer")
    assert writer.phase == "FAILED"
    assert writer.message == (
        "wrote more than 4 MiB into /workspace and /outputs (LOCAL_ENGINE_WRITABLE_MAX)"
    )


def test_a_cluster_without_network_leaves_a_job_only_loopback(world):
    Cluster.objects.filter(team=world.team, handle="local").update(allow_network=False)
    run = wait_for_run(
        world.submit(
            """
            jobs:
              net:
                uses: container@v1
                with: {image: bash:5, command: [sh, -c, "echo interfaces: $(ls /sys/class/net)"]}
            """
        )
    )

    assert run.phase == "SUCCEEDED"
    assert job_log(run, "net").splitlines()[-1] == "interfaces: lo"


def test_a_job_with_network_cannot_reach_the_hosts_loopback(world):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted = []
    done = threading.Event()

    def accept():
        while not done.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        run = wait_for_run(
            world.submit(
                f"""
                jobs:
                  probe:
                    uses: script@v1
                    with:
                      image: bash:5
                      script: |
                        ls /sys/class/net
                        cut -d: -f1 /proc/net/dev
                        find /sys/devices -path '*/net/*/address' -exec cat {{}} + 2>/dev/null
                        for host in 127.0.0.1 10.0.2.2; do
                          timeout 5 bash -c "echo > /dev/tcp/$host/{port}" && echo "reached $host"
                        done
                        true
                """
            )
        )
    finally:
        done.set()
        thread.join()
        server.close()

    log = job_log(run, "probe")
    assert run.phase == "SUCCEEDED", log
    assert "tap0" in log, "the job has a network"
    host_interfaces = set(os.listdir("/sys/class/net")) - {"lo"}
    assert not host_interfaces & set(log.split()), "the host's interfaces stay out of sight"
    addresses = {
        Path(f"/sys/class/net/{name}/address").read_text().strip() for name in host_interfaces
    }
    assert not (addresses - {"00:00:00:00:00:00"}) & set(log.split()), "nor their addresses"
    assert "reached" not in log
    assert accepted == []


def test_pid_1_sees_only_the_jobs_environment_and_no_secret_is_on_a_command_line(world):
    world.secret("token", "s3cr3t-on-no-command-line")
    run = world.submit(
        """
        jobs:
          env:
            env:
              GREETING: hello
              TOKEN: secret:token
            uses: script@v1
            with:
              image: bash:5
              script: |
                tr '\\0' '\\n' < /proc/1/environ | sort
                sleep 3
        """
    )
    job = wait_for_job_phase(run, "env", "RUNNING")
    name = f"gw-{job.log_id}-{job.attempt}"
    command_lines = []
    while not command_lines and JobRun.objects.get(pk=job.pk).phase == "RUNNING":
        for process in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if name in cmdline:
                command_lines.append(cmdline)
    run = wait_for_run(run)

    log = job_log(run, "env")
    assert run.phase == "SUCCEEDED", log
    assert "GREETING=hello" in log and "TOKEN=***" in log
    for leaked in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DJANGO", "CELERY"):
        assert leaked not in log
    assert command_lines, "the podman client was not seen"
    assert all("s3cr3t-on-no-command-line" not in line for line in command_lines)


def test_container_root_is_not_host_root_and_its_outputs_are_committed(world):
    world.dataset("written")
    run = world.submit(
        """
        jobs:
          write:
            uses: script@v1
            with:
              image: bash:5
              script: |
                cat /proc/self/uid_map
                id -u
                mkdir -p /outputs/data/sub && echo made > /outputs/data/sub/file.txt
                chmod 700 /outputs/data/sub
            outputs:
              data: {type: dataset, with: {ref: written}}
        """
    )
    run = wait_for_run(run)

    log = job_log(run, "write")
    assert run.phase == "SUCCEEDED", log
    assert ["0", "100000", "65536"] in [line.split() for line in log.splitlines()]
    version = DatasetVersion.objects.get(dataset__name="written")
    written = Path(version.storage_location) / "sub" / "file.txt"
    assert written.read_text() == "made\n"
    assert written.stat().st_uid == 100000
    assert not (settings.DATA_DIR / "runs" / str(run.pk)).exists(), "the run's folders are gone"


def test_cancel_and_timeout_stop_the_container_itself(world, engine_store):
    containers.cancel_and_timeout_stop_the_container(
        world, lambda: containers.container_names(engine_store)
    )


def _mounted_namespaces() -> set[str]:
    folder = Path("/run/netns")
    return set(os.listdir(folder)) if folder.is_dir() else set()


def test_a_container_with_network_joins_a_network_the_worker_made_and_leaves_no_mount(
    world, engine_store
):
    """podman's own network left its namespace mounted under /run/netns now and then.

    Thousands of those made every new namespace on the machine slow (0.2 s for
    bwrap); a container now joins a namespace the worker made, which nothing mounts.
    """
    from runs.services import run_request_cancel

    before = _mounted_namespaces()
    run = world.submit(
        """
        jobs:
          online:
            uses: container@v1
            with: {image: bash:5, command: ["bash", "-c", "cat /proc/net/dev; sleep 300"]}
        """
    )
    online = wait_for_job_phase(run, "online", "RUNNING")
    name = f"gw-{online.log_id}-{online.attempt}"
    containers.wait_for(lambda: "tap0" in job_log(run, "online"))
    assert name in containers.container_names(engine_store)
    assert _mounted_namespaces() - before == set(), "no namespace is mounted for the container"
    assert run_request_cancel(run=run)
    assert wait_for_run(run, timeout=30).phase == "CANCELED"
    assert _mounted_namespaces() - before == set()


def test_a_job_naming_its_teams_registry_pulls_with_that_login(world, test_images, engine_store):
    """Last in the module: the image it pulls stays in the module's store."""
    from workflows.services import container_registry_create

    user, password = test_images.private.auth
    container_registry_create(
        team=world.team,
        name="private",
        server=test_images.private.host,
        username=user,
        password=password,
    )
    private_spec = f"""
        jobs:
          private:
            uses: container@v1
            with: {{image: "{test_images.private.host}/library/bash:5", command: ["true"]}}
            resources:
              container-registries: [private]
        """
    run = wait_for_run(world.submit(private_spec))

    job = run.jobs.get(name="private")
    assert job.phase == "SUCCEEDED", job.message
    assert password not in job_log(run, "private")

    # The image is now in the store; another team without those credentials
    # does not get it from there (it used to run it without any).
    other = make_world("outsider")
    container_registry_create(
        team=other.team,
        name="guess",
        server=test_images.private.host,
        username=user,
        password="not-the-password",
    )
    image = f"{test_images.private.host}/library/bash:5"
    digest = subprocess.run(
        [*containers.podman(engine_store), "image", "inspect", "--format", "{{.Digest}}", image],
        capture_output=True,
        text=True,
    ).stdout.strip()
    by_digest = f"{test_images.private.host}/library/bash@{digest}"
    guess = "\n    resources:\n      container-registries: [guess]"
    for name, registries in ((image, ""), (by_digest, ""), (image, guess)):
        spec = (
            "jobs:\n  borrow:\n    uses: container@v1\n"
            f'    with: {{image: "{name}", command: ["true"]}}{registries}\n'
        )
        borrowed = wait_for_run(other.submit(spec))
        job = borrowed.jobs.get(name="borrow")
        assert job.phase == "FAILED", job_log(borrowed, "borrow")
        assert name in job.message and "unauthorized" in job.message.lower(), job.message

    # The team whose credentials pulled it keeps using it from the store.
    again = wait_for_run(world.submit(private_spec))
    assert again.jobs.get(name="private").phase == "SUCCEEDED"
    assert "pulled" not in job_log(again, "private")
