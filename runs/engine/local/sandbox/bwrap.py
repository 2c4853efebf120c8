"""The job's bubblewrap sandbox, and starting it.

A root worker starts a job in a sandbox made before it (ready.py) when every
folder the job sees lies under /workspace, /inputs, /outputs or /gradient,
as every job's but a local git checkout's do; otherwise in a launcher made
for it that becomes the job's whole bwrap command. A worker that is not root
starts bwrap itself, rootless.
"""

from __future__ import annotations

import functools
import os
import resource
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from runs.engine.local.sandbox.base import (
    DEFAULT_PATH,
    WORKING_DIRECTORY,
    Limits,
    job_user,
    program,
)
from runs.engine.local.sandbox.cgroups import JobCgroups
from runs.engine.local.sandbox.commands import (
    SYSTEM_FOLDERS,
    JobMount,
    child_pid,
    isolation_args,
    job_rlimits,
    system_args,
    user_drop_args,
)
from runs.engine.local.sandbox.launchers import Launcher
from runs.engine.local.sandbox.network import UserModeNetwork, group_networks, rootless_network
from runs.engine.local.sandbox.ready import ReadyKind, ReadySandbox, ready_sandboxes, slot_serves
from runs.engine.local.sandbox.seccomp import FilterFd, filter_fd

PRLIMIT_NAMES = {
    resource.RLIMIT_FSIZE: "fsize",
    resource.RLIMIT_AS: "as",
    resource.RLIMIT_NPROC: "nproc",
}


@dataclass
class RunningSandbox:
    """A started job, and what serves it: its launcher, or a rootless job's slirp4netns."""

    process: subprocess.Popen
    launcher: Launcher | ReadySandbox | None = None
    network: UserModeNetwork | None = None

    @property
    def cgroups(self) -> JobCgroups | None:
        return self.launcher.cgroups if self.launcher is not None else None

    def out_of_memory(self) -> bool:
        """Whether the kernel killed a process of the job for passing its memory limit."""
        return self.cgroups is not None and self.cgroups.out_of_memory()

    def unmount(self) -> None:
        """After the job's process ended: detach its folders from the worker's slot (ready.py).

        Before anything reads, moves or removes them: while mounted there, a
        nested output's folder is a mount point the host's rmtree would enter.
        """
        if isinstance(self.launcher, ReadySandbox):
            self.launcher.slot.detach()

    def close(self) -> None:
        """After the job's process ended: remove its cgroups (and a ready sandbox's slot),
        stop its network."""
        if self.launcher is not None:
            self.launcher.release()
        if self.network is not None:
            self.network.release()


@dataclass
class Sandbox:
    """What a job may see; `start` runs it."""

    argv: list[str]
    env: dict[str, str]
    workdir: Path
    read_only: dict[str, Path] = field(default_factory=dict)
    writable: dict[str, Path] = field(default_factory=dict)
    network: bool = True
    # Jobs of one group may join the same network, one after another (network.py);
    # a sandbox not given one shares its network with no other.
    network_group: str = field(default_factory=lambda: uuid.uuid4().hex)
    hostname: str = "job"
    limits: Limits = field(default_factory=Limits.for_job)

    def command(
        self,
        *,
        info_fd: int | None = None,
        block_fd: int | None = None,
        cgroups: JobCgroups | None = None,
        in_own_network: bool = False,
        launched: bool = False,
        seccomp: FilterFd,
    ) -> list[str]:
        """bwrap's argv; `launched` when a launcher runs it (which sets its rlimits itself)."""
        uid = job_user()
        args = isolation_args(in_own_network=in_own_network, seccomp=seccomp)
        if info_fd is not None:
            args += ["--info-fd", str(info_fd), "--block-fd", str(block_fd)]
        args += ["--hostname", self.hostname, *system_args(self.limits)]
        args += self._parent_folders()
        for mount in self.mounts():
            args += ["--ro-bind" if mount.read_only else "--bind", str(mount.source), mount.target]
        args += ["--remount-ro", "/", "--chdir", WORKING_DIRECTORY, "--clearenv"]
        for name, value in self.environment().items():
            args += ["--setenv", name, value]
        limits = []
        if not launched:
            limits = [program("prlimit", "util-linux")]
            limits += [f"--{PRLIMIT_NAMES[kind]}={value}" for kind, value in self.rlimits(cgroups)]
            limits.append("--")
        drop = user_drop_args(uid) if uid is not None else []
        return [*args, "--", *limits, *drop, *self.argv]

    def mounts(self) -> list[JobMount]:
        """The job's folders in the order they are mounted: the working directory, the
        writable ones (/outputs), then the read-only ones, each after what it is inside."""
        mounts = [JobMount(WORKING_DIRECTORY, self.workdir, read_only=False)]
        mounts += [JobMount(t, self.writable[t], False) for t in sorted(self.writable, key=len)]
        mounts += [JobMount(t, self.read_only[t], True) for t in sorted(self.read_only, key=len)]
        return mounts

    def environment(self) -> dict[str, str]:
        """What the job's processes see in their environment: this, and nothing else."""
        return {"PATH": DEFAULT_PATH, "HOME": WORKING_DIRECTORY, "LANG": "C.UTF-8", **self.env}

    def rlimits(self, cgroups: JobCgroups | None) -> list[tuple[int, int]]:
        return job_rlimits(self.limits, cgroups)

    def _parent_folders(self) -> list[str]:
        """Make the folders above each mount readable by the job (bwrap would make them 0700)."""
        targets = {WORKING_DIRECTORY, *self.writable, *self.read_only}
        parents = {str(p) for target in targets for p in Path(target).parents if str(p) != "/"}
        args = []
        for parent in sorted(parents - targets, key=len):
            if not any(parent.startswith(f"{t}/") for t in (*targets, *SYSTEM_FOLDERS)):
                args += ["--perms", "0755", "--dir", parent]
        return args

    def start(self) -> RunningSandbox:
        """Start the job in its cgroups and network; its output is `process.stdout`."""
        if job_user() is None:
            return self._start_rootless()
        mounts = self.mounts()
        group = self.network_group if self.network else None
        if slot_serves(mounts):
            ready = ready_sandboxes.take(ReadyKind(group, self.limits))
            try:
                process = ready.start(mounts, self.environment(), self.argv, self.hostname)
            except BaseException:
                ready.release()
                raise
            return RunningSandbox(process=process, launcher=ready)
        with filter_fd() as seccomp:
            launcher = Launcher.make(group_networks.join(group), pass_fds=seccomp.pass_fds)
            try:
                command = self.command(
                    cgroups=launcher.cgroups,
                    in_own_network=self.network,
                    launched=True,
                    seccomp=seccomp,
                )
                process = launcher.launch(command, self.limits, self.rlimits(launcher.cgroups))
            except BaseException:
                launcher.release()
                raise
        return RunningSandbox(process=process, launcher=launcher)

    def _start_rootless(self) -> RunningSandbox:
        """A worker that is not root: bwrap makes the job's namespaces, slirp4netns joins them."""
        popen = functools.partial(
            subprocess.Popen,
            env={},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not self.network:
            with filter_fd() as seccomp:
                process = popen(self.command(seccomp=seccomp), pass_fds=seccomp.pass_fds)
            return RunningSandbox(process=process)
        info_read, info_write = os.pipe()
        block_read, block_write = os.pipe()
        try:
            with filter_fd() as seccomp:
                process = popen(
                    self.command(info_fd=info_write, block_fd=block_read, seccomp=seccomp),
                    pass_fds=(info_write, block_read, *seccomp.pass_fds),
                )
        finally:
            os.close(info_write)
            os.close(block_read)
        running = RunningSandbox(process=process)
        try:
            child = child_pid(info_read)
            if child is not None:
                running.network = rootless_network(child, process)
        except BaseException:
            running.close()
            process.kill()
            process.wait()
            raise
        finally:
            os.close(info_read)
            # Let the job go; if bwrap already died, its output says why.
            try:
                os.write(block_write, b"1")
            except BrokenPipeError:
                pass
            os.close(block_write)
        return running
