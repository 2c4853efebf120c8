"""A worker that is not root: bwrap makes the job's namespaces itself (a user namespace
among them), and slirp4netns its network (runs/engine/local/sandbox/bwrap.py).

The suite's workers run as root, so this path is driven from a process of
its own that drops to an unprivileged uid before it starts any job, as a
worker started by an ordinary user would be. Each job below tries what the
attack tests (test_job_attacks.py) try against a root worker.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from tests.processes import REPO, child_env

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("bubblewrap")]

# Not 65534: the kernel shows files of uids a user namespace does not map as that one.
WORKER_UID = 41234

# Runs in the unprivileged worker: one job with network off, one with it on, each
# running argv[2] in bash; prints {"off"|"on": [exit code, output]}.
WORKER = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path

    import django

    django.setup()
    # Imported as root: the interpreter's own files may lie where the worker cannot read.
    from runs.engine.local.sandbox import Sandbox

    os.setgroups([])
    os.setgid(int(sys.argv[1]))
    os.setuid(int(sys.argv[1]))

    results = {}
    for network in (False, True):
        workdir = Path(sys.argv[3], "on" if network else "off")
        workdir.mkdir()
        sandbox = Sandbox(
            argv=["bash", "-c", sys.argv[2]],
            env={"JOB_ONLY": "yes"},
            workdir=workdir,
            network=network,
        )
        running = sandbox.start()
        output = running.process.stdout.read().decode()
        code = running.process.wait()
        running.close()
        results["on" if network else "off"] = [code, output]
    print(json.dumps(results))
    """
)


@pytest.fixture
def host_service():
    """A service listening on the host's loopback, as Redis and the dashboard do."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.fixture
def folder():
    """The worker's folder, where it may go: not under pytest's, which only root may enter."""
    made = Path(tempfile.mkdtemp(prefix="rootless-worker-"))
    os.chown(made, WORKER_UID, WORKER_UID)
    yield made
    shutil.rmtree(made)


def _jobs(folder: Path, script: str) -> dict[str, tuple[int, str]]:
    answer = subprocess.run(
        [sys.executable, "-c", WORKER, str(WORKER_UID), script, str(folder)],
        cwd=REPO,
        env=child_env(GRADIENT_DATA_DIR=str(folder / "data"), REDIS_URL="", SECRET_KEY="x"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answer.returncode == 0, answer.stderr
    return {name: tuple(result) for name, result in json.loads(answer.stdout).items()}


def test_a_job_of_an_unprivileged_worker_is_root_only_of_its_own_namespace(folder):
    jobs = _jobs(
        folder,
        "id -u; cat /etc/shadow >/dev/null 2>&1 && echo shadow-read; "
        "echo mine > /workspace/file && stat -c %u /workspace/file",
    )

    for code, output in jobs.values():
        lines = output.splitlines()
        assert code == 0, output
        assert lines[0] == "0", "root of its own user namespace"
        assert "shadow-read" not in output
        assert lines[1] == "0"
    assert (folder / "off" / "file").stat().st_uid == WORKER_UID, (
        "outside, what the job writes is the worker's"
    )


def test_a_job_of_an_unprivileged_worker_sees_only_its_own_environment(folder):
    jobs = _jobs(folder, "for pid in /proc/[0-9]*; do tr '\\0' '\\n' < $pid/environ; done")

    for code, output in jobs.values():
        assert code == 0, output
        assert "JOB_ONLY=yes" in output
        for name in ("DATABASE_URL", "SECRET_KEY", "GRADIENT_DATA_DIR", "REDIS_URL"):
            assert f"{name}=" not in output


def test_a_job_of_an_unprivileged_worker_cannot_reach_the_hosts_loopback(folder, host_service):
    reach = (
        "for host in 127.0.0.1 10.0.2.2; do "
        f"(exec 3<>/dev/tcp/$host/{host_service}) 2>/dev/null && echo reached $host; done; "
        "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"
    )
    jobs = _jobs(folder, reach)

    off, on = jobs["off"], jobs["on"]
    assert off[0] == 0 and on[0] == 0, jobs
    assert "reached" not in off[1] and "reached" not in on[1]
    assert off[1].split() == ["lo"], "network off: only lo"
    assert sorted(on[1].split()) == ["lo", "tap0"], "network on: slirp4netns's tap0"
