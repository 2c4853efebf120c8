"""Host-mode jobs start in a launcher made before them (runs/engine/local/sandbox/launchers.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from runs.engine.local.sandbox import Limits, Sandbox, give_to_job, launchers

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def workdir(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    folder.chmod(0o755)
    return give_to_job(folder)


@pytest.fixture(autouse=True)
def no_spares_left():
    yield
    for network in (True, False):
        launchers.take(network).release()


def _run(sandbox: Sandbox) -> tuple[int, str, int]:
    """The job's pid, its output, and the peak memory its memory cgroup saw."""
    running = sandbox.start()
    output = running.process.stdout.read().decode()
    running.process.wait()
    peak = int((running.cgroups.folders["memory"] / "memory.max_usage_in_bytes").read_text())
    running.close()
    return running.process.pid, output, peak


@pytest.mark.parametrize("network", [True, False])
def test_a_job_becomes_the_launcher_made_before_it_in_its_own_cgroups(workdir, network):
    launchers.prepare(network)
    spare = launchers._ready[network]
    cgroups = list(spare.cgroups.folders.values())
    pid, output, peak = _run(
        Sandbox(
            argv=["cat", "/proc/net/dev"],
            env={},
            workdir=workdir,
            network=network,
        )
    )

    assert pid == spare.process.pid
    assert peak > 0, "the job ran in its own cgroups"
    assert ("tap0:" in output) is network
    assert not any(folder.exists() for folder in cgroups), "its cgroups go with the job"


def test_a_spare_that_died_is_replaced_by_a_new_launcher(workdir):
    launchers.prepare(True)
    dead = launchers._ready[True]
    dead.process.kill()
    dead.process.wait()

    pid, output, _ = _run(Sandbox(argv=["cat", "/proc/net/dev"], env={}, workdir=workdir))

    assert pid != dead.process.pid
    assert "tap0:" in output


def test_a_worker_that_dies_leaves_no_launcher_or_slirp4netns_behind():
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import django, json, time; django.setup()\n"
            "from runs.engine.local.sandbox import launchers\n"
            "launchers.prepare(True); launchers.prepare(False)\n"
            "made = [launchers._ready[n] for n in (True, False)]\n"
            "print(json.dumps([p for m in made for p in (m.process.pid,"
            " m.network.slirp.pid if m.network else None) if p]), flush=True)\n"
            "time.sleep(300)\n",
        ],
        cwd=REPO,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "gradient.settings"},
        stdout=subprocess.PIPE,
    )
    pids = json.loads(holder.stdout.readline())
    assert len(pids) == 3, "two launchers and one slirp4netns"
    assert all(psutil.pid_exists(pid) for pid in pids)

    holder.send_signal(signal.SIGKILL)
    holder.wait()

    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_launcher_gives_the_job_its_rlimits_without_a_prlimit_program(workdir):
    limits = dataclasses.replace(Limits.for_job(), writable=10 * 2**20)
    sandbox = Sandbox(argv=["bash", "-c", "ulimit -f"], env={}, workdir=workdir, limits=limits)

    _, output, _ = _run(sandbox)

    assert output.split() == ["10240"], "10 MiB in bash's 1024-byte blocks"
    assert "prlimit" not in " ".join(sandbox.command(launched=True))


def test_a_stopping_worker_process_removes_its_spares_cgroups():
    from runs.engine.local.sandbox import spares_release

    launchers.prepare(True)
    launchers.prepare(False)
    folders = [f for n in (True, False) for f in launchers._ready[n].cgroups.folders.values()]
    assert all(folder.exists() for folder in folders)

    spares_release()

    assert not any(folder.exists() for folder in folders)


def test_a_starting_worker_removes_empty_job_cgroups_a_killed_one_left_but_not_busy_ones():
    from runs.engine.local.sandbox import stale_job_cgroups_remove
    from runs.engine.local.sandbox.cgroups import JobCgroups

    left, busy = JobCgroups.make(), JobCgroups.make()
    sleeper = subprocess.Popen(["sleep", "30"])
    busy.add(sleeper.pid)
    try:
        stale_job_cgroups_remove(older_than=3600)
        assert all(folder.exists() for folder in left.folders.values()), "new ones are left"
        stale_job_cgroups_remove(older_than=0)

        assert not any(folder.exists() for folder in left.folders.values())
        assert all(folder.exists() for folder in busy.folders.values())
    finally:
        sleeper.kill()
        sleeper.wait()
        busy.remove()
