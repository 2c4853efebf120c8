"""The bubblewrap sandbox that gives a job exactly its world and nothing else.

The job sees the host's system folders read-only, a private /tmp, its inputs
read-only at /inputs/NAME, its outputs writable at /outputs, a writable
working directory, and only the environment it was given. The root of its
file system is a read-only tmpfs, so it cannot create files outside /tmp,
/outputs and its working directory; the database, the secret key, the app's
files and other runs' data are simply not there.

Beyond the file system (issue 11, item 5):

- **Who it runs as.** A root worker starts bwrap without a user namespace (a
  user namespace would map the job back to host uid 0, which owns
  /etc/shadow) and the job's first process drops to `LOCAL_ENGINE_JOB_UID`
  with `setpriv`, with no capabilities and no-new-privs, so setuid programs of
  the host's /usr cannot bring root back. A worker that is not root runs the
  job in a user namespace of its own, as its root without capabilities: the
  worker's own unprivileged uid outside, as in a rootless container.
- **Its environment.** bwrap is started with an empty environment: its own
  process is pid 1 in the job's pid namespace, and /proc/1/environ would
  otherwise show the worker's REDIS_URL, SECRET_KEY and DATABASE_URL.
- **Its network.** Always a network namespace of its own. With network off it
  has only `lo`. With network on, slirp4netns gives it a user-mode network
  (10.0.2.100, gateway 10.0.2.2) with `--disable-host-loopback`, so the
  server's loopback services (Redis, PostgreSQL, the dashboard) are out of
  reach while the outside is not. bwrap holds the job (`--block-fd`) until
  slirp4netns reports the network up.
- **Its limits.** Where a root worker may make cgroup v1 groups (as on this
  project's machines), each job gets its own pids, memory and cpu groups
  (LOCAL_ENGINE_DEFAULT_PIDS, _MEMORY, _CPUS) holding all its processes, /tmp
  included in its memory; it joins them before it runs (`--block-fd`), and a
  kill for memory is named as such. Elsewhere `prlimit` bounds each process's
  address space and the processes of the job's uid (per uid: under a root
  worker all jobs share LOCAL_ENGINE_JOB_UID and so the count; in a user
  namespace the kernel counts each job apart). Always: the size of any one
  file (LOCAL_ENGINE_WRITABLE_MAX) and /tmp and /dev/shm as tmpfs of
  LOCAL_ENGINE_TMP_SIZE; the total in /workspace and /outputs is checked when
  the outputs are collected (workspace.py).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from workflows.clusters import parse_memory

logger = logging.getLogger(__name__)

SYSTEM_FOLDERS = ("/usr", "/etc", "/opt/conda")
MERGED_USR_LINKS = ("bin", "sbin", "lib", "lib64", "lib32", "libx32")
WORKING_DIRECTORY = "/workspace"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NETWORK_UP_SECONDS = 30
CPU_PERIOD_MICROSECONDS = 100_000


class SandboxUnavailable(RuntimeError):
    """A program the sandbox needs is missing or failed; the message says what to do."""


def _program(name: str, package: str) -> str:
    found = shutil.which(name, path=DEFAULT_PATH)
    if not found:
        raise SandboxUnavailable(
            f"the local engine needs {name} to run jobs; install it with "
            f"`apt-get install -y {package}`"
        )
    return found


@functools.cache
def bwrap_path() -> str:
    return _program("bwrap", "bubblewrap")


def job_user() -> int | None:
    """The uid (and gid) jobs run as, or None when the worker is not root and jobs run as it."""
    if os.geteuid() != 0:
        return None
    if settings.LOCAL_ENGINE_JOB_UID == 0:
        raise SandboxUnavailable("LOCAL_ENGINE_JOB_UID must be an unprivileged uid, not 0")
    return settings.LOCAL_ENGINE_JOB_UID


def give_to_job(path: Path) -> Path:
    """Make a folder the job writes (its working directory, outputs) the job user's."""
    uid = job_user()
    if uid is not None:
        os.chown(path, uid, uid)
    return path


@dataclass(frozen=True)
class Limits:
    """What one job may use; read from the LOCAL_ENGINE_* settings."""

    memory: int
    pids: int
    disk: int
    tmp: int
    # CPU time per 100 ms period (cgroup cpu.cfs_quota_us), None for no bound.
    cpu_quota: int | None = None

    @classmethod
    def from_settings(cls) -> Limits:
        cpus = str(settings.LOCAL_ENGINE_DEFAULT_CPUS).strip()
        return cls(
            memory=parse_memory(
                settings.LOCAL_ENGINE_DEFAULT_MEMORY, "LOCAL_ENGINE_DEFAULT_MEMORY"
            ),
            pids=int(settings.LOCAL_ENGINE_DEFAULT_PIDS),
            disk=parse_memory(settings.LOCAL_ENGINE_WRITABLE_MAX, "LOCAL_ENGINE_WRITABLE_MAX"),
            tmp=parse_memory(settings.LOCAL_ENGINE_TMP_SIZE, "LOCAL_ENGINE_TMP_SIZE"),
            cpu_quota=_cpu_quota(cpus) if cpus else None,
        )


def _cpu_quota(cpus: str) -> int:
    """Microseconds per 100 ms period from "2", "1.5" or "500m"."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m?)", cpus)
    if not match:
        raise ValueError(f'"{cpus}" is not a number of CPUs; write e.g. 2, 1.5 or 500m')
    count = float(match[1]) / (1000 if match[2] else 1)
    return max(1000, round(count * CPU_PERIOD_MICROSECONDS))


CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 files that bound one job: controller -> (file, value from Limits).
CGROUP_LIMITS = {
    "pids": ("pids.max", lambda limits: limits.pids),
    "memory": ("memory.limit_in_bytes", lambda limits: limits.memory),
    "cpu": ("cpu.cfs_quota_us", lambda limits: limits.cpu_quota),
}


@dataclass
class JobCgroups:
    """The cgroups (v1) one job runs in, bounding its processes, memory and CPU all together.

    Made by a root worker where the host has cgroup v1 hierarchies it may write
    (as on this project's machines), under the worker's own cgroup of each
    controller; elsewhere the sandbox keeps to prlimit's per-process bounds.
    """

    folders: dict[str, Path]

    @classmethod
    def make(cls, limits: Limits) -> JobCgroups | None:
        if os.geteuid() != 0:
            return None
        name = f"gradient-job-{uuid.uuid4().hex[:12]}"
        folders = {}
        try:
            for controller, own in _own_cgroups_v1().items():
                file, value = CGROUP_LIMITS[controller]
                if value(limits) is None:
                    continue
                folder = CGROUP_ROOT / controller / own.lstrip("/") / name
                folder.mkdir()
                folders[controller] = folder
                (folder / file).write_text(str(value(limits)))
        except OSError:
            JobCgroups(folders).remove()
            return None
        return cls(folders) if folders else None

    def add(self, pid: int) -> None:
        for folder in self.folders.values():
            (folder / "cgroup.procs").write_text(str(pid))

    def out_of_memory(self) -> bool:
        """Whether the kernel killed one of the job's processes for passing the memory limit."""
        folder = self.folders.get("memory")
        try:
            control = (folder / "memory.oom_control").read_text() if folder else ""
        except OSError:
            return False
        kills = [line.split()[1] for line in control.splitlines() if line.startswith("oom_kill ")]
        return bool(kills) and int(kills[0]) > 0

    def remove(self) -> None:
        # The job's processes leave their cgroups as they are reaped, just after bwrap exits.
        deadline = time.monotonic() + NETWORK_UP_SECONDS
        for folder in self.folders.values():
            while True:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        logger.warning("could not remove the job cgroup %s", folder)
                        break
                    time.sleep(0.01)


def _own_cgroups_v1() -> dict[str, str]:
    """controller -> this process's cgroup, for the v1 controllers a job is bounded by."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            if controller in CGROUP_LIMITS and (CGROUP_ROOT / controller / "cgroup.procs").exists():
                own[controller] = path
    return own


@dataclass
class RunningSandbox:
    """A started job and the network helper that serves it, if any."""

    process: subprocess.Popen
    network: subprocess.Popen | None = None
    # slirp4netns exits when this closes: here, or when the worker dies.
    network_exit_fd: int | None = None
    cgroups: JobCgroups | None = None

    def out_of_memory(self) -> bool:
        """Whether the kernel killed a process of the job for passing its memory limit."""
        return self.cgroups is not None and self.cgroups.out_of_memory()

    def close(self) -> None:
        """After the job's process ended: remove its cgroups, stop its network."""
        if self.cgroups is not None:
            self.cgroups.remove()
        if self.network_exit_fd is not None:
            os.close(self.network_exit_fd)
            self.network_exit_fd = None
        if self.network is not None:
            try:
                self.network.wait(NETWORK_UP_SECONDS)
            except subprocess.TimeoutExpired:
                self.network.kill()
                self.network.wait()


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
    limits: Limits = field(default_factory=Limits.from_settings)

    def command(
        self,
        *,
        info_fd: int | None = None,
        block_fd: int | None = None,
        cgroups: JobCgroups | None = None,
    ) -> list[str]:
        uid = job_user()
        args = [bwrap_path(), "--die-with-parent", "--new-session", "--unshare-ipc"]
        args += ["--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
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
        # A job's cgroups bound its memory and processes all together; without
        # them, each process's address space and the job user's processes.
        bounded = cgroups.folders if cgroups is not None else {}
        limits = [_program("prlimit", "util-linux"), f"--fsize={self.limits.disk}"]
        if "memory" not in bounded:
            limits.append(f"--as={self.limits.memory}")
        if "pids" not in bounded:
            limits.append(f"--nproc={self.limits.pids}")
        limits.append("--")
        drop = []
        if uid is not None:
            drop = [_program("setpriv", "util-linux"), f"--reuid={uid}", f"--regid={uid}"]
            drop += ["--clear-groups", "--inh-caps=-all", "--no-new-privs", "--"]
        return [*args, "--", *limits, *drop, *self.argv]

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
        """Start the job; it is held until it is in its cgroups and its network is up."""
        popen = functools.partial(
            subprocess.Popen,
            env={},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        cgroups = JobCgroups.make(self.limits)
        if not self.network and cgroups is None:
            return RunningSandbox(process=popen(self.command()))
        slirp = _program("slirp4netns", "slirp4netns") if self.network else ""
        info_read, info_write = os.pipe()
        block_read, block_write = os.pipe()
        try:
            process = popen(
                self.command(info_fd=info_write, block_fd=block_read, cgroups=cgroups),
                pass_fds=(info_write, block_read),
            )
        except BaseException:
            if cgroups is not None:
                cgroups.remove()
            raise
        finally:
            os.close(info_write)
            os.close(block_read)
        running = RunningSandbox(process=process, cgroups=cgroups)
        try:
            child = _child_pid(info_read)
            if child is not None and cgroups is not None:
                # Before the job runs: everything it starts is in its cgroups.
                cgroups.add(child)
            if child is not None and self.network:
                running.network, running.network_exit_fd = _user_mode_network(slirp, child, process)
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


def _user_mode_network(
    slirp: str, child: int, sandbox: subprocess.Popen
) -> tuple[subprocess.Popen | None, int | None]:
    """slirp4netns serving the sandbox's network namespace once configured, and its exit fd.

    (None, None) when bwrap ended before its namespace was up: its output says why.
    """
    # bwrap brings `lo` up inside the namespace after reporting its pid; slirp4netns
    # configures `lo` too, and whichever comes second fails: wait for bwrap's.
    deadline = time.monotonic() + NETWORK_UP_SECONDS
    fib = Path(f"/proc/{child}/net/fib_trie")
    while b"127.0.0.1" not in _read_or_empty(fib):
        if sandbox.poll() is not None:
            return None, None
        if time.monotonic() > deadline:
            raise SandboxUnavailable("the job's network namespace did not come up")
        time.sleep(0.005)
    command = [slirp, "--configure", "--mtu=65520", "--enable-sandbox", "--enable-seccomp"]
    if not settings.LOCAL_ENGINE_ALLOW_HOST_LOOPBACK:
        command.append("--disable-host-loopback")
    if job_user() is None:
        # The network namespace belongs to the job's user namespace; join that first.
        command.append(f"--userns-path=/proc/{child}/ns/user")
    ready_read, ready_write = os.pipe()
    exit_read, exit_write = os.pipe()
    # A file, not a pipe: slirp4netns must never block on a full pipe nobody reads.
    with tempfile.TemporaryFile() as errors:
        try:
            network = subprocess.Popen(
                [*command, f"--ready-fd={ready_write}", f"--exit-fd={exit_read}", str(child)]
                + ["tap0"],
                env={},
                pass_fds=(ready_write, exit_read),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
            )
        except BaseException:
            os.close(exit_write)
            raise
        finally:
            os.close(ready_write)
            os.close(exit_read)
        try:
            ready = os.read(ready_read, 1)
        finally:
            os.close(ready_read)
        if ready != b"1":
            os.close(exit_write)
            network.wait()
            errors.seek(0)
            problem = errors.read().decode(errors="replace").strip()
            raise SandboxUnavailable(f"slirp4netns could not give the job its network: {problem}")
    return network, exit_write


def _read_or_empty(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
