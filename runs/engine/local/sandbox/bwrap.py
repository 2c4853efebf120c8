"""The job's bubblewrap command, and starting it: in a launcher (root worker) or rootless."""

from __future__ import annotations

import functools
import json
import os
import resource
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from runs.engine.local.sandbox.base import (
    DEFAULT_PATH,
    WORKING_DIRECTORY,
    Limits,
    bwrap_path,
    job_user,
    program,
)
from runs.engine.local.sandbox.cgroups import JobCgroups
from runs.engine.local.sandbox.launchers import Launcher, launchers
from runs.engine.local.sandbox.network import UserModeNetwork, rootless_network

SYSTEM_FOLDERS = ("/usr", "/etc", "/opt/conda")
PRLIMIT_NAMES = {
    resource.RLIMIT_FSIZE: "fsize",
    resource.RLIMIT_AS: "as",
    resource.RLIMIT_NPROC: "nproc",
}
MERGED_USR_LINKS = ("bin", "sbin", "lib", "lib64", "lib32", "libx32")


@dataclass
class RunningSandbox:
    """A started job, and what serves it: its launcher, or a rootless job's slirp4netns."""

    process: subprocess.Popen
    launcher: Launcher | None = None
    network: UserModeNetwork | None = None

    @property
    def cgroups(self) -> JobCgroups | None:
        return self.launcher.cgroups if self.launcher is not None else None

    def out_of_memory(self) -> bool:
        """Whether the kernel killed a process of the job for passing its memory limit."""
        return self.cgroups is not None and self.cgroups.out_of_memory()

    def close(self) -> None:
        """After the job's process ended: remove its cgroups, stop its network."""
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
    ) -> list[str]:
        """bwrap's argv; `launched` when a launcher runs it (which sets its rlimits itself)."""
        uid = job_user()
        args = [bwrap_path(), "--die-with-parent", "--new-session", "--unshare-ipc"]
        args += ["--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        if not in_own_network:
            args.append("--unshare-net")
        if uid is None:
            # Root of its own user namespace, the worker's uid outside; slirp4netns
            # needs uid 0 mapped there to join the namespace.
            args += ["--unshare-user", "--uid", "0", "--gid", "0", "--cap-drop", "ALL"]
        else:
            # Only what setpriv needs to drop to the job user; gone once it has.
            args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        if info_fd is not None:
            args += ["--info-fd", str(info_fd), "--block-fd", str(block_fd)]
        args += ["--hostname", self.hostname]
        for folder in SYSTEM_FOLDERS:
            if os.path.isdir(folder):
                args += ["--ro-bind", folder, folder]
        for name in MERGED_USR_LINKS:
            host = Path("/", name)
            if host.is_symlink():
                args += ["--symlink", os.readlink(host), f"/{name}"]
            elif host.is_dir():
                args += ["--ro-bind", str(host), f"/{name}"]
        args += ["--proc", "/proc", "--dev", "/dev"]
        for scratch in ("/tmp", "/dev/shm"):
            args += ["--perms", "1777", "--size", str(self.limits.tmp), "--tmpfs", scratch]
        args += self._parent_folders()
        args += ["--bind", str(self.workdir), WORKING_DIRECTORY]
        # Writable mounts first (/outputs), then what is mounted inside them.
        for target in sorted(self.writable, key=len):
            args += ["--bind", str(self.writable[target]), target]
        for target in sorted(self.read_only, key=len):
            args += ["--ro-bind", str(self.read_only[target]), target]
        args += ["--remount-ro", "/", "--chdir", WORKING_DIRECTORY, "--clearenv"]
        env = {"PATH": DEFAULT_PATH, "HOME": WORKING_DIRECTORY, "LANG": "C.UTF-8", **self.env}
        for name, value in env.items():
            args += ["--setenv", name, value]
        limits = []
        if not launched:
            limits = [program("prlimit", "util-linux")]
            limits += [f"--{PRLIMIT_NAMES[kind]}={value}" for kind, value in self.rlimits(cgroups)]
            limits.append("--")
        drop = []
        if uid is not None:
            drop = [program("setpriv", "util-linux"), f"--reuid={uid}", f"--regid={uid}"]
            drop += ["--clear-groups", "--inh-caps=-all", "--no-new-privs", "--"]
        return [*args, "--", *limits, *drop, *self.argv]

    def rlimits(self, cgroups: JobCgroups | None) -> list[tuple[int, int]]:
        """The rlimits every process of the job gets: (resource, value).

        A job's cgroups bound its memory and processes all together; without
        them, each process's address space and the job user's processes.
        """
        bounded = cgroups.folders if cgroups is not None else {}
        limits = [(resource.RLIMIT_FSIZE, self.limits.writable)]
        if "memory" not in bounded and self.limits.memory:
            limits.append((resource.RLIMIT_AS, self.limits.memory))
        if "pids" not in bounded and self.limits.pids:
            limits.append((resource.RLIMIT_NPROC, self.limits.pids))
        return limits

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
        launcher = launchers.take(self.network)
        try:
            command = self.command(
                cgroups=launcher.cgroups, in_own_network=self.network, launched=True
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
            return RunningSandbox(process=popen(self.command()))
        info_read, info_write = os.pipe()
        block_read, block_write = os.pipe()
        try:
            process = popen(
                self.command(info_fd=info_write, block_fd=block_read),
                pass_fds=(info_write, block_read),
            )
        finally:
            os.close(info_write)
            os.close(block_read)
        running = RunningSandbox(process=process)
        try:
            child = _child_pid(info_read)
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


def _child_pid(info_fd: int) -> int | None:
    """The sandbox's pid from bwrap's --info-fd JSON, or None when bwrap failed first."""
    raw = b""
    while True:
        chunk = os.read(info_fd, 4096)
        if not chunk:
            return None
        raw += chunk
        try:
            return int(json.loads(raw)["child-pid"])
        except ValueError:
            continue
