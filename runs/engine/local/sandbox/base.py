"""What every part of the sandbox shares: the programs it needs, the job's uid and its limits."""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import psutil
from django.conf import settings

from workflows.clusters import InstanceType, parse_cpu, parse_memory

WORKING_DIRECTORY = "/workspace"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NETWORK_UP_SECONDS = 30
CPU_PERIOD_MICROSECONDS = 100_000


class SandboxUnavailable(RuntimeError):
    """A program the sandbox needs is missing or failed; the message says what to do."""


def program(name: str, package: str) -> str:
    """The path of a program the sandbox runs, or an error naming the package to install."""
    found = shutil.which(name, path=DEFAULT_PATH)
    if not found:
        raise SandboxUnavailable(
            f"the local engine needs {name} to run jobs; install it with "
            f"`apt-get install -y {package}`"
        )
    return found


@functools.cache
def bwrap_path() -> str:
    return program("bwrap", "bubblewrap")


def job_user() -> int | None:
    """The uid (and gid) jobs run as, or None when the worker is not root and jobs run as it."""
    if os.geteuid() != 0:
        return None
    if settings.LOCAL_ENGINE_JOB_UID == 0:
        raise SandboxUnavailable("LOCAL_ENGINE_JOB_UID must be an unprivileged uid, not 0")
    return settings.LOCAL_ENGINE_JOB_UID


def maker_gone(name: str) -> bool | None:
    """Of something a worker process named `<its pid>-…` (a job cgroup, a sandbox slot):
    whether that process is gone; None for a name that does not say who made it."""
    maker, dash, _ = name.partition("-")
    if not dash or not maker.isdigit():
        return None
    return not psutil.pid_exists(int(maker))


def give_to_job(path: Path) -> Path:
    """Make a folder the job writes (its working directory, outputs) the job user's."""
    uid = job_user()
    if uid is not None:
        os.chown(path, uid, uid)
    return path


class LimitError(ValueError):
    """A limit setting or instance type that cannot be read; the message names it."""


@dataclass(frozen=True)
class Limits:
    """What one job may use, in either mode: memory, CPUs, processes, GPUs, /tmp, writes."""

    memory: int | None
    cpus: float | None
    pids: int | None
    gpus: int
    tmp: int
    # What /workspace and /outputs may hold together, and the largest file.
    writable: int

    @classmethod
    def for_job(cls, instance_type: InstanceType | None = None) -> Limits:
        """The instance type's limits where it sets them, else the LOCAL_ENGINE_DEFAULT_* ones."""
        shape = instance_type or InstanceType()
        memory = settings.LOCAL_ENGINE_DEFAULT_MEMORY
        cpus = settings.LOCAL_ENGINE_DEFAULT_CPUS
        pids = settings.LOCAL_ENGINE_DEFAULT_PIDS
        try:
            return cls(
                memory=shape.memory_bytes
                or (parse_memory(memory, "LOCAL_ENGINE_DEFAULT_MEMORY") if memory else None),
                cpus=shape.cpu or (parse_cpu(cpus, "LOCAL_ENGINE_DEFAULT_CPUS") if cpus else None),
                pids=shape.pids or (int(pids) if pids else None),
                gpus=shape.gpu,
                tmp=parse_memory(settings.LOCAL_ENGINE_TMP_SIZE, "LOCAL_ENGINE_TMP_SIZE"),
                writable=parse_memory(
                    settings.LOCAL_ENGINE_WRITABLE_MAX, "LOCAL_ENGINE_WRITABLE_MAX"
                ),
            )
        except ValueError as error:
            raise LimitError(f"the job's limits cannot be read: {error}") from None

    @property
    def cpu_quota(self) -> int | None:
        """CPU time per 100 ms period (cgroup v1 cpu.cfs_quota_us), None for no bound."""
        if not self.cpus:
            return None
        return max(1000, round(self.cpus * CPU_PERIOD_MICROSECONDS))


def format_bytes(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:.4g} {unit}"
    return f"{size} bytes"
