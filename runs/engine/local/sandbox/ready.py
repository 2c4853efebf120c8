"""Sandboxes made before their job: starting a job is a few mounts and one write.

Once the launcher (launchers.py) had taken the cgroup move and the network
off a job's start, the rest was bwrap building the job's namespaces and file
system, then setpriv, then the job: 11.6 ms from launch to the job's first
line on this project's machines, most of a dependency hop. So a root
worker builds the sandbox itself ahead, after the job before (~3 ms remain:
the mounts, one write, the job's exec):

- its launcher becomes bwrap at once, with everything no job changes: the
  namespaces, the host's system folders, /proc, /dev, /tmp, the job user;
- what differs per job (its working directory, inputs and outputs) comes
  from a *slot*: a small tmpfs of the worker's, mounted shared, whose
  `workspace`, `inputs`, `outputs` and `gradient` folders the sandbox sees
  at /workspace, /inputs, /outputs and /gradient. A mount the
  worker later makes inside the slot appears inside the sandbox too (the
  sandbox's copies are slaves of the slot), read-only where it is made so
  (mounts.py), and nothing the job mounts could travel back;
- inside, a `bash` running as the job user waits on a pipe for the job's
  environment and command; given them, it enters /workspace and becomes the
  command with `exec`. Its hostname is set from outside.

A ready sandbox serves one job. Its kind (network off, or the group whose
network it is in, and the limits built into it: /tmp's size, the rlimits)
must match the job's; the worker keeps one of each of the few kinds its
last jobs took (spares.py), in the networks it keeps for their groups
(network.py). A job whose folders lie elsewhere (a local git checkout's)
starts the old way (bwrap.py).

A slot's mounts are the host's: the worker detaches them as soon as the
job's processes are gone (before anything reads or removes its folders),
and a pool process that starts detaches and removes those of dead processes
(`stale_slots_remove`), as it does their cgroups. Being shared, they reach
any copy of the worker's mounts in a new mount namespace as peers, and an
unmount there would come back: slirp4netns, which makes such a namespace
and unmounts in it, is started where every mount is private (network.py).

While it is built ahead, a sandbox's cgroup gets a small CPU share, so
building it does not slow the jobs that start meanwhile; its job gets the
kernel's default share back.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings

from runs.engine.local.sandbox import mounts
from runs.engine.local.sandbox.base import WORKING_DIRECTORY, Limits, job_user, maker_gone
from runs.engine.local.sandbox.cgroups import JobCgroups
from runs.engine.local.sandbox.commands import (
    JobMount,
    child_pid,
    isolation_args,
    job_rlimits,
    nul_separated,
    system_args,
    user_drop_args,
)
from runs.engine.local.sandbox.launchers import Launcher
from runs.engine.local.sandbox.network import group_networks
from runs.engine.local.sandbox.seccomp import filter_fd
from runs.engine.local.sandbox.spares import Spares

logger = logging.getLogger(__name__)

SLOT_FOLDERS = ("/workspace", "/inputs", "/outputs", "/gradient")
# cpu.shares while a sandbox is built ahead, and once its job starts (the kernel's default).
SPARE_CPU_SHARES = 2
JOB_CPU_SHARES = 1024
# How long an unused sandbox may take to end once let go, before it is killed.
RELEASE_SECONDS = 10


def _waiting_script(ready_fd: int, job_fd: int) -> str:
    """Say the sandbox is up on `ready_fd`, read `count, NAME=value * count, argv...`
    (NUL-separated) from `job_fd`, then become argv in the working directory; with
    nothing to read (never used), just end."""
    return (
        f"printf . >&{ready_fd}; exec {ready_fd}>&-; "
        f'mapfile -d "" -t job <&{job_fd}; exec {job_fd}<&- </dev/null; '
        "(( ${#job[@]} )) || exit 0; "
        f"cd {WORKING_DIRECTORY} || exit 126; unset OLDPWD; "
        'for pair in "${job[@]:1:job[0]}"; do export "$pair"; done; '
        'exec "${job[@]:job[0]+1}"'
    )


def slots_root() -> Path:
    return settings.DATA_DIR / "sandbox-slots"


def slot_serves(job_mounts: list[JobMount]) -> bool:
    """Whether every folder of the job can come through a slot: each lies under one of
    its folders by a plain path (the worker mounts it there on the host, where a ".."
    would lead out of the slot)."""
    return all(
        ".." not in PurePosixPath(m.target).parts
        and any(m.target == f or m.target.startswith(f"{f}/") for f in SLOT_FOLDERS)
        for m in job_mounts
    )


_slot_numbers = itertools.count()


@dataclass
class Slot:
    """A small tmpfs the worker mounts a job's folders in, which its sandbox sees.

    Everything made in it goes with its unmount; the folder it is mounted on
    is then empty, and removed with rmdir, which never removes anything else.
    """

    folder: Path

    @classmethod
    def make(cls) -> Slot:
        root = slots_root()
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder = root / f"{os.getpid()}-{next(_slot_numbers)}-{uuid.uuid4().hex[:6]}"
        folder.mkdir(mode=0o755)
        slot = cls(folder)
        try:
            mounts.shared_tmpfs(folder)
            for name in SLOT_FOLDERS:
                _folder_make(slot.path(name))
        except BaseException:
            slot.remove()
            raise
        return slot

    def path(self, target: str) -> Path:
        return self.folder / target.lstrip("/")

    def bind_args(self) -> list[str]:
        return [arg for name in SLOT_FOLDERS for arg in ("--bind", str(self.path(name)), name)]

    def mount(self, job_mounts: list[JobMount]) -> None:
        """Mount the job's folders where its sandbox sees them, each after what holds it."""
        for mount in job_mounts:
            target = self.path(mount.target)
            for parent in reversed(target.parents):
                if parent.is_relative_to(self.folder) and not parent.exists():
                    _folder_make(parent)
            if mount.source.is_dir():
                target.mkdir(exist_ok=True)
            elif not target.exists():
                target.touch()
            mounts.bind(mount.source, target, read_only=mount.read_only)

    def detach(self) -> None:
        """Detach everything mounted here: the job's folders are the host's alone again."""
        with contextlib.suppress(OSError):
            while mounts.detach(self.folder):
                pass

    def remove(self) -> None:
        """Detach everything mounted here, then remove the (then empty) folder."""
        self.detach()
        try:
            self.folder.rmdir()
        except FileNotFoundError:
            pass
        except OSError as error:
            logger.warning("could not remove the sandbox slot %s: %s", self.folder, error)


def _folder_make(folder: Path) -> None:
    folder.mkdir()
    folder.chmod(0o755)


@dataclass(frozen=True)
class ReadyKind:
    """What a ready sandbox has built in, and a job must match to use it."""

    # The group whose network the sandbox is in (network.py); None for network off.
    network_group: str | None
    limits: Limits


@dataclass
class ReadySandbox:
    """bwrap running in a launcher, waiting for a job on `job_fd`."""

    launcher: Launcher
    slot: Slot
    # The worker's ends of three pipes: bwrap's --info-fd (the sandbox's pid),
    # the waiting bash's "up" (bwrap has built everything), and the job's.
    info_fd: int
    ready_fd: int
    job_fd: int

    @classmethod
    def make(cls, kind: ReadyKind) -> ReadySandbox:
        slot = Slot.make()
        (info_read, info_write), (ready_read, ready_write), (job_read, job_write) = (
            os.pipe(),
            os.pipe(),
            os.pipe(),
        )
        theirs = (info_write, ready_write, job_read)
        try:
            with filter_fd() as seccomp:
                launcher = Launcher.make(
                    group_networks.join(kind.network_group), pass_fds=(*theirs, *seccomp.pass_fds)
                )
        except BaseException:
            for fd in (info_read, ready_read, job_write):
                os.close(fd)
            slot.remove()
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        ready = cls(launcher, slot, info_fd=info_read, ready_fd=ready_read, job_fd=job_write)
        try:
            # No --hostname: bwrap would set it after `start` may have set the job's.
            command = isolation_args(in_own_network=kind.network_group is not None, seccomp=seccomp)
            command += ["--info-fd", str(info_write), *system_args(kind.limits)]
            command += slot.bind_args()
            command += ["--remount-ro", "/", "--chdir", "/", "--clearenv", "--"]
            command += [*user_drop_args(job_user()), "bash", "-c"]
            command.append(_waiting_script(ready_fd=ready_write, job_fd=job_read))
            rlimits = job_rlimits(kind.limits, launcher.cgroups)
            if launcher.cgroups is not None:
                # Building it must not slow the jobs starting meanwhile (`start` restores it).
                launcher.cgroups.cpu_weight(SPARE_CPU_SHARES)
            launcher.launch(command, kind.limits, rlimits, network_first=False)
        except BaseException:
            ready.release()
            raise
        return ready

    @property
    def cgroups(self) -> JobCgroups | None:
        return self.launcher.cgroups

    @property
    def process(self) -> subprocess.Popen:
        return self.launcher.process

    def alive(self) -> bool:
        return self.launcher.alive()

    def start(
        self, job_mounts: list[JobMount], env: dict[str, str], argv: list[str], hostname: str
    ) -> subprocess.Popen:
        """Give the sandbox the job's folders, name and network, then its command.

        The folders are mounted once bwrap has built the sandbox: a mount made
        while it still binds the slot's folders may not reach the sandbox.
        """
        if self.cgroups is not None:
            self.cgroups.cpu_weight(JOB_CPU_SHARES)
        sandbox = self._bwrap_started()
        if sandbox is not None and os.read(self.ready_fd, 1) == b".":
            # When bwrap is not up, it has died, and its output says why.
            mounts.hostname_set(sandbox, hostname)
            self.slot.mount(job_mounts)
            if self.launcher.network is not None:
                self.launcher.network.wait_ready()
        message = [str(len(env)), *(f"{name}={value}" for name, value in env.items()), *argv]
        with contextlib.suppress(BrokenPipeError):
            os.write(self.job_fd, nul_separated(message))
        self._close_fds()
        return self.process

    def _bwrap_started(self) -> int | None:
        """Wait until bwrap reports the sandbox's pid (None: it died first); read once."""
        sandbox = child_pid(self.info_fd)
        os.close(self.info_fd)
        self.info_fd = -1
        return sandbox

    def _close_fds(self) -> None:
        for fd in (self.info_fd, self.ready_fd, self.job_fd):
            if fd >= 0:
                os.close(fd)
        self.info_fd = self.ready_fd = self.job_fd = -1

    def release(self) -> None:
        """After the job (or instead of it): its launcher, then the slot's mounts.

        An unused sandbox is let go by closing its job pipe once bwrap has
        said it started one: its bash reads nothing and ends, and bwrap with
        it. Killed instead while still building the sandbox, or killed by
        SIGPIPE writing to a closed info pipe, bwrap would leave the
        sandbox's first process waiting forever for a word from it, in the
        job's cgroups.
        """
        # A launcher that never got bwrap's command has no bwrap to wait for.
        bwrap_given = self.process.stdin.closed
        if bwrap_given and self.info_fd >= 0:
            self._bwrap_started()
        self._close_fds()
        if bwrap_given:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(RELEASE_SECONDS)
        self.launcher.release()
        self.slot.remove()


# The sandboxes the next jobs of this worker process start in, by kind.
ready_sandboxes: Spares[ReadyKind, ReadySandbox] = Spares(ReadySandbox.make)


def stale_slots_remove() -> int:
    """Detach and remove the slots of worker processes that are gone; how many were."""
    removed = 0
    root = slots_root()
    if not root.is_dir():
        return 0
    for folder in root.iterdir():
        if maker_gone(folder.name) is False:
            continue
        Slot(folder).remove()
        removed += not folder.exists()
    return removed
