"""What every part of the sandbox shares: the programs it needs, the job's uid and its limits."""

from __future__ import annotations

import functools
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from workflows.clusters import parse_memory

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
