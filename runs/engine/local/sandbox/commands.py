"""The parts of a job's bubblewrap command every way of starting it shares.

bwrap.py builds a whole command for one known job; ready.py builds one for a
sandbox made before its job, which gets the job's folders and command later.
Both isolate the job the same way (namespaces, capabilities, the host's
system folders read-only, private /proc, /dev, /tmp) and drop to the job
user the same way, from these pieces.
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import NamedTuple

from runs.engine.local.sandbox.base import Limits, bwrap_path, job_user, program
from runs.engine.local.sandbox.cgroups import JobCgroups
from runs.engine.local.sandbox.seccomp import FilterFd

SYSTEM_FOLDERS = ("/usr", "/etc", "/opt/conda")
MERGED_USR_LINKS = ("bin", "sbin", "lib", "lib64", "lib32", "libx32")


class JobMount(NamedTuple):
    """A host folder (or file) the job sees at `target`."""

    target: str
    source: Path
    read_only: bool


def isolation_args(*, in_own_network: bool, seccomp: FilterFd) -> list[str]:
    """bwrap, its namespaces and system call filter (seccomp.py); `in_own_network` when its
    launcher is in the job's network."""
    args = [bwrap_path(), "--die-with-parent", "--new-session", "--unshare-ipc"]
    args += seccomp.bwrap_args
    args += ["--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
    if not in_own_network:
        args.append("--unshare-net")
    if job_user() is None:
        # Root of its own user namespace, the worker's uid outside; slirp4netns
        # needs uid 0 mapped there to join the namespace.
        args += ["--unshare-user", "--uid", "0", "--gid", "0", "--cap-drop", "ALL"]
    else:
        # Only what setpriv needs to drop to the job user; gone once it has.
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return args


def system_args(limits: Limits) -> list[str]:
    """The host's system folders read-only, and a private /proc, /dev, /tmp and /dev/shm."""
    args = []
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
        args += ["--perms", "1777", "--size", str(limits.tmp), "--tmpfs", scratch]
    return args


def user_drop_args(uid: int) -> list[str]:
    """setpriv becoming the job user, with no capabilities and no way to gain any."""
    drop = [program("setpriv", "util-linux"), f"--reuid={uid}", f"--regid={uid}"]
    return [*drop, "--clear-groups", "--inh-caps=-all", "--no-new-privs", "--"]


def job_rlimits(limits: Limits, cgroups: JobCgroups | None) -> list[tuple[int, int]]:
    """The rlimits every process of the job gets: (resource, value).

    A job's cgroups bound its memory and processes all together; without
    them, each process's address space and the job user's processes.
    """
    bounded = cgroups.folders if cgroups is not None else {}
    rlimits = [(resource.RLIMIT_FSIZE, limits.writable)]
    if "memory" not in bounded and limits.memory:
        rlimits.append((resource.RLIMIT_AS, limits.memory))
    if "pids" not in bounded and limits.pids:
        rlimits.append((resource.RLIMIT_NPROC, limits.pids))
    return rlimits


def nul_separated(words: list[str]) -> bytes:
    """Words as a waiting bash reads them with `mapfile -d ""`."""
    return b"".join(word.encode() + b"\0" for word in words)


def child_pid(info_fd: int) -> int | None:
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
