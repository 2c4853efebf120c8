"""A hostile job, for real: every attack of issue 11 item 5 against a live worker.

Each test submits what a user with nothing but a spec could write and checks
that the job stays inside its sandbox: outputs that are symbolic links out of
/outputs fail the job, the server's loopback services are out of reach, no
process in the job sees the worker's environment, the job is not root, and its
processes, memory and disk are bounded. The worker runs with small limits so
the bounds show without loading the machine.

The tests run once per runtime (`LOCAL_ENGINE_RUNTIME`): `bwrap` (host mode),
and `podman` (container mode) once runs/engine/local/containers.py is there.
"""

from __future__ import annotations

import http.server
import importlib.util
import platform
import secrets
import socket
import textwrap
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings

from runs.selectors import run_status_document
from tests.processes import celery_worker
from tests.runs.engine_helpers import (
    S3_DOWNLOAD,
    job_log,
    make_world,
    script_calling_the_32_bit_abi,
    wait_for_run,
)
from workflows.models import Cluster, DatasetVersion

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("bubblewrap"),
]

LIMITS = {
    "LOCAL_ENGINE_DEFAULT_PIDS": "64",
    "LOCAL_ENGINE_DEFAULT_MEMORY": "512Mi",
    "LOCAL_ENGINE_WRITABLE_MAX": "16Mi",
    "LOCAL_ENGINE_TMP_SIZE": "8Mi",
}
WORKER_SECRETS = ("REDIS_URL", "SECRET_KEY", "DATABASE_URL")


def _runtimes() -> list[str]:
    """bwrap always; podman once the container runtime (local/containers.py) is in the code."""
    runtimes = ["bwrap"]
    if importlib.util.find_spec("runs.engine.local.containers") is not None:
        runtimes.append("podman")
    return runtimes


@pytest.fixture(scope="module", params=_runtimes())
def runtime(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def worker(runtime, request, django_db_setup, tmp_path_factory, redis_url_module):
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {"LOCAL_ENGINE_RUNTIME": runtime, "LOCAL_ENGINE_STOP_GRACE_SECONDS": "2", **LIMITS}
    store = None
    if runtime == "podman":
        # The container work's registry and private store: `bash:5` is busybox plus bash.
        from tests import containers

        images = request.getfixturevalue("test_images")
        store = containers.store_make()
        env["LOCAL_ENGINE_IMAGE_STORE"] = str(store)
        env["LOCAL_ENGINE_REGISTRY_MIRRORS"] = f"docker.io={images.mirror.host}"
    try:
        with celery_worker(concurrency=1, log_path=log, **env) as running:
            yield running
    finally:
        if store is not None:
            containers.store_remove(store)


@pytest.fixture
def world(transactional_db, worker):
    return make_world()


@pytest.fixture
def secret_file() -> tuple[Path, str]:
    """A secret in the data folder, like the server's own secret_key."""
    path = settings.DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path, path.read_text()


@pytest.fixture
def listener():
    """A TCP server on the host's loopback, counting the connections it accepts."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    yield server
    server.close()


def _accepted(server: socket.socket) -> int:
    count = 0
    while True:
        try:
            connection, _ = server.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


def _everything_stored(run) -> str:
    """Every value a run keeps that a user can read: status, messages, outputs, logs."""
    import json

    run.refresh_from_db()
    stored = [json.dumps(run_status_document(run))]
    for job in run.jobs.all():
        stored += [job.message or "", json.dumps(job.outputs or {}), job_log(run, job.name)]
    return "\n".join(stored)


def _script_job(script: str, outputs: str = "", **settings_) -> str:
    body = "\n".join(f"        {line}" for line in script.strip().splitlines())
    spec = f"""
jobs:
  attack:
    uses: script@v1
    with:
      image: bash:5
      script: |-
{body}
"""
    return spec + (f"    outputs:\n{outputs}" if outputs else "")


def _network(world, allowed: bool) -> None:
    Cluster.objects.filter(team=world.team, handle="local").update(allow_network=allowed)


# Reading outputs never follows a link out of /outputs.


def test_a_string_output_linking_to_the_secret_key_fails_the_job_and_leaks_nothing(
    world, secret_file
):
    path, secret = secret_file
    run = wait_for_run(
        world.submit(
            _script_job(
                f"ln -s {path} /outputs/leak",
                "      leak: {type: string}\n",
            )
        )
    )

    attack = run.jobs.get(name="attack")
    assert attack.phase == "FAILED"
    assert 'the string output "leak"' in attack.message
    assert "symbolic link" in attack.message
    assert secret not in _everything_stored(run)


def test_a_dataset_output_with_a_link_out_of_it_fails_and_commits_nothing(world, secret_file):
    path, secret = secret_file
    world.dataset("loot")
    run = wait_for_run(
        world.submit(
            _script_job(
                f"echo fine > /outputs/loot/ok.txt\nln -s {path} /outputs/loot/key\n"
                "ln -s / /outputs/loot/host\nln -s ../../.. /outputs/loot/up",
                "      loot: {type: dataset, with: {ref: loot}}\n",
            )
        )
    )

    attack = run.jobs.get(name="attack")
    assert attack.phase == "FAILED"
    assert 'the dataset output "loot"' in attack.message
    assert "key" in attack.message and "leave the output" in attack.message
    assert not DatasetVersion.objects.filter(dataset__name="loot").exists()
    assert secret not in _everything_stored(run)


def test_links_that_stay_inside_a_dataset_output_are_kept(world):
    world.dataset("tree")
    run = wait_for_run(
        world.submit(
            _script_job(
                "mkdir -p /outputs/tree/sub && echo data > /outputs/tree/sub/data.txt\n"
                "ln -s sub/data.txt /outputs/tree/alias",
                "      tree: {type: dataset, with: {ref: tree}}\n",
            )
        )
    )

    assert run.phase == "SUCCEEDED", job_log(run, "attack")
    version = DatasetVersion.objects.get(dataset__name="tree")
    folder = Path(version.storage_location)
    assert (folder / "alias").read_text() == "data\n"
    assert version.file_count == 1


# The network: outbound only, never the host's loopback.


def test_with_network_on_a_job_reaches_neither_loopback_nor_redis(world, listener):
    _network(world, True)
    port = listener.getsockname()[1]
    redis_port = urlparse(settings.REDIS_URL).port
    probes = "\n".join(
        f"timeout 5 bash -c 'echo > /dev/tcp/{host}/{p}' 2>/dev/null && echo REACHED {host}:{p}"
        for host in ("127.0.0.1", "10.0.2.2", "localhost")
        for p in (port, redis_port)
    )
    run = wait_for_run(world.submit(_script_job(f"{probes}\ncat /proc/net/dev\ntrue")))

    log = job_log(run, "attack")
    assert run.phase == "SUCCEEDED", log
    assert "REACHED" not in log
    assert _accepted(listener) == 0
    interfaces = {line.split(":")[0].strip() for line in log.splitlines() if ":" in line}
    assert "lo" in interfaces and len(interfaces - {"lo"}) >= 1, "network on has an outside link"


def test_a_job_never_joins_the_network_of_another_workflows_jobs(world):
    """A worker process keeps a workflow's network for that workflow's next jobs
    (runs/engine/local/sandbox/network.py); no job of another workflow, of the same team
    or of another, ever joins it. The worker runs one job at a time in one process."""
    _network(world, True)
    stranger = make_world("stranger")
    Cluster.objects.filter(team=stranger.team, handle="local").update(allow_network=True)
    spec = _script_job("readlink /proc/self/ns/net")

    runs = [
        wait_for_run(world.submit(spec, workflow="one")),
        wait_for_run(world.submit(spec, workflow="one")),
        wait_for_run(world.submit(spec, workflow="two")),
        wait_for_run(stranger.submit(spec, workflow="one")),
        wait_for_run(world.submit(spec, workflow="one")),
    ]

    assert [run.phase for run in runs] == ["SUCCEEDED"] * 5, job_log(runs[0], "attack")
    first, again, other, strangers, back = (job_log(run, "attack").splitlines()[-1] for run in runs)
    assert first.startswith("net:[") and again == first and back == first
    assert other != first and strangers not in (first, other)


def test_with_network_off_a_job_has_only_loopback(world):
    _network(world, False)
    run = wait_for_run(
        world.submit(_script_job("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"))
    )

    assert run.phase == "SUCCEEDED", job_log(run, "attack")
    assert job_log(run, "attack").split("\n")[1:] == ["lo"]


# The environment, the user, the limits.


def test_no_process_of_a_job_sees_the_workers_environment(world):
    run = wait_for_run(
        world.submit(
            _script_job(
                "sleep 30 &\n"
                "for f in /proc/[0-9]*/environ; do echo \"== $f\"; tr '\\0' '\\n' < $f; done\n"
                "kill %1"
            )
        )
    )

    log = job_log(run, "attack")
    assert "== /proc/1/environ" in log
    for name in WORKER_SECRETS:
        assert f"{name}=" not in log
    assert settings.SECRET_KEY not in log


def test_a_job_is_not_host_root_and_on_the_host_cannot_read_the_shadow_file(world, runtime):
    run = wait_for_run(
        world.submit(
            _script_job(
                "echo uid=$(id -u)\ncat /proc/self/uid_map\n"
                "head -c 64 /etc/shadow || echo no-shadow"
            )
        )
    )

    log = job_log(run, "attack").splitlines()
    uid = int(next(line for line in log if line.startswith("uid="))[4:])
    # uid_map lines: first uid inside, first uid outside, count.
    for line in log:
        fields = line.split()
        if len(fields) == 3 and all(f.isdigit() for f in fields):
            inside, outside, count = map(int, fields)
            if inside <= uid < inside + count:
                assert outside + uid - inside != 0, "the job is host root"
    if runtime == "bwrap":
        assert uid != 0
        assert "no-shadow" in log
        assert not any(line.startswith("root:") for line in log)


def test_a_fork_bomb_is_bounded_by_the_pids_limit(world):
    # The inner shell stops at its first refused fork; only builtins run after it.
    run = wait_for_run(
        world.submit(
            _script_job(
                "sh -c 'i=0; while [ $i -lt 300 ]; do sleep 60 & i=$((i+1)); "
                "echo $i > /tmp/forked; done'\n"
                "read n < /tmp/forked\n"
                'echo "forked $n"\n'
                "kill -9 -1"
            )
        ),
        timeout=90,
    )

    log = job_log(run, "attack")
    forked = int(log.split("forked ")[1].split()[0])
    assert 0 < forked < int(LIMITS["LOCAL_ENGINE_DEFAULT_PIDS"])


def test_memory_past_the_limit_is_refused(world):
    # A 700 MB string in one shell, over the 512Mi limit (the marker is split in the
    # script so that an error quoting the script cannot show it).
    run = wait_for_run(
        world.submit(
            _script_job(
                'bash -c \'x=$(head -c 734003200 /dev/zero | tr "\\0" a); '
                'echo ALLOC""ATED ${#x}\' || echo refused'
            )
        )
    )

    log = job_log(run, "attack")
    assert "ALLOCATED" not in log
    assert "refused" in log


def test_a_job_killed_for_memory_says_so(world, runtime):
    run = wait_for_run(
        world.submit(_script_job("x=$(head -c 734003200 /dev/zero | tr '\\0' a)\necho ${#x}"))
    )

    attack = run.jobs.get(name="attack")
    assert attack.phase == "FAILED"
    # Without a memory cgroup the host bounds each process: the allocation fails, no kill.
    if runtime == "podman" or Path("/sys/fs/cgroup/memory/cgroup.procs").exists():
        assert "ran out of memory" in attack.message


def test_the_instance_type_a_job_names_bounds_it_in_either_mode(world, runtime):
    """Host mode ignored instance types and gave every job the default limits."""
    Cluster.objects.filter(team=world.team, handle="local").update(
        instance_types={"tiny": {"memory": "32Mi"}}
    )
    spec = _script_job("x=$(head -c 104857600 /dev/zero | tr '\\0' a)\necho survived ${#x}")
    tiny = spec.replace("    uses:", "    resources: {instance-type: tiny}\n    uses:")
    run = wait_for_run(world.submit(tiny))

    attack = run.jobs.get(name="attack")
    log = job_log(run, "attack")
    assert attack.phase == "FAILED", log
    assert "survived" not in log
    if runtime == "podman" or Path("/sys/fs/cgroup/memory/cgroup.procs").exists():
        assert attack.message == "ran out of memory (limit 32 MiB)"


def test_tmp_is_bounded(world):
    run = wait_for_run(
        world.submit(_script_job("head -c 20971520 /dev/zero > /tmp/big || echo tmp-full\ndf /tmp"))
    )

    log = job_log(run, "attack")
    assert "tmp-full" in log


def test_one_file_past_the_disk_bound_fails(world, runtime):
    run = wait_for_run(
        world.submit(
            _script_job(
                "head -c 20971520 /dev/zero > /outputs/big",
                "      big: {type: string}\n",
            )
        )
    )

    attack = run.jobs.get(name="attack")
    assert attack.phase == "FAILED"
    if runtime == "bwrap":
        assert "File size limit exceeded" in job_log(run, "attack")


def test_outputs_past_the_disk_bound_fail_the_job_clearly(world):
    world.dataset("bulk")
    run = wait_for_run(
        world.submit(
            _script_job(
                "for i in 1 2 3; do head -c 7340032 /dev/zero > /outputs/bulk/part$i; done",
                "      bulk: {type: dataset, with: {ref: bulk}}\n",
            )
        )
    )

    attack = run.jobs.get(name="attack")
    assert attack.phase == "FAILED"
    assert "/outputs" in attack.message and "LOCAL_ENGINE_WRITABLE_MAX" in attack.message
    assert not DatasetVersion.objects.filter(dataset__name="bulk").exists()


# Actions run in the sandbox, under the cluster's network policy.


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (the http.server API)
        self.requests.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"<ListBucketResult></ListBucketResult>")

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_s3():
    _CountingHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _CountingHandler.requests
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("network", [False, True], ids=["network-off", "network-on"])
def test_s3_download_runs_in_the_sandbox_under_the_network_policy(world, fake_s3, network):
    endpoint, requests = fake_s3
    _network(world, network)
    world.dataset("weights")
    world.secret("s3-secret", "local-secret")
    run = wait_for_run(world.submit(S3_DOWNLOAD.format(endpoint=endpoint)))

    fetch = run.jobs.get(name="fetch")
    assert fetch.phase == "FAILED"
    assert requests == [], "the download left the sandbox"
    assert "Could not connect to the endpoint URL" in job_log(run, "fetch")


# The kernel a job may call: no 32-bit ABI in either mode; in host mode no user
# namespace and none of the calls seccomp.py refuses.


def test_a_job_cannot_call_the_32_bit_system_call_abi(world):
    run = wait_for_run(
        world.submit(
            _script_job(script_calling_the_32_bit_abi() + "grep Seccomp: /proc/self/status")
        )
    )

    log = job_log(run, "attack")
    assert run.phase == "SUCCEEDED", log
    assert "exit 159" in log, "killed by SIGSYS: the filter knows no 32-bit ABI"
    assert "Seccomp:\t2" in log


# Host mode's own filter (container mode keeps podman's profile, which allows user namespaces).
@pytest.mark.parametrize("runtime", ["bwrap"], indirect=True)
def test_in_host_mode_a_job_makes_no_user_namespace_and_the_kernels_riskier_calls_fail(world):
    if platform.machine() != "x86_64":
        pytest.fail(
            f"the test's system call numbers are x86-64's; this host is {platform.machine()}"
        )
    calls = textwrap.dedent(
        """\
        import ctypes, errno
        libc = ctypes.CDLL(None, use_errno=True)
        for name, number, args in (
            ("io_uring_setup", 425, (1, ctypes.create_string_buffer(120))),
            ("keyctl", 250, (1, None)),
            ("perf_event_open", 298, (None, 0, -1, -1, 0)),
            ("clone3", 435, (None, 0)),
            ("unshare", 272, (0x10000000,)),
        ):
            answer = libc.syscall(number, *args)
            print(name, "allowed" if answer >= 0 else errno.errorcode[ctypes.get_errno()])
        """
    )
    run = wait_for_run(
        world.submit(
            _script_job(
                "unshare --user true && echo USER-NAMESPACE-MADE\n"
                f"python3 - <<'PYTHON'\n{calls}PYTHON\n"
                "sh -c 'echo a child process still starts'"
            )
        )
    )

    log = job_log(run, "attack")
    assert run.phase == "SUCCEEDED", log
    assert "USER-NAMESPACE-MADE" not in log
    assert "unshare: unshare failed: Operation not permitted" in log
    for name, answer in [
        ("io_uring_setup", "EPERM"),
        ("keyctl", "EPERM"),
        ("perf_event_open", "EPERM"),
        ("clone3", "ENOSYS"),
        ("unshare", "EPERM"),
    ]:
        assert f"{name} {answer}" in log, log
    assert "a child process still starts" in log
