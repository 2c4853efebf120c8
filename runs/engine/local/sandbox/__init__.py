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
- **Its network.** Never the host's. With network off, a namespace of its
  own with only `lo`. With network on, slirp4netns gives it a user-mode
  network (10.0.2.100, gateway 10.0.2.2) with `--disable-host-loopback`, so
  the server's loopback services (Redis, PostgreSQL, the dashboard) are out
  of reach while the outside is not; a worker process keeps that network for
  its next job of the same workflow (network.py).
- **Its limits.** The same `Limits` as a container's: the cluster's instance
  type where the job names one (or the cluster's default type), else
  LOCAL_ENGINE_DEFAULT_PIDS, _MEMORY and _CPUS. Where a root worker may make
  cgroup v1 groups (as on this project's machines), each job gets its own
  pids, memory and cpu groups holding all its processes, /tmp
  included in its memory, and a kill for memory is named as such
  (cgroups.py). Elsewhere `prlimit` bounds each process's address space and
  the processes of the job's uid (per uid: under a root worker all jobs share
  LOCAL_ENGINE_JOB_UID and so the count; in a user namespace the kernel
  counts each job apart). Always: the size of any one file
  (LOCAL_ENGINE_WRITABLE_MAX) and /tmp and /dev/shm as tmpfs of
  LOCAL_ENGINE_TMP_SIZE; the total in /workspace and /outputs is checked when
  the outputs are collected (workspace.py).
- **The kernel it may call.** A seccomp filter (seccomp.py), loaded by bwrap
  before the sandbox's first program: no other ABI than the host's (a
  32-bit call kills the process), no new user namespace, and none of
  io_uring, userfaultfd, bpf, perf_event_open, the keyrings, modules, kexec.
- **Its start.** A root worker builds each job's sandbox ahead of the
  job (ready.py): a launcher already in the job's cgroups and network
  (launchers.py) becomes bwrap at once, and the sandbox waits as the job
  user for the job's folders, which the worker mounts into a small shared
  tmpfs the sandbox sees, and for its command. Moving a process into a
  cgroup, making a user-mode network and building the sandbox cost most of
  a dependency hop when done as the job started. A worker that is not root
  starts bwrap, which holds the job (`--block-fd`) until slirp4netns,
  joining the job's user namespace, reports its network up.

The parts: base.py (programs, the job's uid, Limits), cgroups.py,
network.py, launchers.py, spares.py, commands.py (bwrap's arguments),
seccomp.py, mounts.py (the mount system calls), ready.py, and bwrap.py (the
command for one known job, and starting a job).
"""

from runs.engine.local.sandbox.base import (
    WORKING_DIRECTORY,
    LimitError,
    Limits,
    SandboxUnavailable,
    format_bytes,
    give_to_job,
    job_user,
)
from runs.engine.local.sandbox.bwrap import RunningSandbox, Sandbox
from runs.engine.local.sandbox.cgroups import stale_job_cgroups_remove
from runs.engine.local.sandbox.network import GroupNetwork, group_networks
from runs.engine.local.sandbox.ready import ready_sandboxes, stale_slots_remove


def spares_release() -> None:
    """A worker process that stops lets its spare sandboxes and its networks go."""
    ready_sandboxes.release_all()
    group_networks.release_all()


__all__ = [
    "WORKING_DIRECTORY",
    "GroupNetwork",
    "LimitError",
    "Limits",
    "RunningSandbox",
    "Sandbox",
    "SandboxUnavailable",
    "format_bytes",
    "give_to_job",
    "group_networks",
    "job_user",
    "ready_sandboxes",
    "spares_release",
    "stale_job_cgroups_remove",
    "stale_slots_remove",
]
