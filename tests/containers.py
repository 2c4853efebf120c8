"""Real container parts for tests: a private registry and small images built at test time.

`docker-registry` (Debian's package of the CNCF distribution registry) serves
on a free loopback port, optionally behind htpasswd auth. Images are built
with podman from Debian's `busybox-static` and `bash-static` binaries in a
private podman store and pushed there, so that a worker pulling them from the
registry (through a mirror setting) does the same work as on a real host,
without the internet and without touching the machine's own podman store.

`bash:5` here is busybox (with its applets linked into /bin) plus bash, and a
marker file /etc/image-marker that the host does not have.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from gradient.private_redis import free_port

BUSYBOX = Path("/bin/busybox")
BASH_STATIC = Path("/bin/bash-static")
IMAGE_MARKER = "gradient test image"
MISSING = [
    name
    for name, found in (
        ("podman", shutil.which("podman")),
        ("docker-registry", shutil.which("docker-registry")),
        ("busybox-static", BUSYBOX.exists()),
        ("bash-static", BASH_STATIC.exists()),
    )
    if not found
]
# What the Docker tests need beyond that: Debian's docker.io (the daemon and its
# client) and iproute2 (the daemon's bridge).
DOCKER_MISSING = [name for name in ("dockerd", "docker", "ip") if not shutil.which(name)]


@dataclass(frozen=True)
class Registry:
    """A running registry: `host` is HOST:PORT; `auth` the (user, password) it wants, if any."""

    host: str
    auth: tuple[str, str] | None = None

    def authfile(self, folder: Path) -> Path:
        """A credentials file for this registry in Docker's config.json format."""
        user, password = self.auth
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        path = folder / "auth.json"
        path.write_text(json.dumps({"auths": {self.host: {"auth": token}}}))
        path.chmod(0o600)
        return path


@contextlib.contextmanager
def registry(folder: Path, auth: tuple[str, str] | None = None) -> Iterator[Registry]:
    """docker-registry on a free loopback port, storing into `folder`, until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = [
        "version: 0.1",
        "log: {level: error}",
        f"storage: {{filesystem: {{rootdirectory: {folder / 'data'}}}, delete: {{enabled: true}}}}",
        f"http: {{addr: '127.0.0.1:{port}'}}",
    ]
    if auth:
        user, password = auth
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        (folder / "htpasswd").write_text(f"{user}:{hashed}\n")
        config.append(
            f"auth: {{htpasswd: {{realm: test, path: {folder / 'htpasswd'}}}}}",
        )
    (folder / "config.yml").write_text("\n".join(config) + "\n")
    log = open(folder / "registry.log", "ab")
    process = subprocess.Popen(
        ["docker-registry", "serve", str(folder / "config.yml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/v2/", process)
        yield Registry(host=f"127.0.0.1:{port}", auth=auth)
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def _wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited with code {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # 401 from a registry with auth: it is up
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("docker-registry did not answer within 30 s")


@contextlib.contextmanager
def docker_daemon() -> Iterator[str]:
    """A dockerd of the test's own until the block ends; answers its DOCKER_HOST.

    Everything it keeps (images, containers, its socket) is under one private
    folder, and its containers live in containerd namespaces of their own,
    even where it shares the host's containerd. It reads no configuration of
    the host's, writes no firewall rules and leaves IP forwarding as it is.
    Its containers' bridge is one of its own (`_bridge`), never the host's
    docker0: `--bridge=none` would delete that. Debian's dockerd 20.10 writes
    /etc/docker/key.json, which goes again if the test made it.
    """
    with contextlib.ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="gw-docker-", dir="/tmp"))
        stack.callback(_folder_remove, folder)
        key = Path("/etc/docker/key.json")
        if not key.exists():
            stack.callback(key.unlink, missing_ok=True)
        (folder / "daemon.json").write_text("{}\n")
        host = f"unix://{folder / 'docker.sock'}"
        namespace = f"gw-test-{os.getpid()}"
        log = stack.enter_context(open(folder / "dockerd.log", "ab"))
        process = subprocess.Popen(
            [
                "dockerd",
                "--config-file", str(folder / "daemon.json"),
                "--data-root", str(folder / "data"),
                "--exec-root", str(folder / "exec"),
                "--pidfile", str(folder / "dockerd.pid"),
                "--host", host,
                "--containerd-namespace", namespace,
                "--containerd-plugins-namespace", f"{namespace}-plugins",
                "--bridge", stack.enter_context(_bridge()),
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        stack.callback(_stop, process)
        stack.callback(_docker_containers_remove, host)
        _docker_wait_until_up(host, process, folder / "dockerd.log")
        yield host


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()


def _docker_containers_remove(host: str) -> None:
    listed = subprocess.run(
        ["docker", "--host", host, "ps", "--all", "--quiet"], capture_output=True, text=True
    )
    if listed.stdout.split():
        subprocess.run(
            ["docker", "--host", host, "rm", "--force", "--volumes", *listed.stdout.split()],
            capture_output=True,
        )


def docker_container_names(host: str) -> list[str]:
    """The containers the daemon at `host` has, running or not."""
    answer = subprocess.run(
        ["docker", "--host", host, "ps", "--all", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return answer.stdout.split()


def _docker_wait_until_up(host: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").splitlines()[-5:]
            raise RuntimeError(f"dockerd exited with code {process.returncode}: {tail}")
        answer = subprocess.run(["docker", "--host", host, "info"], capture_output=True)
        if answer.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError("dockerd did not answer within 60 s")


@contextlib.contextmanager
def _bridge() -> Iterator[str]:
    """A network bridge named after this process, in 198.18.0.0/15 (RFC 2544's range for
    benchmarking, which no real network routes)."""
    pid = os.getpid()
    name = f"gw-test-{pid % 100_000}"
    address = f"198.{18 + pid // 256 % 2}.{pid % 256}.1/24"
    made = subprocess.run(["ip", "link", "add", name, "type", "bridge"], capture_output=True)
    if made.returncode != 0:
        raise RuntimeError(f"cannot make the bridge {name}: {made.stderr.decode().strip()}")
    try:
        subprocess.run(["ip", "address", "add", address, "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "delete", name], capture_output=True)


def cancel_and_timeout_stop_the_container(world, names: Callable[[], list[str]]) -> None:
    """A canceled job's container and a timed-out one's are gone, not only their clients;
    `names` lists the engine's containers."""
    from runs.services import run_request_cancel
    from tests.runs.engine_helpers import wait_for_job_phase, wait_for_run

    canceled = world.submit(
        """
        jobs:
          long:
            uses: container@v1
            with: {image: bash:5, command: ["sleep", "300"]}
        """
    )
    long = wait_for_job_phase(canceled, "long", "RUNNING", timeout=120)
    name = f"gw-{long.log_id}-{long.attempt}"
    wait_for(lambda: name in names())
    assert run_request_cancel(run=canceled)
    canceled = wait_for_run(canceled, timeout=30)
    assert canceled.phase == "CANCELED"
    assert name not in names()

    timed_out = wait_for_run(
        world.submit(
            """
            jobs:
              slow:
                timeout: 2s
                uses: container@v1
                with: {image: bash:5, command: ["sleep", "300"]}
            """
        ),
        timeout=60,
    )
    slow = timed_out.jobs.get(name="slow")
    assert slow.message == "timed out after 2s (the job's timeout)"
    assert not [n for n in names() if n.startswith("gw-")]


def podman(store: Path) -> list[str]:
    """podman on a private store (images, containers and state under `store`), as the engine
    runs it."""
    from runs.engine.local.containers import engine_command

    return list(engine_command("podman", str(store)))


def store_make() -> Path:
    """A fresh folder for a private podman store (podman wants its path short)."""
    return Path(tempfile.mkdtemp(prefix="gw-store-", dir="/tmp"))


def store_remove(store: Path) -> None:
    """Remove a private podman store, unmounting what podman left mounted in it.

    Not `podman system reset`: that also empties podman's host-wide state
    folder, under every other podman on the machine.
    """
    subprocess.run([*podman(store), "rm", "--all", "--force"], capture_output=True)
    _folder_remove(store)


def _folder_remove(folder: Path) -> None:
    """Remove an engine's folder, unmounting what the engine left mounted in it."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(str(folder))), reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


def image_build(store: Path, folder: Path, tag: str, *, bash: bool = True, extra: int = 0) -> str:
    """Build `tag` from busybox (+ bash): one layer per step, plus `extra` small layers."""
    context = folder / tag.replace("/", "_").replace(":", "_")
    (context / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy(BUSYBOX, context / "bin" / "busybox")
    steps = [
        "FROM scratch",
        "COPY bin/busybox /bin/busybox",
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
        "COPY marker /etc/image-marker",
    ]
    (context / "marker").write_text(f"{IMAGE_MARKER} {tag}\n")
    if bash:
        shutil.copy(BASH_STATIC, context / "bin" / "bash")
        steps.append("COPY bin/bash /bin/bash")
    for index in range(extra):
        (context / f"extra{index}").write_text(f"layer {index}\n")
        steps.append(f"COPY extra{index} /etc/extra{index}")
    (context / "Containerfile").write_text("\n".join(steps) + "\n")
    _run([*podman(store), "build", "--quiet", "--isolation=chroot", "--tag", tag, str(context)])
    return tag


def image_push(store: Path, tag: str, target: Registry, name: str) -> str:
    """Push the local image `tag` to `target` as `name` (e.g. library/bash:5)."""
    destination = f"{target.host}/{name}"
    command = [*podman(store), "push", "--quiet", "--tls-verify=false"]
    if target.auth:
        command += ["--creds", ":".join(target.auth)]
    _run([*command, tag, destination])
    return destination


def _run(command: list[str]) -> None:
    answer = subprocess.run(command, capture_output=True, text=True)
    if answer.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {answer.stderr.strip()}")


@dataclass(frozen=True)
class TestImages:
    """What the session's fixtures made: the mirror of docker.io and a registry with auth."""

    __test__ = False

    mirror: Registry
    private: Registry
    builder: Path

    def push(self, tag: str, name: str, *, extra: int = 0, to: Registry | None = None) -> str:
        """Build another image now and push it (to the mirror unless told otherwise)."""
        built = image_build(self.builder, self.builder / "contexts", tag, extra=extra)
        return image_push(self.builder, built, to or self.mirror, name)


def worker_env(images: TestImages, store: Path, **extra: str) -> dict[str, str]:
    """Settings for a Celery worker that runs jobs with podman, pulling from `images`' mirror."""
    return {
        "LOCAL_ENGINE_RUNTIME": "podman",
        "LOCAL_ENGINE_IMAGE_STORE": str(store),
        "LOCAL_ENGINE_REGISTRY_MIRRORS": f"docker.io={images.mirror.host}",
        **extra,
    }


def container_names(store: Path) -> list[str]:
    """The containers podman has in `store`, running or not."""
    answer = subprocess.run(
        [*podman(store), "ps", "-a", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return answer.stdout.split()


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.1)
