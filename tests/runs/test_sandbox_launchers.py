"""Host-mode jobs start in a sandbox made before them (runs/engine/local/sandbox/ready.py),
whose launcher (launchers.py) put it in its cgroups and network."""

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

from runs.engine.local.sandbox import (
    Limits,
    Sandbox,
    give_to_job,
    group_networks,
    ready_sandboxes,
)
from runs.engine.local.sandbox.ready import ReadyKind
from runs.engine.local.sandbox.seccomp import FilterFd

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def workdir(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    folder.chmod(0o755)
    return give_to_job(folder)


# The network group of the sandboxes made here (network.py).
GROUP = "tests"


def kind(network: bool) -> ReadyKind:
    return ReadyKind(network_group=GROUP if network else None, limits=Limits.for_job())


@pytest.fixture(autouse=True)
def no_spares_left():
    yield
    ready_sandboxes.release_all()
    group_networks.release_all()


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
    ready_sandboxes.prepare(kind(network))
    spare = ready_sandboxes._ready[kind(network)]
    cgroups = list(spare.cgroups.folders.values())
    pid, output, peak = _run(
        Sandbox(
            argv=["cat", "/proc/net/dev"],
            env={},
            workdir=workdir,
            network=network,
            network_group=GROUP,
        )
    )

    assert pid == spare.process.pid
    assert peak > 0, "the job ran in its own cgroups"
    assert ("tap0:" in output) is network
    assert not any(folder.exists() for folder in cgroups), "its cgroups go with the job"


def test_a_spare_that_died_is_replaced_by_a_new_launcher(workdir):
    ready_sandboxes.prepare(kind(True))
    dead = ready_sandboxes._ready[kind(True)]
    dead.process.kill()
    dead.process.wait()

    sandbox = Sandbox(argv=["cat", "/proc/net/dev"], env={}, workdir=workdir, network_group=GROUP)
    pid, output, _ = _run(sandbox)

    assert pid != dead.process.pid
    assert "tap0:" in output


def test_a_worker_that_dies_leaves_no_process_behind_and_its_slots_are_swept(settings):
    from runs.engine.local.sandbox import stale_slots_remove
    from runs.engine.local.sandbox.ready import slots_root

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import django, json, time; django.setup()\n"
            "from runs.engine.local.sandbox import Limits, ready_sandboxes\n"
            "from runs.engine.local.sandbox.ready import ReadyKind\n"
            "kinds = [ReadyKind(g, Limits.for_job()) for g in ('tests', None)]\n"
            "for kind in kinds: ready_sandboxes.prepare(kind)\n"
            "made = [ready_sandboxes._ready[kind].launcher for kind in kinds]\n"
            "network = made[0].network\n"
            "print(json.dumps([[m.process.pid for m in made],"
            " [network.network.slirp.pid, network.holder.pid]]), flush=True)\n"
            "time.sleep(300)\n",
        ],
        cwd=REPO,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "gradient.settings",
            "GRADIENT_DATA_DIR": str(settings.DATA_DIR),
        },
        stdout=subprocess.PIPE,
    )
    sandboxes, network = json.loads(holder.stdout.readline())
    # Processes, not pids: a pid freed meanwhile may be another process's by the end.
    made = [psutil.Process(pid) for pid in [*sandboxes, *network]]
    assert len(made) == 4, "two sandboxes, slirp4netns and the network's holder"
    made += [child for process in made[:2] for child in process.children(True)]
    slots = list(slots_root().iterdir())
    assert len(slots) == 2 and all(_mounts_under(slot) for slot in slots)
    ours = ready_sandboxes.take(kind(False))

    holder.send_signal(signal.SIGKILL)
    holder.wait()

    # Once, with two test suites running at once, one was still alive after 10 s;
    # the wait is longer now, and a process still alive is named.
    deadline = time.monotonic() + 30
    while any(_alive(process) for process in made) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [process.cmdline() for process in made if _alive(process)]

    assert stale_slots_remove() == 2
    assert not any(slot.exists() or _mounts_under(slot) for slot in slots)
    assert ours.slot.folder.exists() and _mounts_under(ours.slot.folder), "a live one stays"
    ours.release()
    assert not ours.slot.folder.exists()


def _mounts_under(folder: Path) -> list[str]:
    with open("/proc/self/mountinfo") as mountinfo:
        points = [line.split()[4] for line in mountinfo]
    return [point for point in points if point == str(folder) or point.startswith(f"{folder}/")]


def _alive(process: psutil.Process) -> bool:
    """Running, and not a zombie (is_running tells a pid that was used again)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_launcher_gives_the_job_its_rlimits_without_a_prlimit_program(workdir):
    limits = dataclasses.replace(Limits.for_job(), writable=10 * 2**20)
    sandbox = Sandbox(argv=["bash", "-c", "ulimit -f"], env={}, workdir=workdir, limits=limits)

    _, output, _ = _run(sandbox)

    assert output.split() == ["10240"], "10 MiB in bash's 1024-byte blocks"
    assert "prlimit" not in " ".join(sandbox.command(launched=True, seccomp=FilterFd(None)))


def test_a_stopping_worker_process_removes_its_spares_cgroups():
    from runs.engine.local.sandbox import spares_release

    ready_sandboxes.prepare(kind(True))
    ready_sandboxes.prepare(kind(False))
    spares = [ready_sandboxes._ready[kind(n)] for n in (True, False)]
    folders = [f for spare in spares for f in spare.cgroups.folders.values()]
    assert all(folder.exists() for folder in folders)

    spares_release()

    assert not any(folder.exists() for folder in folders)


def test_a_starting_worker_removes_the_job_cgroups_of_a_killed_one_and_what_is_left_in_them():
    from runs.engine.local.sandbox import stale_job_cgroups_remove
    from runs.engine.local.sandbox.cgroups import JobCgroups

    maker = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, json; django.setup()\n"
            "from runs.engine.local.sandbox.cgroups import JobCgroups\n"
            "made = [JobCgroups.make() for _ in range(2)]\n"
            "print(json.dumps([{c: str(f) for c, f in m.folders.items()} for m in made]))\n",
        ],
        cwd=REPO,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "gradient.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    empty, stuck = (
        JobCgroups({c: Path(f) for c, f in made.items()}) for made in json.loads(maker.stdout)
    )
    ours = JobCgroups.make()
    # What a sandbox whose worker was killed while bwrap built it leaves: a process waiting.
    left_behind = subprocess.Popen(["sleep", "300"])
    stuck.add(left_behind.pid)
    try:
        stale_job_cgroups_remove()

        assert left_behind.wait(10) == -signal.SIGKILL
        assert not any(f.exists() for f in [*empty.folders.values(), *stuck.folders.values()])
        assert all(folder.exists() for folder in ours.folders.values()), "its maker is alive"
    finally:
        left_behind.kill()
        ours.remove()


def test_a_sandbox_made_just_before_its_job_gets_every_folder_of_the_job(tmp_path):
    """The job's mounts wait for bwrap to have built the sandbox: made while it
    still bound the slot's folders, some never reached it (nested outputs, files)."""
    for attempt in range(8):
        folders = {name: tmp_path / f"{name}{attempt}" for name in ("work", "out", "data", "in")}
        for folder in folders.values():
            folder.mkdir()
            folder.chmod(0o755)
            give_to_job(folder)
        (folders["in"] / "words").write_text("the cat")
        value = tmp_path / f"value{attempt}"
        value.write_text("3")
        sandbox = Sandbox(
            argv=["bash", "-c", "cat /inputs/top /inputs/corpus/words && echo ok > /outputs/d/f"],
            env={},
            workdir=folders["work"],
            writable={"/outputs": folders["out"], "/outputs/d": folders["data"]},
            read_only={"/inputs/top": value, "/inputs/corpus": folders["in"]},
            network=attempt % 2 == 0,
        )

        _, output, _ = _run(sandbox)
        ready_sandboxes.prepare_taken()

        assert output == "3the cat", f"attempt {attempt}"
        assert (folders["data"] / "f").read_text() == "ok\n"


def test_a_job_in_a_ready_sandbox_sees_only_its_environment_its_name_and_its_folders(workdir):
    sandbox = Sandbox(
        argv=["bash", "-c", "hostname; env; touch /inputs/x/new || echo read-only"],
        env={"GREETING": "hello world", "PATH": "/usr/bin:/bin"},
        workdir=workdir,
        read_only={"/inputs/x": workdir},
        hostname="train",
        network_group=GROUP,
    )
    ready_sandboxes.prepare(kind(True))

    _, output, _ = _run(sandbox)

    lines = output.splitlines()
    assert lines[0] == "train"
    assert "read-only" in lines
    names = {line.split("=", 1)[0] for line in lines[1:] if "=" in line}
    assert names == {"GREETING", "HOME", "LANG", "PATH", "PWD", "SHLVL", "_"}
    assert "GREETING=hello world" in lines and "PATH=/usr/bin:/bin" in lines


def test_a_running_job_keeps_its_folders_while_the_next_jobs_sandbox_and_network_are_made(
    tmp_path,
):
    """slirp4netns's own sandbox unmounts a copy of the worker's mounts; made where the
    slots' mounts were still shared, that unmount emptied a running job's /outputs."""
    folders = {name: tmp_path / name for name in ("work", "out", "data")}
    for folder in folders.values():
        folder.mkdir()
        give_to_job(folder)
    running = Sandbox(
        argv=["bash", "-c", "while sleep 0.02; do echo . >> /outputs/d/dots || exit 3; done"],
        env={},
        workdir=folders["work"],
        writable={"/outputs": folders["out"], "/outputs/d": folders["data"]},
        network=False,
    ).start()
    try:
        ready_sandboxes.prepare(kind(True))
        ready_sandboxes.prepare(kind(False))
        time.sleep(0.3)
        assert running.process.poll() is None, "the job still writes to /outputs/d"
    finally:
        running.process.kill()
        running.process.wait()
        running.close()
    assert (folders["data"] / "dots").stat().st_size > 0


def test_only_plain_paths_under_the_slots_folders_are_mounted_from_the_host():
    from runs.engine.local.sandbox.commands import JobMount
    from runs.engine.local.sandbox.ready import slot_serves

    def serves(target: str) -> bool:
        return slot_serves([JobMount(target, Path("/srv"), read_only=True)])

    assert serves("/inputs/data") and serves("/workspace") and serves("/gradient/script.sh")
    assert not serves("/inputs/../../etc"), "a .. would lead out of the slot on the host"
    assert not serves("/srv/repository") and not serves("/inputsx")


@pytest.mark.parametrize("network", [True, False])
def test_a_sandbox_let_go_while_bwrap_still_builds_it_leaves_no_process_behind(network):
    """Killed while building the sandbox, bwrap left the sandbox's first process waiting
    forever in the job's cgroups (a stopping worker lets its new spares go at once)."""
    for delay in range(12):
        ready_sandboxes.prepare(kind(network))
        spare = ready_sandboxes._ready.pop(kind(network))
        folders = list(spare.cgroups.folders.values())
        # At some point of bwrap's building of the sandbox.
        time.sleep(delay / 1000)

        spare.release()

        assert not any(folder.exists() for folder in folders), "no process is left in them"


def test_a_sandbox_that_fails_while_it_is_made_is_let_go_without_waiting_for_bwrap(
    monkeypatch,
):
    """Its launcher never got bwrap's command, so bwrap never reports: waiting for it hung."""
    import threading

    from runs.engine.local.sandbox.cgroups import JobCgroups

    def refuse(self, shares):
        raise OSError("cpu.shares cannot be written")

    monkeypatch.setattr(JobCgroups, "cpu_weight", refuse)
    failures: list[BaseException] = []

    def make() -> None:
        try:
            ready_sandboxes.prepare(kind(False))
            ready_sandboxes.take(kind(False))
        except OSError as error:
            failures.append(error)

    attempt = threading.Thread(target=make, daemon=True)
    attempt.start()
    attempt.join(60)

    assert not attempt.is_alive(), "letting the half-made sandbox go hung"
    assert [str(error) for error in failures] == ["cpu.shares cannot be written"]


def _network_of(sandbox: Sandbox) -> tuple[str, str]:
    """The job's network namespace, and its interfaces."""
    sandbox.argv = ["bash", "-c", "readlink /proc/self/ns/net; cat /proc/net/dev"]
    _, output, _ = _run(sandbox)
    ready_sandboxes.prepare_taken()
    namespace, interfaces = output.split("\n", 1)
    return namespace, interfaces


def _inode(network) -> str:
    return os.readlink(network.namespace)


@pytest.mark.parametrize("ahead", [True, False], ids=["ready-sandbox", "own-launcher"])
def test_jobs_of_one_group_share_its_network_one_after_another_and_no_other_job_does(
    tmp_path, workdir, ahead
):
    """Making a namespace and a slirp4netns for every job cost a quarter of a host-mode
    job's CPU; a worker process keeps its last groups' networks for their next jobs."""
    # A folder outside the slot's makes the job start in a launcher of its own (bwrap.py).
    elsewhere = {} if ahead else {"/srv/data": tmp_path}

    def sandbox(group: str, network: bool = True) -> Sandbox:
        return Sandbox(
            argv=[],
            env={},
            workdir=workdir,
            read_only=elsewhere,
            network=network,
            network_group=group,
        )

    first, interfaces = _network_of(sandbox("workflow 1"))
    again, _ = _network_of(sandbox("workflow 1"))
    offline, offline_interfaces = _network_of(sandbox("workflow 1", network=False))
    other, other_interfaces = _network_of(sandbox("workflow 2"))
    back, _ = _network_of(sandbox("workflow 1"))

    assert "tap0:" in interfaces and "tap0:" in other_interfaces
    assert again == first and back == first, "the group's next jobs join its network"
    assert offline != first and "tap0:" not in offline_interfaces, "network off: only lo"
    assert other != first, "another group's job gets a network of its own"


def test_a_worker_process_keeps_the_networks_of_its_last_groups_and_lets_older_ones_go():
    from runs.engine.local.sandbox.network import KEPT_GROUPS

    first = group_networks.join("workflow 0")
    for number in range(1, KEPT_GROUPS + 1):
        group_networks.join(f"workflow {number}")

    assert not first.alive(), "the oldest group's network went"
    assert first.holder.wait(10) == 0 and first.network.slirp.wait(10) is not None
    assert list(group_networks._kept) == [f"workflow {n}" for n in range(1, KEPT_GROUPS + 1)]
    assert group_networks.join("workflow 0") is not first


def test_a_new_group_takes_the_network_made_ahead_which_no_job_used(workdir):
    _network_of(Sandbox(argv=[], env={}, workdir=workdir, network_group="workflow 1"))
    group_networks.prepare()
    ahead = group_networks._fresh._ready.get(None)
    assert ahead is not None and ahead.alive()
    made = _inode(ahead)

    joined, interfaces = _network_of(
        Sandbox(argv=[], env={}, workdir=workdir, network_group="workflow 2")
    )

    assert joined == made and "tap0:" in interfaces
    assert group_networks._kept["workflow 2"] is ahead
    group_networks.prepare()
    assert group_networks._fresh._ready.get(None) not in (None, ahead), (
        "the next new group's is made"
    )


def test_no_tcp_metrics_of_a_groups_jobs_are_kept_for_its_later_jobs(workdir):
    """The kernel keeps each destination a namespace's TCP connections reached, and any
    process there may list them: a later job of the group would see where earlier went."""
    sandbox = Sandbox(
        argv=["cat", "/proc/sys/net/ipv4/tcp_no_metrics_save"],
        env={},
        workdir=workdir,
        network_group=GROUP,
    )

    _, output, _ = _run(sandbox)

    assert output.strip() == "1"


def test_a_group_network_whose_slirp4netns_died_is_made_again(workdir):
    first, _ = _network_of(Sandbox(argv=[], env={}, workdir=workdir, network_group=GROUP))
    broken = group_networks._kept[GROUP]
    broken.network.slirp.kill()
    broken.network.slirp.wait()

    again, interfaces = _network_of(Sandbox(argv=[], env={}, workdir=workdir, network_group=GROUP))

    assert again != first and "tap0:" in interfaces
    assert broken.holder.wait(10) == 0, "the broken network's holder went"


def test_a_forgotten_groups_next_job_gets_a_new_network(workdir):
    first, _ = _network_of(Sandbox(argv=[], env={}, workdir=workdir, network_group=GROUP))
    forgotten = group_networks._kept[GROUP]

    group_networks.forget(GROUP)
    again, _ = _network_of(Sandbox(argv=[], env={}, workdir=workdir, network_group=GROUP))

    assert again != first and forgotten.holder.wait(10) == 0


def test_a_sandbox_given_no_group_shares_its_network_with_no_other(workdir):
    first, _ = _network_of(Sandbox(argv=[], env={}, workdir=workdir))
    second, _ = _network_of(Sandbox(argv=[], env={}, workdir=workdir))

    assert first != second


def test_a_worker_process_keeps_spares_of_the_few_kinds_it_took_last():
    from runs.engine.local.sandbox.spares import KEPT_KINDS

    kinds = [
        ReadyKind(None, dataclasses.replace(Limits.for_job(), tmp=2**20 * (n + 1)))
        for n in range(KEPT_KINDS + 2)
    ]
    made = []
    for each in kinds:
        taken = ready_sandboxes.take(each)
        taken.release()
        ready_sandboxes.prepare_taken()
        made.append(ready_sandboxes._ready[each])

    assert list(ready_sandboxes._ready) == kinds[-KEPT_KINDS:]
    for gone in made[:2]:
        assert gone.process.wait(10) is not None, "the oldest spares were let go"
        assert not gone.slot.folder.exists()


def test_a_network_is_held_where_tcp_metrics_cannot_be_turned_off(workdir, monkeypatch):
    """A worker in a container usually has a read-only /proc/sys: its jobs keep a network."""
    from runs.engine.local.sandbox import network

    unwritable = network.HOLDER_SCRIPT.replace("/proc/sys/net/ipv4/", "/proc/no-such-folder/")
    assert unwritable != network.HOLDER_SCRIPT
    monkeypatch.setattr(network, "HOLDER_SCRIPT", unwritable)

    _, interfaces = _network_of(Sandbox(argv=[], env={}, workdir=workdir, network_group=GROUP))

    assert "tap0:" in interfaces
