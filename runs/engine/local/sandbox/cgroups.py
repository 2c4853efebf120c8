"""The cgroups (v1) one job runs in, bounding its processes, memory and CPU all together.

Made by a root worker where the host has cgroup v1 hierarchies it may write
(as on this project's machines), under the worker's own cgroup of each
controller; elsewhere the sandbox keeps to prlimit's per-process bounds.

Moving a process into a cgroup v1 waits for an RCU grace period (the kernel
takes cgroup_threadgroup_rwsem for writing): 12-15 ms here, longer than
everything else a job's start costs. So jobs never move: a job's first
process is put into its cgroups before the job is known (launchers.py), and
everything it starts is born there.

A worker removes each job's groups when the job ends and its spare
launcher's when it stops; a pool process that was killed cannot, so each
pool process that starts (the one replacing it, or a new worker's) removes
the job groups it finds beside its own whose maker, named in the group's
name, is gone (`stale_job_cgroups_remove`), killing what is still in them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from runs.engine.local.sandbox.base import NETWORK_UP_SECONDS, Limits, maker_gone

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 files that bound one job: controller -> (file, value from Limits, or none).
CGROUP_LIMITS = {
    "pids": ("pids.max", lambda limits: limits.pids or "max"),
    "memory": ("memory.limit_in_bytes", lambda limits: limits.memory or -1),
    "cpu": ("cpu.cfs_quota_us", lambda limits: limits.cpu_quota or -1),
}


@dataclass
class JobCgroups:
    """One job's group in each cgroup v1 controller that bounds it."""

    folders: dict[str, Path]

    @classmethod
    def make(cls) -> JobCgroups | None:
        if os.geteuid() != 0:
            return None
        # Named after the worker process that makes it, for `stale_job_cgroups_remove`.
        name = f"{JOB_CGROUP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        folders = {}
        try:
            for controller, own in _own_cgroups_v1().items():
                folder = CGROUP_ROOT / controller / own.lstrip("/") / name
                folder.mkdir()
                folders[controller] = folder
        except OSError:
            JobCgroups(folders).remove()
            return None
        return cls(folders) if folders else None

    def limit(self, limits: Limits) -> None:
        for controller, folder in self.folders.items():
            file, value = CGROUP_LIMITS[controller]
            (folder / file).write_text(str(value(limits)))

    def cpu_weight(self, shares: int) -> None:
        """The group's share of CPU time against its siblings (cgroup v1 cpu.shares)."""
        if "cpu" in self.folders:
            (self.folders["cpu"] / "cpu.shares").write_text(str(shares))

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
                    time.sleep(0.0005)


def _own_cgroups_v1() -> dict[str, str]:
    """controller -> this process's cgroup, for the v1 controllers a job is bounded by."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            if controller in CGROUP_LIMITS and (CGROUP_ROOT / controller / "cgroup.procs").exists():
                own[controller] = path
    return own


JOB_CGROUP_PREFIX = "gradient-job-"


def stale_job_cgroups_remove(older_than: float = 60) -> int:
    """Remove the job groups beside this process's own that their worker process left.

    A group whose worker process is gone is emptied first: a sandbox whose
    worker was killed while bwrap was still building it waits forever there
    (ready.py). One of an older name, without its maker, is removed only
    when empty and made over `older_than` seconds ago.
    """
    removed = 0
    now = time.time()
    for controller, own in _own_cgroups_v1().items():
        for folder in (CGROUP_ROOT / controller / own.lstrip("/")).glob(f"{JOB_CGROUP_PREFIX}*"):
            # "<maker's pid>-<random>", or "<random>" before makers were named.
            gone = maker_gone(folder.name.removeprefix(JOB_CGROUP_PREFIX))
            try:
                if gone is False:
                    continue
                if gone:
                    _processes_kill(folder)
                    JobCgroups({controller: folder}).remove()
                elif now - folder.stat().st_mtime >= older_than:
                    folder.rmdir()
                removed += not folder.exists()
            except OSError:
                continue
    return removed


def _processes_kill(folder: Path) -> None:
    for pid in (folder / "cgroup.procs").read_text().split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
